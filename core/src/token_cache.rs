//! The verified-token cache: a bounded map from a whole token to what its
//! verification produced, so a token presented again costs a hash and a
//! comparison instead of a signature check.
//!
//! Rules (each one tested):
//! - A hit needs the **whole token** to be equal, byte for byte: the map
//!   hashes the token with a keyed hash to find the bucket, then compares all
//!   of its bytes. Never a prefix, never the signature alone, never a hash
//!   alone (fast-jwt's GHSA-rp9m-7r4c-75qg cached by a non-cryptographic hash).
//! - An entry lives until the earlier of the token's `exp` (plus leeway) and
//!   the removal of the key that verified it; the time rules (`exp`, `nbf`,
//!   `iat`, max age) are re-run against `now` on every hit.
//! - Rejections are never cached.
//! - Bounded: at most `capacity` entries, and each subject (`sub`, or the
//!   verifying key when there is none) holds at most [`TokenCache::per_subject`]
//!   of them; past that, that subject's own oldest entry makes room. A flood
//!   of valid tokens for one identity therefore evicts only that identity's
//!   entries; other entries leave only in insertion order, when the whole cache
//!   is full.
//!
//! Sans-IO like the rest of the core: `now`, the keys in force and the hash
//! seed come from the host.

use crate::jwk::{KeySet, VerificationKey};
use crate::time::UnixTime;
use crate::verify::{TimeRules, Verified};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

/// Default number of verified tokens remembered.
pub const DEFAULT_CAPACITY: usize = 4096;

struct Entry<V> {
    value: V,
    times: TimeRules,
    valid_until: Option<UnixTime>,
    key: Arc<VerificationKey>,
    /// Which of the host's key sets verified it (a verifier's issuer).
    group: usize,
    /// The key-set generation at which `key` was last seen in force.
    generation: u64,
    subject: u64,
}

/// A bounded whole-token cache; `V` is what the host hands back on a hit
/// (the runtime stores an `Arc` of its verified token).
pub struct TokenCache<V> {
    map: HashMap<Arc<str>, Entry<V>, foldhash::fast::FixedState>,
    order: VecDeque<Arc<str>>,
    by_subject: HashMap<u64, VecDeque<Arc<str>>, foldhash::fast::FixedState>,
    hasher: foldhash::fast::FixedState,
    capacity: usize,
    per_subject: usize,
}

impl<V> std::fmt::Debug for TokenCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are bearer credentials: only counts.
        f.debug_struct("TokenCache").field("len", &self.map.len()).field("capacity", &self.capacity).finish()
    }
}

impl<V: Clone> TokenCache<V> {
    /// A cache of at most `capacity` tokens (0: never stores anything);
    /// `seed` keys the hash (hosts pass a random value).
    pub fn new(capacity: usize, seed: u64) -> TokenCache<V> {
        let hasher = foldhash::fast::FixedState::with_seed(seed);
        TokenCache {
            map: HashMap::with_hasher(hasher.clone()),
            order: VecDeque::new(),
            by_subject: HashMap::with_hasher(hasher.clone()),
            hasher,
            capacity,
            per_subject: (capacity / 64).max(8).min(capacity.max(1)),
        }
    }

    /// Most entries one subject may hold.
    pub fn per_subject(&self) -> usize {
        self.per_subject
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value stored for exactly `token`, if its time rules pass at `now`
    /// and `in_force(group, key, generation_seen)` says the key that verified
    /// it is still usable (returning the generation it was seen in, so the
    /// next hit at that generation skips the question). Otherwise the caller
    /// verifies in full, which names the rejection exactly as it would
    /// without the cache; an entry whose key is gone or whose token expired
    /// for good is dropped.
    pub fn get(
        &mut self,
        token: &str,
        now: UnixTime,
        in_force: impl FnOnce(usize, &Arc<VerificationKey>, u64) -> Option<u64>,
    ) -> Option<V> {
        let entry = self.map.get_mut(token)?;
        if entry.times.check(now).is_err() {
            // A caller may ask about another time than the real one; drop the
            // entry only once the token can never be valid again.
            if entry.valid_until.is_some_and(|t| now >= t) {
                self.remove(token);
            }
            return None;
        }
        match in_force(entry.group, &entry.key, entry.generation) {
            Some(generation) => {
                entry.generation = generation;
                Some(entry.value.clone())
            }
            None => {
                self.remove(token);
                None
            }
        }
    }

    /// Whether `key` is in `keys` (for hosts answering `in_force`).
    pub fn key_in(keys: &KeySet, key: &Arc<VerificationKey>) -> bool {
        keys.keys().iter().any(|k| Arc::ptr_eq(k, key) || k.handle() == key.handle())
    }

    /// Remembers that `token` verified as `verified` with a key of key set
    /// `group` at `generation`, handing back `value` on later hits.
    pub fn insert(&mut self, token: &str, group: usize, verified: &Verified, generation: u64, value: V) {
        if self.capacity == 0 || self.map.contains_key(token) {
            return;
        }
        let subject = {
            let sub = verified.claims.subject().unwrap_or_else(|| verified.key.handle());
            self.hasher.hash_one(sub)
        };
        let queue_len = self.by_subject.get(&subject).map_or(0, VecDeque::len);
        if queue_len >= self.per_subject {
            if let Some(oldest) = self.by_subject.get_mut(&subject).and_then(VecDeque::pop_front) {
                self.forget(&oldest, false);
            }
        }
        while self.map.len() >= self.capacity {
            let Some(oldest) = self.order.pop_front() else { break };
            if self.map.contains_key(&oldest) {
                self.forget(&oldest, true);
            }
        }
        let token: Arc<str> = Arc::from(token);
        let times = verified.time_rules();
        self.map.insert(
            token.clone(),
            Entry {
                value,
                times,
                valid_until: times.valid_until(),
                key: verified.key.clone(),
                group,
                generation,
                subject,
            },
        );
        self.order.push_back(token.clone());
        self.by_subject.entry(subject).or_default().push_back(token);
        // The insertion-order queue keeps names of entries already gone; keep it bounded.
        if self.order.len() > 2 * self.capacity.max(16) {
            let map = &self.map;
            self.order.retain(|t| map.contains_key(t));
        }
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.by_subject.clear();
    }

    fn remove(&mut self, token: &str) {
        if let Some((name, _)) = self.map.get_key_value(token) {
            let name = name.clone();
            self.forget(&name, true);
        }
    }

    /// Removes `token` from the map and, when asked, from its subject's queue.
    fn forget(&mut self, token: &Arc<str>, from_subject: bool) {
        let Some(entry) = self.map.remove(token) else { return };
        if from_subject {
            if let Some(queue) = self.by_subject.get_mut(&entry.subject) {
                if let Some(i) = queue.iter().position(|t| Arc::ptr_eq(t, token)) {
                    queue.remove(i);
                }
                if queue.is_empty() {
                    self.by_subject.remove(&entry.subject);
                }
            }
        } else if self.by_subject.get(&entry.subject).is_some_and(VecDeque::is_empty) {
            self.by_subject.remove(&entry.subject);
        }
    }
}
