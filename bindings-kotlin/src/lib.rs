//! tokenkeep for the JVM: the runtime's host surface exported through uniffi.
//!
//! Newtypes and conversions only. Options arrive as the spec's JSON text and
//! go to `tokenkeep::spec`; rejections, spec errors, host errors and the
//! outbound handles' credential and HMAC errors leave as one error enum
//! carrying the runtime's stable codes; health, events and metrics leave as
//! records mirroring the runtime's owned types. The outbound handles are one
//! object (`outbound.rs`). The Kotlin layer in `bindings-kotlin/jvm` wraps the
//! generated code in the public API (`Verifier`, `VaultToken`, …,
//! `TokenkeepException`, `Flow`s).
//!
//! `verifyBlocking` and `verifyCached` also have a JNI fast path (`fast.rs`,
//! one JNI call instead of several JNA crossings); everything else is uniffi.
//!
//! Every entry point catches a panic and returns it as the host error
//! `internal_error`, so nothing unwinds into the JVM.

#![deny(unsafe_code)] // allowed in `fast` for `#[unsafe(no_mangle)]` only
#![warn(missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokenkeep::codes::HostErrorCode;
use tokenkeep::spec::{SpecError, VerifierSpec};
use tokenkeep::{Rejection, UnixTime};

uniffi::setup_scaffolding!("tokenkeep");

mod fast;
mod outbound;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Every failure, by concern, with the runtime's stable code.
#[derive(Debug, uniffi::Error)]
pub enum NativeError {
    /// The token was rejected (`tests/vectors/codes.json` concern `rejection`).
    Rejected {
        /// The rejection code (`expired`, `keys_unavailable`, …).
        code: String,
        /// The runtime's safe message (never the token).
        detail: String,
        /// The HTTP status the runtime gives the code (503 for `keys_unavailable`, else 401).
        http_status: i32,
    },
    /// Options were refused (concern `spec`).
    Config {
        /// The spec error code.
        code: String,
        /// The field path (`issuers[1].audience`), empty for the whole document.
        path: String,
        /// The message, path included (`issuers[1].audience: must not be empty`).
        detail: String,
    },
    /// The host surface itself (concern `host`: `closed`, `timeout`, `internal_error`).
    Host {
        /// The host error code.
        code: String,
        /// What happened.
        detail: String,
    },
    /// An outbound handle has no value to give (concern `credential_error`:
    /// `not_yet_obtained`, `expired`, `fatal`, `closed`).
    Credential {
        /// The credential error code.
        code: String,
        /// What happened (never the secret).
        detail: String,
    },
    /// A request signature could not be made or did not verify (concern `hmac`).
    Hmac {
        /// The HMAC error code.
        code: String,
        /// What happened (never the key).
        detail: String,
    },
}

impl std::fmt::Display for NativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NativeError::Rejected { code, detail, .. }
            | NativeError::Config { code, detail, .. }
            | NativeError::Host { code, detail }
            | NativeError::Credential { code, detail }
            | NativeError::Hmac { code, detail } => write!(f, "{code}: {detail}"),
        }
    }
}

impl std::error::Error for NativeError {}

impl From<Rejection> for NativeError {
    fn from(r: Rejection) -> Self {
        let code = r.code();
        NativeError::Rejected {
            code: code.as_str().to_owned(),
            detail: r.to_string(),
            http_status: i32::from(code.http_status()),
        }
    }
}

impl From<SpecError> for NativeError {
    fn from(e: SpecError) -> Self {
        NativeError::Config { code: e.code().as_str().to_owned(), path: e.path().to_owned(), detail: e.to_string() }
    }
}

fn host_error(code: HostErrorCode, detail: impl Into<String>) -> NativeError {
    NativeError::Host { code: code.as_str().to_owned(), detail: detail.into() }
}

fn panicked() -> NativeError {
    host_error(HostErrorCode::InternalError, "a bug in tokenkeep's native code (a Rust panic was caught)")
}

/// Runs `f`, turning a panic into `internal_error`.
fn guard<T>(f: impl FnOnce() -> Result<T, NativeError>) -> Result<T, NativeError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(panicked()))
}

/// Runs an infallible `f`; a panic there gives `fallback` (no error channel).
fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A future whose panics become `internal_error` (uniffi polls it from the
/// JVM; an unwind must stop here).
struct Guarded<F>(Pin<Box<F>>);

impl<T, F: Future<Output = Result<T, NativeError>>> Future for Guarded<F> {
    type Output = Result<T, NativeError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        catch_unwind(AssertUnwindSafe(|| inner.poll(cx))).unwrap_or_else(|_| Poll::Ready(Err(panicked())))
    }
}

fn guarded<T, F: Future<Output = Result<T, NativeError>>>(f: F) -> Guarded<F> {
    Guarded(Box::pin(f))
}

fn unix_time(now_ms: Option<i64>) -> Option<UnixTime> {
    now_ms.map(|ms| UnixTime::from_millis(u64::try_from(ms).unwrap_or(0)))
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------
// Verifier
// ---------------------------------------------------------------------------

/// A verifier started from the options spec (JSON text).
#[derive(uniffi::Object)]
pub struct NativeVerifier {
    inner: tokenkeep::Verifier,
}

impl std::fmt::Debug for NativeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// A token that verified: the runtime's shared value (a verified-token cache
/// hit hands out the same one).
#[derive(uniffi::Object)]
pub struct NativeVerifiedToken {
    inner: Arc<tokenkeep::VerifiedToken>,
}

fn verified(result: Result<Arc<tokenkeep::VerifiedToken>, Rejection>) -> Result<Arc<NativeVerifiedToken>, NativeError> {
    Ok(Arc::new(NativeVerifiedToken { inner: result? }))
}

/// What `authenticate` answers: `tokenkeep::Authenticated` or the `Denial`
/// to send (a value, not an error: refusing a request is an HTTP layer's
/// ordinary answer).
#[derive(uniffi::Enum)]
pub enum NativeAuthentication {
    /// The token verified and grants every required scope (its granted
    /// scopes are the token's `fields()`).
    Authenticated {
        /// The verified token.
        token: Arc<NativeVerifiedToken>,
    },
    /// The request is refused: the answer to send (never the token).
    Denied {
        /// 401, 403 or 503.
        status: i32,
        /// The rejection code, or `insufficient_scope`.
        error: String,
        /// The `WWW-Authenticate` challenge (401 and 403).
        www_authenticate: Option<String>,
        /// Seconds for `Retry-After` (503).
        retry_after: Option<i32>,
    },
}

fn authentication(result: Result<tokenkeep::Authenticated, tokenkeep::Denial>) -> NativeAuthentication {
    match result {
        Ok(ok) => NativeAuthentication::Authenticated { token: Arc::new(NativeVerifiedToken { inner: ok.token }) },
        Err(denial) => NativeAuthentication::Denied {
            status: i32::from(denial.status),
            error: denial.error.to_owned(),
            www_authenticate: denial.www_authenticate,
            retry_after: denial.retry_after.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
        },
    }
}

#[uniffi::export]
impl NativeVerifier {
    /// Starts a verifier from the spec's JSON text (`{"issuer": ..., "audience": ...}`).
    #[uniffi::constructor]
    pub fn new(options_json: String) -> Result<Arc<NativeVerifier>, NativeError> {
        guard(|| {
            let spec = VerifierSpec::from_json(&options_json)?;
            Ok(Arc::new(NativeVerifier { inner: tokenkeep::Verifier::start(&spec)? }))
        })
    }

    /// Verifies, waiting for one refetch only when a token names an unknown key.
    /// `now_ms` moves the token's time checks only.
    pub async fn verify(&self, token: String, now_ms: Option<i64>) -> Result<Arc<NativeVerifiedToken>, NativeError> {
        let inner = self.inner.clone();
        guarded(async move {
            match unix_time(now_ms) {
                Some(now) => verified(inner.verify_at(&token, now).await),
                None => verified(inner.verify(&token).await),
            }
        })
        .await
    }

    /// The blocking twin of `verify` (blocks the calling thread while a refetch runs).
    pub fn verify_blocking(&self, token: String, now_ms: Option<i64>) -> Result<Arc<NativeVerifiedToken>, NativeError> {
        guard(|| verified(self.inner.verify_blocking(&token, unix_time(now_ms))))
    }

    /// Verifies with the keys at hand; never waits, never fetches.
    pub fn verify_cached(&self, token: String, now_ms: Option<i64>) -> Result<Arc<NativeVerifiedToken>, NativeError> {
        guard(|| verified(self.inner.verify_cached_at(&token, unix_time(now_ms))))
    }

    /// HTTP bearer authentication: verifies the token of `authorization` (an
    /// `Authorization` header value, none when absent) and checks that it
    /// grants every scope in `required` (`tokenkeep::Verifier::authenticate`).
    pub async fn authenticate(
        &self,
        authorization: Option<String>,
        required: Vec<String>,
        realm: Option<String>,
    ) -> Result<NativeAuthentication, NativeError> {
        let inner = self.inner.clone();
        guarded(async move {
            Ok(authentication(inner.authenticate(authorization.as_deref(), &required, realm.as_deref()).await))
        })
        .await
    }

    /// The blocking twin of `authenticate`.
    pub fn authenticate_blocking(
        &self,
        authorization: Option<String>,
        required: Vec<String>,
        realm: Option<String>,
    ) -> Result<NativeAuthentication, NativeError> {
        guard(|| {
            Ok(authentication(self.inner.authenticate_blocking(authorization.as_deref(), &required, realm.as_deref())))
        })
    }

    /// Registers this verifier for the JNI fast path (`fast.rs`); the id the
    /// JVM passes to it and releases when its `Verifier` is unreachable.
    pub fn fast_path_id(&self) -> i64 {
        guard_value(0, || fast::register(self.inner.clone()))
    }

    /// True once every issuer has usable keys; false after `timeout_ms` or close.
    pub async fn ready(&self, timeout_ms: i64) -> Result<bool, NativeError> {
        let inner = self.inner.clone();
        guarded(async move { Ok(inner.ready(millis(timeout_ms)).await) }).await
    }

    /// The blocking twin of `ready`.
    pub fn ready_blocking(&self, timeout_ms: i64) -> Result<bool, NativeError> {
        guard(|| Ok(self.inner.ready_blocking(millis(timeout_ms))))
    }

    /// Health of every issuer's keys.
    pub fn health(&self) -> Result<Vec<IssuerHealth>, NativeError> {
        guard(|| Ok(self.inner.health().into_iter().map(IssuerHealth::from).collect()))
    }

    /// Asks every fetched issuer for its keys now (the miss cooldown applies).
    pub fn refresh(&self) -> Result<bool, NativeError> {
        guard(|| Ok(self.inner.refresh()))
    }

    /// The key-set rotation counter.
    pub fn rotation_count(&self) -> i64 {
        guard_value(0, || count(self.inner.rotations().count()))
    }

    /// Waits until the rotation counter exceeds `after`; the count then, or
    /// nothing after `timeout_ms` or close.
    pub async fn wait_rotation(&self, after: i64, timeout_ms: i64) -> Result<Option<i64>, NativeError> {
        let rotations = self.inner.rotations();
        let after = u64::try_from(after).unwrap_or(0);
        guarded(async move { Ok(rotations.wait(after, millis(timeout_ms)).await.map(count)) }).await
    }

    /// The blocking twin of `wait_rotation`.
    pub fn wait_rotation_blocking(&self, after: i64, timeout_ms: i64) -> Result<Option<i64>, NativeError> {
        guard(|| {
            let after = u64::try_from(after).unwrap_or(0);
            Ok(self.inner.rotations().wait_blocking(after, millis(timeout_ms)).map(count))
        })
    }

    /// Calls `listener` with every event of this verifier (on the producing thread).
    pub fn add_event_listener(&self, listener: Box<dyn NativeEventListener>) -> Result<i64, NativeError> {
        guard(|| {
            let listener: Arc<dyn NativeEventListener> = Arc::from(listener);
            let id = self.inner.events().add(move |event| listener.on_event(Event::from(event)));
            Ok(count(id.0))
        })
    }

    /// Stops calling a listener.
    pub fn remove_event_listener(&self, id: i64) {
        guard_value((), || self.inner.events().remove(tokenkeep::EventListenerId(u64::try_from(id).unwrap_or(0))))
    }

    /// Stops every background task and waits for them (idempotent). Not named
    /// `close`: the generated class's `close()` is uniffi's `AutoCloseable`.
    pub async fn shutdown(&self) -> Result<(), NativeError> {
        let inner = self.inner.clone();
        guarded(async move {
            inner.close().await;
            Ok(())
        })
        .await
    }

    /// Stops every background task without waiting for them to end (idempotent).
    pub fn close_blocking(&self) -> Result<(), NativeError> {
        guard(|| {
            self.inner.close_blocking();
            Ok(())
        })
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        guard_value(true, || self.inner.is_closed())
    }

    /// The issuers, in configuration order.
    pub fn issuers(&self) -> Vec<String> {
        guard_value(Vec::new(), || self.inner.issuers())
    }
}

/// The token's claims and granted scopes as JSON text, built once per
/// verified token.
struct TokenJson {
    /// Every claim, one JSON object.
    claims: String,
    /// The scopes the token grants (`Claims::scopes()`: `scope`, then `scp`,
    /// each once), one JSON array of strings.
    scopes: String,
}

/// `t`'s claims and scopes as JSON (built once, reused on cache hits).
fn token_json(t: &tokenkeep::VerifiedToken) -> (String, String) {
    t.memo(|v| TokenJson {
        claims: serde_json::Value::Object(v.claims.as_map().clone()).to_string(),
        scopes: serde_json::Value::from(v.claims.scopes()).to_string(),
    })
    .map(|j| (j.claims.clone(), j.scopes.clone()))
    .unwrap_or_else(|| ("{}".to_owned(), "[]".to_owned()))
}

#[uniffi::export]
impl NativeVerifiedToken {
    /// Every value in one crossing, the fast path's shape: `["ok", issuer,
    /// subject, alg, kid, typ, claims JSON, scopes JSON]` (absent values null;
    /// the JSON is built once per token and reused on cache hits).
    pub fn fields(&self) -> Vec<Option<String>> {
        guard_value(Vec::new(), || fast::answer(&self.inner))
    }
}

// ---------------------------------------------------------------------------
// Health, events, metrics: records mirroring the runtime's owned types
// ---------------------------------------------------------------------------

/// Health of one issuer's keys (`tokenkeep::IssuerHealth`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IssuerHealth {
    /// The issuer.
    pub issuer: String,
    /// Cache state (`empty`, `fetching`, `fresh`, `refreshing_ahead`, `stale`, `expired`).
    pub state: String,
    /// Usable keys.
    pub key_count: i64,
    /// Seconds since the last successful fetch (or 304).
    pub age_seconds: Option<f64>,
    /// Seconds until the fresh TTL ends (negative once stale).
    pub fresh_for_seconds: Option<f64>,
    /// Seconds until the next scheduled fetch.
    pub next_fetch_in_seconds: Option<f64>,
    /// Consecutive failed fetches.
    pub consecutive_failures: i32,
    /// Code of the last fetch error, if the last fetch failed.
    pub last_error_code: Option<String>,
    /// Fetch attempts made so far.
    pub fetches: i64,
    /// Of those, the ones a key miss started.
    pub fetches_on_miss: i64,
}

impl From<tokenkeep::IssuerHealth> for IssuerHealth {
    fn from(h: tokenkeep::IssuerHealth) -> Self {
        let c = h.cache;
        IssuerHealth {
            issuer: h.issuer,
            state: c.state.as_str().to_owned(),
            key_count: count(c.key_count as u64),
            age_seconds: c.age_seconds,
            fresh_for_seconds: c.fresh_for_seconds,
            next_fetch_in_seconds: c.next_fetch_in_seconds,
            consecutive_failures: i32::try_from(c.consecutive_failures).unwrap_or(i32::MAX),
            last_error_code: c.last_error_code.map(str::to_owned),
            fetches: count(c.fetches),
            fetches_on_miss: count(c.fetches_on_miss),
        }
    }
}

/// A field of an event (`tokenkeep::FieldValue`).
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    /// Text (already sanitized).
    Text {
        /// The text.
        value: String,
    },
    /// A whole number.
    Int {
        /// The number.
        value: i64,
    },
    /// A number.
    Float {
        /// The number.
        value: f64,
    },
    /// A flag.
    Bool {
        /// The flag.
        value: bool,
    },
    /// A list of texts (not `List`: that would shadow Kotlin's).
    TextList {
        /// The texts.
        values: Vec<String>,
    },
}

impl From<&tokenkeep::FieldValue> for FieldValue {
    fn from(v: &tokenkeep::FieldValue) -> Self {
        match v {
            tokenkeep::FieldValue::Str(s) => FieldValue::Text { value: s.clone() },
            tokenkeep::FieldValue::Int(n) => FieldValue::Int { value: *n },
            tokenkeep::FieldValue::Float(n) => FieldValue::Float { value: *n },
            tokenkeep::FieldValue::Bool(b) => FieldValue::Bool { value: *b },
            tokenkeep::FieldValue::List(l) => FieldValue::TextList { values: l.clone() },
        }
    }
}

/// One event (`tokenkeep::Event`): never a token, a key or a secret.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Event {
    /// Stable name (`jwks_refreshed`, `jwt_validation_failed`, …).
    pub name: String,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The kind of source (`jwks`, `verifier`, …).
    pub source_kind: String,
    /// Which one (the issuer, a credential's name).
    pub source: String,
    /// A one-line message.
    pub message: String,
    /// Structured fields.
    pub fields: HashMap<String, FieldValue>,
}

impl From<&tokenkeep::Event> for Event {
    fn from(e: &tokenkeep::Event) -> Self {
        Event {
            name: e.name.clone(),
            level: e.level.as_str().to_owned(),
            source_kind: e.source_kind.clone(),
            source: e.source.clone(),
            message: e.message.clone(),
            fields: e.fields.iter().map(|(k, v)| (k.clone(), FieldValue::from(v))).collect(),
        }
    }
}

/// Receives a handle's events (implemented on the JVM side).
#[uniffi::export(callback_interface)]
pub trait NativeEventListener: Send + Sync {
    /// One event, on the thread that produced it.
    fn on_event(&self, event: Event);
}

/// A label of a metric sample.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MetricLabel {
    /// Label name.
    pub name: String,
    /// Label value.
    pub value: String,
}

/// A cumulative histogram bucket.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MetricBucket {
    /// Upper bound (`le`), infinite for `+Inf`.
    pub upper_bound: f64,
    /// Observations at or below it.
    pub count: i64,
}

/// One labelled value of a family (`tokenkeep::MetricSample`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MetricSample {
    /// Labels, in a stable order.
    pub labels: Vec<MetricLabel>,
    /// The value (a histogram's sum).
    pub value: f64,
    /// Histogram only: observation count.
    pub count: i64,
    /// Histogram only: cumulative buckets, `+Inf` last.
    pub buckets: Vec<MetricBucket>,
}

/// One metric family (`tokenkeep::MetricFamily`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MetricFamily {
    /// Name (`auth_jwt_invalid_total`, …).
    pub name: String,
    /// One line of help.
    pub help: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// Samples.
    pub samples: Vec<MetricSample>,
}

impl From<tokenkeep::MetricFamily> for MetricFamily {
    fn from(f: tokenkeep::MetricFamily) -> Self {
        MetricFamily {
            name: f.name,
            help: f.help,
            kind: f.kind.as_str().to_owned(),
            samples: f
                .samples
                .into_iter()
                .map(|s| MetricSample {
                    labels: s.labels.into_iter().map(|(name, value)| MetricLabel { name, value }).collect(),
                    value: s.value,
                    count: count(s.count),
                    buckets: s
                        .buckets
                        .into_iter()
                        .map(|(upper_bound, n)| MetricBucket { upper_bound, count: count(n) })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Every metric of this process at this moment.
#[uniffi::export]
pub fn metrics_snapshot() -> Result<Vec<MetricFamily>, NativeError> {
    guard(|| Ok(tokenkeep::metrics_snapshot().families.into_iter().map(MetricFamily::from).collect()))
}

/// The same snapshot in the Prometheus text format.
#[uniffi::export]
pub fn metrics_prometheus_text() -> Result<String, NativeError> {
    guard(|| Ok(tokenkeep::metrics_snapshot().to_prometheus_text()))
}

/// Test-only: panics inside a guarded entry point, to prove a Rust panic
/// reaches the JVM as `internal_error` and nothing unwinds further.
#[uniffi::export]
pub fn debug_panic_for_tests() -> Result<(), NativeError> {
    guard(|| panic!("debug_panic_for_tests: a deliberate panic"))
}

/// Test-only: the same inside a future polled from the JVM.
#[uniffi::export]
pub async fn debug_panic_async_for_tests() -> Result<(), NativeError> {
    guarded(async { panic!("debug_panic_async_for_tests: a deliberate panic") }).await
}
