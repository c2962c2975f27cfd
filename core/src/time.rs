//! Time as plain data. The core never reads a clock: every call that depends on
//! time takes a [`UnixTime`] from its host.

use core::fmt;
use core::ops::{Add, Sub};
use std::time::Duration;

/// A wall-clock instant, in milliseconds since the Unix epoch.
///
/// Wall-clock because JWT `exp`/`nbf`/`iat` are wall-clock; milliseconds because
/// the refresh machines schedule retries below one second.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The Unix epoch.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs.saturating_mul(1000))
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        UnixTime(millis)
    }

    /// From fractional seconds, as JSON numbers carry them; negative or
    /// non-finite values clamp to the epoch.
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs.is_finite() && secs > 0.0 { UnixTime((secs * 1000.0).min(u64::MAX as f64) as u64) } else { UnixTime(0) }
    }

    /// Whole seconds since the epoch, rounded down.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// How long after `earlier` this instant is; zero when it is not after it.
    pub fn saturating_since(self, earlier: UnixTime) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// This instant moved forward by `d`, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> UnixTime {
        UnixTime(self.0.saturating_add(duration_millis(d)))
    }

    /// This instant moved back by `d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> UnixTime {
        UnixTime(self.0.saturating_sub(duration_millis(d)))
    }
}

pub(crate) fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Add<Duration> for UnixTime {
    type Output = UnixTime;
    fn add(self, rhs: Duration) -> UnixTime {
        self.saturating_add(rhs)
    }
}

impl Sub<Duration> for UnixTime {
    type Output = UnixTime;
    fn sub(self, rhs: Duration) -> UnixTime {
        self.saturating_sub(rhs)
    }
}

impl fmt::Debug for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixTime({}.{:03})", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}
