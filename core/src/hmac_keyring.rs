//! HMAC request signing with a rotating secret: sign with the current secret,
//! verify with the current one or the previous one during a grace window,
//! constant-time comparison (the crypto backend's HMAC verify), and a
//! timestamp freshness window.
//!
//! Canonical signing string (version 1), UTF-8, fields joined by `\n`:
//!
//! ```text
//! tokenkeep-hmac-v1
//! <timestamp: decimal Unix seconds>
//! <METHOD: upper case>
//! <path: request target as sent, path and query, e.g. /v1/items?x=1>
//! <body digest: lower-case hex SHA-256 of the body bytes (of the empty string when none)>
//! ```
//!
//! The tag is HMAC-SHA256 over those bytes. A method or path holding `\r` or
//! `\n` is refused (it could forge field boundaries). On the wire,
//! [`Signature::to_header`] gives `v=<key version>,t=<timestamp>,sig=<base64url tag>`.
//!
//! Rotation is driven by KV v2 version changes: on a [`crate::credential::Event::Rotated`]
//! of the secret's machine, call [`HmacKeyring::rotate`] with the new secret
//! and version.
//!
//! ```
//! use std::time::Duration;
//! use tokenkeep_core::UnixTime;
//! use tokenkeep_core::hmac_keyring::{HmacKeyring, HmacKeyringConfig};
//!
//! let now = UnixTime::from_secs(1_767_225_600);
//! let mut ring = HmacKeyring::new(HmacKeyringConfig::default());
//! ring.rotate(b"0123456789abcdef0123456789abcdef", 1, now).unwrap();
//! let sig = ring.sign("POST", "/v1/items", b"{}", now).unwrap();
//! assert_eq!(ring.verify(&sig, "POST", "/v1/items", b"{}", now).unwrap(), 1);
//! ring.rotate(b"another-secret-another-secret-xx", 2, now).unwrap();
//! // still verifies during the grace window, with the previous secret
//! assert!(ring.verify(&sig, "POST", "/v1/items", b"{}", now + Duration::from_secs(10)).is_ok());
//! ```

use crate::alg::Algorithm;
use crate::credential::{CredentialState, Health};
use crate::crypto::{self, BackendKey};
use crate::time::UnixTime;
use std::fmt;
use std::time::Duration;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Tuning of an [`HmacKeyring`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HmacKeyringConfig {
    /// How long the previous secret still verifies after a rotation (2 min).
    pub grace: Duration,
    /// Oldest timestamp accepted, relative to now (5 min).
    pub max_age: Duration,
    /// Furthest-future timestamp accepted, relative to now (30 s, clock skew).
    pub max_future: Duration,
}

impl Default for HmacKeyringConfig {
    fn default() -> Self {
        HmacKeyringConfig {
            grace: Duration::from_secs(120),
            max_age: Duration::from_secs(300),
            max_future: Duration::from_secs(30),
        }
    }
}

/// Why signing, verifying or rotating failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HmacError {
    /// No secret loaded yet.
    NoKey,
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    SecretTooShort,
    /// A rotation to a version older than the current one.
    StaleVersion,
    /// The signature names a key version the keyring does not hold.
    UnknownKeyVersion,
    /// The signature's key version was the previous one, past its grace window.
    KeyRetired,
    /// The timestamp is older than the freshness window.
    TimestampTooOld,
    /// The timestamp is too far in the future.
    TimestampInFuture,
    /// The tag does not match.
    BadSignature,
    /// A signature header that does not parse.
    MalformedSignature,
    /// A method or path with a line break, or an empty method.
    InvalidInput,
}

impl HmacError {
    /// Every code, in a stable order.
    pub const ALL: &'static [HmacError] = &[
        HmacError::NoKey,
        HmacError::SecretTooShort,
        HmacError::StaleVersion,
        HmacError::UnknownKeyVersion,
        HmacError::KeyRetired,
        HmacError::TimestampTooOld,
        HmacError::TimestampInFuture,
        HmacError::BadSignature,
        HmacError::MalformedSignature,
        HmacError::InvalidInput,
    ];

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        self.as_str()
    }

    /// Stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            HmacError::NoKey => "no_key",
            HmacError::SecretTooShort => "secret_too_short",
            HmacError::StaleVersion => "stale_version",
            HmacError::UnknownKeyVersion => "unknown_key_version",
            HmacError::KeyRetired => "key_retired",
            HmacError::TimestampTooOld => "timestamp_too_old",
            HmacError::TimestampInFuture => "timestamp_in_future",
            HmacError::BadSignature => "bad_signature",
            HmacError::MalformedSignature => "malformed_signature",
            HmacError::InvalidInput => "invalid_input",
        }
    }
}

impl fmt::Display for HmacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HmacError::NoKey => "no signing secret loaded",
            HmacError::SecretTooShort => "signing secret too short",
            HmacError::StaleVersion => "secret version older than the current one",
            HmacError::UnknownKeyVersion => "unknown key version",
            HmacError::KeyRetired => "key version retired (grace window over)",
            HmacError::TimestampTooOld => "signature timestamp too old",
            HmacError::TimestampInFuture => "signature timestamp in the future",
            HmacError::BadSignature => "signature does not match",
            HmacError::MalformedSignature => "malformed signature header",
            HmacError::InvalidInput => "method or path not signable",
        })
    }
}

impl std::error::Error for HmacError {}

/// A request signature. The tag is not secret (it is sent on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// HMAC-SHA256 tag.
    pub tag: Vec<u8>,
    /// Version of the secret that made it (the KV v2 version).
    pub key_version: u64,
    /// Unix seconds the signer put in the signing string.
    pub timestamp: u64,
}

impl Signature {
    /// `v=<key version>,t=<timestamp>,sig=<base64url tag>`.
    pub fn to_header(&self) -> String {
        format!("v={},t={},sig={}", self.key_version, self.timestamp, crate::jose::b64_encode(&self.tag))
    }

    /// Parses [`Signature::to_header`]'s format (fields in any order, each once).
    pub fn from_header(h: &str) -> Result<Signature, HmacError> {
        let (mut v, mut t, mut sig) = (None, None, None);
        for part in h.split(',') {
            let (k, val) = part.trim().split_once('=').ok_or(HmacError::MalformedSignature)?;
            let slot_taken = match k {
                "v" => v.replace(val.parse::<u64>().map_err(|_| HmacError::MalformedSignature)?).is_some(),
                "t" => t.replace(val.parse::<u64>().map_err(|_| HmacError::MalformedSignature)?).is_some(),
                "sig" => sig.replace(crate::jose::b64_decode(val).ok_or(HmacError::MalformedSignature)?).is_some(),
                _ => return Err(HmacError::MalformedSignature),
            };
            if slot_taken {
                return Err(HmacError::MalformedSignature);
            }
        }
        match (v, t, sig) {
            (Some(key_version), Some(timestamp), Some(tag)) => Ok(Signature { tag, key_version, timestamp }),
            _ => Err(HmacError::MalformedSignature),
        }
    }
}

struct KeyEntry {
    version: u64,
    key: BackendKey,
}

/// Current and previous HMAC secret. `Debug` shows versions only.
pub struct HmacKeyring {
    config: HmacKeyringConfig,
    current: Option<KeyEntry>,
    previous: Option<(KeyEntry, UnixTime)>,
}

impl fmt::Debug for HmacKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyring")
            .field("current_version", &self.current.as_ref().map(|k| k.version))
            .field("previous_version", &self.previous.as_ref().map(|(k, _)| k.version))
            .field("previous_until", &self.previous.as_ref().map(|(_, u)| *u))
            .finish()
    }
}

/// Builds the canonical signing string (see the module docs).
pub fn signing_string(timestamp: u64, method: &str, path: &str, body: &[u8]) -> Result<Vec<u8>, HmacError> {
    let bad = |s: &str| s.contains(['\n', '\r']);
    if method.is_empty() || bad(method) || bad(path) {
        return Err(HmacError::InvalidInput);
    }
    let digest = crypto::sha256(body);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    Ok(format!("tokenkeep-hmac-v1\n{timestamp}\n{}\n{path}\n{hex}", method.to_ascii_uppercase()).into_bytes())
}

impl HmacKeyring {
    /// An empty keyring; load a secret with [`HmacKeyring::rotate`].
    pub fn new(config: HmacKeyringConfig) -> Self {
        HmacKeyring { config, current: None, previous: None }
    }

    /// Installs `secret` as version `version`. The old current secret stays
    /// verifiable until `now + grace`. The same version again is a no-op; an
    /// older version is refused ([`HmacError::StaleVersion`]).
    pub fn rotate(&mut self, secret: &[u8], version: u64, now: UnixTime) -> Result<(), HmacError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(HmacError::SecretTooShort);
        }
        if let Some(cur) = &self.current {
            if version == cur.version {
                return Ok(());
            }
            if version < cur.version {
                return Err(HmacError::StaleVersion);
            }
        }
        let key = crypto::hmac_key(Algorithm::HS256, secret).map_err(|_| HmacError::SecretTooShort)?;
        if let Some(old) = self.current.replace(KeyEntry { version, key }) {
            self.previous = Some((old, now + self.config.grace));
        }
        Ok(())
    }

    /// Version of the current secret.
    pub fn current_version(&self) -> Option<u64> {
        self.current.as_ref().map(|k| k.version)
    }

    /// Version of the previous secret while it still verifies.
    pub fn previous_version(&self, now: UnixTime) -> Option<u64> {
        self.previous.as_ref().filter(|(_, until)| now < *until).map(|(k, _)| k.version)
    }

    /// Signs a request with the current secret at `now` (seconds precision).
    pub fn sign(&self, method: &str, path: &str, body: &[u8], now: UnixTime) -> Result<Signature, HmacError> {
        let cur = self.current.as_ref().ok_or(HmacError::NoKey)?;
        let timestamp = now.as_secs();
        let msg = signing_string(timestamp, method, path, body)?;
        let tag = crypto::hmac_sign(&cur.key, &msg).ok_or(HmacError::NoKey)?;
        Ok(Signature { tag, key_version: cur.version, timestamp })
    }

    /// Verifies `sig` for this request at `now`; returns the key version that
    /// matched. Order: key lookup, freshness, then the constant-time tag check.
    pub fn verify(
        &self,
        sig: &Signature,
        method: &str,
        path: &str,
        body: &[u8],
        now: UnixTime,
    ) -> Result<u64, HmacError> {
        let key = match (&self.current, &self.previous) {
            (None, _) => return Err(HmacError::NoKey),
            (Some(c), _) if c.version == sig.key_version => &c.key,
            (_, Some((p, until))) if p.version == sig.key_version => {
                if now >= *until {
                    return Err(HmacError::KeyRetired);
                }
                &p.key
            }
            _ => return Err(HmacError::UnknownKeyVersion),
        };
        let ts = UnixTime::from_secs(sig.timestamp);
        if ts < now && now.saturating_since(ts) > self.config.max_age {
            return Err(HmacError::TimestampTooOld);
        }
        if ts > now && ts.saturating_since(now) > self.config.max_future {
            return Err(HmacError::TimestampInFuture);
        }
        let msg = signing_string(sig.timestamp, method, path, body)?;
        if crypto::verify_signature(key, Algorithm::HS256, &msg, &sig.tag) {
            Ok(sig.key_version)
        } else {
            Err(HmacError::BadSignature)
        }
    }
}

crate::codes::code_enum! {
    /// Why a secret a source offered was not installed (the keys held keep
    /// signing and verifying).
    pub enum HmacSourceError {
        /// The secret file is empty (or holds a line ending only).
        Empty => "empty",
        /// The secret file could not be read (missing, permission, I/O).
        Unreadable => "unreadable",
        /// The KV secret has no string field of the configured name.
        MissingField => "missing_field",
        /// The secret is shorter than [`MIN_SECRET_BYTES`].
        SecretTooShort => "secret_too_short",
        /// A version older than the current one.
        StaleVersion => "stale_version",
    }
}

impl From<HmacError> for HmacSourceError {
    fn from(e: HmacError) -> Self {
        match e {
            HmacError::StaleVersion => HmacSourceError::StaleVersion,
            _ => HmacSourceError::SecretTooShort,
        }
    }
}

/// A secret the state holds; overwritten when dropped.
struct HeldSecret {
    bytes: Vec<u8>,
    version: u64,
}

impl Drop for HeldSecret {
    fn drop(&mut self) {
        self.bytes.fill(0);
        core::hint::black_box(&self.bytes);
    }
}

/// The secrets of a keyring, as a host that writes them out (the agent's
/// sink) sees them. `Debug` shows versions only.
pub struct KeyringSecrets<'a> {
    /// The current secret and its version.
    pub current: (u64, &'a [u8]),
    /// The previous secret, its version and when it stops verifying.
    pub previous: Option<(u64, &'a [u8], UnixTime)>,
}

impl fmt::Debug for KeyringSecrets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringSecrets")
            .field("current_version", &self.current.0)
            .field("previous_version", &self.previous.map(|p| p.0))
            .field("previous_until", &self.previous.map(|p| p.2))
            .finish()
    }
}

/// The rules of a keyring fed by a rotating source (a KV v2 field, a file),
/// once for every host: which secret is current, which previous one still
/// verifies and until when (the rotation's time plus the grace window,
/// rounded up to a whole second so it can be written as Unix seconds and
/// honoured to the second), what an unusable offer does (nothing: the keys
/// held stay, the refusal shows in [`KeyringState::health`]), and the
/// keyring's health merged with its source's.
///
/// ```
/// use std::time::Duration;
/// use tokenkeep_core::UnixTime;
/// use tokenkeep_core::hmac_keyring::{HmacKeyringConfig, HmacSourceError, KeyringState};
///
/// let now = UnixTime::from_millis(1_767_225_600_250);
/// let mut state = KeyringState::new(HmacKeyringConfig { grace: Duration::from_secs(10), ..Default::default() });
/// assert_eq!(state.handle_secret(b"first-secret-first-secret", 1, now), Ok(true));
/// assert_eq!(state.handle_secret(b"short", 2, now), Err(HmacSourceError::SecretTooShort));
/// assert_eq!(state.handle_secret(b"second-secret-second-secret", 2, now), Ok(true));
/// let secrets = state.secrets(now).unwrap();
/// assert_eq!(secrets.previous.unwrap().2, UnixTime::from_secs(1_767_225_611));
/// ```
pub struct KeyringState {
    config: HmacKeyringConfig,
    current: Option<HeldSecret>,
    previous: Option<(HeldSecret, UnixTime)>,
    loaded_at: Option<UnixTime>,
    last_ok: Option<bool>,
    failures: u32,
    refused: Option<HmacSourceError>,
    last_error: Option<HmacSourceError>,
}

impl fmt::Debug for KeyringState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringState")
            .field("current_version", &self.current.as_ref().map(|h| h.version))
            .field("previous_version", &self.previous.as_ref().map(|(h, _)| h.version))
            .field("previous_until", &self.previous.as_ref().map(|(_, u)| *u))
            .field("refused", &self.refused)
            .finish()
    }
}

/// `t` rounded up to a whole second.
fn ceil_to_second(t: UnixTime) -> UnixTime {
    let ms = t.as_millis();
    UnixTime::from_millis(ms.div_ceil(1000) * 1000)
}

/// Drops one trailing `\n` (or `\r\n`): editors and `echo` add one.
fn strip_line_ending(bytes: &[u8]) -> &[u8] {
    let b = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if b.len() < bytes.len() { b.strip_suffix(b"\r").unwrap_or(b) } else { b }
}

impl KeyringState {
    /// An empty state.
    pub fn new(config: HmacKeyringConfig) -> Self {
        KeyringState {
            config,
            current: None,
            previous: None,
            loaded_at: None,
            last_ok: None,
            failures: 0,
            refused: None,
            last_error: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HmacKeyringConfig {
        &self.config
    }

    /// A secret the source offers as `version`. `Ok(true)`: installed (the
    /// one held, if any, becomes the previous one); `Ok(false)`: the version
    /// held already. A refusal leaves the keys held in place.
    pub fn handle_secret(&mut self, secret: &[u8], version: u64, now: UnixTime) -> Result<bool, HmacSourceError> {
        // A retirement due now is overtaken by the rotation it precedes.
        let _ = self.handle_timeout(now);
        if self.current.as_ref().is_some_and(|c| c.version == version) {
            self.succeeded();
            return Ok(false);
        }
        let checked = match &self.current {
            _ if secret.len() < MIN_SECRET_BYTES => Err(HmacSourceError::SecretTooShort),
            Some(c) if version < c.version => Err(HmacSourceError::StaleVersion),
            _ => crypto::hmac_key(Algorithm::HS256, secret).map(|_| ()).map_err(|_| HmacSourceError::SecretTooShort),
        };
        if let Err(e) = checked {
            self.handle_source_error(e);
            return Err(e);
        }
        let new = HeldSecret { bytes: secret.to_vec(), version };
        if let Some(old) = self.current.replace(new) {
            let until = ceil_to_second(now + self.config.grace);
            self.previous = Some((old, until));
        }
        self.loaded_at = Some(now);
        self.succeeded();
        Ok(true)
    }

    /// A file's contents: one trailing line ending dropped; the version is a
    /// counter that goes up each time the contents change.
    pub fn handle_file_contents(&mut self, contents: &[u8], now: UnixTime) -> Result<bool, HmacSourceError> {
        let secret = strip_line_ending(contents);
        if secret.is_empty() {
            self.handle_source_error(HmacSourceError::Empty);
            return Err(HmacSourceError::Empty);
        }
        match &self.current {
            Some(c) if c.bytes == secret => {
                self.succeeded();
                Ok(false)
            }
            c => {
                let version = c.as_ref().map_or(1, |c| c.version.saturating_add(1));
                self.handle_secret(secret, version, now)
            }
        }
    }

    /// The KV v2 data of `version`: its string member `field` is the secret.
    pub fn handle_kv_data(
        &mut self,
        data: &serde_json::Map<String, serde_json::Value>,
        field: &str,
        version: u64,
        now: UnixTime,
    ) -> Result<bool, HmacSourceError> {
        match data.get(field).and_then(serde_json::Value::as_str) {
            Some(secret) => self.handle_secret(secret.as_bytes(), version, now),
            None => {
                self.handle_source_error(HmacSourceError::MissingField);
                Err(HmacSourceError::MissingField)
            }
        }
    }

    /// The source could not offer a secret (an unreadable file).
    pub fn handle_source_error(&mut self, e: HmacSourceError) {
        self.last_ok = Some(false);
        self.failures = self.failures.saturating_add(1);
        self.refused = Some(e);
        self.last_error = Some(e);
    }

    fn succeeded(&mut self) {
        self.last_ok = Some(true);
        self.failures = 0;
        self.refused = None;
    }

    /// Time passed: a previous secret past its window is dropped; its
    /// version is returned, so the host can report the retirement and
    /// republish what the keyring offers.
    pub fn handle_timeout(&mut self, now: UnixTime) -> Option<u64> {
        if self.previous.as_ref().is_some_and(|(_, until)| now >= *until) {
            return self.previous.take().map(|(old, _)| old.version);
        }
        None
    }

    /// When the previous secret stops verifying (what the keyring offers changes then).
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        self.previous.as_ref().map(|(_, until)| *until)
    }

    /// The secrets at `now` (`None` before the first one).
    pub fn secrets(&self, now: UnixTime) -> Option<KeyringSecrets<'_>> {
        let current = self.current.as_ref()?;
        let previous = self
            .previous
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(h, until)| (h.version, &h.bytes[..], *until));
        Some(KeyringSecrets { current: (current.version, &current.bytes), previous })
    }

    /// A signing keyring holding the secrets at `now`.
    pub fn keyring(&self, now: UnixTime) -> HmacKeyring {
        let mut ring = HmacKeyring::new(self.config.clone());
        if let Some(s) = self.secrets(now) {
            ring.current =
                crypto::hmac_key(Algorithm::HS256, s.current.1).ok().map(|key| KeyEntry { version: s.current.0, key });
            ring.previous = s.previous.and_then(|(version, bytes, until)| {
                crypto::hmac_key(Algorithm::HS256, bytes).ok().map(|key| (KeyEntry { version, key }, until))
            });
        }
        ring
    }

    /// Version of the current secret.
    pub fn current_version(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.version)
    }

    /// Why the newest offer was not installed (`None` once one is).
    pub fn refused(&self) -> Option<HmacSourceError> {
        self.refused
    }

    /// The keyring's health. `source`: the health of what feeds it (a KV
    /// poller), whose state and figures it starts from; `next_check_at`: when
    /// a file source looks again.
    pub fn health(&self, now: UnixTime, source: Option<Health>, next_check_at: Option<UnixTime>) -> Health {
        let version = self.current_version();
        let failing = self.refused.is_some();
        let own_error = self.last_error.map(HmacSourceError::as_str);
        match source {
            Some(mut h) => {
                h.version = version;
                h.state = match (version.is_some(), failing) {
                    (false, _) if h.state == CredentialState::Fatal => CredentialState::Fatal,
                    (false, _) => CredentialState::Empty,
                    (true, true) if matches!(h.state, CredentialState::Fresh | CredentialState::Refreshing) => {
                        CredentialState::Degraded
                    }
                    (true, _) => h.state,
                };
                if failing {
                    h.last_refresh_ok = Some(false);
                    h.consecutive_failures = h.consecutive_failures.max(self.failures);
                    h.last_error_code = own_error;
                } else if h.last_error_code.is_none() {
                    h.last_error_code = own_error;
                }
                h
            }
            None => {
                let secs =
                    |t: UnixTime| if t > now { t.saturating_since(now) } else { now.saturating_since(t) }.as_secs();
                Health {
                    state: match (version.is_some(), failing) {
                        (false, _) => CredentialState::Empty,
                        (true, true) => CredentialState::Degraded,
                        (true, false) => CredentialState::Fresh,
                    },
                    token_age_seconds: self.loaded_at.map(secs),
                    expires_in_seconds: None,
                    next_refresh_in_seconds: next_check_at.map(secs),
                    last_refresh_ok: self.last_ok,
                    consecutive_failures: self.failures,
                    last_error_code: own_error,
                    version,
                    in_flight: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &[u8] = b"first-secret-first-secret-123456";
    const S2: &[u8] = b"second-secret-second-secret-7890";

    fn now() -> UnixTime {
        UnixTime::from_secs(1_767_225_600)
    }

    #[test]
    fn sign_verify_rotate_and_grace() {
        let mut ring = HmacKeyring::new(HmacKeyringConfig::default());
        assert_eq!(ring.sign("GET", "/", b"", now()).unwrap_err().code(), "no_key");
        ring.rotate(S1, 1, now()).unwrap();
        let s1 = ring.sign("post", "/v1/x?a=1", b"body", now()).unwrap();
        assert_eq!(ring.verify(&s1, "POST", "/v1/x?a=1", b"body", now()), Ok(1));
        assert_eq!(ring.verify(&s1, "POST", "/v1/x?a=1", b"bodY", now()), Err(HmacError::BadSignature));
        assert_eq!(ring.verify(&s1, "POST", "/v1/x?a=2", b"body", now()), Err(HmacError::BadSignature));
        ring.rotate(S2, 2, now()).unwrap();
        assert_eq!(ring.rotate(S1, 1, now()), Err(HmacError::StaleVersion));
        let later = now() + Duration::from_secs(119);
        let s1b = Signature { timestamp: later.as_secs(), ..s1.clone() };
        // re-sign at `later` with the old key is impossible now; check the old signature in grace
        assert_eq!(ring.verify(&s1, "POST", "/v1/x?a=1", b"body", later), Ok(1));
        assert_eq!(ring.verify(&s1b, "POST", "/v1/x?a=1", b"body", later), Err(HmacError::BadSignature));
        let after = now() + Duration::from_secs(120);
        assert_eq!(ring.verify(&s1, "POST", "/v1/x?a=1", b"body", after), Err(HmacError::KeyRetired));
        let s2 = ring.sign("GET", "/", b"", after).unwrap();
        assert_eq!(s2.key_version, 2);
        assert_eq!(ring.verify(&s2, "GET", "/", b"", after), Ok(2));
        let s9 = Signature { key_version: 9, ..s2.clone() };
        assert_eq!(ring.verify(&s9, "GET", "/", b"", after), Err(HmacError::UnknownKeyVersion));
    }

    #[test]
    fn freshness_window_and_header_round_trip() {
        let mut ring = HmacKeyring::new(HmacKeyringConfig::default());
        ring.rotate(S1, 3, now()).unwrap();
        let s = ring.sign("GET", "/a", b"", now()).unwrap();
        assert_eq!(Signature::from_header(&s.to_header()), Ok(s.clone()));
        assert!(Signature::from_header("v=1,t=2").is_err());
        assert!(Signature::from_header("v=1,v=1,t=2,sig=AA").is_err());
        assert_eq!(
            ring.verify(&s, "GET", "/a", b"", now() + Duration::from_secs(301)),
            Err(HmacError::TimestampTooOld)
        );
        assert_eq!(ring.verify(&s, "GET", "/a", b"", now() + Duration::from_secs(300)), Ok(3));
        assert_eq!(
            ring.verify(&s, "GET", "/a", b"", now() - Duration::from_secs(31)),
            Err(HmacError::TimestampInFuture)
        );
        assert_eq!(ring.sign("GET", "/a\nx", b"", now()).unwrap_err().code(), "invalid_input");
        assert_eq!(ring.rotate(b"short", 4, now()), Err(HmacError::SecretTooShort));
        let dbg = format!("{ring:?}");
        assert!(!dbg.contains("first-secret"), "{dbg}");
    }

    #[test]
    fn keyring_state_rotates_refuses_and_retires_on_a_whole_second() {
        let config = HmacKeyringConfig { grace: Duration::from_secs(5), ..HmacKeyringConfig::default() };
        let t = UnixTime::from_millis(1_767_225_600_400);
        let mut st = KeyringState::new(config);
        assert_eq!(st.handle_file_contents(b"\n", t), Err(HmacSourceError::Empty));
        assert_eq!(st.health(t, None, None).state, CredentialState::Empty);
        assert_eq!(st.handle_file_contents(b"first-secret-first-secret-12345\n", t), Ok(true));
        assert_eq!(st.handle_file_contents(b"first-secret-first-secret-12345", t), Ok(false));
        assert_eq!(st.current_version(), Some(1));
        let sig = st.keyring(t).sign("GET", "/", b"", t).unwrap();
        assert_eq!(st.handle_file_contents(b"second-secret-second-secret-678", t), Ok(true));
        assert_eq!(st.handle_secret(S1, 1, t), Err(HmacSourceError::StaleVersion));
        assert_eq!(st.health(t, None, None).state, CredentialState::Degraded);
        assert_eq!(st.health(t, None, None).last_error_code, Some("stale_version"));
        let until = st.secrets(t).unwrap().previous.unwrap().2;
        assert_eq!(until, UnixTime::from_secs(1_767_225_606), "rotation + grace, rounded up");
        assert_eq!(st.keyring(until.saturating_sub(Duration::from_millis(1))).verify(&sig, "GET", "/", b"", t), Ok(1));
        assert_eq!(st.keyring(until).verify(&sig, "GET", "/", b"", t), Err(HmacError::UnknownKeyVersion));
        assert_eq!(st.handle_timeout(until.saturating_sub(Duration::from_millis(1))), None, "not yet");
        assert_eq!(st.handle_timeout(until), Some(1), "the retired version is reported once");
        assert_eq!(st.handle_timeout(until), None);
        assert!(st.secrets(until).unwrap().previous.is_none() && st.poll_timeout().is_none());
        let mut data = serde_json::Map::new();
        data.insert("other".into(), serde_json::Value::from("x"));
        assert_eq!(st.handle_kv_data(&data, "key", 9, t), Err(HmacSourceError::MissingField));
        assert!(!format!("{st:?} {:?}", st.secrets(t)).contains("second-secret"));
    }
}
