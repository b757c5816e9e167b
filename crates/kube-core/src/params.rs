//! Query parameters of list, watch, write and delete requests (`metav1.ListOptions`,
//! `CreateOptions`, `DeleteOptions`, ...), parsed with kube-apiserver's rules and messages, and the
//! opaque `continue` token of a paged list.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::request_info::form_pairs;
use crate::selector::{FieldSelector, LabelSelector};

/// `resourceVersionMatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceVersionMatch {
    NotOlderThan,
    Exact,
}

/// `metav1.ListOptions` (list and watch).
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub watch: bool,
    pub allow_watch_bookmarks: bool,
    /// `None`: unset; `Some("0")`: any; otherwise a revision.
    pub resource_version: Option<String>,
    pub resource_version_match: Option<ResourceVersionMatch>,
    pub timeout_seconds: Option<i64>,
    pub limit: i64,
    pub continue_token: Option<String>,
    pub send_initial_events: Option<bool>,
}

fn parse_bool(value: &str) -> bool {
    !matches!(value.to_ascii_lowercase().as_str(), "false" | "0")
}

fn parse_int(name: &str, value: &str) -> Result<i64, Error> {
    value.parse::<i64>().map_err(|_| Error::InvalidParameter(format!("{name}: invalid value {value:?}")))
}

impl ListOptions {
    pub fn from_query(query: Option<&str>) -> Result<ListOptions, Error> {
        let mut options = ListOptions::default();
        for (key, value) in form_pairs(query.unwrap_or_default()) {
            match key.as_str() {
                "labelSelector" => options.label_selector = LabelSelector::parse(&value)?,
                "fieldSelector" => options.field_selector = FieldSelector::parse(&value)?,
                "watch" => options.watch = parse_bool(&value),
                "allowWatchBookmarks" => options.allow_watch_bookmarks = parse_bool(&value),
                "resourceVersion" if !value.is_empty() => options.resource_version = Some(value),
                "resourceVersionMatch" if !value.is_empty() => {
                    options.resource_version_match = Some(match value.as_str() {
                        "NotOlderThan" => ResourceVersionMatch::NotOlderThan,
                        "Exact" => ResourceVersionMatch::Exact,
                        other => {
                            return Err(Error::InvalidParameter(format!(
                                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
                            )));
                        }
                    })
                }
                "timeoutSeconds" if !value.is_empty() => {
                    options.timeout_seconds = Some(parse_int("timeoutSeconds", &value)?)
                }
                "limit" if !value.is_empty() => options.limit = parse_int("limit", &value)?.max(0),
                "continue" if !value.is_empty() => options.continue_token = Some(value),
                "sendInitialEvents" if !value.is_empty() => options.send_initial_events = Some(parse_bool(&value)),
                _ => {}
            }
        }
        Ok(options)
    }

    /// The resourceVersion as a revision (`None` when unset or "0").
    pub fn revision(&self) -> Result<Option<i64>, Error> {
        match self.resource_version.as_deref() {
            None | Some("0") => Ok(None),
            Some(rv) => parse_resource_version(rv).map(Some),
        }
    }
}

/// A resourceVersion as a revision, with kube-apiserver's message when it is not one.
pub fn parse_resource_version(rv: &str) -> Result<i64, Error> {
    rv.parse::<i64>().ok().filter(|r| *r >= 0).ok_or_else(|| Error::InvalidResourceVersion(rv.to_string()))
}

/// The opaque `continue` token of a paged list: the revision of the first page and the key to
/// resume after (`storage.continueToken`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    #[serde(rename = "v")]
    pub api_version: String,
    #[serde(rename = "rv")]
    pub resource_version: i64,
    /// The key relative to the list's prefix at which the next page starts.
    #[serde(rename = "start")]
    pub start: String,
}

impl ContinueToken {
    pub fn new(resource_version: i64, start: impl Into<String>) -> Self {
        ContinueToken { api_version: "meta.k8s.io/v1".into(), resource_version, start: start.into() }
    }

    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("serializes"))
    }

    /// Decode a token, with kube-apiserver's message (`invalid continue token: ...`).
    pub fn decode(token: &str) -> Result<ContinueToken, Error> {
        let bad = |why: &str| Error::InvalidContinue(why.to_string());
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| bad("continue key is not valid: illegal base64 data"))?;
        let parsed: ContinueToken =
            serde_json::from_slice(&bytes).map_err(|e| bad(&format!("continue key is not valid: {e}")))?;
        if parsed.api_version != "meta.k8s.io/v1" {
            return Err(bad(&format!(
                "continue key is not valid: server does not recognize this encoded version {:?}",
                parsed.api_version
            )));
        }
        if parsed.resource_version == 0 {
            return Err(bad(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ));
        }
        if parsed.start.is_empty() || parsed.start.starts_with('/') || parsed.start.contains("..") {
            return Err(bad("continue key is not valid: incorrect encoded start key"));
        }
        Ok(parsed)
    }
}

/// `dryRun`, `fieldManager`, `fieldValidation` (create, update, patch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// `force` (server-side apply).
    pub force: bool,
}

/// `fieldValidation`: what to do with unknown or duplicate fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl WriteOptions {
    pub fn from_query(query: Option<&str>) -> Result<WriteOptions, Error> {
        let mut options = WriteOptions::default();
        for (key, value) in form_pairs(query.unwrap_or_default()) {
            match key.as_str() {
                "dryRun" => {
                    if value != "All" {
                        return Err(Error::InvalidParameter(format!(
                            "dryRun: Unsupported value: {value:?}: supported values: \"All\""
                        )));
                    }
                    options.dry_run = true;
                }
                "fieldManager" => {
                    if value.chars().count() > 128 {
                        return Err(Error::InvalidParameter(
                            "fieldManager: Too long: may not be more than 128 bytes".to_string(),
                        ));
                    }
                    options.field_manager = Some(value);
                }
                "fieldValidation" => {
                    options.field_validation = match value.as_str() {
                        "" | "Warn" => FieldValidation::Warn,
                        "Ignore" => FieldValidation::Ignore,
                        "Strict" => FieldValidation::Strict,
                        other => {
                            return Err(Error::InvalidParameter(format!(
                                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
                            )));
                        }
                    }
                }
                "force" => options.force = parse_bool(&value),
                _ => {}
            }
        }
        Ok(options)
    }
}

/// `metav1.DeletionPropagation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// `metav1.DeleteOptions`, from the query and the (optional) body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<Propagation>,
    /// The deprecated `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_request(query: Option<&str>, body: &[u8]) -> Result<DeleteOptions, Error> {
        let mut options = DeleteOptions::default();
        let trimmed = body.iter().any(|b| !b.is_ascii_whitespace());
        if trimmed {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| Error::InvalidParameter(format!("couldn't get version/kind; json parse error: {e}")))?;
            if let Some(kind) = value.get("kind").and_then(Value::as_str)
                && kind != "DeleteOptions"
            {
                return Err(Error::InvalidParameter(format!(
                    "no kind \"{kind}\" is registered for version \"{}\"",
                    value.get("apiVersion").and_then(Value::as_str).unwrap_or("v1")
                )));
            }
            options.grace_period_seconds = value.get("gracePeriodSeconds").and_then(Value::as_i64);
            if let Some(p) = value.get("propagationPolicy").and_then(Value::as_str) {
                options.propagation_policy = Some(parse_propagation(p)?);
            }
            options.orphan_dependents = value.get("orphanDependents").and_then(Value::as_bool);
            options.precondition_uid = value.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string);
            options.precondition_resource_version =
                value.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string);
            if let Some(dry) = value.get("dryRun").and_then(Value::as_array) {
                options.dry_run = dry.iter().any(|d| d == "All");
            }
        }
        for (key, value) in form_pairs(query.unwrap_or_default()) {
            match key.as_str() {
                "gracePeriodSeconds" if !value.is_empty() => {
                    options.grace_period_seconds = Some(parse_int("gracePeriodSeconds", &value)?)
                }
                "propagationPolicy" if !value.is_empty() => {
                    options.propagation_policy = Some(parse_propagation(&value)?)
                }
                "orphanDependents" if !value.is_empty() => options.orphan_dependents = Some(parse_bool(&value)),
                "dryRun" => {
                    if value != "All" {
                        return Err(Error::InvalidParameter(format!(
                            "dryRun: Unsupported value: {value:?}: supported values: \"All\""
                        )));
                    }
                    options.dry_run = true;
                }
                _ => {}
            }
        }
        if options.orphan_dependents.is_some() && options.propagation_policy.is_some() {
            return Err(Error::InvalidParameter(
                "propagationPolicy: Invalid value: \"\": orphanDependents and deletionPropagation cannot be both set"
                    .into(),
            ));
        }
        Ok(options)
    }
}

fn parse_propagation(value: &str) -> Result<Propagation, Error> {
    match value {
        "Orphan" => Ok(Propagation::Orphan),
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        other => Err(Error::InvalidParameter(format!(
            "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options() {
        let o = ListOptions::from_query(Some(
            "labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dnginx&limit=500&watch=true&resourceVersion=12&allowWatchBookmarks=true&timeoutSeconds=300",
        ))
        .unwrap();
        assert!(o.watch && o.allow_watch_bookmarks);
        assert_eq!((o.limit, o.revision().unwrap(), o.timeout_seconds), (500, Some(12), Some(300)));
        assert_eq!(o.field_selector.requires_exact_match("metadata.name"), Some("nginx"));
        assert!(ListOptions::from_query(Some("resourceVersion=abc")).unwrap().revision().is_err());
        assert_eq!(ListOptions::from_query(Some("resourceVersion=0")).unwrap().revision().unwrap(), None);
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = ContinueToken::new(42, "default/b");
        assert_eq!(ContinueToken::decode(&token.encode()).unwrap(), token);
        assert!(ContinueToken::decode("!!!").is_err());
        assert!(ContinueToken::decode(&ContinueToken::new(42, "../x").encode()).is_err());
    }

    #[test]
    fn delete_options_from_kubectl() {
        let o = DeleteOptions::from_request(None, br#"{"propagationPolicy":"Foreground"}"#).unwrap();
        assert_eq!(o.propagation_policy, Some(Propagation::Foreground));
        let o = DeleteOptions::from_request(Some("gracePeriodSeconds=0&dryRun=All"), b"").unwrap();
        assert_eq!((o.grace_period_seconds, o.dry_run), (Some(0), true));
        assert!(DeleteOptions::from_request(None, br#"{"propagationPolicy":"Sideways"}"#).is_err());
    }

    #[test]
    fn write_options() {
        let o =
            WriteOptions::from_query(Some("fieldManager=kubectl-client-side-apply&fieldValidation=Strict&dryRun=All"))
                .unwrap();
        assert_eq!(o.field_validation, FieldValidation::Strict);
        assert!(o.dry_run);
        assert!(WriteOptions::from_query(Some("fieldValidation=Loud")).is_err());
    }
}
