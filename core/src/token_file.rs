//! When to re-read a rotating token file (a Kubernetes projected
//! service-account token, a spiffe-helper JWT-SVID).
//!
//! The host reads the file when asked ([`TokenFileAction::Read`]) and feeds
//! the bytes back with [`TokenFileMachine::handle_contents`] (unsolicited
//! contents are accepted too). It also forwards file-change notifications
//! ([`TokenFileMachine::handle_file_changed`]) and 401s from the upstream
//! the token is presented to ([`TokenFileMachine::handle_upstream_unauthorized`]).
//!
//! Reads are asked for:
//! - at [`TokenFileConfig::refresh_fraction`] (80 %) of the token's own
//!   `iat..exp` lifetime (the kubelet rotates at 80 % too, so a read that
//!   finds the same token retries with backoff: 1 s, 2 s, ... up to
//!   `min(backstop, remaining / 4)`);
//! - at once (250 ms floor) when the file changed;
//! - at once, at most once a second, after an upstream 401;
//! - every [`TokenFileConfig::backstop_poll`] (60 s ±10 %) whatever happens.
//!
//! Contents that are empty, not UTF-8, not a compact JWS, without a numeric
//! `exp`, already expired, or older (smaller `exp`) than the token held are
//! refused with a typed [`TokenFileError`]; the last good token is kept and
//! served until its own `exp`, then [`CredentialError::Expired`].
//!
//! Events and health reuse [`crate::credential`]'s types.

use crate::backoff::Backoff;
use crate::credential::{AttemptKind, CredentialError, CredentialState, Event, Health, SecretString};
use crate::http::RequestId;
use crate::rng::JitterRng;
use crate::time::{UnixTime, duration_millis};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// Tuning of a [`TokenFileMachine`].
#[derive(Clone, Debug, PartialEq)]
pub struct TokenFileConfig {
    /// Fraction of `iat..exp` after which to re-read (0.8).
    pub refresh_fraction: f64,
    /// Re-read at least this often (60 s), ±[`TokenFileConfig::backstop_jitter`].
    pub backstop_poll: Duration,
    /// Relative jitter of the backstop poll (0.1).
    pub backstop_jitter: f64,
    /// Retry reads after a refused file or an unrotated one (1 s .. 60 s, floor 250 ms;
    /// the floor is the minimum time between two reads).
    pub backoff: Backoff,
    /// Reads triggered by upstream 401s are not more frequent than this (1 s).
    pub min_forced_interval: Duration,
    /// A read not answered within this time is abandoned (10 s).
    pub read_timeout: Duration,
}

impl Default for TokenFileConfig {
    fn default() -> Self {
        TokenFileConfig {
            refresh_fraction: 0.8,
            backstop_poll: Duration::from_secs(60),
            backstop_jitter: 0.1,
            backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(60),
                floor: Duration::from_millis(250),
            },
            min_forced_interval: Duration::from_secs(1),
            read_timeout: Duration::from_secs(10),
        }
    }
}

/// Why file contents were refused (the last good token is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenFileError {
    /// Empty or whitespace only.
    Empty,
    /// Not UTF-8.
    NotUtf8,
    /// Not a compact JWS (three base64url parts with JSON header and claims).
    NotAJwt,
    /// No numeric `exp` claim.
    NoExp,
    /// The token in the file is already expired.
    TokenExpired,
    /// The token in the file expires before the one held.
    OlderThanCurrent,
    /// The host could not read the file (missing, permission, I/O).
    Unreadable,
    /// A read was asked for and never answered.
    ReadTimeout,
}

impl TokenFileError {
    /// Every code, in a stable order.
    pub const ALL: &'static [TokenFileError] = &[
        TokenFileError::Empty,
        TokenFileError::NotUtf8,
        TokenFileError::NotAJwt,
        TokenFileError::NoExp,
        TokenFileError::TokenExpired,
        TokenFileError::OlderThanCurrent,
        TokenFileError::Unreadable,
        TokenFileError::ReadTimeout,
    ];

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        self.as_str()
    }

    /// Stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFileError::Empty => "empty",
            TokenFileError::NotUtf8 => "not_utf8",
            TokenFileError::NotAJwt => "not_a_jwt",
            TokenFileError::NoExp => "no_exp",
            TokenFileError::TokenExpired => "token_expired",
            TokenFileError::OlderThanCurrent => "older_than_current",
            TokenFileError::Unreadable => "unreadable",
            TokenFileError::ReadTimeout => "read_timeout",
        }
    }
}

impl fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenFileError::Empty => "token file is empty",
            TokenFileError::NotUtf8 => "token file is not UTF-8",
            TokenFileError::NotAJwt => "token file does not hold a JWT",
            TokenFileError::NoExp => "token in file has no exp claim",
            TokenFileError::TokenExpired => "token in file is expired",
            TokenFileError::OlderThanCurrent => "token in file is older than the one held",
            TokenFileError::Unreadable => "token file could not be read",
            TokenFileError::ReadTimeout => "token file read not answered in time",
        })
    }
}

impl std::error::Error for TokenFileError {}

/// What the machine asks of its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenFileAction {
    /// Read the file and call [`TokenFileMachine::handle_contents`] (or
    /// [`TokenFileMachine::handle_read_failed`]).
    Read {
        /// Identifies the read (for logs; contents are accepted without it).
        id: RequestId,
    },
}

/// A token read from the file. `Debug` never shows the JWT.
#[derive(Clone, PartialEq, Eq)]
pub struct FileToken {
    jwt: SecretString,
    /// Its `exp`.
    pub exp: UnixTime,
    /// Its `iat`, if present.
    pub iat: Option<UnixTime>,
    /// Its `sub`, if present (a service account or SPIFFE ID: not secret).
    pub subject: Option<String>,
}

impl FileToken {
    /// The JWT, to present upstream.
    pub fn expose(&self) -> &str {
        self.jwt.expose()
    }
}

impl fmt::Debug for FileToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileToken")
            .field("jwt", &"<redacted>")
            .field("exp", &self.exp)
            .field("iat", &self.iat)
            .field("subject", &self.subject)
            .finish()
    }
}

/// Parses file contents into a token (no signature check: the file is
/// trusted as far as the host's filesystem is).
pub fn parse_token_file(bytes: &[u8], now: UnixTime) -> Result<FileToken, TokenFileError> {
    let s = std::str::from_utf8(bytes).map_err(|_| TokenFileError::NotUtf8)?.trim();
    if s.is_empty() {
        return Err(TokenFileError::Empty);
    }
    let t = crate::jose::decode_unverified(s).map_err(|_| TokenFileError::NotAJwt)?;
    let exp = t.numeric_claim("exp").map(UnixTime::from_secs_f64).ok_or(TokenFileError::NoExp)?;
    if exp <= now {
        return Err(TokenFileError::TokenExpired);
    }
    Ok(FileToken {
        jwt: SecretString::new(s),
        exp,
        iat: t.numeric_claim("iat").map(UnixTime::from_secs_f64),
        subject: t.claims.get("sub").and_then(|v| v.as_str()).map(str::to_string),
    })
}

struct Held {
    token: FileToken,
    first_seen: UnixTime,
    expiry_reported: bool,
}

/// Decides when to re-read a rotating token file. See the module docs.
pub struct TokenFileMachine {
    config: TokenFileConfig,
    rng: JitterRng,
    current: Option<Held>,
    state: CredentialState,
    next_read: Option<UnixTime>,
    in_flight: Option<(RequestId, UnixTime)>,
    actions: VecDeque<TokenFileAction>,
    events: VecDeque<Event>,
    last_read_started: Option<UnixTime>,
    last_forced: Option<UnixTime>,
    next_id: u64,
    consecutive_failures: u32,
    stale_reads: u32,
    last_ok: Option<bool>,
    last_error: Option<TokenFileError>,
}

impl fmt::Debug for TokenFileMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFileMachine")
            .field("state", &self.state)
            .field("token", &self.current.as_ref().map(|h| &h.token))
            .field("next_read", &self.next_read)
            .field("last_error", &self.last_error)
            .finish()
    }
}

impl TokenFileMachine {
    /// A machine with no token; the first read is due at `now`.
    pub fn new(config: TokenFileConfig, seed: u64, now: UnixTime) -> Self {
        let mut m = TokenFileMachine {
            config,
            rng: JitterRng::new(seed),
            current: None,
            state: CredentialState::Empty,
            next_read: Some(now),
            in_flight: None,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            last_read_started: None,
            last_forced: None,
            next_id: 1,
            consecutive_failures: 0,
            stale_reads: 0,
            last_ok: None,
            last_error: None,
        };
        m.advance(now);
        m
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<TokenFileAction> {
        self.actions.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`TokenFileMachine::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        let mut t = match self.in_flight {
            Some((_, started)) => Some(started + self.config.read_timeout),
            None => self.next_read,
        };
        if let Some(h) = self.current.as_ref().filter(|h| !h.expiry_reported) {
            t = Some(t.map_or(h.token.exp, |x| x.min(h.token.exp)));
        }
        t
    }

    /// Time passed; early calls change nothing.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.advance(now);
    }

    /// The file's contents (asked for or not).
    pub fn handle_contents(&mut self, bytes: &[u8], now: UnixTime) -> Result<(), TokenFileError> {
        self.in_flight = None;
        let result = match parse_token_file(bytes, now) {
            Ok(tok) => match &self.current {
                Some(h) if h.token.jwt == tok.jwt => Ok(false),
                Some(h) if tok.exp < h.token.exp => Err(TokenFileError::OlderThanCurrent),
                _ => Ok(true),
            }
            .map(|changed| (changed, tok)),
            Err(e) => Err(e),
        };
        let out = match result {
            Ok((changed, tok)) => {
                self.consecutive_failures = 0;
                self.last_ok = Some(true);
                if changed {
                    self.stale_reads = 0;
                    if self.current.is_some() {
                        self.events.push_back(Event::Rotated { previous_version: None, version: None });
                    }
                    self.events.push_back(Event::Obtained { version: None, expires_at: Some(tok.exp) });
                    self.current = Some(Held { token: tok, first_seen: now, expiry_reported: false });
                }
                self.schedule_after_read(now);
                Ok(())
            }
            Err(e) => {
                self.failed(e, now);
                Err(e)
            }
        };
        self.advance(now);
        out
    }

    /// The host could not read the file.
    pub fn handle_read_failed(&mut self, now: UnixTime) {
        self.in_flight = None;
        self.failed(TokenFileError::Unreadable, now);
        self.advance(now);
    }

    /// The file changed on disk (inotify, a Kubernetes `..data` symlink swap).
    pub fn handle_file_changed(&mut self, now: UnixTime) {
        self.read_soon(now, now);
        self.advance(now);
    }

    /// The upstream refused the token (401): maybe the file already holds a
    /// new one. Re-read soon, at most once per [`TokenFileConfig::min_forced_interval`].
    pub fn handle_upstream_unauthorized(&mut self, now: UnixTime) {
        let mut at = now;
        if let Some(last) = self.last_forced {
            at = at.max(last + self.config.min_forced_interval);
        }
        if self.in_flight.is_none() && self.next_read.is_none_or(|n| at < n) {
            self.last_forced = Some(at);
            self.read_soon(at, now);
        }
        self.advance(now);
    }

    /// The token to present now: the last good one until its own `exp`.
    pub fn current(&self, now: UnixTime) -> Result<&FileToken, CredentialError> {
        match &self.current {
            Some(h) if now < h.token.exp => Ok(&h.token),
            Some(_) => Err(CredentialError::Expired),
            None => Err(CredentialError::NotYetObtained),
        }
    }

    /// The most recent refusal, if the last read was refused.
    pub fn last_error(&self) -> Option<TokenFileError> {
        if self.last_ok == Some(false) { self.last_error } else { None }
    }

    /// State (never `Fatal`: a file can always be fixed).
    pub fn state(&self) -> CredentialState {
        self.state
    }

    /// When the next read is scheduled (`None` while one is asked for).
    pub fn next_read_at(&self) -> Option<UnixTime> {
        if self.in_flight.is_some() { None } else { self.next_read }
    }

    /// Health snapshot.
    pub fn health(&self, now: UnixTime) -> Health {
        Health {
            state: self.state,
            token_age_seconds: self.current.as_ref().map(|h| now.saturating_since(h.first_seen).as_secs()),
            expires_in_seconds: self.current.as_ref().map(|h| h.token.exp.saturating_since(now).as_secs()),
            next_refresh_in_seconds: self.next_read_at().map(|t| t.saturating_since(now).as_secs()),
            last_refresh_ok: self.last_ok,
            consecutive_failures: self.consecutive_failures,
            last_error_code: self.last_error.map(|e| e.code()),
            version: None,
            in_flight: self.in_flight.is_some(),
        }
    }

    fn read_soon(&mut self, at: UnixTime, now: UnixTime) {
        let mut t = at.max(now);
        if let Some(last) = self.last_read_started {
            t = t.max(last + self.config.backoff.floor);
        }
        if self.in_flight.is_none() {
            self.next_read = Some(self.next_read.map_or(t, |n| n.min(t)));
        }
    }

    fn schedule(&mut self, at: UnixTime, now: UnixTime) {
        let mut t = at.max(now);
        if let Some(last) = self.last_read_started {
            t = t.max(last + self.config.backoff.floor);
        }
        self.next_read = Some(t);
    }

    fn backstop(&mut self) -> Duration {
        let j = if self.config.backstop_jitter.is_finite() { self.config.backstop_jitter.clamp(0.0, 0.9) } else { 0.0 };
        let f = 1.0 + j * self.rng.signed_unit();
        Duration::from_millis((duration_millis(self.config.backstop_poll) as f64 * f) as u64)
    }

    fn remaining_cap(&self, now: UnixTime) -> Duration {
        let cap = self.config.backoff.cap.min(self.config.backstop_poll);
        match self.current.as_ref().map(|h| h.token.exp.saturating_since(now)) {
            Some(r) if !r.is_zero() => cap.min(r / 4),
            _ => cap,
        }
    }

    fn schedule_after_read(&mut self, now: UnixTime) {
        let backstop = now + self.backstop();
        let Some(h) = &self.current else {
            self.schedule(backstop, now);
            return;
        };
        let start = h.token.iat.filter(|i| *i < h.token.exp).unwrap_or(h.first_seen).min(h.first_seen);
        let life = duration_millis(h.token.exp.saturating_since(start)) as f64;
        let frac =
            if self.config.refresh_fraction.is_finite() { self.config.refresh_fraction.clamp(0.05, 0.95) } else { 0.8 };
        let refresh_at = start + Duration::from_millis((life * frac) as u64);
        if now < refresh_at {
            self.schedule(refresh_at.min(backstop), now);
        } else {
            // Past the refresh point and still the same token: the writer has
            // not rotated yet. Back off, but keep looking.
            self.stale_reads = self.stale_reads.saturating_add(1);
            let cap = self.remaining_cap(now);
            let d = self.config.backoff.delay_capped(self.stale_reads, cap, &mut self.rng);
            self.schedule(now + d, now);
        }
    }

    fn failed(&mut self, e: TokenFileError, now: UnixTime) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_ok = Some(false);
        self.last_error = Some(e);
        let cap = self.remaining_cap(now);
        let d = self.config.backoff.delay_capped(self.consecutive_failures, cap, &mut self.rng);
        self.schedule(now + d, now);
        self.events.push_back(Event::AttemptFailed {
            kind: AttemptKind::Acquire,
            code: e.code(),
            next_attempt_at: self.next_read,
        });
    }

    fn advance(&mut self, now: UnixTime) {
        if let Some((id, started)) = self.in_flight {
            if now >= started + self.config.read_timeout {
                self.in_flight = None;
                self.events.push_back(Event::Abandoned { id });
                self.failed(TokenFileError::ReadTimeout, now);
            }
        }
        if let Some(h) = self.current.as_mut() {
            if now >= h.token.exp && !h.expiry_reported {
                h.expiry_reported = true;
                self.events.push_back(Event::Expired);
            }
        }
        if self.in_flight.is_none() && self.next_read.is_some_and(|n| now >= n) {
            let id = RequestId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1);
            self.in_flight = Some((id, now));
            self.next_read = None;
            self.last_read_started = Some(now);
            self.actions.push_back(TokenFileAction::Read { id });
            self.events.push_back(Event::AttemptStarted { id, kind: AttemptKind::Acquire });
        }
        let s = match &self.current {
            None => CredentialState::Empty,
            Some(h) if now >= h.token.exp => CredentialState::Expired,
            Some(_) if self.consecutive_failures > 0 => CredentialState::Degraded,
            Some(_) if self.in_flight.is_some() => CredentialState::Refreshing,
            Some(_) => CredentialState::Fresh,
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
    use crate::jose::b64_encode;

    fn jwt(iat: u64, exp: u64) -> String {
        let h = b64_encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let p = b64_encode(format!(r#"{{"sub":"system:serviceaccount:ns:sa","iat":{iat},"exp":{exp}}}"#).as_bytes());
        format!("{h}.{p}.c2ln")
    }

    #[test]
    fn reads_at_eighty_percent_or_backstop_and_refuses_garbage() {
        let t0 = 1_767_225_600;
        let now = UnixTime::from_secs(t0);
        let mut m = TokenFileMachine::new(TokenFileConfig::default(), 1, now);
        assert!(matches!(m.poll_action(), Some(TokenFileAction::Read { .. })));
        let good = jwt(t0, t0 + 600);
        m.handle_contents(good.as_bytes(), now).unwrap();
        assert_eq!(m.current(now).unwrap().expose(), good);
        // backstop poll (~60 s) comes before 80 % (480 s)
        let next = m.next_read_at().unwrap().saturating_since(now).as_secs();
        assert!((54..=66).contains(&next), "{next}");
        assert_eq!(m.handle_contents(b"", now), Err(TokenFileError::Empty));
        assert_eq!(m.handle_contents(b"garbage", now), Err(TokenFileError::NotAJwt));
        assert_eq!(m.handle_contents(jwt(t0, t0 + 10).as_bytes(), now), Err(TokenFileError::OlderThanCurrent));
        assert_eq!(m.current(now).unwrap().expose(), good, "last good kept");
        assert_eq!(m.health(now).last_error_code, Some("older_than_current"));
        let dbg = format!("{m:?} {:?}", m.current(now).unwrap());
        assert!(!dbg.contains(&good), "{dbg}");
        assert_eq!(m.current(UnixTime::from_secs(t0 + 600)).unwrap_err(), CredentialError::Expired);
    }
}
