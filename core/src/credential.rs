//! The generic credential refresh state machine.
//!
//! One [`CredentialMachine`] per credential. It decides *when* to make an
//! attempt and *what kind* ([`AttemptKind::Acquire`]: log in / read again;
//! [`AttemptKind::Renew`]: extend the value it holds). Source-specific code
//! (for example [`crate::vault`]) turns an [`Attempt`] into a request, sends
//! nothing itself either, and parses the answer into an [`Outcome`] the machine
//! understands.
//!
//! States: `Empty -> Fresh -> Refreshing -> Degraded (still valid, refresh
//! failing) -> Expired`, plus `Fatal` (a permanent error; still retried, slowly).
//!
//! Rules (see DESIGN.md, "Outbound credentials state machine"):
//!
//! - Refresh point: [`CredentialConfig::refresh_fraction`] (2/3) of the
//!   lifetime, ±[`CredentialConfig::refresh_jitter`] (8 %), and never later than
//!   `expiry - max(30 s, 3 × observed latency)`, that margin capped at a third
//!   of the lifetime.
//! - The old value is served while a refresh runs; after expiry
//!   [`CredentialMachine::current`] answers [`CredentialError::Expired`].
//! - Backoff: full jitter from 1 s up to `min(5 min, remaining / 4)`; 250 ms
//!   between two attempts is an invariant; `Retry-After` is honoured.
//! - No-progress guard: a renewal that does not move the expiry forward by at
//!   least [`CredentialConfig::min_progress`] switches to a re-acquire.
//! - The replaced value stays available as [`CredentialMachine::previous`] for
//!   a grace window, then is handed back through
//!   [`CredentialMachine::poll_retired`] (a lease to revoke, say).
//! - Poll-style sources (no expiry, e.g. Vault KV v2) are re-read every
//!   [`CredentialConfig::poll_interval`] ±10 %; a version change is a rotation.
//!
//! A host loop (the same for every machine in this crate):
//!
//! ```
//! use std::time::Duration;
//! use tokenkeep_core::UnixTime;
//! use tokenkeep_core::credential::{AttemptKind, CredentialConfig, CredentialMachine, Obtained, Outcome};
//!
//! let mut now = UnixTime::from_secs(1_767_225_600);
//! let mut m: CredentialMachine<String> =
//!     CredentialMachine::new(CredentialConfig::expiring(), 42, now);
//! for _ in 0..3 {
//!     // 1. drain what the machine wants done
//!     while let Some(attempt) = m.poll_attempt() {
//!         // ... the host performs the attempt (here: instantly) ...
//!         let outcome = match attempt.kind {
//!             AttemptKind::Acquire => Outcome::Obtained(Obtained {
//!                 value: "s.secret".to_string(),
//!                 expires_at: Some(now + Duration::from_secs(3600)),
//!                 renewable: true,
//!                 version: None,
//!             }),
//!             AttemptKind::Renew => Outcome::Renewed { expires_at: now + Duration::from_secs(3600) },
//!         };
//!         m.handle_outcome(attempt.id, outcome, now);
//!     }
//!     while let Some(event) = m.poll_event() {
//!         let _ = event.code(); // log / metrics
//!     }
//!     // 2. sleep until the machine's next deadline, then tell it the time
//!     let Some(wake) = m.poll_timeout() else { break };
//!     now = wake.max(now);
//!     m.handle_timeout(now);
//! }
//! assert!(m.current(now).is_ok());
//! ```

use crate::backoff::Backoff;
use crate::http::RequestId;
use crate::rng::JitterRng;
use crate::time::{UnixTime, duration_millis};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

crate::codes::code_enum! {
    /// Where a credential stands.
    pub enum CredentialState {
        /// Nothing obtained yet.
        Empty => "empty",
        /// Valid, nothing failing.
        Fresh => "fresh",
        /// Valid, a refresh is in flight.
        Refreshing => "refreshing",
        /// Valid, but the last refresh attempt(s) failed.
        Degraded => "degraded",
        /// Was obtained, is now past its expiry; no value is served.
        Expired => "expired",
        /// A permanent error (bad role, permission denied); retried slowly.
        Fatal => "fatal",
    }
}

crate::codes::code_enum! {
    /// Why an attempt failed without a failure reported by the source itself
    /// (`last_error_code`, the `error` of `attempt_failed` events). Failures
    /// the source reports carry its own codes ([`crate::vault::VaultErrorCode`],
    /// [`crate::token_file::TokenFileError`], [`crate::vault::JwtErrorCode`], …).
    pub enum AttemptFailure {
        /// The attempt got no answer within [`CredentialConfig::attempt_timeout`].
        Timeout => "timeout",
        /// The value obtained was already past its expiry.
        AlreadyExpired => "already_expired",
        /// An answer that does not fit the attempt (a renewal answering an acquire).
        UnexpectedOutcome => "unexpected_outcome",
        /// A renewal was due but the value had expired meanwhile: acquire instead.
        Expired => "expired",
    }
}

/// Tuning of a [`CredentialMachine`]. The defaults ([`CredentialConfig::expiring`])
/// are the design's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialConfig {
    /// Fraction of the lifetime at which to refresh (2/3).
    pub refresh_fraction: f64,
    /// Relative jitter of the refresh point (0.08 = ±8 %).
    pub refresh_jitter: f64,
    /// Smallest safety margin before expiry (30 s); capped at a third of the lifetime.
    pub min_margin: Duration,
    /// The margin is at least this many times the observed refresh latency (3).
    pub latency_multiplier: u32,
    /// Retry backoff (full jitter 1 s .. 5 min, floor 250 ms). The floor is the
    /// minimum time between the starts of two attempts.
    pub backoff: Backoff,
    /// Retry period in the `Fatal` state (5 min).
    pub fatal_retry: Duration,
    /// Relative jitter of [`CredentialConfig::fatal_retry`] (0.1).
    pub fatal_retry_jitter: f64,
    /// For values without an expiry: re-read this often (`None`: never).
    pub poll_interval: Option<Duration>,
    /// Relative jitter of the poll interval (0.1).
    pub poll_jitter: f64,
    /// How long a replaced value stays available; `None` means 2 × the poll
    /// interval, or 2 min when there is no poll interval.
    pub grace: Option<Duration>,
    /// A renewal must move the expiry forward by at least this much, or it is
    /// "no progress" and the next attempt is a re-acquire (1 s).
    pub min_progress: Duration,
    /// An attempt not answered within this time is abandoned and counted as a
    /// `timeout` failure; its late answer is ignored (45 s).
    pub attempt_timeout: Duration,
    /// Largest `Retry-After` honoured (1 h); longer values are clamped.
    pub max_retry_after: Duration,
    /// Refresh requests from outside ([`CredentialMachine::request_refresh`])
    /// are not acted on more often than this (5 s).
    pub min_forced_interval: Duration,
    /// First [`RequestId`] this machine hands out (lets a host give every
    /// machine its own id range).
    pub first_request_id: u64,
}

impl CredentialConfig {
    /// Defaults for a credential with an expiry (tokens, leases).
    pub fn expiring() -> Self {
        CredentialConfig {
            refresh_fraction: 2.0 / 3.0,
            refresh_jitter: 0.08,
            min_margin: Duration::from_secs(30),
            latency_multiplier: 3,
            backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(300),
                floor: Duration::from_millis(250),
            },
            fatal_retry: Duration::from_secs(300),
            fatal_retry_jitter: 0.1,
            poll_interval: None,
            poll_jitter: 0.1,
            grace: None,
            min_progress: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(45),
            max_retry_after: Duration::from_secs(3600),
            min_forced_interval: Duration::from_secs(5),
            first_request_id: 1,
        }
    }

    /// Defaults for a polled value without expiry (Vault KV v2): re-read every
    /// `interval` ±10 %, grace 2 × `interval`.
    pub fn polled(interval: Duration) -> Self {
        CredentialConfig { poll_interval: Some(interval), ..CredentialConfig::expiring() }
    }

    /// The grace window in effect.
    pub fn grace_window(&self) -> Duration {
        self.grace.unwrap_or_else(|| self.poll_interval.unwrap_or(Duration::from_secs(60)).saturating_mul(2))
    }
}

impl Default for CredentialConfig {
    fn default() -> Self {
        CredentialConfig::expiring()
    }
}

/// What kind of attempt the machine wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptKind {
    /// Obtain a new value (log in, read the secret again).
    Acquire,
    /// Extend the value held (renew a token or a lease).
    Renew,
}

impl AttemptKind {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Acquire => "acquire",
            AttemptKind::Renew => "renew",
        }
    }
}

/// One attempt the host (or a source adapter) must carry out; answer it with
/// [`CredentialMachine::handle_outcome`] and the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Correlates the outcome with this attempt.
    pub id: RequestId,
    /// Acquire or renew.
    pub kind: AttemptKind,
}

/// A newly obtained value.
#[derive(Clone, PartialEq)]
pub struct Obtained<V> {
    /// The credential (a secret: never printed).
    pub value: V,
    /// When it stops being valid; `None` for values without expiry.
    pub expires_at: Option<UnixTime>,
    /// Whether it can be extended with [`AttemptKind::Renew`].
    pub renewable: bool,
    /// Version of a versioned secret (KV v2); an unchanged version is not a rotation.
    pub version: Option<u64>,
}

impl<V> fmt::Debug for Obtained<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Obtained")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("renewable", &self.renewable)
            .field("version", &self.version)
            .finish()
    }
}

/// The answer to an [`Attempt`], as parsed by the source adapter.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome<V> {
    /// A new value.
    Obtained(Obtained<V>),
    /// The value held was extended; its new expiry (`now + lease_duration`).
    Renewed {
        /// New expiry as the server reported it.
        expires_at: UnixTime,
    },
    /// The value held was extended for the last time: the server capped it at
    /// its maximum lifetime (Vault's `token_max_ttl`), so the next attempt, at
    /// the usual refresh point, obtains a new value instead of asking for a
    /// renewal that cannot extend it.
    RenewedToEnd {
        /// New, final expiry as the server reported it.
        expires_at: UnixTime,
    },
    /// A failure worth retrying with backoff (transport, 429, 5xx, sealed).
    Retryable {
        /// Stable code of the cause.
        code: &'static str,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A permanent failure (bad role, invalid request). On an acquire the
    /// machine goes `Fatal` (slow retry); on a renew it re-acquires instead.
    Permanent {
        /// Stable code of the cause.
        code: &'static str,
    },
    /// The value held is gone (revoked, lease not found): re-acquire now.
    Gone {
        /// Stable code of the cause.
        code: &'static str,
    },
    /// The credential this one is read with (a Vault token) was rejected.
    /// The machine emits [`Event::TokenRejected`] and retries once the
    /// dependency changed ([`CredentialMachine::handle_dependency_changed`]);
    /// a second rejection with a changed dependency is fatal.
    Rejected {
        /// Stable code of the cause.
        code: &'static str,
    },
}

impl<V> fmt::Debug for Outcome<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Obtained(o) => f.debug_tuple("Obtained").field(o).finish(),
            Outcome::Renewed { expires_at } => f.debug_struct("Renewed").field("expires_at", expires_at).finish(),
            Outcome::RenewedToEnd { expires_at } => {
                f.debug_struct("RenewedToEnd").field("expires_at", expires_at).finish()
            }
            Outcome::Retryable { code, retry_after } => {
                f.debug_struct("Retryable").field("code", code).field("retry_after", retry_after).finish()
            }
            Outcome::Permanent { code } => f.debug_struct("Permanent").field("code", code).finish(),
            Outcome::Gone { code } => f.debug_struct("Gone").field("code", code).finish(),
            Outcome::Rejected { code } => f.debug_struct("Rejected").field("code", code).finish(),
        }
    }
}

/// Something that happened; every state transition is one. Events never
/// carry the credential.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The state changed.
    StateChanged {
        /// Old state.
        from: CredentialState,
        /// New state.
        to: CredentialState,
    },
    /// An attempt started (the host will be asked to carry it out).
    AttemptStarted {
        /// Its id.
        id: RequestId,
        /// Acquire or renew.
        kind: AttemptKind,
    },
    /// A new value was obtained.
    Obtained {
        /// Its version, for versioned secrets.
        version: Option<u64>,
        /// Its expiry, if any.
        expires_at: Option<UnixTime>,
    },
    /// The value held was replaced by a new one (the old one is now `previous`).
    Rotated {
        /// Version of the replaced value.
        previous_version: Option<u64>,
        /// Version of the new value.
        version: Option<u64>,
    },
    /// The value held was extended.
    Renewed {
        /// New expiry.
        expires_at: UnixTime,
    },
    /// A renewal did not extend the expiry: the next attempt is a re-acquire.
    NoProgress {
        /// Expiry reported by the renewal.
        expires_at: UnixTime,
    },
    /// An attempt failed.
    AttemptFailed {
        /// Acquire or renew.
        kind: AttemptKind,
        /// Stable code of the cause.
        code: &'static str,
        /// When the next attempt is scheduled.
        next_attempt_at: Option<UnixTime>,
    },
    /// The value held is gone; re-acquiring.
    Gone {
        /// Stable code of the cause.
        code: &'static str,
    },
    /// Entered the `Fatal` state.
    Fatal {
        /// Stable code of the cause.
        code: &'static str,
    },
    /// The credential this one depends on (the Vault token) was rejected;
    /// the host should ask that credential's machine to re-acquire.
    TokenRejected {
        /// Stable code of the cause.
        code: &'static str,
    },
    /// The value reached its expiry without replacement.
    Expired,
    /// The previous value's grace window ended; it is in
    /// [`CredentialMachine::poll_retired`].
    PreviousRetired {
        /// Version of the retired value.
        version: Option<u64>,
    },
    /// An attempt or auxiliary request got no answer in time and was abandoned.
    Abandoned {
        /// Its id; a late answer with it is ignored.
        id: RequestId,
    },
    /// A revocation (token, lease) was confirmed by the server.
    Revoked,
    /// A revocation failed.
    RevokeFailed {
        /// Stable code of the cause.
        code: &'static str,
        /// Whether it will be tried again.
        will_retry: bool,
    },
}

impl Event {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Event::StateChanged { .. } => "state_changed",
            Event::AttemptStarted { .. } => "attempt_started",
            Event::Obtained { .. } => "obtained",
            Event::Rotated { .. } => "rotated",
            Event::Renewed { .. } => "renewed",
            Event::NoProgress { .. } => "no_progress",
            Event::AttemptFailed { .. } => "attempt_failed",
            Event::Gone { .. } => "gone",
            Event::Fatal { .. } => "fatal",
            Event::TokenRejected { .. } => "token_rejected",
            Event::Expired => "expired",
            Event::PreviousRetired { .. } => "previous_retired",
            Event::Abandoned { .. } => "abandoned",
            Event::Revoked => "revoked",
            Event::RevokeFailed { .. } => "revoke_failed",
        }
    }
}

crate::codes::code_enum! {
    /// The stable code of a [`CredentialError`].
    pub enum CredentialErrorCode {
        /// Nothing obtained yet.
        NotYetObtained => "not_yet_obtained",
        /// The value expired and no new one was obtained.
        Expired => "expired",
        /// A permanent error and no valid value.
        Fatal => "fatal",
        /// The handle was closed.
        Closed => "closed",
    }
}

/// Why no value can be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// Nothing obtained yet.
    NotYetObtained,
    /// The value expired and no new one was obtained: never a stale value.
    Expired,
    /// Permanent error and no valid value.
    Fatal {
        /// Code of the permanent error.
        cause: &'static str,
    },
    /// The handle holding it was closed.
    Closed,
}

impl CredentialError {
    /// Stable snake_case code.
    pub fn code(&self) -> CredentialErrorCode {
        match self {
            CredentialError::NotYetObtained => CredentialErrorCode::NotYetObtained,
            CredentialError::Expired => CredentialErrorCode::Expired,
            CredentialError::Fatal { .. } => CredentialErrorCode::Fatal,
            CredentialError::Closed => CredentialErrorCode::Closed,
        }
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::NotYetObtained => f.write_str("credential not obtained yet"),
            CredentialError::Expired => f.write_str("credential expired and could not be refreshed"),
            CredentialError::Fatal { cause } => {
                write!(f, "credential unavailable: permanent error ({cause})")
            }
            CredentialError::Closed => f.write_str("credential closed"),
        }
    }
}

impl std::error::Error for CredentialError {}

/// A health snapshot, for `/health`, metrics and bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Current state.
    pub state: CredentialState,
    /// Seconds since the value held was obtained (renewals do not reset it).
    pub token_age_seconds: Option<u64>,
    /// Seconds until the value held expires (`None`: no value, or no expiry).
    pub expires_in_seconds: Option<u64>,
    /// Seconds until the next scheduled attempt (`None`: in flight or none planned).
    pub next_refresh_in_seconds: Option<u64>,
    /// Whether the last finished attempt succeeded (`None`: none finished yet).
    pub last_refresh_ok: Option<bool>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Code of the most recent failure (kept after recovery).
    pub last_error_code: Option<&'static str>,
    /// Version of the value held, for versioned secrets.
    pub version: Option<u64>,
    /// Whether an attempt is in flight.
    pub in_flight: bool,
}

/// A secret string (token, JWT, lease id) whose `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }

    /// The secret itself, to put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

struct Held<V> {
    value: V,
    obtained_at: UnixTime,
    refreshed_at: UnixTime,
    expires_at: Option<UnixTime>,
    renewable: bool,
    version: Option<u64>,
    expiry_reported: bool,
}

impl<V> Held<V> {
    fn valid_at(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

struct Previous<V> {
    value: V,
    version: Option<u64>,
    until: UnixTime,
}

#[derive(Clone, Copy)]
struct InFlight {
    id: RequestId,
    /// `None` for an auxiliary request (a revocation).
    kind: Option<AttemptKind>,
    started: UnixTime,
    generation: u64,
}

/// The generic refresh machine; `V` is the credential value (a token, a
/// secret). See the module docs for the rules and a host loop.
pub struct CredentialMachine<V> {
    config: CredentialConfig,
    rng: JitterRng,
    current: Option<Held<V>>,
    previous: Option<Previous<V>>,
    retired: VecDeque<V>,
    state: CredentialState,
    fatal: Option<&'static str>,
    force_acquire: bool,
    next_attempt: Option<UnixTime>,
    in_flight: Option<InFlight>,
    pending: Option<Attempt>,
    last_attempt_started: Option<UnixTime>,
    last_forced: Option<UnixTime>,
    next_id: u64,
    consecutive_failures: u32,
    last_refresh_ok: Option<bool>,
    last_error: Option<&'static str>,
    latency: Option<Duration>,
    dependency_generation: u64,
    rejected_generation: Option<u64>,
    stopped: bool,
    events: VecDeque<Event>,
}

impl<V> fmt::Debug for CredentialMachine<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialMachine")
            .field("state", &self.state)
            .field("value", &self.current.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.current.as_ref().and_then(|c| c.expires_at))
            .field("version", &self.current.as_ref().and_then(|c| c.version))
            .field("next_attempt", &self.next_attempt)
            .field("in_flight", &self.in_flight.map(|f| f.id))
            .field("consecutive_failures", &self.consecutive_failures)
            .field("last_error", &self.last_error)
            .finish()
    }
}

fn finite_or(x: f64, default: f64) -> f64 {
    if x.is_finite() { x } else { default }
}

impl<V> CredentialMachine<V> {
    /// A machine with nothing yet; its first attempt (an acquire) starts at
    /// `now` (ready in [`CredentialMachine::poll_attempt`]).
    /// `seed` seeds the jitter (hosts: from their RNG; simulations: a constant).
    pub fn new(config: CredentialConfig, seed: u64, now: UnixTime) -> Self {
        let next_id = config.first_request_id;
        let mut m = CredentialMachine {
            config,
            rng: JitterRng::new(seed),
            current: None,
            previous: None,
            retired: VecDeque::new(),
            state: CredentialState::Empty,
            fatal: None,
            force_acquire: false,
            next_attempt: Some(now),
            in_flight: None,
            pending: None,
            last_attempt_started: None,
            last_forced: None,
            next_id,
            consecutive_failures: 0,
            last_refresh_ok: None,
            last_error: None,
            latency: None,
            dependency_generation: 0,
            rejected_generation: None,
            stopped: false,
            events: VecDeque::new(),
        };
        m.advance(now);
        m
    }

    /// The configuration.
    pub fn config(&self) -> &CredentialConfig {
        &self.config
    }

    // ----- outputs -------------------------------------------------------

    /// The next attempt to carry out, if one was started.
    pub fn poll_attempt(&mut self) -> Option<Attempt> {
        self.pending.take()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`CredentialMachine::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        let mut t: Option<UnixTime> = None;
        let mut consider = |x: UnixTime| t = Some(t.map_or(x, |y| y.min(x)));
        match self.in_flight {
            Some(f) => consider(f.started + self.config.attempt_timeout),
            None if !self.stopped => {
                if let Some(n) = self.next_attempt {
                    consider(n);
                }
            }
            None => {}
        }
        if let Some(c) = &self.current {
            if let (Some(e), false) = (c.expires_at, c.expiry_reported) {
                consider(e);
            }
        }
        if let Some(p) = &self.previous {
            consider(p.until);
        }
        t
    }

    /// A value whose grace window ended (or that arrived after [`CredentialMachine::stop`]),
    /// handed back so the owner can dispose of it (revoke a lease, say).
    pub fn poll_retired(&mut self) -> Option<V> {
        self.retired.pop_front()
    }

    // ----- reads ---------------------------------------------------------

    /// The value to use now: the current one while valid (also while a
    /// refresh runs, and in `Fatal` if it is still valid), never an expired one.
    pub fn current(&self, now: UnixTime) -> Result<&V, CredentialError> {
        match &self.current {
            Some(c) if c.valid_at(now) => Ok(&c.value),
            Some(_) => Err(match self.fatal {
                Some(cause) => CredentialError::Fatal { cause },
                None => CredentialError::Expired,
            }),
            None => Err(match self.fatal {
                Some(cause) => CredentialError::Fatal { cause },
                None => CredentialError::NotYetObtained,
            }),
        }
    }

    /// The replaced value, while its grace window lasts and it has not expired.
    pub fn previous(&self, now: UnixTime) -> Option<&V> {
        self.previous.as_ref().filter(|p| now < p.until).map(|p| &p.value)
    }

    /// Version of the previous value, while it is available.
    pub fn previous_version(&self, now: UnixTime) -> Option<u64> {
        self.previous.as_ref().filter(|p| now < p.until).and_then(|p| p.version)
    }

    /// Expiry of the value held (valid or not).
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.current.as_ref().and_then(|c| c.expires_at)
    }

    /// Version of the value held.
    pub fn version(&self) -> Option<u64> {
        self.current.as_ref().and_then(|c| c.version)
    }

    /// When the value held was obtained.
    pub fn obtained_at(&self) -> Option<UnixTime> {
        self.current.as_ref().map(|c| c.obtained_at)
    }

    /// Brings the next attempt forward to `by` when it is planned later (the
    /// floor between attempts still holds): for a source's own deadline, such
    /// as the end of Vault's window for transient login 400s.
    pub fn retry_no_later_than(&mut self, by: UnixTime, now: UnixTime) {
        // Never sooner than a floor from now, as after any failure: the host may
        // have sent the last request later than its attempt started.
        let by = by.max(now + self.config.backoff.floor);
        if !self.stopped && self.in_flight.is_none() && self.next_attempt.is_some_and(|next| next > by) {
            self.schedule(by, now);
        }
    }

    /// When the next attempt is scheduled (`None` while one is in flight).
    pub fn next_attempt_at(&self) -> Option<UnixTime> {
        if self.stopped || self.in_flight.is_some() { None } else { self.next_attempt }
    }

    /// The id of the request in flight (attempt or auxiliary), if any.
    pub fn in_flight(&self) -> Option<RequestId> {
        self.in_flight.map(|f| f.id)
    }

    /// The kind of the attempt in flight (`None`: none, or an auxiliary request).
    pub fn in_flight_kind(&self) -> Option<AttemptKind> {
        self.in_flight.and_then(|f| f.kind)
    }

    /// The state as of the last input.
    pub fn state(&self) -> CredentialState {
        self.state
    }

    /// Whether [`CredentialMachine::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// A health snapshot.
    pub fn health(&self, now: UnixTime) -> Health {
        Health {
            state: self.state,
            token_age_seconds: self.current.as_ref().map(|c| now.saturating_since(c.obtained_at).as_secs()),
            expires_in_seconds: self
                .current
                .as_ref()
                .and_then(|c| c.expires_at)
                .map(|e| e.saturating_since(now).as_secs()),
            next_refresh_in_seconds: self.next_attempt_at().map(|t| t.saturating_since(now).as_secs()),
            last_refresh_ok: self.last_refresh_ok,
            consecutive_failures: self.consecutive_failures,
            last_error_code: self.last_error,
            version: self.version(),
            in_flight: self.in_flight.is_some(),
        }
    }

    // ----- inputs --------------------------------------------------------

    /// Time passed. Early or spurious calls change nothing.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.advance(now);
    }

    /// The answer to attempt `id`. Returns `false` (and changes nothing) for
    /// an unknown, stale or abandoned id.
    pub fn handle_outcome(&mut self, id: RequestId, outcome: Outcome<V>, now: UnixTime) -> bool {
        let flight = match self.in_flight {
            Some(f) if f.id == id && f.kind.is_some() => f,
            _ => {
                // Ignored; the time it carries still counts.
                self.advance(now);
                return false;
            }
        };
        let kind = flight.kind.unwrap_or(AttemptKind::Acquire);
        self.in_flight = None;
        self.pending = None;
        let latency = now.saturating_since(flight.started);
        if self.stopped {
            if let Outcome::Obtained(o) = outcome {
                self.retired.push_back(o.value);
            }
            self.update_state(now);
            return true;
        }
        match outcome {
            Outcome::Obtained(o) => {
                self.observe_latency(latency);
                self.on_obtained(kind, o, now);
            }
            Outcome::Renewed { expires_at } => {
                self.observe_latency(latency);
                self.on_renewed(kind, expires_at, false, now);
            }
            Outcome::RenewedToEnd { expires_at } => {
                self.observe_latency(latency);
                self.on_renewed(kind, expires_at, true, now);
            }
            Outcome::Retryable { code, retry_after } => self.fail(kind, code, retry_after, now),
            Outcome::Permanent { code } => {
                if kind == AttemptKind::Renew {
                    self.gone(kind, code, now);
                } else {
                    self.go_fatal(kind, code, now);
                }
            }
            Outcome::Gone { code } => {
                if kind == AttemptKind::Renew {
                    self.gone(kind, code, now);
                } else {
                    self.fail(kind, code, None, now);
                }
            }
            Outcome::Rejected { code } => self.on_rejected(kind, flight.generation, code, now),
        }
        self.advance(now);
        true
    }

    /// The credential this one is read with changed (a new Vault token). After
    /// a [`Outcome::Rejected`], this triggers the retry at once (floor permitting).
    pub fn handle_dependency_changed(&mut self, now: UnixTime) {
        self.dependency_generation = self.dependency_generation.wrapping_add(1);
        if self.rejected_generation.is_some() && !self.stopped && self.in_flight.is_none() {
            self.schedule(now, now);
        }
        self.advance(now);
    }

    /// Asks for an attempt soon (for example: the token was rejected
    /// upstream). With `reacquire` the attempt is an acquire. Rate-limited by
    /// [`CredentialConfig::min_forced_interval`] and the backoff floor.
    pub fn request_refresh(&mut self, reacquire: bool, now: UnixTime) {
        if self.stopped {
            return;
        }
        if reacquire {
            self.force_acquire = true;
        }
        if self.in_flight.is_none() {
            let mut at = now;
            if let Some(last) = self.last_forced {
                at = at.max(last + self.config.min_forced_interval);
            }
            if self.next_attempt.is_none_or(|n| at < n) {
                self.last_forced = Some(at);
                self.schedule(at, now);
            }
        }
        self.advance(now);
    }

    /// The value's expiry changed outside a renewal (for example a lease whose
    /// creating token was replaced now dies with that token). With `reacquire`
    /// the next attempt is an acquire. Reschedules the refresh point.
    pub fn handle_expiry_changed(&mut self, expires_at: Option<UnixTime>, reacquire: bool, now: UnixTime) {
        let Some(c) = self.current.as_mut() else {
            return;
        };
        c.expires_at = expires_at;
        c.expiry_reported = expires_at.is_some_and(|e| now >= e) && c.expiry_reported;
        if reacquire {
            self.force_acquire = true;
        }
        if self.fatal.is_none() && self.consecutive_failures == 0 && self.in_flight.is_none() && !self.stopped {
            self.schedule_after_success(now);
        }
        self.advance(now);
    }

    /// No more attempts. An unpolled attempt is withdrawn; the answer to one
    /// already sent is still accepted, and a value it brings goes to
    /// [`CredentialMachine::poll_retired`].
    pub fn stop(&mut self, now: UnixTime) {
        self.stopped = true;
        self.next_attempt = None;
        if self.pending.take().is_some() {
            self.in_flight = None;
        }
        self.update_state(now);
    }

    /// Withdraws attempt `id` that was never sent (its adapter could not build
    /// the request, say, at shutdown): the slot is freed, nothing is counted.
    pub fn withdraw(&mut self, id: RequestId, now: UnixTime) -> bool {
        match self.in_flight {
            Some(f) if f.id == id => {
                self.in_flight = None;
                self.pending = None;
                if !self.stopped && self.next_attempt.is_none() {
                    self.schedule(now, now);
                }
                self.advance(now);
                true
            }
            _ => false,
        }
    }

    /// The attempt in flight goes out only now (it waited for its
    /// dependency, the Vault token): it is made with the dependency as it is
    /// now, so a rejection of it is not mistaken for one made with an older one.
    pub fn handle_attempt_sent(&mut self) {
        if let Some(f) = self.in_flight.as_mut() {
            f.generation = self.dependency_generation;
        }
    }

    /// Takes every value held (current, previous, retired), for disposal at
    /// shutdown. The machine is left empty.
    pub fn take_all(&mut self) -> Vec<V> {
        let mut out: Vec<V> = self.retired.drain(..).collect();
        if let Some(p) = self.previous.take() {
            out.push(p.value);
        }
        if let Some(c) = self.current.take() {
            out.push(c.value);
        }
        out
    }

    /// Occupies the single in-flight slot for an auxiliary request (a
    /// revocation) if it is free and no attempt is due. Answer with
    /// [`CredentialMachine::handle_auxiliary_done`].
    pub fn start_auxiliary(&mut self, now: UnixTime) -> Option<RequestId> {
        self.advance(now);
        if self.in_flight.is_some() {
            return None;
        }
        if !self.stopped && self.next_attempt.is_some_and(|n| n <= now) {
            return None;
        }
        let id = self.alloc_id();
        self.in_flight = Some(InFlight { id, kind: None, started: now, generation: self.dependency_generation });
        Some(id)
    }

    /// The auxiliary request `id` finished (whatever its result). Returns
    /// `false` for an unknown id.
    pub fn handle_auxiliary_done(&mut self, id: RequestId, now: UnixTime) -> bool {
        match self.in_flight {
            Some(f) if f.id == id && f.kind.is_none() => {
                self.in_flight = None;
                self.advance(now);
                true
            }
            _ => false,
        }
    }

    /// Lets a source adapter report an event of its own (revocations).
    pub(crate) fn push_event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    // ----- internals -----------------------------------------------------

    fn alloc_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn observe_latency(&mut self, l: Duration) {
        // Fast attack, slow decay.
        self.latency = Some(match self.latency {
            Some(prev) if l < prev => prev.saturating_mul(3).saturating_add(l) / 4,
            _ => l,
        });
    }

    fn advance(&mut self, now: UnixTime) {
        if let Some(f) = self.in_flight {
            if now >= f.started + self.config.attempt_timeout {
                self.in_flight = None;
                self.pending = None;
                self.events.push_back(Event::Abandoned { id: f.id });
                if let Some(kind) = f.kind {
                    if !self.stopped {
                        self.fail(kind, AttemptFailure::Timeout.as_str(), None, now);
                    }
                }
            }
        }
        if let Some(c) = self.current.as_mut() {
            if let Some(e) = c.expires_at {
                if now >= e && !c.expiry_reported {
                    c.expiry_reported = true;
                    self.events.push_back(Event::Expired);
                }
            }
        }
        if self.previous.as_ref().is_some_and(|p| now >= p.until) {
            if let Some(p) = self.previous.take() {
                self.events.push_back(Event::PreviousRetired { version: p.version });
                self.retired.push_back(p.value);
            }
        }
        if !self.stopped && self.in_flight.is_none() && self.next_attempt.is_some_and(|n| now >= n) {
            self.start_attempt(now);
        }
        self.update_state(now);
    }

    fn start_attempt(&mut self, now: UnixTime) {
        let renewable = self.current.as_ref().is_some_and(|c| c.renewable && c.valid_at(now) && c.expires_at.is_some());
        let kind = if self.force_acquire || self.fatal.is_some() || !renewable {
            AttemptKind::Acquire
        } else {
            AttemptKind::Renew
        };
        let id = self.alloc_id();
        self.next_attempt = None;
        self.last_attempt_started = Some(now);
        self.in_flight = Some(InFlight { id, kind: Some(kind), started: now, generation: self.dependency_generation });
        self.pending = Some(Attempt { id, kind });
        self.events.push_back(Event::AttemptStarted { id, kind });
    }

    /// Schedules the next attempt at `at`, never before `now` and never closer
    /// than the floor to the previous attempt's start.
    fn schedule(&mut self, at: UnixTime, now: UnixTime) {
        let mut t = at.max(now);
        if let Some(last) = self.last_attempt_started {
            t = t.max(last + self.config.backoff.floor);
        }
        self.next_attempt = Some(t);
    }

    fn jittered(&mut self, d: Duration, jitter: f64) -> Duration {
        let j = finite_or(jitter, 0.0).clamp(0.0, 0.9);
        let f = 1.0 + j * self.rng.signed_unit();
        Duration::from_millis((duration_millis(d) as f64 * f) as u64)
    }

    fn refresh_point(&mut self, start: UnixTime, expires: UnixTime) -> UnixTime {
        let life = duration_millis(expires.saturating_since(start)) as f64;
        let frac = finite_or(self.config.refresh_fraction, 2.0 / 3.0).clamp(0.05, 0.95);
        let j = finite_or(self.config.refresh_jitter, 0.0).clamp(0.0, 0.5);
        let base = life * frac * (1.0 + j * self.rng.signed_unit());
        let observed = self.latency.unwrap_or(Duration::ZERO).saturating_mul(self.config.latency_multiplier);
        let margin = (duration_millis(self.config.min_margin.max(observed)) as f64).min(life / 3.0);
        let at = base.min(life - margin).max(0.0);
        start + Duration::from_millis(at as u64)
    }

    fn schedule_after_success(&mut self, now: UnixTime) {
        let Some(c) = self.current.as_ref() else {
            self.next_attempt = None;
            return;
        };
        let (start, expires) = (c.refreshed_at, c.expires_at);
        match expires {
            Some(e) => {
                let t = self.refresh_point(start, e);
                self.schedule(t, now);
            }
            None => match self.config.poll_interval {
                Some(p) => {
                    let d = self.jittered(p, self.config.poll_jitter);
                    self.schedule(now + d, now);
                }
                None => self.next_attempt = None,
            },
        }
        if self.force_acquire {
            self.schedule(now, now);
        }
    }

    fn succeeded(&mut self) {
        self.consecutive_failures = 0;
        self.last_refresh_ok = Some(true);
        self.fatal = None;
        self.rejected_generation = None;
    }

    fn on_obtained(&mut self, kind: AttemptKind, o: Obtained<V>, now: UnixTime) {
        if o.expires_at.is_some_and(|e| e <= now) {
            self.fail(kind, AttemptFailure::AlreadyExpired.as_str(), None, now);
            return;
        }
        self.succeeded();
        self.force_acquire = false;
        let same_version =
            self.current.as_ref().is_some_and(|c| c.valid_at(now) && c.version.is_some() && c.version == o.version);
        if same_version {
            if let Some(c) = self.current.as_mut() {
                c.refreshed_at = now;
                c.expires_at = o.expires_at;
                c.renewable = o.renewable;
                c.expiry_reported = false;
            }
        } else {
            if let Some(old) = self.current.take() {
                self.events.push_back(Event::Rotated { previous_version: old.version, version: o.version });
                if old.valid_at(now) {
                    let mut until = now + self.config.grace_window();
                    if let Some(e) = old.expires_at {
                        until = until.min(e);
                    }
                    if let Some(p) = self.previous.take() {
                        self.events.push_back(Event::PreviousRetired { version: p.version });
                        self.retired.push_back(p.value);
                    }
                    self.previous = Some(Previous { value: old.value, version: old.version, until });
                } else {
                    self.retired.push_back(old.value);
                }
            }
            self.events.push_back(Event::Obtained { version: o.version, expires_at: o.expires_at });
            self.current = Some(Held {
                value: o.value,
                obtained_at: now,
                refreshed_at: now,
                expires_at: o.expires_at,
                renewable: o.renewable,
                version: o.version,
                expiry_reported: false,
            });
        }
        self.schedule_after_success(now);
    }

    fn on_renewed(&mut self, kind: AttemptKind, expires_at: UnixTime, to_end: bool, now: UnixTime) {
        let valid = self.current.as_ref().is_some_and(|c| c.valid_at(now));
        if kind != AttemptKind::Renew || !valid {
            self.fail(kind, AttemptFailure::UnexpectedOutcome.as_str(), None, now);
            return;
        }
        self.succeeded();
        let min_progress = self.config.min_progress;
        let Some(c) = self.current.as_mut() else {
            return;
        };
        let progress = expires_at > now && c.expires_at.is_none_or(|old| expires_at >= old + min_progress);
        c.expires_at = Some(expires_at);
        c.refreshed_at = now;
        c.expiry_reported = false;
        // Not renewable any more: the next attempt is an acquire, at the refresh point.
        c.renewable &= !to_end;
        if progress {
            self.events.push_back(Event::Renewed { expires_at });
            self.schedule_after_success(now);
            // The end is final now: replace the value early enough that the
            // replaced one stays usable for the whole grace window (users
            // switching a connection pool were promised that much).
            if let (true, Some(grace), Some(next)) = (to_end, self.config.grace, self.next_attempt) {
                let by = expires_at.saturating_sub(grace);
                if by < next {
                    self.schedule(by, now);
                }
            }
        } else {
            self.events.push_back(Event::NoProgress { expires_at });
            self.force_acquire = true;
            self.schedule(now, now);
        }
    }

    fn record_failure(&mut self, code: &'static str) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_refresh_ok = Some(false);
        self.last_error = Some(code);
    }

    fn fail(&mut self, kind: AttemptKind, code: &'static str, retry_after: Option<Duration>, now: UnixTime) {
        self.record_failure(code);
        let delay = if self.fatal.is_some() {
            self.jittered(self.config.fatal_retry, self.config.fatal_retry_jitter)
        } else {
            let remaining = self
                .current
                .as_ref()
                .and_then(|c| c.expires_at)
                .map(|e| e.saturating_since(now))
                .filter(|r| !r.is_zero());
            let cap = match remaining {
                Some(r) => self.config.backoff.cap.min(r / 4),
                None => self.config.backoff.cap,
            };
            let mut d = self.config.backoff.delay_capped(self.consecutive_failures, cap, &mut self.rng);
            if let Some(ra) = retry_after {
                d = d.max(ra.min(self.config.max_retry_after));
            }
            d
        };
        self.schedule(now + delay, now);
        self.events.push_back(Event::AttemptFailed { kind, code, next_attempt_at: self.next_attempt });
    }

    fn gone(&mut self, kind: AttemptKind, code: &'static str, now: UnixTime) {
        self.record_failure(code);
        self.force_acquire = true;
        self.events.push_back(Event::Gone { code });
        self.schedule(now, now);
        self.events.push_back(Event::AttemptFailed { kind, code, next_attempt_at: self.next_attempt });
    }

    fn go_fatal(&mut self, kind: AttemptKind, code: &'static str, now: UnixTime) {
        if self.fatal.is_none() {
            self.events.push_back(Event::Fatal { code });
        }
        self.fatal = Some(code);
        self.force_acquire = true;
        self.fail(kind, code, None, now);
    }

    fn on_rejected(&mut self, kind: AttemptKind, generation: u64, code: &'static str, now: UnixTime) {
        match self.rejected_generation {
            Some(prev) if generation > prev || self.fatal.is_some() => {
                // Rejected again with a new dependency (or already fatal).
                self.rejected_generation = Some(generation);
                self.go_fatal(kind, code, now);
            }
            _ => {
                self.rejected_generation = Some(generation);
                self.events.push_back(Event::TokenRejected { code });
                if self.dependency_generation > generation {
                    // The dependency already changed while this attempt ran.
                    self.record_failure(code);
                    self.schedule(now, now);
                    self.events.push_back(Event::AttemptFailed { kind, code, next_attempt_at: self.next_attempt });
                } else {
                    self.fail(kind, code, None, now);
                }
            }
        }
    }

    fn update_state(&mut self, now: UnixTime) {
        let attempt_in_flight = self.in_flight.is_some_and(|f| f.kind.is_some());
        let s = if self.fatal.is_some() {
            CredentialState::Fatal
        } else {
            match &self.current {
                None => CredentialState::Empty,
                Some(c) if !c.valid_at(now) => CredentialState::Expired,
                Some(_) if self.consecutive_failures > 0 => CredentialState::Degraded,
                Some(_) if attempt_in_flight => CredentialState::Refreshing,
                Some(_) => CredentialState::Fresh,
            }
        };
        if s != self.state {
            self.events.push_back(Event::StateChanged { from: self.state, to: s });
            self.state = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_767_225_600;

    fn t(s: f64) -> UnixTime {
        UnixTime::from_millis(T0 * 1000 + (s * 1000.0) as u64)
    }

    fn obtained(v: &str, now: UnixTime, life: u64, renewable: bool) -> Outcome<String> {
        Outcome::Obtained(Obtained {
            value: v.to_string(),
            expires_at: Some(now + Duration::from_secs(life)),
            renewable,
            version: None,
        })
    }

    #[test]
    fn first_attempt_is_an_acquire_and_value_is_served() {
        let now = t(0.0);
        let mut m = CredentialMachine::<String>::new(CredentialConfig::expiring(), 1, now);
        assert_eq!(m.current(now).unwrap_err().code(), "not_yet_obtained");
        m.handle_timeout(now);
        let a = m.poll_attempt().unwrap();
        assert_eq!(a.kind, AttemptKind::Acquire);
        assert!(m.handle_outcome(a.id, obtained("tok", now, 3600, true), now));
        assert_eq!(m.current(now).unwrap(), "tok");
        assert_eq!(m.state(), CredentialState::Fresh);
        let next = m.next_attempt_at().unwrap();
        let frac = next.saturating_since(now).as_secs_f64() / 3600.0;
        assert!((2.0 / 3.0 * 0.92..=2.0 / 3.0 * 1.08).contains(&frac), "{frac}");
        assert!(!m.handle_outcome(a.id, obtained("x", now, 1, true), now), "stale id ignored");
    }

    #[test]
    fn short_lifetime_renews_near_two_thirds() {
        for seed in 0..200 {
            let now = t(0.0);
            let mut m = CredentialMachine::<String>::new(CredentialConfig::expiring(), seed, now);
            let a = m.poll_attempt().or_else(|| {
                m.handle_timeout(now);
                m.poll_attempt()
            });
            let a = a.unwrap();
            m.handle_outcome(a.id, obtained("tok", now, 20, true), now);
            let at = m.next_attempt_at().unwrap().saturating_since(now).as_secs_f64();
            assert!((12.2..=13.34).contains(&at), "seed {seed}: {at}");
        }
    }

    #[test]
    fn expired_value_is_never_served_and_debug_is_redacted() {
        let now = t(0.0);
        let mut m = CredentialMachine::<String>::new(CredentialConfig::expiring(), 3, now);
        m.handle_timeout(now);
        let a = m.poll_attempt().unwrap();
        m.handle_outcome(a.id, obtained("hunter2-secret", now, 10, false), now);
        let dbg = format!("{m:?} {:?}", obtained("hunter2-secret", now, 1, true));
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert_eq!(m.current(t(10.0)).unwrap_err(), CredentialError::Expired);
        assert!(format!("{:?}", SecretString::new("hunter2")).find("hunter2").is_none());
    }

    #[test]
    fn renewal_to_the_end_acquires_next_leaving_the_grace_window() {
        let now = t(0.0);
        let grace = Duration::from_secs(1000);
        let config = CredentialConfig { grace: Some(grace), ..CredentialConfig::expiring() };
        let mut m = CredentialMachine::<String>::new(config, 5, now);
        m.handle_timeout(now);
        let a = m.poll_attempt().unwrap();
        m.handle_outcome(a.id, obtained("lease-1", now, 3600, true), now);
        let when = m.next_attempt_at().unwrap();
        m.handle_timeout(when);
        let r = m.poll_attempt().unwrap();
        assert_eq!(r.kind, AttemptKind::Renew);
        // Capped: it extends (past the old end at 3600 s), but never again.
        let end = when + Duration::from_secs(1500);
        m.handle_outcome(r.id, Outcome::RenewedToEnd { expires_at: end }, when);
        let events: Vec<&str> = std::iter::from_fn(|| m.poll_event()).map(|e| e.code()).collect();
        assert!(events.contains(&"renewed") && !events.contains(&"no_progress"), "{events:?}");
        let next = m.next_attempt_at().unwrap();
        // The usual point (2/3 of the 1500 s left) would leave only 500 s of grace.
        assert!(next > when && next <= end - grace, "{next:?} vs end {end:?}");
        m.handle_timeout(next);
        assert_eq!(m.poll_attempt().unwrap().kind, AttemptKind::Acquire, "no renewal spent on a capped value");
    }

    #[test]
    fn no_progress_switches_to_acquire() {
        let now = t(0.0);
        let mut m = CredentialMachine::<String>::new(CredentialConfig::expiring(), 5, now);
        m.handle_timeout(now);
        let a = m.poll_attempt().unwrap();
        m.handle_outcome(a.id, obtained("tok", now, 60, true), now);
        let when = m.next_attempt_at().unwrap();
        m.handle_timeout(when);
        let r = m.poll_attempt().unwrap();
        assert_eq!(r.kind, AttemptKind::Renew);
        m.handle_outcome(r.id, Outcome::Renewed { expires_at: t(60.0) }, when);
        assert!(std::iter::from_fn(|| m.poll_event()).any(|e| e.code() == "no_progress"));
        let next = m.next_attempt_at().unwrap();
        assert!(next.saturating_since(when) <= Duration::from_millis(250));
        m.handle_timeout(next);
        assert_eq!(m.poll_attempt().unwrap().kind, AttemptKind::Acquire);
    }

    #[test]
    fn permanent_on_acquire_is_fatal_with_slow_retry() {
        let now = t(0.0);
        let mut m = CredentialMachine::<String>::new(CredentialConfig::expiring(), 9, now);
        m.handle_timeout(now);
        let a = m.poll_attempt().unwrap();
        m.handle_outcome(a.id, Outcome::Permanent { code: "permission_denied" }, now);
        assert_eq!(m.state(), CredentialState::Fatal);
        assert_eq!(m.current(now).unwrap_err().code(), "fatal");
        let wait = m.next_attempt_at().unwrap().saturating_since(now);
        assert!(wait >= Duration::from_secs(270) && wait <= Duration::from_secs(330), "{wait:?}");
        assert_eq!(m.health(now).last_error_code, Some("permission_denied"));
    }
}
