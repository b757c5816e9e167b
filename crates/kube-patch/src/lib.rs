//! Kubernetes patch semantics on JSON objects, as kube-apiserver applies them: JSON patch
//! (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch with the built-in kinds' merge
//! keys, strategies and directives, and server-side apply with `managedFields`, pruning and
//! conflict detection; plus the `managedFields` bookkeeping of every create, update and patch.
//!
//! It must never do I/O, know about HTTP, or read a clock: callers pass the live object, the
//! patch and the time, and get the new object (or kube-apiserver's error) back.
//!
//! ```
//! use kube_patch::{apply_patch, PatchType, Schema};
//! use serde_json::json;
//!
//! let schema = Schema::builtin("apps", "v1", "Deployment").unwrap();
//! let live = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "nginx", "image": "nginx"}, {"name": "sidecar", "image": "envoy"}]}}}});
//! // What `kubectl edit` sent when the image was changed.
//! let patch = br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"image":"nginx:1.27","name":"nginx"}]}}}}"#;
//! let patched = apply_patch(&live, patch, PatchType::StrategicMerge, schema).unwrap();
//! assert_eq!(patched["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
//! assert_eq!(patched["spec"]["template"]["spec"]["containers"][1]["name"], "sidecar");
//! ```

mod builtin;
mod error;
mod fieldpath;
mod managed;
mod patch;
mod schema;
mod strategic;
mod typed;

pub use error::{Conflict, PatchError, StatusCause};
pub use managed::{FieldManager, LAST_APPLIED_ANNOTATION, manager_or_user_agent};
pub use patch::{PatchType, apply_patch, decode_apply_patch};
pub use schema::Schema;
