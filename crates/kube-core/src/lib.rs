//! Kubernetes API shapes and pure semantics shared by the API server and its tests.
//!
//! This crate owns what kube-apiserver decides without touching storage or the network:
//! `Status` errors with kube-apiserver's wording, RequestInfo derived from method and URL, label
//! and field selectors, patch application (JSON patch, merge patch, strategic merge patch,
//! server-side apply), Table printers, and Protobuf request decoding. It must never do I/O.
