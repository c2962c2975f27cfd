//! What the benchmarks and the profiling loop share: one token per algorithm,
//! its JWKS, and the raw signature checks that are the floor.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// The issuer every benchmark token names.
pub const ISSUER: &str = "https://issuer.bench.test";
/// The audience every benchmark token names.
pub const AUDIENCE: &str = "api://bench";

/// A named contender: runs the operation `n` times, true when every call succeeded.
pub type Contender<'a> = (String, Box<dyn FnMut(usize) -> bool + 'a>);

/// Best per-op time of each contender over `rounds` rounds of `iters` calls,
/// in microseconds of this thread's CPU time: time the thread spent waiting
/// for a core that other work on this shared machine held is not counted.
/// Rounds interleave the contenders, so a noisy moment hits all of them.
pub fn best_us(contenders: &mut [Contender<'_>], rounds: usize, iters: usize) -> Vec<f64> {
    for (name, f) in contenders.iter_mut() {
        assert!(f(200), "warm-up failed: {name}");
    }
    let mut best = vec![f64::MAX; contenders.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in contenders.iter_mut().enumerate() {
            let start = cpu_time::ThreadTime::now();
            std::hint::black_box(f(iters));
            best[i] = best[i].min(start.elapsed().as_secs_f64() * 1e6 / iters as f64);
        }
    }
    best
}

/// A raw signature check of (message, signature) with a key captured inside.
pub type RawCheck = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// One named raw check.
pub struct Raw {
    /// Library that does the check.
    pub name: &'static str,
    /// The check, key pre-parsed.
    pub check: RawCheck,
}

/// Signs a signing input with a case's private key (for minting tokens).
type Signer = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// One algorithm's token, key and raw checks.
pub struct Case {
    /// JOSE name.
    pub alg: &'static str,
    /// A token that verifies until an hour after it was minted.
    pub token: String,
    /// The public JWK (with `kid`, `alg`, `use`).
    pub jwk: Value,
    /// `header.payload` of the token.
    pub signing_input: Vec<u8>,
    /// Decoded signature of the token.
    pub signature: Vec<u8>,
    /// Raw checks with a pre-parsed key; for Ed25519 each library that offers one.
    pub raw: Vec<Raw>,
    /// ring with the key as components (what most Rust JWT stacks use).
    pub raw_ring: RawCheck,
    /// jsonwebtoken's key, built once.
    pub jsonwebtoken_key: jsonwebtoken::DecodingKey,
    /// jsonwebtoken's algorithm.
    pub jsonwebtoken_alg: jsonwebtoken::Algorithm,
    signer: Signer,
}

impl Case {
    /// One case per algorithm the benchmarks compare: RS256, ES256, EdDSA.
    pub fn all(now: u64) -> Vec<Case> {
        vec![rs256(now), es256(now), eddsa(now)]
    }

    /// The case for `alg`.
    pub fn named(alg: &str, now: u64) -> Option<Case> {
        match alg {
            "RS256" => Some(rs256(now)),
            "ES256" => Some(es256(now)),
            "EdDSA" => Some(eddsa(now)),
            _ => None,
        }
    }

    /// The JWKS with this case's key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// The fastest raw check, by name, of those measured; the first by default.
    pub fn raw_named(&self, name: &str) -> Option<&Raw> {
        self.raw.iter().find(|r| r.name == name)
    }

    /// Another token with the same claims whose header carries `extra` as
    /// one more member: a header segment the verifier has not seen.
    pub fn token_with_header_member(&self, extra: &str, now: u64) -> String {
        mint(self.alg, &*self.signer, now, Some(extra)).0
    }
}

fn mint(alg: &str, sign: &dyn Fn(&[u8]) -> Vec<u8>, now: u64, extra: Option<&str>) -> (String, Vec<u8>, Vec<u8>) {
    let mut header = json!({"alg": alg, "kid": "bench-1", "typ": "JWT"});
    if let Some(x) = extra {
        header["x"] = json!(x);
    }
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
    let signer: Signer = Box::new(move |m| {
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&lc::RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut sig).expect("sign");
        sig
    });
    let (token, signing_input, signature) = mint("RS256", &*signer, now, None);
    let (n64, e64) = (B64.encode(&n), B64.encode(&e));
    let parsed = lc::RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&lc::RSA_PKCS1_2048_8192_SHA256)
        .expect("parse");
    let direct = tokenkeep_awslc::RsaPublicKey::new(&n, &e).expect("rsa key");
    Case {
        alg: "RS256",
        token,
        jwk: json!({"kty": "RSA", "kid": "bench-1", "alg": "RS256", "use": "sig", "n": n64, "e": e64}),
        signing_input,
        signature,
        raw: vec![
            Raw {
                name: "aws-lc",
                check: Box::new(move |m, s| direct.verify_pkcs1(tokenkeep_awslc::Sha::Sha256, m, s)),
            },
            Raw { name: "aws-lc-rs", check: Box::new(move |m, s| parsed.verify_sig(m, s).is_ok()) },
        ],
        raw_ring: Box::new(move |m, s| {
            ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, m, s)
                .is_ok()
        }),
        jsonwebtoken_key: jsonwebtoken::DecodingKey::from_rsa_components(&n64, &e64).expect("jwt key"),
        jsonwebtoken_alg: jsonwebtoken::Algorithm::RS256,
        signer,
    }
}

fn es256(now: u64) -> Case {
    let pair = lc::EcdsaKeyPair::generate(&lc::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec keygen");
    let point = pair.public_key().as_ref().to_vec();
    let (x64, y64) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
    let signer: Signer = Box::new(move |m| pair.sign(&SystemRandom::new(), m).expect("sign").as_ref().to_vec());
    let (token, signing_input, signature) = mint("ES256", &*signer, now, None);
    let parsed = lc::ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_FIXED, &point).expect("parse");
    let direct = tokenkeep_awslc::EcPublicKey::new(tokenkeep_awslc::Curve::P256, &point).expect("ec key");
    let ring_key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    Case {
        alg: "ES256",
        token,
        jwk: json!({"kty": "EC", "kid": "bench-1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": x64, "y": y64}),
        signing_input,
        signature,
        raw: vec![
            Raw { name: "aws-lc", check: Box::new(move |m, s| direct.verify_fixed(m, s)) },
            Raw { name: "aws-lc-rs", check: Box::new(move |m, s| parsed.verify_sig(m, s).is_ok()) },
        ],
        raw_ring: Box::new(move |m, s| ring_key.verify(m, s).is_ok()),
        jsonwebtoken_key: jsonwebtoken::DecodingKey::from_ec_components(&x64, &y64).expect("jwt key"),
        jsonwebtoken_alg: jsonwebtoken::Algorithm::ES256,
        signer,
    }
}

fn eddsa(now: u64) -> Case {
    let pair = lc::Ed25519KeyPair::generate().expect("ed keygen");
    let x = pair.public_key().as_ref().to_vec();
    let x64 = B64.encode(&x);
    let signer: Signer = Box::new(move |m| pair.sign(m).as_ref().to_vec());
    let (token, signing_input, signature) = mint("EdDSA", &*signer, now, None);
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&x.clone().try_into().expect("32 bytes")).expect("key");
    let aws = lc::ParsedPublicKey::new(&lc::ED25519, &x).expect("parse");
    let direct: [u8; 32] = x.clone().try_into().expect("32 bytes");
    let ring_key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, x);
    Case {
        alg: "EdDSA",
        token,
        jwk: json!({"kty": "OKP", "kid": "bench-1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": x64}),
        signing_input,
        signature,
        raw: vec![
            Raw { name: "aws-lc", check: Box::new(move |m, s| tokenkeep_awslc::ed25519_verify(&direct, m, s)) },
            Raw { name: "aws-lc-rs", check: Box::new(move |m, s| aws.verify_sig(m, s).is_ok()) },
            Raw {
                name: "ed25519-dalek",
                check: Box::new(move |m, s| {
                    ed25519_dalek::Signature::from_slice(s)
                        .is_ok_and(|sig| ed25519_dalek::Verifier::verify(&dalek, m, &sig).is_ok())
                }),
            },
            Raw {
                name: "ed25519-dalek-strict",
                check: Box::new(move |m, s| {
                    ed25519_dalek::Signature::from_slice(s).is_ok_and(|sig| dalek.verify_strict(m, &sig).is_ok())
                }),
            },
        ],
        raw_ring: Box::new(move |m, s| ring_key.verify(m, s).is_ok()),
        jsonwebtoken_key: jsonwebtoken::DecodingKey::from_ed_components(&x64).expect("jwt key"),
        jsonwebtoken_alg: jsonwebtoken::Algorithm::EdDSA,
        signer,
    }
}

/// Fills `keys`' header cache with headers other than the one returned (each
/// verified once), so verifying the returned token always takes the path of
/// a header seen for the first time: base64, JSON, key selection.
pub fn fill_header_cache(
    case: &Case,
    keys: &tokenkeep_core::KeySet,
    policy: &tokenkeep_core::Policy,
    now: u64,
) -> String {
    let at = tokenkeep_core::UnixTime::from_secs(now);
    for i in 0..16 {
        let token = case.token_with_header_member(&format!("filler-{i}"), now);
        tokenkeep_core::verify(&token, keys, policy, at).expect("filler token verifies");
    }
    case.token_with_header_member("first-sight", now)
}
