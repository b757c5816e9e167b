//! Every account's IAM state together, with what spans accounts: the index from access key id
//! to account, resolving a request's caller from its key, the request context policies see,
//! authorization of a call, and STS's `AssumeRole` (same- and cross-account) and
//! `GetSessionToken`.

use std::collections::{BTreeMap, HashMap};

use aws_arn::Arn;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use crate::account::{AccessKeyStatus, Account, Tag};
use crate::condition::ContextKeys;
use crate::error::{IamError, Result};
use crate::eval::{AuthzRequest, Denial, Policies, ResourcePolicy, authorize};
use crate::ids::{self, IdKind};
use crate::policy::{PolicyDocument, is_account_id};
use crate::sts::{Caller, CallerIdentity, Session, SessionKind};

/// How long expired sessions are kept (so their use answers `ExpiredToken`, not an unknown key).
const EXPIRED_SESSION_RETENTION: TimeDelta = TimeDelta::hours(12);

/// What the request itself contributes to the context: time, network, region.
#[derive(Clone, Debug)]
pub struct RequestEnv {
    pub now: DateTime<Utc>,
    pub source_ip: Option<String>,
    pub region: String,
    pub secure_transport: bool,
}

/// What the rest of Rampart needs to know about an access key to verify a signature made with
/// it (the EKS token verifier among them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `false` for an inactive key (a session's key is always active until it expires).
    pub active: bool,
    /// The session token temporary credentials must be presented with.
    pub session_token: Option<String>,
    /// When temporary credentials expire.
    pub expiration: Option<DateTime<Utc>>,
    /// Who the key stands for, as `GetCallerIdentity` would report it.
    pub identity: CallerIdentity,
}

/// The IAM state of every account.
#[derive(Clone, Debug, Default)]
pub struct IamState {
    accounts: BTreeMap<String, Account>,
    /// Access key id (long-term and session) → account id.
    keys: HashMap<String, String>,
}

/// The parameters of `AssumeRole`.
#[derive(Clone, Debug, Default)]
pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a str,
    pub role_session_name: &'a str,
    pub duration_seconds: Option<i64>,
    pub external_id: Option<&'a str>,
    pub policy: Option<&'a str>,
    pub tags: Vec<Tag>,
}

fn validate_session_name(name: &str) -> Result<()> {
    let member = "roleSessionName";
    if name.chars().count() < 2 {
        return Err(IamError::validation(Some(name), member, "must have length greater than or equal to 2"));
    }
    if name.chars().count() > 64 {
        return Err(IamError::validation(Some(name), member, "must have length less than or equal to 64"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(IamError::validation(Some(name), member, "must satisfy regular expression pattern: [\\w+=,.@-]*"));
    }
    Ok(())
}

fn validate_external_id(id: &str) -> Result<()> {
    let member = "externalId";
    if id.chars().count() < 2 {
        return Err(IamError::validation(Some(id), member, "must have length greater than or equal to 2"));
    }
    if id.chars().count() > 1224 {
        return Err(IamError::validation(Some(id), member, "must have length less than or equal to 1224"));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)) {
        return Err(IamError::validation(
            Some(id),
            member,
            "must satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
        ));
    }
    Ok(())
}

fn check_duration(seconds: i64, min: i64, max: i64) -> Result<()> {
    let member = "durationSeconds";
    if seconds < min {
        return Err(IamError::validation(
            Some(&seconds.to_string()),
            member,
            &format!("must have value greater than or equal to {min}"),
        ));
    }
    if seconds > max {
        return Err(IamError::validation(
            Some(&seconds.to_string()),
            member,
            &format!("must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

impl IamState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.get(id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// Puts (replaces) an account and re-indexes its keys.
    pub fn put_account(&mut self, account: Account) {
        self.keys.retain(|_, owner| *owner != account.id);
        for id in account.access_keys.keys().chain(account.sessions.keys()) {
            self.keys.insert(id.clone(), account.id.clone());
        }
        self.accounts.insert(account.id.clone(), account);
    }

    /// The account that holds access key `id`, if any.
    pub fn key_account(&self, id: &str) -> Option<&str> {
        self.keys.get(id).map(String::as_str)
    }

    /// What verification needs about access key `id`.
    pub fn access_key(&self, id: &str) -> Option<AccessKeyInfo> {
        let account = self.accounts.get(self.keys.get(id)?)?;
        if let Some(key) = account.access_keys.get(id) {
            let caller = self.key_caller(account, id)?;
            return Some(AccessKeyInfo {
                access_key_id: id.to_string(),
                secret_access_key: key.secret_access_key.clone(),
                active: key.status == AccessKeyStatus::Active,
                session_token: None,
                expiration: None,
                identity: caller.identity(),
            });
        }
        let session = account.sessions.get(id)?;
        let caller = self.session_caller(account, session)?;
        Some(AccessKeyInfo {
            access_key_id: id.to_string(),
            secret_access_key: session.secret_access_key.clone(),
            active: true,
            session_token: Some(session.session_token.clone()),
            expiration: Some(session.expiration),
            identity: caller.identity(),
        })
    }

    fn key_caller(&self, account: &Account, id: &str) -> Option<Caller> {
        let key = account.access_keys.get(id)?;
        if key.user_name.is_empty() {
            return Some(Caller::Root { account: account.id.clone(), via_session_token: false });
        }
        let user = account.user(&key.user_name).ok()?;
        Some(Caller::User {
            account: account.id.clone(),
            user_name: user.user_name.clone(),
            user_id: user.user_id.clone(),
            arn: user.arn.clone(),
            via_session_token: false,
        })
    }

    fn session_caller(&self, account: &Account, session: &Session) -> Option<Caller> {
        let user = match &session.kind {
            SessionKind::User { user_name } => {
                let user = account.user(user_name).ok()?;
                Some((user.user_id.as_str(), user.arn.as_str()))
            }
            _ => None,
        };
        session.caller(&account.id, user)
    }

    /// The caller a request signed with access key `id` is made by.
    pub fn caller(&self, id: &str) -> Option<Caller> {
        let account = self.accounts.get(self.keys.get(id)?)?;
        if account.access_keys.contains_key(id) {
            return self.key_caller(account, id);
        }
        self.session_caller(account, account.sessions.get(id)?)
    }

    /// Whether a principal ARN a trust policy names exists. Accounts Rampart does not hold
    /// are taken on trust, as IAM cannot see into them either.
    pub fn principal_exists(&self, principal: &str) -> bool {
        if is_account_id(principal) {
            return true;
        }
        let Ok(arn) = Arn::parse(principal) else { return false };
        let Some(account) = self.accounts.get(arn.account_id) else { return true };
        let name = arn.resource.rsplit('/').next().unwrap_or_default();
        match arn.resource.split('/').next() {
            Some("root") => true,
            Some("user") => account.user(name).is_ok_and(|u| u.arn == principal),
            Some("role") => account.role(name).is_ok_and(|r| r.arn == principal),
            _ => true,
        }
    }

    /// The global condition keys of a request by `caller`.
    pub fn request_context(&self, caller: &Caller, env: &RequestEnv) -> ContextKeys {
        let mut context = ContextKeys::new();
        context.set("aws:PrincipalArn", caller.principal_arn());
        context.set("aws:PrincipalAccount", caller.account());
        context.set("aws:userid", caller.identity().user_id);
        context.set("aws:CurrentTime", env.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        context.set("aws:EpochTime", env.now.timestamp().to_string());
        context.set("aws:RequestedRegion", env.region.clone());
        context.set("aws:SecureTransport", env.secure_transport.to_string());
        if let Some(ip) = &env.source_ip {
            context.set("aws:SourceIp", ip.clone());
        }
        if caller.is_temporary() {
            context.set("aws:MultiFactorAuthPresent", "false");
        }
        let account = self.accounts.get(caller.account());
        let tags: Vec<Tag> = match caller {
            Caller::Root { .. } => {
                context.set("aws:PrincipalType", "Account");
                vec![]
            }
            Caller::User { user_name, .. } => {
                context.set("aws:PrincipalType", "User");
                context.set("aws:username", user_name.clone());
                account.and_then(|a| a.user(user_name).ok()).map(|u| u.tags.clone()).unwrap_or_default()
            }
            Caller::AssumedRole { role_name, tags, issued, .. } => {
                context.set("aws:PrincipalType", "AssumedRole");
                context.set("aws:TokenIssueTime", issued.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                let mut all = account.and_then(|a| a.role(role_name).ok()).map(|r| r.tags.clone()).unwrap_or_default();
                for tag in tags {
                    all.retain(|t| !t.key.eq_ignore_ascii_case(&tag.key));
                    all.push(tag.clone());
                }
                all
            }
        };
        for tag in tags {
            context.set(&format!("aws:PrincipalTag/{}", tag.key), tag.value);
        }
        context
    }

    /// The identity-based policies of `caller` (`None` for the account root).
    fn identity_policies(&self, caller: &Caller) -> Option<Vec<&PolicyDocument>> {
        let account = self.accounts.get(caller.account());
        let mut documents = Vec::new();
        let Some(account) = account else { return Some(documents) };
        fn add<'a>(
            documents: &mut Vec<&'a PolicyDocument>,
            account: &'a Account,
            attached: &'a [String],
            inline: &'a crate::account::InlinePolicies,
        ) {
            documents.extend(attached.iter().filter_map(|arn| account.policy(arn).ok()).map(|p| p.document().parsed()));
            documents.extend(inline.values().map(|d| d.parsed()));
        }
        match caller {
            Caller::Root { .. } => return None,
            Caller::User { user_name, .. } => {
                if let Ok(user) = account.user(user_name) {
                    add(&mut documents, account, &user.attached_policies, &user.inline_policies);
                    for group in &user.groups {
                        if let Ok(group) = account.group(group) {
                            add(&mut documents, account, &group.attached_policies, &group.inline_policies);
                        }
                    }
                }
            }
            Caller::AssumedRole { role_name, .. } => {
                if let Ok(role) = account.role(role_name) {
                    add(&mut documents, account, &role.attached_policies, &role.inline_policies);
                }
            }
        }
        Some(documents)
    }

    /// Decides whether `caller` may perform `action` on `resource`; a denial is AWS's
    /// `AccessDenied` with its wording.
    pub fn authorize(&self, caller: &Caller, action: &str, resource: &str, context: &ContextKeys) -> Result<()> {
        self.authorize_with(caller, action, resource, context, None)
    }

    fn authorize_with(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        context: &ContextKeys,
        resource_policy: Option<ResourcePolicy<'_>>,
    ) -> Result<()> {
        let session = match caller {
            Caller::AssumedRole { policy, .. } => policy.as_ref().map(|p| p.parsed()),
            _ => None,
        };
        let policies = Policies { identity: self.identity_policies(caller), session, resource: resource_policy };
        let request = AuthzRequest { action, resource, context };
        caller
            .with_principal_ref(|principal| authorize(principal, &policies, &request))
            .map_err(|denial| IamError::AccessDenied(denial.message(&caller.arn(), action, resource)))
    }

    /// `AssumeRole`: checks the request, the role's trust policy and the caller's own policies
    /// as AWS combines them, and returns the new session (for the caller to store in the role's
    /// account).
    pub fn assume_role(
        &self,
        caller: &Caller,
        request: &AssumeRoleRequest<'_>,
        env: &RequestEnv,
        rng: &mut impl Rng,
    ) -> Result<Session> {
        validate_session_name(request.role_session_name)?;
        if let Some(external_id) = request.external_id {
            validate_external_id(external_id)?;
        }
        if request.role_arn.len() < 20 {
            return Err(IamError::validation(
                Some(request.role_arn),
                "roleArn",
                "must have length greater than or equal to 20",
            ));
        }
        let chained = matches!(caller, Caller::AssumedRole { .. });
        let duration = request.duration_seconds.unwrap_or(3600);
        check_duration(duration, 900, 43200)?;
        let session_policy = request.policy.map(crate::document::IdentityDocument::parse).transpose()?;

        let mut context = self.request_context(caller, env);
        context.set("sts:RoleSessionName", request.role_session_name);
        if let Some(external_id) = request.external_id {
            context.set("sts:ExternalId", external_id);
        }
        if !request.tags.is_empty() {
            for tag in &request.tags {
                context.set(&format!("aws:RequestTag/{}", tag.key), tag.value.clone());
            }
            context.set_all("aws:TagKeys", request.tags.iter().map(|t| t.key.clone()).collect());
        }
        let denied = || {
            IamError::AccessDenied(Denial::NoResourceAllow.message(&caller.arn(), "sts:AssumeRole", request.role_arn))
        };
        let arn = Arn::parse(request.role_arn).map_err(|_| denied())?;
        let role = self
            .accounts
            .get(arn.account_id)
            .and_then(|account| account.role(arn.resource.rsplit('/').next().unwrap_or_default()).ok())
            .filter(|role| role.arn == request.role_arn)
            .ok_or_else(denied)?;
        let trust = ResourcePolicy { document: role.assume_role_policy_document.parsed(), account: arn.account_id };
        self.authorize_with(caller, "sts:AssumeRole", &role.arn, &context, Some(trust))?;
        if !request.tags.is_empty() {
            self.authorize_with(caller, "sts:TagSession", &role.arn, &context, Some(trust))?;
        }
        if chained && duration > 3600 {
            return Err(IamError::ValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
                    .into(),
            ));
        }
        if duration > role.max_session_duration {
            return Err(IamError::ValidationError(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
            ));
        }
        Ok(Session {
            access_key_id: ids::generate(IdKind::SessionKey, rng),
            secret_access_key: ids::secret_access_key(rng),
            session_token: ids::session_token(rng),
            expiration: env.now + TimeDelta::seconds(duration),
            create_date: env.now,
            kind: SessionKind::AssumedRole {
                role_name: role.role_name.clone(),
                role_id: role.role_id.clone(),
                role_arn: role.arn.clone(),
                session_name: request.role_session_name.to_string(),
                chained,
            },
            policy: session_policy,
            tags: request.tags.clone(),
        })
    }

    /// `GetSessionToken`: temporary credentials for an IAM user or the root user.
    pub fn get_session_token(
        &self,
        caller: &Caller,
        duration_seconds: Option<i64>,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<Session> {
        if caller.is_temporary() {
            return Err(IamError::AccessDenied("Cannot call GetSessionToken with session credentials".into()));
        }
        let (kind, max, default) = match caller {
            Caller::Root { .. } => (SessionKind::Root, 3600, 3600),
            Caller::User { user_name, .. } => (SessionKind::User { user_name: user_name.clone() }, 129_600, 43_200),
            Caller::AssumedRole { .. } => unreachable!("role sessions are temporary"),
        };
        let duration = duration_seconds.unwrap_or(default);
        check_duration(duration, 900, max)?;
        Ok(Session {
            access_key_id: ids::generate(IdKind::SessionKey, rng),
            secret_access_key: ids::secret_access_key(rng),
            session_token: ids::session_token(rng),
            expiration: now + TimeDelta::seconds(duration),
            create_date: now,
            kind,
            policy: None,
            tags: vec![],
        })
    }
}

impl Account {
    /// Stores a session and forgets sessions that expired long ago.
    pub fn add_session(&mut self, session: Session, now: DateTime<Utc>) {
        self.sessions.retain(|_, s| s.expiration + EXPIRED_SESSION_RETENTION > now);
        self.sessions.insert(session.access_key_id.clone(), session);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::account::EntityKind;

    const A: &str = "111111111111";
    const B: &str = "222222222222";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()
    }

    fn env() -> RequestEnv {
        RequestEnv {
            now: now(),
            source_ip: Some("127.0.0.1".into()),
            region: "us-east-1".into(),
            secure_transport: true,
        }
    }

    fn trust(principal: &str, condition: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":["sts:AssumeRole","sts:TagSession"]{condition}}}]}}"#
        )
    }

    /// Account A has alice (may assume anything) and bob (no policies); account B has roles.
    fn state() -> IamState {
        let mut rng = rand::rng();
        let mut a = Account::new(A);
        a.create_user("alice", None, vec![], now(), &mut rng).unwrap();
        a.put_inline_policy(
            EntityKind::User,
            "alice",
            "assume",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
        .unwrap();
        a.add_access_key("alice", "AKIAALICE0000000000A", "secret-a", now()).unwrap();
        a.create_user("bob", None, vec![], now(), &mut rng).unwrap();
        a.add_access_key("bob", "AKIABOB00000000000B0", "secret-b", now()).unwrap();
        let mut b = Account::new(B);
        let yes = |_: &str| true;
        b.create_role(
            "OpenToA",
            None,
            &trust(&format!("arn:aws:iam::{A}:root"), ""),
            None,
            Some(7200),
            vec![],
            &yes,
            now(),
            &mut rng,
        )
        .unwrap();
        b.attach_policy(EntityKind::Role, "OpenToA", "arn:aws:iam::aws:policy/IAMReadOnlyAccess").unwrap();
        b.create_role("ClosedToA", None, &trust("333333333333", ""), None, None, vec![], &yes, now(), &mut rng)
            .unwrap();
        let external = r#","Condition":{"StringEquals":{"sts:ExternalId":"open-sesame"}}"#;
        b.create_role("NeedsExternalId", None, &trust(A, external), None, None, vec![], &yes, now(), &mut rng).unwrap();
        let mut state = IamState::new();
        state.put_account(a);
        state.put_account(b);
        state
    }

    fn assume<'a>(role: &'a str, session: &'a str) -> AssumeRoleRequest<'a> {
        AssumeRoleRequest { role_arn: role, role_session_name: session, ..AssumeRoleRequest::default() }
    }

    #[test]
    fn callers_resolve_from_their_keys() {
        let state = state();
        let alice = state.caller("AKIAALICE0000000000A").unwrap();
        assert_eq!(alice.arn(), "arn:aws:iam::111111111111:user/alice");
        let info = state.access_key("AKIAALICE0000000000A").unwrap();
        assert_eq!(info.secret_access_key, "secret-a");
        assert!(info.active && info.session_token.is_none());
        assert!(state.caller("AKIANOPE").is_none());
    }

    #[test]
    fn cross_account_assume_role_needs_both_sides() {
        let mut state = state();
        let alice = state.caller("AKIAALICE0000000000A").unwrap();
        let bob = state.caller("AKIABOB00000000000B0").unwrap();
        let open = format!("arn:aws:iam::{B}:role/OpenToA");
        let session = state.assume_role(&alice, &assume(&open, "alice-session"), &env(), &mut rand::rng()).unwrap();
        assert!(session.access_key_id.starts_with("ASIA"));
        assert_eq!(session.expiration, now() + TimeDelta::hours(1));
        // Bob's own account does not allow him to assume roles.
        let err = state.assume_role(&bob, &assume(&open, "bob"), &env(), &mut rand::rng()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "User: arn:aws:iam::{A}:user/bob is not authorized to perform: sts:AssumeRole on resource: {open} \
                 because no identity-based policy allows the sts:AssumeRole action"
            )
        );
        // The trust policy of ClosedToA does not name account A.
        let closed = format!("arn:aws:iam::{B}:role/ClosedToA");
        let err = state.assume_role(&alice, &assume(&closed, "sess"), &env(), &mut rand::rng()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "User: arn:aws:iam::{A}:user/alice is not authorized to perform: sts:AssumeRole on resource: {closed}"
            )
        );
        // A role that does not exist is denied the same way.
        let missing = format!("arn:aws:iam::{B}:role/Missing");
        assert_eq!(
            state.assume_role(&alice, &assume(&missing, "sess"), &env(), &mut rand::rng()).unwrap_err().code(),
            "AccessDenied"
        );

        // The session acts with the role's policies, and chaining caps it at one hour.
        let mut account_b = state.account(B).unwrap().clone();
        account_b.add_session(session.clone(), now());
        state.put_account(account_b);
        let caller = state.caller(&session.access_key_id).unwrap();
        assert_eq!(caller.arn(), format!("arn:aws:sts::{B}:assumed-role/OpenToA/alice-session"));
        let context = state.request_context(&caller, &env());
        assert!(state.authorize(&caller, "iam:ListUsers", "*", &context).is_ok());
        assert_eq!(state.authorize(&caller, "iam:CreateUser", "*", &context).unwrap_err().code(), "AccessDenied");
        let info = state.access_key(&session.access_key_id).unwrap();
        assert_eq!(
            info.identity.user_id,
            format!("{}:alice-session", state.account(B).unwrap().role("OpenToA").unwrap().role_id)
        );
        assert_eq!(info.session_token.as_deref(), Some(session.session_token.as_str()));
    }

    #[test]
    fn external_ids_session_names_and_durations() {
        let state = state();
        let alice = state.caller("AKIAALICE0000000000A").unwrap();
        let role = format!("arn:aws:iam::{B}:role/NeedsExternalId");
        assert_eq!(
            state.assume_role(&alice, &assume(&role, "s1"), &env(), &mut rand::rng()).unwrap_err().code(),
            "AccessDenied"
        );
        let wrong = AssumeRoleRequest { external_id: Some("wrong-one"), ..assume(&role, "s1") };
        assert_eq!(state.assume_role(&alice, &wrong, &env(), &mut rand::rng()).unwrap_err().code(), "AccessDenied");
        let right = AssumeRoleRequest { external_id: Some("open-sesame"), ..assume(&role, "s1") };
        assert!(state.assume_role(&alice, &right, &env(), &mut rand::rng()).is_ok());

        let open = format!("arn:aws:iam::{B}:role/OpenToA");
        let err = state.assume_role(&alice, &assume(&open, "bad name"), &env(), &mut rand::rng()).unwrap_err();
        assert_eq!(err.code(), "ValidationError");
        let long = AssumeRoleRequest { duration_seconds: Some(7201), ..assume(&open, "sess") };
        assert_eq!(
            state.assume_role(&alice, &long, &env(), &mut rand::rng()).unwrap_err().to_string(),
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        );
        let short = AssumeRoleRequest { duration_seconds: Some(899), ..assume(&open, "sess") };
        assert_eq!(state.assume_role(&alice, &short, &env(), &mut rand::rng()).unwrap_err().code(), "ValidationError");
        let ok = AssumeRoleRequest { duration_seconds: Some(7200), ..assume(&open, "sess") };
        assert!(state.assume_role(&alice, &ok, &env(), &mut rand::rng()).is_ok());
    }

    #[test]
    fn session_tokens_for_users_only_from_long_term_keys() {
        let state = state();
        let alice = state.caller("AKIAALICE0000000000A").unwrap();
        let session = state.get_session_token(&alice, None, now(), &mut rand::rng()).unwrap();
        assert_eq!(session.expiration, now() + TimeDelta::hours(12));
        assert_eq!(
            state.get_session_token(&alice, Some(129_601), now(), &mut rand::rng()).unwrap_err().code(),
            "ValidationError"
        );
        let user = session.caller(A, Some(("AIDA", "arn:aws:iam::111111111111:user/alice"))).unwrap();
        assert!(user.via_session_token());
        assert_eq!(
            state.get_session_token(&user, None, now(), &mut rand::rng()).unwrap_err().to_string(),
            "Cannot call GetSessionToken with session credentials"
        );
    }

    #[test]
    fn principals_named_in_trust_policies_must_exist_in_known_accounts() {
        let state = state();
        assert!(state.principal_exists(&format!("arn:aws:iam::{A}:user/alice")));
        assert!(!state.principal_exists(&format!("arn:aws:iam::{A}:user/nobody")));
        assert!(state.principal_exists("arn:aws:iam::999999999999:user/anyone"));
        assert!(state.principal_exists(A));
    }
}
