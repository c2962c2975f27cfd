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
//! - runtime `verify_cached()`: routing by `iss`, lock-free snapshot load,
//!   clock read, metrics
//! - runtime `verify().await` with cached keys (the future completes at once)
//! - jsonwebtoken 11 (aws_lc_rs) with a hand-written key cache: a
//!   `HashMap<kid, (DecodingKey, Validation)>` built once, lookup by the
//!   header's kid via `decode_header`, then `decode` with iss/aud/exp validation

use serde_json::{Value, json};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenkeep::{IssuerConfig, Keys, Verifier};
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
    let verifier = rt.block_on(async {
        let config = IssuerConfig::jwks_url(issuer.issuer_url(), issuer.jwks_url()).with_audience(AUDIENCE);
        let verifier = Verifier::new(vec![config]).expect("verifier");
        assert!(verifier.ready(Duration::from_secs(10)).await, "keys load");
        verifier
    });
    let jwks = issuer.jwks();
    let keys = KeySet::from_jwks_value(&jwks).expect("core parses the JWKS");
    let policy = Policy::new(issuer.issuer_url()).with_audience(AUDIENCE);
    let jwt = JwtCache::new(&jwks, issuer.issuer_url());
    // Static keys: the same path without a background task, for comparison.
    let static_verifier = rt.block_on(async {
        let config = IssuerConfig::new(policy.clone(), Keys::Static(Arc::new(keys.clone())));
        Verifier::new(vec![config]).expect("static verifier")
    });

    println!(
        "tokenkeep runtime vs tokenkeep-core vs jsonwebtoken 11 aws_lc_rs + hand-written kid cache ({} backend)",
        tokenkeep_core::CRYPTO_BACKEND
    );
    println!(
        "per op (thread CPU time), best of {ROUNDS} interleaved rounds x {ITERS}; overhead = runtime / core - 1\n"
    );
    println!(
        "{:<6} {:>9} {:>14} {:>9} {:>14} {:>9} {:>14} {:>11} {:>14}",
        "alg",
        "core",
        "verify_cached",
        "overhead",
        "verify().await",
        "overhead",
        "static keys",
        "jwt+cache",
        "cached / jwt"
    );
    for alg in ALGS {
        let token = issuer
            .mint(json!({"sub": "user-123", "aud": AUDIENCE, "scope": "read write"}), alg, Duration::from_secs(3600))
            .expect("mint");
        let now =
            || UnixTime::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64);
        assert!(tokenkeep_core::verify(&token, &keys, &policy, now()).is_ok());
        assert!(verifier.verify_cached(&token).is_ok());
        assert!(jwt.verify(&token));
        let mut contenders: [Contender<'_>; 5] = [
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
            ("jwt+cache".into(), Box::new(|n| (0..n).all(|_| jwt.verify(black_box(&token))))),
        ];
        let times = best_us(&mut contenders, ROUNDS, ITERS);
        let (core, cached, awaited, fixed, jsonwebtoken) = (times[0], times[1], times[2], times[3], times[4]);
        let pct = |x: f64| (x / core - 1.0) * 100.0;
        println!(
            "{:<6} {:>7.2}us {:>12.2}us {:>8.1}% {:>12.2}us {:>8.1}% {:>12.2}us {:>9.2}us {:>13.2}x",
            alg,
            core,
            cached,
            pct(cached),
            awaited,
            pct(awaited),
            fixed,
            jsonwebtoken,
            cached / jsonwebtoken
        );
    }
    rt.block_on(async {
        verifier.shutdown().await;
        static_verifier.shutdown().await;
        issuer.shutdown().await;
    });
}
