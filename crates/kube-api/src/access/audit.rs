//! Audit: an `audit.k8s.io/v1` Event JSON line for every request, as kube-apiserver's log
//! backend writes them, decided by a policy file in kube-apiserver's format.
//!
//! - **Policy** ([`Policy`]): `rules` tried in order, the first match giving the level (`None`,
//!   `Metadata`, `Request`, `RequestResponse`); a rule matches on `users`, `userGroups`, `verbs`,
//!   `resources` (group, resources with `*`, `*/sub` and `res/*`, resourceNames), `namespaces`
//!   and `nonResourceURLs` (with a trailing `*`); `omitStages` per rule and for the policy. The
//!   rules see the authenticated user (not the impersonated one), as kube-apiserver's audit filter
//!   runs before impersonation. No policy file: Metadata for everything, RequestReceived omitted.
//! - **Stages**: RequestReceived (unless omitted), ResponseComplete; long-running requests
//!   (watch, proxy; attach, exec, log, portforward, proxy subresources) also log ResponseStarted
//!   when the response begins and ResponseComplete when its body ends. A request that fails
//!   authentication is logged at ResponseStarted with kube-apiserver's "Authentication failed"
//!   message and code 401.
//! - **Fields**: auditID, requestURI, verb, user (with `extra`: the IAM ARN and access key ID of
//!   an EKS-token user), impersonatedUser, sourceIPs, userAgent, objectRef, responseStatus
//!   (code; the Status of a failure), requestObject / responseObject (JSON bodies, at Request /
//!   RequestResponse), timestamps, and the annotations `authorization.k8s.io/decision` (`allow`
//!   or `forbid`) and `authorization.k8s.io/reason`.
//! - **Secrets never appear**: requests on `secrets`, `tokenreviews`, `tokenrequests` and the
//!   `serviceaccounts/token` subresource are never logged above Metadata (as EKS's default
//!   policy does for secrets and token reviews), and headers are never logged, so bearer
//!   tokens, Authorization headers and signatures have nowhere to go.
//! - **File**: one writer thread per log appends lines and rotates by size as kube-apiserver's
//!   lumberjack does (`--audit-log-maxsize` MB: the file is renamed
//!   `audit-<timestamp>.log`; `--audit-log-maxbackup` of those kept).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use kube_core::{RequestInfo, meta};
use rbac::UserInfo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How much of a request is logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    #[default]
    None,
    Metadata,
    Request,
    RequestResponse,
}

/// A stage of a request's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<Stage>,
}

/// An audit policy (`audit.k8s.io/v1` `Policy`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    omit_stages: Vec<Stage>,
}

/// Why an audit policy or log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit policy is not valid: {0}")]
    Policy(String),
    #[error("cannot open the audit log {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
}

impl Default for Policy {
    /// Metadata for every request, RequestReceived omitted (what Rampart logs without a policy).
    fn default() -> Self {
        Policy {
            api_version: "audit.k8s.io/v1".into(),
            kind: "Policy".into(),
            rules: vec![Rule { level: Level::Metadata, ..Rule::default() }],
            omit_stages: vec![Stage::RequestReceived],
        }
    }
}

/// What the policy decides for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub level: Level,
    omit_stages: Vec<Stage>,
}

impl Decision {
    fn logs(&self, stage: Stage) -> bool {
        self.level > Level::None && !self.omit_stages.contains(&stage)
    }
}

impl Policy {
    /// A policy from its YAML (or JSON) text, checked as kube-apiserver checks it.
    pub fn parse(text: &str) -> Result<Policy, AuditError> {
        let policy: Policy = serde_saphyr::from_str(text).map_err(|e| AuditError::Policy(e.to_string()))?;
        if policy.kind != "Policy" || !matches!(policy.api_version.as_str(), "audit.k8s.io/v1" | "audit.k8s.io/v1beta1")
        {
            return Err(AuditError::Policy(format!(
                "expected apiVersion audit.k8s.io/v1 and kind Policy, got {:?} {:?}",
                policy.api_version, policy.kind
            )));
        }
        if policy.rules.is_empty() {
            return Err(AuditError::Policy("rules: Required value: at least one rule".into()));
        }
        for (i, rule) in policy.rules.iter().enumerate() {
            if !rule.non_resource_urls.is_empty() && (!rule.resources.is_empty() || !rule.namespaces.is_empty()) {
                return Err(AuditError::Policy(format!(
                    "rules[{i}].nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs"
                )));
            }
        }
        Ok(policy)
    }

    /// The level and omitted stages for `user`'s request.
    pub fn decide(&self, user: &UserInfo, info: &RequestInfo) -> Decision {
        let Some(rule) = self.rules.iter().find(|r| r.matches(user, info)) else {
            return Decision { level: Level::None, omit_stages: vec![] };
        };
        let mut level = rule.level;
        if level > Level::Metadata && sensitive(info) {
            level = Level::Metadata;
        }
        let mut omit_stages = self.omit_stages.clone();
        omit_stages.extend(&rule.omit_stages);
        Decision { level, omit_stages }
    }
}

/// Requests whose bodies carry secrets or tokens: never logged above Metadata.
fn sensitive(info: &RequestInfo) -> bool {
    matches!(info.resource.as_str(), "secrets" | "tokenreviews" | "tokenrequests")
        || (info.resource == "serviceaccounts" && info.subresource == "token")
}

impl Rule {
    fn matches(&self, user: &UserInfo, info: &RequestInfo) -> bool {
        if !self.users.is_empty() && !self.users.contains(&user.name) {
            return false;
        }
        if !self.user_groups.is_empty() && !user.groups.iter().any(|g| self.user_groups.contains(g)) {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&info.verb) {
            return false;
        }
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            if !info.is_resource_request {
                return false;
            }
            if !self.namespaces.is_empty() && !self.namespaces.contains(&info.namespace) {
                return false;
            }
            if !self.resources.is_empty() && !self.resources.iter().any(|gr| gr.matches(info)) {
                return false;
            }
        }
        if !self.non_resource_urls.is_empty() {
            if info.is_resource_request {
                return false;
            }
            let path = info.path.as_str();
            let matched = self.non_resource_urls.iter().any(|url| match url.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => url == path,
            });
            if !matched {
                return false;
            }
        }
        true
    }
}

impl GroupResources {
    fn matches(&self, info: &RequestInfo) -> bool {
        if self.group != info.api_group {
            return false;
        }
        if !self.resources.is_empty() {
            let combined = if info.subresource.is_empty() {
                info.resource.clone()
            } else {
                format!("{}/{}", info.resource, info.subresource)
            };
            let matched = self.resources.iter().any(|r| {
                r == "*"
                    || *r == combined
                    || r.strip_prefix("*/").is_some_and(|sub| sub == info.subresource)
                    || r.strip_suffix("/*").is_some_and(|res| res == info.resource && !info.subresource.is_empty())
            });
            if !matched {
                return false;
            }
        }
        self.resource_names.is_empty() || self.resource_names.contains(&info.name)
    }
}

/// kube-apiserver's long-running requests (its audit logs ResponseStarted for them).
pub fn long_running(info: &RequestInfo) -> bool {
    matches!(info.verb.as_str(), "watch" | "proxy")
        || matches!(info.subresource.as_str(), "attach" | "exec" | "proxy" | "log" | "portforward")
}

/// `user` and `impersonatedUser` (authentication/v1 UserInfo, every field omitempty).
#[derive(Serialize)]
struct UserJson<'a> {
    #[serde(rename = "username", skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extra: &'a BTreeMap<String, Vec<String>>,
}

impl<'a> UserJson<'a> {
    fn of(user: &'a UserInfo) -> Self {
        UserJson { name: &user.name, uid: &user.uid, groups: &user.groups, extra: &user.extra }
    }
}

/// `objectRef` (every field omitempty).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    resource: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    api_group: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    api_version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    subresource: &'a str,
}

#[derive(Serialize)]
struct Annotations<'a> {
    #[serde(rename = "authorization.k8s.io/decision")]
    decision: &'static str,
    #[serde(rename = "authorization.k8s.io/reason")]
    reason: &'a str,
}

/// An audit.k8s.io/v1 Event, in kube-apiserver's field order, borrowing from the record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    kind: &'static str,
    api_version: &'static str,
    level: &'static str,
    #[serde(rename = "auditID")]
    audit_id: &'a str,
    stage: &'static str,
    #[serde(rename = "requestURI")]
    request_uri: &'a str,
    verb: &'a str,
    user: UserJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    impersonated_user: Option<UserJson<'a>>,
    #[serde(rename = "sourceIPs")]
    source_ips: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_ref: Option<ObjectRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_status: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_object: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_object: Option<&'a Value>,
    request_received_timestamp: String,
    stage_timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations<'a>>,
}

/// One request's audit record, filled in as the request goes through the pipeline.
pub struct Record {
    audit_id: String,
    received: DateTime<Utc>,
    request_uri: String,
    source_ips: Vec<String>,
    user_agent: String,
    /// What authentication found (`None`: it failed).
    pub user: Option<UserInfo>,
    pub impersonated: Option<UserInfo>,
    /// Whether authorization allowed the request, and the authorizer's reason.
    pub authorization: Option<(bool, String)>,
    pub request_object: Option<Value>,
    /// The Status of a refusal, or the code of a success.
    pub response_status: Value,
    pub response_object: Option<Value>,
    decision: Decision,
}

impl Record {
    /// A record for a request received now from `remote` (forwarded addresses first, as
    /// kube-apiserver lists them).
    pub fn new(uri: &str, headers: &http::HeaderMap, remote: Option<std::net::IpAddr>) -> Record {
        let mut source_ips: Vec<String> = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').map(|ip| ip.trim().to_string()).filter(|ip| !ip.is_empty()).collect())
            .unwrap_or_default();
        if let Some(ip) = remote.map(|ip| ip.to_string())
            && !source_ips.contains(&ip)
        {
            source_ips.push(ip);
        }
        Record {
            audit_id: uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string(),
            received: Utc::now(),
            request_uri: uri.to_string(),
            source_ips,
            user_agent: headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").into(),
            user: None,
            impersonated: None,
            authorization: None,
            request_object: None,
            response_status: Value::Null,
            response_object: None,
            decision: Decision { level: Level::None, omit_stages: vec![] },
        }
    }

    /// The audit ID (kube-apiserver also sends it back as `Audit-Id`).
    pub fn audit_id(&self) -> &str {
        &self.audit_id
    }

    /// The level this request is logged at (known once the user is).
    pub fn level(&self) -> Level {
        self.decision.level
    }

    fn event(&self, info: &RequestInfo, stage: Stage) -> Vec<u8> {
        static NOBODY: std::sync::LazyLock<UserInfo> = std::sync::LazyLock::new(UserInfo::default);
        let level = self.decision.level;
        let event = Event {
            kind: "Event",
            api_version: "audit.k8s.io/v1",
            level: level.as_str(),
            audit_id: &self.audit_id,
            stage: stage.as_str(),
            request_uri: &self.request_uri,
            verb: &info.verb,
            user: UserJson::of(self.user.as_ref().unwrap_or(&NOBODY)),
            impersonated_user: self.impersonated.as_ref().map(UserJson::of),
            source_ips: &self.source_ips,
            user_agent: &self.user_agent,
            object_ref: info.is_resource_request.then(|| ObjectRef {
                resource: &info.resource,
                namespace: &info.namespace,
                name: &info.name,
                api_group: &info.api_group,
                api_version: &info.api_version,
                subresource: &info.subresource,
            }),
            response_status: (stage != Stage::RequestReceived && !self.response_status.is_null())
                .then_some(&self.response_status),
            request_object: self.request_object.as_ref().filter(|_| level >= Level::Request),
            response_object: self
                .response_object
                .as_ref()
                .filter(|_| level >= Level::RequestResponse && stage == Stage::ResponseComplete),
            request_received_timestamp: meta::format_micro_time(self.received),
            stage_timestamp: meta::format_micro_time(Utc::now()),
            annotations: self
                .authorization
                .as_ref()
                .map(|(allowed, reason)| Annotations { decision: if *allowed { "allow" } else { "forbid" }, reason }),
        };
        let mut line = Vec::with_capacity(1024);
        serde_json::to_writer(&mut line, &event).expect("events serialize");
        line.push(b'\n');
        line
    }
}

/// A cluster's audit log: the policy and the file's writer thread.
pub struct AuditLog {
    policy: Policy,
    lines: mpsc::Sender<Vec<u8>>,
    path: PathBuf,
}

impl AuditLog {
    /// Open (append to) `path`, rotating past `max_bytes` (0: never) and keeping `max_backups`
    /// rotated files (0: all).
    pub fn open(path: &Path, policy: Policy, max_bytes: u64, max_backups: usize) -> Result<AuditLog, AuditError> {
        let open_error = |source| AuditError::Open { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(open_error)?;
        }
        let file = LogFile::open(path.to_path_buf(), max_bytes, max_backups).map_err(open_error)?;
        let (lines, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::Builder::new().name("audit-log".into()).spawn(move || file.run(rx)).map_err(open_error)?;
        Ok(AuditLog { policy, lines, path: path.to_path_buf() })
    }

    /// Where the log is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decide the record's level once the (authenticated) user is known, and log
    /// RequestReceived if the policy wants it.
    pub fn authenticated(&self, record: &mut Record, info: &RequestInfo) {
        let anonymous = UserInfo::default();
        let user = record.user.as_ref().unwrap_or(&anonymous);
        record.decision = self.policy.decide(user, info);
        if record.decision.logs(Stage::RequestReceived) {
            let _ = self.lines.send(record.event(info, Stage::RequestReceived));
        }
    }

    /// Log `stage` of the request.
    pub fn log(&self, record: &Record, info: &RequestInfo, stage: Stage) {
        if record.decision.logs(stage) {
            let _ = self.lines.send(record.event(info, stage));
        }
    }

    /// Log a request that failed authentication (401): ResponseStarted, as kube-apiserver.
    pub fn unauthenticated(&self, record: &mut Record, info: &RequestInfo, headers: &http::HeaderMap, x509: bool) {
        self.authenticated(record, info);
        let mut methods = Vec::new();
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
        if bearer {
            methods.push("bearer");
        }
        if x509 {
            methods.push("x509");
        }
        let message = if methods.is_empty() {
            "Authentication failed, no credentials provided".to_string()
        } else {
            format!("Authentication failed, attempted: {}", methods.join(", "))
        };
        record.response_status = json!({"metadata": {}, "message": message, "code": 401});
        self.log(record, info, Stage::ResponseStarted);
    }
}

/// The audit file and its rotation (kube-apiserver's lumberjack settings).
struct LogFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    size: u64,
    max_bytes: u64,
    max_backups: usize,
}

impl LogFile {
    fn open(path: PathBuf, max_bytes: u64, max_backups: usize) -> std::io::Result<LogFile> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        set_private(&path);
        let size = file.metadata()?.len();
        Ok(LogFile { path, file: std::io::BufWriter::new(file), size, max_bytes, max_backups })
    }

    fn run(mut self, lines: mpsc::Receiver<Vec<u8>>) {
        while let Ok(line) = lines.recv() {
            self.write(&line);
            while let Ok(line) = lines.try_recv() {
                self.write(&line);
            }
            if let Err(err) = self.file.flush() {
                tracing::warn!(path = %self.path.display(), %err, "cannot write the audit log");
            }
        }
    }

    fn write(&mut self, line: &[u8]) {
        if self.max_bytes > 0
            && self.size > 0
            && self.size + line.len() as u64 > self.max_bytes
            && let Err(err) = self.rotate()
        {
            tracing::warn!(path = %self.path.display(), %err, "cannot rotate the audit log");
        }
        match self.file.write_all(line) {
            Ok(()) => self.size += line.len() as u64,
            Err(err) => tracing::warn!(path = %self.path.display(), %err, "cannot write the audit log"),
        }
    }

    /// Rename the file `audit-<UTC time>.log` beside it, start a new one, drop old backups.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let stem = self.path.file_stem().and_then(|s| s.to_str()).unwrap_or("audit").to_string();
        let ext = self.path.extension().and_then(|s| s.to_str()).map(|e| format!(".{e}")).unwrap_or_default();
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let stamp = Utc::now().format("%Y-%m-%dT%H-%M-%S%.3f");
        let mut backup = dir.join(format!("{stem}-{stamp}{ext}"));
        let mut n = 1;
        while backup.exists() {
            backup = dir.join(format!("{stem}-{stamp}.{n}{ext}"));
            n += 1;
        }
        std::fs::rename(&self.path, &backup)?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        set_private(&self.path);
        self.file = std::io::BufWriter::new(file);
        self.size = 0;
        if self.max_backups > 0 {
            let prefix = format!("{stem}-");
            let mut backups: Vec<PathBuf> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix) && n.ends_with(&ext))
                })
                .collect();
            backups.sort();
            let excess = backups.len().saturating_sub(self.max_backups);
            for old in &backups[..excess] {
                std::fs::remove_file(old)?;
            }
        }
        Ok(())
    }
}

/// Audit logs name users and resources: readable by the owner only.
fn set_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: &str, path: &str) -> RequestInfo {
        RequestInfo::new(method, path, None).unwrap()
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-proxy"]
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps", "secrets", "pods/*"]}]
    namespaces: ["default"]
  - level: Request
    userGroups: ["dev"]
    verbs: ["create", "update"]
    resources: [{group: "apps", resources: ["deployments"], resourceNames: ["web"]}]
  - level: Metadata
    omitStages: ["ResponseStarted"]
"#;

    #[test]
    fn rules_are_tried_in_order() {
        let policy = Policy::parse(POLICY).unwrap();
        let jane = UserInfo::new("jane", &["dev", "system:authenticated"]);
        let level = |user: &UserInfo, method: &str, path: &str| policy.decide(user, &info(method, path)).level;
        assert_eq!(level(&UserInfo::new("system:kube-proxy", &[]), "GET", "/api/v1/pods"), Level::None);
        assert_eq!(level(&jane, "GET", "/healthz/etcd"), Level::None);
        assert_eq!(level(&jane, "GET", "/version"), Level::None);
        assert_eq!(level(&jane, "GET", "/versions"), Level::Metadata);
        assert_eq!(level(&jane, "GET", "/api/v1/namespaces/default/configmaps"), Level::RequestResponse);
        assert_eq!(level(&jane, "GET", "/api/v1/namespaces/default/pods/x/log"), Level::RequestResponse);
        assert_eq!(level(&jane, "GET", "/api/v1/namespaces/default/pods/x"), Level::Metadata, "pods/* is subresources");
        assert_eq!(level(&jane, "GET", "/api/v1/namespaces/other/configmaps"), Level::Metadata);
        assert_eq!(level(&jane, "GET", "/api/v1/namespaces/default/secrets"), Level::Metadata, "secrets stay Metadata");
        assert_eq!(level(&jane, "PUT", "/apis/apps/v1/namespaces/x/deployments/web"), Level::Request);
        assert_eq!(level(&jane, "PUT", "/apis/apps/v1/namespaces/x/deployments/db"), Level::Metadata);
        let bob = UserInfo::new("bob", &[]);
        assert_eq!(level(&bob, "PUT", "/apis/apps/v1/namespaces/x/deployments/web"), Level::Metadata);
        let decision = policy.decide(&jane, &info("GET", "/api/v1/nodes"));
        assert!(!decision.logs(Stage::RequestReceived) && !decision.logs(Stage::ResponseStarted));
        assert!(decision.logs(Stage::ResponseComplete));
        let default = Policy::default().decide(&bob, &info("GET", "/api"));
        assert_eq!(default.level, Level::Metadata);
        assert!(!default.logs(Stage::RequestReceived));
    }

    #[test]
    fn bad_policies_are_refused() {
        assert!(Policy::parse("apiVersion: v1\nkind: ConfigMap\n").is_err());
        assert!(Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n").is_err());
        let both = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [/x], namespaces: [a]}]\n";
        assert!(Policy::parse(both).unwrap_err().to_string().contains("both regular resources and non-resource URLs"));
    }

    #[test]
    fn events_carry_kube_apiservers_fields() {
        let info = info("GET", "/api/v1/namespaces/default/secrets");
        let mut record = Record::new("/api/v1/namespaces/default/secrets?limit=500", &http::HeaderMap::new(), None);
        let mut user = UserInfo::new("eks-user", &["system:authenticated"]);
        user.extra.insert("arn".into(), vec!["arn:aws:iam::1:user/eks-user".into()]);
        record.user = Some(user);
        record.decision = Policy::default().decide(record.user.as_ref().unwrap(), &info);
        record.authorization = Some((false, String::new()));
        record.response_status = json!({"metadata": {}, "status": "Failure", "code": 403});
        let event: Value = serde_json::from_slice(&record.event(&info, Stage::ResponseComplete)).unwrap();
        assert_eq!(event["level"], "Metadata");
        assert_eq!(event["user"]["extra"]["arn"][0], "arn:aws:iam::1:user/eks-user");
        assert_eq!(event["objectRef"], json!({"resource": "secrets", "namespace": "default", "apiVersion": "v1"}));
        assert_eq!(event["annotations"]["authorization.k8s.io/decision"], "forbid");
        assert_eq!(event["responseStatus"]["code"], 403);
        let keys: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "level",
                "auditID",
                "stage",
                "requestURI",
                "verb",
                "user",
                "sourceIPs",
                "objectRef",
                "responseStatus",
                "requestReceivedTimestamp",
                "stageTimestamp",
                "annotations"
            ]
        );
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_its_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut file = LogFile::open(path.clone(), 100, 2).unwrap();
        for i in 0..10 {
            file.write(format!("{{\"line\": {i:040}}}\n").as_bytes());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        file.file.flush().unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names.len(), 3, "the log and two backups: {names:?}");
        assert!(names.iter().filter(|n| n.starts_with("audit-")).count() == 2);
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.len() <= 100 && current.contains("0009"), "{current}");
    }
}
