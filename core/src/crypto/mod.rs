//! The only place that names a crypto crate. Chosen at compile time, each the
//! fastest measured for its target (`make bench` prints the raw checks side by
//! side): natively aws-lc for RSA, ECDSA, HMAC and Ed25519 (keys
//! pre-parsed, Ed25519 keys decoded once where aws-lc's s2n-bignum is there;
//! even `ED25519_verify` beat ed25519-dalek's check by about 4-8% of time on
//! this CPU, though it executes more instructions), on wasm32 (or with the
//! `ring-backend` feature) ring, with curve25519-dalek's arithmetic for Ed25519. Ed25519 keys
//! are vetted by ed25519-dalek on every backend, once, when they are imported.

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
    Ed25519(backend::Ed25519Key),
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
    // so every token can take the plain RFC 8032 check. A non-canonical
    // encoding of a point is refused too: libraries differ on those, and no
    // honest key has one.
    if key.is_weak() || key.to_edwards().compress().as_bytes() != bytes {
        return Err(InvalidKeyMaterial);
    }
    backend::ed25519_key(key).map(BackendKey::Ed25519)
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
        // RFC 8032 verification (canonical s required, R compared as
        // encoded, cofactorless); weak keys were refused when the key set was built.
        BackendKey::Ed25519(k) => AlgSet::ed25519().contains(alg) && backend::ed25519_verify(k, message, signature),
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

/// Ed25519 with ed25519-dalek: RFC 8032 §5.1.7 without the cofactor (`s`
/// must be below the group order, `[s]B - [k]A` must encode to `R`'s bytes).
/// The reference both backends' checks are tested against.
#[cfg(test)]
fn dalek_ed25519_verify(key: &ed25519_dalek::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    ed25519_dalek::Signature::from_slice(signature)
        .is_ok_and(|sig| ed25519_dalek::Verifier::verify(key, message, &sig).is_ok())
}

/// SHA-256 digest (JWK thumbprints, cache keys).
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    backend::sha256(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    /// Order of the Ed25519 group, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut carry = 0u16;
        a.iter()
            .zip(b)
            .map(|(x, y)| {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                carry = sum >> 8;
                sum as u8
            })
            .collect()
    }

    fn backend_verify(key: &BackendKey, message: &[u8], signature: &[u8]) -> bool {
        verify_signature(key, Algorithm::EdDSA, message, signature)
    }

    /// RFC 8032: a good signature verifies; a malleated `s` (s + L), a changed
    /// `R` and a forged small-order `R` do not, on the compiled-in backend and
    /// with ed25519-dalek alike.
    #[test]
    fn ed25519_follows_rfc_8032() {
        for seed in 1..=8u8 {
            let signer = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            let dalek = signer.verifying_key();
            let key = ed25519_key(dalek.as_bytes()).expect("key accepted");
            let message = vec![seed; usize::from(seed) * 37];
            let good = signer.sign(&message).to_bytes().to_vec();
            let mut malleated = good.clone();
            malleated[32..].copy_from_slice(&add_le(&good[32..], &L));
            let mut flipped_r = good.clone();
            flipped_r[3] ^= 1;
            let mut small_order_r = vec![0u8; 64];
            small_order_r[0] = 1;
            for (what, sig) in [
                ("good", &good),
                ("s + L", &malleated),
                ("R bit flip", &flipped_r),
                ("identity R, s = 0", &small_order_r),
                ("short", &good[..63].to_vec()),
            ] {
                assert_eq!(backend_verify(&key, &message, sig), what == "good", "{what}");
                assert_eq!(dalek_ed25519_verify(&dalek, &message, sig), what == "good", "dalek: {what}");
            }
            assert!(!backend_verify(&key, b"other message", &good));
            assert!(!verify_signature(&key, Algorithm::ES256, &message, &good), "another family's algorithm");
        }
    }

    /// The compiled-in Ed25519 check and ed25519-dalek's agree on every
    /// signature one bit away from a good one, on `s` values at and around the
    /// group order, and on small-order and non-canonical `R` encodings.
    #[test]
    fn ed25519_backend_agrees_with_dalek() {
        // p - 1 + small: y values past the field prime (non-canonical when < 2^255).
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        for seed in [3u8, 77, 200] {
            let signer = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
            let dalek = signer.verifying_key();
            let key = ed25519_key(dalek.as_bytes()).expect("key accepted");
            let message = format!("message {seed}").into_bytes();
            let good = signer.sign(&message).to_bytes();
            let mut variants: Vec<[u8; 64]> = vec![good];
            for bit in 0..512 {
                let mut v = good;
                v[bit / 8] ^= 1 << (bit % 8);
                variants.push(v);
            }
            let small = |k: u8| {
                let mut b = [0u8; 32];
                b[0] = k;
                b
            };
            let below_l = {
                let mut b = L;
                b[0] -= 1;
                b.to_vec()
            };
            // L - 1 is canonical (and still wrong here); L, L + 1, L + 255 and 2^256 - 1 are not.
            for s in [below_l, L.to_vec(), add_le(&L, &small(1)), add_le(&L, &small(0xff)), vec![0xff; 32], vec![0; 32]]
            {
                let mut v = good;
                v[32..].copy_from_slice(&s);
                variants.push(v);
            }
            for k in 0..=20u8 {
                let mut v = good;
                v[..32].copy_from_slice(&add_le(&p_minus_1, &small(k)));
                variants.push(v);
                let mut v = good;
                v[..32].copy_from_slice(&small(k));
                variants.push(v);
            }
            let mut accepted = 0;
            for v in &variants {
                let reference = dalek_ed25519_verify(&dalek, &message, v);
                assert_eq!(backend_verify(&key, &message, v), reference, "{v:?}");
                accepted += usize::from(reference);
            }
            assert_eq!(accepted, 1, "only the good signature verifies");
        }
    }

    /// Small-order keys and non-canonical point encodings are refused.
    #[test]
    fn odd_ed25519_keys_are_refused() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(ed25519_key(&identity).is_err(), "identity");
        // y + p for small y: the same point as y, written non-canonically.
        let p = {
            let mut p = [0xffu8; 32];
            p[0] = 0xed;
            p[31] = 0x7f;
            p
        };
        for y in 0..19u8 {
            let mut small = [0u8; 32];
            small[0] = y;
            let non_canonical = add_le(&p, &small);
            assert!(ed25519_key(&non_canonical).is_err(), "y = {y} + p");
        }
    }
}
