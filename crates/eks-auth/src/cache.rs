//! The cache of verified tokens: kubectl presents the same token on every request for up to 14
//! minutes, so a token verified once is answered from here until it expires.
//!
//! Entries are keyed by a 128-bit SipHash-1-3 of the token under a secret key the caller supplies
//! (random per process): the token itself is never stored, and without the key nobody can find
//! another token with the same hash (the key never leaves the process and the hash is never
//! shown). SipHash rather than SHA-256 because it is keyed and about twice as fast on a
//! 600-byte token, which is the whole cost of a cache hit. Each entry remembers when its token
//! (or the session that signed it) expires and the credentials generation it was verified under
//! ([`crate::AccessKeys::generation`]); a hit needs both to still hold, so an expired token, a
//! deactivated key or a deleted user stops working on the next request. The cache is bounded:
//! when full, the oldest entry makes room.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::arn::Identity;
use crate::token::VerifiedToken;

/// The keyed hash of a token.
pub type TokenDigest = u128;

struct Entry {
    identity: Arc<Identity>,
    expires_at: DateTime<Utc>,
    generation: u64,
}

/// The digest is already a keyed pseudo-random value: index the map by its low bits directly.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

struct Entries {
    map: HashMap<TokenDigest, Entry, BuildHasherDefault<DigestHasher>>,
    /// Digests in insertion order, for eviction.
    order: VecDeque<TokenDigest>,
}

/// A bounded, thread-safe map from token digest to verified identity.
pub struct TokenCache {
    key: (u64, u64),
    capacity: usize,
    entries: RwLock<Entries>,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (none when 0), hashing them under `key`.
    pub fn new(capacity: usize, key: [u8; 16]) -> Self {
        let (k0, k1) = key.split_at(8);
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        TokenCache {
            key: (word(k0), word(k1)),
            capacity,
            entries: RwLock::new(Entries {
                map: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), BuildHasherDefault::default()),
                order: VecDeque::new(),
            }),
        }
    }

    /// The keyed hash of `token`.
    pub fn digest(&self, token: &str) -> TokenDigest {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        hasher.write(token.as_bytes());
        hasher.finish128().as_u128()
    }

    /// The identity a token with this digest was verified as, if it is still good at `now`
    /// under credentials `generation`.
    pub fn get(&self, digest: TokenDigest, now: DateTime<Utc>, generation: u64) -> Option<VerifiedToken> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.map.get(&digest)?;
        (entry.generation == generation && now <= entry.expires_at).then(|| VerifiedToken {
            identity: Arc::clone(&entry.identity),
            expires_at: entry.expires_at,
            from_cache: true,
        })
    }

    /// Remembers a verified token.
    pub fn insert(&self, digest: TokenDigest, verified: &VerifiedToken, generation: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = Entry { identity: Arc::clone(&verified.identity), expires_at: verified.expires_at, generation };
        if entries.map.insert(digest, entry).is_none() {
            entries.order.push_back(digest);
        }
        while entries.map.len() > self.capacity {
            let Some(oldest) = entries.order.pop_front() else { break };
            entries.map.remove(&oldest);
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).map.len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::arn::Caller;

    fn verified(arn: &str, expires_at: DateTime<Utc>) -> VerifiedToken {
        let caller = Caller { arn: arn.to_string(), account: "1".into(), user_id: "AIDA".into() };
        VerifiedToken {
            identity: Arc::new(Identity::from_caller(&caller, "AKIA", "h").unwrap()),
            expires_at,
            from_cache: false,
        }
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, minute, 0).unwrap()
    }

    #[test]
    fn digests_depend_on_the_key_and_every_byte() {
        let cache = TokenCache::new(4, [1; 16]);
        let other = TokenCache::new(4, [2; 16]);
        assert_eq!(cache.digest("k8s-aws-v1.abc"), cache.digest("k8s-aws-v1.abc"));
        assert_ne!(cache.digest("k8s-aws-v1.abc"), cache.digest("k8s-aws-v1.abd"));
        assert_ne!(cache.digest("k8s-aws-v1.abc"), other.digest("k8s-aws-v1.abc"));
    }

    #[test]
    fn hits_honour_expiry_and_generation() {
        let cache = TokenCache::new(4, [0; 16]);
        let digest = cache.digest("t");
        cache.insert(digest, &verified("arn:aws:iam::1:user/a", at(15)), 7);
        assert_eq!(cache.get(digest, at(10), 7).unwrap().identity.arn, "arn:aws:iam::1:user/a");
        assert!(cache.get(digest, at(15), 7).is_some(), "good up to and including its expiry");
        assert!(cache.get(digest, at(15) + TimeDelta::seconds(1), 7).is_none(), "expired");
        assert!(cache.get(digest, at(10), 8).is_none(), "credentials changed since");
        assert!(cache.get(cache.digest("u"), at(10), 7).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_oldest() {
        let cache = TokenCache::new(3, [0; 16]);
        for token in ["a", "b", "c", "d"] {
            cache.insert(cache.digest(token), &verified("arn:aws:iam::1:user/a", at(15)), 1);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(cache.digest("a"), at(1), 1).is_none());
        assert!(cache.get(cache.digest("d"), at(1), 1).is_some());
        // Re-inserting the same token does not grow the cache.
        for _ in 0..100 {
            cache.insert(cache.digest("d"), &verified("arn:aws:iam::1:user/a", at(15)), 2);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(cache.digest("d"), at(1), 2).is_some());
        assert_eq!(cache.entries.read().unwrap().order.len(), 3);
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let cache = TokenCache::new(0, [0; 16]);
        cache.insert(cache.digest("a"), &verified("arn:aws:iam::1:user/a", at(15)), 1);
        assert!(cache.is_empty());
    }
}
