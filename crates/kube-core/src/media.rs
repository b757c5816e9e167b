//! Content negotiation: which representation a request's `Accept` header asks for (JSON, YAML,
//! a `meta.k8s.io` Table, PartialObjectMetadata), and what a request body's `Content-Type` is.
//! kube-apiserver's rules: entries are tried by quality then order; `as=Table` and
//! `as=PartialObjectMetadata[List]` need `g=meta.k8s.io` and `v=v1` or `v1beta1`; nothing
//! acceptable is a 406.

/// The `meta.k8s.io` version a Table or PartialObjectMetadata is asked in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaVersion {
    V1,
    V1beta1,
}

impl MetaVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            MetaVersion::V1 => "meta.k8s.io/v1",
            MetaVersion::V1beta1 => "meta.k8s.io/v1beta1",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            MetaVersion::V1 => "v1",
            MetaVersion::V1beta1 => "v1beta1",
        }
    }
}

/// The representation of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    Table(MetaVersion),
    /// `PartialObjectMetadata` (one object) or `PartialObjectMetadataList` (a list).
    PartialObjectMetadata(MetaVersion),
}

impl Output {
    /// The `Content-Type` of a reply in this representation.
    pub fn content_type(self) -> String {
        match self {
            Output::Json => "application/json".into(),
            Output::Yaml => "application/yaml".into(),
            Output::Table(v) => format!("application/json;as=Table;v={};g=meta.k8s.io", v.suffix()),
            Output::PartialObjectMetadata(v) => {
                format!("application/json;as=PartialObjectMetadata;v={};g=meta.k8s.io", v.suffix())
            }
        }
    }
}

/// The media types a server answers in, as kube-apiserver lists them in a 406.
pub const ACCEPTED: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

/// One entry of an Accept header.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRange {
    pub type_: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub quality: f32,
}

impl MediaRange {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn essence(&self) -> String {
        format!("{}/{}", self.type_, self.subtype)
    }
}

/// Parse an Accept header (or a Content-Type) into its ranges, best first (stable by order).
pub fn parse_accept(header: &str) -> Vec<MediaRange> {
    let mut ranges: Vec<MediaRange> = header
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let essence = parts.next()?.to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let (type_, subtype) = essence.split_once('/').unwrap_or((essence.as_str(), "*"));
            let mut quality = 1.0;
            let mut params = Vec::new();
            for param in parts {
                let Some((k, v)) = param.split_once('=') else { continue };
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_string());
                if k == "q" {
                    quality = v.parse().unwrap_or(0.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(MediaRange { type_: type_.to_string(), subtype: subtype.to_string(), params, quality })
        })
        .collect();
    ranges.sort_by(|a, b| b.quality.partial_cmp(&a.quality).unwrap_or(std::cmp::Ordering::Equal));
    ranges
}

/// What an Accept header may ask for on this request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Allow {
    /// Tables are offered for get, list and watch.
    pub table: bool,
    /// PartialObjectMetadata is offered for get, list and watch.
    pub partial: bool,
}

/// Choose the reply representation, or `None` (406) when nothing the client accepts is served.
pub fn negotiate_output(accept: Option<&str>, allow: Allow) -> Option<Output> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else { return Some(Output::Json) };
    for range in parse_accept(accept) {
        if range.quality <= 0.0 {
            continue;
        }
        let as_ = range.param("as");
        let json_like = range.type_ == "application" && (range.subtype == "json" || range.subtype == "*");
        if let Some(as_) = as_ {
            if !json_like || range.param("g") != Some("meta.k8s.io") {
                continue;
            }
            let version = match range.param("v") {
                Some("v1") => MetaVersion::V1,
                Some("v1beta1") => MetaVersion::V1beta1,
                _ => continue,
            };
            match as_ {
                "Table" if allow.table => return Some(Output::Table(version)),
                "PartialObjectMetadata" | "PartialObjectMetadataList" if allow.partial => {
                    return Some(Output::PartialObjectMetadata(version));
                }
                _ => continue,
            }
        }
        match (range.type_.as_str(), range.subtype.as_str()) {
            ("application", "json") | ("application", "*") | ("*", "*") => return Some(Output::Json),
            ("application", "yaml") => return Some(Output::Yaml),
            _ => continue,
        }
    }
    None
}

/// What a request body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Yaml,
    Protobuf,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
}

impl BodyType {
    /// Classify a Content-Type (`None` when not one kube-apiserver reads).
    pub fn from_content_type(content_type: &str) -> Option<BodyType> {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        Some(match essence.as_str() {
            "application/json" | "" => BodyType::Json,
            "application/yaml" => BodyType::Yaml,
            "application/vnd.kubernetes.protobuf" => BodyType::Protobuf,
            "application/json-patch+json" => BodyType::JsonPatch,
            "application/merge-patch+json" => BodyType::MergePatch,
            "application/strategic-merge-patch+json" => BodyType::StrategicMergePatch,
            "application/apply-patch+yaml" => BodyType::ApplyPatch,
            _ => return None,
        })
    }

    pub fn is_patch(self) -> bool {
        matches!(
            self,
            BodyType::JsonPatch | BodyType::MergePatch | BodyType::StrategicMergePatch | BodyType::ApplyPatch
        )
    }
}

/// The patch types kube-apiserver lists in a 415 for PATCH.
pub const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn kubectl_accept_headers() {
        let read = Allow { table: true, partial: true };
        assert_eq!(negotiate_output(Some(KUBECTL_GET), read), Some(Output::Table(MetaVersion::V1)));
        assert_eq!(negotiate_output(Some(KUBECTL_GET), Allow::default()), Some(Output::Json));
        assert_eq!(
            negotiate_output(Some("application/vnd.kubernetes.protobuf,application/json"), read),
            Some(Output::Json)
        );
        assert_eq!(negotiate_output(Some("application/json, */*"), read), Some(Output::Json));
        assert_eq!(negotiate_output(Some("application/yaml"), read), Some(Output::Yaml));
        assert_eq!(negotiate_output(None, read), Some(Output::Json));
        assert_eq!(
            negotiate_output(Some("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"), read),
            Some(Output::PartialObjectMetadata(MetaVersion::V1))
        );
        assert_eq!(negotiate_output(Some("text/html"), read), None);
        assert_eq!(negotiate_output(Some("application/json;as=Table;v=v2;g=meta.k8s.io"), read), None);
        assert_eq!(negotiate_output(Some("application/yaml;q=0.5,application/json"), read), Some(Output::Json));
        assert_eq!(Output::Table(MetaVersion::V1).content_type(), "application/json;as=Table;v=v1;g=meta.k8s.io");
    }

    #[test]
    fn body_types() {
        assert_eq!(BodyType::from_content_type("application/apply-patch+yaml"), Some(BodyType::ApplyPatch));
        assert_eq!(BodyType::from_content_type("application/json; charset=utf-8"), Some(BodyType::Json));
        assert_eq!(BodyType::from_content_type("text/plain"), None);
    }
}
