//! The JWKS cache state machine: when to fetch keys, what to serve meanwhile.
//!
//! States: `Empty -> Fetching -> Fresh -> (RefreshingAhead) -> Stale -> Expired`.
//! The machine never does I/O. A host loop:
//!
//! ```
//! use tokenkeep_core::http::{HttpOutcome, HttpResponse};
//! use tokenkeep_core::jwks::{CacheConfig, JwksCache, KeySource};
//! use tokenkeep_core::UnixTime;
//!
//! let mut now = UnixTime::from_secs(1_767_225_600);
//! let source = KeySource::jwks_url("https://idp.example/jwks").unwrap();
//! let mut cache = JwksCache::new(source, CacheConfig::default(), 42, now);
//! for _ in 0..3 {
//!     cache.handle_timeout(now);
//!     while let Some(request) = cache.poll_request() {
//!         // A real host sends `request` over HTTP; this one answers from memory.
//!         let body = br#"{"keys":[]}"#.to_vec();
//!         let answer = HttpResponse::new(200, body).with_header("cache-control", "max-age=600");
//!         cache.handle_response(request.id, HttpOutcome::Response(answer), now);
//!     }
//!     while let Some(event) = cache.poll_event() {
//!         println!("{}", event.code());
//!     }
//!     // A real host sleeps until `poll_timeout()`; an early wake-up does nothing.
//!     now = cache.poll_timeout().unwrap_or(now);
//! }
//! ```

use crate::backoff::Backoff;
use crate::http::{HeaderValue, HttpOutcome, HttpRequest, HttpResponse, Method, RequestId, TransportError};
use crate::jwk::{JwksError, KeySet, VerificationKey};
use crate::policy::Policy;
use crate::rejection::{Rejection, sanitize};
use crate::rng::JitterRng;
use crate::time::UnixTime;
use crate::verify::{self, Failure, ParsedToken, PendingCheck, Verified};
use core::fmt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// How long before the stale window closes a failing cache makes its last try
/// (at least this, at most three times this, jittered).
const LAST_CHANCE_MARGIN: Duration = Duration::from_secs(15);

/// Tunables, with the defaults of the design table.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    /// Fresh TTL when the response has no usable `Cache-Control: max-age`.
    pub default_ttl: Duration,
    /// `max-age` is clamped to at least this.
    pub min_ttl: Duration,
    /// `max-age` is clamped to at most this.
    pub max_ttl: Duration,
    /// Refresh ahead at this fraction of the fresh TTL…
    pub refresh_ahead: f64,
    /// …jittered by ± this fraction.
    pub refresh_jitter: f64,
    /// How long past the fresh TTL the last good keys are served while fetches fail.
    pub stale_if_error: Duration,
    /// At most one fetch triggered by an unknown kid or a bad signature per this
    /// period, counted from the last such fetch and from the last failed attempt.
    pub miss_cooldown: Duration,
    /// Retry schedule while no usable key exists.
    pub backoff: Backoff,
    /// Budget for one request (the host enforces it).
    pub request_timeout: Duration,
    /// Largest response body read.
    pub max_body_bytes: usize,
    /// How long a kid that a fetch did not contain is answered `unknown_kid` at once.
    pub negative_kid_ttl: Duration,
    /// How many such kids are remembered.
    pub negative_kid_capacity: usize,
    /// How long a discovery document is used before it is fetched again.
    pub discovery_ttl: Duration,
    /// Allow plain-HTTP URLs to hosts other than loopback. Never in production.
    pub dangerous_allow_http: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            refresh_ahead: 0.8,
            refresh_jitter: 0.1,
            stale_if_error: Duration::from_secs(3600),
            miss_cooldown: Duration::from_secs(30),
            backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(300),
                floor: Duration::from_millis(250),
            },
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            negative_kid_ttl: Duration::from_secs(300),
            negative_kid_capacity: 128,
            discovery_ttl: Duration::from_secs(24 * 3600),
            dangerous_allow_http: false,
        }
    }
}

/// Where keys come from. Built only through constructors that apply the
/// transport rule (https, except loopback or a `dangerous_*` opt-in), so no
/// caller can hand the cache a URL that was not checked.
#[derive(Clone)]
pub struct KeySource(SourceKind);

#[derive(Clone)]
enum SourceKind {
    /// A JWKS URL.
    JwksUrl(String),
    /// An OIDC issuer: `<issuer>/.well-known/openid-configuration` first, whose
    /// `issuer` must equal this one exactly, then its `jwks_uri`.
    OidcIssuer(String),
    /// Keys given once, never fetched.
    Static(Arc<KeySet>),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            SourceKind::JwksUrl(u) => f.debug_tuple("JwksUrl").field(u).finish(),
            SourceKind::OidcIssuer(i) => f.debug_tuple("OidcIssuer").field(i).finish(),
            SourceKind::Static(k) => f.debug_tuple("Static").field(&k.len()).finish(),
        }
    }
}

impl KeySource {
    /// A JWKS URL source.
    pub fn jwks_url(url: impl Into<String>) -> Result<KeySource, SourceError> {
        let url = url.into();
        check_url(&url, false)?;
        Ok(KeySource(SourceKind::JwksUrl(url)))
    }

    /// An OIDC discovery source.
    pub fn oidc_issuer(issuer: impl Into<String>) -> Result<KeySource, SourceError> {
        let issuer = issuer.into();
        check_url(&issuer, false)?;
        Ok(KeySource(SourceKind::OidcIssuer(issuer)))
    }

    /// Like [`KeySource::jwks_url`], also accepting plain HTTP to any host.
    pub fn dangerous_jwks_url_allow_http(url: impl Into<String>) -> Result<KeySource, SourceError> {
        let url = url.into();
        check_url(&url, true)?;
        Ok(KeySource(SourceKind::JwksUrl(url)))
    }

    /// Like [`KeySource::oidc_issuer`], also accepting plain HTTP to any host.
    pub fn dangerous_oidc_issuer_allow_http(issuer: impl Into<String>) -> Result<KeySource, SourceError> {
        let issuer = issuer.into();
        check_url(&issuer, true)?;
        Ok(KeySource(SourceKind::OidcIssuer(issuer)))
    }

    /// Keys given once, never fetched.
    pub fn from_keys(keys: Arc<KeySet>) -> KeySource {
        KeySource(SourceKind::Static(keys))
    }

    /// Whether the keys are given once (never fetched).
    pub fn is_static(&self) -> bool {
        matches!(self.0, SourceKind::Static(_))
    }

    /// The URL fetched first, and whether it is a JWKS URL (`false`: an OIDC
    /// issuer, whose discovery document comes first); `None` for static keys.
    pub fn url(&self) -> Option<(&str, bool)> {
        match &self.0 {
            SourceKind::JwksUrl(u) => Some((u, true)),
            SourceKind::OidcIssuer(i) => Some((i, false)),
            SourceKind::Static(_) => None,
        }
    }

    /// The discovery document URL of an issuer.
    pub fn discovery_url(issuer: &str) -> String {
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
    }
}

/// A source that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceError {
    /// Not an absolute http(s) URL with a host.
    InvalidUrl,
    /// Plain HTTP to a host other than loopback, without `dangerous_allow_http`.
    InsecureUrl,
}

impl SourceError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::InvalidUrl => "invalid_url",
            SourceError::InsecureUrl => "insecure_url",
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceError::InvalidUrl => "not an absolute http(s) URL with a host",
            SourceError::InsecureUrl => "plain http is only allowed to loopback (or with dangerous_allow_http)",
        })
    }
}

impl std::error::Error for SourceError {}

/// Whether `url` is acceptable for fetching keys: https always; plain http
/// only to loopback, unless `allow_http` (a `dangerous_` switch upstream).
pub fn check_url(url: &str, allow_http: bool) -> Result<(), SourceError> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(SourceError::InvalidUrl);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SourceError::InvalidUrl);
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(SourceError::InvalidUrl);
    }
    if https || allow_http || is_loopback(host) { Ok(()) } else { Err(SourceError::InsecureUrl) }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host.parse::<core::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a fetch did not produce keys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// No response (connect, TLS, timeout, body too large, redirect).
    Transport(TransportError),
    /// An HTTP status other than 200 (or 304 to a conditional request).
    Status(u16),
    /// The JWKS document is not a key set.
    Document(JwksError),
    /// A key set without a single usable key: kept out, the last good keys stay.
    NoUsableKeys,
    /// The discovery document is not JSON with a string `jwks_uri`.
    BadDiscovery,
    /// The discovery document's `issuer` differs from the configured one.
    IssuerMismatch,
    /// The discovered `jwks_uri` is not an acceptable URL (plain http, …).
    InsecureJwksUri,
}

impl FetchError {
    /// Every code [`FetchError::code`] gives, transport codes included.
    pub const CODES: &'static [&'static str] = &[
        "timeout",
        "connect",
        "tls",
        "body_too_large",
        "redirect",
        "insecure_url",
        "transport",
        "http_5xx",
        "http_429",
        "http_4xx",
        "jwks_not_json",
        "jwks_not_a_key_set",
        "jwks_no_usable_keys",
        "discovery_invalid",
        "discovery_issuer_mismatch",
        "discovery_insecure_jwks_uri",
    ];

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Transport(t) => t.code(),
            FetchError::Status(s) if *s >= 500 => "http_5xx",
            FetchError::Status(429) => "http_429",
            FetchError::Status(s) if (300..400).contains(s) => "redirect",
            FetchError::Status(_) => "http_4xx",
            FetchError::Document(e) => e.code(),
            FetchError::NoUsableKeys => "jwks_no_usable_keys",
            FetchError::BadDiscovery => "discovery_invalid",
            FetchError::IssuerMismatch => "discovery_issuer_mismatch",
            FetchError::InsecureJwksUri => "discovery_insecure_jwks_uri",
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            other => f.write_str(other.code()),
        }
    }
}

/// Something a host should log or count. Carries no token or key material.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum JwksEvent {
    /// A new key set was loaded.
    Refreshed {
        /// Usable keys now served (including those kept until a second fetch agrees they are gone).
        key_count: usize,
        /// Kids that appeared.
        added: Vec<String>,
        /// Kids that were dropped (two fetches agreed).
        removed: Vec<String>,
        /// Keys of the set that were skipped, with reasons.
        skipped: Vec<crate::jwk::SkippedKey>,
    },
    /// A conditional request answered 304; freshness extended.
    NotModified,
    /// A fetch failed.
    RefreshFailed {
        /// Why.
        error: FetchError,
        /// Consecutive failures, this one included.
        attempt: u32,
        /// When the next scheduled attempt is due.
        next_retry_in: Duration,
        /// Whether the last good keys are still being served.
        serving_stale: bool,
    },
    /// The fresh TTL ran out without a successful refresh; stale keys are served.
    BecameStale,
    /// The stale window ran out: no usable keys until a fetch succeeds.
    Expired,
    /// A discovery document was loaded.
    Discovered {
        /// Its `jwks_uri`.
        jwks_uri: String,
    },
}

impl JwksEvent {
    /// Stable snake_case name.
    pub fn code(&self) -> &'static str {
        match self {
            JwksEvent::Refreshed { .. } => "jwks_refreshed",
            JwksEvent::NotModified => "jwks_not_modified",
            JwksEvent::RefreshFailed { .. } => "jwks_refresh_failed",
            JwksEvent::BecameStale => "jwks_stale",
            JwksEvent::Expired => "jwks_expired",
            JwksEvent::Discovered { .. } => "oidc_discovered",
        }
    }
}

/// Whether keys can be used right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheState {
    /// Never loaded, no fetch running.
    Empty,
    /// Never loaded, first fetch running.
    Fetching,
    /// Keys within their fresh TTL.
    Fresh,
    /// Fresh keys, and a refresh-ahead fetch running.
    RefreshingAhead,
    /// Past the fresh TTL, within stale-if-error: served while fetches fail.
    Stale,
    /// Past the stale window: nothing usable.
    Expired,
}

impl CacheState {
    /// Every state, in order.
    pub const ALL: &'static [CacheState] = &[
        CacheState::Empty,
        CacheState::Fetching,
        CacheState::Fresh,
        CacheState::RefreshingAhead,
        CacheState::Stale,
        CacheState::Expired,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheState::Empty => "empty",
            CacheState::Fetching => "fetching",
            CacheState::Fresh => "fresh",
            CacheState::RefreshingAhead => "refreshing_ahead",
            CacheState::Stale => "stale",
            CacheState::Expired => "expired",
        }
    }

    /// Whether keys may be used to verify.
    pub fn is_usable(self) -> bool {
        matches!(self, CacheState::Fresh | CacheState::RefreshingAhead | CacheState::Stale)
    }
}

/// An immutable view of the keys for lock-free readers: hosts publish a new
/// `Arc<KeySnapshot>` after every change and verify against whichever they hold.
#[derive(Clone, Debug)]
pub struct KeySnapshot {
    keys: Option<Arc<KeySet>>,
    fresh_until: UnixTime,
    usable_until: UnixTime,
    generation: u64,
}

/// Freshness of a snapshot at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// Within the fresh TTL.
    Fresh,
    /// Past it, within the stale window.
    Stale,
    /// Nothing usable.
    Unavailable,
}

impl KeySnapshot {
    /// The keys, when any were ever loaded.
    pub fn keys(&self) -> Option<&Arc<KeySet>> {
        self.keys.as_ref()
    }

    /// Increases with every completed fetch attempt, failed or not: a host that
    /// waits for a refetch waits for a generation above the one it saw.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether the keys can be used at `now`.
    pub fn status(&self, now: UnixTime) -> KeyStatus {
        match &self.keys {
            Some(_) if now < self.fresh_until => KeyStatus::Fresh,
            Some(_) if now < self.usable_until => KeyStatus::Stale,
            _ => KeyStatus::Unavailable,
        }
    }

    /// The keys usable at `now`.
    pub fn usable_keys(&self, now: UnixTime) -> Option<&Arc<KeySet>> {
        match self.status(now) {
            KeyStatus::Unavailable => None,
            _ => self.keys.as_ref(),
        }
    }
}

/// Why a token could not be answered from the keys at hand.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyMiss {
    /// What was missing.
    pub kind: MissKind,
    /// The token's kid (sanitized), if any.
    pub kid: Option<String>,
    /// The answer to give if no refetch happens.
    pub rejection: Rejection,
    /// The snapshot generation the miss was seen on.
    pub generation: u64,
}

/// The kinds of key miss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissKind {
    /// No keys are usable (never loaded, or past the stale window).
    NoKeys,
    /// No key with the token's kid (or, without kid, no single key for its alg).
    UnknownKid,
    /// A key with the kid exists but the signature did not verify: maybe the
    /// key was replaced under the same kid.
    BadSignature,
}

/// The answer of a snapshot to a token.
#[derive(Clone, Debug, PartialEq)]
// Moved once per verification and matched at once: a box would cost an allocation on every success.
#[allow(clippy::large_enum_variant)]
pub enum Check {
    /// Verified.
    Verified(Verified),
    /// Rejected for good.
    Rejected(Rejection),
    /// Maybe a refetch would help: ask [`JwksCache::handle_key_miss`].
    Miss(KeyMiss),
}

/// Verifies a parsed token against a snapshot: the pure, lock-free read path.
///
/// When `parsed` came from [`crate::parse_with_cache`] and its header was not
/// in that cache, the cache learns it if the token verifies.
pub fn check_parsed(snapshot: &KeySnapshot, parsed: ParsedToken<'_>, policy: &Policy, now: UnixTime) -> Check {
    check_parsed_at(snapshot, parsed, policy, now, now)
}

/// [`check_parsed`] with the token's time rules checked at `token_now`
/// while the keys' usability follows the real clock `keys_now` (a caller
/// asking "was this token valid at that time?" moves only the former).
pub fn check_parsed_at(
    snapshot: &KeySnapshot,
    parsed: ParsedToken<'_>,
    policy: &Policy,
    keys_now: UnixTime,
    token_now: UnixTime,
) -> Check {
    let generation = snapshot.generation;
    let miss = |kind, kid, rejection| Check::Miss(KeyMiss { kind, kid, rejection, generation });
    let keys = match usable_or_answer(snapshot, &parsed, policy, keys_now, token_now) {
        Ok(keys) => keys,
        Err(check) => return check,
    };
    // The kid is copied (sanitized) only when a miss is reported.
    let kid_if_no_keys = if keys.is_empty() { parsed.header().kid.as_deref().map(sanitize) } else { None };
    verify::check_parsed_natively(parsed, keys, policy, token_now, Check::Verified, |failure| match failure {
        Failure::BadSignature { kid } => miss(MissKind::BadSignature, kid, Rejection::InvalidSignature),
        Failure::Rule(Rejection::UnknownKid { kid }) => {
            miss(MissKind::UnknownKid, kid.clone(), Rejection::UnknownKid { kid })
        }
        Failure::Rule(r @ Rejection::KeysUnavailable) => miss(MissKind::NoKeys, kid_if_no_keys, r),
        Failure::Rule(r) => Check::Rejected(r),
    })
}

/// The snapshot's usable keys, or the answer when there are none: rules that
/// need no key still come first, so a token that would be rejected anyway
/// never waits for, or triggers, a fetch.
#[allow(clippy::result_large_err)]
fn usable_or_answer<'s>(
    snapshot: &'s KeySnapshot,
    parsed: &ParsedToken<'_>,
    policy: &Policy,
    keys_now: UnixTime,
    token_now: UnixTime,
) -> Result<&'s KeySet, Check> {
    snapshot.usable_keys(keys_now).map(|k| &**k).ok_or_else(|| {
        match verify::check_policy_rules(parsed, policy, token_now) {
            Err(r) => Check::Rejected(r),
            Ok(_) => Check::Miss(KeyMiss {
                kind: MissKind::NoKeys,
                kid: parsed.header().kid.as_deref().map(sanitize),
                rejection: Rejection::KeysUnavailable,
                generation: snapshot.generation,
            }),
        }
    })
}

/// [`check_parsed_at`] for hosts whose fastest signature check is their own
/// (WebCrypto on edge runtimes): every rule but the signature, then the
/// candidates to check, as a [`PendingCheck`]; or the answer when no signature
/// check is needed to give it. End with [`complete_pending`].
pub fn prepare_parsed_at(
    snapshot: &KeySnapshot,
    parsed: ParsedToken<'_>,
    policy: &Policy,
    keys_now: UnixTime,
    token_now: UnixTime,
) -> Prepared {
    let generation = snapshot.generation;
    let keys = match usable_or_answer(snapshot, &parsed, policy, keys_now, token_now) {
        Ok(keys) => keys,
        Err(check) => return Prepared::Answer(check),
    };
    // As on the native path: the kid is copied only when a miss is reported.
    let kid_if_no_keys = if keys.is_empty() { parsed.header().kid.as_deref().map(sanitize) } else { None };
    let miss = |kind, kid, rejection| Prepared::Answer(Check::Miss(KeyMiss { kind, kid, rejection, generation }));
    match verify::prepare_remembering(parsed, keys, snapshot.keys.as_ref(), policy, token_now) {
        Ok(pending) => Prepared::Signature(pending),
        Err(Rejection::UnknownKid { kid }) => miss(MissKind::UnknownKid, kid.clone(), Rejection::UnknownKid { kid }),
        Err(r @ Rejection::KeysUnavailable) => miss(MissKind::NoKeys, kid_if_no_keys, r),
        Err(r) => Prepared::Answer(Check::Rejected(r)),
    }
}

/// What [`prepare_parsed_at`] leaves to the host.
#[derive(Debug)]
pub enum Prepared {
    /// A signature to check, then [`complete_pending`].
    Signature(PendingCheck),
    /// The answer, which needs no signature check.
    Answer(Check),
}

/// Ends [`prepare_parsed_at`] with the host's signature outcome (`matched`:
/// the index of the candidate that verified). `generation` is the snapshot's
/// the check was prepared on; a failed signature is a [`MissKind::BadSignature`]
/// miss exactly as in [`check_parsed_at`].
pub fn complete_pending(pending: PendingCheck, matched: Option<usize>, generation: u64, token_now: UnixTime) -> Check {
    let kid = pending.header().kid.as_deref().map(sanitize);
    match verify::complete_with(pending, matched, token_now) {
        Ok(v) => Check::Verified(v),
        Err(rejection @ Rejection::InvalidSignature) => {
            Check::Miss(KeyMiss { kind: MissKind::BadSignature, kid, rejection, generation })
        }
        Err(r) => Check::Rejected(r),
    }
}

/// Verifies `token` against `snapshot` under `policy`, skipping the header's
/// decoding when the snapshot's key set has seen it on a verified token.
pub fn check(snapshot: &KeySnapshot, token: &str, policy: &Policy, now: UnixTime) -> Check {
    let cache = snapshot.keys.as_deref().map(KeySet::header_cache);
    match verify::parse_token(token, policy.max_token_bytes, cache) {
        Ok(parsed) => check_parsed(snapshot, parsed, policy, now),
        Err(r) => Check::Rejected(r),
    }
}

/// What the cache decided about a [`KeyMiss`].
#[derive(Clone, Debug, PartialEq)]
pub enum MissDecision {
    /// A fetch is running or was just started: wait until the snapshot
    /// generation exceeds this one (or the request timeout passes), then check
    /// the token once more and accept that answer.
    WaitForGeneration(u64),
    /// No refetch now (cooldown, negative kid cache, static keys): answer with this.
    Reject(Rejection),
}

/// A cache's last good key set and its freshness, as [`JwksCache::export_keys`]
/// gives it and [`JwksCache::import_keys`] takes it; JSON through serde, so a
/// host can store it as text. Public keys only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistedKeys {
    /// Format of this document ([`PersistedKeys::VERSION`]).
    pub version: u32,
    /// The source's URL (the JWKS URL, or the issuer for discovery): an
    /// import into a cache of another source is refused.
    pub source: String,
    /// The keys of the last successful fetch (public JWKs).
    pub keys: Vec<Value>,
    /// Keys still served that the last fetch lacked: they go when the next fetch agrees.
    pub kept: Vec<Value>,
    /// When the last successful fetch (or 304) was answered, Unix milliseconds.
    pub fetched_at_ms: u64,
    /// End of the fresh TTL it gave.
    pub fresh_until_ms: u64,
    /// End of the stale window that followed.
    pub usable_until_ms: u64,
    /// The ETag of the last fetched document, for a conditional request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The `jwks_uri` discovery gave (discovery sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// When that discovery document was fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovered_at_ms: Option<u64>,
}

impl PersistedKeys {
    /// The format written by this version.
    pub const VERSION: u32 = 1;

    /// When it stops being usable: no host needs to keep it longer.
    pub fn usable_until(&self) -> UnixTime {
        UnixTime::from_millis(self.usable_until_ms)
    }
}

/// What [`JwksCache::import_keys`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportOutcome {
    /// Taken: the cache serves these keys now.
    Applied {
        /// Keys served.
        key_count: usize,
    },
    /// Past its usable window: not used.
    Expired,
    /// Not newer than what the cache holds (or dated after `now`): not used.
    NotNewer,
    /// Exported by a cache of another source: not used.
    OtherSource,
    /// Another format, no usable key, or an unacceptable `jwks_uri`: not used.
    Unreadable,
}

impl ImportOutcome {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportOutcome::Applied { .. } => "applied",
            ImportOutcome::Expired => "expired",
            ImportOutcome::NotNewer => "not_newer",
            ImportOutcome::OtherSource => "other_source",
            ImportOutcome::Unreadable => "unreadable",
        }
    }
}

/// Health of a cache, for `/health` endpoints and metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheHealth {
    /// State at the time asked.
    pub state: CacheState,
    /// Usable keys.
    pub key_count: usize,
    /// Seconds since the last successful fetch (or 304).
    pub age_seconds: Option<f64>,
    /// Seconds until the fresh TTL ends (negative once stale).
    pub fresh_for_seconds: Option<f64>,
    /// Seconds until the next scheduled fetch.
    pub next_fetch_in_seconds: Option<f64>,
    /// Consecutive failed fetches.
    pub consecutive_failures: u32,
    /// Code of the last fetch error, if the last fetch failed.
    pub last_error_code: Option<&'static str>,
    /// Fetch attempts made so far (discovery and JWKS).
    pub fetches: u64,
    /// Of those, the ones a key miss (unknown kid, bad signature, no keys) started.
    pub fetches_on_miss: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Discovery,
    Jwks,
}

#[derive(Debug)]
struct InFlight {
    id: RequestId,
    kind: RequestKind,
    deadline: UnixTime,
}

/// One key source's cache. See the module docs for the host loop.
pub struct JwksCache {
    source: KeySource,
    config: CacheConfig,
    rng: JitterRng,
    keys: Option<Arc<KeySet>>,
    /// The set exactly as last fetched (a 304 reaffirms it).
    last_fetched: Option<Arc<KeySet>>,
    /// Keys (by kid and handle) that the last fetch did not contain: dropped if
    /// the next one agrees.
    missing_once: HashSet<(Option<String>, String)>,
    jwks_uri: Option<String>,
    discovered_at: Option<UnixTime>,
    last_success_at: Option<UnixTime>,
    fresh_until: UnixTime,
    usable_until: UnixTime,
    etag: Option<String>,
    last_attempt_at: Option<UnixTime>,
    /// Start of the last fetch a key miss triggered.
    last_miss_fetch_at: Option<UnixTime>,
    /// Start of the last attempt that failed.
    last_failed_attempt_at: Option<UnixTime>,
    next_attempt_at: Option<UnixTime>,
    in_flight: Option<InFlight>,
    consecutive_failures: u32,
    last_error: Option<FetchError>,
    next_id: u64,
    outbox: VecDeque<HttpRequest>,
    events: VecDeque<JwksEvent>,
    negative_kids: VecDeque<(String, UnixTime)>,
    kids_awaited: Vec<String>,
    generation: u64,
    fetches: u64,
    fetches_on_miss: u64,
    reported: CacheState,
    snapshot: Arc<KeySnapshot>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("source", &self.source)
            .field("keys", &self.keys.as_ref().map(|k| k.len()))
            .field("fresh_until", &self.fresh_until)
            .field("usable_until", &self.usable_until)
            .field("in_flight", &self.in_flight)
            .field("consecutive_failures", &self.consecutive_failures)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache for `source`; `seed` seeds the jitter (hosts pass a random
    /// value, simulations a constant). The first fetch is due at `now`.
    pub fn new(source: KeySource, config: CacheConfig, seed: u64, now: UnixTime) -> JwksCache {
        let mut cache = JwksCache {
            source,
            config,
            rng: JitterRng::new(seed),
            keys: None,
            last_fetched: None,
            missing_once: HashSet::new(),
            jwks_uri: None,
            discovered_at: None,
            last_success_at: None,
            fresh_until: UnixTime::EPOCH,
            usable_until: UnixTime::EPOCH,
            etag: None,
            last_attempt_at: None,
            last_miss_fetch_at: None,
            last_failed_attempt_at: None,
            next_attempt_at: Some(now),
            in_flight: None,
            consecutive_failures: 0,
            last_error: None,
            next_id: 1,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            negative_kids: VecDeque::new(),
            kids_awaited: Vec::new(),
            generation: 0,
            fetches: 0,
            fetches_on_miss: 0,
            reported: CacheState::Empty,
            snapshot: Arc::new(KeySnapshot {
                keys: None,
                fresh_until: UnixTime::EPOCH,
                usable_until: UnixTime::EPOCH,
                generation: 0,
            }),
        };
        if let SourceKind::Static(keys) = &cache.source.0 {
            cache.keys = Some(keys.clone());
            cache.fresh_until = UnixTime::from_millis(u64::MAX);
            cache.usable_until = UnixTime::from_millis(u64::MAX);
            cache.next_attempt_at = None;
            cache.reported = CacheState::Fresh;
            cache.publish();
        }
        cache
    }

    /// The current snapshot, for lock-free readers.
    pub fn snapshot(&self) -> Arc<KeySnapshot> {
        self.snapshot.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The state at `now`.
    pub fn state(&self, now: UnixTime) -> CacheState {
        match (&self.keys, &self.in_flight) {
            (None, None) => CacheState::Empty,
            (None, Some(_)) => CacheState::Fetching,
            (Some(_), flight) if now < self.fresh_until => {
                if flight.is_some() {
                    CacheState::RefreshingAhead
                } else {
                    CacheState::Fresh
                }
            }
            (Some(_), _) if now < self.usable_until => CacheState::Stale,
            (Some(_), _) => CacheState::Expired,
        }
    }

    /// Whether keys were ever loaded and are usable at `now` (readiness).
    pub fn is_ready(&self, now: UnixTime) -> bool {
        self.state(now).is_usable()
    }

    /// Next request to send, if any. At most one is in flight per cache.
    pub fn poll_request(&mut self) -> Option<HttpRequest> {
        self.outbox.pop_front()
    }

    /// Next event to log or count.
    pub fn poll_event(&mut self) -> Option<JwksEvent> {
        self.events.pop_front()
    }

    /// When [`JwksCache::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        let mut t: Option<UnixTime> = None;
        let mut consider = |x: UnixTime| t = Some(t.map_or(x, |c| c.min(x)));
        if let Some(f) = &self.in_flight {
            consider(f.deadline);
        } else if let Some(n) = self.next_attempt_at {
            consider(n);
        }
        if self.keys.is_some() && !self.source.is_static() {
            match self.reported {
                CacheState::Fresh | CacheState::RefreshingAhead => consider(self.fresh_until),
                CacheState::Stale => consider(self.usable_until),
                _ => {}
            }
        }
        t
    }

    /// Advances time: starts due fetches, times out a lost request, reports
    /// state changes. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        if let Some(f) = &self.in_flight {
            if now >= f.deadline {
                let id = f.id;
                self.handle_response(id, HttpOutcome::Failed(TransportError::Timeout), now);
            }
        }
        if self.in_flight.is_none() && self.next_attempt_at.is_some_and(|t| now >= t) {
            self.start_fetch(now);
        }
        self.report_state(now);
    }

    /// Takes the answer to request `id`. Answers to unknown or superseded
    /// requests are ignored.
    pub fn handle_response(&mut self, id: RequestId, outcome: HttpOutcome, now: UnixTime) {
        let Some(flight) = self.in_flight.take_if(|f| f.id == id) else {
            return;
        };
        let retry_after = match &outcome {
            HttpOutcome::Response(r) => r.retry_after(),
            HttpOutcome::Failed(_) => None,
        };
        let result = match (flight.kind, outcome) {
            (_, HttpOutcome::Failed(t)) => Err(FetchError::Transport(t)),
            (RequestKind::Discovery, HttpOutcome::Response(r)) => self.on_discovery(r, now),
            (RequestKind::Jwks, HttpOutcome::Response(r)) => self.on_jwks(r, now).map(|()| false),
        };
        match result {
            Ok(true) => {
                // Discovery done: the JWKS fetch follows at once.
                self.start_fetch(now);
            }
            Ok(false) => self.finish_attempt(now),
            Err(error) => self.on_failure(error, retry_after, now),
        }
        self.report_state(now);
    }

    /// Decides whether a key miss seen by a reader warrants a refetch.
    pub fn handle_key_miss(&mut self, miss: &KeyMiss, now: UnixTime) -> MissDecision {
        if self.source.is_static() {
            return MissDecision::Reject(miss.rejection.clone());
        }
        if miss.generation < self.generation {
            // The keys changed since the reader looked: let it look again.
            return MissDecision::WaitForGeneration(miss.generation);
        }
        if miss.kind == MissKind::UnknownKid {
            if let Some(kid) = &miss.kid {
                self.expire_negative(now);
                if self.negative_kids.iter().any(|(k, _)| k == kid) {
                    return MissDecision::Reject(miss.rejection.clone());
                }
            }
        }
        if self.in_flight.is_some() {
            // With no keys while retries keep failing (an outage, not a cold
            // start), waiting for the retry in flight only adds latency to a 503.
            if miss.kind == MissKind::NoKeys && self.consecutive_failures > 0 {
                return MissDecision::Reject(miss.rejection.clone());
            }
            self.await_kid(miss);
            return MissDecision::WaitForGeneration(self.generation);
        }
        // The cooldown runs from the last fetch a miss triggered and from the
        // last failed attempt of any kind, not from a successful scheduled
        // refresh: a rotation right after a refresh must not mean 30 s of 401s.
        let cooldown = self.config.miss_cooldown;
        let cooled =
            [self.last_miss_fetch_at, self.last_failed_attempt_at].into_iter().flatten().all(|t| now >= t + cooldown);
        if cooled {
            self.await_kid(miss);
            self.start_fetch(now);
            self.last_miss_fetch_at = Some(now);
            self.fetches_on_miss += 1;
            MissDecision::WaitForGeneration(self.generation)
        } else {
            MissDecision::Reject(miss.rejection.clone())
        }
    }

    /// An operator asks for a fetch now (the runbook's "force a JWKS
    /// refresh" without a restart). The miss cooldown applies exactly as to
    /// an unknown kid, so it cannot be used to hammer the IdP; returns whether
    /// a fetch started (or one was already running).
    pub fn request_refresh(&mut self, now: UnixTime) -> bool {
        if self.source.is_static() {
            return false;
        }
        if self.in_flight.is_some() {
            return true;
        }
        let cooldown = self.config.miss_cooldown;
        let cooled =
            [self.last_miss_fetch_at, self.last_failed_attempt_at].into_iter().flatten().all(|t| now >= t + cooldown);
        if cooled {
            self.start_fetch(now);
            self.last_miss_fetch_at = Some(now);
            self.report_state(now);
        }
        cooled
    }

    /// The host lost the request in flight without an answer and without a
    /// fault of the IdP's (its process forked and the task that sent it does
    /// not exist in the child): forget it, counting nothing, and fetch again
    /// at `now`.
    pub fn forget_in_flight(&mut self, now: UnixTime) {
        if self.in_flight.take().is_some() {
            self.outbox.clear();
            self.next_attempt_at = Some(now);
        }
    }

    /// The last good key set with its freshness, for a host that keeps it
    /// where a later instance of itself finds it (the Cache API across edge
    /// isolates). `None` for static keys and before the first successful fetch.
    pub fn export_keys(&self) -> Option<PersistedKeys> {
        let (source, _) = self.source.url()?;
        let (keys, fetched, fetched_at) = (self.keys.as_ref()?, self.last_fetched.as_ref()?, self.last_success_at?);
        let identity = |k: &VerificationKey| (k.kid().map(str::to_owned), k.handle().to_owned());
        let jwks = |set: &mut dyn Iterator<Item = &Arc<VerificationKey>>| -> Vec<Value> {
            set.filter_map(|k| k.public_jwk().cloned()).collect()
        };
        Some(PersistedKeys {
            version: PersistedKeys::VERSION,
            source: source.to_owned(),
            keys: jwks(&mut fetched.keys().iter()),
            kept: jwks(&mut keys.keys().iter().filter(|k| self.missing_once.contains(&identity(k)))),
            fetched_at_ms: fetched_at.as_millis(),
            fresh_until_ms: self.fresh_until.as_millis(),
            usable_until_ms: self.usable_until.as_millis(),
            etag: self.etag.clone(),
            jwks_uri: self.jwks_uri.clone(),
            discovered_at_ms: self.discovered_at.map(UnixTime::as_millis),
        })
    }

    /// Takes a key set another instance exported, as if its fetch had been
    /// this cache's own answer at its `fetched_at`: the TTL it carried is
    /// clamped by this cache's configuration, the stale window is this
    /// cache's, the next refresh is due at the jittered refresh-ahead point
    /// after `fetched_at` (at once when that has passed), and its kept keys
    /// still wait for a second fetch before they go. Not used when it belongs
    /// to another source, is no newer than what this cache holds, or is past
    /// its usable window at `now`.
    pub fn import_keys(&mut self, persisted: &PersistedKeys, now: UnixTime) -> ImportOutcome {
        if persisted.version != PersistedKeys::VERSION {
            return ImportOutcome::Unreadable;
        }
        if self.source.url().map(|(u, _)| u) != Some(persisted.source.as_str()) {
            return ImportOutcome::OtherSource;
        }
        let fetched_at = UnixTime::from_millis(persisted.fetched_at_ms);
        if fetched_at > now || self.last_success_at.is_some_and(|t| t >= fetched_at) {
            return ImportOutcome::NotNewer;
        }
        let ttl = UnixTime::from_millis(persisted.fresh_until_ms)
            .saturating_since(fetched_at)
            .clamp(self.config.min_ttl, self.config.max_ttl);
        let fresh_until = fetched_at + ttl;
        let usable_until = fresh_until + self.config.stale_if_error;
        if now >= usable_until {
            return ImportOutcome::Expired;
        }
        let parse = |keys: &[Value]| KeySet::from_jwks_value(&serde_json::json!({ "keys": keys }));
        let (Ok(fetched), Ok(kept)) = (parse(&persisted.keys), parse(&persisted.kept)) else {
            return ImportOutcome::Unreadable;
        };
        if fetched.is_empty() {
            return ImportOutcome::Unreadable;
        }
        let jwks_uri = match (&self.source.0, &persisted.jwks_uri) {
            (SourceKind::OidcIssuer(_), Some(uri)) => {
                if check_url(uri, self.config.dangerous_allow_http).is_err() {
                    return ImportOutcome::Unreadable;
                }
                Some(uri.clone())
            }
            _ => None,
        };
        let fetched = Arc::new(fetched);
        if self.keys.is_none() {
            // A fresh cache takes the exporter's state whole: its kept keys
            // are served and still need one more fetch to agree they are gone.
            let identity = |k: &Arc<VerificationKey>| (k.kid().map(str::to_owned), k.handle().to_owned());
            self.missing_once = kept.keys().iter().map(identity).collect();
            let all = fetched.keys().iter().chain(kept.keys()).take(crate::jwk::MAX_KEYS).cloned().collect();
            self.keys = Some(Arc::new(KeySet::from_parts(all, fetched.skipped().to_vec())));
            let present: HashSet<String> = self.keys.iter().flat_map(|k| k.kids()).map(str::to_owned).collect();
            self.negative_kids.retain(|(k, _)| !present.contains(k));
        } else {
            // A live cache counts the exporter's fetch as one more fetch.
            self.merge(&fetched, now);
        }
        self.last_fetched = Some(fetched);
        self.etag = persisted.etag.clone();
        if let Some(uri) = jwks_uri {
            let discovered_at = persisted.discovered_at_ms.map_or(fetched_at, UnixTime::from_millis);
            self.jwks_uri = Some(uri);
            self.discovered_at = Some(discovered_at.min(now));
        }
        self.fresh_until = fresh_until;
        self.usable_until = usable_until;
        self.last_success_at = Some(fetched_at);
        self.consecutive_failures = 0;
        self.last_error = None;
        if self.in_flight.is_none() {
            let delay = self.refresh_delay(ttl);
            self.next_attempt_at = Some(fetched_at + delay);
        }
        self.generation += 1;
        self.publish();
        self.report_state(now);
        ImportOutcome::Applied { key_count: self.keys.as_ref().map_or(0, |k| k.len()) }
    }

    /// Health at `now`.
    pub fn health(&self, now: UnixTime) -> CacheHealth {
        let secs = |d: Duration| d.as_secs_f64();
        CacheHealth {
            state: self.state(now),
            key_count: self.keys.as_ref().map_or(0, |k| k.len()),
            age_seconds: self.last_success_at.map(|t| secs(now.saturating_since(t))),
            fresh_for_seconds: self.keys.as_ref().map(|_| {
                if self.fresh_until >= now {
                    secs(self.fresh_until.saturating_since(now))
                } else {
                    -secs(now.saturating_since(self.fresh_until))
                }
            }),
            next_fetch_in_seconds: self.next_attempt_at.map(|t| secs(t.saturating_since(now))),
            consecutive_failures: self.consecutive_failures,
            last_error_code: self.last_error.as_ref().map(FetchError::code),
            fetches: self.fetches,
            fetches_on_miss: self.fetches_on_miss,
        }
    }

    fn await_kid(&mut self, miss: &KeyMiss) {
        if let (MissKind::UnknownKid, Some(kid)) = (miss.kind, &miss.kid) {
            if self.kids_awaited.len() < self.config.negative_kid_capacity && !self.kids_awaited.contains(kid) {
                self.kids_awaited.push(kid.clone());
            }
        }
    }

    fn expire_negative(&mut self, now: UnixTime) {
        self.negative_kids.retain(|(_, until)| now < *until);
    }

    fn start_fetch(&mut self, now: UnixTime) {
        if self.in_flight.is_some() || self.source.is_static() {
            return;
        }
        let (kind, url) = match &self.source.0 {
            SourceKind::JwksUrl(u) => (RequestKind::Jwks, u.clone()),
            SourceKind::OidcIssuer(issuer) => {
                let stale_discovery = self.discovered_at.is_none_or(|t| now >= t + self.config.discovery_ttl);
                match &self.jwks_uri {
                    Some(uri) if !stale_discovery => (RequestKind::Jwks, uri.clone()),
                    _ => (RequestKind::Discovery, KeySource::discovery_url(issuer)),
                }
            }
            SourceKind::Static(_) => return,
        };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let mut headers = vec![("accept".to_owned(), HeaderValue::plain("application/json"))];
        if kind == RequestKind::Jwks {
            if let (Some(etag), Some(_)) = (&self.etag, &self.keys) {
                headers.push(("if-none-match".to_owned(), HeaderValue::plain(etag.clone())));
            }
        }
        self.outbox.push_back(HttpRequest {
            id,
            method: Method::Get,
            url,
            headers,
            body: Vec::new(),
            timeout: self.config.request_timeout,
            max_body_bytes: self.config.max_body_bytes,
        });
        // Allow the host a little beyond its own timeout before declaring the
        // request lost, so its timeout answer normally arrives first.
        let deadline = now + self.config.request_timeout + Duration::from_secs(1);
        self.in_flight = Some(InFlight { id, kind, deadline });
        self.last_attempt_at = Some(now);
        self.next_attempt_at = None;
        self.fetches += 1;
    }

    fn on_discovery(&mut self, response: HttpResponse, now: UnixTime) -> Result<bool, FetchError> {
        if response.status != 200 {
            return Err(FetchError::Status(response.status));
        }
        if response.body.len() > self.config.max_body_bytes {
            return Err(FetchError::Transport(TransportError::BodyTooLarge));
        }
        let doc: Value = serde_json::from_slice(&response.body).map_err(|_| FetchError::BadDiscovery)?;
        let SourceKind::OidcIssuer(issuer) = &self.source.0 else {
            return Err(FetchError::BadDiscovery);
        };
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(FetchError::IssuerMismatch);
        }
        let uri = doc.get("jwks_uri").and_then(Value::as_str).ok_or(FetchError::BadDiscovery)?;
        check_url(uri, self.config.dangerous_allow_http).map_err(|_| FetchError::InsecureJwksUri)?;
        if self.jwks_uri.as_deref() != Some(uri) {
            self.etag = None;
        }
        self.jwks_uri = Some(uri.to_owned());
        self.discovered_at = Some(now);
        self.events.push_back(JwksEvent::Discovered { jwks_uri: uri.to_owned() });
        Ok(true)
    }

    fn on_jwks(&mut self, response: HttpResponse, now: UnixTime) -> Result<(), FetchError> {
        match response.status {
            304 if self.keys.is_some() && self.etag.is_some() => {
                // The server reaffirms the last set: that counts as a fetch
                // agreeing that keys missing from it are gone.
                if let (false, Some(last)) = (self.missing_once.is_empty(), self.last_fetched.clone()) {
                    let (added, removed) = self.merge(&last, now);
                    if !removed.is_empty() {
                        let merged = self.keys.as_ref().map_or(0, |k| k.len());
                        self.events.push_back(JwksEvent::Refreshed {
                            key_count: merged,
                            added,
                            removed,
                            skipped: last.skipped().to_vec(),
                        });
                    }
                }
                self.mark_fresh(&response, now);
                self.events.push_back(JwksEvent::NotModified);
                Ok(())
            }
            200 => {
                if response.body.len() > self.config.max_body_bytes {
                    return Err(FetchError::Transport(TransportError::BodyTooLarge));
                }
                let fetched = KeySet::from_jwks_json(&response.body).map_err(FetchError::Document)?;
                if fetched.is_empty() {
                    return Err(FetchError::NoUsableKeys);
                }
                self.etag = response.header("etag").map(str::to_owned);
                let fetched = Arc::new(fetched);
                let (added, removed) = self.merge(&fetched, now);
                self.events.push_back(JwksEvent::Refreshed {
                    key_count: self.keys.as_ref().map_or(0, |k| k.len()),
                    added,
                    removed,
                    skipped: fetched.skipped().to_vec(),
                });
                self.last_fetched = Some(fetched);
                self.mark_fresh(&response, now);
                Ok(())
            }
            status => {
                if matches!(status, 404 | 410) {
                    // The jwks_uri may have moved: look at discovery again next time.
                    self.discovered_at = None;
                }
                Err(FetchError::Status(status))
            }
        }
    }

    /// New keys replace old ones, except that a key the previous fetch had is
    /// kept until a second fetch in a row agrees it is gone.
    fn merge(&mut self, fetched: &KeySet, now: UnixTime) -> (Vec<String>, Vec<String>) {
        let identity = |k: &VerificationKey| (k.kid().map(str::to_owned), k.handle().to_owned());
        let fetched_ids: HashSet<_> = fetched.keys().iter().map(|k| identity(k)).collect();
        let previous_kids: HashSet<String> =
            self.keys.as_ref().map(|k| k.kids().map(str::to_owned).collect()).unwrap_or_default();
        let mut keys: Vec<Arc<VerificationKey>> = fetched.keys().to_vec();
        let mut missing_now = HashSet::new();
        let mut dropped = Vec::new();
        if let Some(old) = &self.keys {
            for key in old.keys() {
                let id = identity(key);
                if fetched_ids.contains(&id) {
                    continue;
                }
                if self.missing_once.contains(&id) {
                    dropped.push(id);
                } else if keys.len() < crate::jwk::MAX_KEYS {
                    keys.push(key.clone());
                    missing_now.insert(id);
                }
            }
        }
        self.missing_once = missing_now;
        let merged = KeySet::from_parts(keys, fetched.skipped().to_vec());
        let now_kids: HashSet<String> = merged.kids().map(str::to_owned).collect();
        let mut added: Vec<String> = now_kids.difference(&previous_kids).cloned().collect();
        let mut removed: Vec<String> = previous_kids.difference(&now_kids).cloned().collect();
        added.sort();
        removed.sort();
        // Kids that readers were waiting for and that this fetch did not bring
        // are answered `unknown_kid` at once for a while.
        let awaited = std::mem::take(&mut self.kids_awaited);
        self.expire_negative(now);
        for kid in awaited {
            if !now_kids.contains(&kid) {
                self.negative_kids.push_back((kid, now + self.config.negative_kid_ttl));
            }
        }
        // A kid that arrived is no longer negative.
        self.negative_kids.retain(|(k, _)| !now_kids.contains(k));
        while self.negative_kids.len() > self.config.negative_kid_capacity {
            self.negative_kids.pop_front();
        }
        self.keys = Some(Arc::new(merged));
        (added, removed)
    }

    fn ttl_from(&self, response: &HttpResponse) -> Duration {
        let max_age = response.header("cache-control").and_then(|cc| {
            // Directive names are case-insensitive (RFC 9111 §5.2).
            cc.split(',').find_map(|d| {
                let (name, value) = d.trim().split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("max-age")
                    .then(|| value.trim().trim_matches('"').parse::<u64>().ok())?
            })
        });
        match max_age {
            Some(s) => Duration::from_secs(s).clamp(self.config.min_ttl, self.config.max_ttl),
            None => self.config.default_ttl,
        }
    }

    fn mark_fresh(&mut self, response: &HttpResponse, now: UnixTime) {
        let ttl = self.ttl_from(response);
        self.fresh_until = now + ttl;
        self.usable_until = self.fresh_until + self.config.stale_if_error;
        self.last_success_at = Some(now);
        self.consecutive_failures = 0;
        self.last_error = None;
        let delay = self.refresh_delay(ttl);
        self.next_attempt_at = Some(now + delay);
    }

    /// 80% of the TTL, ±10%: spread so replicas never refresh in step.
    fn refresh_delay(&mut self, ttl: Duration) -> Duration {
        let factor = self.config.refresh_ahead * (1.0 + self.config.refresh_jitter * self.rng.signed_unit());
        ttl.mul_f64(factor.clamp(0.05, 1.0)).max(self.config.backoff.floor)
    }

    fn finish_attempt(&mut self, _now: UnixTime) {
        self.generation += 1;
        self.publish();
    }

    fn on_failure(&mut self, error: FetchError, retry_after: Option<Duration>, now: UnixTime) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failed_attempt_at = self.last_attempt_at;
        let serving_stale = self.keys.is_some() && now < self.usable_until;
        // With usable keys there is no hurry: retry on the refresh cadence, so a
        // fleet riding out an IdP outage does not multiply the IdP's load. With
        // nothing usable, callers are failing: back off exponentially from 1 s.
        let delay = if serving_stale {
            let ttl = self.last_ttl();
            let cadence = self.refresh_delay(ttl);
            // One last try shortly before the stale window closes, instead of
            // the cadence attempt that would land after it; never an extra one.
            let margin = LAST_CHANCE_MARGIN.mul_f64(1.0 + 2.0 * self.rng.unit());
            let last_chance = self.usable_until.saturating_sub(margin);
            if now + cadence > last_chance && now + self.config.backoff.floor < last_chance {
                last_chance.saturating_since(now)
            } else {
                cadence
            }
        } else {
            self.config.backoff.delay(self.consecutive_failures, &mut self.rng)
        };
        let delay = retry_after.map_or(delay, |ra| delay.max(ra.min(self.config.backoff.cap)));
        self.next_attempt_at = Some(now + delay);
        self.kids_awaited.clear();
        self.events.push_back(JwksEvent::RefreshFailed {
            error: error.clone(),
            attempt: self.consecutive_failures,
            next_retry_in: delay,
            serving_stale,
        });
        self.last_error = Some(error);
        self.finish_attempt(now);
    }

    fn last_ttl(&self) -> Duration {
        match self.last_success_at {
            Some(t) => self.fresh_until.saturating_since(t),
            None => self.config.default_ttl,
        }
    }

    fn publish(&mut self) {
        self.snapshot = Arc::new(KeySnapshot {
            keys: self.keys.clone(),
            fresh_until: self.fresh_until,
            usable_until: self.usable_until,
            generation: self.generation,
        });
    }

    fn report_state(&mut self, now: UnixTime) {
        let state = self.state(now);
        let before = self.reported;
        let became = |s: CacheState| matches!(s, CacheState::Stale) && !matches!(before, CacheState::Stale);
        if became(state) {
            self.events.push_back(JwksEvent::BecameStale);
        }
        if state == CacheState::Expired && before != CacheState::Expired {
            self.events.push_back(JwksEvent::Expired);
            if self.in_flight.is_none() {
                // Nothing usable any more: retry on the urgent schedule.
                let d = self.config.backoff.delay(1, &mut self.rng);
                let due = now + d;
                if self.next_attempt_at.is_none_or(|t| t > due) {
                    self.next_attempt_at = Some(due);
                }
            }
        }
        self.reported = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> JwksCache {
        let source = KeySource::jwks_url("https://idp.example/jwks").expect("url");
        JwksCache::new(source, CacheConfig::default(), 1, UnixTime::from_secs(1_000))
    }

    #[test]
    fn max_age_directive_is_case_insensitive_and_clamped() {
        let c = cache();
        let ttl = |cc: &str| c.ttl_from(&HttpResponse::new(200, "").with_header("Cache-Control", cc));
        assert_eq!(ttl("public, Max-Age=600"), Duration::from_secs(600));
        assert_eq!(ttl("max-age=\"120\""), Duration::from_secs(120));
        assert_eq!(ttl("max-age=5"), Duration::from_secs(60), "clamped to the minimum");
        assert_eq!(ttl("max-age=999999"), Duration::from_secs(24 * 3600), "clamped to the maximum");
        assert_eq!(ttl("no-cache"), Duration::from_secs(300), "default when absent");
    }

    const T: u64 = 1_767_225_600;

    fn ed_key(seed: u8) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
    }

    fn jwk(kid: &str, seed: u8) -> Value {
        let x = crate::jose::b64_encode(ed_key(seed).verifying_key().as_bytes());
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x})
    }

    fn token(kid: &str, seed: u8, exp: u64) -> String {
        use ed25519_dalek::Signer as _;
        let header = crate::jose::b64_encode(format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#).as_bytes());
        let claims = crate::jose::b64_encode(format!(r#"{{"iss":"https://idp.example","exp":{exp}}}"#).as_bytes());
        let input = format!("{header}.{claims}");
        let signature = ed_key(seed).sign(input.as_bytes());
        format!("{input}.{}", crate::jose::b64_encode(&signature.to_bytes()))
    }

    /// Answers the cache's next request with `keys` (or `status` alone).
    fn answer(cache: &mut JwksCache, status: u16, keys: &[Value], etag: Option<&str>, now: UnixTime) -> HttpRequest {
        cache.handle_timeout(now);
        let request = cache.poll_request().expect("a request is due");
        let body = serde_json::json!({ "keys": keys }).to_string();
        let mut response = HttpResponse::new(status, body).with_header("cache-control", "max-age=600");
        if let Some(tag) = etag {
            response = response.with_header("etag", tag);
        }
        cache.handle_response(request.id, HttpOutcome::Response(response), now);
        request
    }

    fn kids(cache: &JwksCache) -> Vec<String> {
        let mut kids: Vec<String> =
            cache.snapshot().keys().map(|k| k.kids().map(str::to_owned).collect()).unwrap_or_default();
        kids.sort();
        kids
    }

    fn roundtrip(p: &PersistedKeys) -> PersistedKeys {
        serde_json::from_str(&serde_json::to_string(p).expect("json")).expect("parse")
    }

    #[test]
    fn prepare_and_complete_give_what_check_gives() {
        let now = UnixTime::from_secs(T);
        let mut c = JwksCache::new(
            KeySource::jwks_url("https://idp.example/jwks").expect("url"),
            CacheConfig::default(),
            1,
            now,
        );
        answer(&mut c, 200, &[jwk("a", 1)], None, now);
        let snapshot = c.snapshot();
        let policy = Policy::new("https://idp.example");
        let good = token("a", 1, T + 600);
        fn parse(t: &str) -> ParsedToken<'_> {
            verify::parse(t, 16 * 1024).expect("parsed")
        }
        let Check::Verified(native) = check_parsed_at(&snapshot, parse(&good), &policy, now, now) else {
            panic!("verifies")
        };
        let Prepared::Signature(pending) = prepare_parsed_at(&snapshot, parse(&good), &policy, now, now) else {
            panic!("a signature to check")
        };
        assert_eq!(pending.candidates().len(), 1);
        assert_eq!(pending.check_natively(), Some(0));
        assert_eq!(complete_pending(pending, Some(0), snapshot.generation(), now), Check::Verified(native));

        // A signature the host found bad is a miss, exactly as the native check says.
        let forged = token("a", 2, T + 600);
        let native = check_parsed_at(&snapshot, parse(&forged), &policy, now, now);
        let Prepared::Signature(pending) = prepare_parsed_at(&snapshot, parse(&forged), &policy, now, now) else {
            panic!("pending")
        };
        let hosted = complete_pending(pending, None, snapshot.generation(), now);
        assert_eq!(hosted, native);
        assert!(
            matches!(hosted, Check::Miss(KeyMiss { kind: MissKind::BadSignature, kid: Some(ref k), .. }) if k == "a")
        );

        // No signature is asked for when the answer needs none.
        let unknown = prepare_parsed_at(&snapshot, parse(&token("zz", 1, T + 600)), &policy, now, now);
        assert!(matches!(unknown, Prepared::Answer(Check::Miss(KeyMiss { kind: MissKind::UnknownKid, .. }))));
        let expired = prepare_parsed_at(&snapshot, parse(&token("a", 1, T - 600)), &policy, now, now);
        assert!(matches!(expired, Prepared::Answer(Check::Rejected(Rejection::Expired { .. }))));
    }

    #[test]
    fn an_imported_set_is_served_with_the_freshness_of_its_fetch() {
        let t0 = UnixTime::from_secs(T);
        let source = || KeySource::jwks_url("https://idp.example/jwks").expect("url");
        let mut a = JwksCache::new(source(), CacheConfig::default(), 1, t0);
        assert_eq!(a.export_keys(), None, "nothing to export before a fetch");
        answer(&mut a, 200, &[jwk("a", 1)], Some("\"v1\""), t0);
        let exported = roundtrip(&a.export_keys().expect("exported"));
        assert_eq!((exported.fetched_at_ms, exported.fresh_until_ms), (T * 1000, (T + 600) * 1000));
        assert_eq!(exported.usable_until_ms, (T + 600 + 3600) * 1000);

        // A new instance 100 s later: keys at once, no request until the refresh-ahead point.
        let t1 = t0 + Duration::from_secs(100);
        let mut b = JwksCache::new(source(), CacheConfig::default(), 2, t1);
        assert_eq!(b.import_keys(&exported, t1), ImportOutcome::Applied { key_count: 1 });
        assert_eq!(b.state(t1), CacheState::Fresh);
        assert_eq!(kids(&b), ["a"]);
        b.handle_timeout(t1);
        assert!(b.poll_request().is_none(), "an imported fresh set makes no request");
        let due = b.poll_timeout().expect("a refresh is scheduled");
        assert!(
            due >= t0 + Duration::from_secs(432) && due <= t0 + Duration::from_secs(528),
            "80% ± 10% of 600 s after the fetch"
        );
        // The refresh is conditional on the exporter's ETag; a 304 extends freshness.
        b.handle_timeout(due);
        let request = b.poll_request().expect("refresh");
        assert!(request.headers.iter().any(|(n, v)| n == "if-none-match" && v.expose() == "\"v1\""));
        b.handle_response(
            request.id,
            HttpOutcome::Response(HttpResponse::new(304, "").with_header("cache-control", "max-age=600")),
            due,
        );
        assert_eq!(b.state(due + Duration::from_secs(599)), CacheState::Fresh);

        // The same document is no news to the instance that exported it.
        assert_eq!(a.import_keys(&exported, t1), ImportOutcome::NotNewer);
    }

    #[test]
    fn an_imported_set_follows_this_caches_ttl_clamps_and_stale_window() {
        let t0 = UnixTime::from_secs(T);
        let source = || KeySource::jwks_url("https://idp.example/jwks").expect("url");
        let mut a = JwksCache::new(source(), CacheConfig::default(), 1, t0);
        answer(&mut a, 200, &[jwk("a", 1)], None, t0);
        let exported = a.export_keys().expect("exported");
        let config = CacheConfig {
            max_ttl: Duration::from_secs(120),
            stale_if_error: Duration::from_secs(60),
            ..CacheConfig::default()
        };
        // Stale by this cache's rules (TTL 120 s, then 60 s): served, refreshed at once.
        let late = t0 + Duration::from_secs(150);
        let mut b = JwksCache::new(source(), config.clone(), 2, late);
        assert_eq!(b.import_keys(&exported, late), ImportOutcome::Applied { key_count: 1 });
        assert_eq!(b.state(late), CacheState::Stale);
        b.handle_timeout(late);
        assert!(b.poll_request().is_some(), "a stale import is refreshed at once");
        // Past this cache's stale window: not used, though the exporter's window is open.
        let later = t0 + Duration::from_secs(180);
        let mut c = JwksCache::new(source(), config, 3, later);
        assert_eq!(c.import_keys(&exported, later), ImportOutcome::Expired);
        assert_eq!(c.state(later), CacheState::Empty);
        assert!(c.snapshot().keys().is_none());
        // And past the exporter's own window, for a cache with the defaults.
        let gone = t0 + Duration::from_secs(600 + 3600);
        let mut d = JwksCache::new(source(), CacheConfig::default(), 4, gone);
        assert_eq!(d.import_keys(&exported, gone), ImportOutcome::Expired);
    }

    #[test]
    fn key_removal_still_needs_two_fetches_across_an_import() {
        let t0 = UnixTime::from_secs(T);
        let source = || KeySource::jwks_url("https://idp.example/jwks").expect("url");
        let step = Duration::from_secs(1000);
        // The exporter saw b vanish once: b is kept, and exported as kept.
        let mut a = JwksCache::new(source(), CacheConfig::default(), 1, t0);
        answer(&mut a, 200, &[jwk("a", 1), jwk("b", 2)], None, t0);
        answer(&mut a, 200, &[jwk("a", 1)], None, t0 + step);
        assert_eq!(kids(&a), ["a", "b"]);
        let exported = roundtrip(&a.export_keys().expect("exported"));
        assert_eq!((exported.keys.len(), exported.kept.len()), (1, 1));
        let t1 = t0 + step + Duration::from_secs(10);
        let mut b = JwksCache::new(source(), CacheConfig::default(), 2, t1);
        b.import_keys(&exported, t1);
        assert_eq!(kids(&b), ["a", "b"], "kept keys are served after the import");
        // One more fetch without b agrees: gone.
        answer(&mut b, 200, &[jwk("a", 1)], None, t1 + step);
        assert_eq!(kids(&b), ["a"]);
        let events: Vec<JwksEvent> = std::iter::from_fn(|| b.poll_event()).collect();
        assert!(
            events.iter().any(|e| matches!(e, JwksEvent::Refreshed { removed, .. } if removed == &["b"])),
            "{events:?}"
        );

        // An imported set counts as one fetch: the first fetch after it that
        // lacks a key keeps it, the second removes it.
        let mut c = JwksCache::new(source(), CacheConfig::default(), 3, t0);
        answer(&mut c, 200, &[jwk("a", 1), jwk("b", 2)], None, t0);
        let mut d = JwksCache::new(source(), CacheConfig::default(), 4, t1);
        d.import_keys(&c.export_keys().expect("exported"), t1);
        answer(&mut d, 200, &[jwk("a", 1)], None, t1 + step);
        assert_eq!(kids(&d), ["a", "b"]);
        answer(&mut d, 200, &[jwk("a", 1)], None, t1 + step + step);
        assert_eq!(kids(&d), ["a"]);

        // A live cache counts a newer import as one more fetch, never as two.
        let earlier = t0 - Duration::from_secs(5);
        let mut e = JwksCache::new(source(), CacheConfig::default(), 5, earlier);
        answer(&mut e, 200, &[jwk("a", 1), jwk("b", 2)], None, earlier);
        let mut f = JwksCache::new(source(), CacheConfig::default(), 6, t0);
        answer(&mut f, 200, &[jwk("a", 1)], None, t0);
        assert!(matches!(e.import_keys(&f.export_keys().expect("exported"), t1), ImportOutcome::Applied { .. }));
        assert_eq!(kids(&e), ["a", "b"], "one fetch without b is not enough");
    }

    #[test]
    fn imports_of_another_source_format_or_discovery_uri_are_refused() {
        let t0 = UnixTime::from_secs(T);
        let mut a = JwksCache::new(
            KeySource::jwks_url("https://idp.example/jwks").expect("url"),
            CacheConfig::default(),
            1,
            t0,
        );
        answer(&mut a, 200, &[jwk("a", 1)], None, t0);
        let exported = a.export_keys().expect("exported");
        let mut other = JwksCache::new(
            KeySource::jwks_url("https://other.example/jwks").expect("url"),
            CacheConfig::default(),
            2,
            t0,
        );
        assert_eq!(other.import_keys(&exported, t0), ImportOutcome::OtherSource);
        let mut b = JwksCache::new(
            KeySource::jwks_url("https://idp.example/jwks").expect("url"),
            CacheConfig::default(),
            3,
            t0,
        );
        assert_eq!(b.import_keys(&PersistedKeys { version: 2, ..exported.clone() }, t0), ImportOutcome::Unreadable);
        assert_eq!(b.import_keys(&PersistedKeys { keys: vec![], ..exported.clone() }, t0), ImportOutcome::Unreadable);
        let future = PersistedKeys { fetched_at_ms: exported.fetched_at_ms + 60_000, ..exported.clone() };
        assert_eq!(b.import_keys(&future, t0), ImportOutcome::NotNewer);
        assert!(b.snapshot().keys().is_none());

        // Discovery: the jwks_uri comes along, under the transport rule.
        let issuer = || KeySource::oidc_issuer("https://idp.example").expect("issuer");
        let mut d = JwksCache::new(issuer(), CacheConfig::default(), 4, t0);
        let discovery = serde_json::json!({"issuer": "https://idp.example", "jwks_uri": "https://idp.example/keys"});
        d.handle_timeout(t0);
        let r = d.poll_request().expect("discovery");
        d.handle_response(r.id, HttpOutcome::Response(HttpResponse::new(200, discovery.to_string())), t0);
        answer(&mut d, 200, &[jwk("a", 1)], None, t0);
        let exported = d.export_keys().expect("exported");
        assert_eq!(exported.jwks_uri.as_deref(), Some("https://idp.example/keys"));
        let t1 = t0 + Duration::from_secs(600);
        let mut e = JwksCache::new(issuer(), CacheConfig::default(), 5, t1);
        assert!(matches!(e.import_keys(&exported, t1), ImportOutcome::Applied { .. }));
        e.handle_timeout(t1);
        assert_eq!(e.poll_request().map(|r| r.url), Some("https://idp.example/keys".to_owned()), "no second discovery");
        let insecure = PersistedKeys { jwks_uri: Some("http://idp.example/keys".into()), ..exported };
        let mut f = JwksCache::new(issuer(), CacheConfig::default(), 6, t1);
        assert_eq!(f.import_keys(&insecure, t1), ImportOutcome::Unreadable);
    }

    #[test]
    fn urls_must_be_https_unless_loopback_or_explicitly_allowed() {
        assert!(check_url("https://idp.example/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("http://[::1]:80/jwks", false).is_ok());
        assert_eq!(check_url("http://idp.example/jwks", false), Err(SourceError::InsecureUrl));
        assert!(check_url("http://idp.example/jwks", true).is_ok());
        assert_eq!(check_url("ftp://idp.example", false), Err(SourceError::InvalidUrl));
        assert_eq!(check_url("https://user@idp.example/", false), Err(SourceError::InvalidUrl));
        assert_eq!(check_url("https:///jwks", false), Err(SourceError::InvalidUrl));
    }
}
