//! `metadata.managedFields` and the field manager kube-apiserver runs on every write: decoding and
//! encoding the entries, recording which manager set which fields on create, update and patch
//! (`Update` entries), and server-side apply (`Apply` entries) with its merge, pruning of fields
//! a manager stopped applying, conflict detection and `force`.
//!
//! The pipeline is kube-apiserver's (`k8s.io/apimachinery/pkg/util/managedfields/internal`), in
//! its order: version check, last-applied annotation upgrade for `kubectl`, tracking from the
//! first apply on objects without managed fields ("before-first-apply"), at most 10 `Update`
//! entries ("ancient-changes" buckets), manager identities, timestamps, stripping of identity
//! fields, and the structured merge itself.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::error::{Conflict, PatchError};
use crate::fieldpath::{Path, PathElement, Set};
use crate::schema::Schema;
use crate::typed::{Comparison, Typed, drop_nulls, values_equal};

/// The annotation client-side `kubectl apply` keeps its last applied configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// kube-apiserver keeps at most this many `Update` entries; older ones merge into buckets.
const MAX_UPDATE_MANAGERS: usize = 10;
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const ANCIENT_CHANGES: &str = "ancient-changes";
const CURRENT_OPERATION: &str = "current-operation";
/// Annotations may total at most 256 KiB; a last-applied annotation that would exceed it is dropped.
const MAX_ANNOTATIONS_SIZE: usize = 256 * 1024;

/// The operation of a `managedFields` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update or a non-apply patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who owns a set of fields: kube-apiserver's manager identifier (the API version only counts
/// for `Update` entries, so an applier keeps one entry across versions).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerId {
    manager: String,
    operation: Operation,
    api_version: String,
    subresource: String,
}

impl ManagerId {
    fn new(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> ManagerId {
        let api_version = if operation == Operation::Apply { "" } else { api_version };
        ManagerId {
            manager: manager.to_string(),
            operation,
            api_version: api_version.to_string(),
            subresource: subresource.to_string(),
        }
    }

    /// The JSON identifier kube-apiserver sorts managers by.
    fn identity(&self) -> String {
        let mut entry = Map::new();
        if !self.manager.is_empty() {
            entry.insert("manager".into(), json!(self.manager));
        }
        entry.insert("operation".into(), json!(self.operation.as_str()));
        if !self.api_version.is_empty() {
            entry.insert("apiVersion".into(), json!(self.api_version));
        }
        if !self.subresource.is_empty() {
            entry.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(entry).to_string()
    }

    /// The manager as conflict messages print it: `"kubectl-edit" using v1`.
    fn printed(&self) -> String {
        let mut out = Value::String(self.manager.clone()).to_string();
        if !self.subresource.is_empty() {
            out = format!("{out} with subresource {}", Value::String(self.subresource.clone()));
        }
        if self.operation == Operation::Update {
            out = format!("{out} using {}", self.api_version);
        }
        out
    }
}

/// The fields of one manager, at the API version it wrote them with.
#[derive(Clone, Debug)]
struct Entry {
    set: Set,
    api_version: String,
    applied: bool,
    time: Option<DateTime<Utc>>,
}

type Managed = BTreeMap<ManagerId, Entry>;

/// Reads `metadata.managedFields`.
fn decode(object: &Value) -> Result<Managed, String> {
    let entries = match object.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => return Ok(Managed::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err("managedFields must be a list".into()),
    };
    let mut managed = Managed::new();
    for (i, entry) in entries.iter().enumerate() {
        let text = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
        let operation = match text("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".into()),
        };
        if text("apiVersion").is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match text("fieldsType") {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => return Err(format!("invalid fieldsType {other:?} in managed fields entry {i}")),
        }
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => Set::new(),
            Some(v1) => Set::from_fields_v1(v1).map_err(|e| format!("error decoding set: {e}"))?,
        };
        let time = match entry.get("time") {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                t.as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .ok_or_else(|| format!("invalid time {t} in managed fields entry {i}"))?
                    .with_timezone(&Utc),
            ),
        };
        let id = ManagerId::new(text("manager"), operation, text("apiVersion"), text("subresource"));
        let applied = operation == Operation::Apply;
        managed.insert(id, Entry { set, api_version: text("apiVersion").to_string(), applied, time });
    }
    Ok(managed)
}

/// Writes `metadata.managedFields` (removing it when no manager is left), sorted as kube-apiserver
/// sorts it: `Apply` before `Update`, then by time, manager, API version and subresource.
fn encode(object: &mut Value, managed: &Managed) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    metadata.shift_remove("managedFields");
    if managed.is_empty() {
        return;
    }
    let mut entries: Vec<(&ManagerId, &Entry)> = managed.iter().collect();
    let operation = |id: &ManagerId, e: &Entry| if e.applied { Operation::Apply } else { id.operation };
    entries.sort_by(|(a, ea), (b, eb)| {
        operation(a, ea)
            .as_str()
            .cmp(operation(b, eb).as_str())
            .then_with(|| seconds(ea.time).cmp(&seconds(eb.time)))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| ea.api_version.cmp(&eb.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let encoded = entries
        .into_iter()
        .map(|(id, e)| {
            let mut entry = Map::new();
            if !id.manager.is_empty() {
                entry.insert("manager".into(), json!(id.manager));
            }
            entry.insert("operation".into(), json!(operation(id, e).as_str()));
            entry.insert("apiVersion".into(), json!(e.api_version));
            if let Some(time) = e.time {
                entry.insert("time".into(), json!(time.to_rfc3339_opts(SecondsFormat::Secs, true)));
            }
            entry.insert("fieldsType".into(), json!("FieldsV1"));
            entry.insert("fieldsV1".into(), e.set.to_fields_v1());
            if !id.subresource.is_empty() {
                entry.insert("subresource".into(), json!(id.subresource));
            }
            Value::Object(entry)
        })
        .collect();
    metadata.insert("managedFields".into(), Value::Array(encoded));
}

fn seconds(time: Option<DateTime<Utc>>) -> i64 {
    time.map_or(0, |t| t.timestamp())
}

/// The identity and bookkeeping fields every manager loses (structured-merge-diff's strip set).
fn strip_set() -> &'static Set {
    static STRIP: OnceLock<Set> = OnceLock::new();
    STRIP.get_or_init(build_strip_set)
}

fn build_strip_set() -> Set {
    let mut set = Set::new();
    for path in [&["apiVersion"][..], &["kind"], &["metadata"]] {
        set.insert(&fields(path));
    }
    for field in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&fields(&["metadata", field]));
    }
    set
}

fn fields(names: &[&str]) -> Vec<PathElement> {
    names.iter().map(|n| PathElement::Field((*n).to_string())).collect()
}

/// Why an apply failed inside the pipeline: conflicts stay structured until the last-applied
/// upgrade has looked at them.
enum Failure {
    Conflicts(Vec<(ManagerId, Path)>),
    Error(PatchError),
}

impl From<PatchError> for Failure {
    fn from(e: PatchError) -> Failure {
        Failure::Error(e)
    }
}

impl Failure {
    fn into_error(self) -> PatchError {
        match self {
            Failure::Error(e) => e,
            Failure::Conflicts(conflicts) => PatchError::Conflicts(
                conflicts
                    .into_iter()
                    .map(|(id, path)| Conflict { manager: id.printed(), field: path.to_string() })
                    .collect(),
            ),
        }
    }
}

/// The field manager of one kind at one API version (and optionally one subresource): what
/// kube-apiserver runs on create, update and patch to keep `metadata.managedFields`, and what
/// performs server-side apply.
///
/// ```
/// use kube_patch::{FieldManager, Schema};
/// use serde_json::json;
///
/// let schema = Schema::builtin("", "v1", "ConfigMap").unwrap();
/// let fm = FieldManager::new(schema, "v1", "ConfigMap");
/// let now = "2026-11-28T09:12:25Z".parse().unwrap();
/// let created = fm.update(None, json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "cm"}, "data": {"key": "a"}}), "kubectl-create", now);
/// let err = fm.apply(Some(&created), &json!({"apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "cm"}, "data": {"key": "b"}}), "kubectl", false, now).unwrap_err();
/// assert_eq!(err.to_string(),
///     "Apply failed with 1 conflict: conflict with \"kubectl-create\" using v1: .data.key");
/// ```
#[derive(Clone, Debug)]
pub struct FieldManager<'a> {
    schema: &'a Schema,
    api_version: String,
    kind: String,
    subresource: String,
    reset: Set,
}

impl<'a> FieldManager<'a> {
    /// The field manager of `kind` served at `api_version` (`"v1"`, `"apps/v1"`).
    pub fn new(schema: &'a Schema, api_version: &str, kind: &str) -> FieldManager<'a> {
        FieldManager {
            schema,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            subresource: String::new(),
            reset: Set::new(),
        }
    }

    /// Records managers for a subresource (`status`, `scale`): entries carry `subresource`, and
    /// managed fields sent in the request are ignored.
    pub fn subresource(mut self, subresource: &str) -> FieldManager<'a> {
        self.subresource = subresource.to_string();
        self
    }

    /// Fields the write resets (the registry strategy's reset fields, for example `["status"]`
    /// on the main resource of a kind with a status subresource): nobody gains or loses
    /// ownership of them or anything below them.
    pub fn reset_fields(mut self, paths: &[&[&str]]) -> FieldManager<'a> {
        for path in paths {
            self.reset.insert(&fields(path));
        }
        self
    }

    fn typed(&self) -> Typed<'a> {
        Typed { schema: self.schema }
    }

    /// Records the write of `new` by `manager` (create when `live` is `None`, update, or a
    /// non-apply patch): `manager` gains the fields it added or changed, every manager loses the
    /// fields removed, and `metadata.managedFields` of the returned object says so.
    ///
    /// Call it with the object as it will be stored (after defaulting). Managed fields sent in
    /// `new` replace the live ones (so clients can edit them; `[]` or `[{}]` clears them), unless
    /// this is a subresource. Like kube-apiserver, an update of an object that has no managed
    /// fields records none, and a failure keeps the live managed fields.
    pub fn update(&self, live: Option<&Value>, mut new: Value, manager: &str, now: DateTime<Utc>) -> Value {
        let empty = Value::Object(Map::new());
        let live_managed = || decode(live.unwrap_or(&empty)).unwrap_or_default();
        let mut managed = if !self.subresource.is_empty() {
            live_managed()
        } else if is_reset(new.pointer("/metadata/managedFields")) {
            Managed::new()
        } else {
            match decode(&new) {
                Ok(m) if !m.is_empty() => m,
                _ => live_managed(),
            }
        };
        if let Some(metadata) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.shift_remove("managedFields");
        }
        if managed.is_empty() && live.is_some() {
            return new;
        }
        let base = live.unwrap_or(self.schema.zero_object());
        match self.record_update(base, &new, &mut managed, manager, now) {
            Ok(()) => encode(&mut new, &managed),
            Err(_) => {
                if let (Some(metadata), Some(kept)) = (
                    new.get_mut("metadata").and_then(Value::as_object_mut),
                    live.and_then(|l| l.pointer("/metadata/managedFields")),
                ) {
                    metadata.insert("managedFields".into(), kept.clone());
                }
            }
        }
        new
    }

    /// Server-side apply of the configuration `applied` by `manager` to `live` (`None` creates):
    /// the merged object with its managed fields, or the conflicts with other managers (unless
    /// `force`, which takes the fields over). A manager's fields it no longer applies are removed
    /// unless another manager owns them. For `kubectl`, conflicts on fields whose value still
    /// matches the last client-side applied configuration are not conflicts, and that annotation
    /// is kept in step with the applied configuration.
    ///
    /// An apply that changes nothing returns `live` unchanged except, possibly, its managed
    /// fields (a manager applying the same values becomes a co-owner).
    pub fn apply(
        &self,
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<Value, PatchError> {
        let empty = Value::Object(Map::new());
        let live = live.unwrap_or(&empty);
        let managed =
            decode(live).map_err(|e| PatchError::Internal(format!("failed to decode managed fields: {e}")))?;
        let applied_api_version = applied.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let applied_kind = applied.get("kind").and_then(Value::as_str).unwrap_or("");
        if (applied_api_version, applied_kind) != (self.api_version.as_str(), self.kind.as_str()) {
            return Err(PatchError::BadRequest(format!(
                "invalid object type: {}",
                go_group_version_kind(applied_api_version, applied_kind)
            )));
        }
        // The live managed fields are decoded; merging and comparing work without them.
        let live = without_managed_fields(live);
        let (mut object, managed) = self
            .apply_upgrading_last_applied(&live, applied, managed, manager, force, now)
            .map_err(Failure::into_error)?;
        if manager == "kubectl" && has_last_applied(&object) {
            set_last_applied(&mut object, build_last_applied(applied));
        }
        encode(&mut object, &managed);
        Ok(object)
    }

    /// kube-apiserver's `lastAppliedManager`: `kubectl` may take over, without `force`, the
    /// fields whose live value is still the one client-side apply last applied.
    fn apply_upgrading_last_applied(
        &self,
        live: &Value,
        applied: &Value,
        managed: Managed,
        manager: &str,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<(Value, Managed), Failure> {
        let retry = (manager == "kubectl").then(|| managed.clone());
        match (self.apply_tracked(live, applied, managed, manager, force, now), retry) {
            (Err(Failure::Conflicts(conflicts)), Some(managed)) => {
                let Some(allowed) = self.allowed_conflicts_from_last_applied(live) else {
                    return Err(Failure::Conflicts(conflicts));
                };
                let remaining: Vec<(ManagerId, Path)> =
                    conflicts.iter().filter(|(_, path)| !allowed.has(&path.0)).cloned().collect();
                if !remaining.is_empty() {
                    return Err(Failure::Conflicts(remaining));
                }
                self.apply_tracked(live, applied, managed, manager, true, now)
            }
            (other, _) => other,
        }
    }

    fn allowed_conflicts_from_last_applied(&self, live: &Value) -> Option<Set> {
        let annotation = live.get("metadata")?.get("annotations")?.get(LAST_APPLIED_ANNOTATION)?.as_str()?;
        let last_applied: Value = serde_json::from_str(annotation).ok()?;
        if last_applied.get("apiVersion").and_then(Value::as_str) != Some(self.api_version.as_str()) {
            return None;
        }
        let typed = self.typed();
        let set = typed.field_set(&last_applied, true).ok()?;
        let c = typed.compare(&last_applied, live, Some(self.schema.zero_object())).ok()?;
        Some(set.difference(&c.modified).difference(&c.added).difference(&c.removed))
    }

    /// Apply with kube-apiserver's `skipNonAppliedManager`, `managedFieldsUpdater` and
    /// `stripMetaManager` around the structured merge.
    fn apply_tracked(
        &self,
        live: &Value,
        applied: &Value,
        mut managed: Managed,
        manager: &str,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<(Value, Managed), Failure> {
        if managed.is_empty() {
            // Fields set before anyone applied belong to "before-first-apply".
            self.record_update(self.schema.zero_object(), live, &mut managed, BEFORE_FIRST_APPLY, now)
                .map_err(|e| PatchError::Internal(format!("failed to create manager for existing fields: {e}")))?;
        }
        let id = ManagerId::new(manager, Operation::Apply, &self.api_version, &self.subresource);
        let result = self.structured_apply(live, applied, &mut managed, &id, force)?;
        strip(&mut managed, &id);
        let object = match result {
            Some(object) => {
                if let Some(entry) = managed.get_mut(&id) {
                    entry.time = Some(now);
                }
                object
            }
            None => live.clone(),
        };
        Ok((object, managed))
    }

    /// structured-merge-diff's `Updater.Apply`.
    fn structured_apply(
        &self,
        live: &Value,
        applied: &Value,
        managed: &mut Managed,
        id: &ManagerId,
        force: bool,
    ) -> Result<Option<Value>, Failure> {
        if applied.pointer("/metadata/managedFields").is_some_and(|m| !m.is_null()) {
            return Err(PatchError::BadRequest("metadata.managedFields must be nil".into()).into());
        }
        let typed = self.typed();
        let name = self.object_name(applied);
        let config_set = typed
            .field_set(applied, true)
            .map_err(|e| PatchError::Internal(format!("failed to create typed patch object ({name}): {e}")))?;
        let merged = typed
            .merge(live, applied)
            .map_err(|e| PatchError::Internal(format!("failed to create typed live object ({name}): {e}")))?;
        let last = managed.get(id).map(|e| e.set.clone());
        let time = managed.get(id).and_then(|e| e.time);
        managed.insert(
            id.clone(),
            Entry {
                set: if self.reset.is_empty() { config_set } else { config_set.recursive_difference(&self.reset) },
                api_version: self.api_version.clone(),
                applied: true,
                time,
            },
        );
        let merged = match last {
            Some(last) if !last.is_empty() => self
                .prune(merged, managed, id, &last)
                .map_err(|e| PatchError::Internal(format!("failed to prune fields: {e}")))?,
            _ => merged,
        };
        let comparison = self.compare(live, &merged).map_err(PatchError::Internal)?;
        self.take_from_others(&comparison, managed, id, force)?;
        if values_equal(live, &merged) {
            return Ok(None);
        }
        let mut merged = merged;
        drop_nulls(&mut merged);
        Ok(Some(merged))
    }

    /// Removes what the applier owned last time and no longer applies, unless another manager
    /// owns it (structured-merge-diff's `prune`, `addBackOwnedItems`, `addBackDanglingItems`).
    fn prune(&self, merged: Value, managed: &Managed, id: &ManagerId, last: &Set) -> Result<Value, String> {
        if managed.get(id).is_some_and(|applied| last.difference(&applied.set).is_empty()) {
            // The applier applies everything it applied last time (the usual re-apply).
            return Ok(merged);
        }
        let typed = self.typed();
        let ensure = |s: &Set| typed.ensure_named_fields_are_members(s);
        let last = ensure(last);
        let mut owned = Set::new();
        for entry in managed.values() {
            owned.union_in_place(&entry.set);
        }
        let owned = ensure(&owned);
        if last.difference(&owned).is_empty() {
            // Everything applied last time is still owned (the usual re-apply): nothing to prune.
            return Ok(merged);
        }
        self.prune_owned(merged, &last, &owned)
    }

    /// The three passes of structured-merge-diff's prune, with `last` and `owned` ensured.
    fn prune_owned(&self, merged: Value, last: &Set, owned: &Set) -> Result<Value, String> {
        let typed = self.typed();
        let ensure = |s: &Set| typed.ensure_named_fields_are_members(s);
        let pruned = typed.remove_items(&merged, last);
        let merged_set = ensure(&typed.field_set(&merged, false)?);
        let pruned_set = ensure(&typed.field_set(&pruned, false)?);
        let pruned = typed.remove_items(&merged, &merged_set.difference(&pruned_set.union(owned)));
        let pruned_set = ensure(&typed.field_set(&pruned, false)?);
        Ok(typed.remove_items(&merged, &merged_set.difference(&pruned_set).intersection(last)))
    }

    /// Compares two versions as kube-apiserver compares its typed objects: both carry the kind's
    /// zero value where they have nothing (so an empty `status` exists before it is filled).
    fn compare(&self, old: &Value, new: &Value) -> Result<Comparison, String> {
        let mut c = self.typed().compare(old, new, Some(self.schema.zero_object()))?;
        c.exclude(&self.reset);
        Ok(c)
    }

    /// structured-merge-diff's `Updater.update`: other managers lose the fields this write
    /// changed (a conflict unless forced) and every manager loses removed fields.
    fn take_from_others(
        &self,
        c: &Comparison,
        managed: &mut Managed,
        id: &ManagerId,
        force: bool,
    ) -> Result<(), Failure> {
        let changed = c.modified.union(&c.added);
        let conflicts: Vec<(ManagerId, Set)> = managed
            .iter()
            .filter(|(m, _)| *m != id)
            .map(|(m, e)| (m.clone(), e.set.intersection(&changed)))
            .filter(|(_, set)| !set.is_empty())
            .collect();
        if !force && !conflicts.is_empty() {
            return Err(Failure::Conflicts(
                conflicts.iter().flat_map(|(m, set)| set.paths().into_iter().map(move |p| (m.clone(), p))).collect(),
            ));
        }
        for (m, set) in conflicts {
            if let Some(entry) = managed.get_mut(&m) {
                entry.set = entry.set.difference(&set);
            }
        }
        if !c.removed.is_empty() {
            for (m, entry) in managed.iter_mut() {
                if m != id {
                    entry.set = entry.set.difference(&c.removed);
                }
            }
        }
        managed.retain(|_, e| !e.set.is_empty());
        Ok(())
    }

    /// The `Update` pipeline: structured update under a temporary identity, strip, merge into
    /// the manager's entry with a new timestamp, cap the number of `Update` entries.
    fn record_update(
        &self,
        live: &Value,
        new: &Value,
        managed: &mut Managed,
        manager: &str,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let current = ManagerId::new(CURRENT_OPERATION, Operation::Update, "", "");
        let c = self.compare(live, new)?;
        // A write without force never fails on conflicts.
        let _ = self.take_from_others(&c, managed, &current, true);
        let mut set = c.modified.union(&c.added);
        if !self.reset.is_empty() {
            set = set.recursive_difference(&self.reset);
        }
        set.remove_all(strip_set());
        if !set.is_empty() {
            let id = ManagerId::new(manager, Operation::Update, &self.api_version, &self.subresource);
            let set = match managed.get(&id) {
                Some(previous) => set.union(&previous.set),
                None => set,
            };
            managed.insert(id, Entry { set, api_version: self.api_version.clone(), applied: false, time: Some(now) });
        }
        cap_update_managers(managed);
        Ok(())
    }

    /// `namespace/name; group/version, Kind=kind`, as kube-apiserver names an object in errors.
    fn object_name(&self, object: &Value) -> String {
        let meta = |f: &str| object.pointer(&format!("/metadata/{f}")).and_then(Value::as_str).unwrap_or("");
        format!("{}/{}; {}", meta("namespace"), meta("name"), go_group_version_kind(&self.api_version, &self.kind))
    }
}

fn strip(managed: &mut Managed, id: &ManagerId) {
    if let Some(entry) = managed.get_mut(id) {
        entry.set.remove_all(strip_set());
        if entry.set.is_empty() {
            managed.remove(id);
        }
    }
}

/// A copy of the object without `metadata.managedFields` (which can be most of it).
fn without_managed_fields(object: &Value) -> Value {
    let Value::Object(map) = object else { return object.clone() };
    let copy = map.iter().map(|(key, value)| {
        let value = match (key.as_str(), value) {
            ("metadata", Value::Object(meta)) => Value::Object(
                meta.iter().filter(|(k, _)| *k != "managedFields").map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            _ => value.clone(),
        };
        (key.clone(), value)
    });
    Value::Object(copy.collect())
}

/// `managedFields: []` or `[{}]` in a request clears the managed fields.
fn is_reset(sent: Option<&Value>) -> bool {
    match sent {
        Some(Value::Array(entries)) => match entries.as_slice() {
            [] => true,
            [only] => only.as_object().is_some_and(Map::is_empty),
            _ => false,
        },
        _ => false,
    }
}

/// kube-apiserver's `capManagersManager`: past 10 `Update` entries, the oldest merge into one
/// "ancient-changes" entry per API version.
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<ManagerId> = managed.iter().filter(|(_, e)| !e.applied).map(|(id, _)| id.clone()).collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort_by(|a, b| {
        seconds(managed[a].time).cmp(&seconds(managed[b].time)).then_with(|| a.identity().cmp(&b.identity()))
    });
    let mut first_of_version: BTreeMap<String, ManagerId> = BTreeMap::new();
    let mut length = updaters.len();
    for id in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(entry) = managed.get(&id).cloned() else { continue };
        let bucket = ManagerId::new(ANCIENT_CHANGES, Operation::Update, &entry.api_version, "");
        match first_of_version.get(&entry.api_version) {
            Some(first) => {
                if !managed.contains_key(&bucket)
                    && let Some(moved) = managed.remove(first)
                {
                    managed.insert(bucket.clone(), moved);
                }
                let merged = match managed.get(&bucket) {
                    Some(b) => entry.set.union(&b.set),
                    None => entry.set.clone(),
                };
                managed.remove(&id);
                managed.insert(bucket, Entry { set: merged, time: entry.time, ..entry });
                length -= 1;
            }
            None => {
                first_of_version.insert(entry.api_version.clone(), id);
            }
        }
    }
}

/// Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`.
fn go_group_version_kind(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

fn has_last_applied(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| !v.is_empty())
}

/// The applied configuration as client-side apply would record it: without the annotation
/// itself, keys sorted, one trailing newline.
fn build_last_applied(applied: &Value) -> String {
    let mut config = applied.clone();
    if let Some(annotations) = config.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    go_format::to_json_sorted(&config) + "\n"
}

fn set_last_applied(object: &mut Value, value: String) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    let Some(annotations) = annotations.as_object_mut() else { return };
    annotations.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(value));
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.as_str().map_or(0, str::len)).sum();
    if size > MAX_ANNOTATIONS_SIZE {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
}

/// The manager kube-apiserver records for a request: its `fieldManager` parameter, or else the
/// user agent up to its first `/` (`kubectl/v1.32.4 (linux/amd64) …` → `kubectl`), without
/// unprintable characters and at most 128 bytes.
pub fn manager_or_user_agent(field_manager: Option<&str>, user_agent: &str) -> String {
    if let Some(manager) = field_manager.filter(|m| !m.is_empty()) {
        return manager.to_string();
    }
    let mut out = String::new();
    for c in user_agent.split('/').next().unwrap_or("").chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        "2026-11-28T10:00:00Z".parse().unwrap()
    }

    fn deployment(containers: &[(usize, bool)]) -> Value {
        let containers: Vec<Value> = containers
            .iter()
            .map(|(n, with_port)| {
                let mut c = json!({"name": format!("c{n}"), "image": format!("image{n}")});
                if *with_port {
                    c["ports"] = json!([{"containerPort": 8000 + n}]);
                }
                c
            })
            .collect();
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"a": "b"}},
               "spec": {"replicas": 1, "template": {"spec": {"containers": containers}}}})
    }

    proptest! {
        /// When everything the applier owned is still owned, the full prune removes nothing: the
        /// shortcut in `prune` is exact.
        #[test]
        fn pruning_nothing_owned_is_the_identity(
            first in prop::collection::btree_map(0usize..5, any::<bool>(), 1..4),
            more in prop::collection::btree_map(0usize..5, any::<bool>(), 0..3),
            other in prop::collection::btree_map(0usize..5, any::<bool>(), 0..3),
        ) {
            let schema = Schema::builtin("apps", "v1", "Deployment").unwrap();
            let fm = FieldManager::new(schema, "apps/v1", "Deployment");
            let first: Vec<(usize, bool)> = first.into_iter().collect();
            let live = fm.apply(None, &deployment(&first), "one", false, now()).unwrap();
            let other: Vec<(usize, bool)> = other.into_iter().collect();
            let live = fm.apply(Some(&live), &deployment(&other), "two", true, now()).unwrap();
            // The second configuration of "one" keeps every container it had, with its port.
            let mut second = first.clone();
            second.extend(more.into_iter().filter(|(n, _)| first.iter().all(|(m, _)| m != n)));
            let config = deployment(&second);

            let typed = fm.typed();
            let managed = decode(&live).unwrap();
            let id = ManagerId::new("one", Operation::Apply, "apps/v1", "");
            let last = typed.ensure_named_fields_are_members(&managed[&id].set);
            let mut now_managed = managed.clone();
            now_managed.get_mut(&id).unwrap().set = typed.field_set(&config, true).unwrap();
            let mut owned = Set::new();
            for entry in now_managed.values() {
                owned.union_in_place(&entry.set);
            }
            let owned = typed.ensure_named_fields_are_members(&owned);
            prop_assert!(last.difference(&owned).is_empty());
            let merged = typed.merge(&live, &config).unwrap();
            prop_assert_eq!(fm.prune_owned(merged.clone(), &last, &owned).unwrap(), merged);
        }
    }
}
