//! Objects in the store: the key layout (`/clusters/<C>/registry/<group>/<resource>/[<ns>/]<name>`,
//! core group `core`), the stored form (JSON without `resourceVersion`, which is the key's mod
//! revision and is set on every read, as kube-apiserver's etcd3 storage does), and timed access
//! to the [`store::Store`] with store errors mapped to `Status`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kube_core::Status;
use serde_json::Value;
use store::{KeyRange, KeyValue, RangeRequest, Revision, Store, StoreError, Txn};

use crate::metrics::Metrics;
use crate::registry::{ResourceDef, Storage};

/// A cluster's view of the store: its key prefix and timed operations.
#[derive(Clone)]
pub struct ObjectStore {
    store: Arc<dyn Store>,
    /// `/clusters/<name>/registry/`
    prefix: String,
    metrics: Arc<Metrics>,
}

/// Map a store failure to the Status a client sees.
pub fn store_status(err: StoreError) -> Status {
    match err {
        StoreError::Compacted { requested, compact_revision } => {
            Status::too_old_resource_version(requested, compact_revision)
        }
        StoreError::FutureRevision { requested, current } => {
            Status::timeout(format!("Too large resource version: {requested}, current: {current}"))
        }
        other => Status::internal(other),
    }
}

/// An object read back: the decoded JSON (with `resourceVersion` set) and its revision.
#[derive(Clone, Debug)]
pub struct Stored {
    pub key: String,
    pub object: Value,
    pub revision: Revision,
}

/// Decode a stored value and set its `resourceVersion`.
pub fn decode(value: &[u8], revision: Revision) -> Result<Value, Status> {
    let mut object: Value =
        serde_json::from_slice(value).map_err(|e| Status::internal(format!("decoding a stored object: {e}")))?;
    set_resource_version(&mut object, revision);
    Ok(object)
}

pub fn set_resource_version(object: &mut Value, revision: Revision) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), revision.to_string().into());
    }
}

/// The stored form: no `resourceVersion` (it is the key's mod revision) and no `selfLink`.
pub fn encode(object: &Value) -> Bytes {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("selfLink");
    }
    Bytes::from(serde_json::to_vec(&object).expect("JSON values serialize"))
}

impl ObjectStore {
    pub fn new(store: Arc<dyn Store>, cluster: &str, metrics: Arc<Metrics>) -> Self {
        ObjectStore { store, prefix: format!("/clusters/{cluster}/registry/"), metrics }
    }

    pub fn raw(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `/clusters/<name>/registry/`
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key prefix of a resource's collection (all namespaces when `namespace` is empty).
    pub fn collection(&self, def: &ResourceDef, namespace: &str) -> String {
        let Storage::Stored { group, resource } = &def.storage else {
            return format!("{}-/", self.prefix);
        };
        let group = if group.is_empty() { "core" } else { group.as_str() };
        if def.namespaced && !namespace.is_empty() {
            format!("{}{group}/{resource}/{namespace}/", self.prefix)
        } else {
            format!("{}{group}/{resource}/", self.prefix)
        }
    }

    /// The key of one object.
    pub fn key(&self, def: &ResourceDef, namespace: &str, name: &str) -> String {
        format!("{}{name}", self.collection(def, if def.namespaced { namespace } else { "" }))
    }

    async fn timed<T>(&self, operation: &'static str, f: impl Future<Output = store::Result<T>>) -> Result<T, Status> {
        let start = Instant::now();
        let out = f.await;
        self.metrics.observe_store(operation, start.elapsed());
        out.map_err(store_status)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Stored>, Status> {
        match self.get_raw(key).await? {
            None => Ok(None),
            Some(kv) => {
                Ok(Some(Stored { object: decode(&kv.value, kv.mod_revision)?, revision: kv.mod_revision, key: kv.key }))
            }
        }
    }

    pub async fn get_raw(&self, key: &str) -> Result<Option<KeyValue>, Status> {
        let resp = self.timed("get", self.store.range(RangeRequest::key(key))).await?;
        Ok(resp.kvs.into_iter().next())
    }

    /// How many keys under `prefix` from `start` on exist at `revision`.
    pub async fn count(&self, prefix: &str, start: &str, revision: Revision) -> Result<usize, Status> {
        let request = RangeRequest {
            key: start.to_string(),
            range: KeyRange::UpTo(prefix_end(prefix)),
            limit: 0,
            revision,
            count_only: true,
        };
        Ok(self.timed("count", self.store.range(request)).await?.count)
    }

    /// Keys under `prefix` from `start` (inclusive) on, at `revision` (0: now), at most `limit`
    /// (0: all). Returns the raw key-values, whether more remain, and the revision read at.
    pub async fn list(
        &self,
        prefix: &str,
        start: Option<&str>,
        revision: Revision,
        limit: usize,
    ) -> Result<(Vec<KeyValue>, bool, Revision), Status> {
        let request = match start {
            None => RangeRequest { limit, revision, ..RangeRequest::prefix(prefix) },
            Some(start) => RangeRequest {
                key: start.to_string(),
                range: KeyRange::UpTo(prefix_end(prefix)),
                limit,
                revision,
                count_only: false,
            },
        };
        let resp = self.timed("list", self.store.range(request)).await?;
        Ok((resp.kvs, resp.more, resp.revision))
    }

    pub async fn txn(&self, txn: Txn) -> Result<store::TxnResponse, Status> {
        self.timed("txn", self.store.txn(txn)).await
    }

    pub async fn current_revision(&self) -> Result<Revision, Status> {
        self.timed("revision", self.store.current_revision()).await
    }
}

/// The stored bytes with `resourceVersion` set, without decoding them, when they have the shape
/// every write gives them (`{"kind":"…","apiVersion":"…","metadata":{…`); `None` otherwise (then
/// decode), or when the object is not stored in `api_version` (it needs converting). Without
/// `type_meta`, `kind` and `apiVersion` are left out (as in typed lists).
pub fn splice(value: &[u8], revision: Revision, type_meta: bool, api_version: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len() + 48);
    splice_into(&mut out, value, revision, type_meta, api_version).then_some(out)
}

/// [`splice`], appended to `out` (a list's buffer): whether it could be; `out` is unchanged if not.
pub fn splice_into(out: &mut Vec<u8>, value: &[u8], revision: Revision, type_meta: bool, api_version: &str) -> bool {
    fn string_end(bytes: &[u8]) -> Option<usize> {
        let end = bytes.iter().position(|b| *b == b'"')?;
        (!bytes[..end].contains(&b'\\')).then_some(end)
    }
    let spliced = || -> Option<&[u8]> {
        let rest = value.strip_prefix(br#"{"kind":""#)?;
        let rest = &rest[string_end(rest)? + 1..];
        let rest = rest.strip_prefix(br#","apiVersion":""#)?;
        let version_end = string_end(rest)?;
        if &rest[..version_end] != api_version.as_bytes() {
            return None;
        }
        rest[version_end + 1..].strip_prefix(br#","metadata":{"#)
    };
    let Some(rest) = spliced() else { return false };
    if type_meta {
        out.extend_from_slice(&value[..value.len() - rest.len()]);
    } else {
        out.extend_from_slice(br#"{"metadata":{"#);
    }
    out.extend_from_slice(br#""resourceVersion":""#);
    let _ = write!(out, "{revision}");
    out.push(b'"');
    if rest.first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    true
}

/// The smallest key greater than every key with this prefix.
pub fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_form_has_no_resource_version() {
        let obj = json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "5", "selfLink": "/x"}});
        let bytes = encode(&obj);
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, json!({"kind": "ConfigMap", "metadata": {"name": "a"}}));
        assert_eq!(decode(&bytes, 9).unwrap()["metadata"]["resourceVersion"], "9");
        assert_eq!(prefix_end("/a/b/"), "/a/b0");
        let stored = encode(&json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p"}, "spec": {}}));
        let spliced: Value = serde_json::from_slice(&splice(&stored, 7, true, "v1").unwrap()).unwrap();
        assert_eq!(spliced, decode(&stored, 7).unwrap());
        let item: Value = serde_json::from_slice(&splice(&stored, 7, false, "v1").unwrap()).unwrap();
        assert_eq!(item, json!({"metadata": {"name": "p", "resourceVersion": "7"}, "spec": {}}));
        let empty = encode(&json!({"kind": "X", "apiVersion": "v1", "metadata": {}}));
        assert!(serde_json::from_slice::<Value>(&splice(&empty, 1, true, "v1").unwrap()).is_ok());
        assert_eq!(splice(&stored, 7, true, "apps/v1"), None, "another version needs converting");
        assert_eq!(splice(br#"{"apiVersion":"v1","kind":"X","metadata":{}}"#, 1, true, "v1"), None);
    }
}
