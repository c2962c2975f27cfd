//! Any bytes as a token, through `verify`, `prepare`/`complete` and
//! `decode_unverified`, against a key set of every kind: no panic, and both
//! paths agree; a second `verify` (through the header cache once a token with
//! that header verified) gives the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tokenkeep_core::{KeySet, Policy, UnixTime};

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/valid.json")).expect("vectors");
        let mut all = Vec::new();
        for v in doc["vectors"].as_array().expect("vectors") {
            for k in v["jwks"]["keys"].as_array().into_iter().flatten() {
                if !all.contains(k) {
                    all.push(k.clone());
                }
            }
        }
        let set = KeySet::from_jwks_value(&serde_json::json!({ "keys": all })).expect("jwks");
        set.with_secret(Some("hs-fuzz"), tokenkeep_core::Algorithm::HS256, &[7u8; 32]).expect("secret")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let now = UnixTime::from_secs(1_767_225_600);
    let policy = Policy::new("https://issuer.tokenkeep.test").with_audience("api://default").with_algorithms(
        tokenkeep_core::AlgSet::asymmetric().iter().chain([tokenkeep_core::Algorithm::HS256]).collect(),
    );
    let one_shot = tokenkeep_core::verify(token, keys(), &policy, now);
    let two_phase = tokenkeep_core::prepare(token, keys(), &policy, now).and_then(|p| {
        let ok = p.candidates().iter().any(|k| k.verify_signature(p.alg(), p.signing_input(), p.signature()));
        tokenkeep_core::complete(p, ok, now)
    });
    assert_eq!(one_shot.is_ok(), two_phase.is_ok());
    assert_eq!(tokenkeep_core::verify(token, keys(), &policy, now), one_shot);
    if let (Err(a), Err(b)) = (&one_shot, &two_phase) {
        assert_eq!(a.code(), b.code());
    }
    let _ = tokenkeep_core::decode_unverified(token);
    if let Ok(verified) = &one_shot {
        assert!(serde_json::from_str::<serde_json::Value>(verified.claims.json()).is_ok());
        let _ = verified.claims.as_map();
    }
    let _ = one_shot.map_err(|r| r.to_string());
});
