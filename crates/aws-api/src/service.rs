//! IAM state in memory, persisted in the shared store: loaded once at start from `/iam/…`, read
//! without waiting on I/O, and changed one account at a time — an operation runs on a copy of
//! the account, the entries that changed are written in one store transaction, and only then
//! does the copy replace the live account. A failed operation or a failed write leaves both the
//! store and memory as they were.
//!
//! [`IamHandle`] is the cheap, cloneable view the rest of Rampart uses to look access keys up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use iam::persist::Sealer;
use iam::spec::AwsSpec;
use iam::{AccessKeyInfo, Account, Caller, CallerIdentity, IamState};
use sigv4::{CredentialLookup, SigningCredentials};
use store::{KeyRange, Op, Store, StoreExt, Txn};

use crate::error::AwsError;

/// Where IAM state lives in the store.
pub const PREFIX: &str = "/iam/";

/// How stale a key's recorded last use may get before it is written again.
const LAST_USED_GRANULARITY: TimeDelta = TimeDelta::minutes(1);

/// A read-only, cheap, thread-safe view of IAM state for the rest of Rampart (the EKS token
/// verifier): access keys with their secret, status and principal, reflecting every change at
/// once. As a [`sigv4::CredentialLookup`] it finds active keys and unexpired-or-not sessions
/// (expiry is checked by the verifier), with the caller's identity as principal.
#[derive(Clone)]
pub struct IamHandle {
    state: Arc<RwLock<IamState>>,
}

impl IamHandle {
    fn read(&self) -> RwLockReadGuard<'_, IamState> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Everything about access key `id` (long-term `AKIA…` or session `ASIA…`), active or not.
    pub fn access_key(&self, id: &str) -> Option<AccessKeyInfo> {
        self.read().access_key(id)
    }

    /// The caller a request signed with key `id` acts as.
    pub fn caller(&self, id: &str) -> Option<Caller> {
        self.read().caller(id)
    }

    /// Runs `f` on the current state.
    pub fn with_state<T>(&self, f: impl FnOnce(&IamState) -> T) -> T {
        f(&self.read())
    }
}

fn signing_credentials(info: &AccessKeyInfo) -> Option<SigningCredentials> {
    info.active.then(|| SigningCredentials {
        secret_access_key: info.secret_access_key.clone(),
        session_token: info.session_token.clone(),
        expiration: info.expiration,
    })
}

impl CredentialLookup for IamHandle {
    type Principal = CallerIdentity;

    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, CallerIdentity)> {
        let info = self.access_key(access_key_id)?;
        Some((signing_credentials(&info)?, info.identity))
    }
}

/// The lookup the AWS endpoint verifies with: the full caller, in one read of the state.
pub(crate) struct CallerLookup<'a>(pub &'a IamHandle);

impl CredentialLookup for CallerLookup<'_> {
    type Principal = Caller;

    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Caller)> {
        let state = self.0.read();
        let info = state.access_key(access_key_id)?;
        Some((signing_credentials(&info)?, state.caller(access_key_id)?))
    }
}

/// IAM state with its persistence.
pub struct IamService {
    handle: IamHandle,
    store: Arc<dyn Store>,
    sealer: Box<dyn Sealer + Send + Sync>,
    /// Serializes writers; holds what each account's entries were when last written.
    written: tokio::sync::Mutex<HashMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl IamService {
    /// Loads every account under `/iam/` from `store`.
    pub async fn load(store: Arc<dyn Store>, sealer: Box<dyn Sealer + Send + Sync>) -> Result<Self, AwsError> {
        let listing = store.list(PREFIX).await?;
        let mut by_account: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        for kv in listing.kvs {
            let Some(rest) = kv.key.strip_prefix(PREFIX) else { continue };
            let Some((account, key)) = rest.split_once('/') else { continue };
            by_account.entry(account.to_string()).or_default().insert(key.to_string(), kv.value.to_vec());
        }
        let mut state = IamState::new();
        for (id, entries) in &by_account {
            let account = Account::from_entries(id, entries.iter().map(|(k, v)| (k.as_str(), v.as_slice())), &*sealer)?;
            state.put_account(account);
        }
        Ok(IamService {
            handle: IamHandle { state: Arc::new(RwLock::new(state)) },
            store,
            sealer,
            written: tokio::sync::Mutex::new(by_account.into_iter().collect()),
        })
    }

    pub fn handle(&self) -> IamHandle {
        self.handle.clone()
    }

    /// Runs `f` on the current state.
    pub fn read<T>(&self, f: impl FnOnce(&IamState) -> T) -> T {
        self.handle.with_state(f)
    }

    /// Runs an operation on account `id` (created if missing) and persists what it changed.
    /// `f` also sees the whole state (as it was before), for checks that span accounts.
    pub async fn update<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Account, &IamState) -> Result<T, iam::IamError>,
    ) -> Result<T, AwsError> {
        let mut written = self.written.lock().await;
        let (account, value) = {
            let state = self.handle.read();
            let mut account = state.account(id).cloned().unwrap_or_else(|| Account::new(id));
            let value = f(&mut account, &state)?;
            (account, value)
        };
        self.commit(&mut written, vec![account]).await?;
        Ok(value)
    }

    /// Applies declared identities: all accounts change, or none.
    pub async fn apply_spec(&self, spec: &AwsSpec, now: DateTime<Utc>) -> Result<(), AwsError> {
        let mut written = self.written.lock().await;
        let mut next = self.handle.read().clone();
        let touched = next.apply_spec(spec, now, &mut rand::rng())?;
        let accounts = touched.iter().filter_map(|id| next.account(id).cloned()).collect();
        self.commit(&mut written, accounts).await
    }

    /// Records a use of a long-term key; writes it when the stored value is over a minute old.
    pub async fn record_key_use(
        &self,
        id: &str,
        service: &str,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let Some(account) = self.handle.read().key_account(id).map(str::to_string) else { return Ok(()) };
        let stale = self.read(|state| {
            let key = state.account(&account).and_then(|a| a.access_keys.get(id));
            key.is_some_and(|key| {
                key.last_used.as_ref().is_none_or(|used| {
                    now - used.last_used_date >= LAST_USED_GRANULARITY
                        || used.service_name != service
                        || used.region != region
                })
            })
        });
        if stale {
            self.update(&account, |account, _| {
                Ok(account.record_key_use(id, service, region, now, LAST_USED_GRANULARITY))
            })
            .await?;
        }
        Ok(())
    }

    async fn commit(
        &self,
        written: &mut HashMap<String, BTreeMap<String, Vec<u8>>>,
        accounts: Vec<Account>,
    ) -> Result<(), AwsError> {
        let mut txn = Txn::default();
        let mut entries = Vec::with_capacity(accounts.len());
        for account in &accounts {
            let new = account.to_entries(&*self.sealer);
            let empty = BTreeMap::new();
            let old = written.get(&account.id).unwrap_or(&empty);
            let prefix = format!("{PREFIX}{}/", account.id);
            for (key, value) in &new {
                if old.get(key) != Some(value) {
                    txn.success.push(Op::Put { key: format!("{prefix}{key}"), value: Bytes::from(value.clone()) });
                }
            }
            for key in old.keys().filter(|key| !new.contains_key(*key)) {
                txn.success.push(Op::Delete { key: format!("{prefix}{key}"), range: KeyRange::Single });
            }
            entries.push((account.id.clone(), new));
        }
        if !txn.success.is_empty() {
            self.store.txn(txn).await?;
        }
        for (id, new) in entries {
            written.insert(id, new);
        }
        let mut state = self.handle.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for account in accounts {
            state.put_account(account);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use iam::{EntityKind, IamError};
    use store::MemStore;

    use super::*;

    struct Plain;

    impl Sealer for Plain {
        fn seal(&self, plaintext: &str) -> String {
            format!("x{plaintext}")
        }
        fn open(&self, sealed: &str) -> Option<String> {
            sealed.strip_prefix('x').map(str::to_string)
        }
    }

    #[tokio::test]
    async fn changes_persist_failures_change_nothing_and_the_handle_sees_changes_at_once() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let service = IamService::load(store.clone(), Box::new(Plain)).await.unwrap();
        let handle = service.handle();
        let now = Utc::now();
        let key = service
            .update("123456789012", |account, _| {
                account.create_user("alice", None, vec![], now, &mut rand::rng())?;
                Ok(account.create_access_key("alice", now, &mut rand::rng())?.clone())
            })
            .await
            .unwrap();
        assert!(handle.access_key(&key.access_key_id).unwrap().active);
        let revision = store.current_revision().await.unwrap();

        // A failing operation writes nothing and changes nothing.
        let err = service
            .update("123456789012", |account, _| {
                account.attach_policy(EntityKind::User, "alice", "arn:aws:iam::aws:policy/ReadOnlyAccess")?;
                account.delete_user("alice")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, AwsError::Iam(IamError::DeleteConflict(_))));
        assert_eq!(store.current_revision().await.unwrap(), revision);
        assert!(
            service.read(|s| s.account("123456789012").unwrap().user("alice").unwrap().attached_policies.is_empty())
        );

        // Deactivation shows through the handle at once.
        service
            .update("123456789012", |account, _| {
                account.update_access_key(&key.access_key_id, None, iam::AccessKeyStatus::Inactive)
            })
            .await
            .unwrap();
        assert!(!handle.access_key(&key.access_key_id).unwrap().active);
        assert!(handle.lookup(&key.access_key_id).is_none());

        // A reload from the store sees the same state.
        let reloaded = IamService::load(store.clone(), Box::new(Plain)).await.unwrap();
        assert_eq!(
            reloaded.read(|s| s.account("123456789012").cloned()),
            service.read(|s| s.account("123456789012").cloned())
        );
        let stored = store.get(&format!("/iam/123456789012/access-keys/{}", key.access_key_id)).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&stored.value).contains(&format!("\"{}\"", key.secret_access_key)));
    }
}
