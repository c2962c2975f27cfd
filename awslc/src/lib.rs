//! The signature checks of tokenkeep-core's native backend, called straight
//! on aws-lc.
//!
//! aws-lc-rs checks a signature through EVP: each call allocates and frees a
//! digest context and a key context, and an ECDSA signature in JWS's fixed
//! `r || s` form is DER-encoded only for aws-lc to decode it again. Those
//! are a few thousand instructions per token around a check of 250,000 to
//! 740,000, and they are the whole difference between a JWT library and
//! another on the same aws-lc. Here the key objects are built once and each
//! check calls what EVP ends in, on a digest made by aws-lc's one-shot
//! `SHA256`/`SHA384`/`SHA512`: `ECDSA_do_verify`; for RSA the public-key
//! operation `RSA_verify_raw` performs (with the modulus's Montgomery form
//! built once and a scratch context kept per thread: `RSA_verify_raw` makes
//! both, and a dozen heap allocations, per call), then the padding checks;
//! for Ed25519, where the build found them, aws-lc's s2n-bignum functions on
//! a key decoded once (`s2n_ed25519.rs`), else `ED25519_verify`.
//!
//! The keys accept what aws-lc-rs's parsed keys accept (the same aws-lc
//! calls build them), so the two give the same answer for every input; the
//! tests compare each check with aws-lc's own function on valid, altered and
//! crafted inputs, and the core's vector suites hold both backends to it.
//!
//! The only unsafe code of the native core path is here: each block calls
//! aws-lc functions with pointers into live Rust values of the lengths
//! given, or frees what this crate allocated.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

#[cfg(tokenkeep_s2n_ed25519)]
mod s2n_ed25519;

use aws_lc_sys as lc;
use std::ffi::c_int;
use std::ptr::{NonNull, null_mut};

/// A hash of the SHA-2 family, by output length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sha {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// The longest digest (SHA-512's).
const MAX_DIGEST: usize = 64;

/// The largest RSA modulus checked, in bytes (8192 bits: the largest JWS
/// algorithms accept).
const MAX_MODULUS_BYTES: usize = 1024;

/// A digest, on the stack.
struct Digest {
    bytes: [u8; MAX_DIGEST],
    len: usize,
}

impl Digest {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Sha {
    fn digest(self, data: &[u8]) -> Digest {
        let mut bytes = [0u8; MAX_DIGEST];
        let (ptr, len) = (data.as_ptr(), data.len());
        let out = bytes.as_mut_ptr();
        // SAFETY: `data` is `len` readable bytes; `out` has room for the
        // longest digest. The one-shot functions cannot fail.
        let len = unsafe {
            match self {
                Sha::Sha256 => {
                    lc::SHA256(ptr, len, out);
                    32
                }
                Sha::Sha384 => {
                    lc::SHA384(ptr, len, out);
                    48
                }
                Sha::Sha512 => {
                    lc::SHA512(ptr, len, out);
                    64
                }
            }
        };
        Digest { bytes, len }
    }

    /// `RSA_verify`'s name of the hash (the tests compare with it).
    #[cfg(test)]
    fn nid(self) -> c_int {
        match self {
            Sha::Sha256 => lc::NID_sha256,
            Sha::Sha384 => lc::NID_sha384,
            Sha::Sha512 => lc::NID_sha512,
        }
    }

    /// The DER `DigestInfo` up to the digest (RFC 8017 §9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Sha::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
                0x04, 0x20,
            ],
            Sha::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
                0x04, 0x30,
            ],
            Sha::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
                0x04, 0x40,
            ],
        }
    }

    fn md(self) -> *const lc::EVP_MD {
        // SAFETY: static descriptors, always available.
        unsafe {
            match self {
                Sha::Sha256 => lc::EVP_sha256(),
                Sha::Sha384 => lc::EVP_sha384(),
                Sha::Sha512 => lc::EVP_sha512(),
            }
        }
    }
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = Sha::Sha256.digest(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_slice());
    out
}

/// A big-endian unsigned integer as a new BIGNUM (None: out of memory).
fn bignum(bytes: &[u8]) -> Option<NonNull<lc::BIGNUM>> {
    // SAFETY: `bytes` is readable for its length; a null `ret` asks for a
    // new BIGNUM, which the caller owns.
    NonNull::new(unsafe { lc::BN_bin2bn(bytes.as_ptr(), bytes.len(), null_mut()) })
}

/// aws-lc's scratch space for big-number arithmetic, one per thread and
/// kept: `RSA_verify_raw` makes a new one per call, and with it a dozen heap
/// allocations (its numbers' storage) that are freed again before it returns.
struct BnCtx(NonNull<lc::BN_CTX>);

impl BnCtx {
    fn new() -> Option<BnCtx> {
        // SAFETY: returns a new context or null.
        NonNull::new(unsafe { lc::BN_CTX_new() }).map(BnCtx)
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: this value owns the context.
        unsafe { lc::BN_CTX_free(self.0.as_ptr()) }
    }
}

thread_local! {
    static BN_CTX: Option<BnCtx> = BnCtx::new();
}

/// Runs `f` with this thread's context (a fresh one while the thread's own is
/// being destroyed); None when aws-lc cannot allocate one.
fn with_bn_ctx<R>(f: impl FnOnce(*mut lc::BN_CTX) -> R) -> Option<R> {
    let mut f = Some(f);
    let mut call = |ctx: &BnCtx| (f.take().expect("called once"))(ctx.0.as_ptr());
    match BN_CTX.try_with(|ctx| ctx.as_ref().map(&mut call)) {
        Ok(answer) => answer,
        Err(_) => BnCtx::new().as_ref().map(call),
    }
}

/// An RSA public key.
pub struct RsaPublicKey {
    rsa: NonNull<lc::RSA>,
    /// The modulus's Montgomery form, built once (`None`: aws-lc refuses the
    /// key, so no signature verifies with it).
    mont: Option<NonNull<lc::BN_MONT_CTX>>,
    bits: u32,
    size: usize,
}

// SAFETY: after construction the key is only read; aws-lc's RSA objects and
// Montgomery contexts may be used by several threads at once for public-key
// operations (aws-lc shares the one an RSA object caches the same way), as
// aws-lc-rs's parsed keys, which hold the same objects, are.
unsafe impl Send for RsaPublicKey {}
// SAFETY: as for Send.
unsafe impl Sync for RsaPublicKey {}

impl RsaPublicKey {
    /// The key with modulus `n` and public exponent `e` (big-endian), built
    /// as aws-lc-rs builds its keys from components. A key aws-lc would
    /// refuse to verify with (its public-key checks: sizes, an odd exponent
    /// above 1, ...) is built too, and fails every check, as in aws-lc-rs.
    /// None when aws-lc cannot allocate it.
    #[must_use]
    pub fn new(n: &[u8], e: &[u8]) -> Option<Self> {
        let n = bignum(n)?;
        let Some(e) = bignum(e) else {
            // SAFETY: `n` was allocated above and is not shared.
            unsafe { lc::BN_free(n.as_ptr()) };
            return None;
        };
        // SAFETY: RSA_new returns a new object or null.
        let Some(rsa) = NonNull::new(unsafe { lc::RSA_new() }) else {
            // SAFETY: allocated above, not shared.
            unsafe {
                lc::BN_free(n.as_ptr());
                lc::BN_free(e.as_ptr());
            }
            return None;
        };
        // SAFETY: `rsa` is new and has no key: RSA_set0_key takes ownership
        // of `n` and `e` and succeeds.
        if unsafe { lc::RSA_set0_key(rsa.as_ptr(), n.as_ptr(), e.as_ptr(), null_mut()) } != 1 {
            // SAFETY: on failure nothing was taken.
            unsafe {
                lc::BN_free(n.as_ptr());
                lc::BN_free(e.as_ptr());
                lc::RSA_free(rsa.as_ptr());
            }
            return None;
        }
        // SAFETY: `rsa` holds a modulus.
        let (bits, size) = unsafe { (lc::RSA_bits(rsa.as_ptr()), lc::RSA_size(rsa.as_ptr()) as usize) };
        let mut key = RsaPublicKey { rsa, mont: None, bits, size };
        if key.aws_lc_accepts() {
            // SAFETY: `n` is the key's live modulus; the context is this thread's.
            key.mont =
                with_bn_ctx(|ctx| unsafe { lc::BN_MONT_CTX_new_for_modulus(n.as_ptr(), ctx) }).and_then(NonNull::new);
        }
        Some(key)
    }

    /// Whether aws-lc's `RSA_verify_raw` takes the key: its own public-key
    /// checks, asked once with the input 0 (which every usable key maps to
    /// 0) instead of on every signature.
    fn aws_lc_accepts(&self) -> bool {
        if self.size == 0 || self.size > MAX_MODULUS_BYTES {
            return false;
        }
        let zero = [0u8; MAX_MODULUS_BYTES];
        let mut out = [0u8; MAX_MODULUS_BYTES];
        let mut out_len = 0usize;
        // SAFETY: `out` is writable and `zero` readable for the lengths given.
        unsafe {
            lc::RSA_verify_raw(
                self.rsa.as_ptr(),
                &mut out_len,
                out.as_mut_ptr(),
                out.len(),
                zero.as_ptr(),
                self.size,
                lc::RSA_NO_PADDING,
            ) == 1
        }
    }

    /// The modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `signature ^ e mod n`, as `RSA_verify_raw` computes it without
    /// padding (same length as the modulus, below it), into the first
    /// `self.size` bytes of `out`; false when the signature cannot be one of
    /// this key's.
    fn public_op(&self, signature: &[u8], out: &mut [u8; MAX_MODULUS_BYTES]) -> bool {
        let Some(mont) = self.mont else { return false };
        if signature.len() != self.size {
            return false;
        }
        with_bn_ctx(|ctx| {
            // SAFETY: `ctx` is live and used by this thread only; the numbers
            // it hands out live until `BN_CTX_end`. `self.rsa` holds `n` and
            // `e`, and `mont` was built for `n`; all are only read. `out` has
            // room for `self.size` bytes.
            unsafe {
                lc::BN_CTX_start(ctx);
                let (f, result) = (lc::BN_CTX_get(ctx), lc::BN_CTX_get(ctx));
                let n = lc::RSA_get0_n(self.rsa.as_ptr());
                let ok = !f.is_null()
                    && !result.is_null()
                    && !lc::BN_bin2bn(signature.as_ptr(), signature.len(), f).is_null()
                    && lc::BN_ucmp(f, n) < 0
                    && lc::BN_mod_exp_mont(result, f, lc::RSA_get0_e(self.rsa.as_ptr()), n, ctx, mont.as_ptr()) == 1
                    && lc::BN_bn2bin_padded(out.as_mut_ptr(), self.size, result) == 1;
                lc::BN_CTX_end(ctx);
                ok
            }
        })
        .unwrap_or(false)
    }

    /// Whether `signature` is an RSASSA-PKCS1-v1_5 signature of `message`
    /// with hash `sha`.
    ///
    /// `RSA_verify`'s check without its allocations: the public-key
    /// operation as `RSA_verify_raw` does it (see `public_op`), then the
    /// encoded message compared with the one expected, `00 01 FF..FF 00`,
    /// the hash's `DigestInfo` prefix and the digest (RFC 8017 §8.2.2: at
    /// least 8 bytes of padding, as aws-lc's padding check requires).
    #[must_use]
    pub fn verify_pkcs1(&self, sha: Sha, message: &[u8], signature: &[u8]) -> bool {
        let mut encoded = [0u8; MAX_MODULUS_BYTES];
        if !self.public_op(signature, &mut encoded) {
            return false;
        }
        let len = self.size;
        let digest = sha.digest(message);
        let (prefix, digest) = (sha.digest_info_prefix(), digest.as_slice());
        let t_len = prefix.len() + digest.len();
        let Some(padding) = len.checked_sub(t_len + 3).filter(|p| *p >= 8) else { return false };
        let (head, rest) = encoded[..len].split_at(2);
        let (ps, rest) = rest.split_at(padding);
        head == [0x00, 0x01]
            && ps.iter().all(|b| *b == 0xff)
            && rest[0] == 0x00
            && rest[1..].strip_prefix(prefix) == Some(digest)
    }

    /// Whether `signature` is an RSASSA-PSS signature of `message` with hash
    /// `sha`, MGF1 with the same hash, and a salt as long as the digest
    /// (RFC 7518 §3.5): `RSA_verify_pss_mgf1`'s steps, the public-key
    /// operation as in `public_op`.
    #[must_use]
    pub fn verify_pss(&self, sha: Sha, message: &[u8], signature: &[u8]) -> bool {
        let mut encoded = [0u8; MAX_MODULUS_BYTES];
        if !self.public_op(signature, &mut encoded) {
            return false;
        }
        let digest = sha.digest(message);
        // SAFETY: the digest is the hash's length, `encoded` holds the
        // modulus's length (what the function reads); the key and the digest
        // descriptors are only read.
        unsafe {
            lc::RSA_verify_PKCS1_PSS_mgf1(
                self.rsa.as_ptr(),
                digest.as_slice().as_ptr(),
                sha.md(),
                sha.md(),
                encoded.as_ptr(),
                lc::RSA_PSS_SALTLEN_DIGEST,
            ) == 1
        }
    }
}

impl Drop for RsaPublicKey {
    fn drop(&mut self) {
        // SAFETY: this value owns both objects.
        unsafe {
            if let Some(mont) = self.mont {
                lc::BN_MONT_CTX_free(mont.as_ptr());
            }
            lc::RSA_free(self.rsa.as_ptr());
        }
    }
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPublicKey").field("bits", &self.bits).finish_non_exhaustive()
    }
}

/// A NIST curve for ECDSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// P-256, with SHA-256 (ES256).
    P256,
    /// P-384, with SHA-384 (ES384).
    P384,
}

impl Curve {
    fn nid(self) -> c_int {
        match self {
            Curve::P256 => lc::NID_X9_62_prime256v1,
            Curve::P384 => lc::NID_secp384r1,
        }
    }

    /// Bytes of one coordinate or scalar.
    fn scalar_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    fn sha(self) -> Sha {
        match self {
            Curve::P256 => Sha::Sha256,
            Curve::P384 => Sha::Sha384,
        }
    }
}

/// An ECDSA public key.
pub struct EcPublicKey {
    key: NonNull<lc::EC_KEY>,
    curve: Curve,
}

// SAFETY: after construction the key is only read (`ECDSA_do_verify` takes
// it as const), from any thread.
unsafe impl Send for EcPublicKey {}
// SAFETY: as for Send.
unsafe impl Sync for EcPublicKey {}

impl EcPublicKey {
    /// The key at `point`, a SEC 1 encoding on `curve` (the uncompressed
    /// `0x04 || x || y` for a JWK), with the checks aws-lc-rs makes on a
    /// parsed key: a point of the curve (`EC_POINT_oct2point`), then
    /// `EC_KEY_check_key`. None when any fails.
    #[must_use]
    pub fn new(curve: Curve, point: &[u8]) -> Option<Self> {
        // SAFETY: a new EC_KEY of a built-in curve, or null.
        let key = NonNull::new(unsafe { lc::EC_KEY_new_by_curve_name(curve.nid()) })?;
        // Owned from here: freed by Drop on every early return.
        let key = EcPublicKey { key, curve };
        // SAFETY: the key has its group; the point is new (or null) for it.
        let group = unsafe { lc::EC_KEY_get0_group(key.key.as_ptr()) };
        let point_obj = NonNull::new(unsafe { lc::EC_POINT_new(group) })?;
        // SAFETY: `point` is readable for its length; `point_obj` belongs to
        // `group`; `EC_KEY_set_public_key` copies the point, freed after.
        let ok = unsafe {
            let ok = lc::EC_POINT_oct2point(group, point_obj.as_ptr(), point.as_ptr(), point.len(), null_mut()) == 1
                && lc::EC_KEY_set_public_key(key.key.as_ptr(), point_obj.as_ptr()) == 1
                && lc::EC_KEY_check_key(key.key.as_ptr()) == 1;
            lc::EC_POINT_free(point_obj.as_ptr());
            ok
        };
        ok.then_some(key)
    }

    /// The key's curve.
    #[must_use]
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// Whether `signature`, JWS's fixed-length `r || s` (RFC 7518 §3.4), is
    /// this key's ECDSA signature of `message` with the curve's hash.
    #[must_use]
    pub fn verify_fixed(&self, message: &[u8], signature: &[u8]) -> bool {
        let n = self.curve.scalar_len();
        if signature.len() != 2 * n {
            return false;
        }
        let digest = self.curve.sha().digest(message);
        let digest = digest.as_slice();
        let (r, s) = signature.split_at(n);
        // SAFETY: a new signature object (or null), owned here; its r and s
        // are owned by it and refilled in place by BN_bin2bn.
        unsafe {
            let Some(sig) = NonNull::new(lc::ECDSA_SIG_new()) else { return false };
            let (mut sig_r, mut sig_s) = (std::ptr::null(), std::ptr::null());
            lc::ECDSA_SIG_get0(sig.as_ptr(), &mut sig_r, &mut sig_s);
            let ok = !lc::BN_bin2bn(r.as_ptr(), r.len(), sig_r.cast_mut()).is_null()
                && !lc::BN_bin2bn(s.as_ptr(), s.len(), sig_s.cast_mut()).is_null()
                && lc::ECDSA_do_verify(digest.as_ptr(), digest.len(), sig.as_ptr(), self.key.as_ptr()) == 1;
            lc::ECDSA_SIG_free(sig.as_ptr());
            ok
        }
    }
}

impl Drop for EcPublicKey {
    fn drop(&mut self) {
        // SAFETY: this value owns the object.
        unsafe { lc::EC_KEY_free(self.key.as_ptr()) }
    }
}

impl std::fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcPublicKey").field("curve", &self.curve).finish_non_exhaustive()
    }
}

/// An Ed25519 public key. Where the build found aws-lc's s2n-bignum
/// functions (x86_64 Linux, macOS and the BSDs) it is decoded once, here,
/// rather than in every `ED25519_verify`; the answers are the same.
pub struct Ed25519PublicKey {
    encoded: [u8; 32],
    /// `None` where the key is no point (every check fails, as in aws-lc).
    #[cfg(tokenkeep_s2n_ed25519)]
    decoded: Option<s2n_ed25519::DecodedKey>,
}

impl Ed25519PublicKey {
    /// The key with this 32-byte encoding. Never fails: an encoding that is
    /// no point gives a key no signature verifies with, as in aws-lc.
    #[must_use]
    pub fn new(encoded: [u8; 32]) -> Ed25519PublicKey {
        Ed25519PublicKey {
            #[cfg(tokenkeep_s2n_ed25519)]
            decoded: s2n_ed25519::DecodedKey::new(&encoded),
            encoded,
        }
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`,
    /// answered as [`ed25519_verify`] answers.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        #[cfg(tokenkeep_s2n_ed25519)]
        {
            let Ok(signature) = <&[u8; 64]>::try_from(signature) else { return false };
            self.decoded.as_ref().is_some_and(|key| key.verify(&self.encoded, message, signature))
        }
        #[cfg(not(tokenkeep_s2n_ed25519))]
        ed25519_verify(&self.encoded, message, signature)
    }

    /// Whether checks use the key decoded once (else `ED25519_verify`).
    #[must_use]
    pub fn decoded_once() -> bool {
        cfg!(tokenkeep_s2n_ed25519)
    }
}

impl std::fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519PublicKey").finish_non_exhaustive()
    }
}

/// Whether `signature` is the Ed25519 signature (RFC 8032, as aws-lc checks
/// it: `s` below the group order, `R` compared as encoded) of `message` by
/// `public_key`.
#[must_use]
pub fn ed25519_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <&[u8; 64]>::try_from(signature) else { return false };
    // SAFETY: `message` is readable for its length, `signature` 64 bytes,
    // `public_key` 32 bytes.
    unsafe { lc::ED25519_verify(message.as_ptr(), message.len(), signature.as_ptr(), public_key.as_ptr()) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as sig, KeyPair as _};

    /// Every signature, then each one with a byte flipped, truncated,
    /// extended and empty: the direct check and aws-lc-rs must agree on all.
    fn agree(
        direct: &dyn Fn(&[u8], &[u8]) -> bool,
        reference: &dyn Fn(&[u8], &[u8]) -> bool,
        message: &[u8],
        good: &[u8],
    ) {
        assert!(direct(message, good) && reference(message, good));
        let mut variants = vec![good[..good.len() - 1].to_vec(), [good, &[0u8][..]].concat(), Vec::new()];
        for i in [0, good.len() / 2, good.len() - 1] {
            let mut flipped = good.to_vec();
            flipped[i] ^= 0x01;
            variants.push(flipped);
        }
        for bad in &variants {
            assert_eq!(direct(message, bad), reference(message, bad));
            assert!(!direct(message, bad));
        }
        assert!(!direct(b"another message", good));
    }

    #[test]
    fn rsa_pkcs1_and_pss_agree_with_aws_lc_rs() {
        let pair = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen");
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let key = RsaPublicKey::new(&n, &e).expect("key");
        assert_eq!(key.bits(), 2048);
        let cases: [(&'static dyn sig::RsaEncoding, &'static sig::RsaParameters, Sha, bool); 4] = [
            (&sig::RSA_PKCS1_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256, Sha::Sha256, false),
            (&sig::RSA_PKCS1_SHA512, &sig::RSA_PKCS1_2048_8192_SHA512, Sha::Sha512, false),
            (&sig::RSA_PSS_SHA256, &sig::RSA_PSS_2048_8192_SHA256, Sha::Sha256, true),
            (&sig::RSA_PSS_SHA384, &sig::RSA_PSS_2048_8192_SHA384, Sha::Sha384, true),
        ];
        let message = b"header.claims";
        for (padding, params, sha, pss) in cases {
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &SystemRandom::new(), message, &mut signature).expect("sign");
            let parsed = sig::RsaPublicKeyComponents { n: &n, e: &e }.to_parsed_public_key(params).expect("parse");
            let direct = |m: &[u8], s: &[u8]| if pss { key.verify_pss(sha, m, s) } else { key.verify_pkcs1(sha, m, s) };
            agree(&direct, &|m, s| parsed.verify_sig(m, s).is_ok(), message, &signature);
            // The other padding, or another hash, never verifies.
            assert!(
                !(if pss {
                    key.verify_pkcs1(sha, message, &signature)
                } else {
                    key.verify_pss(sha, message, &signature)
                })
            );
        }
    }

    /// `verify_pkcs1` against aws-lc's own `RSA_verify` on the same key, for
    /// the good signature and every variant `agree` makes, per hash.
    #[test]
    fn pkcs1_answers_as_rsa_verify() {
        let pair = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072).expect("keygen");
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let key = RsaPublicKey::new(&n, &e).expect("key");
        for (padding, sha) in [
            (&sig::RSA_PKCS1_SHA256, Sha::Sha256),
            (&sig::RSA_PKCS1_SHA384, Sha::Sha384),
            (&sig::RSA_PKCS1_SHA512, Sha::Sha512),
        ] {
            let message = b"header.claims";
            let mut signature = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &SystemRandom::new(), message, &mut signature).expect("sign");
            let rsa_verify = |m: &[u8], s: &[u8]| {
                let digest = sha.digest(m);
                let digest = digest.as_slice();
                // SAFETY: as in `verify_pkcs1`.
                unsafe {
                    lc::RSA_verify(sha.nid(), digest.as_ptr(), digest.len(), s.as_ptr(), s.len(), key.rsa.as_ptr()) == 1
                }
            };
            agree(&|m, s| key.verify_pkcs1(sha, m, s), &rsa_verify, message, &signature);
            for other in [Sha::Sha256, Sha::Sha384, Sha::Sha512] {
                assert_eq!(key.verify_pkcs1(other, message, &signature), other == sha);
            }
        }
    }

    /// Encoded messages of every shape, signed with aws-lc's raw private
    /// operation: `verify_pkcs1` answers each as aws-lc's `RSA_verify`, and
    /// `verify_pss` as `RSA_verify_pss_mgf1`.
    #[test]
    fn crafted_encodings_answer_as_aws_lc() {
        // SAFETY (whole test): a key generated by aws-lc, buffers of the
        // modulus's length, everything freed at the end.
        unsafe {
            let rsa = lc::RSA_new();
            let e = lc::BN_new();
            assert_eq!(lc::BN_set_word(e, 65537), 1);
            assert_eq!(lc::RSA_generate_key_ex(rsa, 2048, e, null_mut()), 1);
            let bytes = |bn: *const lc::BIGNUM| {
                let mut out = vec![0u8; lc::BN_num_bytes(bn) as usize];
                lc::BN_bn2bin(bn, out.as_mut_ptr());
                out
            };
            let key = RsaPublicKey::new(&bytes(lc::RSA_get0_n(rsa)), &bytes(lc::RSA_get0_e(rsa))).expect("key");
            let k = lc::RSA_size(rsa) as usize;
            let sign_raw = |em: &[u8]| {
                assert_eq!(em.len(), k);
                let mut sig = vec![0u8; k];
                let mut len = 0usize;
                assert_eq!(lc::RSA_sign_raw(rsa, &mut len, sig.as_mut_ptr(), k, em.as_ptr(), k, lc::RSA_NO_PADDING), 1);
                sig
            };
            let message = b"header.claims";
            for sha in [Sha::Sha256, Sha::Sha384, Sha::Sha512] {
                let digest = sha.digest(message);
                let t = [sha.digest_info_prefix(), digest.as_slice()].concat();
                let good = [&[0x00, 0x01][..], &vec![0xff; k - 3 - t.len()], &[0x00], &t].concat();
                let mut variants = vec![good.clone()];
                for (i, value) in [(0, 0x01), (1, 0x02), (2, 0xfe), (k / 2, 0x00), (k - t.len() - 2, 0xfe)] {
                    let mut em = good.clone();
                    em[i] = value;
                    variants.push(em);
                }
                // The separator moved: T one byte longer, or shorter.
                variants.push([&[0x00, 0x01][..], &vec![0xff; k - 4 - t.len()], &[0x00, 0x00], &t].concat());
                variants.push([&[0x00, 0x01][..], &vec![0xff; k - 2 - t.len()], &[0x00], &t[1..]].concat());
                for i in [k - t.len(), k - digest.len, k - 1] {
                    let mut em = good.clone();
                    em[i] ^= 0x01;
                    variants.push(em);
                }
                for (n, em) in variants.iter().enumerate() {
                    let sig = sign_raw(em);
                    let expected =
                        lc::RSA_verify(sha.nid(), digest.as_slice().as_ptr(), digest.len, sig.as_ptr(), k, rsa) == 1;
                    assert_eq!(key.verify_pkcs1(sha, message, &sig), expected, "{sha:?} variant {n}");
                    assert_eq!(expected, n == 0, "{sha:?} variant {n}");
                    let pss = lc::RSA_verify_pss_mgf1(
                        rsa,
                        digest.as_slice().as_ptr(),
                        digest.len,
                        sha.md(),
                        sha.md(),
                        lc::RSA_PSS_SALTLEN_DIGEST,
                        sig.as_ptr(),
                        k,
                    ) == 1;
                    assert_eq!(key.verify_pss(sha, message, &sig), pss);
                }
                // Numbers at or above the modulus, zero, wrong lengths.
                for sig in [vec![0xff; k], bytes(lc::RSA_get0_n(rsa)), vec![0; k], vec![1; k - 1], vec![1; k + 1]] {
                    assert!(!key.verify_pkcs1(sha, message, &sig));
                    assert!(!key.verify_pss(sha, message, &sig));
                }
            }
            lc::BN_free(e);
            lc::RSA_free(rsa);
        }
    }

    /// The same key from many threads at once (each with its own scratch
    /// context), and from a thread that ends right after.
    #[test]
    fn rsa_checks_run_on_many_threads() {
        let pair = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen");
        let public = pair.public_key();
        let key = RsaPublicKey::new(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
        )
        .expect("key");
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(&sig::RSA_PKCS1_SHA256, &SystemRandom::new(), b"m", &mut signature).expect("sign");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        assert!(key.verify_pkcs1(Sha::Sha256, b"m", &signature));
                        assert!(!key.verify_pkcs1(Sha::Sha256, b"n", &signature));
                    }
                });
            }
        });
    }

    #[test]
    fn an_rsa_key_aws_lc_cannot_use_fails_every_check() {
        // An even exponent: built (as aws-lc-rs builds it), refused when used.
        let key = RsaPublicKey::new(&[0xc5; 256], &[2]).expect("built");
        assert!(!key.verify_pkcs1(Sha::Sha256, b"m", &[1; 256]));
    }

    #[test]
    fn ecdsa_agrees_with_aws_lc_rs() {
        for (curve, signing, verifying) in [
            (Curve::P256, &sig::ECDSA_P256_SHA256_FIXED_SIGNING, &sig::ECDSA_P256_SHA256_FIXED),
            (Curve::P384, &sig::ECDSA_P384_SHA384_FIXED_SIGNING, &sig::ECDSA_P384_SHA384_FIXED),
        ] {
            let pair = sig::EcdsaKeyPair::generate(signing).expect("keygen");
            let point = pair.public_key().as_ref().to_vec();
            let key = EcPublicKey::new(curve, &point).expect("key");
            let parsed = sig::ParsedPublicKey::new(verifying, &point).expect("parse");
            let message = b"header.claims";
            let signature = pair.sign(&SystemRandom::new(), message).expect("sign").as_ref().to_vec();
            agree(&|m, s| key.verify_fixed(m, s), &|m, s| parsed.verify_sig(m, s).is_ok(), message, &signature);
            // r or s zero, or the group order's bytes (all 0xff is above it).
            let n = signature.len() / 2;
            for bad in [[&[0u8; 48][..n], &signature[n..]].concat(), [&signature[..n], &[0xffu8; 48][..n]].concat()] {
                assert!(!key.verify_fixed(message, &bad));
                assert!(parsed.verify_sig(message, &bad).is_err());
            }
        }
    }

    #[test]
    fn an_ec_point_off_the_curve_or_on_another_is_refused() {
        let pair = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("keygen");
        let mut point = pair.public_key().as_ref().to_vec();
        assert!(EcPublicKey::new(Curve::P384, &point).is_none());
        point[64] ^= 1;
        assert!(EcPublicKey::new(Curve::P256, &point).is_none());
        assert!(EcPublicKey::new(Curve::P256, &[]).is_none());
    }

    #[test]
    fn ed25519_agrees_with_aws_lc_rs() {
        let pair = sig::Ed25519KeyPair::generate().expect("keygen");
        let public: [u8; 32] = pair.public_key().as_ref().try_into().expect("32 bytes");
        let parsed = sig::ParsedPublicKey::new(&sig::ED25519, public).expect("parse");
        let message = b"header.claims";
        let signature = pair.sign(message).as_ref().to_vec();
        agree(&|m, s| ed25519_verify(&public, m, s), &|m, s| parsed.verify_sig(m, s).is_ok(), message, &signature);
    }

    /// Where aws-lc has s2n-bignum, the build must have found it: else this
    /// crate would silently check every Ed25519 token the slower way.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn ed25519_keys_are_decoded_once_here() {
        assert!(Ed25519PublicKey::decoded_once());
    }

    /// Deterministic bytes for the random cases (a SHA-512 counter stream).
    fn stream(seed: u64, len: usize) -> Vec<u8> {
        (0u64..)
            .flat_map(|i| {
                let block = aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA512,
                    &[seed.to_le_bytes(), i.to_le_bytes()].concat(),
                );
                block.as_ref().to_vec()
            })
            .take(len)
            .collect()
    }

    /// `Ed25519PublicKey::verify` and `ED25519_verify` give the same answer.
    fn same_answer(encoded: [u8; 32], message: &[u8], signature: &[u8]) -> bool {
        let answer = Ed25519PublicKey::new(encoded).verify(message, signature);
        assert_eq!(
            answer,
            ed25519_verify(&encoded, message, signature),
            "key {encoded:02x?}, signature {signature:02x?}"
        );
        answer
    }

    /// `s + n` for the Ed25519 group order `n`, by aws-lc's own arithmetic
    /// (32 bytes little-endian in and out).
    fn plus_group_order(s: &[u8]) -> Vec<u8> {
        // The group order, big-endian: 2^252 + 27742317777372353535851937790883648493.
        let order = [
            &[0x10u8][..],
            &[0; 15],
            &[0x14, 0xde, 0xf9, 0xde, 0xa2, 0xf7, 0x9c, 0xd6, 0x58, 0x12, 0x63, 0x1a, 0x5c, 0xf5, 0xd3, 0xed],
        ]
        .concat();
        let mut out = vec![0u8; 32];
        // SAFETY: buffers of the lengths given; the numbers are freed here.
        unsafe {
            let (a, b, sum) = (lc::BN_le2bn(s.as_ptr(), s.len(), null_mut()), bignum(&order).expect("n"), lc::BN_new());
            assert_eq!(lc::BN_add(sum, a, b.as_ptr()), 1);
            assert_eq!(lc::BN_bn2le_padded(out.as_mut_ptr(), out.len(), sum), 1);
            for bn in [a, b.as_ptr(), sum] {
                lc::BN_free(bn);
            }
        }
        out
    }

    #[test]
    fn ed25519_key_decoded_once_answers_as_ed25519_verify() {
        for round in 0..24u64 {
            let pair = sig::Ed25519KeyPair::generate().expect("keygen");
            let public: [u8; 32] = pair.public_key().as_ref().try_into().expect("32 bytes");
            let message = stream(round, (round as usize) * 37);
            let good = pair.sign(&message).as_ref().to_vec();
            assert!(same_answer(public, &message, &good));
            assert!(!same_answer(public, b"another message", &good));
            // Every bit of R and S, and of the message's first and last bytes.
            for bit in 0..512 {
                let mut bad = good.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(!same_answer(public, &message, &bad));
            }
            if let (Some(first), Some(last)) = (message.first(), message.last()) {
                for altered in
                    [[&[first ^ 1], &message[1..]].concat(), [&message[..message.len() - 1], &[last ^ 0x80]].concat()]
                {
                    assert!(!same_answer(public, &altered, &good));
                }
            }
            // S + n: the same point, refused as malleable by both.
            let s_plus_n = [&good[..32], &plus_group_order(&good[32..])].concat();
            assert!(!same_answer(public, &message, &s_plus_n));
            // Wrong lengths.
            for len in [0, 32, 63, 65] {
                let mut wrong = good.clone();
                wrong.resize(len, 0);
                assert!(!same_answer(public, &message, &wrong));
            }
        }
    }

    #[test]
    fn ed25519_odd_and_random_keys_answer_as_ed25519_verify() {
        let p_bytes = |low: u8, top: u8| {
            let mut y = [0xffu8; 32];
            y[0] = low;
            y[31] = top;
            y
        };
        // y = p, p + 1 (not reduced), y = 1 with the sign bit (no such x),
        // the identity (small order), a y with no x.
        let mut odd = vec![p_bytes(0xed, 0x7f), p_bytes(0xee, 0x7f), p_bytes(0xed, 0xff)];
        let mut one = [0u8; 32];
        one[0] = 1;
        odd.push(one);
        one[31] = 0x80;
        odd.push(one);
        let mut two = [0u8; 32];
        two[0] = 2;
        odd.push(two);
        for key in &odd {
            for signature in [stream(1, 64), [&stream(2, 32)[..], &[0u8; 32]].concat()] {
                same_answer(*key, b"m", &signature);
            }
        }
        // With the identity as key, R = B and S = 1 verify for any message.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut base = [0x66u8; 32];
        base[0] = 0x58;
        let mut s_one = [0u8; 32];
        s_one[0] = 1;
        assert!(same_answer(identity, b"any message", &[base, s_one].concat()));
        // Random keys (about half are points) with random signatures, S
        // reduced below 2^252 so the arithmetic, not the range test, answers.
        for seed in 0..3000u64 {
            let bytes = stream(1000 + seed, 96);
            let key: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
            let mut signature = bytes[32..].to_vec();
            signature[63] &= 0x0f;
            assert!(!same_answer(key, &seed.to_le_bytes(), &signature));
        }
    }

    #[test]
    fn sha256_is_sha256() {
        assert_eq!(sha256(b"abc").as_slice(), aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"abc").as_ref());
    }
}
