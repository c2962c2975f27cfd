//! The verified-token cache: hits need the whole token, entries die with
//! their token's `exp` (plus leeway) or their key, the time rules run again
//! on every hit, floods of valid tokens for one subject evict only that
//! subject's entries, and a cached answer always equals an uncached one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::Signer;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokenkeep_core::token_cache::TokenCache;
use tokenkeep_core::{KeySet, Policy, UnixTime, Verified, verify};

const ISSUER: &str = "https://idp.cache.test";
const T0: u64 = 1_767_225_600;

struct Signer2 {
    kid: String,
    key: ed25519_dalek::SigningKey,
}

impl Signer2 {
    fn new(kid: &str, seed: u8) -> Signer2 {
        Signer2 { kid: kid.into(), key: ed25519_dalek::SigningKey::from_bytes(&[seed; 32]) }
    }

    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig",
               "x": B64.encode(self.key.verifying_key().as_bytes())})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "kid": self.kid, "typ": "JWT"});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        format!("{input}.{}", B64.encode(self.key.sign(input.as_bytes()).to_bytes()))
    }
}

fn keys(signers: &[&Signer2]) -> KeySet {
    let doc = json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()});
    KeySet::from_jwks_value(&doc).unwrap()
}

fn policy() -> Policy {
    Policy::new(ISSUER).with_leeway(Duration::from_secs(30))
}

fn token(signer: &Signer2, sub: &str, iat: u64, exp: u64) -> String {
    signer.sign(&json!({"iss": ISSUER, "sub": sub, "iat": iat, "exp": exp}))
}

fn at(secs: u64) -> UnixTime {
    UnixTime::from_secs(secs)
}

/// A host's answer to "is this entry's key still in force": present in `keys`.
fn in_force(
    keys: &KeySet,
    generation: u64,
) -> impl FnOnce(usize, &Arc<tokenkeep_core::VerificationKey>, u64) -> Option<u64> {
    move |_, key, _| TokenCache::<()>::key_in(keys, key).then_some(generation)
}

fn cache_verified(cache: &mut TokenCache<Arc<Verified>>, t: &str, keys: &KeySet, now: UnixTime) -> Arc<Verified> {
    let v = Arc::new(verify(t, keys, &policy(), now).expect("verifies"));
    cache.insert(t, 0, &v, 1, v.clone());
    v
}

#[test]
fn a_hit_needs_the_whole_token() {
    let s = Signer2::new("k1", 1);
    let ks = keys(&[&s]);
    let mut cache = TokenCache::new(16, 7);
    let t = token(&s, "alice", T0, T0 + 600);
    let v = cache_verified(&mut cache, &t, &ks, at(T0));
    assert!(Arc::ptr_eq(&cache.get(&t, at(T0 + 1), in_force(&ks, 1)).unwrap(), &v));
    // The same header and claims, another signature; a prefix; an extension.
    let (signed, _) = t.rsplit_once('.').unwrap();
    for other in [format!("{signed}.{}", B64.encode([0u8; 64])), t[..t.len() - 1].to_owned(), format!("{t}A")] {
        assert!(cache.get(&other, at(T0 + 1), in_force(&ks, 1)).is_none(), "{other}");
    }
}

#[test]
fn entries_end_with_exp_plus_leeway() {
    let s = Signer2::new("k1", 1);
    let ks = keys(&[&s]);
    let mut cache = TokenCache::new(16, 7);
    let t = token(&s, "alice", T0, T0 + 600);
    cache_verified(&mut cache, &t, &ks, at(T0));
    // Leeway 30 s: still valid at exp + 29 s, not at exp + 30 s.
    assert!(cache.get(&t, at(T0 + 629), in_force(&ks, 1)).is_some());
    assert!(cache.get(&t, at(T0 + 630), in_force(&ks, 1)).is_none());
    assert_eq!(cache.len(), 0, "an entry whose token expired for good is dropped");
    // Asking about an earlier time than its iat (nbf-like rules) misses but keeps it.
    let t2 = token(&s, "bob", T0 + 100, T0 + 700);
    cache_verified(&mut cache, &t2, &ks, at(T0 + 100));
    assert!(cache.get(&t2, at(T0), in_force(&ks, 1)).is_none(), "issued in the future at that time");
    assert!(cache.get(&t2, at(T0 + 100), in_force(&ks, 1)).is_some(), "still there for the real time");
}

#[test]
fn entries_end_with_their_key() {
    let (s1, s2) = (Signer2::new("k1", 1), Signer2::new("k2", 2));
    let both = keys(&[&s1, &s2]);
    let mut cache = TokenCache::new(16, 7);
    let t1 = token(&s1, "alice", T0, T0 + 600);
    let t2 = token(&s2, "bob", T0, T0 + 600);
    cache_verified(&mut cache, &t1, &both, at(T0));
    cache_verified(&mut cache, &t2, &both, at(T0));
    // A new key set (generation 2) that no longer has k1.
    let only_k2 = keys(&[&s2]);
    assert!(cache.get(&t1, at(T0 + 1), in_force(&only_k2, 2)).is_none());
    assert!(cache.get(&t2, at(T0 + 1), in_force(&only_k2, 2)).is_some(), "k2 survived the re-parse (same handle)");
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_flood_for_one_subject_evicts_only_its_own_entries() {
    let s = Signer2::new("k1", 1);
    let ks = keys(&[&s]);
    let mut cache = TokenCache::new(256, 7);
    let others: Vec<String> = (0..100).map(|i| token(&s, &format!("user-{i}"), T0, T0 + 600)).collect();
    for t in &others {
        cache_verified(&mut cache, t, &ks, at(T0));
    }
    // 5000 distinct valid tokens of one attacker-controlled subject.
    for i in 0..5000u64 {
        let t = token(&s, "mallory", T0 + i % 60, T0 + 600 + i);
        cache_verified(&mut cache, &t, &ks, at(T0 + 60));
    }
    assert!(cache.len() <= 256);
    let kept = others.iter().filter(|t| cache.get(t, at(T0 + 61), in_force(&ks, 1)).is_some()).count();
    assert_eq!(kept, 100, "every other subject's entry survived the flood");
    assert_eq!(cache.len(), 100 + cache.per_subject(), "the attacker holds exactly its share");
}

#[test]
fn the_whole_cache_stays_bounded_with_many_subjects() {
    let s = Signer2::new("k1", 1);
    let ks = keys(&[&s]);
    let mut cache = TokenCache::new(64, 7);
    for i in 0..1000 {
        cache_verified(&mut cache, &token(&s, &format!("u{i}"), T0, T0 + 600), &ks, at(T0));
        assert!(cache.len() <= 64);
    }
    let mut off = TokenCache::new(0, 7);
    cache_verified(&mut off, &token(&s, "a", T0, T0 + 600), &ks, at(T0));
    assert!(off.is_empty(), "capacity 0 turns the cache off");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(11), ..ProptestConfig::default() })]

    /// Any sequence of (token, time, key set) questions: the answer through
    /// the cache equals the answer without it at the same `now`.
    #[test]
    fn cached_equals_uncached(steps in proptest::collection::vec((0usize..6, 0u64..1400, any::<bool>()), 1..60)) {
        let (s1, s2) = (Signer2::new("k1", 1), Signer2::new("k2", 2));
        let sets = [keys(&[&s1, &s2]), keys(&[&s2])];
        let tokens: Vec<String> = (0..6u64)
            .map(|i| {
                let signer = if i % 2 == 0 { &s1 } else { &s2 };
                token(signer, &format!("u{}", i % 3), T0 + i * 50, T0 + 300 + i * 150)
            })
            .collect();
        let mut cache: TokenCache<Arc<Verified>> = TokenCache::new(4, 3);
        for (i, dt, k1_removed) in steps {
            let (set, generation) = if k1_removed { (&sets[1], 2) } else { (&sets[0], 1) };
            let now = at(T0 + dt);
            let uncached = verify(&tokens[i], set, &policy(), now);
            let cached = match cache.get(&tokens[i], now, |_, key, _| TokenCache::<()>::key_in(set, key).then_some(generation)) {
                Some(v) => Ok((*v).clone()),
                None => {
                    let r = verify(&tokens[i], set, &policy(), now);
                    if let Ok(v) = &r {
                        let v = Arc::new(v.clone());
                        cache.insert(&tokens[i], 0, &v, generation, v.clone());
                    }
                    r
                }
            };
            prop_assert_eq!(cached.map(|v| v.claims.clone()), uncached.map(|v| v.claims.clone()));
        }
    }
}
