//! The native half of the npm package `tokenkeep`: newtypes over the
//! runtime's host surface and conversions to and from JavaScript, nothing
//! more. Options arrive as JSON text (the JS object, `JSON.stringify`d) and go
//! to the runtime's spec parser; every rule, code and status comes from the
//! runtime. The JavaScript layer (`lib/`) turns the plain results of this
//! module into `TokenkeepError`s, EventEmitter events and Promises.
//!
//! Every entry point catches unwinding: a panic surfaces as an error with
//! code `internal_error`, never as an abort of the Node process.

#![deny(clippy::all)]

mod outbound;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokenkeep::spec::VerifierSpec;
use tokenkeep::{Event, EventListenerId, FieldValue, Rejection, UnixTime, VerifiedToken};

/// The `code` of an error thrown from here: a tokenkeep code, or (for
/// arguments napi could not convert) the napi status, which the JS layer
/// maps to `invalid_type`.
pub struct Code(String);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Status> for Code {
    fn from(status: Status) -> Self {
        Code(status.as_ref().to_owned())
    }
}

type Failure = napi::Error<Code>;

fn failure(code: &str, message: impl ToString) -> Failure {
    napi::Error::new(Code(code.to_owned()), message)
}

const PANIC_MESSAGE: &str = "internal error in tokenkeep (a bug: please report it)";

fn internal_error() -> Failure {
    failure("internal_error", PANIC_MESSAGE)
}

/// Runs `f`, turning a panic into an `internal_error`.
fn guarded<T>(f: impl FnOnce() -> std::result::Result<T, Failure>) -> std::result::Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(internal_error()))
}

/// A refused option: the code, then the field path after a newline (the JS
/// layer splits them into `code` and `path`); the message is the Display
/// form (`issuers[1].audience: must not be empty`).
fn spec_failure(e: &tokenkeep::spec::SpecError) -> Failure {
    failure(&format!("{}\n{}", e.code().as_str(), e.path()), e)
}

fn napi_failure(e: napi::Error) -> Failure {
    failure(e.status.as_ref(), &e.reason)
}

/// A rejected token, as the JS layer receives it: returned, not thrown, so
/// the hot path builds one plain object and the JS side throws its own class.
#[napi(object)]
pub struct Rejected {
    /// The rejection code (`expired`, `keys_unavailable`, …).
    pub code: String,
    /// The runtime's safe message (never the token).
    pub message: String,
}

impl From<&Rejection> for Rejected {
    fn from(r: &Rejection) -> Self {
        Rejected { code: r.code().as_str().to_owned(), message: r.to_string() }
    }
}

/// The claims of a verified token as JSON text, built once per verified token
/// (a verified-token cache hit reuses it); JS parses it into a fresh object.
fn claims_json(token: &VerifiedToken) -> &str {
    token
        .memo(|v| serde_json::to_string(v.claims.as_map()).unwrap_or_else(|_| "{}".to_owned()))
        .map(String::as_str)
        .unwrap_or("{}")
}

type Verdict = Either<String, Rejected>;

fn verdict(result: std::result::Result<Arc<VerifiedToken>, Rejection>) -> Verdict {
    match result {
        Ok(token) => Either::A(claims_json(&token).to_owned()),
        Err(rejection) => Either::B(Rejected::from(&rejection)),
    }
}

fn unix_time(now: Option<f64>) -> std::result::Result<Option<UnixTime>, Failure> {
    match now {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(UnixTime::from_secs_f64(s))),
        Some(_) => Err(failure("invalid_value", "now: must be Unix seconds (a finite number >= 0)")),
    }
}

/// A future whose panic becomes `Err(())` instead of unwinding into the executor.
struct CatchUnwind<F: Future>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Runs `future` to an answer for JavaScript: polled once here (most
/// verifications and every ready handle answer at once, and then the caller
/// gets the value without a thread hop), otherwise moved to tokenkeep's
/// runtime and settled through a napi deferred from its thread.
fn settle<'env, T, F>(env: &'env Env, future: F) -> std::result::Result<Either<T, Object<'env>>, Failure>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let mut future = CatchUnwind(Box::pin(future));
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(Ok(value)) => return Ok(Either::A(value)),
        Poll::Ready(Err(())) => return Err(internal_error()),
        Poll::Pending => {}
    }
    let (deferred, promise) = env.create_deferred().map_err(napi_failure)?;
    tokenkeep::Runtime::global().spawn(async move {
        match future.await {
            Ok(value) => deferred.resolve(move |_| Ok(value)),
            Err(()) => deferred.reject(napi::Error::new(Status::GenericFailure, PANIC_MESSAGE)),
        }
    });
    Ok(Either::B(promise))
}

/// A request `authenticate` let through: the verified claims (JSON text,
/// the same memo `verify` answers from) and the scopes the runtime found
/// granted (`scope`, then `scp`).
#[napi(object)]
pub struct BearerGrant {
    /// The verified claims as JSON text.
    pub claims: String,
    /// The granted scopes, each once, in order of appearance.
    pub scopes: Vec<String>,
}

/// The runtime's answer to a refused request (`tokenkeep::Denial`).
#[napi(object)]
pub struct BearerDenial {
    /// 401, 403 or 503.
    pub status: u32,
    /// The rejection code, or `insufficient_scope`.
    pub error: String,
    /// The `WWW-Authenticate` challenge (401 and 403).
    pub www_authenticate: Option<String>,
    /// Seconds for `Retry-After` (503).
    pub retry_after: Option<u32>,
}

impl From<tokenkeep::Denial> for BearerDenial {
    fn from(d: tokenkeep::Denial) -> Self {
        BearerDenial {
            status: u32::from(d.status),
            error: d.error.to_owned(),
            www_authenticate: d.www_authenticate,
            retry_after: d.retry_after,
        }
    }
}

type Admission = Either<BearerGrant, BearerDenial>;

fn admission(result: std::result::Result<tokenkeep::Authenticated, tokenkeep::Denial>) -> Admission {
    match result {
        Ok(ok) => Either::A(BearerGrant { claims: claims_json(&ok.token).to_owned(), scopes: ok.scopes }),
        Err(denial) => Either::B(BearerDenial::from(denial)),
    }
}

/// Health of one issuer's keys.
#[napi(object)]
pub struct IssuerHealth {
    /// The issuer.
    pub issuer: String,
    /// `empty`, `fetching`, `fresh`, `refreshing_ahead`, `stale` or `expired`.
    pub state: String,
    /// Usable keys.
    pub key_count: u32,
    /// Seconds since the last successful fetch.
    pub age_seconds: Option<f64>,
    /// Seconds until the fresh TTL ends (negative once stale).
    pub fresh_for_seconds: Option<f64>,
    /// Seconds until the next scheduled fetch.
    pub next_fetch_in_seconds: Option<f64>,
    /// Failed fetches since the last success.
    pub consecutive_failures: u32,
    /// Code of the last fetch error, while the last fetch failed.
    pub last_error_code: Option<String>,
    /// Fetch attempts so far.
    pub fetches: f64,
    /// Of those, the ones a key miss started.
    pub fetches_on_miss: f64,
}

impl From<tokenkeep::IssuerHealth> for IssuerHealth {
    fn from(h: tokenkeep::IssuerHealth) -> Self {
        let c = h.cache;
        IssuerHealth {
            issuer: h.issuer,
            state: c.state.as_str().to_owned(),
            key_count: u32::try_from(c.key_count).unwrap_or(u32::MAX),
            age_seconds: c.age_seconds,
            fresh_for_seconds: c.fresh_for_seconds,
            next_fetch_in_seconds: c.next_fetch_in_seconds,
            consecutive_failures: c.consecutive_failures,
            last_error_code: c.last_error_code.map(str::to_owned),
            fetches: c.fetches as f64,
            fetches_on_miss: c.fetches_on_miss as f64,
        }
    }
}

/// An event as JSON text: `{name, level, sourceKind, source, message, fields}`.
fn event_json(event: &Event) -> String {
    let fields: Map<String, Value> = event
        .fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                FieldValue::Str(s) => Value::from(s.as_str()),
                FieldValue::Int(n) => Value::from(*n),
                FieldValue::Float(x) => Value::from(*x),
                FieldValue::Bool(b) => Value::from(*b),
                FieldValue::List(l) => Value::from(l.clone()),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::json!({
        "name": event.name,
        "level": event.level.as_str(),
        "sourceKind": event.source_kind,
        "source": event.source,
        "message": event.message,
        "fields": fields,
    })
    .to_string()
}

/// Delivers events to a JS callback on the JS thread. Weak: a listener never
/// keeps the process alive.
type EventSink = ThreadsafeFunction<String, (), String, Status, false, true>;

/// The runtime's verifier (`tokenkeep::Verifier`).
#[napi]
pub struct NativeVerifier {
    inner: tokenkeep::Verifier,
    listeners: Vec<EventListenerId>,
}

#[napi]
impl NativeVerifier {
    /// Starts a verifier from the options spec as JSON text.
    #[napi(constructor)]
    pub fn new(spec_json: String) -> std::result::Result<Self, Failure> {
        guarded(|| {
            let spec: VerifierSpec = tokenkeep::spec::from_json(&spec_json).map_err(|e| spec_failure(&e))?;
            let inner = tokenkeep::Verifier::start(&spec).map_err(|e| spec_failure(&e))?;
            Ok(NativeVerifier { inner, listeners: Vec::new() })
        })
    }

    /// Verifies with the keys at hand, never waiting: claims JSON or a rejection.
    #[napi(ts_return_type = "string | Rejected")]
    pub fn verify_sync(&self, token: String, now: Option<f64>) -> std::result::Result<Verdict, Failure> {
        guarded(|| Ok(verdict(self.inner.verify_cached_at(&token, unix_time(now)?))))
    }

    /// Verifies, waiting for one refetch on an unknown kid: the verdict at
    /// once, or a Promise of it.
    #[napi(ts_return_type = "string | Rejected | Promise<string | Rejected>")]
    pub fn verify<'env>(
        &self,
        env: &'env Env,
        token: String,
        now: Option<f64>,
    ) -> std::result::Result<Either<Verdict, Object<'env>>, Failure> {
        guarded(|| {
            let now = unix_time(now)?;
            let verifier = self.inner.clone();
            settle(env, async move {
                let result = match now {
                    Some(now) => verifier.verify_at(&token, now).await,
                    None => verifier.verify(&token).await,
                };
                verdict(result)
            })
        })
    }

    /// HTTP bearer authentication (`Verifier::authenticate`): the token of
    /// `authorization` (an `Authorization` header value, none when absent)
    /// verified and checked for every scope in `scopes`; the grant or the
    /// denial to send, at once or as a Promise.
    #[napi(ts_return_type = "BearerGrant | BearerDenial | Promise<BearerGrant | BearerDenial>")]
    pub fn authenticate<'env>(
        &self,
        env: &'env Env,
        authorization: Option<String>,
        scopes: Vec<String>,
        realm: Option<String>,
    ) -> std::result::Result<Either<Admission, Object<'env>>, Failure> {
        guarded(|| {
            let verifier = self.inner.clone();
            settle(env, async move {
                admission(verifier.authenticate(authorization.as_deref(), &scopes, realm.as_deref()).await)
            })
        })
    }

    /// Whether every issuer has usable keys within `timeout_ms`: at once, or a Promise.
    #[napi(ts_return_type = "boolean | Promise<boolean>")]
    pub fn ready<'env>(
        &self,
        env: &'env Env,
        timeout_ms: f64,
    ) -> std::result::Result<Either<bool, Object<'env>>, Failure> {
        guarded(|| {
            if !timeout_ms.is_finite() || timeout_ms < 0.0 {
                return Err(failure("invalid_value", "timeoutMs: must be a finite number >= 0"));
            }
            let verifier = self.inner.clone();
            let timeout = Duration::from_secs_f64(timeout_ms.min(1e12) / 1000.0);
            settle(env, async move { verifier.ready(timeout).await })
        })
    }

    /// Health of every issuer's keys.
    #[napi]
    pub fn health(&self) -> std::result::Result<Vec<IssuerHealth>, Failure> {
        guarded(|| Ok(self.inner.health().into_iter().map(IssuerHealth::from).collect()))
    }

    /// Asks every fetched issuer for its keys now (the miss cooldown applies).
    #[napi]
    pub fn refresh(&self) -> std::result::Result<bool, Failure> {
        guarded(|| Ok(self.inner.refresh()))
    }

    /// The issuers, in configuration order.
    #[napi]
    pub fn issuers(&self) -> std::result::Result<Vec<String>, Failure> {
        guarded(|| Ok(self.inner.issuers()))
    }

    /// How many times an issuer's key set changed.
    #[napi]
    pub fn rotations(&self) -> std::result::Result<f64, Failure> {
        guarded(|| Ok(self.inner.rotations().count() as f64))
    }

    /// Whether `close()` was called.
    #[napi]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Stops the background tasks (idempotent): at once, or a Promise.
    #[napi(ts_return_type = "void | Promise<void>")]
    pub fn close<'env>(&mut self, env: &'env Env) -> std::result::Result<Either<(), Object<'env>>, Failure> {
        guarded(|| {
            for id in self.listeners.drain(..) {
                self.inner.events().remove(id);
            }
            let verifier = self.inner.clone();
            settle(env, async move { verifier.close().await })
        })
    }

    /// Forwards every event of this verifier to `callback` (JSON text), on
    /// the JS thread; returns an id for `unsubscribe`.
    #[napi(ts_args_type = "callback: (eventJson: string) => void")]
    pub fn subscribe(&mut self, callback: Function<String, ()>) -> std::result::Result<u32, Failure> {
        guarded(|| {
            let sink: EventSink = callback
                .build_threadsafe_function::<String>()
                .callee_handled::<false>()
                .weak::<true>()
                .build()
                .map_err(napi_failure)?;
            let id = self.inner.events().add(move |event| {
                sink.call(event_json(event), ThreadsafeFunctionCallMode::NonBlocking);
            });
            self.listeners.push(id);
            Ok(u32::try_from(id.0).unwrap_or(u32::MAX))
        })
    }

    /// Stops forwarding to a callback given to `subscribe`.
    #[napi]
    pub fn unsubscribe(&mut self, id: u32) {
        let id = EventListenerId(u64::from(id));
        self.listeners.retain(|l| *l != id);
        self.inner.events().remove(id);
    }
}

impl Drop for NativeVerifier {
    fn drop(&mut self) {
        // Other clones of the runtime verifier (a pending verify) may outlive
        // this object; its callbacks must not.
        for id in self.listeners.drain(..) {
            self.inner.events().remove(id);
        }
    }
}

/// The HTTP status the runtime gives each rejection code (`keys_unavailable`
/// 503, the rest 401).
#[napi]
pub fn http_statuses() -> HashMap<String, u32> {
    tokenkeep::RejectionCode::ALL.iter().map(|c| (c.as_str().to_owned(), u32::from(c.http_status()))).collect()
}

/// One labelled value of a metric family.
#[napi(object)]
pub struct MetricSample {
    /// Label names and values.
    pub labels: HashMap<String, String>,
    /// The value (a histogram's sum).
    pub value: f64,
    /// Histogram only: observation count.
    pub count: f64,
    /// Histogram only: cumulative counts per upper bound, `Infinity` last.
    pub buckets: Vec<MetricBucket>,
}

/// One cumulative histogram bucket.
#[napi(object)]
pub struct MetricBucket {
    /// Upper bound (`le`).
    pub le: f64,
    /// Observations at or below it.
    pub count: f64,
}

/// One metric family.
#[napi(object)]
pub struct MetricFamily {
    /// Its name, the same on every host.
    pub name: String,
    /// One line of help.
    pub help: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// Its samples.
    pub samples: Vec<MetricSample>,
}

/// The process-wide metrics of every tokenkeep handle, now.
#[napi]
pub fn metrics_snapshot() -> std::result::Result<Vec<MetricFamily>, Failure> {
    guarded(|| {
        Ok(tokenkeep::metrics_snapshot()
            .families
            .into_iter()
            .map(|f| MetricFamily {
                name: f.name,
                help: f.help,
                kind: f.kind.as_str().to_owned(),
                samples: f
                    .samples
                    .into_iter()
                    .map(|s| MetricSample {
                        labels: s.labels.into_iter().collect(),
                        value: s.value,
                        count: s.count as f64,
                        buckets: s.buckets.into_iter().map(|(le, n)| MetricBucket { le, count: n as f64 }).collect(),
                    })
                    .collect(),
            })
            .collect())
    })
}

/// The Prometheus text of [`metrics_snapshot`].
#[napi]
pub fn metrics_text() -> std::result::Result<String, Failure> {
    guarded(|| Ok(tokenkeep::metrics_snapshot().to_prometheus_text()))
}

/// Test only: panics inside a guarded entry point (must become `internal_error`).
#[napi(js_name = "_debugPanic")]
pub fn debug_panic() -> std::result::Result<(), Failure> {
    guarded(|| panic!("tokenkeep: _debugPanic was called"))
}

/// Test only: panics inside a future that runs on tokenkeep's runtime.
#[napi(js_name = "_debugPanicAsync", ts_return_type = "Promise<void>")]
pub fn debug_panic_async<'env>(env: &'env Env) -> std::result::Result<Either<(), Object<'env>>, Failure> {
    guarded(|| {
        settle(env, async {
            tokenkeep_yield().await;
            panic!("tokenkeep: _debugPanicAsync was called")
        })
    })
}

/// Returns Pending once, so the panic happens on the runtime's thread.
async fn tokenkeep_yield() {
    let mut first = true;
    std::future::poll_fn(move |cx| {
        if std::mem::take(&mut first) {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}
