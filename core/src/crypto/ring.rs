//! wasm32 backend (and native with the `ring-backend` feature): ring. ring has
//! no pre-parsed RSA key, so the components are kept and parsed per check.

use super::{Curve, InvalidKeyMaterial};
use crate::alg::{AlgSet, Algorithm};
use ring::{digest, hmac, signature};

pub(super) const NAME: &str = "ring";

pub(crate) struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    algs: AlgSet,
}

pub(crate) struct EcKey {
    curve: Curve,
    key: signature::UnparsedPublicKey<Vec<u8>>,
}

/// Ed25519 stays with ed25519-dalek here: ring's check measured slower
/// (`make bench`, natively), and wasm32 has no aws-lc.
pub(crate) type Ed25519Key = ed25519_dalek::VerifyingKey;

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
    if algs.iter().any(|a| rsa_params(a).is_none()) {
        return Err(InvalidKeyMaterial);
    }
    Ok(RsaKey { n: n.to_vec(), e: e.to_vec(), algs })
}

pub(super) fn rsa_verify(key: &RsaKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    if !key.algs.contains(alg) {
        return false;
    }
    let Some(params) = rsa_params(alg) else { return false };
    signature::RsaPublicKeyComponents { n: &key.n, e: &key.e }.verify(params, message, sig).is_ok()
}

pub(super) fn ec_key(curve: Curve, point: Vec<u8>) -> Result<EcKey, InvalidKeyMaterial> {
    let alg: &'static signature::EcdsaVerificationAlgorithm = match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
    };
    Ok(EcKey { curve, key: signature::UnparsedPublicKey::new(alg, point) })
}

pub(super) fn ec_verify(key: &EcKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    let expected = match key.curve {
        Curve::P256 => Algorithm::ES256,
        Curve::P384 => Algorithm::ES384,
    };
    alg == expected && key.key.verify(message, sig).is_ok()
}

pub(super) fn ed25519_key(key: ed25519_dalek::VerifyingKey) -> Result<Ed25519Key, InvalidKeyMaterial> {
    Ok(key)
}

pub(super) fn ed25519_verify(key: &Ed25519Key, message: &[u8], sig: &[u8]) -> bool {
    super::dalek_ed25519_verify(key, message, sig)
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
