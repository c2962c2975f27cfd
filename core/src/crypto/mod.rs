//! The only place that names a crypto crate. Chosen at compile time:
//! natively aws-lc-rs (fastest RSA/ECDSA measured here, keys pre-parsed), on
//! wasm32 (or with the `ring-backend` feature) ring; Ed25519 is always
//! ed25519-dalek, the fastest on both.

use crate::alg::{AlgSet, Algorithm};

#[cfg(not(any(target_arch = "wasm32", feature = "ring-backend")))]
#[path = "aws_lc.rs"]
mod backend;
#[cfg(any(target_arch = "wasm32", feature = "ring-backend"))]
#[path = "ring.rs"]
mod backend;

/// Name of the compiled-in backend, for diagnostics and benchmarks.
pub const BACKEND_NAME: &str = backend::NAME;

/// Elliptic curves for ECDSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

/// A public (or, for HMAC, secret) key in ready-to-verify form.
pub(crate) enum BackendKey {
    Rsa(backend::RsaKey),
    Ec(backend::EcKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    // Boxed: aws-lc-rs keeps its HMAC contexts inline (over 1 KiB).
    Hmac(Box<backend::HmacKey>),
}

/// Why key material could not be turned into a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidKeyMaterial;

/// `n` and `e` must already be minimal big-endian (no leading zero bytes) and
/// checked for size; `algs` are the algorithms the key may verify.
pub(crate) fn rsa_key(n: &[u8], e: &[u8], algs: AlgSet) -> Result<BackendKey, InvalidKeyMaterial> {
    backend::rsa_key(n, e, algs).map(BackendKey::Rsa)
}

/// `x` and `y` are the full-length, on-curve affine coordinates.
pub(crate) fn ec_key(curve: Curve, x: &[u8], y: &[u8]) -> Result<BackendKey, InvalidKeyMaterial> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    backend::ec_key(curve, point).map(BackendKey::Ec)
}

pub(crate) fn ed25519_key(x: &[u8]) -> Result<BackendKey, InvalidKeyMaterial> {
    let bytes: &[u8; 32] = x.try_into().map_err(|_| InvalidKeyMaterial)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| InvalidKeyMaterial)?;
    // Small-order keys "verify" signatures nobody made: refuse them once here,
    // so every token can take the plain RFC 8032 check below.
    if key.is_weak() {
        return Err(InvalidKeyMaterial);
    }
    Ok(BackendKey::Ed25519(key))
}

pub(crate) fn hmac_key(alg: Algorithm, secret: &[u8]) -> Result<BackendKey, InvalidKeyMaterial> {
    backend::hmac_key(alg, secret).map(|k| BackendKey::Hmac(Box::new(k)))
}

/// Whether `signature` is `key`'s signature of `message` under `alg`.
/// A key never verifies an algorithm of another family.
pub(crate) fn verify_signature(key: &BackendKey, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
    match key {
        BackendKey::Rsa(k) => backend::rsa_verify(k, alg, message, signature),
        BackendKey::Ec(k) => backend::ec_verify(k, alg, message, signature),
        BackendKey::Ed25519(k) => {
            if !AlgSet::ed25519().contains(alg) {
                return false;
            }
            let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                return false;
            };
            // RFC 8032 verification (canonical s required); weak keys were
            // refused when the key set was built.
            ed25519_dalek::Verifier::verify(k, message, &sig).is_ok()
        }
        BackendKey::Hmac(k) => backend::hmac_verify(k, alg, message, signature),
    }
}

/// HMAC tag of `message` (for request signing with a keyring).
pub(crate) fn hmac_sign(key: &BackendKey, message: &[u8]) -> Option<Vec<u8>> {
    match key {
        BackendKey::Hmac(k) => Some(backend::hmac_sign(k, message)),
        _ => None,
    }
}

/// SHA-256 digest (JWK thumbprints, cache keys).
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    backend::sha256(data)
}
