//! The axum adapter on a real WebSocket: subprotocol negotiation, pings answered during a
//! session, binary channel frames, the status frame and the normal close.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::*;
use futures::{SinkExt, StreamExt};
use kubelet::channel::{ClientFrame, ServerFrame};
use kubelet::{ExecStatus, PodExecQuery, PodRef};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

async fn exec(
    State(state): State<Arc<(TestRuntime, PodRef)>>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let query = PodExecQuery::parse(q.as_deref().unwrap_or_default()).unwrap();
    let (ws, Some(protocol)) = kubelet::websocket::negotiate(ws) else {
        return (StatusCode::BAD_REQUEST, "no channel protocol").into_response();
    };
    ws.on_upgrade(move |socket| async move {
        let exec = state.0.runtime.exec(&state.1, "main", &query.options);
        kubelet::websocket::serve(socket, protocol, exec).await;
    })
}

async fn server() -> (String, Arc<(TestRuntime, PodRef)>) {
    let t = runtime();
    let pod = pod("ws");
    t.runtime.run_pod_sandbox(&pod).unwrap().start_container(&container("main", &[])).unwrap();
    let state = Arc::new((t, pod));
    let app = axum::Router::new().route("/exec", axum::routing::get(exec)).with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("ws://{addr}/exec"), state)
}

fn request(
    url: &str,
    query: &str,
    protocols: &'static str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("{url}?{query}").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocols));
    request
}

#[tokio::test]
async fn a_session_over_a_real_websocket() {
    let (url, _state) = server().await;
    let query = "command=sh&command=-c&command=read+line%3B+sleep+0.5%3B+echo+got+%24line%3B+echo+err+%3E%262%3B+exit+4\
                 &stdin=true&stdout=true&stderr=true";
    let (mut socket, response) =
        tokio_tungstenite::connect_async(request(&url, query, "v5.channel.k8s.io")).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v5.channel.k8s.io");

    socket.send(Message::Binary(ClientFrame::Stdin(Bytes::from_static(b"hello\n")).encode())).await.unwrap();
    // A text frame means nothing to the channel protocol; a ping is answered while the command runs.
    socket.send(Message::text("ignored")).await.unwrap();
    socket.send(Message::Ping(Bytes::from_static(b"kubectl"))).await.unwrap();

    let (mut stdout, mut stderr, mut status, mut pong, mut close) = (Vec::new(), Vec::new(), None, false, None);
    while let Some(message) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap() {
        match message.unwrap() {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"kubectl");
                assert!(status.is_none(), "the pong came while the command ran");
                pong = true;
            }
            Message::Binary(frame) => match ServerFrame::decode(&frame).unwrap() {
                ServerFrame::Stdout(data) => stdout.extend_from_slice(&data),
                ServerFrame::Stderr(data) => stderr.extend_from_slice(&data),
                ServerFrame::Status(json) => status = ExecStatus::from_json(&json),
            },
            Message::Close(frame) => {
                close = frame.map(|f| f.code);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pong);
    assert_eq!((&stdout[..], &stderr[..]), (&b"got hello\n"[..], &b"err\n"[..]));
    assert_eq!(status, Some(ExecStatus::NonZeroExit(4)));
    assert_eq!(close, Some(CloseCode::Normal));
}

#[tokio::test]
async fn the_subprotocol_is_negotiated() {
    let (url, _state) = server().await;
    let query = "command=true&stdout=true";
    let (mut socket, response) =
        tokio_tungstenite::connect_async(request(&url, query, "v4.channel.k8s.io, base64.channel.k8s.io"))
            .await
            .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v4.channel.k8s.io");
    let Some(Ok(Message::Binary(frame))) = socket.next().await else { panic!("a status frame") };
    assert_eq!(&frame[..], b"\x03{\"metadata\":{},\"status\":\"Success\"}");

    let refused = tokio_tungstenite::connect_async(request(&url, query, "channel.k8s.io")).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else { panic!("{refused:?}") };
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
