//! What clients need to know about Kubernetes' built-in types: the OpenAPI v3 documents that
//! `kubectl apply`, `edit` and `explain` read, and the decoding of the Protobuf request bodies
//! that kubectl's typed clients send, into the JSON the server stores.
//!
//! Schemas and message definitions come from maintained crates, never from hand-written wire
//! parsing. It must never do I/O.
