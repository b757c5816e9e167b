//! The lint rules: findings over RBAC objects, the aws-auth ConfigMap and EKS access entries,
//! each with a stable rule ID, a severity, the object and the place in it, a one-line why and a
//! fix. The rule table ([`RULES`]) is data: docs/analysis.md lists it with the upstream reports
//! behind each rule.
//!
//! Entry points: [`lint`] for a whole configuration (it also finds what only the whole shows:
//! roles nobody binds, bindings to roles that do not exist, access entries that disagree with
//! aws-auth); [`rbac_object`] for one RBAC object and [`aws_auth`] for the ConfigMap, which is
//! what an admission check calls at write time. Objects labelled
//! `kubernetes.io/bootstrapping: rbac-defaults` are Kubernetes' own and are not linted.

use std::collections::{BTreeMap, HashSet};

use eks_auth::{AccessEntry, AccessScopeType, AuthenticationMode, AwsAuth, IssueKind, MAP_ROLES, MAP_USERS};
use rbac::{
    BindingRecord, ClusterRole, ClusterRoleBinding, ObjectMeta, PolicyRule, Role, RoleBinding, RoleKey,
    SERVICE_ACCOUNT_KIND, SYSTEM_MASTERS,
};
use serde::Serialize;

use crate::risk::risks_of;

/// How bad a finding is; the order is `Note < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "note" => Ok(Severity::Note),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            other => Err(format!("unknown severity {other:?} (error, warning or note)")),
        }
    }
}

/// One lint rule.
#[derive(Debug, Serialize)]
pub struct Rule {
    /// Stable: `RBAC001`, `EKS004`.
    pub id: &'static str,
    /// Short kebab-case name.
    pub name: &'static str,
    /// Severity of a finding of this rule (a ClusterRole's; see [`Rule::in_role`]).
    pub severity: Severity,
    /// Severity when a namespaced Role holds the permission (its reach is one namespace).
    pub in_role: Severity,
    /// Why it matters, one line.
    pub why: &'static str,
    /// How to fix it, one line.
    pub fix: &'static str,
    /// The report or page that motivated it.
    pub reference: &'static str,
}

const RBAC_GOOD_PRACTICES: &str = "https://kubernetes.io/docs/concepts/security/rbac-good-practices/";

macro_rules! rules {
    ($( $id:literal $name:literal $sev:ident $role:ident $why:literal $fix:literal $reference:expr; )*) => {
        /// Every rule, in ID order.
        pub static RULES: &[Rule] = &[$(Rule {
            id: $id,
            name: $name,
            severity: Severity::$sev,
            in_role: Severity::$role,
            why: $why,
            fix: $fix,
            reference: $reference,
        }),*];
    };
}

rules! {
    "RBAC001" "secrets-read" Warning Note
        "reading secrets reads every credential stored in them, service account tokens included"
        "grant get on the named secrets the workload needs (resourceNames), never list or watch"
        RBAC_GOOD_PRACTICES;
    "RBAC002" "pod-exec" Warning Note
        "exec, attach and ephemeral containers run commands inside pods, with their service accounts and secrets"
        "keep pods/exec, pods/attach and pods/ephemeralcontainers to break-glass roles"
        RBAC_GOOD_PRACTICES;
    "RBAC003" "port-forward" Warning Note
        "port-forward reaches pods' ports past network policies"
        "grant pods/portforward only where debugging needs it"
        RBAC_GOOD_PRACTICES;
    "RBAC004" "impersonate" Error Error
        "impersonating users, groups or service accounts is acting with their rights, system:masters included"
        "remove the impersonate verb, or limit it with resourceNames to the identities meant"
        "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation";
    "RBAC005" "escalate-bind" Error Error
        "escalate and bind on roles lift Kubernetes' escalation check: the holder can grant itself anything"
        "remove escalate and bind, or limit bind with resourceNames to the roles that may be granted"
        "https://kubernetes.io/docs/reference/access-authn-authz/rbac/#restrictions-on-role-creation-or-update";
    "RBAC006" "nodes-proxy" Error Error
        "nodes/proxy reaches the kubelet API directly: exec in any pod on the node, unaudited by the API server"
        "remove nodes/proxy; grant nodes/metrics or nodes/stats for monitoring"
        "https://kubernetes.io/docs/concepts/security/rbac-good-practices/#access-to-proxy-subresource-of-nodes";
    "RBAC007" "serviceaccount-token" Warning Warning
        "creating service account tokens is acting as any service account of the namespace"
        "grant serviceaccounts/token create with resourceNames, to the accounts meant"
        RBAC_GOOD_PRACTICES;
    "RBAC008" "wildcard" Warning Warning
        "a * verb, resource or URL grants today's and every future API, subresources included"
        "list the verbs and resources needed"
        RBAC_GOOD_PRACTICES;
    "RBAC009" "rbac-write" Warning Warning
        "writing roles and bindings is deciding who may do what (bounded only by the escalation check)"
        "leave RBAC writes to cluster administrators and GitOps"
        RBAC_GOOD_PRACTICES;
    "RBAC010" "webhook-write" Error Error
        "an admission webhook sees and can rewrite every object written, secrets included"
        "leave webhook configurations to cluster administrators"
        "https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/";
    "RBAC011" "csr-approve" Warning Warning
        "approving certificate signing requests mints client certificates for any user or group"
        "leave CSR approval to the controllers and administrators"
        RBAC_GOOD_PRACTICES;
    "RBAC012" "status-write" Warning Warning
        "rewriting node, pod or service status misleads controllers (service status: CVE-2020-8554)"
        "leave status subresources to the components that own them"
        "https://github.com/kubernetes/kubernetes/issues/97076";
    "RBAC013" "aws-auth-write" Error Warning
        "editing configmaps in kube-system edits aws-auth: mapping an IAM role to system:masters"
        "limit configmap writes in kube-system with resourceNames that exclude aws-auth, or use access entries"
        "https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html";
    "RBAC014" "workload-create" Note Note
        "creating pods or workloads runs code as any service account of the namespace, its secrets mounted"
        "grant workload writes to deployers; give workloads their own service accounts"
        RBAC_GOOD_PRACTICES;
    "RBAC015" "crd-write" Note Note
        "CustomResourceDefinitions change the cluster's API for everyone"
        "leave CRDs to cluster administrators"
        "https://kubernetes.io/docs/concepts/extend-kubernetes/api-extension/custom-resources/";
    "RBAC016" "cluster-admin-binding" Error Warning
        "cluster-admin is every verb on every resource; bound cluster-wide it is the cluster"
        "bind a role with the rights needed; keep cluster-admin to break-glass identities"
        RBAC_GOOD_PRACTICES;
    "RBAC017" "anonymous-binding" Error Error
        "system:anonymous, system:unauthenticated and system:authenticated are everyone (every mapped IAM principal)"
        "bind the rights to the users, groups or service accounts that need them"
        RBAC_GOOD_PRACTICES;
    "RBAC018" "default-service-account" Note Note
        "every pod that names no service account runs as default, and gets these rights"
        "create a service account for the workload and bind it instead"
        RBAC_GOOD_PRACTICES;
    "RBAC019" "subject-namespace" Warning Warning
        "a subject's namespace decides who it is: missing or unexpected, the binding grants someone else or nobody"
        "give service account subjects their namespace; drop namespace from users and groups"
        "https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects";
    "RBAC020" "missing-role" Warning Warning
        "the binding's role does not exist: it grants nothing today and whatever the role will hold once created"
        "create the role or delete the binding"
        "https://kubernetes.io/docs/reference/access-authn-authz/rbac/#rolebinding-and-clusterrolebinding";
    "RBAC021" "unbound-role" Note Note
        "no binding names the role: it is dead configuration, or a binding is missing"
        "bind it or delete it"
        "https://kubernetes.io/docs/reference/access-authn-authz/rbac/#rolebinding-and-clusterrolebinding";
    "EKS001" "aws-auth-key-dropped" Error Error
        "EKS drops every mapping of a data key that is not a YAML list (a lockout: nodes and admins unmapped)"
        "fix the YAML of the key; check it with `rampart lint` before applying"
        "https://github.com/aws/containers-roadmap/issues/185";
    "EKS002" "aws-auth-entry-dropped" Error Error
        "EKS silently drops an entry it cannot validate; its principal is not mapped"
        "give each entry exactly one of rolearn or sso (mapRoles), or a userarn (mapUsers)"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/blob/master/README.md";
    "EKS003" "aws-auth-field-ignored" Error Error
        "EKS ignores a field of the wrong type (groups: system:masters is a string, not a list)"
        "write groups as a YAML list and usernames as strings"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/issues/261";
    "EKS004" "role-arn-path" Error Error
        "a rolearn with a path never matches: STS reports assumed roles without their path"
        "write the role ARN without its path: arn:aws:iam::ACCOUNT:role/NAME"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/issues/98";
    "EKS005" "sso-role-path" Error Error
        "an IAM Identity Center role written with its aws-reserved/sso.amazonaws.com path never matches"
        "map the permission set with an sso: block, or write the role ARN without its path"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/issues/333";
    "EKS006" "assumed-role-arn" Error Error
        "an sts assumed-role ARN never matches: callers are matched by their role's iam ARN"
        "write the role's ARN: arn:aws:iam::ACCOUNT:role/NAME"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/issues/328";
    "EKS007" "malformed-arn" Error Error
        "an ARN that is not an IAM principal's never matches a caller"
        "copy the ARN from `aws iam get-role` / `aws iam get-user` (arn:PARTITION:iam::ACCOUNT:role/NAME)"
        "https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html";
    "EKS008" "template-never-renders" Warning Warning
        "an unknown {{placeholder}} stays literal, and session placeholders are empty for IAM users"
        "use {{AccountID}}, {{SessionName}}, {{SessionNameRaw}}, {{AccessKeyID}} or {{EC2PrivateDNSName}}, with a role"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator#full-configuration-format";
    "EKS009" "unknown-key" Warning Warning
        "EKS ignores data keys and entry fields it does not know (data keys are case-sensitive)"
        "spell them mapRoles, mapUsers, mapAccounts; rolearn/userarn, username, groups"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/issues/312";
    "EKS010" "shadowed-entry" Warning Warning
        "a later entry for the same principal replaces the earlier one, whose groups are lost"
        "merge the two entries into one"
        "https://github.com/kubernetes-sigs/aws-iam-authenticator/issues/220";
    "EKS011" "empty-username" Warning Warning
        "callers mapped with an empty username authenticate as \"\""
        "give the entry a username (a template such as name:{{SessionName}} keeps sessions apart)"
        "https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html";
    "EKS012" "invalid-account-id" Error Error
        "a mapAccounts item that is not a 12-digit account ID never matches"
        "quote 12-digit account IDs (\"012345678901\")"
        "https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html";
    "EKS013" "masters-mapping" Warning Warning
        "system:masters is allowed everything before RBAC, and no binding can be removed to take it back"
        "map to a group bound to the rights needed, or use an access entry with an access policy"
        "https://aws.github.io/aws-eks-best-practices/security/docs/iam/#avoid-using-the-systemmasters-group";
    "EKS014" "map-accounts" Warning Warning
        "mapAccounts authenticates every principal of the account, each under its own ARN"
        "map the roles and users meant with mapRoles/mapUsers, or access entries"
        "https://docs.aws.amazon.com/eks/latest/userguide/auth-configmap.html";
    "EKS015" "cluster-admin-access-policy" Warning Warning
        "AmazonEKSClusterAdminPolicy at cluster scope is cluster-admin, granted outside RBAC"
        "associate a narrower policy, or scope it to namespaces"
        "https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html";
    "EKS016" "access-policy-wider-than-needed" Note Note
        "an admin, edit or secret-reading access policy at cluster scope reaches every namespace, present and future"
        "associate it with --access-scope type=namespace,namespaces=..."
        "https://docs.aws.amazon.com/eks/latest/userguide/access-policies.html";
    "EKS017" "entry-and-aws-auth-disagree" Warning Warning
        "the principal has an access entry and an aws-auth mapping that differ: the access entry wins, the mapping is dead"
        "delete the aws-auth mapping, or make the access entry say the same"
        "https://docs.aws.amazon.com/eks/latest/userguide/migrating-access-entries.html";
}

/// The rule with this ID.
pub fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no lint rule {id}"))
}

/// The object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// `Role`, `ClusterRole`, `RoleBinding`, `ClusterRoleBinding`, `ConfigMap`, `AccessEntry`.
    pub kind: &'static str,
    pub namespace: String,
    /// The name (an access entry's principal ARN).
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{} in {}", self.kind, self.name, self.namespace)
        }
    }
}

/// Where in the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "at")]
pub enum Place {
    Object,
    /// `rules[i]`.
    Rule {
        index: usize,
    },
    /// `subjects[i]`.
    Subject {
        index: usize,
    },
    RoleRef,
    /// A data key of the aws-auth ConfigMap, and the line inside its value.
    AwsAuth {
        key: String,
        line: Option<usize>,
    },
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    #[serde(serialize_with = "rule_id")]
    pub rule: &'static Rule,
    pub severity: Severity,
    pub object: ObjectRef,
    pub place: Place,
    /// What is wrong here, one line.
    pub message: String,
}

fn rule_id<S: serde::Serializer>(rule: &&'static Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.id)
}

fn finding(id: &str, severity: Severity, object: &ObjectRef, place: Place, message: String) -> Finding {
    Finding { rule: rule(id), severity, object: object.clone(), place, message }
}

/// Whether the object is Kubernetes' own bootstrap policy.
fn is_bootstrap(meta: &ObjectMeta) -> bool {
    meta.labels.get("kubernetes.io/bootstrapping").is_some_and(|v| v == "rbac-defaults")
}

/// One RBAC object, for [`rbac_object`].
#[derive(Clone, Copy)]
pub enum RbacObject<'a> {
    Role(&'a Role),
    ClusterRole(&'a ClusterRole),
    RoleBinding(&'a RoleBinding),
    ClusterRoleBinding(&'a ClusterRoleBinding),
}

/// The findings of one RBAC object alone (what admission can say at write time).
/// `role_exists` answers for a binding's role; pass `|_| true` where it cannot be known.
pub fn rbac_object(object: RbacObject<'_>, role_exists: &dyn Fn(&RoleKey) -> bool) -> Vec<Finding> {
    match object {
        RbacObject::Role(role) if !is_bootstrap(&role.metadata) => role_rules(
            &ObjectRef { kind: "Role", namespace: role.metadata.namespace.clone(), name: role.metadata.name.clone() },
            &role.rules,
        ),
        RbacObject::ClusterRole(role) if !is_bootstrap(&role.metadata) => role_rules(
            &ObjectRef { kind: "ClusterRole", namespace: String::new(), name: role.metadata.name.clone() },
            &role.rules,
        ),
        RbacObject::RoleBinding(b) if !is_bootstrap(&b.metadata) => {
            let record = BindingRecord::from(b);
            binding(&record, role_exists(&record.role_key()))
        }
        RbacObject::ClusterRoleBinding(b) if !is_bootstrap(&b.metadata) => {
            let record = BindingRecord::from(b);
            binding(&record, role_exists(&record.role_key()))
        }
        _ => Vec::new(),
    }
}

/// The risky permissions of a role's rules, one finding per (rule, risk).
fn role_rules(object: &ObjectRef, rules: &[PolicyRule]) -> Vec<Finding> {
    let mut out = Vec::new();
    let namespaced = object.kind == "Role";
    for (index, policy_rule) in rules.iter().enumerate() {
        for risk in risks_of(policy_rule).filter(|r| r.applies_in(&object.namespace)) {
            let r = rule(risk.rule_id());
            let severity = if namespaced { r.in_role } else { r.severity };
            let message = format!("rules[{index}] ({}) {}", rbac::rule::compact_string(policy_rule), risk.what());
            out.push(Finding { rule: r, severity, object: object.clone(), place: Place::Rule { index }, message });
        }
    }
    out
}

const EVERYONE: &[(&str, &str)] = &[
    (rbac::USER_KIND, rbac::ANONYMOUS),
    (rbac::GROUP_KIND, rbac::SYSTEM_UNAUTHENTICATED),
    (rbac::GROUP_KIND, rbac::SYSTEM_AUTHENTICATED),
];

/// The findings of one binding; `role_exists` says whether its role does.
fn binding(record: &BindingRecord, role_exists: bool) -> Vec<Finding> {
    let cluster = record.is_cluster_role_binding();
    let object = ObjectRef {
        kind: if cluster { "ClusterRoleBinding" } else { "RoleBinding" },
        namespace: record.namespace.clone(),
        name: record.name.clone(),
    };
    let mut out = Vec::new();
    let role = format!("{} {}", record.role_ref.kind, record.role_ref.name);
    if !role_exists {
        out.push(finding(
            "RBAC020",
            Severity::Warning,
            &object,
            Place::RoleRef,
            format!("{role} does not exist{}", if cluster { "" } else { " in this namespace" }),
        ));
    }
    let cluster_admin = record.role_ref.kind == "ClusterRole" && record.role_ref.name == "cluster-admin";
    for (index, subject) in record.subjects.iter().enumerate() {
        let place = Place::Subject { index };
        let who = format!("{} {}", subject.kind, subject.name);
        if cluster_admin && !(subject.kind == rbac::GROUP_KIND && subject.name == SYSTEM_MASTERS) {
            let r = rule("RBAC016");
            let severity = if cluster { r.severity } else { r.in_role };
            let scope = if cluster { "cluster-wide".to_string() } else { format!("in namespace {}", record.namespace) };
            out.push(finding("RBAC016", severity, &object, place.clone(), format!("{who} is cluster-admin {scope}")));
        }
        if EVERYONE.iter().any(|(kind, name)| subject.kind == *kind && subject.name == *name) {
            out.push(finding(
                "RBAC017",
                Severity::Error,
                &object,
                place.clone(),
                format!(
                    "{who} is everyone{}: {role} is granted to all",
                    if subject.name == rbac::SYSTEM_AUTHENTICATED { " authenticated" } else { "" }
                ),
            ));
        }
        if subject.kind == SERVICE_ACCOUNT_KIND {
            if subject.name == "default" {
                out.push(finding(
                    "RBAC018",
                    Severity::Note,
                    &object,
                    place.clone(),
                    format!("the default service account gets {role}"),
                ));
            }
            if subject.namespace.is_empty() && cluster {
                out.push(finding(
                    "RBAC019",
                    Severity::Error,
                    &object,
                    place.clone(),
                    format!("{who} has no namespace: the API server refuses the binding (subjects[{index}].namespace: Required value)"),
                ));
            } else if !cluster && !subject.namespace.is_empty() && subject.namespace != record.namespace {
                out.push(finding(
                    "RBAC019",
                    Severity::Note,
                    &object,
                    place.clone(),
                    format!(
                        "grants {role} in {} to a service account of namespace {}",
                        record.namespace, subject.namespace
                    ),
                ));
            }
        } else if !subject.namespace.is_empty() {
            out.push(finding(
                "RBAC019",
                Severity::Warning,
                &object,
                place,
                format!("{who} has namespace {}, which RBAC ignores for a {}", subject.namespace, subject.kind),
            ));
        }
    }
    out
}

/// The findings of the aws-auth ConfigMap alone (what admission can say at write time).
pub fn aws_auth(aws_auth: &AwsAuth) -> Vec<Finding> {
    let object = ObjectRef { kind: "ConfigMap", namespace: "kube-system".into(), name: "aws-auth".into() };
    let mut out = Vec::new();
    for issue in aws_auth.issues() {
        let id = match issue.kind {
            IssueKind::InvalidYaml | IssueKind::NotAList => "EKS001",
            IssueKind::InvalidEntry => "EKS002",
            IssueKind::WrongType => "EKS003",
            IssueKind::RoleArnPath if sso_path(aws_auth, issue.line) => "EKS005",
            IssueKind::RoleArnPath => "EKS004",
            IssueKind::AssumedRoleArn => "EKS006",
            IssueKind::UnknownField | IssueKind::UnknownDataKey => "EKS009",
            IssueKind::DuplicateEntry => "EKS010",
            IssueKind::EmptyUsername => "EKS011",
            IssueKind::InvalidAccountId => "EKS012",
        };
        let place = Place::AwsAuth { key: issue.key.clone(), line: issue.line };
        out.push(finding(id, rule(id).severity, &object, place, issue.message.clone()));
    }
    for role in aws_auth.roles() {
        // An `sso:` entry names a permission set, not an ARN.
        let arn = role.sso.is_none().then_some(("rolearn", role.rolearn.as_str()));
        let place = Place::AwsAuth { key: MAP_ROLES.into(), line: Some(role.line) };
        mapping_findings(&mut out, &object, place, arn, &role.username, &role.groups, false);
    }
    for user in aws_auth.users() {
        let place = Place::AwsAuth { key: MAP_USERS.into(), line: Some(user.line) };
        mapping_findings(
            &mut out,
            &object,
            place,
            Some(("userarn", &user.userarn)),
            &user.username,
            &user.groups,
            true,
        );
    }
    let accounts: Vec<&str> = aws_auth.accounts().collect();
    if !accounts.is_empty() {
        out.push(finding(
            "EKS014",
            Severity::Warning,
            &object,
            Place::AwsAuth { key: eks_auth::MAP_ACCOUNTS.into(), line: None },
            format!("every principal of {} is authenticated", accounts.join(", ")),
        ));
    }
    out
}

/// Whether the role entry on `line` names an IAM Identity Center role by its path.
fn sso_path(aws_auth: &AwsAuth, line: Option<usize>) -> bool {
    aws_auth.roles().iter().any(|r| Some(r.line) == line && r.rolearn.contains(":role/aws-reserved/sso.amazonaws.com/"))
}

const TEMPLATES: &[&str] = &["EC2PrivateDNSName", "AccountID", "SessionName", "SessionNameRaw", "AccessKeyID"];

/// The `{{name}}` placeholders of a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split("{{").skip(1).filter_map(|rest| rest.split_once("}}").map(|(name, _)| name))
}

/// The findings of one mapping: its ARN (`(field, arn)`), its templates, its groups.
fn mapping_findings(
    out: &mut Vec<Finding>,
    object: &ObjectRef,
    place: Place,
    arn: Option<(&str, &str)>,
    username: &str,
    groups: &[String],
    is_user: bool,
) {
    if let Some((field, arn)) = arn.filter(|(_, arn)| eks_auth::canonicalize(arn).is_err()) {
        let message = format!("{field} {arn:?} is not an IAM principal's ARN");
        out.push(finding("EKS007", Severity::Error, object, place.clone(), message));
    }
    for template in std::iter::once(username).chain(groups.iter().map(String::as_str)) {
        for name in placeholders(template) {
            let problem = if !TEMPLATES.contains(&name) {
                Some(format!("{{{{{name}}}}} is not a placeholder EKS knows: it stays literal in {template:?}"))
            } else if is_user && name != "AccountID" && name != "AccessKeyID" {
                Some(format!("{{{{{name}}}}} never renders for an IAM user (users have no session)"))
            } else {
                None
            };
            if let Some(message) = problem {
                out.push(finding("EKS008", Severity::Warning, object, place.clone(), message));
            }
        }
    }
    if groups.iter().any(|g| g == SYSTEM_MASTERS) {
        out.push(finding(
            "EKS013",
            Severity::Warning,
            object,
            place,
            "maps its callers into system:masters".to_string(),
        ));
    }
}

/// Access policies that reach more than a namespace's worth when associated at cluster scope.
const WIDE_POLICIES: &[&str] =
    &["AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSAdminViewPolicy", "AmazonEKSSecretReaderPolicy"];

/// The findings of the access entries, and of their agreement with aws-auth under `mode`.
pub fn access_entries(entries: &[AccessEntry], aws_auth: Option<&AwsAuth>, mode: AuthenticationMode) -> Vec<Finding> {
    let mut out = Vec::new();
    for entry in entries {
        let object = ObjectRef { kind: "AccessEntry", namespace: String::new(), name: entry.principal_arn.clone() };
        if entry.kubernetes_groups.iter().any(|g| g == SYSTEM_MASTERS) {
            out.push(finding(
                "EKS013",
                Severity::Warning,
                &object,
                Place::Object,
                "kubernetesGroups maps the principal into system:masters".into(),
            ));
        }
        for policy in &entry.associated_access_policies {
            if policy.access_scope.scope_type != AccessScopeType::Cluster {
                continue;
            }
            let name = policy.policy_arn.rsplit('/').next().unwrap_or_default();
            if name == "AmazonEKSClusterAdminPolicy" {
                out.push(finding(
                    "EKS015",
                    Severity::Warning,
                    &object,
                    Place::Object,
                    "AmazonEKSClusterAdminPolicy is associated at cluster scope".into(),
                ));
            } else if WIDE_POLICIES.contains(&name) {
                out.push(finding(
                    "EKS016",
                    Severity::Note,
                    &object,
                    Place::Object,
                    format!("{name} is associated at cluster scope"),
                ));
            }
        }
        let Some(aws_auth) = aws_auth.filter(|_| mode.uses_config_map()) else { continue };
        let canonical = eks_auth::strip_path(&entry.principal_arn);
        if let Some(mapping) = aws_auth.lookup(&canonical) {
            let (username, groups) = (entry.username_template(), entry.groups());
            let same_groups = groups.iter().collect::<HashSet<_>>() == mapping.groups().iter().collect::<HashSet<_>>();
            if username != mapping.username() || !same_groups {
                out.push(finding(
                    "EKS017",
                    Severity::Warning,
                    &object,
                    Place::Object,
                    format!(
                        "the access entry maps to {username} {groups:?}, {} to {} {:?}; the access entry wins",
                        mapping.describe(),
                        mapping.username(),
                        mapping.groups()
                    ),
                ));
            }
        }
    }
    out
}

/// A whole configuration.
pub struct Configuration<'a> {
    pub roles: &'a [Role],
    pub cluster_roles: &'a [ClusterRole],
    pub role_bindings: &'a [RoleBinding],
    pub cluster_role_bindings: &'a [ClusterRoleBinding],
    pub aws_auth: Option<&'a AwsAuth>,
    pub access_entries: &'a [AccessEntry],
    pub mode: AuthenticationMode,
}

/// Every finding of a configuration: each object's, then what only the whole shows (missing
/// roles, roles nobody binds). Objects of Kubernetes' bootstrap policy count (as roles that
/// exist and bindings that bind) but are not linted.
pub fn lint(config: &Configuration<'_>) -> Vec<Finding> {
    let mut existing: HashSet<RoleKey> = HashSet::new();
    existing.extend(
        config
            .roles
            .iter()
            .map(|r| RoleKey::Role { namespace: r.metadata.namespace.clone(), name: r.metadata.name.clone() }),
    );
    existing.extend(config.cluster_roles.iter().map(|r| RoleKey::ClusterRole { name: r.metadata.name.clone() }));
    let role_exists = |key: &RoleKey| existing.contains(key);
    let mut out = Vec::new();
    let mut bound: HashSet<RoleKey> = HashSet::new();
    for role in config.roles {
        out.extend(rbac_object(RbacObject::Role(role), &role_exists));
    }
    for role in config.cluster_roles {
        out.extend(rbac_object(RbacObject::ClusterRole(role), &role_exists));
    }
    for b in config.role_bindings {
        bound.insert(RoleKey::of(&b.role_ref, &b.metadata.namespace));
        out.extend(rbac_object(RbacObject::RoleBinding(b), &role_exists));
    }
    for b in config.cluster_role_bindings {
        bound.insert(RoleKey::of(&b.role_ref, ""));
        out.extend(rbac_object(RbacObject::ClusterRoleBinding(b), &role_exists));
    }
    let unbound = |object: ObjectRef| {
        let message = format!("no RoleBinding or ClusterRoleBinding names {} {}", object.kind, object.name);
        finding("RBAC021", Severity::Note, &object, Place::Object, message)
    };
    for role in config.roles.iter().filter(|r| !is_bootstrap(&r.metadata)) {
        let key = RoleKey::Role { namespace: role.metadata.namespace.clone(), name: role.metadata.name.clone() };
        if !bound.contains(&key) {
            out.push(unbound(ObjectRef {
                kind: "Role",
                namespace: role.metadata.namespace.clone(),
                name: role.metadata.name.clone(),
            }));
        }
    }
    let selectors: Vec<&rbac::LabelSelector> = config
        .cluster_roles
        .iter()
        .filter_map(|r| r.aggregation_rule.as_ref())
        .flat_map(|a| a.cluster_role_selectors.iter())
        .collect();
    for role in config.cluster_roles.iter().filter(|r| !is_bootstrap(&r.metadata)) {
        let aggregated = selectors.iter().any(|s| rbac::selector_matches(s, &role.metadata.labels));
        if !aggregated && !bound.contains(&RoleKey::ClusterRole { name: role.metadata.name.clone() }) {
            out.push(unbound(ObjectRef {
                kind: "ClusterRole",
                namespace: String::new(),
                name: role.metadata.name.clone(),
            }));
        }
    }
    if let Some(aws) = config.aws_auth {
        out.extend(aws_auth(aws));
    }
    out.extend(access_entries(config.access_entries, config.aws_auth, config.mode));
    out
}

/// How many findings of each severity.
pub fn counts(findings: &[Finding]) -> BTreeMap<Severity, usize> {
    let mut counts = BTreeMap::new();
    for f in findings {
        *counts.entry(f.severity).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ids(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.rule.id).collect()
    }

    #[test]
    fn rule_ids_are_unique_and_ordered() {
        let all: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let mut sorted = all.clone();
        sorted.dedup();
        assert_eq!(all, sorted);
        assert!(RULES.iter().all(|r| r.in_role <= r.severity && r.reference.starts_with("https://")));
    }

    #[test]
    fn a_node_group_mapping_is_benign_and_the_eks_mistakes_are_not() {
        let data = |roles: &str| BTreeMap::from([(MAP_ROLES.to_string(), roles.to_string())]);
        let node = "- rolearn: arn:aws:iam::111122223333:role/eks-node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:bootstrappers, system:nodes]\n";
        assert!(aws_auth(&AwsAuth::parse(&data(node))).is_empty());
        let bad = "- rolearn: arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123\n  username: a\n- rolearn: arn:aws:sts::111122223333:assumed-role/dev/s\n  username: b\n- rolearn: arn:aws:iam::111122223333:role/team/ops\n  username: c:{{SessionNme}}\n  groups: [system:masters]\n- rolearn: not-an-arn\n  username: d\n";
        let findings = aws_auth(&AwsAuth::parse(&data(bad)));
        assert_eq!(ids(&findings), ["EKS005", "EKS006", "EKS004", "EKS008", "EKS013", "EKS007"]);
        assert_eq!(findings[2].place, Place::AwsAuth { key: MAP_ROLES.into(), line: Some(5) });
    }

    #[test]
    fn role_severity_depends_on_scope() {
        let rules = vec![PolicyRule::resource(&["get"], &[""], &["secrets"])];
        let role = Role {
            metadata: ObjectMeta { name: "r".into(), namespace: "a".into(), ..Default::default() },
            rules: rules.clone(),
            ..Default::default()
        };
        let cluster_role = ClusterRole {
            metadata: ObjectMeta { name: "r".into(), ..Default::default() },
            rules,
            ..Default::default()
        };
        let yes = |_: &RoleKey| true;
        assert_eq!(rbac_object(RbacObject::Role(&role), &yes)[0].severity, Severity::Note);
        assert_eq!(rbac_object(RbacObject::ClusterRole(&cluster_role), &yes)[0].severity, Severity::Warning);
    }
}
