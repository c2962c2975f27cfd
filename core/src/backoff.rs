//! Exponential backoff with full jitter ("no hot loop, no herd").

use crate::rng::JitterRng;
use std::time::Duration;

/// Full-jitter exponential backoff: attempt `n` (1-based) waits a uniform
/// random time in `[floor, min(cap, base * 2^(n-1))]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Upper bound of the first retry's window.
    pub base: Duration,
    /// Largest window.
    pub cap: Duration,
    /// No two attempts closer than this, whatever the jitter drew.
    pub floor: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32, rng: &mut JitterRng) -> Duration {
        self.delay_capped(attempt, self.cap, rng)
    }

    /// Like [`Backoff::delay`] with a tighter cap for this one draw (for
    /// example a quarter of a credential's remaining life).
    pub fn delay_capped(&self, attempt: u32, cap: Duration, rng: &mut JitterRng) -> Duration {
        let exp = attempt.saturating_sub(1).min(40);
        let window = self.base.saturating_mul(1u32 << exp.min(31)).min(self.cap).min(cap);
        let window = window.max(self.floor);
        let span = window.saturating_sub(self.floor);
        let extra = rng.up_to(u64::try_from(span.as_millis()).unwrap_or(u64::MAX));
        self.floor + Duration::from_millis(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_grow_then_cap_and_never_undercut_floor() {
        let b =
            Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(300), floor: Duration::from_millis(250) };
        let mut rng = JitterRng::new(1);
        for attempt in 1..60 {
            for _ in 0..200 {
                let d = b.delay(attempt, &mut rng);
                assert!(d >= b.floor);
                let window = Duration::from_secs(1u64 << (attempt - 1).min(20)).min(b.cap);
                assert!(d <= window.max(b.floor), "attempt {attempt}: {d:?}");
            }
        }
    }
}
