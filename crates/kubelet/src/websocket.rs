//! The adapter for axum's WebSocket, so the API server's exec handler is two calls:
//!
//! ```text
//! let (upgrade, Some(protocol)) = kubelet::websocket::negotiate(upgrade) else { /* 400 */ };
//! let exec = runtime.exec(&pod, &container, &query.options);
//! upgrade.on_upgrade(move |socket| async move { kubelet::websocket::serve(socket, protocol, exec).await; })
//! ```
//!
//! axum answers the client's pings (kubectl pings every 5 s) while the socket is read, which
//! the driver does for the whole session.

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderValue;
use futures::{SinkExt, StreamExt};

use crate::channel::Protocol;
use crate::driver::{ExecOutcome, Message, serve_exec};
use crate::error::KubeletError;
use crate::exec::ExecProcess;

/// Picks the channel protocol among those the client requested and sets it as the upgrade's
/// `Sec-WebSocket-Protocol`. `None` when the client offered neither v5 nor v4.
pub fn negotiate(mut upgrade: WebSocketUpgrade) -> (WebSocketUpgrade, Option<Protocol>) {
    let protocol = Protocol::negotiate(upgrade.requested_protocols().filter_map(|value| value.to_str().ok()));
    if let Some(protocol) = protocol {
        upgrade.set_selected_protocol(HeaderValue::from_static(protocol.name()));
    }
    (upgrade, protocol)
}

/// Serves an exec session on an upgraded WebSocket (see [`crate::serve_exec`]).
pub async fn serve(socket: WebSocket, protocol: Protocol, exec: Result<ExecProcess, KubeletError>) -> ExecOutcome {
    let (sink, stream) = socket.split();
    let tx = sink.with(|message: Message| {
        futures::future::ready(Ok::<_, axum::Error>(match message {
            Message::Binary(data) => WsMessage::Binary(data),
            Message::Close => WsMessage::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: axum::extract::ws::Utf8Bytes::default(),
            })),
            // The driver never sends `Other`; an unsolicited pong is a harmless heartbeat.
            Message::Other => WsMessage::Pong(bytes::Bytes::new()),
        }))
    });
    let rx = stream.map(|message| {
        message.map(|message| match message {
            WsMessage::Binary(data) => Message::Binary(data),
            WsMessage::Close(_) => Message::Close,
            WsMessage::Text(_) | WsMessage::Ping(_) | WsMessage::Pong(_) => Message::Other,
        })
    });
    serve_exec(protocol, exec, Box::pin(tx), rx).await
}
