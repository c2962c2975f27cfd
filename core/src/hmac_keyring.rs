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
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
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
}
