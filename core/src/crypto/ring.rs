//! wasm32 backend (and native with the `ring-backend` feature): ring. ring has
//! no pre-parsed RSA key, so the components are kept and parsed per check.
//!
//! Without the `signatures` feature the RSA, ECDSA and Ed25519 checks are not
//! compiled (the host checks those through `prepare`/`complete`); a key then
//! holds only what it was built from, and a check asked of it fails closed.

use super::{Curve, InvalidKeyMaterial};
use crate::alg::{AlgSet, Algorithm};
#[cfg(feature = "signatures")]
use curve25519_dalek::{edwards::EdwardsPoint, scalar::Scalar};
use ring::{digest, hmac, signature};

pub(super) const NAME: &str = "ring";

pub(crate) struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
    algs: AlgSet,
}

pub(crate) struct EcKey {
    curve: Curve,
    #[cfg(feature = "signatures")]
    key: signature::UnparsedPublicKey<Vec<u8>>,
}

/// Ed25519 with curve25519-dalek's arithmetic (ring's own check measured
/// slower, `make bench`, natively; wasm32 has no aws-lc) and ring's SHA-512,
/// so the edge module carries one SHA-512, not ring's and the sha2 crate's.
pub(crate) struct Ed25519Key {
    #[cfg(feature = "signatures")]
    encoded: [u8; 32],
    /// −A, negated once here instead of per check.
    #[cfg(feature = "signatures")]
    minus_a: EdwardsPoint,
}

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

#[cfg(feature = "signatures")]
pub(super) fn rsa_verify(key: &RsaKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    if !key.algs.contains(alg) {
        return false;
    }
    let Some(params) = rsa_params(alg) else { return false };
    signature::RsaPublicKeyComponents { n: &key.n, e: &key.e }.verify(params, message, sig).is_ok()
}

#[cfg(not(feature = "signatures"))]
pub(super) fn rsa_verify(key: &RsaKey, _: Algorithm, _: &[u8], _: &[u8]) -> bool {
    let _ = (&key.n, &key.e, key.algs);
    false
}

#[cfg(feature = "signatures")]
pub(super) fn ec_key(curve: Curve, point: Vec<u8>) -> Result<EcKey, InvalidKeyMaterial> {
    let alg: &'static signature::EcdsaVerificationAlgorithm = match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
    };
    Ok(EcKey { curve, key: signature::UnparsedPublicKey::new(alg, point) })
}

#[cfg(not(feature = "signatures"))]
pub(super) fn ec_key(curve: Curve, _: Vec<u8>) -> Result<EcKey, InvalidKeyMaterial> {
    Ok(EcKey { curve })
}

#[cfg(feature = "signatures")]
pub(super) fn ec_verify(key: &EcKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    let expected = match key.curve {
        Curve::P256 => Algorithm::ES256,
        Curve::P384 => Algorithm::ES384,
    };
    alg == expected && key.key.verify(message, sig).is_ok()
}

#[cfg(not(feature = "signatures"))]
pub(super) fn ec_verify(key: &EcKey, _: Algorithm, _: &[u8], _: &[u8]) -> bool {
    let _ = key.curve;
    false
}

#[cfg(feature = "signatures")]
pub(super) fn ed25519_key(key: ed25519_dalek::VerifyingKey) -> Result<Ed25519Key, InvalidKeyMaterial> {
    Ok(Ed25519Key { encoded: key.to_bytes(), minus_a: -key.to_edwards() })
}

#[cfg(not(feature = "signatures"))]
pub(super) fn ed25519_key(_: ed25519_dalek::VerifyingKey) -> Result<Ed25519Key, InvalidKeyMaterial> {
    Ok(Ed25519Key {})
}

#[cfg(not(feature = "signatures"))]
pub(super) fn ed25519_verify(_: &Ed25519Key, _: &[u8], _: &[u8]) -> bool {
    false
}

/// RFC 8032 §5.1.7 without the cofactor, step for step as ed25519-dalek's
/// `verify`: `s` must be canonical (below the group order), and
/// `[s]B − [k]A` with `k = SHA-512(R ‖ A ‖ M)` must encode to `R`'s bytes.
/// The tests hold it to ed25519-dalek's answer on every nearby signature.
#[cfg(feature = "signatures")]
pub(super) fn ed25519_verify(key: &Ed25519Key, message: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = <&[u8; 64]>::try_from(sig) else { return false };
    let (r, s) = sig.split_at(32);
    let Ok(s) = <[u8; 32]>::try_from(s) else { return false };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else { return false };
    let mut hash = digest::Context::new(&digest::SHA512);
    hash.update(r);
    hash.update(&key.encoded);
    hash.update(message);
    let Ok(wide) = <[u8; 64]>::try_from(hash.finish().as_ref()) else { return false };
    let k = Scalar::from_bytes_mod_order_wide(&wide);
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &key.minus_a, &s).compress().as_bytes() == r
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
