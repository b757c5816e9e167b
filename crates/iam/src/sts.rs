//! STS's side: temporary credentials (sessions) and who a request's caller is — the account
//! root, an IAM user (possibly through `GetSessionToken` credentials) or an assumed-role session —
//! with the identity `GetCallerIdentity` reports and the ARNs policies see.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::Tag;
use crate::arn;
use crate::document::IdentityDocument;
use crate::policy::PrincipalRef;

/// What a set of temporary credentials stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "Type")]
pub enum SessionKind {
    /// `AssumeRole`.
    AssumedRole {
        #[serde(rename = "RoleName")]
        role_name: String,
        #[serde(rename = "RoleId")]
        role_id: String,
        /// The role's ARN, with its path.
        #[serde(rename = "RoleArn")]
        role_arn: String,
        #[serde(rename = "SessionName")]
        session_name: String,
        /// Assumed with another role session's credentials (role chaining: at most one hour).
        #[serde(rename = "Chained")]
        chained: bool,
    },
    /// `GetSessionToken` by an IAM user.
    User {
        #[serde(rename = "UserName")]
        user_name: String,
    },
    /// `GetSessionToken` by the account root.
    Root,
}

/// Temporary credentials (`ASIA…`), kept in the account that issued them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
    pub create_date: DateTime<Utc>,
    pub kind: SessionKind,
    /// The session policy passed to `AssumeRole`, which limits the role's permissions.
    #[serde(default)]
    pub policy: Option<IdentityDocument>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// What `GetCallerIdentity` returns: enough to identify the caller anywhere (the EKS
/// authenticator derives its Kubernetes identity from it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallerIdentity {
    pub account: String,
    /// `arn:aws:iam::A:user/path/name`, `arn:aws:sts::A:assumed-role/Role/Session` or
    /// `arn:aws:iam::A:root`.
    pub arn: String,
    /// `AIDA…` for a user, `AROA…:<session>` for an assumed role, the account id for root.
    pub user_id: String,
}

/// The principal a request is made by, resolved from its access key.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    Root {
        account: String,
        /// Through `GetSessionToken` credentials.
        via_session_token: bool,
    },
    User {
        account: String,
        user_name: String,
        user_id: String,
        arn: String,
        /// Through `GetSessionToken` credentials.
        via_session_token: bool,
    },
    AssumedRole {
        account: String,
        role_name: String,
        role_id: String,
        role_arn: String,
        session_name: String,
        /// The session's ARN (`arn:aws:sts::A:assumed-role/Role/Session`).
        arn: String,
        chained: bool,
        policy: Option<IdentityDocument>,
        tags: Vec<Tag>,
        issued: DateTime<Utc>,
    },
}

impl Caller {
    pub fn account(&self) -> &str {
        match self {
            Caller::Root { account, .. } | Caller::User { account, .. } | Caller::AssumedRole { account, .. } => {
                account
            }
        }
    }

    /// The caller's own ARN, as denial messages and `GetCallerIdentity` show it.
    pub fn arn(&self) -> String {
        match self {
            Caller::Root { account, .. } => arn::root_arn(account),
            Caller::User { arn, .. } | Caller::AssumedRole { arn, .. } => arn.clone(),
        }
    }

    /// The ARN `aws:PrincipalArn` holds: for a role session, the role's ARN.
    pub fn principal_arn(&self) -> String {
        match self {
            Caller::AssumedRole { role_arn, .. } => role_arn.clone(),
            _ => self.arn(),
        }
    }

    pub fn identity(&self) -> CallerIdentity {
        let user_id = match self {
            Caller::Root { account, .. } => account.clone(),
            Caller::User { user_id, .. } => user_id.clone(),
            Caller::AssumedRole { role_id, session_name, .. } => format!("{role_id}:{session_name}"),
        };
        CallerIdentity { account: self.account().to_string(), arn: self.arn(), user_id }
    }

    /// Whether the caller uses temporary credentials.
    pub fn is_temporary(&self) -> bool {
        match self {
            Caller::Root { via_session_token, .. } | Caller::User { via_session_token, .. } => *via_session_token,
            Caller::AssumedRole { .. } => true,
        }
    }

    /// Whether the caller uses `GetSessionToken` credentials (which IAM refuses without MFA).
    pub fn via_session_token(&self) -> bool {
        matches!(self, Caller::Root { via_session_token: true, .. } | Caller::User { via_session_token: true, .. })
    }

    /// Run `f` with the caller as a trust policy's `Principal` sees it.
    pub fn with_principal_ref<T>(&self, f: impl FnOnce(&PrincipalRef<'_>) -> T) -> T {
        let arn = self.arn();
        let role_arn = match self {
            Caller::AssumedRole { role_arn, .. } => Some(role_arn.as_str()),
            _ => None,
        };
        f(&PrincipalRef { arn: &arn, account: self.account(), role_arn })
    }
}

impl Session {
    /// The caller these credentials stand for, given the user they were issued to (for
    /// `GetSessionToken` sessions).
    pub fn caller(&self, account: &str, user: Option<(&str, &str)>) -> Option<Caller> {
        Some(match &self.kind {
            SessionKind::AssumedRole { role_name, role_id, role_arn, session_name, chained } => Caller::AssumedRole {
                account: account.to_string(),
                role_name: role_name.clone(),
                role_id: role_id.clone(),
                role_arn: role_arn.clone(),
                session_name: session_name.clone(),
                arn: arn::assumed_role_arn(account, role_name, session_name),
                chained: *chained,
                policy: self.policy.clone(),
                tags: self.tags.clone(),
                issued: self.create_date,
            },
            SessionKind::User { user_name } => {
                let (user_id, arn) = user?;
                Caller::User {
                    account: account.to_string(),
                    user_name: user_name.clone(),
                    user_id: user_id.to_string(),
                    arn: arn.to_string(),
                    via_session_token: true,
                }
            }
            SessionKind::Root => Caller::Root { account: account.to_string(), via_session_token: true },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_identities_are_shaped_like_sts() {
        let role = Caller::AssumedRole {
            account: "111122223333".into(),
            role_name: "Admin".into(),
            role_id: "AROAEXAMPLEROLEID0001".into(),
            role_arn: "arn:aws:iam::111122223333:role/ops/Admin".into(),
            session_name: "alice".into(),
            arn: arn::assumed_role_arn("111122223333", "Admin", "alice"),
            chained: false,
            policy: None,
            tags: vec![],
            issued: Utc::now(),
        };
        assert_eq!(
            role.identity(),
            CallerIdentity {
                account: "111122223333".into(),
                arn: "arn:aws:sts::111122223333:assumed-role/Admin/alice".into(),
                user_id: "AROAEXAMPLEROLEID0001:alice".into(),
            }
        );
        assert_eq!(role.principal_arn(), "arn:aws:iam::111122223333:role/ops/Admin");
        let root = Caller::Root { account: "111122223333".into(), via_session_token: false };
        assert_eq!(root.identity().arn, "arn:aws:iam::111122223333:root");
        assert_eq!(root.identity().user_id, "111122223333");
        assert!(!root.is_temporary());
    }
}
