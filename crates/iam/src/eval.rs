//! IAM's evaluation logic for one request: an explicit `Deny` anywhere wins; otherwise the
//! request needs an `Allow` from the caller's identity-based policies (and from its session
//! policy, if it has one), and — when the resource has a resource-based policy (a role's trust
//! policy) — from that policy too, unless that policy alone suffices because it names the caller
//! directly in the caller's own account.
//!
//! A denial says which of these failed, so the message can carry AWS's exact wording.

use crate::condition::ContextKeys;
use crate::policy::{Effect, PolicyDocument, PrincipalMatch, PrincipalRef};

/// The action, resource and context of one request.
#[derive(Clone, Copy, Debug)]
pub struct AuthzRequest<'a> {
    /// `service:Action` in AWS's spelling (`iam:CreateUser`); matched case-insensitively.
    pub action: &'a str,
    /// The resource's ARN (or `*`).
    pub resource: &'a str,
    pub context: &'a ContextKeys,
}

/// A resource-based policy and the account that owns the resource.
#[derive(Clone, Copy, Debug)]
pub struct ResourcePolicy<'a> {
    pub document: &'a PolicyDocument,
    pub account: &'a str,
}

/// Every policy that applies to a request.
#[derive(Clone, Debug, Default)]
pub struct Policies<'a> {
    /// The caller's identity-based policies; `None` for an account's root user, whom IAM
    /// policies do not restrict in its own account.
    pub identity: Option<Vec<&'a PolicyDocument>>,
    /// The session policy passed when the caller's role session was created.
    pub session: Option<&'a PolicyDocument>,
    pub resource: Option<ResourcePolicy<'a>>,
}

/// Why a request was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No identity-based policy allows the action.
    NoIdentityAllow,
    /// An identity-based policy denies it.
    IdentityDeny,
    /// The session policy does not allow it.
    NoSessionAllow,
    /// The session policy denies it.
    SessionDeny,
    /// The resource-based policy denies it.
    ResourceDeny,
    /// The resource-based policy (trust policy) does not allow the caller.
    NoResourceAllow,
}

impl Denial {
    /// AWS's `AccessDenied` message for this denial.
    pub fn message(self, caller_arn: &str, action: &str, resource: &str) -> String {
        let head = format!("User: {caller_arn} is not authorized to perform: {action} on resource: {resource}");
        match self {
            Denial::NoIdentityAllow => format!("{head} because no identity-based policy allows the {action} action"),
            Denial::IdentityDeny => format!("{head} with an explicit deny in an identity-based policy"),
            Denial::NoSessionAllow => format!("{head} because no session policy allows the {action} action"),
            Denial::SessionDeny => format!("{head} with an explicit deny in a session policy"),
            Denial::ResourceDeny => format!("{head} with an explicit deny in a resource-based policy"),
            Denial::NoResourceAllow => head,
        }
    }
}

/// What a set of statements says about a request.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    NotApplicable,
    Allow,
    Deny,
}

fn identity_verdict(document: &PolicyDocument, request: &AuthzRequest<'_>) -> Verdict {
    let mut verdict = Verdict::NotApplicable;
    for statement in &document.statements {
        if statement.applies(request.action, request.resource, document.version, request.context) {
            match statement.effect {
                Effect::Deny => return Verdict::Deny,
                Effect::Allow => verdict = Verdict::Allow,
            }
        }
    }
    verdict
}

/// Decides `request` for `caller` under `policies`.
pub fn authorize(caller: &PrincipalRef<'_>, policies: &Policies<'_>, request: &AuthzRequest<'_>) -> Result<(), Denial> {
    let mut identity_allows = policies.identity.is_none();
    for document in policies.identity.iter().flatten() {
        match identity_verdict(document, request) {
            Verdict::Deny => return Err(Denial::IdentityDeny),
            Verdict::Allow => identity_allows = true,
            Verdict::NotApplicable => {}
        }
    }
    let session = policies.session.map(|document| identity_verdict(document, request));
    if session == Some(Verdict::Deny) {
        return Err(Denial::SessionDeny);
    }
    let mut resource_allows = PrincipalMatch::No;
    if let Some(resource) = &policies.resource {
        for statement in &resource.document.statements {
            let matched = statement.principal_match(caller);
            if matched == PrincipalMatch::No
                || !statement.applies(request.action, request.resource, resource.document.version, request.context)
            {
                continue;
            }
            match statement.effect {
                Effect::Deny => return Err(Denial::ResourceDeny),
                Effect::Allow if matched == PrincipalMatch::Direct => resource_allows = PrincipalMatch::Direct,
                Effect::Allow if resource_allows == PrincipalMatch::No => resource_allows = PrincipalMatch::Account,
                Effect::Allow => {}
            }
        }
    }
    if session == Some(Verdict::NotApplicable) {
        return Err(Denial::NoSessionAllow);
    }
    if let Some(resource) = &policies.resource {
        match resource_allows {
            PrincipalMatch::No => return Err(Denial::NoResourceAllow),
            PrincipalMatch::Direct if resource.account == caller.account => return Ok(()),
            _ => {}
        }
    }
    if identity_allows { Ok(()) } else { Err(Denial::NoIdentityAllow) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyKind;

    fn doc(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text, PolicyKind::Identity).unwrap()
    }

    fn trust(text: &str) -> PolicyDocument {
        PolicyDocument::parse(text, PolicyKind::Trust).unwrap()
    }

    const ALICE: PrincipalRef<'static> =
        PrincipalRef { arn: "arn:aws:iam::111111111111:user/alice", account: "111111111111", role_arn: None };

    fn decide(policies: &Policies<'_>, action: &str, resource: &str) -> Result<(), Denial> {
        let mut context = ContextKeys::new();
        context.set("aws:username", "alice");
        authorize(&ALICE, policies, &AuthzRequest { action, resource, context: &context })
    }

    #[test]
    fn allow_deny_and_not_action() {
        let admin = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
        let deny_delete =
            doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:Delete*","Resource":"*"}]}"#);
        let not_iam =
            doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}"#);
        let both = Policies { identity: Some(vec![&admin, &deny_delete]), ..Policies::default() };
        assert_eq!(decide(&both, "iam:CreateUser", "arn:aws:iam::111111111111:user/bob"), Ok(()));
        assert_eq!(decide(&both, "iam:DeleteUser", "arn:aws:iam::111111111111:user/bob"), Err(Denial::IdentityDeny));
        let none = Policies { identity: Some(vec![]), ..Policies::default() };
        assert_eq!(decide(&none, "iam:ListUsers", "*"), Err(Denial::NoIdentityAllow));
        let root = Policies::default();
        assert_eq!(decide(&root, "iam:ListUsers", "*"), Ok(()));
        let power = Policies { identity: Some(vec![&not_iam]), ..Policies::default() };
        assert_eq!(decide(&power, "eks:ListClusters", "*"), Ok(()));
        assert_eq!(decide(&power, "iam:ListUsers", "*"), Err(Denial::NoIdentityAllow));
    }

    #[test]
    fn resources_and_policy_variables() {
        let own_keys = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*AccessKey*"],"Resource":"arn:aws:iam::*:user/${aws:username}"}]}"#,
        );
        let policies = Policies { identity: Some(vec![&own_keys]), ..Policies::default() };
        assert_eq!(decide(&policies, "iam:CreateAccessKey", "arn:aws:iam::111111111111:user/alice"), Ok(()));
        assert_eq!(
            decide(&policies, "iam:CreateAccessKey", "arn:aws:iam::111111111111:user/bob"),
            Err(Denial::NoIdentityAllow)
        );
    }

    #[test]
    fn session_policies_intersect() {
        let admin = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#);
        let read =
            doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:List*","Resource":"*"}]}"#);
        let policies = Policies { identity: Some(vec![&admin]), session: Some(&read), resource: None };
        assert_eq!(decide(&policies, "iam:ListRoles", "*"), Ok(()));
        assert_eq!(decide(&policies, "iam:CreateRole", "*"), Err(Denial::NoSessionAllow));
    }

    #[test]
    fn trust_policies_combine_with_identity_policies_as_aws_does() {
        let role = "arn:aws:iam::222222222222:role/Cross";
        let assume = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        );
        let by_account = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#,
        );
        let by_user = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/alice"},"Action":"sts:AssumeRole"}]}"#,
        );
        let other = trust(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"333333333333"},"Action":"sts:AssumeRole"}]}"#,
        );
        let cross = |trust: &PolicyDocument, identity: Vec<&PolicyDocument>, account: &str| {
            let policies = Policies {
                identity: Some(identity),
                session: None,
                resource: Some(ResourcePolicy { document: trust, account }),
            };
            decide(&policies, "sts:AssumeRole", role).map(|_| ())
        };
        // Cross-account: both sides must allow.
        assert_eq!(cross(&by_account, vec![&assume], "222222222222"), Ok(()));
        assert_eq!(cross(&by_account, vec![], "222222222222"), Err(Denial::NoIdentityAllow));
        assert_eq!(cross(&by_user, vec![], "222222222222"), Err(Denial::NoIdentityAllow));
        assert_eq!(cross(&other, vec![&assume], "222222222222"), Err(Denial::NoResourceAllow));
        // Same account: a trust policy naming the user is enough; naming the account is not.
        assert_eq!(cross(&by_user, vec![], "111111111111"), Ok(()));
        assert_eq!(cross(&by_account, vec![], "111111111111"), Err(Denial::NoIdentityAllow));
        assert_eq!(
            Denial::NoResourceAllow.message(ALICE.arn, "sts:AssumeRole", role),
            "User: arn:aws:iam::111111111111:user/alice is not authorized to perform: sts:AssumeRole on resource: \
             arn:aws:iam::222222222222:role/Cross"
        );
    }
}
