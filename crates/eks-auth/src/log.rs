//! The authenticator's log lines, as EKS ships them to CloudWatch (`authenticator` log stream):
//! aws-iam-authenticator's logrus text lines, `time=… level=… msg=… key=value…` with the fields
//! sorted. A refused token gives one `access denied` line naming the failed check's message; an
//! accepted one gives `STS response` then `access granted` (or `access denied` when unmapped).
//! Nothing here ever holds the token: messages name the check, never the URL or signature.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::arn::Identity;
use crate::error::Error;
use crate::identity::KubernetesUser;

/// A logrus level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
}

/// One log line: message and fields (kept sorted by key, as logrus prints them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub time: DateTime<Utc>,
    pub level: Level,
    pub msg: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

impl LogLine {
    fn new(time: DateTime<Utc>, level: Level, msg: &'static str, client: &str) -> Self {
        // The authenticator serves `POST /authenticate`; every line carries the request's fields.
        let fields = vec![("client", client.to_string()), ("method", "POST".into()), ("path", "/authenticate".into())];
        LogLine { time, level, msg, fields }
    }

    fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.fields.retain(|(k, _)| *k != key);
        self.fields.push((key, value.into()));
        self.fields.sort_by_key(|(k, _)| *k);
        self
    }

    /// A field's value.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

/// logrus' `TextFormatter`: a value is quoted (Go `%q`) unless it is made only of letters,
/// digits and `-._/@^+`.
fn write_value(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let bare = value.chars().all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if bare { f.write_str(value) } else { write!(f, "{value:?}") }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("time=")?;
        write_value(f, &self.time.to_rfc3339_opts(SecondsFormat::Secs, true))?;
        f.write_str(match self.level {
            Level::Info => " level=info msg=",
            Level::Warning => " level=warning msg=",
        })?;
        write_value(f, self.msg)?;
        for (key, value) in &self.fields {
            write!(f, " {key}=")?;
            write_value(f, value)?;
        }
        Ok(())
    }
}

/// The line for a token refused before any identity was known.
pub fn token_refused(time: DateTime<Utc>, client: &str, error: &Error) -> LogLine {
    LogLine::new(time, Level::Warning, "access denied", client).with("error", error.to_string())
}

/// The lines for a verified token: `STS response`, then `access granted` with the Kubernetes
/// user, or `access denied` with the mapping error.
pub fn token_verified(
    time: DateTime<Utc>,
    client: &str,
    identity: &Identity,
    mapped: &Result<KubernetesUser, Error>,
) -> [LogLine; 2] {
    let sts = LogLine::new(time, Level::Info, "STS response", client)
        .with("accesskeyid", identity.access_key_id.clone())
        .with("accountid", identity.account_id.clone())
        .with("arn", identity.arn.clone())
        .with("session", identity.session_name.clone())
        .with("userid", identity.user_id.clone());
    let outcome = match mapped {
        Ok(kubernetes) => LogLine::new(time, Level::Info, "access granted", client)
            .with("arn", identity.canonical_arn.clone())
            .with("groups", format!("[{}]", kubernetes.user.groups.join(" ")))
            .with("uid", kubernetes.user.uid.clone())
            .with("username", kubernetes.user.name.clone()),
        Err(error) => LogLine::new(time, Level::Warning, "access denied", client)
            .with("arn", identity.canonical_arn.clone())
            .with("error", error.to_string()),
    };
    [sts, outcome]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::arn::Caller;
    use crate::error::TokenCheck;
    use crate::identity::MappedBy;

    fn time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 16, 25).unwrap()
    }

    #[test]
    fn refused_tokens_log_one_line_in_logrus_format() {
        let error = Error::format(
            TokenCheck::Expiry,
            "X-Amz-Date parameter is expired (15 minute expiration) 2026-11-28 09:00:00 +0000 UTC",
        );
        assert_eq!(
            token_refused(time(), "127.0.0.1:39020", &error).to_string(),
            "time=\"2026-11-28T09:16:25Z\" level=warning msg=\"access denied\" client=\"127.0.0.1:39020\" \
             error=\"input token was not properly formatted: X-Amz-Date parameter is expired (15 minute expiration) \
             2026-11-28 09:00:00 +0000 UTC\" method=POST path=/authenticate"
        );
    }

    #[test]
    fn granted_tokens_log_the_sts_response_and_the_user() {
        let caller = Caller {
            arn: "arn:aws:sts::123456789012:assumed-role/EKSAdmins/alice".into(),
            account: "123456789012".into(),
            user_id: "AROAEXAMPLE:alice".into(),
        };
        let identity = Identity::from_caller(&caller, "ASIAEXAMPLE", "sts.amazonaws.com").unwrap();
        let user = rbac::UserInfo {
            name: "admin:alice".into(),
            uid: "aws-iam-authenticator:123456789012:AROAEXAMPLE".into(),
            groups: vec!["system:masters".into(), "devs".into()],
            ..Default::default()
        };
        let [sts, granted] = token_verified(
            time(),
            "10.0.0.1:5",
            &identity,
            &Ok(KubernetesUser { user, mapped_by: MappedBy::AwsAuthRole(1) }),
        );
        assert_eq!(
            sts.to_string(),
            "time=\"2026-11-28T09:16:25Z\" level=info msg=\"STS response\" accesskeyid=ASIAEXAMPLE \
             accountid=123456789012 arn=\"arn:aws:sts::123456789012:assumed-role/EKSAdmins/alice\" \
             client=\"10.0.0.1:5\" method=POST path=/authenticate session=alice userid=AROAEXAMPLE"
        );
        assert_eq!(
            granted.to_string(),
            "time=\"2026-11-28T09:16:25Z\" level=info msg=\"access granted\" \
             arn=\"arn:aws:iam::123456789012:role/EKSAdmins\" client=\"10.0.0.1:5\" groups=\"[system:masters devs]\" \
             method=POST path=/authenticate uid=\"aws-iam-authenticator:123456789012:AROAEXAMPLE\" username=\"admin:alice\""
        );
        let [_, denied] = token_verified(time(), "c", &identity, &Err(Error::NotMapped));
        assert_eq!(denied.field("error"), Some("identity is not mapped"));
        assert_eq!(denied.level, Level::Warning);
    }
}
