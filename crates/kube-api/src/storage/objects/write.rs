//! The object service's writes: create, update (PUT and subresources), patch (JSON, merge,
//! strategic merge, server-side apply) and the update loop they share (kube-apiserver's
//! `GuaranteedUpdate`), with the type, namespace, schema and validation checks every write
//! passes. The order of the steps is the module doc of [`super`].

use std::sync::Arc;

use chrono::Utc;
use kube_core::params::FieldValidation;
use kube_core::validation::object_meta;
use kube_core::{FieldError, Status, meta};
use kube_patch::{FieldManager, PatchType};
use serde_json::{Value, json};
use store::{Compare, CompareOp, Op, Txn};

use super::checks::{check_namespace, check_type, go_strings, order_metadata, patch_schema, patch_status};
use super::{Ctx, Objects, Target, Write};
use crate::registry::{ResourceDef, crd, kinds, names};
use crate::storage::admission::{AdmissionRequest, Operation};
use crate::storage::convert;
use crate::storage::fields;
use crate::storage::object_store::{encode, set_resource_version};

/// How a new object came: a create (a set resourceVersion is refused), or a PUT or apply of a
/// missing object (its resourceVersion is dropped).
#[derive(Clone, Copy, PartialEq, Eq)]
enum New {
    Created,
    ByUpdate,
}

impl Objects {
    fn schema_check(&self, def: &ResourceDef, object: &mut Value, ctx: &mut Ctx) -> Result<Vec<FieldError>, Status> {
        let check = match def.custom.as_ref() {
            Some(custom) => match custom.schema.as_ref() {
                Some(schema) => crd::check_and_prune(object, schema),
                None => return Ok(vec![]),
            },
            None => match self.registry.snapshot().component_schemas(&self.schema_def(def)) {
                Some((schemas, name)) => {
                    let unknown = fields::prune_unknown(object, &schemas, &schemas[&name]);
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
        if def.group == kinds::EVENTS_GROUP
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

    pub(super) async fn admit(
        &self,
        def: &ResourceDef,
        operation: Operation,
        subresource: &str,
        object: &mut Value,
        old: Option<&Value>,
        ctx: &mut Ctx,
    ) -> Result<(), Status> {
        let hooks = self.admission.load();
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
        let mut warnings = Vec::new();
        for hook in hooks.iter() {
            warnings.extend(hook.warnings(&request, object).await);
        }
        ctx.warnings.extend(warnings);
        Ok(())
    }

    /// Create an object (the body as decoded, in the served version).
    pub async fn create(&self, target: &Target<'_>, body: Value, ctx: &mut Ctx) -> Result<Value, Status> {
        let def = target.def;
        let (object, now) = self.admit_new(target, body, ctx, New::Created).await?;
        let schema = patch_schema(def);
        let mut object =
            FieldManager::new(&schema, &def.api_version(), &def.kind).update(None, object, &ctx.manager(), now);
        order_metadata(&mut object);
        self.store_create(def, object, ctx).await
    }

    /// Everything a new object goes through before its managed fields and the store (a create,
    /// or the create a PUT or an apply makes): type and namespace checks, the stored version,
    /// metadata bookkeeping (generateName, uid, creationTimestamp, generation), defaults,
    /// prepare, schema, validation and admission. Returns it and the creation time.
    async fn admit_new(
        &self,
        target: &Target<'_>,
        body: Value,
        ctx: &mut Ctx,
        new: New,
    ) -> Result<(Value, chrono::DateTime<Utc>), Status> {
        let (def, namespace) = (target.def, target.namespace);
        let mut object = body;
        check_type(def, &mut object)?;
        let mut object = convert::to_stored(object, &def.group);
        check_namespace(def, &mut object, namespace)?;
        let now = Utc::now();
        {
            let metadata = meta::metadata_mut(&mut object);
            let resource_version = metadata.get("resourceVersion").and_then(Value::as_str).unwrap_or_default();
            if new == New::Created && !resource_version.is_empty() {
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
        Ok((object, now))
    }

    async fn store_create(&self, def: &ResourceDef, mut object: Value, ctx: &Ctx) -> Result<Value, Status> {
        let name = meta::name(&object).to_string();
        if ctx.dry_run {
            return Ok(convert::to_served(object, &def.group, &def.version));
        }
        let key = self.store.key(def, meta::namespace(&object), &name);
        let txn = Txn {
            compare: vec![Compare::ModRevision(key.clone(), CompareOp::Equal, 0)],
            success: vec![Op::put(key, encode(&object))],
            failure: vec![],
        };
        let resp = self.store.txn(txn).await?;
        if !resp.succeeded {
            return Err(Status::already_exists(&def.group_resource(), &name));
        }
        set_resource_version(&mut object, resp.revision);
        self.stored(def, &object, resp.revision, false).await;
        Ok(convert::to_served(object, &def.group, &def.version))
    }

    /// Replace an object (PUT), or one of its subresources (`status`), with optimistic
    /// concurrency. Returns the stored object and whether it was created.
    pub async fn update(&self, target: &Target<'_>, body: Value, ctx: &mut Ctx) -> Result<(Value, bool), Status> {
        let (def, name, subresource) = (target.def, target.name, target.subresource);
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
        self.guaranteed_update(target, ctx, |current| {
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
        target: &Target<'_>,
        patch_type: PatchType,
        body: &[u8],
        ctx: &mut Ctx,
    ) -> Result<(Value, bool), Status> {
        let (def, name, subresource) = (target.def, target.name, target.subresource);
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
            if def.group == kinds::EVENTS_GROUP {
                applied = convert::event_to_core(applied);
            }
            Some(applied)
        } else {
            None
        };
        self.guaranteed_update(target, ctx, |current| {
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
    pub(crate) async fn guaranteed_update(
        &self,
        target: &Target<'_>,
        ctx: &mut Ctx,
        mut transform: impl FnMut(Option<&Value>) -> Result<Option<Write>, Status>,
    ) -> Result<(Value, bool), Status> {
        let (def, namespace, name, subresource) = (target.def, target.namespace, target.name, target.subresource);
        let schema = patch_schema(def);
        for _ in 0..16 {
            let current = self.get_stored(target).await?;
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
                let mut created = self.create_prepared(target, object, ctx, managed).await?;
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
            let key = self.store.key(def, namespace, name);
            let delete_now = meta::deletion_timestamp(&object).is_some()
                && meta::finalizers(&object).is_empty()
                && object.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) == Some(0);
            let op = if delete_now { Op::delete(key.clone()) } else { Op::put(key.clone(), encode(&object)) };
            let txn = Txn {
                compare: vec![Compare::ModRevision(key, CompareOp::Equal, current.revision)],
                success: vec![op],
                failure: vec![],
            };
            let resp = self.store.txn(txn).await?;
            if !resp.succeeded {
                if conditional {
                    return Err(Status::update_conflict(&def.group_resource(), name));
                }
                continue;
            }
            set_resource_version(&mut object, resp.revision);
            self.stored(def, &object, resp.revision, false).await;
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
        target: &Target<'_>,
        object: Value,
        ctx: &mut Ctx,
        managed: Option<Value>,
    ) -> Result<Value, Status> {
        let (def, namespace) = (target.def, target.namespace);
        let mut ctx_create = ctx.clone();
        let created = match managed {
            None => self.create(&Target::collection(def, namespace), object, &mut ctx_create).await,
            Some(managed) => {
                let (mut object, _) = self.admit_new(target, object, &mut ctx_create, New::ByUpdate).await?;
                meta::metadata_mut(&mut object).insert("managedFields".into(), managed);
                order_metadata(&mut object);
                self.store_create(def, object, &ctx_create).await
            }
        };
        ctx.warnings.extend(ctx_create.warnings);
        created
    }
}
