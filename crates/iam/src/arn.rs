//! ARNs as IAM and STS form them: parsing, and the ARNs of accounts, users, groups, roles,
//! policies and assumed-role sessions.

/// The one partition Rampart serves.
pub const PARTITION: &str = "aws";

/// The account that owns AWS-managed policies (`arn:aws:iam::aws:policy/...`).
pub const AWS_MANAGED_ACCOUNT: &str = "aws";

/// An ARN split into its six parts: `arn:partition:service:region:account:resource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text`; `None` unless it has the `arn:` prefix and six colon-separated parts
    /// (the resource may itself contain colons).
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        })
    }
}

/// `arn:aws:iam::<account>:root`.
pub fn root_arn(account: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:root")
}

/// `arn:aws:iam::<account>:user<path><name>`.
pub fn user_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:user{path}{name}")
}

/// `arn:aws:iam::<account>:group<path><name>`.
pub fn group_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:group{path}{name}")
}

/// `arn:aws:iam::<account>:role<path><name>`.
pub fn role_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:role{path}{name}")
}

/// `arn:aws:iam::<account>:policy<path><name>` (`account` is `aws` for AWS-managed policies).
pub fn policy_arn(account: &str, path: &str, name: &str) -> String {
    format!("arn:{PARTITION}:iam::{account}:policy{path}{name}")
}

/// `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`: STS never includes the
/// role's path.
pub fn assumed_role_arn(account: &str, role_name: &str, session_name: &str) -> String {
    format!("arn:{PARTITION}:sts::{account}:assumed-role/{role_name}/{session_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_formed_and_split_like_aws() {
        assert_eq!(user_arn("123456789012", "/dev/", "alice"), "arn:aws:iam::123456789012:user/dev/alice");
        assert_eq!(assumed_role_arn("1", "Admin", "s"), "arn:aws:sts::1:assumed-role/Admin/s");
        assert_eq!(policy_arn("aws", "/", "ReadOnlyAccess"), "arn:aws:iam::aws:policy/ReadOnlyAccess");
        let arn = Arn::parse("arn:aws:eks:us-east-1:1:access-entry/demo/role/x:y").unwrap();
        assert_eq!(
            (arn.service, arn.region, arn.account, arn.resource),
            ("eks", "us-east-1", "1", "access-entry/demo/role/x:y")
        );
        assert_eq!(Arn::parse("arn:aws:iam::1"), None);
        assert_eq!(Arn::parse("urn:aws:iam::1:root"), None);
    }
}
