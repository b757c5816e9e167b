//! Request bodies: JSON, YAML, and Kubernetes Protobuf (what kubectl's typed clients send for
//! `create <generator>` and `auth can-i`, decoded by `kube-schema` into the JSON the same request
//! would have carried), each refused with kube-apiserver's 400 wording when it does not decode.

use http::{HeaderMap, header};
use kube_core::Status;
use kube_core::media::{self, BodyType};
use serde_json::Value;

use crate::registry::ResourceDef;
use crate::serve::responses::header_str;

/// A Protobuf body as JSON.
pub fn protobuf(body: &[u8]) -> Result<Value, Status> {
    kube_schema::protobuf::decode(body).map_err(|e| Status::bad_request(e.to_string()))
}

/// Decode a create or update body (JSON, YAML or Kubernetes Protobuf).
pub fn decode_body(def: &ResourceDef, headers: &HeaderMap, body: &[u8]) -> Result<Value, Status> {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
    let summary = || {
        let text = String::from_utf8_lossy(&body[..body.len().min(30)]).into_owned();
        if body.len() > 30 { format!("{text} ...") } else { text }
    };
    match BodyType::from_content_type(content_type) {
        Some(BodyType::Json) => serde_json::from_slice(body).map_err(|e| {
            Status::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {e} ({})",
                def.kind,
                summary()
            ))
        }),
        Some(BodyType::Yaml) => serde_saphyr::from_slice::<Value>(body).map_err(|e| {
            Status::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; yaml parse error: {e} ({})",
                def.kind,
                summary()
            ))
        }),
        Some(BodyType::Protobuf) => protobuf(body),
        _ => Err(Status::unsupported_media_type(media::ACCEPTED)),
    }
}
