//! The object service's deletes: one object (preconditions, graceful deletion, finalizers, the
//! propagation policy, kube-apiserver's namespace rules) and deletecollection.

use chrono::Utc;
use kube_core::params::{DeleteOptions, ListOptions, Propagation};
use kube_core::{Status, meta};
use serde_json::{Value, json};
use store::{Compare, CompareOp, Op, Txn};

use super::checks::order_metadata;
use super::{Ctx, Deleted, ListResult, Objects, Target};
use crate::registry::kinds;
use crate::storage::admission::Operation;
use crate::storage::convert;
use crate::storage::object_store::{encode, set_resource_version};

impl Objects {
    /// Delete an object, honouring preconditions, graceful deletion, finalizers and the
    /// propagation policy.
    pub async fn delete(&self, target: &Target<'_>, options: &DeleteOptions, ctx: &mut Ctx) -> Result<Deleted, Status> {
        let (def, namespace, name) = (target.def, target.namespace, target.name);
        let gr = def.group_resource();
        for _ in 0..16 {
            let Some(current) = self.get_stored(target).await? else {
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
            if def.is(kinds::NAMESPACE) {
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
            let is_namespace = def.is(kinds::NAMESPACE);
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
            let key = self.store.key(def, namespace, name);
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
                    let resp = self.store.txn(txn).await?;
                    if !resp.succeeded {
                        continue;
                    }
                    set_resource_version(&mut object, resp.revision);
                    self.stored(def, &object, resp.revision, false).await;
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
            let resp = self.store.txn(txn).await?;
            if !resp.succeeded {
                continue;
            }
            set_resource_version(&mut object, resp.revision);
            self.stored(def, &object, resp.revision, true).await;
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
        target: &Target<'_>,
        list: &ListOptions,
        options: &DeleteOptions,
        ctx: &mut Ctx,
    ) -> Result<ListResult, Status> {
        let mut unlimited = list.clone();
        unlimited.limit = 0;
        unlimited.continue_token = None;
        let listed = self.list(target, &unlimited).await?;
        let mut deleted = Vec::new();
        for object in listed.items {
            match self
                .delete(&Target::object(target.def, meta::namespace(&object), meta::name(&object)), options, ctx)
                .await
            {
                Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => deleted.push(o),
                Err(status) if status.code == 404 => {}
                Err(status) => return Err(status),
            }
        }
        Ok(ListResult { items: deleted, resource_version: listed.resource_version, ..Default::default() })
    }
}
