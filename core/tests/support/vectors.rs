// Runs one shared vector (tests/vectors/*.json) through the core. Included by
// the Rust vector suite and by the wasm32 self-check example, so both run the
// vectors with the same code.

use serde_json::Value;
use tokenkeep_core::{KeySet, Policy, PolicyConfig, UnixTime};

/// The vector files, embedded so the wasm32 build needs no filesystem.
pub const VECTOR_FILES: [(&str, &str); 5] = [
    ("valid.json", include_str!("../../../tests/vectors/valid.json")),
    ("rejections.json", include_str!("../../../tests/vectors/rejections.json")),
    ("attacks.json", include_str!("../../../tests/vectors/attacks.json")),
    ("keysets.json", include_str!("../../../tests/vectors/keysets.json")),
    ("spiffe.json", include_str!("../../../tests/vectors/spiffe.json")),
];

/// Which verification path to drive.
#[derive(Clone, Copy, Debug)]
pub enum Path {
    /// `verify`.
    OneShot,
    /// `prepare`, a signature check standing in for the host, `complete`.
    TwoPhase,
    /// `verify` twice on one key set: the second answer comes through the
    /// header cache whenever the first verified, and must be the same.
    HeaderCacheHit,
    /// The edge path twice on one key snapshot: parse through its header
    /// cache, `prepare_parsed_at`, a signature check standing in for the
    /// host, `complete_pending`; the second answer comes through the header
    /// cache that the first taught, and must be the same.
    PreparedCacheHit,
}

pub fn all_vectors() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (file, text) in VECTOR_FILES {
        let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for v in doc["vectors"].as_array().unwrap_or_else(|| panic!("{file}: no vectors")) {
            out.push((file.to_owned(), v.clone()));
        }
    }
    out
}

/// `Ok(())` when the core's answer equals the vector's expectation.
pub fn run_vector(v: &Value, path: Path) -> Result<(), String> {
    let mut keys = KeySet::from_jwks_value(&v["jwks"]).map_err(|e| format!("jwks: {e}"))?;
    if let Some(secrets) = v.get("hmac_keys").and_then(Value::as_array) {
        for s in secrets {
            keys = keys.with_secret_jwk(s).map_err(|e| format!("hmac key: {e}"))?;
        }
    }
    let config: PolicyConfig = serde_json::from_value(v["policy"].clone()).map_err(|e| format!("policy: {e}"))?;
    let policy = Policy::from_config(&config).map_err(|e| format!("policy: {e}"))?;
    let now = UnixTime::from_secs(v["now"].as_u64().ok_or("now")?);
    let token = v["token"].as_str().ok_or("token")?;

    if let Some(expected) = v.get("expect_skipped").and_then(Value::as_array) {
        let mut want: Vec<(Option<String>, String)> = expected
            .iter()
            .map(|s| (s["kid"].as_str().map(str::to_owned), s["reason"].as_str().unwrap_or("").to_owned()))
            .collect();
        let mut got: Vec<(Option<String>, String)> =
            keys.skipped().iter().map(|s| (s.kid.clone(), s.reason.code().to_owned())).collect();
        want.sort();
        got.sort();
        if want != got {
            return Err(format!("skipped keys: want {want:?}, got {got:?}"));
        }
    }

    let result = match path {
        Path::OneShot => tokenkeep_core::verify(token, &keys, &policy, now),
        Path::HeaderCacheHit => {
            let first = tokenkeep_core::verify(token, &keys, &policy, now);
            if first.is_ok() && keys.header_cache().is_empty() {
                return Err("a verified token's header was not remembered".into());
            }
            let second = tokenkeep_core::verify(token, &keys, &policy, now);
            if second != first {
                return Err(format!("second verify differs: {second:?} vs {first:?}"));
            }
            second
        }
        Path::PreparedCacheHit => {
            let cache = tokenkeep_core::JwksCache::new(
                tokenkeep_core::KeySource::from_keys(std::sync::Arc::new(keys)),
                tokenkeep_core::CacheConfig::default(),
                1,
                now,
            );
            let snapshot = cache.snapshot();
            let set = snapshot.keys().ok_or("no key set")?;
            let run = || {
                use tokenkeep_core::jwks::{Check, Prepared, complete_pending, prepare_parsed_at};
                let parsed = tokenkeep_core::parse_with_cache(token, policy.max_token_bytes(), set.header_cache())?;
                let check = match prepare_parsed_at(&snapshot, parsed, &policy, now, now) {
                    Prepared::Signature(pending) => {
                        let matched = pending.check_natively();
                        complete_pending(pending, matched, snapshot.generation(), now)
                    }
                    Prepared::Answer(check) => check,
                };
                match check {
                    Check::Verified(v) => Ok(v),
                    Check::Rejected(r) => Err(r),
                    Check::Miss(miss) => Err(miss.rejection),
                }
            };
            let first = run();
            if first.is_ok() && set.header_cache().is_empty() {
                return Err("a verified token's header was not remembered on the prepare path".into());
            }
            let second = run();
            if second != first {
                return Err(format!("second check differs: {second:?} vs {first:?}"));
            }
            second
        }
        Path::TwoPhase => tokenkeep_core::prepare(token, &keys, &policy, now).and_then(|pending| {
            let ok = pending
                .candidates()
                .iter()
                .any(|k| k.verify_signature(pending.alg(), pending.signing_input(), pending.signature()));
            tokenkeep_core::complete(pending, ok, now)
        }),
    };
    let expect = &v["expect"];
    match (result, expect.get("code").and_then(Value::as_str)) {
        (Err(rejection), Some(code)) if rejection.code().as_str() == code => Ok(()),
        (Err(rejection), Some(code)) => Err(format!("want {code}, got {} ({rejection})", rejection.code())),
        (Err(rejection), None) => Err(format!("want valid, got {} ({rejection})", rejection.code())),
        (Ok(_), Some(code)) => Err(format!("want {code}, got valid")),
        (Ok(verified), None) => {
            let claims = Value::Object(verified.claims.as_map().clone());
            if claims != expect["claims"] {
                return Err(format!("claims differ: got {claims}"));
            }
            let h = &expect["header"];
            if let Some(alg) = h.get("alg").and_then(Value::as_str) {
                if verified.header.alg.name() != alg {
                    return Err(format!("header alg {alg} vs {}", verified.header.alg));
                }
            }
            if let Some(kid) = h.get("kid") {
                if kid.as_str() != verified.header.kid.as_deref() {
                    return Err(format!("header kid {kid} vs {:?}", verified.header.kid));
                }
            }
            if let Some(typ) = h.get("typ") {
                if typ.as_str() != verified.header.typ.as_deref() {
                    return Err(format!("header typ {typ} vs {:?}", verified.header.typ));
                }
            }
            Ok(())
        }
    }
}
