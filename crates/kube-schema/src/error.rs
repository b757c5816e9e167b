//! The crate's one error type. Decoding messages follow kube-apiserver's wording where it has
//! one, since the server answers 400 Bad Request with them.

/// Why a Protobuf body could not be decoded or a schema document could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The body does not start with the `k8s\0` magic of Kubernetes' Protobuf envelope.
    #[error("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")]
    NotProtobuf,
    /// The `runtime.Unknown` envelope after the magic is not valid Protobuf.
    #[error("unable to decode the protobuf envelope: {0}")]
    Envelope(String),
    /// The envelope carries a content encoding or content type this server does not read.
    #[error("unsupported protobuf envelope: {0}")]
    UnsupportedEnvelope(String),
    /// No built-in kind has this apiVersion and kind.
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownKind { api_version: String, kind: String },
    /// The object inside the envelope is not valid Protobuf for its kind.
    #[error("unable to decode {kind} from protobuf: {message}")]
    Object { kind: String, message: String },
    /// A field holding embedded JSON (RawExtension, FieldsV1, CRD JSON) is not valid JSON.
    #[error("field {field} does not hold valid JSON: {message}")]
    EmbeddedJson { field: String, message: String },
    /// A floating-point field holds NaN or an infinity, which JSON cannot carry.
    #[error("field {field} holds a number JSON cannot represent")]
    NonFiniteNumber { field: String },
    /// A CustomResourceDefinition given to the OpenAPI builder is malformed.
    #[error("invalid CustomResourceDefinition: {0}")]
    InvalidCrd(String),
}
