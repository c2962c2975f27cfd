//! Public-key validation for the NIST curves, done here rather than left to the
//! backend so both backends skip exactly the same keys (ring would only fail
//! later, per token, with a misleading `invalid_signature`).

use crate::crypto::Curve;
use num_bigint::BigUint;

const P256_P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const P256_B: &str = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b";
const P384_P: &str = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
const P384_B: &str = "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef";

/// Whether (x, y) satisfies y² = x³ − 3x + b (mod p) with both coordinates
/// reduced; the point at infinity has no affine form, so it fails too.
pub(crate) fn is_on_curve(curve: Curve, x: &[u8], y: &[u8]) -> bool {
    let (p_hex, b_hex) = match curve {
        Curve::P256 => (P256_P, P256_B),
        Curve::P384 => (P384_P, P384_B),
    };
    let p = BigUint::parse_bytes(p_hex.as_bytes(), 16).expect("constant");
    let b = BigUint::parse_bytes(b_hex.as_bytes(), 16).expect("constant");
    let x = BigUint::from_bytes_be(x);
    let y = BigUint::from_bytes_be(y);
    if x >= p || y >= p {
        return false;
    }
    let lhs = (&y * &y) % &p;
    let x3 = (&x * &x * &x) % &p;
    let three_x = (&x * 3u32) % &p;
    let rhs = (x3 + &p - three_x + b) % &p;
    lhs == rhs
}
