//! Kubernetes patch semantics on JSON objects: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386), strategic merge patch with the built-in types' merge keys, strategies and
//! directives, and server-side apply with managedFields and conflict detection.
//!
//! It must never do I/O: callers pass the live object and the patch, and get the new object (or
//! a conflict) back.
