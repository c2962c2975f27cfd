//! Jitter source. The core must not read an entropy source of its own (that is
//! I/O, and it would make simulations irreproducible), so hosts seed it once
//! from their RNG and simulations seed it with a constant.

/// A small, fast, seedable generator (SplitMix64) used only for jitter.
///
/// Not cryptographic: jitter spreads load; it protects nothing.
#[derive(Clone, Debug)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator whose sequence is fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        JitterRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform float in `[-1, 1)`.
    pub fn signed_unit(&mut self) -> f64 {
        self.unit() * 2.0 - 1.0
    }

    /// A uniform integer in `[0, bound]` (inclusive).
    pub fn up_to(&mut self, bound: u64) -> u64 {
        if bound == u64::MAX {
            return self.next_u64();
        }
        self.next_u64() % (bound + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_unit_stays_in_range() {
        let mut a = JitterRng::new(7);
        let mut b = JitterRng::new(7);
        for _ in 0..1000 {
            let x = a.unit();
            assert_eq!(x, b.unit());
            assert!((0.0..1.0).contains(&x));
        }
    }
}
