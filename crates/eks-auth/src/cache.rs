//! The cache of verified tokens: kubectl presents the same token on every request for up to 14
//! minutes, so a token verified once is answered from here until it expires.
//!
//! Entries are indexed by foldhash (a fast non-cryptographic hash) of the token, seeded with the
//! secret key the caller supplies and foldhash's per-process random seed, and each entry holds
//! the token it verified: a hit compares the presented token with it in constant time, so a
//! hash collision (found by luck or by design) is only a miss, never an answer for a token
//! nobody verified. The hash only spreads entries; security rests on the full comparison. This
//! is about five times cheaper than a keyed SipHash-1-3 of the ~600-byte token, which was the
//! whole cost of a hit. Each entry remembers when its token (or the session that signed it)
//! expires and the credentials generation it was verified under ([`crate::AccessKeys::generation`]);
//! a hit needs both to still hold, so an expired token, a deactivated key or a deleted user stops
//! working on the next request. The cache is bounded: when full, the oldest entry makes room.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;
use subtle::ConstantTimeEq;

use crate::arn::Identity;
use crate::token::VerifiedToken;

struct Entry {
    /// The token verified, compared in full on every hit.
    token: Box<[u8]>,
    identity: Arc<Identity>,
    expires_at: DateTime<Utc>,
    generation: u64,
}

/// The map's key is already a seeded hash of the token: index by it directly.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
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
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

struct Entries {
    map: HashMap<u64, Entry, BuildHasherDefault<PrehashedHasher>>,
    /// Hashes in insertion order, for eviction.
    order: VecDeque<u64>,
}

/// Whether `a` and `b` hold the same bytes, in time that depends only on their lengths: the
/// bytes are XORed and ORed together a word at a time with no early exit, and only the final
/// word is tested (with `subtle`). `subtle`'s own slice comparison goes byte by byte through an
/// optimization barrier, several times slower on a 600-byte token than the hash it guards.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = 0u64;
    for (x, y) in a_words.remainder().iter().zip(b_words.remainder()) {
        tail |= u64::from(x ^ y);
    }
    let word = |chunk: &[u8]| u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
    let difference = a_words.zip(b_words).fold(tail, |acc, (x, y)| acc | (word(x) ^ word(y)));
    bool::from(difference.ct_eq(&0))
}

/// A bounded, thread-safe map from token to verified identity.
pub struct TokenCache {
    hasher: SeedableRandomState,
    capacity: usize,
    entries: RwLock<Entries>,
}

impl TokenCache {
    /// A cache holding at most `capacity` tokens (none when 0), indexing them by a hash seeded
    /// with `key` (and foldhash's per-process random seed).
    pub fn new(capacity: usize, key: [u8; 16]) -> Self {
        let (k0, k1) = key.split_at(8);
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        // foldhash takes a 64-bit seed: fold the key's two words (odd multiplier, so equal
        // words do not cancel).
        let seed = word(k0) ^ word(k1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        TokenCache {
            hasher: SeedableRandomState::with_seed(seed, SharedSeed::global_random()),
            capacity,
            entries: RwLock::new(Entries {
                map: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), BuildHasherDefault::default()),
                order: VecDeque::new(),
            }),
        }
    }

    fn hash(&self, token: &str) -> u64 {
        self.hasher.hash_one(token.as_bytes())
    }

    /// The identity `token` was verified as, if it was verified, is still good at `now` and
    /// the credentials are still at `generation`.
    pub fn get(&self, token: &str, now: DateTime<Utc>, generation: u64) -> Option<VerifiedToken> {
        let hash = self.hash(token);
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.map.get(&hash)?;
        let good = constant_time_eq(&entry.token, token.as_bytes())
            && entry.generation == generation
            && now <= entry.expires_at;
        good.then(|| VerifiedToken {
            identity: Arc::clone(&entry.identity),
            expires_at: entry.expires_at,
            from_cache: true,
        })
    }

    /// Remembers a verified token (replacing whatever token shared its hash).
    pub fn insert(&self, token: &str, verified: &VerifiedToken, generation: u64) {
        if self.capacity == 0 {
            return;
        }
        let hash = self.hash(token);
        let entry = Entry {
            token: token.as_bytes().into(),
            identity: Arc::clone(&verified.identity),
            expires_at: verified.expires_at,
            generation,
        };
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.map.insert(hash, entry).is_none() {
            entries.order.push_back(hash);
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
    fn hashes_depend_on_the_key_and_every_byte() {
        let cache = TokenCache::new(4, [1; 16]);
        let other = TokenCache::new(4, [2; 16]);
        assert_eq!(cache.hash("k8s-aws-v1.abc"), cache.hash("k8s-aws-v1.abc"));
        assert_ne!(cache.hash("k8s-aws-v1.abc"), cache.hash("k8s-aws-v1.abd"));
        assert_ne!(cache.hash("k8s-aws-v1.abc"), other.hash("k8s-aws-v1.abc"));
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let token = "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9uPUdldENhbGxlcklkZW50aXR5";
        assert!(constant_time_eq(token.as_bytes(), token.as_bytes()));
        assert!(constant_time_eq(b"", b""));
        for i in 0..token.len() {
            let mut other = token.as_bytes().to_vec();
            other[i] ^= 1;
            assert!(!constant_time_eq(token.as_bytes(), &other), "byte {i} differs");
        }
        assert!(!constant_time_eq(token.as_bytes(), &token.as_bytes()[..token.len() - 1]));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn a_hash_collision_is_a_miss_never_an_answer() {
        let cache = TokenCache::new(4, [0; 16]);
        cache.insert("t", &verified("arn:aws:iam::1:user/a", at(15)), 7);
        // Make "u" collide with "t": its hash now finds the entry that verified "t".
        {
            let mut entries = cache.entries.write().unwrap();
            let entry = entries.map.remove(&cache.hash("t")).unwrap();
            entries.map.insert(cache.hash("u"), entry);
        }
        assert!(cache.get("u", at(10), 7).is_none(), "an unverified token is never answered for");
        // Verifying "u" then replaces the entry.
        cache.insert("u", &verified("arn:aws:iam::1:user/b", at(15)), 7);
        assert_eq!(cache.get("u", at(10), 7).unwrap().identity.arn, "arn:aws:iam::1:user/b");
    }

    #[test]
    fn hits_honour_expiry_and_generation() {
        let cache = TokenCache::new(4, [0; 16]);
        cache.insert("t", &verified("arn:aws:iam::1:user/a", at(15)), 7);
        let hit = cache.get("t", at(10), 7).unwrap();
        assert_eq!(hit.identity.arn, "arn:aws:iam::1:user/a");
        assert!(hit.from_cache);
        assert!(cache.get("t", at(15), 7).is_some(), "good up to and including its expiry");
        assert!(cache.get("t", at(15) + TimeDelta::seconds(1), 7).is_none(), "expired");
        assert!(cache.get("t", at(10), 8).is_none(), "credentials changed since");
        assert!(cache.get("u", at(10), 7).is_none());
        assert!(cache.get("tt", at(10), 7).is_none());
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_oldest() {
        let cache = TokenCache::new(3, [0; 16]);
        for token in ["a", "b", "c", "d"] {
            cache.insert(token, &verified("arn:aws:iam::1:user/a", at(15)), 1);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("a", at(1), 1).is_none());
        assert!(cache.get("d", at(1), 1).is_some());
        // Re-inserting the same token does not grow the cache.
        for _ in 0..100 {
            cache.insert("d", &verified("arn:aws:iam::1:user/a", at(15)), 2);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("d", at(1), 2).is_some());
        assert_eq!(cache.entries.read().unwrap().order.len(), 3);
    }

    #[test]
    fn a_zero_capacity_cache_stores_nothing() {
        let cache = TokenCache::new(0, [0; 16]);
        cache.insert("a", &verified("arn:aws:iam::1:user/a", at(15)), 1);
        assert!(cache.is_empty());
    }
}
