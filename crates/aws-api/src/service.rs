//! IAM state in memory, persisted in the shared store under `/iam/<account>/…`, read without
//! waiting on I/O, and kept current with the store however many replicas write it.
//!
//! Changes are made one account at a time: an operation runs on a copy of the account, the
//! entries that changed are written in one store transaction that also bumps the account's
//! version key `/iam/<account>` (no trailing slash) and holds only if that key's mod revision
//! is still the one this replica last saw — a compare-and-swap, so two replicas never overwrite
//! each other. On a conflict the account is read again from the store and the operation runs
//! again on it. Only a stored change replaces the live account; a failed operation or write
//! leaves store and memory as they were.
//!
//! Changes made elsewhere (another replica on the same etcd) arrive through one store watch on
//! `/iam/` (`store::follow`: resumed from the last revision applied, everything read again after
//! a compaction took the watch's history); events at or below an account's last applied
//! revision are skipped, so this replica's own writes and repeated events change nothing. Every change of the live state bumps a generation, which
//! the EKS token cache keys its entries by.
//!
//! [`IamHandle`] is the cheap, cloneable view the rest of Rampart uses to look access keys up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use iam::persist::Sealer;
use iam::spec::AwsSpec;
use iam::{AccessKeyInfo, Account, Caller, CallerIdentity, IamState};
use sigv4::{CredentialLookup, SigningCredentials};
use store::{
    Compare, CompareOp, EventKind, Follower, KeyRange, Op, RangeRequest, Revision, Store, StoreError, StoreExt, Txn,
};
use tokio::sync::Mutex;

use crate::error::AwsError;

/// Where IAM state lives in the store.
pub const PREFIX: &str = "/iam/";

/// How stale a key's recorded last use may get before it is written again.
const LAST_USED_GRANULARITY: TimeDelta = TimeDelta::minutes(1);

/// How many times an operation runs again after losing a race with another writer.
const CONFLICT_RETRIES: usize = 32;

/// A read-only, cheap, thread-safe view of IAM state for the rest of Rampart (the EKS token
/// verifier): access keys with their secret, status and principal, reflecting every change at
/// once. As a [`sigv4::CredentialLookup`] it finds active keys and unexpired-or-not sessions
/// (expiry is checked by the verifier), with the caller's identity as principal.
#[derive(Clone)]
pub struct IamHandle {
    state: Arc<RwLock<IamState>>,
    generation: Arc<AtomicU64>,
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

    /// A number that changes after every change of the state (this replica's or another's),
    /// once the change is visible through the handle.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Replaces `accounts` in the live state, then bumps the generation.
    fn put_accounts(&self, accounts: impl IntoIterator<Item = Account>) {
        let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for account in accounts {
            state.put_account(account);
        }
        drop(state);
        self.generation.fetch_add(1, Ordering::AcqRel);
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

/// The store key of account `id`'s version: its mod revision is what a write compares.
fn version_key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// An account as this replica knows it is stored.
#[derive(Clone, Debug, Default)]
struct StoredAccount {
    /// The mod revision of its version key (0: none yet).
    version: Revision,
    /// Its entries, by key relative to `/iam/<id>/`.
    entries: BTreeMap<String, Vec<u8>>,
    /// The store revision this knowledge is as of: watch events at or below it are old news.
    applied: Revision,
}

/// What this replica knows the store holds, held while writing (one writer at a time per replica).
#[derive(Default)]
struct Mirror {
    accounts: HashMap<String, StoredAccount>,
    /// The last revision the watch applied (it resumes after it).
    revision: Revision,
}

/// A key under `/iam/`: an account's version key, or one of its entries.
enum IamKey<'a> {
    Version(&'a str),
    Entry(&'a str, &'a str),
}

fn parse_key(key: &str) -> Option<IamKey<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    match rest.split_once('/') {
        Some((account, entry)) => Some(IamKey::Entry(account, entry)),
        None => Some(IamKey::Version(rest)),
    }
}

/// Every account in `kvs` (a listing under `/iam/`), as stored at `revision`.
fn stored_accounts(kvs: &[store::KeyValue], revision: Revision) -> HashMap<String, StoredAccount> {
    let mut accounts: HashMap<String, StoredAccount> = HashMap::new();
    for kv in kvs {
        match parse_key(&kv.key) {
            Some(IamKey::Version(id)) => {
                accounts.entry(id.to_string()).or_default().version = kv.mod_revision;
            }
            Some(IamKey::Entry(id, entry)) => {
                accounts.entry(id.to_string()).or_default().entries.insert(entry.to_string(), kv.value.to_vec());
            }
            None => {}
        }
    }
    for account in accounts.values_mut() {
        account.applied = revision;
    }
    accounts
}

/// What a commit found.
enum Commit {
    Done,
    /// Another writer changed these accounts since this replica last saw them.
    Conflict(Vec<String>),
}

/// The parts of the service its store watch shares.
struct Shared {
    handle: IamHandle,
    store: Arc<dyn Store>,
    sealer: Box<dyn Sealer + Send + Sync>,
    mirror: Mutex<Mirror>,
}

impl Shared {
    fn account(&self, id: &str, stored: &StoredAccount) -> Result<Account, AwsError> {
        let entries = stored.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
        Ok(Account::from_entries(id, entries, &*self.sealer)?)
    }

    /// Reads account `id` from the store again (after losing a race for it).
    async fn refresh(&self, mirror: &mut Mirror, id: &str) -> Result<(), AwsError> {
        let request =
            RangeRequest { range: KeyRange::UpTo(format!("{PREFIX}{id}0")), ..RangeRequest::key(version_key(id)) };
        let response = self.store.range(request).await?;
        let stored = stored_accounts(&response.kvs, response.revision)
            .remove(id)
            .unwrap_or(StoredAccount { applied: response.revision, ..StoredAccount::default() });
        let account = self.account(id, &stored)?;
        mirror.accounts.insert(id.to_string(), stored);
        self.handle.put_accounts([account]);
        Ok(())
    }

    /// Reads everything under `/iam/` again; returns the revision read at.
    async fn reload(&self, mirror: &mut Mirror) -> Result<Revision, AwsError> {
        let listing = self.store.list(PREFIX).await?;
        let accounts = stored_accounts(&listing.kvs, listing.revision);
        let mut live = Vec::with_capacity(accounts.len());
        for (id, stored) in &accounts {
            live.push(self.account(id, stored)?);
        }
        mirror.accounts = accounts;
        mirror.revision = listing.revision;
        self.handle.put_accounts(live);
        Ok(listing.revision)
    }

    /// Applies one watched revision's events.
    async fn apply(&self, events: Vec<store::Event>) -> Result<(), AwsError> {
        let Some(revision) = events.first().map(|event| event.kv.mod_revision) else { return Ok(()) };
        let mut mirror = self.mirror.lock().await;
        if revision <= mirror.revision {
            return Ok(()); // a repeated event (etcd 3.4.23 can repeat them)
        }
        let mut touched = BTreeSet::new();
        for event in &events {
            let (id, entry) = match parse_key(&event.kv.key) {
                Some(IamKey::Version(id)) => (id, None),
                Some(IamKey::Entry(id, entry)) => (id, Some(entry)),
                None => continue,
            };
            let stored = mirror.accounts.entry(id.to_string()).or_default();
            if revision <= stored.applied {
                continue; // this replica wrote it (or read it back) already
            }
            match (entry, event.kind) {
                (None, EventKind::Put) => stored.version = event.kv.mod_revision,
                (None, EventKind::Delete) => stored.version = 0,
                (Some(entry), EventKind::Put) => {
                    stored.entries.insert(entry.to_string(), event.kv.value.to_vec());
                }
                (Some(entry), EventKind::Delete) => {
                    stored.entries.remove(entry);
                }
            }
            touched.insert(id.to_string());
        }
        let mut live = Vec::with_capacity(touched.len());
        for id in &touched {
            let stored = mirror.accounts.get_mut(id).expect("touched above");
            stored.applied = revision;
            live.push(self.account(id, stored)?);
        }
        mirror.revision = revision;
        if !live.is_empty() {
            self.handle.put_accounts(live);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Follower for Shared {
    type Error = AwsError;

    async fn apply(&self, events: Vec<store::Event>) -> Result<(), AwsError> {
        Shared::apply(self, events).await
    }

    async fn resync(&self) -> Result<Revision, AwsError> {
        let mut mirror = self.mirror.lock().await;
        self.reload(&mut mirror).await
    }
}

/// IAM state with its persistence.
pub struct IamService {
    shared: Arc<Shared>,
}

impl IamService {
    /// Loads every account under `/iam/` from `store`, and follows the changes other replicas
    /// make to it from then on.
    pub async fn load(store: Arc<dyn Store>, sealer: Box<dyn Sealer + Send + Sync>) -> Result<Self, AwsError> {
        let handle = IamHandle { state: Arc::new(RwLock::new(IamState::new())), generation: Arc::default() };
        let shared = Arc::new(Shared { handle, store, sealer, mirror: Mutex::new(Mirror::default()) });
        let revision = shared.resync().await?;
        store::follow(shared.store.clone(), PREFIX, revision + 1, Arc::downgrade(&shared));
        Ok(IamService { shared })
    }

    pub fn handle(&self) -> IamHandle {
        self.shared.handle.clone()
    }

    /// Runs `f` on the current state.
    pub fn read<T>(&self, f: impl FnOnce(&IamState) -> T) -> T {
        self.shared.handle.with_state(f)
    }

    /// Runs an operation on account `id` (created if missing) and persists what it changed.
    /// `f` also sees the whole state (as it was before), for checks that span accounts. If
    /// another replica changed the account meanwhile, `f` runs again on its new state.
    pub async fn update<T>(
        &self,
        id: &str,
        mut f: impl FnMut(&mut Account, &IamState) -> Result<T, iam::IamError>,
    ) -> Result<T, AwsError> {
        self.retrying(|state| {
            let mut account = state.account(id).cloned().unwrap_or_else(|| Account::new(id));
            let value = f(&mut account, state)?;
            Ok((vec![account], value))
        })
        .await
    }

    /// Applies declared identities: all accounts change, or none.
    pub async fn apply_spec(&self, spec: &AwsSpec, now: DateTime<Utc>) -> Result<(), AwsError> {
        self.retrying(|state| {
            let mut next = state.clone();
            let touched = next.apply_spec(spec, now, &mut rand::rng())?;
            Ok((touched.iter().filter_map(|id| next.account(id).cloned()).collect(), ()))
        })
        .await
    }

    /// Runs `change` on the current state and commits the accounts it returns, running it
    /// again on fresh state after each lost race.
    async fn retrying<T>(
        &self,
        mut change: impl FnMut(&IamState) -> Result<(Vec<Account>, T), iam::IamError>,
    ) -> Result<T, AwsError> {
        let shared = &self.shared;
        let mut mirror = shared.mirror.lock().await;
        for _ in 0..CONFLICT_RETRIES {
            let (accounts, value) = shared.handle.with_state(&mut change)?;
            match self.commit(&mut mirror, accounts).await? {
                Commit::Done => return Ok(value),
                Commit::Conflict(ids) => {
                    for id in ids {
                        shared.refresh(&mut mirror, &id).await?;
                    }
                }
            }
        }
        Err(AwsError::Store(StoreError::Unavailable(format!(
            "IAM state kept changing under this request ({CONFLICT_RETRIES} attempts)"
        ))))
    }

    /// Records a use of a long-term key; writes it when the stored value is over a minute old.
    pub async fn record_key_use(
        &self,
        id: &str,
        service: &str,
        region: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        let Some(account) = self.shared.handle.read().key_account(id).map(str::to_string) else { return Ok(()) };
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

    /// Writes what changed in `accounts` if none changed in the store since this replica last
    /// saw it, then makes them live.
    async fn commit(&self, mirror: &mut Mirror, accounts: Vec<Account>) -> Result<Commit, AwsError> {
        let shared = &self.shared;
        let mut txn = Txn::default();
        let mut entries = Vec::with_capacity(accounts.len());
        for account in &accounts {
            let new = account.to_entries(&*shared.sealer);
            let known = mirror.accounts.get(&account.id);
            let empty = BTreeMap::new();
            let old = known.map_or(&empty, |stored| &stored.entries);
            let prefix = format!("{PREFIX}{}/", account.id);
            let before = txn.success.len();
            for (key, value) in &new {
                if old.get(key) != Some(value) {
                    txn.success.push(Op::Put { key: format!("{prefix}{key}"), value: Bytes::from(value.clone()) });
                }
            }
            for key in old.keys().filter(|key| !new.contains_key(*key)) {
                txn.success.push(Op::Delete { key: format!("{prefix}{key}"), range: KeyRange::Single });
            }
            if txn.success.len() > before {
                let version = version_key(&account.id);
                let expected = known.map_or(0, |stored| stored.version);
                txn.compare.push(Compare::ModRevision(version.clone(), CompareOp::Equal, expected));
                txn.success.push(Op::put(version, Bytes::new()));
                entries.push((account.id.clone(), new));
            }
        }
        if txn.success.is_empty() {
            shared.handle.put_accounts(accounts);
            return Ok(Commit::Done);
        }
        let response = shared.store.txn(txn).await?;
        if !response.succeeded {
            return Ok(Commit::Conflict(entries.into_iter().map(|(id, _)| id).collect()));
        }
        for (id, new) in entries {
            let stored = StoredAccount { version: response.revision, entries: new, applied: response.revision };
            mirror.accounts.insert(id, stored);
        }
        shared.handle.put_accounts(accounts);
        Ok(Commit::Done)
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
        assert!(handle.generation() > 0, "every change bumps the generation");
        assert_eq!(
            reloaded.read(|s| s.account("123456789012").cloned()),
            service.read(|s| s.account("123456789012").cloned())
        );
        let stored = store.get(&format!("/iam/123456789012/access-keys/{}", key.access_key_id)).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&stored.value).contains(&format!("\"{}\"", key.secret_access_key)));
    }

    /// Waits until `f` holds on `service`'s state (its watch applies other replicas' writes).
    async fn eventually(service: &IamService, f: impl Fn(&IamState) -> bool) {
        for _ in 0..200 {
            if service.read(&f) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the change never arrived");
    }

    #[tokio::test]
    async fn two_replicas_on_one_store_see_each_others_changes_and_never_overwrite_them() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let a = IamService::load(store.clone(), Box::new(Plain)).await.unwrap();
        let b = IamService::load(store.clone(), Box::new(Plain)).await.unwrap();
        let now = Utc::now();
        let account = "123456789012";
        a.update(account, |acct, _| Ok(acct.create_user("alice", None, vec![], now, &mut rand::rng())?.clone()))
            .await
            .unwrap();
        let key = a
            .update(account, |acct, _| Ok(acct.create_access_key("alice", now, &mut rand::rng())?.clone()))
            .await
            .unwrap();
        eventually(&b, |state| state.access_key(&key.access_key_id).is_some_and(|info| info.active)).await;
        let generation = b.handle().generation();

        // B writes on what it saw; A writes on a view B's write makes stale: A's compare fails,
        // A reads the account again and runs its operation on it, so both users are stored.
        b.update(account, |acct, _| Ok(acct.create_user("bob", None, vec![], now, &mut rand::rng())?.clone()))
            .await
            .unwrap();
        let mut runs = 0;
        a.update(account, |acct, _| {
            runs += 1;
            Ok(acct.create_user("carol", None, vec![], now, &mut rand::rng())?.clone())
        })
        .await
        .unwrap();
        let stored = IamService::load(store.clone(), Box::new(Plain)).await.unwrap();
        let users = |service: &IamService| {
            service.read(|state| {
                let account = state.account(account).unwrap();
                ["alice", "bob", "carol"].map(|name| account.user(name).is_ok())
            })
        };
        assert_eq!(users(&stored), [true, true, true], "no write overwrote another (the operation ran {runs} times)");

        // A deactivates the key: B stops finding it active, and its generation moved.
        a.update(account, |acct, _| acct.update_access_key(&key.access_key_id, None, iam::AccessKeyStatus::Inactive))
            .await
            .unwrap();
        eventually(&b, |state| state.access_key(&key.access_key_id).is_some_and(|info| !info.active)).await;
        assert!(b.handle().generation() > generation);
        assert!(b.handle().lookup(&key.access_key_id).is_none());
        eventually(&b, |state| state.account(account).is_some_and(|acct| acct.user("carol").is_ok())).await;
    }
}
