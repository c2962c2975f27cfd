//! Native backend: aws-lc-rs with public keys parsed once.

use super::{Curve, InvalidKeyMaterial};
use crate::alg::{AlgSet, Algorithm};
use aws_lc_rs::{digest, hmac, signature};

pub(super) const NAME: &str = "aws-lc-rs";

/// One pre-parsed key per algorithm the JWK allows: the padding and digest are
/// part of aws-lc-rs's parsed key, and parsing per token is what we avoid.
pub(crate) struct RsaKey {
    parsed: Vec<(Algorithm, signature::ParsedPublicKey)>,
}

pub(crate) struct EcKey {
    curve: Curve,
    parsed: signature::ParsedPublicKey,
}

/// Ed25519 public key, parsed once (aws-lc's `ED25519_verify`: `s` below the
/// group order, `R` compared as encoded, like ed25519-dalek's `verify`).
pub(crate) struct Ed25519Key(signature::ParsedPublicKey);

pub(crate) struct HmacKey {
    alg: Algorithm,
    key: hmac::Key,
}

fn rsa_params(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

pub(super) fn rsa_key(n: &[u8], e: &[u8], algs: AlgSet) -> Result<RsaKey, InvalidKeyMaterial> {
    let components = signature::RsaPublicKeyComponents { n, e };
    let mut parsed = Vec::new();
    for alg in algs.iter() {
        let params = rsa_params(alg).ok_or(InvalidKeyMaterial)?;
        let key = components.to_parsed_public_key(params).map_err(|_| InvalidKeyMaterial)?;
        parsed.push((alg, key));
    }
    Ok(RsaKey { parsed })
}

pub(super) fn rsa_verify(key: &RsaKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    key.parsed.iter().find(|(a, _)| *a == alg).is_some_and(|(_, k)| k.verify_sig(message, sig).is_ok())
}

pub(super) fn ec_key(curve: Curve, point: Vec<u8>) -> Result<EcKey, InvalidKeyMaterial> {
    let alg: &'static signature::EcdsaVerificationAlgorithm = match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
    };
    let parsed = signature::ParsedPublicKey::new(alg, point).map_err(|_| InvalidKeyMaterial)?;
    Ok(EcKey { curve, parsed })
}

pub(super) fn ec_verify(key: &EcKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    let expected = match key.curve {
        Curve::P256 => Algorithm::ES256,
        Curve::P384 => Algorithm::ES384,
    };
    alg == expected && key.parsed.verify_sig(message, sig).is_ok()
}

/// `key` was vetted (canonical encoding, not of small order) by the caller.
pub(super) fn ed25519_key(key: ed25519_dalek::VerifyingKey) -> Result<Ed25519Key, InvalidKeyMaterial> {
    signature::ParsedPublicKey::new(&signature::ED25519, key.as_bytes()).map(Ed25519Key).map_err(|_| InvalidKeyMaterial)
}

pub(super) fn ed25519_verify(key: &Ed25519Key, message: &[u8], sig: &[u8]) -> bool {
    key.0.verify_sig(message, sig).is_ok()
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
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}
