//! The operations on objects, independent of HTTP: get, list, create, update, patch
//! (including server-side apply), delete and deletecollection, each running the same pipeline as
//! kube-apiserver's generic registry store — type checks, metadata bookkeeping, defaulting,
//! strategy, validation, admission, managed fields, optimistic concurrency, graceful deletion,
//! finalizers — and answering with `Status` errors in kube-apiserver's words.
//!
//! The HTTP handlers call these; so do controllers and other crates (as a system user), through
//! [`crate::Cluster`].

use std::sync::Arc;

use chrono::Utc;
use kube_core::params::{
    ContinueToken, DeleteOptions, FieldValidation, ListOptions, Propagation, ResourceVersionMatch,
};
use kube_core::validation::object_meta;
use kube_core::{FieldError, Status, meta};
use kube_patch::{FieldManager, PatchType, Schema};
use serde_json::{Map, Value, json};
use store::{Compare, CompareOp, Op, Txn};

use crate::admission::{AdmissionRequest, Operation};
use crate::cluster::Cluster;
use crate::convert;
use crate::names;
use crate::registry::{ResourceDef, crd};
use crate::storage::{self, Stored, encode, set_resource_version};

/// Who writes, and how: the request's user, its field manager and its write options. Warnings
/// collected here are sent back as `Warning` headers.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub user: rbac::UserInfo,
    pub user_agent: String,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
    pub warnings: Vec<String>,
}

impl Ctx {
    /// A context for the server's own controllers.
    pub fn system(component: &str) -> Ctx {
        Ctx {
            user: rbac::UserInfo {
                name: format!("system:serviceaccount:kube-system:{component}"),
                groups: vec!["system:serviceaccounts".into(), "system:authenticated".into()],
                ..Default::default()
            },
            user_agent: format!("kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/{component}"),
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        }
    }

    pub fn manager(&self) -> String {
        kube_patch::manager_or_user_agent(self.field_manager.as_deref(), &self.user_agent)
    }
}

/// One page of a list.
#[derive(Debug, Default)]
pub struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// A page of a list as stored.
pub(crate) struct RawList {
    pub kvs: Vec<store::KeyValue>,
    pub resource_version: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; this is its last state.
    Gone(Value),
    /// The object remains until its grace period ends or its finalizers are removed; this is it
    /// with its deletion timestamp.
    Pending(Value),
}

/// The patch schema of a resource (built-in kinds' merge metadata, a CRD's structural schema, or
/// the deduced schema).
pub fn patch_schema(def: &ResourceDef) -> Arc<Schema> {
    if let Some(schema) = Schema::builtin(&def.group, &def.version, &def.kind) {
        return Arc::new(schema.clone());
    }
    match def.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        Some(schema) => Arc::new(Schema::from_openapi_v3(schema)),
        None => Arc::new(Schema::deduced()),
    }
}

/// kube-apiserver's internal package name of a group (for conversion messages).
fn internal_package(group: &str) -> &str {
    match group {
        "" | "events.k8s.io" => "core",
        g => g.split('.').next().unwrap_or(g),
    }
}

/// Check (and fill in) a body's `apiVersion` and `kind` against the resource it was sent to.
pub fn check_type(def: &ResourceDef, object: &mut Value) -> Result<(), Status> {
    let Some(map) = object.as_object_mut() else {
        return Err(Status::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            def.kind,
            kind_of(object)
        )));
    };
    let expected_api_version = def.api_version();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    if !api_version.is_empty() && api_version != expected_api_version {
        let (group, version) = meta::split_api_version(&api_version);
        if group != def.group || def.custom.is_some() {
            return Err(Status::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected_api_version})"
            )));
        }
        return Err(Status::bad_request(format!(
            "{} in version {version:?} cannot be handled as a {}: no kind {:?} is registered for version {:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
            if kind.is_empty() { &def.kind } else { &kind },
            def.kind,
            if kind.is_empty() { &def.kind } else { &kind },
            api_version
        )));
    }
    if !kind.is_empty() && kind != def.kind {
        let version = if api_version.is_empty() {
            def.version.clone()
        } else {
            meta::split_api_version(&api_version).1.to_string()
        };
        return Err(Status::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {}: converting (v1.{kind}) to ({}.{}): unknown conversion",
            def.kind,
            internal_package(&def.group),
            def.kind
        )));
    }
    // kind and apiVersion first, as kube-apiserver writes them.
    let rest: Map<String, Value> =
        std::mem::take(map).into_iter().filter(|(k, _)| k != "kind" && k != "apiVersion").collect();
    map.insert("kind".into(), def.kind.clone().into());
    map.insert("apiVersion".into(), expected_api_version.into());
    map.extend(rest);
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

/// Put the object in the request's namespace (or check it is there).
fn check_namespace(def: &ResourceDef, object: &mut Value, namespace: &str) -> Result<(), Status> {
    let metadata = meta::metadata_mut(object);
    if def.namespaced {
        let given = metadata.get("namespace").and_then(Value::as_str).unwrap_or_default();
        if !given.is_empty() && given != namespace {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        metadata.insert("namespace".into(), namespace.into());
    } else {
        metadata.remove("namespace");
    }
    Ok(())
}

/// Go's `%#v` of a `[]string`.
fn go_strings(items: &[String]) -> String {
    format!("[]string{{{}}}", items.iter().map(|s| kube_core::status::go_quote(s)).collect::<Vec<_>>().join(", "))
}

/// Put `metadata` in kube-apiserver's field order (name, generateName, namespace, uid, ...).
fn order_metadata(object: &mut Value) {
    const ORDER: &[&str] = &[
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    let metadata = meta::metadata_mut(object);
    let mut old = std::mem::take(metadata);
    for key in ORDER {
        if let Some(v) = old.shift_remove(*key) {
            metadata.insert(key.to_string(), v);
        }
    }
    metadata.extend(old);
}

impl Cluster {
    fn schema_check(&self, def: &ResourceDef, object: &mut Value, ctx: &mut Ctx) -> Result<Vec<FieldError>, Status> {
        let check = match def.custom.as_ref() {
            Some(custom) => match custom.schema.as_ref() {
                Some(schema) => crd::check_and_prune(object, schema),
                None => return Ok(vec![]),
            },
            None => match crate::openapi::component_schemas(self, &self.schema_def(def)) {
                Some((schemas, name)) => {
                    let unknown = crate::fields::prune_unknown(object, &schemas, &schemas[&name]);
                    crd::SchemaCheck { errors: vec![], unknown }
                }
                None => return Ok(vec![]),
            },
        };
        if !check.unknown.is_empty() {
            match ctx.field_validation {
                FieldValidation::Strict => {
                    let list: Vec<String> = check.unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
                    return Err(Status::bad_request(format!(
                        "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                        list.join(", "),
                        kind = def.kind,
                        version = def.version
                    )));
                }
                FieldValidation::Warn => {
                    ctx.warnings.extend(check.unknown.iter().map(|f| format!("unknown field {f:?}")));
                }
                FieldValidation::Ignore => {}
            }
        }
        Ok(check.errors)
    }

    /// The resource whose schema describes the stored form (events.k8s.io Events are stored as
    /// core Events).
    fn schema_def(&self, def: &ResourceDef) -> Arc<ResourceDef> {
        if def.group == "events.k8s.io"
            && let Some(core) = self.resource("", "v1", "events")
        {
            return core;
        }
        Arc::new(def.clone())
    }

    fn validate_all(
        &self,
        def: &ResourceDef,
        object: &Value,
        old: Option<&Value>,
        extra: Vec<FieldError>,
    ) -> Result<(), Status> {
        let mut errors = object_meta(object, def.strategy.name_rule);
        if let Some(old) = old {
            for (field, pointer) in [
                ("metadata.name", "/metadata/name"),
                ("metadata.namespace", "/metadata/namespace"),
                ("metadata.uid", "/metadata/uid"),
            ] {
                if object.pointer(pointer) != old.pointer(pointer) {
                    let value = object.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
                    errors.push(FieldError::invalid(field, value, "field is immutable"));
                }
            }
            if meta::deletion_timestamp(old).is_some() {
                let before = meta::finalizers(old);
                let added: Vec<String> = meta::finalizers(object).into_iter().filter(|f| !before.contains(f)).collect();
                if !added.is_empty() {
                    errors.push(FieldError::forbidden(
                        "metadata.finalizers",
                        format!(
                            "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                            go_strings(&added)
                        ),
                    ));
                }
            }
        }
        errors.extend((def.strategy.validate)(object));
        if let Some(old) = old {
            errors.extend((def.strategy.validate_update)(object, old));
        }
        errors.extend(extra);
        if errors.is_empty() { Ok(()) } else { Err(Status::invalid(&def.group_kind(), meta::name(object), &errors)) }
    }

    async fn admit(
        &self,
        def: &ResourceDef,
        operation: Operation,
        subresource: &str,
        object: &mut Value,
        old: Option<&Value>,
        ctx: &Ctx,
    ) -> Result<(), Status> {
        let hooks = self.admission_hooks();
        let request = AdmissionRequest {
            operation,
            resource: def,
            subresource,
            namespace: meta::namespace(object).to_string(),
            name: meta::name(object).to_string(),
            user: &ctx.user,
            dry_run: ctx.dry_run,
            old,
        };
        for hook in hooks.iter() {
            hook.mutate(&request, object).await?;
        }
        for hook in hooks.iter() {
            hook.validate(&request, object).await?;
        }
        Ok(())
    }

    /// Read one object.
    pub async fn get(&self, def: &ResourceDef, namespace: &str, name: &str) -> Result<Value, Status> {
        let key = self.objects.key(def, namespace, name);
        match self.objects.get(&key).await? {
            Some(stored) => Ok(convert::to_served(stored.object, &def.group, &def.version)),
            None => Err(Status::not_found(&def.group_resource(), name)),
        }
    }

    async fn get_stored(&self, def: &ResourceDef, namespace: &str, name: &str) -> Result<Option<Stored>, Status> {
        self.objects.get(&self.objects.key(def, namespace, name)).await
    }

    /// Check that every field label of a selector is one the kind supports.
    pub fn check_field_selector(def: &ResourceDef, options: &ListOptions) -> Result<(), Status> {
        for term in &options.field_selector.terms {
            if (def.strategy.field)(&Value::Null, &term.field).is_none() {
                return Err(Status::bad_request(format!("field label not supported: {}", term.field)));
            }
        }
        Ok(())
    }

    /// Whether `object` passes the label and field selectors of `options`.
    pub fn selects(def: &ResourceDef, options: &ListOptions, object: &Value) -> bool {
        options.label_selector.matches_object(object)
            && (options.field_selector.is_empty()
                || options.field_selector.matches(&|f| (def.strategy.field)(object, f)))
    }

    /// List a collection (one namespace, or all when `namespace` is empty), with selectors and
    /// paging.
    pub async fn list(&self, def: &ResourceDef, namespace: &str, options: &ListOptions) -> Result<ListResult, Status> {
        let raw = self.list_raw(def, namespace, options).await?;
        let items = raw
            .kvs
            .iter()
            .map(|kv| {
                storage::decode(&kv.value, kv.mod_revision).map(|o| convert::to_served(o, &def.group, &def.version))
            })
            .collect::<Result<_, _>>()?;
        Ok(ListResult {
            items,
            resource_version: raw.resource_version,
            continue_token: raw.continue_token,
            remaining: raw.remaining,
        })
    }

    /// A page of a list as stored key-values (what the JSON encoder splices without decoding).
    pub(crate) async fn list_raw(
        &self,
        def: &ResourceDef,
        namespace: &str,
        options: &ListOptions,
    ) -> Result<RawList, Status> {
        Self::check_field_selector(def, options)?;
        let prefix = self.objects.collection(def, namespace);
        let (mut start, mut revision) = match &options.continue_token {
            Some(token) => {
                if options.resource_version.as_deref().is_some_and(|rv| !rv.is_empty() && rv != "0") {
                    return Err(Status::bad_request("specifying resource version is not allowed when using continue"));
                }
                let token = ContinueToken::decode(token).map_err(Status::from)?;
                (Some(format!("{prefix}{}", token.start)), token.resource_version)
            }
            None => (None, 0),
        };
        if options.continue_token.is_none() {
            if let Some(rv) = options.revision().map_err(Status::from)? {
                match options.resource_version_match {
                    Some(ResourceVersionMatch::Exact) => revision = rv,
                    _ => {
                        let current = self.objects.current_revision().await?;
                        if rv > current {
                            return Err(Status::timeout(format!(
                                "Too large resource version: {rv}, current: {current}"
                            )));
                        }
                    }
                }
            } else if options.resource_version_match == Some(ResourceVersionMatch::Exact) {
                return Err(Status::bad_request(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        let limit = usize::try_from(options.limit).unwrap_or(0);
        let filtered = !options.label_selector.is_empty() || !options.field_selector.is_empty();
        let mut kept = Vec::new();
        let mut last_key: Option<String> = None;
        let mut more = false;
        loop {
            let chunk = if limit == 0 { 0 } else { (limit - kept.len()).max(if filtered { 256 } else { 0 }) };
            let (kvs, has_more, read_at) = self
                .objects
                .list(&prefix, start.as_deref(), revision, chunk)
                .await
                .map_err(|status| list_expired(status, options.continue_token.is_some()))?;
            revision = read_at;
            let count = kvs.len();
            if !filtered && limit == 0 {
                // The common case: every key, no copy of any.
                kept = kvs;
                break;
            }
            for kv in kvs {
                if limit != 0 && kept.len() >= limit {
                    more = true;
                    break;
                }
                last_key = Some(kv.key.clone());
                if !filtered || Self::selects(def, options, &storage::decode(&kv.value, kv.mod_revision)?) {
                    kept.push(kv);
                }
            }
            if more || !has_more || limit == 0 || count == 0 {
                more = more || (has_more && limit != 0);
                break;
            }
            if kept.len() >= limit {
                more = true;
                break;
            }
            start = last_key.as_ref().map(|k| format!("{k}\0"));
        }
        let continue_token = match (&last_key, more) {
            (Some(key), true) => Some(ContinueToken::new(revision, format!("{}\0", &key[prefix.len()..])).encode()),
            _ => None,
        };
        let remaining = match (&continue_token, filtered, &last_key) {
            (Some(_), false, Some(key)) => {
                Some(self.objects.count(&prefix, &format!("{key}\0"), revision).await? as i64)
            }
            _ => None,
        };
        Ok(RawList { kvs: kept, resource_version: revision, continue_token, remaining })
    }

    /// One object as stored (what the JSON encoder splices without decoding).
    pub(crate) async fn get_raw(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
    ) -> Result<store::KeyValue, Status> {
        let key = self.objects.key(def, namespace, name);
        self.objects.get_raw(&key).await?.ok_or_else(|| Status::not_found(&def.group_resource(), name))
    }

    /// Create an object (the body as decoded, in the served version).
    pub async fn create(
        &self,
        def: &ResourceDef,
        namespace: &str,
        body: Value,
        ctx: &mut Ctx,
    ) -> Result<Value, Status> {
        let mut object = body;
        check_type(def, &mut object)?;
        let mut object = convert::to_stored(object, &def.group);
        check_namespace(def, &mut object, namespace)?;
        let now = Utc::now();
        {
            let metadata = meta::metadata_mut(&mut object);
            if metadata.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
                return Err(Status::bad_request("resourceVersion should not be set on objects to be created"));
            }
            let name = metadata.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let generate = metadata.get("generateName").and_then(Value::as_str).unwrap_or_default().to_string();
            if name.is_empty() && !generate.is_empty() {
                metadata.insert("name".into(), names::generate(&generate).into());
            }
            metadata.insert("uid".into(), names::uid().into());
            metadata.insert("creationTimestamp".into(), meta::format_time(now).into());
            for field in ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "resourceVersion"] {
                metadata.remove(field);
            }
            if def.strategy.generation {
                metadata.insert("generation".into(), 1.into());
            } else {
                metadata.remove("generation");
            }
        }
        (def.strategy.defaults)(&mut object);
        (def.strategy.prepare_create)(&mut object);
        let schema_errors = self.schema_check(def, &mut object, ctx)?;
        self.validate_all(def, &object, None, schema_errors)?;
        self.admit(def, Operation::Create, "", &mut object, None, ctx).await?;
        let schema = patch_schema(def);
        let mut object =
            FieldManager::new(&schema, &def.api_version(), &def.kind).update(None, object, &ctx.manager(), now);
        order_metadata(&mut object);
        self.store_create(def, object, ctx).await
    }

    async fn store_create(&self, def: &ResourceDef, mut object: Value, ctx: &Ctx) -> Result<Value, Status> {
        let name = meta::name(&object).to_string();
        if ctx.dry_run {
            return Ok(convert::to_served(object, &def.group, &def.version));
        }
        let key = self.objects.key(def, meta::namespace(&object), &name);
        let txn = Txn {
            compare: vec![Compare::ModRevision(key.clone(), CompareOp::Equal, 0)],
            success: vec![Op::put(key, encode(&object))],
            failure: vec![],
        };
        let resp = self.objects.txn(txn).await?;
        if !resp.succeeded {
            return Err(Status::already_exists(&def.group_resource(), &name));
        }
        set_resource_version(&mut object, resp.revision);
        self.after_write(def, &object, resp.revision).await;
        Ok(convert::to_served(object, &def.group, &def.version))
    }

    /// Replace an object (PUT), or one of its subresources (`status`), with optimistic
    /// concurrency. Returns the stored object and whether it was created.
    pub async fn update(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        subresource: &str,
        body: Value,
        ctx: &mut Ctx,
    ) -> Result<(Value, bool), Status> {
        let mut body = body;
        check_type(def, &mut body)?;
        let body = convert::to_stored(body, &def.group);
        let body_name = meta::name(&body).to_string();
        if body_name != name {
            return Err(Status::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let requested_rv = meta::resource_version(&body).to_string();
        let manager = ctx.manager();
        self.write(def, namespace, name, subresource, ctx, |current| {
            let mut new = body.clone();
            if !requested_rv.is_empty()
                && let Some(current) = current
                && requested_rv != meta::resource_version(current)
            {
                return Err(Status::update_conflict(&def.group_resource(), name));
            }
            if let Some(current) = current
                && subresource == "status"
            {
                let mut merged = current.clone();
                match new.get("status") {
                    Some(status) => merged["status"] = status.clone(),
                    None => {
                        merged.as_object_mut().map(|m| m.remove("status"));
                    }
                }
                new = merged;
            }
            Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: !requested_rv.is_empty() }))
        })
        .await
    }

    /// Patch an object or a subresource: JSON patch, merge patch, strategic merge patch, or
    /// server-side apply (which may create).
    pub async fn patch(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        subresource: &str,
        patch_type: PatchType,
        body: &[u8],
        ctx: &mut Ctx,
    ) -> Result<(Value, bool), Status> {
        let schema = patch_schema(def);
        let manager = ctx.manager();
        let force = ctx.force;
        let api_version = def.api_version();
        let applied = if patch_type == PatchType::Apply {
            if ctx.field_manager.as_deref().is_none_or(str::is_empty) {
                return Err(Status::bad_request(
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                ));
            }
            let mut applied = kube_patch::decode_apply_patch(body).map_err(patch_status)?;
            if def.group == "events.k8s.io" {
                applied = convert::event_to_core(applied);
            }
            Some(applied)
        } else {
            None
        };
        self.write(def, namespace, name, subresource, ctx, |current| {
            let served_current = current.map(|c| convert::to_served(c.clone(), &def.group, &def.version));
            match (&applied, served_current) {
                (Some(applied), live) => {
                    let applied_name = meta::name(applied);
                    if !applied_name.is_empty() && applied_name != name {
                        return Err(Status::bad_request(format!(
                            "the name of the object ({applied_name}) does not match the name on the URL ({name})"
                        )));
                    }
                    let mut manager_fm = FieldManager::new(&schema, &api_version, &def.kind);
                    if !subresource.is_empty() {
                        manager_fm = manager_fm.subresource(subresource);
                    }
                    let mut applied = applied.clone();
                    if let Some(m) = applied.as_object_mut() {
                        let metadata = m.entry("metadata").or_insert_with(|| json!({}));
                        if let Some(metadata) = metadata.as_object_mut() {
                            metadata.insert("name".into(), name.into());
                        }
                    }
                    let merged =
                        manager_fm.apply(live.as_ref(), &applied, &manager, force, Utc::now()).map_err(patch_status)?;
                    Ok(Some(Write::Apply { object: convert::to_stored(merged, &def.group) }))
                }
                (None, None) => Ok(None),
                (None, Some(live)) => {
                    let patched = kube_patch::apply_patch(&live, body, patch_type, &schema).map_err(patch_status)?;
                    let patched = convert::to_stored(patched, &def.group);
                    let conditional = {
                        let rv = meta::resource_version(&patched);
                        !rv.is_empty() && rv != meta::resource_version(&live)
                    };
                    if conditional {
                        return Err(Status::update_conflict(&def.group_resource(), name));
                    }
                    Ok(Some(Write::Update { object: patched, manager: manager.clone(), conditional: false }))
                }
            }
        })
        .await
    }

    /// The update loop (`GuaranteedUpdate`): read, transform, prepare, validate, admit, write
    /// with a compare on the revision read; retried on a lost race unless the write was
    /// conditional on a resourceVersion.
    pub(crate) async fn write(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        subresource: &str,
        ctx: &mut Ctx,
        mut transform: impl FnMut(Option<&Value>) -> Result<Option<Write>, Status>,
    ) -> Result<(Value, bool), Status> {
        let schema = patch_schema(def);
        for _ in 0..16 {
            let current = self.get_stored(def, namespace, name).await?;
            let Some(write) = transform(current.as_ref().map(|c| &c.object))? else {
                return Err(Status::not_found(&def.group_resource(), name));
            };
            let Some(current) = current else {
                // A create through PUT or apply.
                let allowed = matches!(write, Write::Apply { .. }) || def.strategy.allow_create_on_update;
                if !allowed || !subresource.is_empty() {
                    return Err(Status::not_found(&def.group_resource(), name));
                }
                let (object, managed) = match write {
                    Write::Apply { object } => {
                        let managed = object.pointer("/metadata/managedFields").cloned();
                        (object, managed)
                    }
                    Write::Update { object, .. } => (object, None),
                };
                let object = convert::to_served(object, &def.group, &def.version);
                let mut created = self.create_prepared(def, namespace, object, ctx, managed).await?;
                if ctx.dry_run {
                    set_resource_version(&mut created, 0);
                    if let Some(m) = created.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                }
                return Ok((created, true));
            };
            let (mut object, conditional, manager) = match write {
                Write::Update { object, manager, conditional } => (object, conditional, Some(manager)),
                Write::Apply { object } => (object, false, None),
            };
            check_namespace(def, &mut object, namespace)?;
            let old = &current.object;
            {
                // System fields an update cannot change.
                let old_meta = old.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
                let metadata = meta::metadata_mut(&mut object);
                for field in
                    ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]
                {
                    match old_meta.get(field) {
                        Some(v)
                            if field != "uid"
                                || metadata.get("uid").and_then(Value::as_str).is_none_or(str::is_empty) =>
                        {
                            metadata.insert(field.into(), v.clone());
                        }
                        None if field != "uid" => {
                            metadata.remove(field);
                        }
                        _ => {}
                    }
                }
                metadata.remove("selfLink");
                metadata.insert("resourceVersion".into(), current.revision.to_string().into());
            }
            (def.strategy.defaults)(&mut object);
            if subresource.is_empty() {
                (def.strategy.prepare_update)(&mut object, old);
            }
            if def.strategy.generation {
                crate::registry::strategy::bump_generation(&mut object, old);
            }
            let schema_errors = self.schema_check(def, &mut object, ctx)?;
            self.validate_all(def, &object, Some(old), schema_errors)?;
            self.admit(def, Operation::Update, subresource, &mut object, Some(old), ctx).await?;
            if let Some(manager) = manager {
                let mut fm = FieldManager::new(&schema, &def.api_version(), &def.kind);
                if !subresource.is_empty() {
                    fm = fm.subresource(subresource);
                } else if def.has_status() {
                    fm = fm.reset_fields(&[&["status"]]);
                }
                let served_old = convert::to_served(old.clone(), &def.group, &def.version);
                let served_new = convert::to_served(object, &def.group, &def.version);
                object = convert::to_stored(fm.update(Some(&served_old), served_new, &manager, Utc::now()), &def.group);
            }
            order_metadata(&mut object);
            if &object == old {
                return Ok((convert::to_served(object, &def.group, &def.version), false));
            }
            if ctx.dry_run {
                return Ok((convert::to_served(object, &def.group, &def.version), false));
            }
            let key = self.objects.key(def, namespace, name);
            let delete_now = meta::deletion_timestamp(&object).is_some()
                && meta::finalizers(&object).is_empty()
                && object.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) == Some(0);
            let op = if delete_now { Op::delete(key.clone()) } else { Op::put(key.clone(), encode(&object)) };
            let txn = Txn {
                compare: vec![Compare::ModRevision(key, CompareOp::Equal, current.revision)],
                success: vec![op],
                failure: vec![],
            };
            let resp = self.objects.txn(txn).await?;
            if !resp.succeeded {
                if conditional {
                    return Err(Status::update_conflict(&def.group_resource(), name));
                }
                continue;
            }
            set_resource_version(&mut object, resp.revision);
            self.after_write(def, &object, resp.revision).await;
            return Ok((convert::to_served(object, &def.group, &def.version), false));
        }
        Err(Status::conflict(
            &def.group_resource(),
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ))
    }

    /// Create an object that went through apply or PUT (already typed), keeping its managed
    /// fields when apply computed them.
    async fn create_prepared(
        &self,
        def: &ResourceDef,
        namespace: &str,
        object: Value,
        ctx: &mut Ctx,
        managed: Option<Value>,
    ) -> Result<Value, Status> {
        let mut ctx_create = ctx.clone();
        let created = match managed {
            None => self.create(def, namespace, object, &mut ctx_create).await,
            Some(managed) => {
                let mut object = object;
                check_type(def, &mut object)?;
                let mut object = convert::to_stored(object, &def.group);
                check_namespace(def, &mut object, namespace)?;
                let now = Utc::now();
                {
                    let metadata = meta::metadata_mut(&mut object);
                    metadata.insert("uid".into(), names::uid().into());
                    metadata.insert("creationTimestamp".into(), meta::format_time(now).into());
                    for field in ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "resourceVersion"] {
                        metadata.remove(field);
                    }
                    if def.strategy.generation {
                        metadata.insert("generation".into(), 1.into());
                    }
                }
                (def.strategy.defaults)(&mut object);
                (def.strategy.prepare_create)(&mut object);
                let schema_errors = self.schema_check(def, &mut object, &mut ctx_create)?;
                self.validate_all(def, &object, None, schema_errors)?;
                self.admit(def, Operation::Create, "", &mut object, None, &ctx_create).await?;
                meta::metadata_mut(&mut object).insert("managedFields".into(), managed);
                order_metadata(&mut object);
                self.store_create(def, object, &ctx_create).await
            }
        };
        ctx.warnings.extend(ctx_create.warnings);
        created
    }

    /// Delete an object, honouring preconditions, graceful deletion, finalizers and the
    /// propagation policy.
    pub async fn delete(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        ctx: &mut Ctx,
    ) -> Result<Deleted, Status> {
        let gr = def.group_resource();
        for _ in 0..16 {
            let Some(current) = self.get_stored(def, namespace, name).await? else {
                return Err(Status::not_found(&gr, name));
            };
            let old = &current.object;
            if let Some(uid) = &options.precondition_uid
                && uid != meta::uid(old)
            {
                return Err(Status::conflict(
                    &gr,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta::uid(old)),
                ));
            }
            if let Some(rv) = &options.precondition_resource_version
                && rv != meta::resource_version(old)
            {
                return Err(Status::conflict(
                    &gr,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {}",
                        meta::resource_version(old)
                    ),
                ));
            }
            if def.kind == "Namespace" && def.group.is_empty() {
                if ["default", "kube-system", "kube-public"].contains(&name) {
                    return Err(Status::forbidden(&gr, name, "this namespace may not be deleted"));
                }
                if meta::deletion_timestamp(old).is_some()
                    && old.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
                {
                    return Err(Status::conflict(
                        &gr,
                        name,
                        "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.",
                    ));
                }
            }
            let mut admitted = old.clone();
            self.admit(def, Operation::Delete, "", &mut admitted, Some(old), ctx).await?;

            let now = Utc::now();
            let mut object = old.clone();
            let already_deleting = meta::deletion_timestamp(old).is_some();
            // Graceful deletion (pods on a node).
            let grace = match options.grace_period_seconds {
                Some(g) => (def.strategy.default_grace)(old).map(|_| g),
                None => (def.strategy.default_grace)(old),
            };
            let graceful = grace.is_some_and(|g| g > 0);
            if already_deleting && graceful {
                let current_grace =
                    old.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0);
                if grace.unwrap_or(0) >= current_grace {
                    return Ok(Deleted::Pending(convert::to_served(object, &def.group, &def.version)));
                }
            }
            // Garbage-collection finalizers from the propagation policy.
            let mut finalizers: Vec<String> =
                meta::finalizers(old).into_iter().filter(|f| f != "orphan" && f != "foregroundDeletion").collect();
            let had = meta::finalizers(old);
            let orphan = match (options.orphan_dependents, options.propagation_policy) {
                (Some(o), _) => o,
                (None, Some(Propagation::Orphan)) => true,
                (None, Some(_)) => false,
                (None, None) => had.iter().any(|f| f == "orphan"),
            };
            let foreground = match (options.orphan_dependents, options.propagation_policy) {
                (Some(true), _) => false,
                (_, Some(Propagation::Foreground)) => true,
                (None, None) => had.iter().any(|f| f == "foregroundDeletion"),
                _ => false,
            };
            let is_namespace = def.kind == "Namespace" && def.group.is_empty();
            if orphan && !is_namespace {
                finalizers.push("orphan".into());
            }
            if foreground && !is_namespace {
                finalizers.push("foregroundDeletion".into());
            }
            let finalizers_changed = {
                let mut a = finalizers.clone();
                let mut b = had.clone();
                a.sort();
                b.sort();
                a != b
            };
            let namespace_pending = is_namespace
                && old.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            let pending = graceful || !finalizers.is_empty() || namespace_pending;
            let key = self.objects.key(def, namespace, name);
            if pending || finalizers_changed {
                let metadata = meta::metadata_mut(&mut object);
                if finalizers.is_empty() {
                    metadata.remove("finalizers");
                } else {
                    metadata.insert("finalizers".into(), json!(finalizers));
                }
                if graceful {
                    let grace = grace.unwrap_or(0);
                    let at = now + chrono::Duration::seconds(grace);
                    if !already_deleting
                        || grace
                            < metadata.get("deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(i64::MAX)
                    {
                        metadata.insert("deletionTimestamp".into(), meta::format_time(at).into());
                        metadata.insert("deletionGracePeriodSeconds".into(), grace.into());
                    }
                } else if pending && !already_deleting {
                    metadata.insert("deletionTimestamp".into(), meta::format_time(now).into());
                    metadata.insert("deletionGracePeriodSeconds".into(), 0.into());
                }
                if is_namespace && namespace_pending {
                    object["status"] = json!({"phase": "Terminating"});
                }
                if pending {
                    order_metadata(&mut object);
                    if ctx.dry_run {
                        return Ok(Deleted::Pending(convert::to_served(object, &def.group, &def.version)));
                    }
                    let txn = Txn {
                        compare: vec![Compare::ModRevision(key.clone(), CompareOp::Equal, current.revision)],
                        success: vec![Op::put(key.clone(), encode(&object))],
                        failure: vec![],
                    };
                    let resp = self.objects.txn(txn).await?;
                    if !resp.succeeded {
                        continue;
                    }
                    set_resource_version(&mut object, resp.revision);
                    self.after_write(def, &object, resp.revision).await;
                    return Ok(Deleted::Pending(convert::to_served(object, &def.group, &def.version)));
                }
            }
            if ctx.dry_run {
                return Ok(Deleted::Gone(convert::to_served(object, &def.group, &def.version)));
            }
            let txn = Txn {
                compare: vec![Compare::ModRevision(key.clone(), CompareOp::Equal, current.revision)],
                success: vec![Op::delete(key)],
                failure: vec![],
            };
            let resp = self.objects.txn(txn).await?;
            if !resp.succeeded {
                continue;
            }
            set_resource_version(&mut object, resp.revision);
            self.after_delete(def, &object, resp.revision).await;
            return Ok(Deleted::Gone(convert::to_served(object, &def.group, &def.version)));
        }
        Err(Status::conflict(
            &gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ))
    }

    /// Delete every object of a collection that the selectors pick; returns them.
    pub async fn delete_collection(
        &self,
        def: &ResourceDef,
        namespace: &str,
        list: &ListOptions,
        options: &DeleteOptions,
        ctx: &mut Ctx,
    ) -> Result<ListResult, Status> {
        let mut unlimited = list.clone();
        unlimited.limit = 0;
        unlimited.continue_token = None;
        let listed = self.list(def, namespace, &unlimited).await?;
        let mut deleted = Vec::new();
        for object in listed.items {
            match self.delete(def, meta::namespace(&object), meta::name(&object), options, ctx).await {
                Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => deleted.push(o),
                Err(status) if status.code == 404 => {}
                Err(status) => return Err(status),
            }
        }
        Ok(ListResult { items: deleted, resource_version: listed.resource_version, ..Default::default() })
    }
}

/// What a transform asks the write loop to store.
pub(crate) enum Write {
    /// A full new object (PUT, non-apply patch) recorded for `manager`.
    Update { object: Value, manager: String, conditional: bool },
    /// The result of server-side apply (managed fields already computed).
    Apply { object: Value },
}

/// A kube-patch error as the Status kube-apiserver sends.
pub fn patch_status(err: kube_patch::PatchError) -> Status {
    let mut status = match err.code() {
        400 => Status::bad_request(err.status_message()),
        409 => Status::conflict(&Default::default(), "", ""),
        413 => Status::bad_request(err.status_message()),
        415 => Status::unsupported_media_type(&[]),
        422 => Status::bad_request(err.status_message()),
        _ => Status::internal(err.status_message()),
    };
    status.code = err.code();
    status.reason = err.reason().to_string();
    status.message = err.status_message();
    if err.code() == 500 {
        status.details = Default::default();
    }
    if err.code() == 409 {
        status.details = kube_core::status::StatusDetails {
            causes: err
                .causes()
                .into_iter()
                .map(|c| kube_core::status::StatusCause { reason: c.reason.into(), message: c.message, field: c.field })
                .collect(),
            ..Default::default()
        };
    }
    status
}

/// A list read at a compacted revision, in kube-apiserver's words for lists (its etcd3 storage's
/// `expiredList` and `continueExpired`); other failures pass through.
fn list_expired(status: Status, continued: bool) -> Status {
    if status.code != 410 {
        return status;
    }
    Status::expired(if continued {
        "The provided continue parameter is too old to display a consistent list result. You can start a new list \
         without the continue parameter."
    } else {
        "The resourceVersion for the provided list is too old."
    })
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn compacted_lists_are_expired_in_kube_apiservers_words() {
        let compacted = storage::store_status(store::StoreError::Compacted { requested: 3, compact_revision: 9 });
        let paged = list_expired(compacted.clone(), true);
        assert_eq!((paged.code, paged.reason.as_str()), (410, "Expired"));
        assert!(paged.message.starts_with("The provided continue parameter is too old to display a consistent"));
        assert_eq!(list_expired(compacted, false).message, "The resourceVersion for the provided list is too old.");
        let other = Status::internal("disk");
        assert_eq!(list_expired(other.clone(), true), other);
    }
}
