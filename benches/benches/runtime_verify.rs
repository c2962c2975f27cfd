//! The tokio runtime's verification path against the core it wraps and against
//! what a Rust service writes today, per algorithm, on the same token in one
//! run. Prints per-op times (thread CPU time, best of 9 interleaved rounds of
//! 3000) and ratios;
//! asserts nothing about speed.
//!
//! Keys come from a dev issuer started in-process: the runtime fetched them
//! over loopback HTTP (then they stay cached, as in production); the core and
//! jsonwebtoken get the same JWKS parsed once.
//!
//! - core: `tokenkeep_core::verify(token, &keys, &policy, now)`
//! - runtime `verify_cached()` with the verified-token cache off (a miss:
//!   routing by `iss`, lock-free snapshot load, clock read, metrics, then the
//!   core's verify) and on (a hit: the same token verified before)
//! - runtime `verify().await` with cached keys, cache off (the future
//!   completes at once)
//! - jsonwebtoken 11 (aws_lc_rs) with a hand-written key cache: a
//!   `HashMap<kid, (DecodingKey, Validation)>` built once, lookup by the
//!   header's kid via `decode_header`, then `decode` with iss/aud/exp validation

use serde_json::{Value, json};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenkeep::Verifier;
use tokenkeep_benches::{Contender, best_us};
use tokenkeep_core::{KeySet, Policy, UnixTime};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig};

const ROUNDS: usize = 9;
const ITERS: usize = 3000;
const AUDIENCE: &str = "api://bench";
const ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// jsonwebtoken with the key cache a service would write by hand.
struct JwtCache {
    keys: HashMap<String, (jsonwebtoken::DecodingKey, jsonwebtoken::Validation)>,
}

impl JwtCache {
    fn new(jwks: &Value, issuer: &str) -> JwtCache {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(jwks.clone()).expect("jsonwebtoken parses the JWKS");
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), jwk.common.key_algorithm) else { continue };
            let alg: jsonwebtoken::Algorithm = alg.to_string().parse().expect("signing alg");
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.set_issuer(&[issuer]);
            validation.set_audience(&[AUDIENCE]);
            keys.insert(kid, (jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"), validation));
        }
        JwtCache { keys }
    }

    fn verify(&self, token: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else { return false };
        let Some((key, validation)) = header.kid.as_deref().and_then(|kid| self.keys.get(kid)) else { return false };
        jsonwebtoken::decode::<Value>(token, key, validation).is_ok()
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let issuer = rt
        .block_on(DevIssuer::start(DevIssuerConfig {
            algorithms: ALGS.iter().map(|a| (*a).to_owned()).collect(),
            ..DevIssuerConfig::default()
        }))
        .expect("dev issuer");
    // Started from the options spec, as every binding starts them.
    let start = |options: Value| {
        let spec: tokenkeep::spec::VerifierSpec = tokenkeep::spec::from_value(options).expect("spec");
        rt.block_on(async {
            let verifier = Verifier::start(&spec).expect("verifier");
            assert!(verifier.ready(Duration::from_secs(10)).await, "keys load");
            verifier
        })
    };
    let fetched = |verified_tokens: u64| {
        json!({
            "issuer": issuer.issuer_url(),
            "audience": AUDIENCE,
            "jwks_url": issuer.jwks_url(),
            "cache": {"verified_tokens": verified_tokens},
        })
    };
    let verifier = start(fetched(0));
    let hits = start(fetched(4096));
    let jwks = issuer.jwks();
    let keys = KeySet::from_jwks_value(&jwks).expect("core parses the JWKS");
    let policy = Policy::new(issuer.issuer_url()).with_audience(AUDIENCE);
    let jwt = JwtCache::new(&jwks, issuer.issuer_url());
    // Static keys: the same path without a background task, for comparison.
    let static_verifier = start(json!({
        "issuer": issuer.issuer_url(),
        "audience": AUDIENCE,
        "jwks": jwks,
        "cache": {"verified_tokens": 0},
    }));

    println!(
        "tokenkeep runtime vs tokenkeep-core vs jsonwebtoken 11 aws_lc_rs + hand-written kid cache ({} backend)",
        tokenkeep_core::CRYPTO_BACKEND
    );
    println!(
        "per op (thread CPU time), best of {ROUNDS} interleaved rounds x {ITERS}; overhead = runtime / core - 1\n"
    );
    println!(
        "{:<6} {:>9} {:>14} {:>9} {:>14} {:>9} {:>14} {:>14} {:>11} {:>14}",
        "alg",
        "core",
        "cached (miss)",
        "overhead",
        "verify().await",
        "overhead",
        "static keys",
        "cached (hit)",
        "jwt+cache",
        "miss / jwt"
    );
    for alg in ALGS {
        let token = issuer
            .mint(json!({"sub": "user-123", "aud": AUDIENCE, "scope": "read write"}), alg, Duration::from_secs(3600))
            .expect("mint");
        let now =
            || UnixTime::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64);
        assert!(tokenkeep_core::verify(&token, &keys, &policy, now()).is_ok());
        assert!(verifier.verify_cached(&token).is_ok());
        assert!(hits.verify_cached(&token).is_ok());
        assert!(jwt.verify(&token));
        let mut contenders: [Contender<'_>; 6] = [
            (
                "core".into(),
                Box::new(|n| {
                    // The core takes `now` as an argument; read the clock per call as a host must.
                    (0..n).all(|_| tokenkeep_core::verify(black_box(&token), &keys, &policy, now()).is_ok())
                }),
            ),
            ("verify_cached".into(), Box::new(|n| (0..n).all(|_| verifier.verify_cached(black_box(&token)).is_ok()))),
            (
                "verify().await".into(),
                Box::new(|n| {
                    rt.block_on(async {
                        let mut ok = true;
                        for _ in 0..n {
                            ok &= verifier.verify(black_box(&token)).await.is_ok();
                        }
                        ok
                    })
                }),
            ),
            (
                "static keys".into(),
                Box::new(|n| (0..n).all(|_| static_verifier.verify_cached(black_box(&token)).is_ok())),
            ),
            ("cached (hit)".into(), Box::new(|n| (0..n).all(|_| hits.verify_cached(black_box(&token)).is_ok()))),
            ("jwt+cache".into(), Box::new(|n| (0..n).all(|_| jwt.verify(black_box(&token))))),
        ];
        let times = best_us(&mut contenders, ROUNDS, ITERS);
        let (core, cached, awaited, fixed, hit, jsonwebtoken) =
            (times[0], times[1], times[2], times[3], times[4], times[5]);
        let pct = |x: f64| (x / core - 1.0) * 100.0;
        println!(
            "{:<6} {:>7.2}us {:>12.2}us {:>8.1}% {:>12.2}us {:>8.1}% {:>12.2}us {:>12.2}us {:>9.2}us {:>13.2}x",
            alg,
            core,
            cached,
            pct(cached),
            awaited,
            pct(awaited),
            fixed,
            hit,
            jsonwebtoken,
            cached / jsonwebtoken
        );
    }
    rt.block_on(async {
        verifier.shutdown().await;
        hits.shutdown().await;
        static_verifier.shutdown().await;
        issuer.shutdown().await;
    });
}
