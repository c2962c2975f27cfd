//! Native backend: aws-lc. Public-key checks go straight to aws-lc's
//! one-shot functions through `tokenkeep-awslc` (keys built once, no EVP
//! context per token); HMAC through aws-lc-rs, whose keys keep the padded
//! key's hash state.

use super::{Curve, InvalidKeyMaterial};
use crate::alg::{AlgSet, Algorithm};
use crate::jwk;
use aws_lc_rs::hmac;
use tokenkeep_awslc as lc;

pub(super) const NAME: &str = "aws-lc";

/// The algorithms a JWK allows decide the padding and digest per token.
pub(crate) struct RsaKey {
    key: lc::RsaPublicKey,
    algs: AlgSet,
}

pub(crate) struct EcKey(lc::EcPublicKey);

/// Ed25519 public key, decoded once (the answers of aws-lc's `ED25519_verify`:
/// `s` below the group order, `R` compared as encoded, like ed25519-dalek's
/// `verify`).
pub(crate) struct Ed25519Key(lc::Ed25519PublicKey);

pub(crate) struct HmacKey {
    alg: Algorithm,
    key: hmac::Key,
}

/// PKCS #1 v1.5 (false) or PSS (true), and the hash.
fn rsa_params(alg: Algorithm) -> Option<(bool, lc::Sha)> {
    Some(match alg {
        Algorithm::RS256 => (false, lc::Sha::Sha256),
        Algorithm::RS384 => (false, lc::Sha::Sha384),
        Algorithm::RS512 => (false, lc::Sha::Sha512),
        Algorithm::PS256 => (true, lc::Sha::Sha256),
        Algorithm::PS384 => (true, lc::Sha::Sha384),
        Algorithm::PS512 => (true, lc::Sha::Sha512),
        _ => return None,
    })
}

pub(super) fn rsa_key(n: &[u8], e: &[u8], algs: AlgSet) -> Result<RsaKey, InvalidKeyMaterial> {
    if algs.iter().any(|a| rsa_params(a).is_none()) {
        return Err(InvalidKeyMaterial);
    }
    let key = lc::RsaPublicKey::new(n, e).ok_or(InvalidKeyMaterial)?;
    // The range every RSA JWS algorithm accepts (the JWK reader checked it).
    if !(jwk::MIN_RSA_BITS..=jwk::MAX_RSA_BITS).contains(&(key.bits() as usize)) {
        return Err(InvalidKeyMaterial);
    }
    Ok(RsaKey { key, algs })
}

pub(super) fn rsa_verify(key: &RsaKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    if !key.algs.contains(alg) {
        return false;
    }
    match rsa_params(alg) {
        Some((false, sha)) => key.key.verify_pkcs1(sha, message, sig),
        Some((true, sha)) => key.key.verify_pss(sha, message, sig),
        None => false,
    }
}

pub(super) fn ec_key(curve: Curve, point: Vec<u8>) -> Result<EcKey, InvalidKeyMaterial> {
    let curve = match curve {
        Curve::P256 => lc::Curve::P256,
        Curve::P384 => lc::Curve::P384,
    };
    lc::EcPublicKey::new(curve, &point).map(EcKey).ok_or(InvalidKeyMaterial)
}

pub(super) fn ec_verify(key: &EcKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    let expected = match key.0.curve() {
        lc::Curve::P256 => Algorithm::ES256,
        lc::Curve::P384 => Algorithm::ES384,
    };
    alg == expected && key.0.verify_fixed(message, sig)
}

/// `key` was vetted (canonical encoding, not of small order) by the caller.
pub(super) fn ed25519_key(key: ed25519_dalek::VerifyingKey) -> Result<Ed25519Key, InvalidKeyMaterial> {
    Ok(Ed25519Key(lc::Ed25519PublicKey::new(key.to_bytes())))
}

pub(super) fn ed25519_verify(key: &Ed25519Key, message: &[u8], sig: &[u8]) -> bool {
    key.0.verify(message, sig)
}

fn hmac_alg(alg: Algorithm) -> Option<hmac::Algorithm> {
    Some(match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => return None,
    })
}

pub(super) fn hmac_key(alg: Algorithm, secret: &[u8]) -> Result<HmacKey, InvalidKeyMaterial> {
    let h = hmac_alg(alg).ok_or(InvalidKeyMaterial)?;
    Ok(HmacKey { alg, key: hmac::Key::new(h, secret) })
}

pub(super) fn hmac_verify(key: &HmacKey, alg: Algorithm, message: &[u8], tag: &[u8]) -> bool {
    key.alg == alg && hmac::verify(&key.key, message, tag).is_ok()
}

pub(super) fn hmac_sign(key: &HmacKey, message: &[u8]) -> Vec<u8> {
    hmac::sign(&key.key, message).as_ref().to_vec()
}

pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    lc::sha256(data)
}
