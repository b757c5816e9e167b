//! Kubernetes Protobuf request bodies (what kubectl's typed clients send for `create
//! <generator>` and `auth can-i`), decoded by `kube-schema` into the JSON the same request would
//! have carried; a body that does not decode is a 400 with the decoder's message.

use kube_core::Status;
use serde_json::Value;

pub fn decode(body: &[u8]) -> Result<Value, Status> {
    kube_schema::protobuf::decode(body).map_err(|e| Status::bad_request(e.to_string()))
}
