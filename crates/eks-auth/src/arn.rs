//! The caller's identity as aws-iam-authenticator derives it from STS's `GetCallerIdentity`
//! answer: ARN canonicalization (assumed-role ARNs become the role's IAM ARN, the session name
//! kept apart), the principal ID / session name split, and path stripping for access entries.
//! The ARN itself is split by `aws_arn`, the parser `iam` shares; the rules here are the
//! authenticator's, on top of it.

use aws_arn::Arn;

use crate::error::{Error, TokenCheck};

/// The partitions aws-iam-authenticator recognizes.
const PARTITIONS: &[&str] =
    &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];

/// What kind of IAM principal called STS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    /// `arn:aws:iam::A:user/path/name`.
    User,
    /// `arn:aws:iam::A:root`.
    Root,
    /// `arn:aws:iam::A:role/path/name` (STS never reports this; it appears in configuration).
    Role,
    /// `arn:aws:sts::A:assumed-role/name/session`.
    AssumedRole,
    /// `arn:aws:sts::A:federated-user/name`.
    FederatedUser,
}

/// Canonicalizes an ARN as aws-iam-authenticator does: `iam` users, roles and root stay as they
/// are, STS federated users too, and `arn:P:sts::A:assumed-role/Name/Session` becomes
/// `arn:P:iam::A:role/Name` (STS never reports a role's path, so none is restored).
pub fn canonicalize(arn: &str) -> Result<(PrincipalType, String), String> {
    let parsed = Arn::parse(arn).map_err(|e| format!("arn '{arn}' is invalid: '{e}'"))?;
    if !PARTITIONS.contains(&parsed.partition) {
        return Err(format!("arn '{arn}' does not have a recognized partition"));
    }
    let (kind, rest) = parsed.resource.split_once('/').unwrap_or((parsed.resource, ""));
    match (parsed.service, kind) {
        ("sts", "federated-user") => Ok((PrincipalType::FederatedUser, arn.to_string())),
        ("sts", "assumed-role") => {
            // `assumed-role/<role>/<session>`: the role is everything between the first and the
            // last `/`.
            let Some((role, _session)) = rest.rsplit_once('/') else {
                return Err(format!("assumed-role arn '{arn}' does not have a role"));
            };
            let mut canonical =
                String::with_capacity(16 + parsed.partition.len() + parsed.account_id.len() + role.len());
            for piece in ["arn:", parsed.partition, ":iam::", parsed.account_id, ":role/", role] {
                canonical.push_str(piece);
            }
            Ok((PrincipalType::AssumedRole, canonical))
        }
        ("sts", _) => Err(format!("unrecognized resource {} for service sts", parsed.resource)),
        ("iam", "role") => Ok((PrincipalType::Role, arn.to_string())),
        ("iam", "user") => Ok((PrincipalType::User, arn.to_string())),
        ("iam", "root") => Ok((PrincipalType::Root, arn.to_string())),
        ("iam", _) => Err(format!("unrecognized resource {} for service iam", parsed.resource)),
        (service, _) => Err(format!("service {service} in arn {arn} is not a valid service for identities")),
    }
}

/// Removes the path from an IAM role ARN (`role/a/b/Name` → `role/Name`), as aws-iam-authenticator's
/// `StripPath` does when EKS compares an access entry's principal with the caller (a role
/// session's canonical ARN never has a path; a user's keeps it). Other ARNs are returned as is.
pub fn strip_path(arn: &str) -> String {
    let Ok(parsed) = Arn::parse(arn) else { return arn.to_string() };
    match parsed.resource.strip_prefix("role/") {
        Some(rest) if rest.contains('/') => {
            let name = rest.rsplit('/').next().unwrap_or(rest);
            format!("arn:{}:iam::{}:role/{name}", parsed.partition, parsed.account_id)
        }
        _ => arn.to_string(),
    }
}

/// What STS's `GetCallerIdentity` answers: the caller's ARN, account and user ID (`AIDA…` for a
/// user, `AROA…:session` for an assumed role, the account ID for root, `account:name` for a
/// federated user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub arn: String,
    pub account: String,
    pub user_id: String,
}

/// The verified caller of a token, as aws-iam-authenticator's `token.Identity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The ARN STS reported (an `assumed-role` ARN for role sessions).
    pub arn: String,
    /// The ARN mappings match: a role session's role ARN, else [`Identity::arn`].
    pub canonical_arn: String,
    pub principal_type: PrincipalType,
    pub account_id: String,
    /// The principal's unique ID (`AIDA…`, `AROA…`), without the session name.
    pub user_id: String,
    /// The role session name (empty for users, root and federated users).
    pub session_name: String,
    /// The access key that signed the token.
    pub access_key_id: String,
    /// The host the token was presigned for.
    pub sts_endpoint: String,
}

impl Identity {
    /// Derives the identity from STS's answer, exactly as aws-iam-authenticator does. Errors are
    /// the authenticator's (reported as STS errors).
    pub fn from_caller(caller: &Caller, access_key_id: &str, sts_endpoint: &str) -> Result<Self, Error> {
        let (principal_type, canonical_arn) =
            canonicalize(&caller.arn).map_err(|message| Error::sts(TokenCheck::Identity, message))?;
        let (user_id, session_name) = match principal_type {
            PrincipalType::User | PrincipalType::Root | PrincipalType::FederatedUser => {
                (caller.user_id.clone(), String::new())
            }
            PrincipalType::AssumedRole | PrincipalType::Role => {
                // Exactly two `:`-separated parts.
                match caller.user_id.split_once(':') {
                    Some((user_id, session_name)) if !session_name.contains(':') => {
                        (user_id.to_string(), session_name.to_string())
                    }
                    _ => {
                        return Err(Error::sts(TokenCheck::Identity, format!("malformed UserID {:?}", caller.user_id)));
                    }
                }
            }
        };
        Ok(Identity {
            arn: caller.arn.clone(),
            canonical_arn,
            principal_type,
            account_id: caller.account.clone(),
            user_id,
            session_name,
            access_key_id: access_key_id.to_string(),
            sts_endpoint: sts_endpoint.to_string(),
        })
    }

    /// The identity an ARN alone implies, for offline analysis (`rampart auth whoami --as-arn`):
    /// the account comes from the ARN, an assumed-role ARN carries its session name, and the
    /// principal's unique ID is unknown (so access entries match on the ARN alone).
    pub fn for_arn(arn: &str, access_key_id: &str) -> Result<Self, Error> {
        let (principal_type, canonical_arn) =
            canonicalize(arn).map_err(|message| Error::sts(TokenCheck::Identity, message))?;
        let parsed = Arn::parse(arn).map_err(|e| Error::sts(TokenCheck::Identity, e.to_string()))?;
        let session_name = match principal_type {
            PrincipalType::AssumedRole => parsed.resource.rsplit('/').next().unwrap_or_default().to_string(),
            _ => String::new(),
        };
        let user_id = match principal_type {
            PrincipalType::Root => parsed.account_id.to_string(),
            _ => String::new(),
        };
        Ok(Identity {
            arn: arn.to_string(),
            canonical_arn,
            principal_type,
            account_id: parsed.account_id.to_string(),
            user_id,
            session_name,
            access_key_id: access_key_id.to_string(),
            sts_endpoint: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalization_matches_the_authenticator() {
        let cases = [
            (
                "arn:aws:iam::123456789012:user/dev/alice",
                PrincipalType::User,
                "arn:aws:iam::123456789012:user/dev/alice",
            ),
            ("arn:aws:iam::123456789012:root", PrincipalType::Root, "arn:aws:iam::123456789012:root"),
            ("arn:aws:iam::123456789012:role/R", PrincipalType::Role, "arn:aws:iam::123456789012:role/R"),
            (
                "arn:aws:sts::123456789012:assumed-role/EKSAdmins/alice@example.com",
                PrincipalType::AssumedRole,
                "arn:aws:iam::123456789012:role/EKSAdmins",
            ),
            (
                "arn:aws-cn:sts::123456789012:assumed-role/a/b/sess",
                PrincipalType::AssumedRole,
                "arn:aws-cn:iam::123456789012:role/a/b",
            ),
            (
                "arn:aws:sts::123456789012:federated-user/Bob",
                PrincipalType::FederatedUser,
                "arn:aws:sts::123456789012:federated-user/Bob",
            ),
        ];
        for (arn, kind, canonical) in cases {
            assert_eq!(canonicalize(arn), Ok((kind, canonical.to_string())), "{arn}");
        }
    }

    #[test]
    fn canonicalization_errors_are_the_authenticators() {
        let cases = [
            ("nope", "arn 'nope' is invalid: 'arn: invalid prefix'"),
            ("arn:aws:iam::1", "arn 'arn:aws:iam::1' is invalid: 'arn: not enough sections'"),
            ("arn:moon:iam::1:root", "arn 'arn:moon:iam::1:root' does not have a recognized partition"),
            ("arn:aws:sts::1:assumed-role/R", "assumed-role arn 'arn:aws:sts::1:assumed-role/R' does not have a role"),
            ("arn:aws:sts::1:thing/x", "unrecognized resource thing/x for service sts"),
            ("arn:aws:iam::1:group/g", "unrecognized resource group/g for service iam"),
            ("arn:aws:s3:::bucket", "service s3 in arn arn:aws:s3:::bucket is not a valid service for identities"),
        ];
        for (arn, message) in cases {
            assert_eq!(canonicalize(arn), Err(message.to_string()), "{arn}");
        }
    }

    #[test]
    fn identity_splits_user_id_and_session() {
        let caller = Caller {
            arn: "arn:aws:sts::123456789012:assumed-role/EKSAdmins/alice".into(),
            account: "123456789012".into(),
            user_id: "AROAEXAMPLEROLEID0001:alice".into(),
        };
        let identity = Identity::from_caller(&caller, "ASIAEXAMPLE", "sts.us-east-1.amazonaws.com").unwrap();
        assert_eq!(identity.user_id, "AROAEXAMPLEROLEID0001");
        assert_eq!(identity.session_name, "alice");
        assert_eq!(identity.canonical_arn, "arn:aws:iam::123456789012:role/EKSAdmins");

        let user = Caller { arn: "arn:aws:iam::1:user/bob".into(), account: "1".into(), user_id: "AIDABOB".into() };
        let identity = Identity::from_caller(&user, "AKIA", "h").unwrap();
        assert_eq!((identity.user_id.as_str(), identity.session_name.as_str()), ("AIDABOB", ""));

        let malformed = Caller { user_id: "AROA".into(), ..caller };
        assert_eq!(
            Identity::from_caller(&malformed, "ASIA", "h").unwrap_err().to_string(),
            "sts getCallerIdentity failed: malformed UserID \"AROA\""
        );
    }

    #[test]
    fn offline_identity_from_an_arn() {
        let identity = Identity::for_arn("arn:aws:sts::111122223333:assumed-role/Dev/carol", "").unwrap();
        assert_eq!(identity.canonical_arn, "arn:aws:iam::111122223333:role/Dev");
        assert_eq!(identity.session_name, "carol");
        assert_eq!(identity.account_id, "111122223333");
        assert!(Identity::for_arn("arn:aws:s3:::b", "").is_err());
    }

    #[test]
    fn paths_are_stripped_from_roles_only() {
        assert_eq!(strip_path("arn:aws:iam::1:role/team/dev/eks-admin"), "arn:aws:iam::1:role/eks-admin");
        assert_eq!(strip_path("arn:aws:iam::1:user/dev/alice"), "arn:aws:iam::1:user/dev/alice");
        assert_eq!(strip_path("arn:aws:iam::1:role/eks-admin"), "arn:aws:iam::1:role/eks-admin");
        assert_eq!(strip_path("arn:aws:sts::1:assumed-role/R/s"), "arn:aws:sts::1:assumed-role/R/s");
        assert_eq!(strip_path("garbage"), "garbage");
    }
}
