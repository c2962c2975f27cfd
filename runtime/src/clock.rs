//! The host's side of the core's time contract: the wall clock is read here,
//! and only here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenkeep_core::UnixTime;

/// Wall-clock now, as the core takes it.
pub fn now() -> UnixTime {
    unix(SystemTime::now())
}

fn unix(t: SystemTime) -> UnixTime {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    UnixTime::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// One wall-clock reading that is both the time a verification checks keys
/// (and, without a caller's `now`, the token) against and the start of its
/// latency measurement: a call reads the clock twice (here and at the end)
/// instead of three times.
#[derive(Clone, Copy, Debug)]
pub struct Started(SystemTime);

impl Started {
    /// Reads the clock.
    pub fn now() -> Started {
        Started(SystemTime::now())
    }

    /// The reading, as the core takes it.
    pub fn unix(self) -> UnixTime {
        unix(self.0)
    }

    /// Seconds since the reading (zero if the wall clock stepped back).
    pub fn elapsed_secs(self) -> f64 {
        SystemTime::now().duration_since(self.0).unwrap_or(Duration::ZERO).as_secs_f64()
    }
}

/// How long until `t` (zero if it has passed).
pub fn until(t: UnixTime) -> Duration {
    t.saturating_since(now())
}

/// A fresh seed for the core's jitter, different per process and per call.
pub fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now().as_millis());
    h.finish()
}
