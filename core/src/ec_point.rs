//! Public-key validation for the NIST curves, done here rather than left to the
//! backend so both backends skip exactly the same keys (ring would only fail
//! later, per token, with a misleading `invalid_signature`).
//!
//! The arithmetic is a few lines of fixed-width modular addition: it runs once
//! per imported key, so speed does not matter, and a general big-integer crate
//! cost the edge module about 25 KB of code for this one check.

use crate::crypto::Curve;

/// Enough 64-bit limbs for P-384; P-256 numbers leave the top two at zero.
const LIMBS: usize = 6;

/// An unsigned number below 2^384, least significant limb first.
type Num = [u64; LIMBS];

const P256_P: Num = le([0xffffffff00000001, 0x0000000000000000, 0x00000000ffffffff, 0xffffffffffffffff, 0, 0]);
const P256_B: Num = le([0x5ac635d8aa3a93e7, 0xb3ebbd55769886bc, 0x651d06b0cc53b0f6, 0x3bce3c3e27d2604b, 0, 0]);
const P384_P: Num = le([
    0xffffffffffffffff,
    0xffffffffffffffff,
    0xffffffffffffffff,
    0xfffffffffffffffe,
    0xffffffff00000000,
    0x00000000ffffffff,
]);
const P384_B: Num = le([
    0xb3312fa7e23ee7e4,
    0x988e056be3f82d19,
    0x181d9c6efe814112,
    0x0314088f5013875a,
    0xc656398d8a2ed19d,
    0x2a85c8edd3ec2aef,
]);

/// The constants above are written most significant limb first, as the
/// curves' standards print them; `le` reorders them and drops the unused top.
const fn le(be: Num) -> Num {
    let used = if be[4] == 0 && be[5] == 0 { 4 } else { LIMBS };
    let mut out = [0u64; LIMBS];
    let mut i = 0;
    while i < used {
        out[i] = be[used - 1 - i];
        i += 1;
    }
    out
}

/// Whether (x, y) satisfies y² = x³ − 3x + b (mod p) with both coordinates
/// reduced; the point at infinity has no affine form, so it fails too.
pub(crate) fn is_on_curve(curve: Curve, x: &[u8], y: &[u8]) -> bool {
    let (p, b) = match curve {
        Curve::P256 => (&P256_P, &P256_B),
        Curve::P384 => (&P384_P, &P384_B),
    };
    let (Some(x), Some(y)) = (from_be_bytes(x), from_be_bytes(y)) else { return false };
    if !less(&x, p) || !less(&y, p) {
        return false;
    }
    let lhs = mul_mod(&y, &y, p);
    let x3 = mul_mod(&mul_mod(&x, &x, p), &x, p);
    let three_x = add_mod(&add_mod(&x, &x, p), &x, p);
    let rhs = add_mod(&sub_mod(&x3, &three_x, p), b, p);
    lhs == rhs
}

fn from_be_bytes(bytes: &[u8]) -> Option<Num> {
    if bytes.len() > LIMBS * 8 {
        return None;
    }
    let mut out = [0u64; LIMBS];
    for (i, byte) in bytes.iter().rev().enumerate() {
        out[i / 8] |= u64::from(*byte) << (8 * (i % 8));
    }
    Some(out)
}

fn less(a: &Num, b: &Num) -> bool {
    a.iter().rev().cmp(b.iter().rev()).is_lt()
}

/// `a + b`, and whether it overflowed 2^384.
fn add(a: &Num, b: &Num) -> (Num, bool) {
    let mut out = [0u64; LIMBS];
    let mut carry = false;
    for i in 0..LIMBS {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        out[i] = s;
        carry = c1 || c2;
    }
    (out, carry)
}

/// `a − b` modulo 2^384.
fn wrapping_sub(a: &Num, b: &Num) -> Num {
    let mut out = [0u64; LIMBS];
    let mut borrow = false;
    for i in 0..LIMBS {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    out
}

/// `(a + b) mod p` for `a, b < p`.
fn add_mod(a: &Num, b: &Num, p: &Num) -> Num {
    let (sum, carry) = add(a, b);
    if carry || !less(&sum, p) { wrapping_sub(&sum, p) } else { sum }
}

/// `(a − b) mod p` for `a, b < p`.
fn sub_mod(a: &Num, b: &Num, p: &Num) -> Num {
    if less(a, b) { add(&wrapping_sub(a, b), p).0 } else { wrapping_sub(a, b) }
}

/// `(a · b) mod p` for `a, b < p`, by doubling and adding over `a`'s bits.
fn mul_mod(a: &Num, b: &Num, p: &Num) -> Num {
    let mut acc = [0u64; LIMBS];
    for bit in (0..LIMBS * 64).rev() {
        acc = add_mod(&acc, &acc, p);
        if (a[bit / 64] >> (bit % 64)) & 1 == 1 {
            acc = add_mod(&acc, b, p);
        }
    }
    acc
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The generators from SEC 2 / FIPS 186-4.
    const P256_GX: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
    const P256_GY: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    const P384_GX: &str =
        "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7";
    const P384_GY: &str =
        "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f";

    #[test]
    fn generators_are_on_their_curves() {
        assert!(is_on_curve(Curve::P256, &hex(P256_GX), &hex(P256_GY)));
        assert!(is_on_curve(Curve::P384, &hex(P384_GX), &hex(P384_GY)));
        assert!(!is_on_curve(Curve::P256, &hex(P384_GX), &hex(P384_GY)), "too long for P-256's field");
        assert!(!is_on_curve(Curve::P384, &hex(P256_GX), &hex(P256_GY)));
    }

    #[test]
    fn unreduced_and_moved_points_are_refused() {
        let (gx, gy) = (hex(P256_GX), hex(P256_GY));
        let mut moved = gy.clone();
        *moved.last_mut().unwrap() ^= 1;
        assert!(!is_on_curve(Curve::P256, &gx, &moved));
        let be =
            |n: &Num, len: usize| -> Vec<u8> { n.iter().rev().flat_map(|l| l.to_be_bytes()).skip(48 - len).collect() };
        let y = from_be_bytes(&gy).unwrap();
        // (x, p − y) is the generator's negation: on the curve.
        assert!(is_on_curve(Curve::P256, &gx, &be(&wrapping_sub(&P256_P, &y), 32)));
        // p itself is zero, unreduced.
        assert!(!is_on_curve(Curve::P256, &gx, &be(&P256_P, 32)));
        let y384 = from_be_bytes(&hex(P384_GY)).unwrap();
        assert!(is_on_curve(Curve::P384, &hex(P384_GX), &be(&wrapping_sub(&P384_P, &y384), 48)));
        assert!(!is_on_curve(Curve::P256, &[0; 32], &[0; 32]), "the point at infinity has no affine form");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Agrees with the p256 crate on its public keys and on perturbed ones.
        #[test]
        fn agrees_with_p256(seed in any::<[u8; 32]>(), flip in 0usize..512) {
            let Ok(secret) = p256::SecretKey::from_slice(&seed) else { return Ok(()) };
            let point = secret.public_key().to_encoded_point(false);
            let (x, y) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
            prop_assert!(is_on_curve(Curve::P256, &x, &y));
            let mut bad = [x, y].concat();
            bad[flip / 8] ^= 1 << (flip % 8);
            let (bx, by) = bad.split_at(32);
            let parsed = p256::EncodedPoint::from_affine_coordinates(bx.into(), by.into(), false);
            let valid = Option::<p256::PublicKey>::from(p256::PublicKey::from_encoded_point(&parsed)).is_some();
            prop_assert_eq!(is_on_curve(Curve::P256, bx, by), valid);
        }
    }
}
