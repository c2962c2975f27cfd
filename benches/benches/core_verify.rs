//! tokenkeep-core `verify` against the physical limit and the peers, per
//! algorithm, on the same token in one run. Prints per-op times (best of 7
//! rounds of 3000) and ratios; asserts nothing about speed.
//!
//! (a) the fastest raw signature check of the same bytes with a pre-parsed key:
//!     aws-lc-rs for RSA and ECDSA, ed25519-dalek for Ed25519;
//! (b) raw ring (what most Rust JWT stacks use underneath);
//! (c) jsonwebtoken 11 with its aws_lc_rs backend, DecodingKey built once, full
//!     `decode` with iss/aud/exp validation (what Rust users pick today).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokenkeep_core::{KeySet, Policy, UnixTime};

const ROUNDS: usize = 7;
const ITERS: usize = 3000;
const ISSUER: &str = "https://issuer.bench.test";
const AUDIENCE: &str = "api://bench";

/// Best per-op time of each contender over `ROUNDS` rounds of `ITERS` calls, in
/// microseconds. Rounds interleave the contenders, so a noisy moment on this
/// shared machine hits all of them rather than one.
fn best_us<const N: usize>(contenders: &mut [&mut dyn FnMut() -> bool; N]) -> [f64; N] {
    for f in contenders.iter_mut() {
        for _ in 0..200 {
            assert!(f(), "warm-up call failed");
        }
    }
    let mut best = [f64::MAX; N];
    for _ in 0..ROUNDS {
        for (i, f) in contenders.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..ITERS {
                black_box(f());
            }
            best[i] = best[i].min(start.elapsed().as_secs_f64() * 1e6 / ITERS as f64);
        }
    }
    best
}

/// A raw signature check of (message, signature) with a key captured inside.
type RawCheck = Box<dyn Fn(&[u8], &[u8]) -> bool>;

struct Case {
    alg: &'static str,
    token: String,
    jwk: Value,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    raw_fastest: RawCheck,
    raw_ring: RawCheck,
    jsonwebtoken_key: jsonwebtoken::DecodingKey,
    jsonwebtoken_alg: jsonwebtoken::Algorithm,
}

fn token(alg: &str, sign: impl Fn(&[u8]) -> Vec<u8>, now: u64) -> (String, Vec<u8>, Vec<u8>) {
    let header = json!({"alg": alg, "kid": "bench-1", "typ": "JWT"});
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-123",
        "iat": now, "exp": now + 3600, "scope": "read write",
    });
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let sig = sign(input.as_bytes());
    (format!("{input}.{}", B64.encode(&sig)), input.into_bytes(), sig)
}

fn rs256(now: u64) -> Case {
    let pair = lc::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa keygen");
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    let rng = SystemRandom::new();
    let (token, signing_input, signature) = token(
        "RS256",
        |m| {
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(&lc::RSA_PKCS1_SHA256, &rng, m, &mut sig).expect("sign");
            sig
        },
        now,
    );
    let (n64, e64) = (B64.encode(&n), B64.encode(&e));
    let parsed = lc::RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&lc::RSA_PKCS1_2048_8192_SHA256)
        .expect("parse");
    let (n2, e2) = (n.clone(), e.clone());
    Case {
        alg: "RS256",
        token,
        jwk: json!({"kty": "RSA", "kid": "bench-1", "alg": "RS256", "use": "sig", "n": n64, "e": e64}),
        signing_input,
        signature,
        raw_fastest: Box::new(move |m, s| parsed.verify_sig(m, s).is_ok()),
        raw_ring: Box::new(move |m, s| {
            ring::signature::RsaPublicKeyComponents { n: &n2, e: &e2 }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, m, s)
                .is_ok()
        }),
        jsonwebtoken_key: jsonwebtoken::DecodingKey::from_rsa_components(&n64, &e64).expect("jwt key"),
        jsonwebtoken_alg: jsonwebtoken::Algorithm::RS256,
    }
}

fn es256(now: u64) -> Case {
    let rng = SystemRandom::new();
    let pair = lc::EcdsaKeyPair::generate(&lc::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec keygen");
    let point = pair.public_key().as_ref().to_vec();
    let (x64, y64) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
    let (token, signing_input, signature) =
        token("ES256", |m| pair.sign(&rng, m).expect("sign").as_ref().to_vec(), now);
    let parsed = lc::ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, &point).expect("parse");
    let ring_key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point.clone());
    Case {
        alg: "ES256",
        token,
        jwk: json!({"kty": "EC", "kid": "bench-1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": x64, "y": y64}),
        signing_input,
        signature,
        raw_fastest: Box::new(move |m, s| parsed.verify_sig(m, s).is_ok()),
        raw_ring: Box::new(move |m, s| ring_key.verify(m, s).is_ok()),
        jsonwebtoken_key: jsonwebtoken::DecodingKey::from_ec_components(&x64, &y64).expect("jwt key"),
        jsonwebtoken_alg: jsonwebtoken::Algorithm::ES256,
    }
}

fn eddsa(now: u64) -> Case {
    let pair = lc::Ed25519KeyPair::generate().expect("ed keygen");
    let x = pair.public_key().as_ref().to_vec();
    let x64 = B64.encode(&x);
    let (token, signing_input, signature) = token("EdDSA", |m| pair.sign(m).as_ref().to_vec(), now);
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&x.clone().try_into().expect("32 bytes")).expect("key");
    let ring_key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, x.clone());
    Case {
        alg: "EdDSA",
        token,
        jwk: json!({"kty": "OKP", "kid": "bench-1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": x64}),
        signing_input,
        signature,
        raw_fastest: Box::new(move |m, s| {
            ed25519_dalek::Signature::from_slice(s)
                .is_ok_and(|sig| ed25519_dalek::Verifier::verify(&dalek, m, &sig).is_ok())
        }),
        raw_ring: Box::new(move |m, s| ring_key.verify(m, s).is_ok()),
        jsonwebtoken_key: jsonwebtoken::DecodingKey::from_ed_components(&x64).expect("jwt key"),
        jsonwebtoken_alg: jsonwebtoken::Algorithm::EdDSA,
    }
}

fn main() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    println!(
        "tokenkeep-core verify ({} backend) vs (a) fastest raw check, (b) raw ring, (c) jsonwebtoken 11 aws_lc_rs",
        tokenkeep_core::CRYPTO_BACKEND
    );
    println!(
        "per op, best of {ROUNDS} interleaved rounds x {ITERS}; ratio = tokenkeep / other (below 1.00: tokenkeep faster)\n"
    );
    println!(
        "{:<6} {:>11} {:>9} {:>7} {:>9} {:>7} {:>9} {:>7}",
        "alg", "tokenkeep", "(a) raw", "ratio", "(b) ring", "ratio", "(c) jwt", "ratio"
    );
    for case in [rs256(now), es256(now), eddsa(now)] {
        let keys = KeySet::from_jwks_value(&json!({"keys": [case.jwk]})).expect("jwks");
        let policy = Policy::new(ISSUER).with_audience(AUDIENCE);
        let t_now = UnixTime::from_secs(now);
        let mut validation = jsonwebtoken::Validation::new(case.jsonwebtoken_alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let [tokenkeep, raw, ring, jwt] = best_us(&mut [
            &mut || tokenkeep_core::verify(&case.token, &keys, &policy, t_now).is_ok(),
            &mut || (case.raw_fastest)(&case.signing_input, &case.signature),
            &mut || (case.raw_ring)(&case.signing_input, &case.signature),
            &mut || jsonwebtoken::decode::<Value>(&case.token, &case.jsonwebtoken_key, &validation).is_ok(),
        ]);
        println!(
            "{:<6} {:>9.2}us {:>7.2}us {:>6.2}x {:>7.2}us {:>6.2}x {:>7.2}us {:>6.2}x",
            case.alg,
            tokenkeep,
            raw,
            tokenkeep / raw,
            ring,
            tokenkeep / ring,
            jwt,
            tokenkeep / jwt
        );
    }
}
