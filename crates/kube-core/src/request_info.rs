//! RequestInfo: what a request is about (verb, group, version, resource, subresource, name,
//! namespace), derived from the method and the URL exactly as kube-apiserver's
//! `RequestInfoFactory.NewRequestInfo` does. The server routes on it *and* authorizes on it, so
//! both always agree.

use percent_encoding::percent_decode_str;

use crate::selector::FieldSelector;

/// What a request is about. `is_resource_request` is false for `/version`, `/api`, `/apis/apps/v1`
/// (discovery), `/healthz` and every other non-resource path; then only `verb` and `path` are set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub is_resource_request: bool,
    /// The URL path, percent-decoded, without the query.
    pub path: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `proxy`; for non-resource requests the lower-cased HTTP method.
    pub verb: String,
    /// `api` or `apis` for resource requests.
    pub api_prefix: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The path segments from the resource on (`resource/name/subresource/...`).
    pub parts: Vec<String>,
}

const SPECIAL_VERBS: &[&str] = &["proxy", "watch"];
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

impl RequestInfo {
    /// Derive the RequestInfo of `method` on `path` with the raw (still percent-encoded) `query`.
    /// `Err` carries kube-apiserver's message for the one malformed form it rejects
    /// (`/api/v1/watch` with nothing after it).
    pub fn new(method: &str, path: &str, query: Option<&str>) -> Result<RequestInfo, String> {
        let path = percent_decode_str(path).decode_utf8_lossy().into_owned();
        let mut info = RequestInfo { path: path.clone(), verb: method.to_ascii_lowercase(), ..Default::default() };
        let trimmed = path.trim_matches('/');
        let segments: Vec<&str> = if trimmed.is_empty() { vec![] } else { trimmed.split('/').collect() };
        if segments.len() < 3 || !(segments[0] == "api" || segments[0] == "apis") {
            return Ok(info);
        }
        info.api_prefix = segments[0].to_string();
        let mut parts = &segments[1..];
        if info.api_prefix == "apis" {
            if parts.len() < 3 {
                return Ok(info);
            }
            info.api_group = parts[0].to_string();
            parts = &parts[1..];
        }
        info.is_resource_request = true;
        info.api_version = parts[0].to_string();
        parts = &parts[1..];

        if SPECIAL_VERBS.contains(&parts[0]) {
            if parts.len() < 2 {
                return Err(format!("unable to determine kind and namespace from url, {path}"));
            }
            info.verb = parts[0].to_string();
            parts = &parts[1..];
        } else {
            info.verb = match method {
                "POST" => "create",
                "GET" | "HEAD" => "get",
                "PUT" => "update",
                "PATCH" => "patch",
                "DELETE" => "delete",
                _ => "",
            }
            .to_string();
        }

        if parts[0] == "namespaces" && parts.len() > 1 {
            info.namespace = parts[1].to_string();
            if parts.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&parts[2]) {
                parts = &parts[2..];
            }
        }
        info.parts = parts.iter().map(|s| s.to_string()).collect();
        if info.parts.len() >= 3 && info.verb != "proxy" {
            info.subresource = info.parts[2].clone();
        }
        if info.parts.len() >= 2 {
            info.name = info.parts[1].clone();
        }
        if !info.parts.is_empty() {
            info.resource = info.parts[0].clone();
        }

        if info.name.is_empty() && info.verb == "get" {
            let mut watch = false;
            let mut field_selector = None;
            for (key, value) in form_pairs(query.unwrap_or("")) {
                match key.as_str() {
                    "watch" if !watch => {
                        watch = !matches!(value.to_ascii_lowercase().as_str(), "false" | "0");
                    }
                    "fieldSelector" if field_selector.is_none() => field_selector = Some(value),
                    _ => {}
                }
            }
            info.verb = if watch { "watch" } else { "list" }.to_string();
            if let Some(selector) = field_selector.and_then(|s| FieldSelector::parse(&s).ok())
                && let Some(name) = selector.requires_exact_match("metadata.name")
                && is_valid_path_segment_name(name)
            {
                info.name = name.to_string();
            }
        }
        if info.name.is_empty() && info.verb == "delete" {
            info.verb = "deletecollection".to_string();
        }
        Ok(info)
    }
}

/// `path.IsValidPathSegmentName`: not `.` or `..`, and no `/` or `%`.
fn is_valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// The `key=value` pairs of a raw query string, percent- and `+`-decoded.
pub fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (method, URL, verb, group, resource, subresource, name, namespace).
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );

    /// The reference table's cases.
    const CASES: &[Case] = &[
        ("GET", "/api/v1/namespaces/default/pods", "list", "", "pods", "", "", "default"),
        ("GET", "/api/v1/namespaces/default/pods?watch=true", "watch", "", "pods", "", "", "default"),
        ("GET", "/api/v1/namespaces/default/pods?watch=1", "watch", "", "pods", "", "", "default"),
        ("GET", "/api/v1/namespaces/default/pods?watch=false", "list", "", "pods", "", "", "default"),
        ("GET", "/api/v1/namespaces/default/pods?watch=0", "list", "", "pods", "", "", "default"),
        ("GET", "/api/v1/namespaces/default/pods?watch=", "watch", "", "pods", "", "", "default"),
        ("GET", "/api/v1/watch/namespaces/default/pods", "watch", "", "pods", "", "", "default"),
        ("GET", "/api/v1/pods", "list", "", "pods", "", "", ""),
        ("HEAD", "/api/v1/pods", "list", "", "pods", "", "", ""),
        ("GET", "/api/v1/namespaces/default/pods/nginx", "get", "", "pods", "", "nginx", "default"),
        (
            "GET",
            "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dnginx",
            "list",
            "",
            "pods",
            "",
            "nginx",
            "default",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods?fieldSelector=metadata.name%21%3Dnginx",
            "list",
            "",
            "pods",
            "",
            "",
            "default",
        ),
        ("POST", "/api/v1/namespaces/default/pods", "create", "", "pods", "", "", "default"),
        ("PUT", "/api/v1/namespaces/default/pods/nginx", "update", "", "pods", "", "nginx", "default"),
        ("PATCH", "/api/v1/namespaces/default/pods/nginx", "patch", "", "pods", "", "nginx", "default"),
        ("DELETE", "/api/v1/namespaces/default/pods/nginx", "delete", "", "pods", "", "nginx", "default"),
        ("DELETE", "/api/v1/namespaces/default/pods", "deletecollection", "", "pods", "", "", "default"),
        ("GET", "/api/v1/namespaces/default/pods/nginx/log", "get", "", "pods", "log", "nginx", "default"),
        (
            "POST",
            "/api/v1/namespaces/default/pods/nginx/exec?command=ls",
            "create",
            "",
            "pods",
            "exec",
            "nginx",
            "default",
        ),
        ("GET", "/api/v1/namespaces/default/pods/nginx/proxy/sub/path", "get", "", "pods", "proxy", "nginx", "default"),
        ("GET", "/api/v1/proxy/namespaces/default/pods/nginx/x", "proxy", "", "pods", "", "nginx", "default"),
        ("GET", "/api/v1/namespaces", "list", "", "namespaces", "", "", ""),
        ("GET", "/api/v1/namespaces/foo", "get", "", "namespaces", "", "foo", "foo"),
        ("DELETE", "/api/v1/namespaces/foo", "delete", "", "namespaces", "", "foo", "foo"),
        ("PUT", "/api/v1/namespaces/foo/status", "update", "", "namespaces", "status", "foo", "foo"),
        ("PUT", "/api/v1/namespaces/foo/finalize", "update", "", "namespaces", "finalize", "foo", "foo"),
        ("DELETE", "/api/v1/nodes", "deletecollection", "", "nodes", "", "", ""),
        ("GET", "/apis/apps/v1/namespaces/default/deployments", "list", "apps", "deployments", "", "", "default"),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web/scale",
            "patch",
            "apps",
            "deployments",
            "scale",
            "web",
            "default",
        ),
        (
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/dev/rolebindings",
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "",
            "",
            "dev",
        ),
        (
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "",
            "",
        ),
    ];

    #[test]
    fn resource_requests_match_the_reference_table() {
        for (method, url, verb, group, resource, sub, name, ns) in CASES {
            let (path, query) = url.split_once('?').map_or((*url, None), |(p, q)| (p, Some(q)));
            let info = RequestInfo::new(method, path, query).unwrap();
            assert!(info.is_resource_request, "{method} {url}");
            assert_eq!(
                (
                    info.verb.as_str(),
                    info.api_group.as_str(),
                    info.resource.as_str(),
                    info.subresource.as_str(),
                    info.name.as_str(),
                    info.namespace.as_str()
                ),
                (*verb, *group, *resource, *sub, *name, *ns),
                "{method} {url}"
            );
        }
    }

    #[test]
    fn non_resource_requests() {
        for path in [
            "/",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/healthz",
            "/healthz/etcd",
            "/version",
            "/openapi/v3/apis/apps/v1",
            "/metrics",
        ] {
            let info = RequestInfo::new("GET", path, None).unwrap();
            assert!(!info.is_resource_request, "{path}");
            assert_eq!((info.verb.as_str(), info.path.as_str()), ("get", path));
        }
        assert_eq!(RequestInfo::new("HEAD", "/healthz", None).unwrap().verb, "head");
        assert!(RequestInfo::new("GET", "/api/v1/watch", None).is_err());
    }
}
