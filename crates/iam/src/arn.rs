//! ARNs as IAM and STS form them: the ARNs of accounts, users, groups, roles, policies and
//! assumed-role sessions. Reading an ARN is `aws_arn::Arn`'s, shared with `eks-auth`.

/// The one partition Rampart serves.
pub const PARTITION: &str = "aws";

/// The account that owns AWS-managed policies (`arn:aws:iam::aws:policy/...`).
pub const AWS_MANAGED_ACCOUNT: &str = "aws";

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
    fn arns_are_formed_like_aws() {
        assert_eq!(user_arn("123456789012", "/dev/", "alice"), "arn:aws:iam::123456789012:user/dev/alice");
        assert_eq!(assumed_role_arn("1", "Admin", "s"), "arn:aws:sts::1:assumed-role/Admin/s");
        assert_eq!(policy_arn("aws", "/", "ReadOnlyAccess"), "arn:aws:iam::aws:policy/ReadOnlyAccess");
    }
}
