//! The indexed RBAC authorizer: Kubernetes' decision, without walking every binding.
//!
//! kube-apiserver lists every ClusterRoleBinding and every RoleBinding of the request namespace
//! on each request and scans their subjects. Here bindings are indexed by subject (user name,
//! group name; a service account is its user name) and by scope (cluster, or one namespace), and
//! each binding entry points at a role slot resolved ahead of time. A decision therefore costs a
//! few hash lookups plus the rules of the bindings that name the requester, whatever the number
//! of bindings that do not.
//!
//! Readers never lock: the index is an immutable snapshot behind an `ArcSwap`, loaded without
//! writing any shared counter. A write copies the snapshot in O(1) (its maps are `imbl`'s
//! persistent maps and vectors), changes the copy along one path per map (O(log n); the index is
//! never rebuilt) and publishes it; writers are serialized, and [`Authorizer::update`] batches
//! several changes into one copy.
//!
//! The semantics stay Kubernetes' union: a binding whose role is missing grants nothing and its
//! lookup error shows in the denial reason; evaluation order only decides which binding the
//! reason names (cluster bindings first, then the namespace's, as in Kubernetes).

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use foldhash::fast::RandomState;
use go_format::quote;
use serde::{Deserialize, Serialize};

use crate::attributes::{Attributes, SERVICE_ACCOUNT_PREFIX, UserInfo};
use crate::rule::rule_allows;
use crate::types::{
    CLUSTER_ROLE_KIND, ClusterRole, ClusterRoleBinding, GROUP_KIND, PolicyRule, ROLE_KIND, Role, RoleBinding, RoleRef,
    SERVICE_ACCOUNT_KIND, Subject, USER_KIND,
};

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
        GROUP_KIND => user.groups.contains(&subject.name),
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

enum SubjectKey<'a> {
    User(Cow<'a, str>),
    Group(&'a str),
}

/// The index key of a subject: a service account is the user `system:serviceaccount:<ns>:<name>`,
/// its namespace defaulting to the binding's. Unknown kinds match nobody.
fn subject_key<'a>(subject: &'a Subject, binding_namespace: &str) -> Option<SubjectKey<'a>> {
    match subject.kind.as_str() {
        USER_KIND => Some(SubjectKey::User(Cow::Borrowed(&subject.name))),
        GROUP_KIND => Some(SubjectKey::Group(&subject.name)),
        SERVICE_ACCOUNT_KIND => {
            let ns = if subject.namespace.is_empty() { binding_namespace } else { &subject.namespace };
            Some(SubjectKey::User(Cow::Owned(format!("{SERVICE_ACCOUNT_PREFIX}{ns}:{}", subject.name))))
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

/// The binding (and its subject) that allowed a request. It keeps the snapshot of the index the
/// decision was made on (no reference count is touched on the way), so hold it briefly.
pub struct Allowed {
    index: Guard<Arc<Index>>,
    binding: u32,
    subject: usize,
}

impl Allowed {
    pub fn binding(&self) -> &BindingRecord {
        // The number came from this very snapshot, which holds the binding.
        &self.index.binding(self.binding).expect("the snapshot holds the binding that allowed").record
    }

    /// The binding's first subject naming the requester.
    pub fn subject(&self) -> &Subject {
        &self.binding().subjects[self.subject]
    }
}

impl Clone for Allowed {
    fn clone(&self) -> Self {
        Allowed { index: Guard::from_inner(Arc::clone(&self.index)), binding: self.binding, subject: self.subject }
    }
}

impl fmt::Debug for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allowed").field("binding", self.binding()).field("subject", self.subject()).finish()
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RBAC: allowed by {}", self.binding().describe(self.subject()))
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

/// A role as the index holds it: its key (for the "not found" error) and its rules, if it exists.
#[derive(Clone)]
struct RoleSlot {
    key: Arc<RoleKey>,
    rules: Option<Arc<[PolicyRule]>>,
    /// How many bindings point here; a slot with no rules and no bindings is freed.
    refs: u32,
}

/// A binding as the index holds it, with the slot of the role it names.
#[derive(Clone)]
struct BindingSlot {
    record: Arc<BindingRecord>,
    slot: u32,
}

/// One binding naming one subject: what a decision walks. Bindings and role slots are numbered, so
/// an entry is a few words and copying a subject's list on write is a `memcpy` plus reference
/// counts.
#[derive(Clone)]
struct Entry {
    binding: Arc<BindingRecord>,
    id: u32,
    slot: u32,
}

/// Every binding that names one subject (a user name or a group name): the ClusterRoleBindings,
/// and the RoleBindings by namespace.
#[derive(Clone, Default)]
struct SubjectBindings {
    cluster: Vec<Entry>,
    namespaced: ByNamespace,
}

/// How many namespaces a subject's RoleBindings may span before [`ByNamespace`] becomes a map.
const FEW_NAMESPACES: usize = 8;

/// A subject's RoleBinding entries by namespace. Most subjects have RoleBindings in a few
/// namespaces: those are a short list (a lookup compares a few names, a write copies a few
/// pointers, and no map node is allocated per subject); past [`FEW_NAMESPACES`] a persistent
/// map, so a write stays O(log n) for a group bound in thousands of namespaces.
#[derive(Clone)]
enum ByNamespace {
    Few(Vec<(Arc<str>, Arc<[Entry]>)>),
    Many(PersistentMap<Arc<str>, Arc<[Entry]>>),
}

impl Default for ByNamespace {
    fn default() -> Self {
        ByNamespace::Few(Vec::new())
    }
}

impl ByNamespace {
    fn is_empty(&self) -> bool {
        match self {
            ByNamespace::Few(list) => list.is_empty(),
            ByNamespace::Many(map) => map.is_empty(),
        }
    }

    fn get(&self, namespace: &str) -> Option<&Arc<[Entry]>> {
        match self {
            ByNamespace::Few(list) => list.iter().find(|(ns, _)| **ns == *namespace).map(|(_, entries)| entries),
            ByNamespace::Many(map) => map.get(namespace),
        }
    }

    fn get_mut(&mut self, namespace: &str) -> Option<&mut Arc<[Entry]>> {
        match self {
            ByNamespace::Few(list) => list.iter_mut().find(|(ns, _)| **ns == *namespace).map(|(_, entries)| entries),
            ByNamespace::Many(map) => map.get_mut(namespace),
        }
    }

    /// Adds the entries of a namespace not held yet.
    fn insert(&mut self, namespace: &str, entries: Arc<[Entry]>) {
        match self {
            ByNamespace::Few(list) if list.len() < FEW_NAMESPACES => list.push((namespace.into(), entries)),
            ByNamespace::Few(list) => {
                let mut map: PersistentMap<_, _> = list.drain(..).collect();
                map.insert(namespace.into(), entries);
                *self = ByNamespace::Many(map);
            }
            ByNamespace::Many(map) => {
                map.insert(namespace.into(), entries);
            }
        }
    }

    fn remove(&mut self, namespace: &str) {
        match self {
            ByNamespace::Few(list) => list.retain(|(ns, _)| **ns != *namespace),
            ByNamespace::Many(map) => {
                map.remove(namespace);
            }
        }
    }
}

impl SubjectBindings {
    fn is_empty(&self) -> bool {
        self.cluster.is_empty() && self.namespaced.is_empty()
    }

    /// Adds `entry` to the list of `namespace` (`""`: the cluster's), once per binding.
    fn add(&mut self, namespace: &str, entry: Entry) {
        if namespace.is_empty() {
            if self.cluster.last().is_none_or(|e| e.id != entry.id) {
                self.cluster.push(entry);
            }
            return;
        }
        match self.namespaced.get_mut(namespace) {
            Some(list) => {
                if list.last().is_none_or(|e| e.id != entry.id) {
                    *list = list.iter().cloned().chain([entry]).collect();
                }
            }
            None => self.namespaced.insert(namespace, Arc::new([entry])),
        }
    }

    fn remove(&mut self, namespace: &str, id: u32) {
        if namespace.is_empty() {
            self.cluster.retain(|e| e.id != id);
            return;
        }
        let Some(list) = self.namespaced.get_mut(namespace) else { return };
        if list.len() == 1 && list[0].id == id {
            self.namespaced.remove(namespace);
        } else {
            *list = list.iter().filter(|e| e.id != id).cloned().collect();
        }
    }
}

/// A persistent (structurally shared) hash map: cloning it is O(1) and a write copies one path.
type PersistentMap<K, V> = imbl::GenericHashMap<K, V, RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// Subjects by name, each behind an `Arc` so a write copies pointers along its path, not lists.
type SubjectMap = PersistentMap<Arc<str>, Arc<SubjectBindings>>;

/// How many subjects a decision remembers between its cluster pass and its namespace pass before
/// it looks the rest up again (a user and up to seven groups with RoleBindings).
const REMEMBERED: usize = 8;

/// The RoleBindings of `namespace` in `bindings`, each passed to `f`.
fn visit_namespace<'a>(
    bindings: &'a SubjectBindings,
    namespace: &str,
    f: &mut impl FnMut(&'a Entry) -> ControlFlow<()>,
) -> ControlFlow<()> {
    match bindings.namespaced.get(namespace) {
        Some(entries) => entries.iter().try_for_each(f),
        None => ControlFlow::Continue(()),
    }
}

/// One immutable snapshot of the index: what readers see. Writers clone it (O(1): the maps are
/// persistent), change the clone and publish it.
#[derive(Clone, Default)]
pub(crate) struct Index {
    slots: imbl::Vector<RoleSlot>,
    free_slots: imbl::Vector<u32>,
    slot_of: PersistentMap<Arc<RoleKey>, u32>,
    records: imbl::Vector<Option<BindingSlot>>,
    free_records: imbl::Vector<u32>,
    /// `namespace/name` (ClusterRoleBindings: `/name`) to the binding's number.
    binding_ids: PersistentMap<Arc<str>, u32>,
    users: SubjectMap,
    groups: SubjectMap,
}

fn binding_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Index {
    fn slot_for(&mut self, key: &RoleKey) -> u32 {
        if let Some(&id) = self.slot_of.get(key) {
            return id;
        }
        let key = Arc::new(key.clone());
        let slot = RoleSlot { key: key.clone(), rules: None, refs: 0 };
        let id = match self.free_slots.pop_back() {
            Some(id) => {
                self.slots.set(id as usize, slot);
                id
            }
            None => {
                self.slots.push_back(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.slot_of.insert(key, id);
        id
    }

    fn slot_mut(&mut self, id: u32) -> &mut RoleSlot {
        // Slot numbers come from `slot_for` and stay valid while a binding or rules hold them.
        &mut self.slots[id as usize]
    }

    fn release_if_unused(&mut self, id: u32) {
        let slot = &self.slots[id as usize];
        if slot.refs == 0 && slot.rules.is_none() {
            let key = slot.key.clone();
            self.slot_of.remove(&*key);
            self.free_slots.push_back(id);
        }
    }

    fn set_role(&mut self, key: RoleKey, rules: Option<Arc<[PolicyRule]>>) {
        if rules.is_none() && !self.slot_of.contains_key(&key) {
            return;
        }
        let id = self.slot_for(&key);
        self.slot_mut(id).rules = rules;
        self.release_if_unused(id);
    }

    fn subjects_mut<'k>(&mut self, key: &'k SubjectKey<'_>) -> (&mut SubjectMap, &'k str) {
        match key {
            SubjectKey::User(name) => (&mut self.users, name),
            SubjectKey::Group(name) => (&mut self.groups, name),
        }
    }

    fn insert_binding(&mut self, record: BindingRecord) {
        let key: Arc<str> = binding_key(&record.namespace, &record.name).into();
        self.remove_binding_by_key(&key);
        let slot = self.slot_for(&record.role_key());
        self.slot_mut(slot).refs += 1;
        let binding = Arc::new(record);
        let id = match self.free_records.pop_back() {
            Some(id) => {
                self.records.set(id as usize, Some(BindingSlot { record: binding.clone(), slot }));
                id
            }
            None => {
                self.records.push_back(Some(BindingSlot { record: binding.clone(), slot }));
                (self.records.len() - 1) as u32
            }
        };
        for subject in &binding.subjects {
            let Some(key) = subject_key(subject, &binding.namespace) else { continue };
            let (map, name) = self.subjects_mut(&key);
            if !map.contains_key(name) {
                map.insert(name.into(), Arc::default());
            }
            // Changed in place when this batch already copied it, else copied once (the published
            // snapshot keeps its own).
            let bindings = Arc::make_mut(map.get_mut(name).expect("inserted above"));
            bindings.add(&binding.namespace, Entry { binding: binding.clone(), id, slot });
        }
        self.binding_ids.insert(key, id);
    }

    fn remove_binding(&mut self, namespace: &str, name: &str) {
        self.remove_binding_by_key(&binding_key(namespace, name));
    }

    fn remove_binding_by_key(&mut self, key: &str) {
        let Some(id) = self.binding_ids.remove(key) else { return };
        let Some(BindingSlot { record, slot }) = self.records.set(id as usize, None) else { return };
        self.free_records.push_back(id);
        let namespace = record.namespace.as_str();
        for subject in &record.subjects {
            let Some(key) = subject_key(subject, namespace) else { continue };
            let (map, name) = self.subjects_mut(&key);
            let Some(bindings) = map.get_mut(name) else { continue };
            let bindings = Arc::make_mut(bindings);
            bindings.remove(namespace, id);
            if bindings.is_empty() {
                map.remove(name);
            }
        }
        self.slot_mut(slot).refs -= 1;
        self.release_if_unused(slot);
    }

    /// Calls `f` for every binding entry that applies to `user` for a request in `namespace`:
    /// cluster bindings (the user's, then each group's), then for a namespaced request the
    /// namespace's, in the same order.
    fn visit<'a>(
        &'a self,
        user: &UserInfo,
        namespace: &str,
        f: &mut impl FnMut(&'a Entry) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let named = std::iter::once(self.users.get(user.name.as_str()))
            .chain(user.groups.iter().map(|g| self.groups.get(g.as_str())))
            .flatten();
        // The subjects that also have RoleBindings, remembered for the namespace pass.
        let mut remembered: [Option<&'a SubjectBindings>; REMEMBERED] = [None; REMEMBERED];
        let (mut count, mut overflow) = (0, false);
        for bindings in named.clone() {
            bindings.cluster.iter().try_for_each(&mut *f)?;
            if !namespace.is_empty() && !bindings.namespaced.is_empty() {
                match remembered.get_mut(count) {
                    Some(place) => *place = Some(bindings),
                    None => overflow = true,
                }
                count += 1;
            }
        }
        if namespace.is_empty() || count == 0 {
            return ControlFlow::Continue(());
        }
        if overflow {
            for bindings in named {
                visit_namespace(bindings, namespace, f)?;
            }
        } else {
            for bindings in remembered.iter().flatten() {
                visit_namespace(bindings, namespace, f)?;
            }
        }
        ControlFlow::Continue(())
    }

    fn rules(&self, slot: u32) -> Result<&[PolicyRule], &RoleKey> {
        let slot = &self.slots[slot as usize];
        slot.rules.as_deref().ok_or(&*slot.key)
    }

    /// The first binding entry that allows `attrs`, or the roles found missing on the way.
    fn decide(&self, attrs: &Attributes) -> Result<&Entry, Vec<RoleKey>> {
        let mut missing = Vec::new();
        let mut allowed = None;
        let _ = self.visit(&attrs.user, attrs.namespace(), &mut |entry| {
            match self.rules(entry.slot) {
                Ok(rules) => {
                    if rules.iter().any(|rule| rule_allows(attrs, rule)) {
                        allowed = Some(entry);
                        return ControlFlow::Break(());
                    }
                }
                Err(key) => missing.push(key.clone()),
            }
            ControlFlow::Continue(())
        });
        allowed.ok_or(missing)
    }

    /// Every binding that applies to `user` in `namespace`, each once, in evaluation order.
    fn applicable(&self, user: &UserInfo, namespace: &str) -> Vec<&Entry> {
        let mut entries: Vec<&Entry> = Vec::new();
        let _ = self.visit(user, namespace, &mut |entry| {
            if !entries.iter().any(|e| e.id == entry.id) {
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

    fn binding(&self, id: u32) -> Option<&BindingSlot> {
        self.records.get(id as usize).and_then(Option::as_ref)
    }

    /// Every binding held, ClusterRoleBindings first, then by namespace and name.
    fn sorted_bindings(&self) -> Vec<&BindingSlot> {
        let mut all: Vec<&BindingSlot> = self.records.iter().flatten().collect();
        all.sort_by(|a, b| {
            let (a, b) = (&a.record, &b.record);
            (!a.namespace.is_empty(), &a.namespace, &a.name).cmp(&(!b.namespace.is_empty(), &b.namespace, &b.name))
        });
        all
    }
}

/// Changes to an [`Authorizer`] made together and published at once ([`Authorizer::update`]):
/// readers see all of them or none, and the index is copied once for the lot.
pub struct Update<'a> {
    index: &'a mut Index,
}

impl Update<'_> {
    /// Adds or replaces a Role (by namespace/name).
    pub fn upsert_role(&mut self, role: &Role) {
        let key = RoleKey::Role { namespace: role.metadata.namespace.clone(), name: role.metadata.name.clone() };
        self.index.set_role(key, Some(role.rules.clone().into()));
    }

    pub fn delete_role(&mut self, namespace: &str, name: &str) {
        self.index.set_role(RoleKey::Role { namespace: namespace.into(), name: name.into() }, None);
    }

    /// Adds or replaces a ClusterRole (by name). Its `rules` are used as they are: aggregation is
    /// the controller's job ([`crate::aggregate`]).
    pub fn upsert_cluster_role(&mut self, role: &ClusterRole) {
        let key = RoleKey::ClusterRole { name: role.metadata.name.clone() };
        self.index.set_role(key, Some(role.rules.clone().into()));
    }

    pub fn delete_cluster_role(&mut self, name: &str) {
        self.index.set_role(RoleKey::ClusterRole { name: name.into() }, None);
    }

    /// Adds or replaces a RoleBinding (by namespace/name).
    pub fn upsert_role_binding(&mut self, binding: &RoleBinding) {
        self.index.insert_binding(BindingRecord::from(binding));
    }

    pub fn delete_role_binding(&mut self, namespace: &str, name: &str) {
        if !namespace.is_empty() {
            self.index.remove_binding(namespace, name);
        }
    }

    /// Adds or replaces a ClusterRoleBinding (by name).
    pub fn upsert_cluster_role_binding(&mut self, binding: &ClusterRoleBinding) {
        self.index.insert_binding(BindingRecord::from(binding));
    }

    pub fn delete_cluster_role_binding(&mut self, name: &str) {
        self.index.remove_binding("", name);
    }
}

/// The indexed RBAC authorizer, updated incrementally and read from many threads without locks.
///
/// Readers load the current snapshot of the index (an atomic pointer read, no shared counter
/// written); a writer copies the snapshot (O(1), the maps are persistent), changes the copy (a
/// path of the affected maps is copied, O(log n)) and publishes it. Writers are serialized.
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
    current: ArcSwap<Index>,
    writer: Mutex<()>,
}

impl Authorizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An authorizer holding all these objects (built in one [`Authorizer::update`]).
    pub fn from_objects(
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> Self {
        let authz = Self::new();
        authz.update(|u| {
            roles.iter().for_each(|r| u.upsert_role(r));
            cluster_roles.iter().for_each(|r| u.upsert_cluster_role(r));
            role_bindings.iter().for_each(|b| u.upsert_role_binding(b));
            cluster_role_bindings.iter().for_each(|b| u.upsert_cluster_role_binding(b));
        });
        authz
    }

    /// The current snapshot of the index.
    pub(crate) fn read(&self) -> Guard<Arc<Index>> {
        self.current.load()
    }

    /// Makes several changes and publishes them together: one copy of the index for the batch
    /// (an initial list or a burst of watch events), and readers never see half of it.
    pub fn update(&self, f: impl FnOnce(&mut Update<'_>)) {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut index = Index::clone(&self.current.load());
        f(&mut Update { index: &mut index });
        self.current.store(Arc::new(index));
    }

    /// Adds or replaces a Role (by namespace/name).
    pub fn upsert_role(&self, role: &Role) {
        self.update(|u| u.upsert_role(role));
    }

    pub fn delete_role(&self, namespace: &str, name: &str) {
        self.update(|u| u.delete_role(namespace, name));
    }

    /// Adds or replaces a ClusterRole (by name). Its `rules` are used as they are: aggregation is
    /// the controller's job ([`crate::aggregate`]).
    pub fn upsert_cluster_role(&self, role: &ClusterRole) {
        self.update(|u| u.upsert_cluster_role(role));
    }

    pub fn delete_cluster_role(&self, name: &str) {
        self.update(|u| u.delete_cluster_role(name));
    }

    /// Adds or replaces a RoleBinding (by namespace/name).
    pub fn upsert_role_binding(&self, binding: &RoleBinding) {
        self.update(|u| u.upsert_role_binding(binding));
    }

    pub fn delete_role_binding(&self, namespace: &str, name: &str) {
        self.update(|u| u.delete_role_binding(namespace, name));
    }

    /// Adds or replaces a ClusterRoleBinding (by name).
    pub fn upsert_cluster_role_binding(&self, binding: &ClusterRoleBinding) {
        self.update(|u| u.upsert_cluster_role_binding(binding));
    }

    pub fn delete_cluster_role_binding(&self, name: &str) {
        self.update(|u| u.delete_cluster_role_binding(name));
    }

    /// RBAC's decision on a request. `system:masters` is not special here: the API server asks its
    /// privileged-group authorizer first.
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        let index = self.read();
        let allowed = match index.decide(attrs) {
            Ok(entry) => (
                entry.id,
                entry.binding.subjects.iter().position(|s| subject_applies(s, &attrs.user, &entry.binding.namespace)),
            ),
            Err(missing_roles) => return Decision::NoOpinion(NoOpinion { missing_roles }),
        };
        Decision::Allow(Allowed { index, binding: allowed.0, subject: allowed.1.unwrap_or(0) })
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
        let mut grants = Vec::new();
        for BindingSlot { record: binding, slot } in index.sorted_bindings() {
            let considered = binding.is_cluster_role_binding()
                || match scope {
                    Scope::AllNamespaces => attrs.resource.is_some(),
                    Scope::RequestNamespace => !attrs.namespace().is_empty() && binding.namespace == attrs.namespace(),
                };
            let Ok(rules) = index.rules(*slot) else { continue };
            if !considered {
                continue;
            }
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
        index
            .sorted_bindings()
            .into_iter()
            .map(|b| {
                let slot = &index.slots[b.slot as usize];
                (b.record.clone(), slot.rules.clone().ok_or_else(|| RoleKey::clone(&slot.key)))
            })
            .collect()
    }

    /// The rules of a role, if it exists.
    pub fn role_rules(&self, key: &RoleKey) -> Option<Arc<[PolicyRule]>> {
        let index = self.read();
        index.slot_of.get(key).and_then(|&id| index.slots[id as usize].rules.clone())
    }

    /// How many bindings are held.
    pub fn binding_count(&self) -> usize {
        self.read().binding_ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::ResourceAttributes;

    fn pods(ns: &str) -> ResourceAttributes {
        ResourceAttributes::new(ns, "", "pods")
    }

    /// User `u` may get /healthz through ClusterRoleBinding `b` of ClusterRole `r`.
    fn healthz_for_u() -> (Authorizer, Attributes) {
        let authz = Authorizer::new();
        authz.upsert_cluster_role(&ClusterRole::new("r", vec![PolicyRule::non_resource(&["get"], &["/healthz"])]));
        authz.upsert_cluster_role_binding(&ClusterRoleBinding::new(
            "b",
            RoleRef::cluster_role("r"),
            vec![Subject::user("u")],
        ));
        let ask = Attributes::non_resource(UserInfo::new("u", &[]), "get", "/healthz");
        (authz, ask)
    }

    #[test]
    fn decisions_and_the_authorizer_cross_threads() {
        // The API server shares the authorizer across its threads and may hold a decision across
        // an await: both must stay Send + Sync.
        fn shared<T: Send + Sync + 'static>() {}
        shared::<Authorizer>();
        shared::<Decision>();
        let (authz, ask) = healthz_for_u();
        let authz = Arc::new(authz);
        let decision = authz.authorize(&ask);
        // Made on this thread, read and dropped on another, after the index moved on.
        authz.delete_cluster_role_binding("b");
        let reason = std::thread::spawn(move || decision.reason()).join().unwrap();
        assert_eq!(reason, r#"RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to User "u""#);
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
        assert!(index.users.is_empty() && index.groups.is_empty() && index.binding_ids.is_empty());
        assert_eq!((index.free_slots.len(), index.free_records.len()), (1, 1));
        // The numbers are used again.
        drop(index);
        authz.upsert_role_binding(&RoleBinding::new("a", "rb2", RoleRef::role("r2"), vec![Subject::user("u")]));
        let index = authz.read();
        assert_eq!((index.slots.len(), index.records.len()), (1, 1));
        assert!(index.free_slots.is_empty() && index.free_records.is_empty());
    }

    #[test]
    fn readers_keep_their_snapshot() {
        let (authz, ask) = healthz_for_u();
        let Decision::Allow(allowed) = authz.authorize(&ask) else { panic!("not allowed") };
        // The binding goes away; the decision already made still names it, new decisions do not.
        authz.delete_cluster_role_binding("b");
        assert_eq!(allowed.clone().binding().name, "b");
        assert_eq!(allowed.subject(), &Subject::user("u"));
        assert!(!authz.authorize(&ask).is_allowed());
    }

    #[test]
    fn a_write_never_changes_a_published_snapshot() {
        // Writes change their copy in place where the batch owns it; what readers hold must not move.
        let authz = Authorizer::new();
        authz.upsert_role(&Role::new("ns", "r", vec![PolicyRule::resource(&["get"], &[""], &["pods"])]));
        let binding =
            |name: &str, user: &str| RoleBinding::new("ns", name, RoleRef::role("r"), vec![Subject::user(user)]);
        authz.upsert_role_binding(&binding("a", "u"));
        let ask = |user: &str| Attributes::resource(UserInfo::new(user, &["g"]), "get", pods("ns"));
        let before = authz.read();
        authz.update(|u| {
            u.upsert_role_binding(&binding("b", "u"));
            u.upsert_role_binding(&binding("c", "v"));
            u.delete_role_binding("ns", "a");
        });
        assert_eq!(before.decide(&ask("u")).map(|e| e.binding.name.as_str()), Ok("a"));
        assert!(before.decide(&ask("v")).is_err());
        assert_eq!(before.binding_ids.len(), 1);
        let after = authz.read();
        assert_eq!(after.decide(&ask("u")).map(|e| e.binding.name.as_str()), Ok("b"));
        assert_eq!(after.decide(&ask("v")).map(|e| e.binding.name.as_str()), Ok("c"));
        assert_eq!(after.binding_ids.len(), 2);
    }

    #[test]
    fn a_subject_bound_in_many_namespaces() {
        // Past a few namespaces a subject's RoleBindings move from a list to a map; both answer alike.
        let authz = Authorizer::new();
        let namespaces: Vec<String> = (0..3 * FEW_NAMESPACES).map(|i| format!("ns{i}")).collect();
        let ask = |ns: &str| Attributes::resource(UserInfo::new("u", &["team"]), "get", pods(ns));
        for (i, ns) in namespaces.iter().enumerate() {
            authz.upsert_role(&Role::new(ns, "r", vec![PolicyRule::resource(&["get"], &[""], &["pods"])]));
            authz.upsert_role_binding(&RoleBinding::new(ns, "b", RoleRef::role("r"), vec![Subject::group("team")]));
            // Every namespace bound so far answers, the next one not yet.
            assert!(namespaces[..=i].iter().all(|ns| authz.authorize(&ask(ns)).is_allowed()), "{i}");
            assert!(!authz.authorize(&ask(&format!("ns{}", i + 1))).is_allowed());
        }
        for ns in namespaces.iter().step_by(2) {
            authz.delete_role_binding(ns, "b");
        }
        for (i, ns) in namespaces.iter().enumerate() {
            assert_eq!(authz.authorize(&ask(ns)).is_allowed(), i % 2 == 1, "{ns}");
        }
        assert_eq!(authz.rules_for(&UserInfo::new("u", &["team"]), "ns1").0.len(), 1);
        for ns in namespaces.iter().skip(1).step_by(2) {
            authz.delete_role_binding(ns, "b");
        }
        assert!(authz.read().groups.is_empty());
    }

    #[test]
    fn a_batch_is_published_at_once() {
        let authz = Authorizer::new();
        let ask = Attributes::non_resource(UserInfo::new("u", &["g"]), "get", "/healthz");
        authz.update(|u| {
            u.upsert_cluster_role_binding(&ClusterRoleBinding::new(
                "b",
                RoleRef::cluster_role("r"),
                vec![Subject::group("g")],
            ));
            u.upsert_cluster_role(&ClusterRole::new("r", vec![PolicyRule::non_resource(&["get"], &["/healthz"])]));
            u.delete_cluster_role_binding("missing");
            u.delete_role_binding("", "ignored");
        });
        assert_eq!(authz.binding_count(), 1);
        assert_eq!(
            authz.authorize(&ask).reason(),
            r#"RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to Group "g""#
        );
    }

    #[test]
    fn many_groups_with_role_bindings_keep_order() {
        // More subjects with RoleBindings than a decision remembers between its two passes.
        let authz = Authorizer::new();
        authz.upsert_role(&Role::new("ns", "r", vec![PolicyRule::resource(&["get"], &[""], &["pods"])]));
        let groups: Vec<String> = (0..12).map(|i| format!("g{i}")).collect();
        for g in &groups {
            authz.upsert_role_binding(&RoleBinding::new("ns", g, RoleRef::role("other"), vec![Subject::group(g)]));
        }
        authz.upsert_role_binding(&RoleBinding::new("ns", "last", RoleRef::role("r"), vec![Subject::group("g11")]));
        let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        let ask = Attributes::resource(UserInfo::new("u", &refs), "get", pods("ns"));
        assert_eq!(
            authz.authorize(&ask).reason(),
            r#"RBAC: allowed by RoleBinding "last/ns" of Role "r" to Group "g11""#
        );
        let denied = authz.authorize(&Attributes::resource(UserInfo::new("u", &refs), "list", pods("ns")));
        assert_eq!(denied.reason(), r#"RBAC: role.rbac.authorization.k8s.io "other" not found"#);
        let (_, missing) = authz.rules_for(&UserInfo::new("u", &refs), "ns");
        assert_eq!(missing.len(), 12);
    }
}
