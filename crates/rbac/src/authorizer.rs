//! The indexed RBAC authorizer: Kubernetes' decision, without walking every binding.
//!
//! kube-apiserver lists every ClusterRoleBinding and every RoleBinding of the request namespace
//! on each request and scans their subjects. Here bindings are indexed by subject (user name,
//! group name; a service account is its user name) and by scope (cluster, or one namespace), and
//! each binding entry points at a role slot resolved ahead of time. A decision therefore costs a
//! few hash lookups plus the rules of the bindings that name the requester, whatever the number
//! of bindings that do not. Writes update the index in place (no rebuild), under a `RwLock`
//! readers share.
//!
//! The semantics stay Kubernetes' union: a binding whose role is missing grants nothing and its
//! lookup error shows in the denial reason; evaluation order only decides which binding the
//! reason names (cluster bindings first, then the namespace's, as in Kubernetes).

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};

use crate::attributes::{Attributes, SERVICE_ACCOUNT_PREFIX, UserInfo};
use crate::go::quote;
use crate::rule::rule_allows;
use crate::types::{
    CLUSTER_ROLE_KIND, ClusterRole, ClusterRoleBinding, GROUP_KIND, PolicyRule, ROLE_KIND, Role, RoleBinding, RoleRef,
    SERVICE_ACCOUNT_KIND, Subject, USER_KIND,
};

type Map<K, V> = HashMap<K, V, RandomState>;

/// The role a binding's roleRef resolves to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleKey {
    /// A Role, looked up in the binding's namespace.
    Role {
        namespace: String,
        name: String,
    },
    ClusterRole {
        name: String,
    },
    /// A roleRef kind Kubernetes does not resolve (only possible in unvalidated manifests).
    Unsupported {
        kind: String,
        name: String,
    },
}

impl RoleKey {
    /// What `role_ref` names, for a binding in `binding_namespace` (`""` for a ClusterRoleBinding).
    pub fn of(role_ref: &RoleRef, binding_namespace: &str) -> Self {
        match role_ref.kind.as_str() {
            ROLE_KIND => RoleKey::Role { namespace: binding_namespace.into(), name: role_ref.name.clone() },
            CLUSTER_ROLE_KIND => RoleKey::ClusterRole { name: role_ref.name.clone() },
            kind => RoleKey::Unsupported { kind: kind.into(), name: role_ref.name.clone() },
        }
    }

    pub fn name(&self) -> &str {
        match self {
            RoleKey::Role { name, .. } | RoleKey::ClusterRole { name } | RoleKey::Unsupported { name, .. } => name,
        }
    }

    /// The error the authorizer's role lookup gives when the role does not exist, in Kubernetes'
    /// words: `clusterrole.rbac.authorization.k8s.io "x" not found`.
    pub fn not_found(&self) -> String {
        match self {
            RoleKey::Role { name, .. } => format!("role.rbac.authorization.k8s.io {} not found", quote(name)),
            RoleKey::ClusterRole { name } => format!("clusterrole.rbac.authorization.k8s.io {} not found", quote(name)),
            RoleKey::Unsupported { kind, .. } => format!("unsupported role reference kind: {}", quote(kind)),
        }
    }
}

impl fmt::Display for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleKey::Role { namespace, name } => write!(f, "Role {} in namespace {}", quote(name), quote(namespace)),
            RoleKey::ClusterRole { name } => write!(f, "ClusterRole {}", quote(name)),
            RoleKey::Unsupported { kind, name } => write!(f, "{kind} {}", quote(name)),
        }
    }
}

/// A binding as the authorizer keeps it: a RoleBinding (namespace set) or a ClusterRoleBinding
/// (namespace empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingRecord {
    pub namespace: String,
    pub name: String,
    pub role_ref: RoleRef,
    pub subjects: Vec<Subject>,
}

impl BindingRecord {
    pub fn is_cluster_role_binding(&self) -> bool {
        self.namespace.is_empty()
    }

    pub fn role_key(&self) -> RoleKey {
        RoleKey::of(&self.role_ref, &self.namespace)
    }

    /// The first subject that names `user` (the one Kubernetes' reasons mention).
    pub fn subject_for(&self, user: &UserInfo) -> Option<&Subject> {
        self.subjects.iter().find(|s| subject_applies(s, user, &self.namespace))
    }

    /// `ClusterRoleBinding "x" of ClusterRole "y" to User "z"` or
    /// `RoleBinding "x/ns" of Role "y" to Group "g"`, as kube-apiserver describes a binding.
    pub fn describe(&self, subject: &Subject) -> String {
        let (kind, name) = if self.is_cluster_role_binding() {
            ("ClusterRoleBinding", self.name.clone())
        } else {
            ("RoleBinding", format!("{}/{}", self.name, self.namespace))
        };
        format!(
            "{kind} {} of {} {} to {}",
            quote(&name),
            self.role_ref.kind,
            quote(&self.role_ref.name),
            describe_subject(subject, &self.namespace)
        )
    }
}

impl From<&RoleBinding> for BindingRecord {
    fn from(b: &RoleBinding) -> Self {
        BindingRecord {
            namespace: b.metadata.namespace.clone(),
            name: b.metadata.name.clone(),
            role_ref: b.role_ref.clone(),
            subjects: b.subjects.clone(),
        }
    }
}

impl From<&ClusterRoleBinding> for BindingRecord {
    fn from(b: &ClusterRoleBinding) -> Self {
        BindingRecord {
            namespace: String::new(),
            name: b.metadata.name.clone(),
            role_ref: b.role_ref.clone(),
            subjects: b.subjects.clone(),
        }
    }
}

/// `User "u"`, `Group "g"`, `ServiceAccount "name/namespace"`.
pub fn describe_subject(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == SERVICE_ACCOUNT_KIND {
        let ns = if subject.namespace.is_empty() { binding_namespace } else { &subject.namespace };
        return format!("{} {}", subject.kind, quote(&format!("{}/{}", subject.name, ns)));
    }
    format!("{} {}", subject.kind, quote(&subject.name))
}

/// Whether `subject` of a binding in `binding_namespace` names `user` (Kubernetes' `appliesToUser`).
pub fn subject_applies(subject: &Subject, user: &UserInfo, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        USER_KIND => user.name == subject.name,
        GROUP_KIND => user.groups.iter().any(|g| *g == subject.name),
        SERVICE_ACCOUNT_KIND => {
            // `system:serviceaccount:<ns>:<name>`, compared without building the string.
            let ns = if subject.namespace.is_empty() { binding_namespace } else { &subject.namespace };
            user.name
                .strip_prefix(SERVICE_ACCOUNT_PREFIX)
                .and_then(|rest| rest.strip_prefix(ns))
                .and_then(|rest| rest.strip_prefix(':'))
                .is_some_and(|name| name == subject.name)
        }
        _ => false,
    }
}

enum SubjectKey {
    User(String),
    Group(String),
}

/// The index key of a subject: a service account is the user `system:serviceaccount:<ns>:<name>`,
/// its namespace defaulting to the binding's. Unknown kinds match nobody.
fn subject_key(subject: &Subject, binding_namespace: &str) -> Option<SubjectKey> {
    match subject.kind.as_str() {
        USER_KIND => Some(SubjectKey::User(subject.name.clone())),
        GROUP_KIND => Some(SubjectKey::Group(subject.name.clone())),
        SERVICE_ACCOUNT_KIND => {
            let ns = if subject.namespace.is_empty() { binding_namespace } else { &subject.namespace };
            Some(SubjectKey::User(format!("{SERVICE_ACCOUNT_PREFIX}{ns}:{}", subject.name)))
        }
        _ => None,
    }
}

/// An authorization decision: RBAC allows, or has no opinion (it never denies).
#[derive(Clone, Debug)]
pub enum Decision {
    Allow(Allowed),
    NoOpinion(NoOpinion),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason kube-apiserver reports: `RBAC: allowed by ...`, or for no opinion `""` or
    /// `RBAC: <role lookup errors>`.
    pub fn reason(&self) -> String {
        match self {
            Decision::Allow(a) => a.to_string(),
            Decision::NoOpinion(n) => n.to_string(),
        }
    }
}

/// The binding (and its subject) that allowed a request.
#[derive(Clone, Debug)]
pub struct Allowed {
    binding: Arc<BindingRecord>,
    subject: usize,
}

impl Allowed {
    pub fn binding(&self) -> &BindingRecord {
        &self.binding
    }

    /// The binding's first subject naming the requester.
    pub fn subject(&self) -> &Subject {
        &self.binding.subjects[self.subject]
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RBAC: allowed by {}", self.binding.describe(self.subject()))
    }
}

/// No binding allowed the request; the roles that applicable bindings name but that do not exist.
#[derive(Clone, Debug, Default)]
pub struct NoOpinion {
    pub missing_roles: Vec<RoleKey>,
}

impl fmt::Display for NoOpinion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match aggregate_errors(&self.missing_roles) {
            Some(errors) => write!(f, "RBAC: {errors}"),
            None => Ok(()),
        }
    }
}

/// Kubernetes' `utilerrors.Aggregate` message of role lookup errors: one message as is, several
/// (deduplicated) as `[a, b]`.
pub(crate) fn aggregate_errors(missing: &[RoleKey]) -> Option<String> {
    let mut messages: Vec<String> = Vec::new();
    for key in missing {
        let message = key.not_found();
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    match messages.len() {
        0 => None,
        1 => messages.pop(),
        _ => Some(format!("[{}]", messages.join(", "))),
    }
}

/// One `resourceRules` entry of a SelfSubjectRulesReview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
}

/// One `nonResourceRules` entry of a SelfSubjectRulesReview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    #[serde(rename = "nonResourceURLs", default, skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

/// The `status` of a SelfSubjectRulesReview (`SubjectRulesReviewStatus`), as RBAC fills it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectRulesReviewStatus {
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
    pub incomplete: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

impl SubjectRulesReviewStatus {
    /// The review of `rules` (in evaluation order) and the role lookup errors met on the way.
    pub fn from_rules(rules: &[PolicyRule], missing_roles: &[RoleKey]) -> Self {
        let mut status = SubjectRulesReviewStatus::default();
        for rule in rules {
            if !rule.resources.is_empty() {
                status.resource_rules.push(ResourceRule {
                    verbs: rule.verbs.clone(),
                    api_groups: rule.api_groups.clone(),
                    resources: rule.resources.clone(),
                    resource_names: rule.resource_names.clone(),
                });
            }
            if !rule.non_resource_urls.is_empty() {
                status.non_resource_rules.push(NonResourceRule {
                    verbs: rule.verbs.clone(),
                    non_resource_urls: rule.non_resource_urls.clone(),
                });
            }
        }
        status.evaluation_error = aggregate_errors(missing_roles).unwrap_or_default();
        status
    }

    /// The rules again as PolicyRules (what kubectl converts them back to before printing).
    pub fn policy_rules(&self) -> Vec<PolicyRule> {
        let resource = self.resource_rules.iter().map(|r| PolicyRule {
            verbs: r.verbs.clone(),
            api_groups: r.api_groups.clone(),
            resources: r.resources.clone(),
            resource_names: r.resource_names.clone(),
            non_resource_urls: Vec::new(),
        });
        let non_resource = self.non_resource_rules.iter().map(|r| PolicyRule {
            verbs: r.verbs.clone(),
            non_resource_urls: r.non_resource_urls.clone(),
            ..Default::default()
        });
        resource.chain(non_resource).collect()
    }
}

/// A binding with its role's rules, or the key of its missing role.
pub type BindingRules = (Arc<BindingRecord>, Result<Arc<[PolicyRule]>, RoleKey>);

/// A binding that grants a request to one of its subjects (the answer of `who_can`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub binding: Arc<BindingRecord>,
    pub subject: Subject,
}

/// Which RoleBindings `who_can` considers besides the ClusterRoleBindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The request's namespace only (none for a cluster-scoped request).
    RequestNamespace,
    /// Every namespace: each RoleBinding is asked about the request in its own namespace.
    AllNamespaces,
}

struct RoleSlot {
    key: RoleKey,
    rules: Option<Arc<[PolicyRule]>>,
    /// How many bindings point here; a slot with no rules and no bindings is freed.
    refs: usize,
}

#[derive(Clone)]
struct Entry {
    binding: Arc<BindingRecord>,
    slot: u32,
}

#[derive(Default)]
struct Subjects {
    users: Map<String, Vec<Entry>>,
    groups: Map<String, Vec<Entry>>,
}

impl Subjects {
    fn visit<'a>(&'a self, user: &UserInfo, f: &mut impl FnMut(&'a Entry) -> ControlFlow<()>) -> ControlFlow<()> {
        if let Some(entries) = self.users.get(user.name.as_str()) {
            entries.iter().try_for_each(&mut *f)?;
        }
        if !self.groups.is_empty() {
            for group in &user.groups {
                if let Some(entries) = self.groups.get(group.as_str()) {
                    entries.iter().try_for_each(&mut *f)?;
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn list(&mut self, key: SubjectKey) -> &mut Vec<Entry> {
        match key {
            SubjectKey::User(name) => self.users.entry(name).or_default(),
            SubjectKey::Group(name) => self.groups.entry(name).or_default(),
        }
    }

    fn remove(&mut self, key: SubjectKey, binding: &Arc<BindingRecord>) {
        let (map, name) = match key {
            SubjectKey::User(name) => (&mut self.users, name),
            SubjectKey::Group(name) => (&mut self.groups, name),
        };
        if let Some(entries) = map.get_mut(&name) {
            entries.retain(|e| !Arc::ptr_eq(&e.binding, binding));
            if entries.is_empty() {
                map.remove(&name);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// The index behind [`Authorizer`]; what a read lock hands out.
#[derive(Default)]
pub(crate) struct Index {
    slots: Vec<RoleSlot>,
    free: Vec<u32>,
    slot_of: Map<RoleKey, u32>,
    bindings: Map<(String, String), (Arc<BindingRecord>, u32)>,
    cluster: Subjects,
    namespaced: Map<String, Subjects>,
}

impl Index {
    fn slot_for(&mut self, key: &RoleKey) -> u32 {
        if let Some(&id) = self.slot_of.get(key) {
            return id;
        }
        let slot = RoleSlot { key: key.clone(), rules: None, refs: 0 };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.slot_of.insert(key.clone(), id);
        id
    }

    fn release_if_unused(&mut self, id: u32) {
        let slot = &self.slots[id as usize];
        if slot.refs == 0 && slot.rules.is_none() {
            self.slot_of.remove(&slot.key);
            self.free.push(id);
        }
    }

    fn set_role(&mut self, key: RoleKey, rules: Option<Arc<[PolicyRule]>>) {
        if rules.is_none() && !self.slot_of.contains_key(&key) {
            return;
        }
        let id = self.slot_for(&key);
        self.slots[id as usize].rules = rules;
        self.release_if_unused(id);
    }

    fn insert_binding(&mut self, record: BindingRecord) {
        let key = (record.namespace.clone(), record.name.clone());
        self.remove_binding(&key.0, &key.1);
        let slot = self.slot_for(&record.role_key());
        self.slots[slot as usize].refs += 1;
        let binding = Arc::new(record);
        let subjects = if binding.namespace.is_empty() {
            &mut self.cluster
        } else {
            self.namespaced.entry(binding.namespace.clone()).or_default()
        };
        for subject in &binding.subjects {
            if let Some(k) = subject_key(subject, &binding.namespace) {
                let list = subjects.list(k);
                // A subject listed twice in one binding is indexed once.
                if !list.last().is_some_and(|e| Arc::ptr_eq(&e.binding, &binding)) {
                    list.push(Entry { binding: binding.clone(), slot });
                }
            }
        }
        self.bindings.insert(key, (binding, slot));
    }

    fn remove_binding(&mut self, namespace: &str, name: &str) {
        let Some((binding, slot)) = self.bindings.remove(&(namespace.to_string(), name.to_string())) else {
            return;
        };
        let subjects = if namespace.is_empty() { Some(&mut self.cluster) } else { self.namespaced.get_mut(namespace) };
        if let Some(subjects) = subjects {
            for subject in &binding.subjects {
                if let Some(k) = subject_key(subject, namespace) {
                    subjects.remove(k, &binding);
                }
            }
            if !namespace.is_empty() && subjects.is_empty() {
                self.namespaced.remove(namespace);
            }
        }
        self.slots[slot as usize].refs -= 1;
        self.release_if_unused(slot);
    }

    /// Calls `f` for every binding entry that applies to `user` for a request in `namespace`:
    /// cluster bindings, then (for a namespaced request) the namespace's bindings.
    fn visit<'a>(
        &'a self,
        user: &UserInfo,
        namespace: &str,
        f: &mut impl FnMut(&'a Entry) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.cluster.visit(user, f)?;
        if !namespace.is_empty()
            && let Some(subjects) = self.namespaced.get(namespace)
        {
            subjects.visit(user, f)?;
        }
        ControlFlow::Continue(())
    }

    fn rules(&self, slot: u32) -> Result<&[PolicyRule], &RoleKey> {
        let slot = &self.slots[slot as usize];
        slot.rules.as_deref().ok_or(&slot.key)
    }

    fn authorize(&self, attrs: &Attributes) -> Decision {
        let mut missing = Vec::new();
        let mut allowed = None;
        let _ = self.visit(&attrs.user, attrs.namespace(), &mut |entry| {
            match self.rules(entry.slot) {
                Ok(rules) => {
                    if rules.iter().any(|rule| rule_allows(attrs, rule)) {
                        allowed = Some(entry.binding.clone());
                        return ControlFlow::Break(());
                    }
                }
                Err(key) => missing.push(key.clone()),
            }
            ControlFlow::Continue(())
        });
        match allowed {
            Some(binding) => {
                let subject = binding
                    .subjects
                    .iter()
                    .position(|s| subject_applies(s, &attrs.user, &binding.namespace))
                    .unwrap_or(0);
                Decision::Allow(Allowed { binding, subject })
            }
            None => Decision::NoOpinion(NoOpinion { missing_roles: missing }),
        }
    }

    /// Every binding that applies to `user` in `namespace`, each once, in evaluation order.
    fn applicable(&self, user: &UserInfo, namespace: &str) -> Vec<&Entry> {
        let mut entries: Vec<&Entry> = Vec::new();
        let _ = self.visit(user, namespace, &mut |entry| {
            if !entries.iter().any(|e| Arc::ptr_eq(&e.binding, &entry.binding)) {
                entries.push(entry);
            }
            ControlFlow::Continue(())
        });
        entries
    }

    /// Kubernetes' `RulesFor`: the rules of every applicable binding, and the missing roles.
    fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<RoleKey>) {
        let mut rules = Vec::new();
        let mut missing = Vec::new();
        for entry in self.applicable(user, namespace) {
            match self.rules(entry.slot) {
                Ok(r) => rules.extend_from_slice(r),
                Err(key) => missing.push(key.clone()),
            }
        }
        (rules, missing)
    }
}

/// The indexed RBAC authorizer, updated incrementally and read from many threads.
///
/// ```
/// use rbac::{Authorizer, Attributes, ClusterRole, ClusterRoleBinding, PolicyRule, ResourceAttributes, RoleRef, Subject, UserInfo};
/// let authz = Authorizer::new();
/// authz.upsert_cluster_role(&ClusterRole::new("reader", vec![PolicyRule::resource(&["get"], &[""], &["pods"])]));
/// authz.upsert_cluster_role_binding(&ClusterRoleBinding::new("r", RoleRef::cluster_role("reader"), vec![Subject::user("jane")]));
/// let attrs = Attributes::resource(UserInfo::new("jane", &[]), "get", ResourceAttributes::new("dev", "", "pods"));
/// assert_eq!(authz.authorize(&attrs).reason(), r#"RBAC: allowed by ClusterRoleBinding "r" of ClusterRole "reader" to User "jane""#);
/// ```
#[derive(Default)]
pub struct Authorizer {
    index: RwLock<Index>,
}

impl Authorizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An authorizer holding all these objects.
    pub fn from_objects(
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> Self {
        let authz = Self::new();
        roles.iter().for_each(|r| authz.upsert_role(r));
        cluster_roles.iter().for_each(|r| authz.upsert_cluster_role(r));
        role_bindings.iter().for_each(|b| authz.upsert_role_binding(b));
        cluster_role_bindings.iter().for_each(|b| authz.upsert_cluster_role_binding(b));
        authz
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, f: impl FnOnce(&mut Index)) {
        f(&mut self.index.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds or replaces a Role (by namespace/name).
    pub fn upsert_role(&self, role: &Role) {
        let key = RoleKey::Role { namespace: role.metadata.namespace.clone(), name: role.metadata.name.clone() };
        let rules: Arc<[PolicyRule]> = role.rules.clone().into();
        self.write(|index| index.set_role(key, Some(rules)));
    }

    pub fn delete_role(&self, namespace: &str, name: &str) {
        let key = RoleKey::Role { namespace: namespace.into(), name: name.into() };
        self.write(|index| index.set_role(key, None));
    }

    /// Adds or replaces a ClusterRole (by name). Its `rules` are used as they are: aggregation is
    /// the controller's job ([`crate::aggregate`]).
    pub fn upsert_cluster_role(&self, role: &ClusterRole) {
        let key = RoleKey::ClusterRole { name: role.metadata.name.clone() };
        let rules: Arc<[PolicyRule]> = role.rules.clone().into();
        self.write(|index| index.set_role(key, Some(rules)));
    }

    pub fn delete_cluster_role(&self, name: &str) {
        let key = RoleKey::ClusterRole { name: name.into() };
        self.write(|index| index.set_role(key, None));
    }

    /// Adds or replaces a RoleBinding (by namespace/name).
    pub fn upsert_role_binding(&self, binding: &RoleBinding) {
        let record = BindingRecord::from(binding);
        self.write(|index| index.insert_binding(record));
    }

    pub fn delete_role_binding(&self, namespace: &str, name: &str) {
        if namespace.is_empty() {
            return;
        }
        self.write(|index| index.remove_binding(namespace, name));
    }

    /// Adds or replaces a ClusterRoleBinding (by name).
    pub fn upsert_cluster_role_binding(&self, binding: &ClusterRoleBinding) {
        let record = BindingRecord::from(binding);
        self.write(|index| index.insert_binding(record));
    }

    pub fn delete_cluster_role_binding(&self, name: &str) {
        self.write(|index| index.remove_binding("", name));
    }

    /// RBAC's decision on a request. `system:masters` is not special here: the API server asks its
    /// privileged-group authorizer first.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        self.read().authorize(attrs)
    }

    /// Kubernetes' `RulesFor(user, namespace)`: the rules of every binding that applies (cluster
    /// bindings, plus the namespace's when `namespace` is not empty), and the roles found missing.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<RoleKey>) {
        self.read().rules_for(user, namespace)
    }

    /// What a SelfSubjectRulesReview of `namespace` answers `user` (rules unmerged, in evaluation
    /// order; `incomplete` false; role lookup errors in `evaluationError`). The API server answers
    /// an empty namespace with 400 "no namespace on request" before calling this.
    pub fn rules_review(&self, user: &UserInfo, namespace: &str) -> SubjectRulesReviewStatus {
        let (rules, missing) = self.rules_for(user, namespace);
        SubjectRulesReviewStatus::from_rules(&rules, &missing)
    }

    /// Every (binding, subject) that grants the request `attrs` (its user is ignored), cluster
    /// bindings first, each group sorted by namespace and name.
    pub fn who_can(&self, attrs: &Attributes, scope: Scope) -> Vec<Grant> {
        let index = self.read();
        let mut bindings: Vec<&(Arc<BindingRecord>, u32)> = index
            .bindings
            .values()
            .filter(|(b, _)| {
                b.is_cluster_role_binding()
                    || match scope {
                        Scope::AllNamespaces => attrs.resource.is_some(),
                        Scope::RequestNamespace => !attrs.namespace().is_empty() && b.namespace == attrs.namespace(),
                    }
            })
            .collect();
        bindings.sort_by(|(a, _), (b, _)| {
            (!a.namespace.is_empty(), &a.namespace, &a.name).cmp(&(!b.namespace.is_empty(), &b.namespace, &b.name))
        });
        let mut grants = Vec::new();
        for (binding, slot) in bindings {
            let Ok(rules) = index.rules(*slot) else { continue };
            let mut asked = attrs.clone();
            if let (Some(r), false) = (asked.resource.as_mut(), binding.is_cluster_role_binding()) {
                r.namespace = binding.namespace.clone();
            }
            if rules.iter().any(|rule| rule_allows(&asked, rule)) {
                for subject in &binding.subjects {
                    if subject_key(subject, &binding.namespace).is_some() {
                        grants.push(Grant { binding: binding.clone(), subject: subject.clone() });
                    }
                }
            }
        }
        grants
    }

    /// Every binding held, with its role's rules (`Err` with the role key when the role is
    /// missing), ClusterRoleBindings first, then by namespace and name.
    pub fn bindings(&self) -> Vec<BindingRules> {
        let index = self.read();
        let mut all: Vec<_> = index
            .bindings
            .values()
            .map(|(b, slot)| {
                let slot = &index.slots[*slot as usize];
                (b.clone(), slot.rules.clone().ok_or_else(|| slot.key.clone()))
            })
            .collect();
        all.sort_by(|(a, _), (b, _)| {
            (!a.namespace.is_empty(), &a.namespace, &a.name).cmp(&(!b.namespace.is_empty(), &b.namespace, &b.name))
        });
        all
    }

    /// The rules of a role, if it exists.
    pub fn role_rules(&self, key: &RoleKey) -> Option<Arc<[PolicyRule]>> {
        let index = self.read();
        index.slot_of.get(key).and_then(|&id| index.slots[id as usize].rules.clone())
    }

    /// How many bindings are held.
    pub fn binding_count(&self) -> usize {
        self.read().bindings.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::ResourceAttributes;

    fn pods(ns: &str) -> ResourceAttributes {
        ResourceAttributes::new(ns, "", "pods")
    }

    #[test]
    fn incremental_updates_and_reasons() {
        let authz = Authorizer::new();
        let jane = UserInfo::new("jane", &["dev"]);
        let ask = |ns: &str| Attributes::resource(jane.clone(), "get", pods(ns));
        // A binding to a role that does not exist yet grants nothing and says why.
        authz.upsert_role_binding(&RoleBinding::new("a", "rb", RoleRef::role("reader"), vec![Subject::group("dev")]));
        let d = authz.authorize(&ask("a"));
        assert!(!d.is_allowed());
        assert_eq!(d.reason(), r#"RBAC: role.rbac.authorization.k8s.io "reader" not found"#);
        // The role arriving later is picked up without touching the binding.
        authz.upsert_role(&Role::new("a", "reader", vec![PolicyRule::resource(&["get"], &[""], &["pods"])]));
        let d = authz.authorize(&ask("a"));
        assert_eq!(d.reason(), r#"RBAC: allowed by RoleBinding "rb/a" of Role "reader" to Group "dev""#);
        assert!(!authz.authorize(&ask("b")).is_allowed());
        assert_eq!(authz.authorize(&ask("b")).reason(), "");
        // Replacing the role's rules takes effect; deleting the binding removes the grant.
        authz.upsert_role(&Role::new("a", "reader", vec![PolicyRule::resource(&["list"], &[""], &["pods"])]));
        assert!(!authz.authorize(&ask("a")).is_allowed());
        authz.upsert_role(&Role::new("a", "reader", vec![PolicyRule::resource(&["get"], &[""], &["pods"])]));
        authz.delete_role_binding("a", "rb");
        assert!(!authz.authorize(&ask("a")).is_allowed());
        assert_eq!(authz.binding_count(), 0);
    }

    #[test]
    fn first_matching_subject_is_named() {
        let authz = Authorizer::new();
        authz.upsert_cluster_role(&ClusterRole::new("r", vec![PolicyRule::non_resource(&["get"], &["/healthz"])]));
        authz.upsert_cluster_role_binding(&ClusterRoleBinding::new(
            "b",
            RoleRef::cluster_role("r"),
            vec![Subject::group("g"), Subject::user("u"), Subject::service_account("ns", "sa")],
        ));
        let d = authz.authorize(&Attributes::non_resource(UserInfo::new("u", &["g"]), "get", "/healthz"));
        assert_eq!(d.reason(), r#"RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to Group "g""#);
        let sa = UserInfo::new("system:serviceaccount:ns:sa", &[]);
        let d = authz.authorize(&Attributes::non_resource(sa, "get", "/healthz"));
        assert_eq!(
            d.reason(),
            r#"RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to ServiceAccount "sa/ns""#
        );
    }

    #[test]
    fn missing_roles_aggregate() {
        let authz = Authorizer::new();
        for (name, role) in [("b1", "x"), ("b2", "y"), ("b3", "x")] {
            authz.upsert_cluster_role_binding(&ClusterRoleBinding::new(
                name,
                RoleRef::cluster_role(role),
                vec![Subject::user("u")],
            ));
        }
        let reason = authz.authorize(&Attributes::non_resource(UserInfo::new("u", &[]), "get", "/")).reason();
        assert!(
            reason
                == r#"RBAC: [clusterrole.rbac.authorization.k8s.io "x" not found, clusterrole.rbac.authorization.k8s.io "y" not found]"#
                || reason
                    == r#"RBAC: [clusterrole.rbac.authorization.k8s.io "y" not found, clusterrole.rbac.authorization.k8s.io "x" not found]"#,
            "{reason}"
        );
    }

    #[test]
    fn role_slots_are_freed() {
        let authz = Authorizer::new();
        authz.upsert_role_binding(&RoleBinding::new("a", "rb", RoleRef::role("r"), vec![Subject::user("u")]));
        authz.delete_role_binding("a", "rb");
        authz.delete_role("a", "r");
        let index = authz.read();
        assert!(index.slot_of.is_empty());
        assert!(index.namespaced.is_empty());
        assert_eq!(index.free.len(), 1);
    }
}
