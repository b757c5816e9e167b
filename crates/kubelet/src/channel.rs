//! The remote-command channel protocol kubectl speaks over a WebSocket
//! (`v5.channel.k8s.io`, `v4.channel.k8s.io`), both ways: every message is a binary frame whose
//! first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize, 255
//! close-a-stream in v5), and the exec ends with one status frame carrying a `metav1.Status`
//! serialized byte for byte as Go's `encoding/json` does. Pure: no I/O.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const ERROR: u8 = 3;
pub const RESIZE: u8 = 4;
/// v5 only: `[255, n]` closes stream `n` (kubectl sends `[255, 0]` when its stdin ends).
pub const CLOSE: u8 = 255;

/// A channel subprotocol the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V5,
    V4,
}

impl Protocol {
    /// The subprotocols to offer a WebSocket upgrade, preferred first.
    pub const NAMES: [&'static str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

    pub fn name(self) -> &'static str {
        match self {
            Self::V5 => Self::NAMES[0],
            Self::V4 => Self::NAMES[1],
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "v5.channel.k8s.io" => Some(Self::V5),
            "v4.channel.k8s.io" => Some(Self::V4),
            _ => None,
        }
    }

    /// The best protocol among the `Sec-WebSocket-Protocol` header values a client sent (each
    /// may be a comma-separated list). kubectl 1.32 offers only `v5.channel.k8s.io`; the
    /// base64 and pre-v4 protocols are not spoken.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let offered: Vec<Self> =
            offered.into_iter().flat_map(|value| value.split(',')).filter_map(Self::from_name).collect();
        [Self::V5, Self::V4].into_iter().find(|p| offered.contains(p))
    }
}

/// A terminal size as kubectl sends it on the resize channel (`{"Width":100,"Height":30}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// A message from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrame {
    Stdin(Bytes),
    Resize(TerminalSize),
    /// The client's stdin ended (v5 `[255, 0]`).
    CloseStdin,
}

impl ClientFrame {
    /// Decodes one binary message; `None` for what the protocol lets a server ignore (an empty
    /// message, a channel the client may not write, an unparsable resize, a close in v4).
    pub fn decode(protocol: Protocol, message: &[u8]) -> Option<Self> {
        let (&channel, payload) = message.split_first()?;
        match channel {
            STDIN => Some(Self::Stdin(Bytes::copy_from_slice(payload))),
            RESIZE => serde_json::from_slice(payload).ok().map(Self::Resize),
            CLOSE if protocol == Protocol::V5 && payload.first() == Some(&STDIN) => Some(Self::CloseStdin),
            _ => None,
        }
    }

    /// Encodes the message as kubectl does (resize JSON ends with a newline).
    pub fn encode(&self) -> Bytes {
        match self {
            Self::Stdin(data) => frame(STDIN, data),
            Self::Resize(size) => {
                let mut json = serde_json::to_vec(size).unwrap_or_default();
                json.push(b'\n');
                frame(RESIZE, &json)
            }
            Self::CloseStdin => Bytes::from_static(&[CLOSE, STDIN]),
        }
    }
}

/// A message from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerFrame {
    Stdout(Bytes),
    Stderr(Bytes),
    /// The final `metav1.Status` JSON.
    Status(Bytes),
}

impl ServerFrame {
    pub fn encode(&self) -> Bytes {
        match self {
            Self::Stdout(data) => frame(STDOUT, data),
            Self::Stderr(data) => frame(STDERR, data),
            Self::Status(json) => frame(ERROR, json),
        }
    }

    pub fn decode(message: &[u8]) -> Option<Self> {
        let (&channel, payload) = message.split_first()?;
        let payload = Bytes::copy_from_slice(payload);
        match channel {
            STDOUT => Some(Self::Stdout(payload)),
            STDERR => Some(Self::Stderr(payload)),
            ERROR => Some(Self::Status(payload)),
            _ => None,
        }
    }
}

fn frame(channel: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 1);
    out.put_u8(channel);
    out.put_slice(payload);
    out.freeze()
}

/// How an exec ended, as the status frame says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecStatus {
    Success,
    /// The command exited with a non-zero code (kubectl exits with it).
    NonZeroExit(i32),
    /// The exec failed before or around the command; the text follows `Internal error occurred: `.
    InternalError(String),
}

impl ExecStatus {
    /// The status frame's JSON, as a Kubernetes 1.32 API server sends it: `metav1.Status` with
    /// Go's field order, `omitempty` and HTML-safe escaping (`>` is `\u003e`).
    pub fn to_json(&self) -> String {
        let status = match self {
            Self::Success => json!({"metadata": {}, "status": "Success"}),
            Self::NonZeroExit(code) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("command terminated with non-zero exit code: command terminated with exit code {code}"),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            }),
            Self::InternalError(cause) => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Internal error occurred: {cause}"),
                "reason": "InternalError",
                "details": {"causes": [{"message": cause}]},
                "code": 500,
            }),
        };
        go_format::to_json(&status)
    }

    /// Reads a status frame as client-go's v4/v5 error decoder does: `Success`, an exit code
    /// from the `ExitCode` cause, or the failure's message. `None` if it is not a Status.
    pub fn from_json(json: &[u8]) -> Option<Self> {
        let status: Value = serde_json::from_slice(json).ok()?;
        match status.get("status")?.as_str()? {
            "Success" => Some(Self::Success),
            "Failure" if status.get("reason").and_then(Value::as_str) == Some("NonZeroExitCode") => {
                let causes = status.pointer("/details/causes")?.as_array()?;
                let code = causes
                    .iter()
                    .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))?
                    .get("message")?
                    .as_str()?
                    .parse::<u8>()
                    .ok()?;
                Some(Self::NonZeroExit(i32::from(code)))
            }
            "Failure" => {
                let message = status.get("message").and_then(Value::as_str).unwrap_or_default();
                Some(Self::InternalError(
                    message.strip_prefix("Internal error occurred: ").unwrap_or(message).to_string(),
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_the_subprotocol_kubectl_offers() {
        assert_eq!(Protocol::negotiate(["v5.channel.k8s.io"]), Some(Protocol::V5));
        assert_eq!(Protocol::negotiate(["v4.channel.k8s.io, v5.channel.k8s.io"]), Some(Protocol::V5));
        assert_eq!(Protocol::negotiate(["channel.k8s.io", "v4.channel.k8s.io"]), Some(Protocol::V4));
        assert_eq!(Protocol::negotiate(["base64.channel.k8s.io", "v3.channel.k8s.io"]), None);
        assert_eq!(Protocol::negotiate([]), None);
        assert_eq!(Protocol::from_name(Protocol::V4.name()), Some(Protocol::V4));
    }

    /// Client frames recorded from kubectl 1.32 (`exec-websocket.txt`, `exec-websocket-tty.txt`).
    #[test]
    fn decodes_the_recorded_client_frames() {
        let stdin = b"\x00piped input\n";
        assert_eq!(
            ClientFrame::decode(Protocol::V5, stdin),
            Some(ClientFrame::Stdin(Bytes::from_static(b"piped input\n")))
        );
        let resize = b"\x04{\"Width\":100,\"Height\":30}\n";
        let size = TerminalSize { width: 100, height: 30 };
        assert_eq!(ClientFrame::decode(Protocol::V5, resize), Some(ClientFrame::Resize(size)));
        assert_eq!(ClientFrame::decode(Protocol::V5, b"\xff\x00"), Some(ClientFrame::CloseStdin));
        // v4 has no close channel; closing another stream than stdin means nothing to a server.
        assert_eq!(ClientFrame::decode(Protocol::V4, b"\xff\x00"), None);
        assert_eq!(ClientFrame::decode(Protocol::V5, b"\xff\x01"), None);
        assert_eq!(ClientFrame::decode(Protocol::V5, b""), None);
        assert_eq!(ClientFrame::decode(Protocol::V5, b"\x04{not json"), None);
        assert_eq!(ClientFrame::decode(Protocol::V5, b"\x01out"), None);
    }

    #[test]
    fn encodes_client_frames_as_kubectl_does() {
        let resize = ClientFrame::Resize(TerminalSize { width: 120, height: 40 });
        assert_eq!(&resize.encode()[..], b"\x04{\"Width\":120,\"Height\":40}\n");
        assert_eq!(&ClientFrame::CloseStdin.encode()[..], b"\xff\x00");
        let stdin = ClientFrame::Stdin(Bytes::from_static(b"stty size; exit 7\r"));
        assert_eq!(&stdin.encode()[..], b"\x00stty size; exit 7\r");
        for frame in [resize, stdin, ClientFrame::CloseStdin] {
            assert_eq!(ClientFrame::decode(Protocol::V5, &frame.encode()), Some(frame));
        }
    }

    #[test]
    fn server_frames_round_trip() {
        let out = ServerFrame::Stdout(Bytes::from_static(b"hi\n"));
        assert_eq!(&out.encode()[..], b"\x01hi\n");
        let err = ServerFrame::Stderr(Bytes::from_static(b"err\n"));
        assert_eq!(&err.encode()[..], b"\x02err\n");
        let status = ServerFrame::Status(Bytes::from(ExecStatus::Success.to_json()));
        assert_eq!(&status.encode()[..], b"\x03{\"metadata\":{},\"status\":\"Success\"}");
        for frame in [out, err, status] {
            assert_eq!(ServerFrame::decode(&frame.encode()), Some(frame));
        }
        assert_eq!(ServerFrame::decode(b"\x04x"), None);
    }

    #[test]
    fn status_json_is_what_a_1_32_api_server_sends() {
        assert_eq!(ExecStatus::Success.to_json(), r#"{"metadata":{},"status":"Success"}"#);
        assert_eq!(
            ExecStatus::NonZeroExit(3).to_json(),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(
            ExecStatus::InternalError(r#"unable to upgrade connection: container not found ("nginx")"#.into())
                .to_json(),
            r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: unable to upgrade connection: container not found (\"nginx\")","reason":"InternalError","details":{"causes":[{"message":"unable to upgrade connection: container not found (\"nginx\")"}]},"code":500}"#
        );
        // Go escapes HTML-significant characters.
        assert_eq!(
            ExecStatus::InternalError("a <b> & c".into()).to_json(),
            r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: a \u003cb\u003e \u0026 c","reason":"InternalError","details":{"causes":[{"message":"a \u003cb\u003e \u0026 c"}]},"code":500}"#
        );
    }

    /// The recorded status frames (the mock's kubelet wording) and ours decode the same way.
    #[test]
    fn reads_statuses_like_client_go() {
        assert_eq!(ExecStatus::from_json(br#"{"metadata": {}, "status": "Success"}"#), Some(ExecStatus::Success));
        let recorded = br#"{"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: error executing command ['sh'], exit code 7", "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "7"}]}}"#;
        assert_eq!(ExecStatus::from_json(recorded), Some(ExecStatus::NonZeroExit(7)));
        for status in [ExecStatus::Success, ExecStatus::NonZeroExit(3), ExecStatus::InternalError("boom".into())] {
            assert_eq!(ExecStatus::from_json(status.to_json().as_bytes()), Some(status));
        }
        assert_eq!(ExecStatus::from_json(b"not json"), None);
    }
}
