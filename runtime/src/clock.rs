//! The host's side of the core's time contract: the wall clock is read here,
//! and only here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenkeep_core::UnixTime;

/// Wall-clock now, as the core takes it.
pub fn now() -> UnixTime {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    UnixTime::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
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
