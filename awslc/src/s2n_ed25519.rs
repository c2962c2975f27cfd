//! Ed25519 on a public key decoded once: aws-lc's own s2n-bignum arithmetic,
//! in the order `ed25519_verify_internal` and `ed25519_verify_s2n_bignum`
//! take it (aws-lc `crypto/fipsmodule/curve25519`).
//!
//! `ED25519_verify` decompresses the public key on every call (a square root
//! modulo 2^255 - 19: about 6% of a verification). A verifier checks many
//! tokens with one key, so here the key is decoded and negated when it is
//! built, and a check is: the two range tests on `S`, `k = SHA-512(R || A ||
//! M) mod n`, `[k](-A) + [S]B`, encoded and compared with `R`. The same
//! functions do the same arithmetic, so the answer is `ED25519_verify`'s for
//! every input; the tests hold it to that on valid, altered and random
//! signatures and keys.
//!
//! The build script declares the functions (`OUT_DIR/s2n_bignum.rs`) with
//! the library's symbol prefix, and compiles this module only where that
//! library defines them.

use aws_lc_sys as lc;
use std::mem::MaybeUninit;

include!(concat!(env!("OUT_DIR"), "/s2n_bignum.rs"));

/// The order of the Ed25519 group, as little-endian 64-bit words.
const ORDER: [u64; 4] = [0x5812_631a_5cf5_d3ed, 0x14de_f9de_a2f7_9cd6, 0, 0x1000_0000_0000_0000];

/// A public key as a point `-A` in affine coordinates (x, then y), and which
/// of s2n-bignum's two forms of each function this CPU runs.
pub(crate) struct DecodedKey {
    minus_a: [u64; 8],
    alt: bool,
}

/// aws-lc's `use_s2n_bignum_alt()` on x86_64: the default forms need BMI2 and
/// ADX, the `_alt` forms run on any x86_64.
fn use_alt() -> bool {
    !(std::is_x86_feature_detected!("bmi2") && std::is_x86_feature_detected!("adx"))
}

fn words<const N: usize>(bytes: &[u8]) -> [u64; N] {
    let mut words = [0u64; N];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    words
}

impl DecodedKey {
    /// `None` when `encoded` is no point's encoding (then `ED25519_verify`
    /// refuses every signature by that key).
    pub(crate) fn new(encoded: &[u8; 32]) -> Option<DecodedKey> {
        DecodedKey::in_form(encoded, use_alt())
    }

    /// With s2n-bignum's `_alt` functions or the default ones.
    fn in_form(encoded: &[u8; 32], alt: bool) -> Option<DecodedKey> {
        let mut point = [0u64; 8];
        // SAFETY: `point` has the 8 words and `encoded` the 32 bytes each
        // function reads or writes; negating x in place is how aws-lc calls it.
        let failed = unsafe {
            let decode = if alt { edwards25519_decode_alt } else { edwards25519_decode };
            let failed = decode(point.as_mut_ptr(), encoded.as_ptr());
            bignum_neg_p25519(point.as_mut_ptr(), point.as_ptr());
            failed
        };
        (failed == 0).then_some(DecodedKey { minus_a: point, alt })
    }

    /// Whether `signature` is the Ed25519 signature of `message` by the key
    /// whose encoding is `encoded` (the one this was decoded from).
    pub(crate) fn verify(&self, encoded: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        let (r, s) = signature.split_at(32);
        // RFC 8032 5.1.6.6 (the top three bits of S are zero), then S below
        // the group order (no malleable signatures), as aws-lc tests them.
        if signature[63] & 0xe0 != 0 {
            return false;
        }
        let s: [u64; 4] = words(s);
        if !s.iter().rev().lt(ORDER.iter().rev()) {
            return false;
        }
        let k: [u64; 8] = words(&sha512(&[r, encoded, message]));
        let mut k_reduced = [0u64; 4];
        let mut computed = [0u64; 8];
        let mut computed_r = [0u8; 32];
        // SAFETY: each pointer is to an array of the length its function
        // reads (k: 8 words as told, scalars 4, points 8) or writes.
        unsafe {
            bignum_mod_n25519(k_reduced.as_mut_ptr(), 8, k.as_ptr());
            let double = if self.alt { edwards25519_scalarmuldouble_alt } else { edwards25519_scalarmuldouble };
            double(computed.as_mut_ptr(), k_reduced.as_ptr(), self.minus_a.as_ptr(), s.as_ptr());
            edwards25519_encode(computed_r.as_mut_ptr(), computed.as_ptr());
        }
        // Every value compared is public: no need for a constant-time compare.
        computed_r == r
    }
}

/// SHA-512 of the parts, concatenated.
fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut ctx = MaybeUninit::<lc::SHA512_CTX>::uninit();
    let mut out = [0u8; 64];
    // SAFETY: `SHA512_Init` initialises the context before any other call
    // reads it; each part is readable for its length; `out` has 64 bytes.
    unsafe {
        lc::SHA512_Init(ctx.as_mut_ptr());
        for part in parts {
            lc::SHA512_Update(ctx.as_mut_ptr(), part.as_ptr().cast(), part.len());
        }
        lc::SHA512_Final(out.as_mut_ptr(), ctx.as_mut_ptr());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form this CPU does not take answers as the one it does (CI may
    /// run either: valgrind, for one, hides ADX), both as `ED25519_verify`.
    #[test]
    fn both_forms_answer_alike() {
        let default_form_runs = !use_alt();
        for seed in 0..200u8 {
            let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("key");
            let encoded: [u8; 32] = aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref().try_into().expect("32");
            let message = [seed; 40];
            let mut signature: [u8; 64] = pair.sign(&message).as_ref().try_into().expect("64");
            signature[usize::from(seed) % 64] ^= u8::from(seed % 2 == 1);
            let expected = crate::ed25519_verify(&encoded, &message, &signature);
            assert_eq!(expected, seed % 2 == 0);
            for alt in [true, false] {
                if !alt && !default_form_runs {
                    continue;
                }
                let key = DecodedKey::in_form(&encoded, alt).expect("a point");
                assert_eq!(key.verify(&encoded, &message, &signature), expected, "alt {alt}, seed {seed}");
            }
        }
    }
}
