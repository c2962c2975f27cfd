//! The verifier every host wraps: several issuers, each with its policy and a
//! self-refreshing key cache driven by a background task, a verified-token
//! cache in front, and the host surface's shape (start from a spec, a
//! non-blocking read, `ready`, `health`, rotations, `refresh`, `close`).

use crate::clock;
use crate::events::{Event, Level, Listeners};
use crate::host::{self, Place, Runtime, Task};
use crate::http::{HttpClient, HttpConfigError, HttpOptions};
use crate::keys::{self, KeyStore};
use crate::metrics_registry::{self, GaugeSource};
use crate::signal::Rotations;
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokenkeep_core::jwks::{
    self, CacheConfig, CacheHealth, Check, JwksCache, KeySnapshot, KeySource, KeyStatus, MissDecision, SourceError,
};
use tokenkeep_core::spec::{KeysPlan, SpecError, SpecErrorCode, VerifierPlan, VerifierSpec};
use tokenkeep_core::token_cache::TokenCache;
use tokenkeep_core::{KeySet, ParsedToken, Policy, Rejection, UnixTime, Verified};
use tokio_util::sync::CancellationToken;

/// Where an issuer's keys come from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Keys {
    /// OIDC discovery at the policy's first issuer.
    Discovery,
    /// This JWKS URL.
    JwksUrl(String),
    /// Keys given once (tests, air-gapped setups).
    Static(Arc<KeySet>),
}

/// One issuer: whose tokens, under which policy, with keys from where.
#[derive(Clone, Debug)]
pub struct IssuerConfig {
    /// The policy; its issuers decide which tokens this entry handles.
    pub policy: Policy,
    /// Where keys come from.
    pub keys: Keys,
    /// Transport options (CA file, bearer token file, resolve override…).
    pub http: HttpOptions,
    /// Cache tunables.
    pub cache: CacheConfig,
}

impl IssuerConfig {
    /// Tokens from `issuer`, keys from its OIDC discovery document.
    pub fn discovery(issuer: impl Into<String>) -> IssuerConfig {
        IssuerConfig::new(Policy::new(issuer), Keys::Discovery)
    }

    /// Tokens from `issuer`, keys from `jwks_url`.
    pub fn jwks_url(issuer: impl Into<String>, jwks_url: impl Into<String>) -> IssuerConfig {
        IssuerConfig::new(Policy::new(issuer), Keys::JwksUrl(jwks_url.into()))
    }

    /// A policy and a key source with default transport and cache settings.
    pub fn new(policy: Policy, keys: Keys) -> IssuerConfig {
        IssuerConfig { policy, keys, http: HttpOptions::default(), cache: CacheConfig::default() }
    }

    /// Replace the policy (keep the issuer in it).
    pub fn with_policy(mut self, policy: Policy) -> IssuerConfig {
        self.policy = policy;
        self
    }

    /// Require `aud` to contain `audience`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> IssuerConfig {
        self.policy = self.policy.with_audience(audience);
        self
    }

    /// Transport options.
    pub fn with_http(mut self, http: HttpOptions) -> IssuerConfig {
        self.http = http;
        self
    }

    /// Cache tunables.
    pub fn with_cache(mut self, cache: CacheConfig) -> IssuerConfig {
        self.cache = cache;
        self
    }

    fn source(&self) -> Result<KeySource, SourceError> {
        let name = self.policy.issuers().first().cloned().unwrap_or_default();
        let allow_http = self.cache.dangerous_allow_http;
        match &self.keys {
            Keys::Discovery if allow_http => KeySource::dangerous_oidc_issuer_allow_http(&name),
            Keys::Discovery => KeySource::oidc_issuer(&name),
            Keys::JwksUrl(url) if allow_http => KeySource::dangerous_jwks_url_allow_http(url.clone()),
            Keys::JwksUrl(url) => KeySource::jwks_url(url.clone()),
            Keys::Static(keys) => Ok(KeySource::from_keys(keys.clone())),
        }
    }
}

/// A verifier that cannot be built from [`IssuerConfig`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer configured.
    NoIssuer,
    /// A key source URL is not acceptable.
    Source(SourceError),
    /// Transport options are not usable.
    Http(HttpConfigError),
}

impl ConfigError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::NoIssuer => "no_issuer",
            ConfigError::Source(e) => e.code(),
            ConfigError::Http(e) => e.code(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoIssuer => f.write_str("a verifier needs at least one issuer"),
            ConfigError::Source(e) => write!(f, "key source: {e}"),
            ConfigError::Http(e) => write!(f, "transport: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Health of one issuer's keys.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerHealth {
    /// The issuer (the policy's first).
    pub issuer: String,
    /// The cache's health.
    pub cache: CacheHealth,
}

/// A token that verified, as the verifier hands it out (shared, cheap to
/// clone; a verified-token cache hit returns the same one again).
pub struct VerifiedToken {
    verified: Verified,
    issuer: Arc<str>,
    memo: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl std::ops::Deref for VerifiedToken {
    type Target = Verified;
    fn deref(&self) -> &Verified {
        &self.verified
    }
}

impl std::fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedToken").field("issuer", &self.issuer).field("verified", &self.verified).finish()
    }
}

impl VerifiedToken {
    /// The issuer entry (its first issuer) that verified it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The verification result.
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    /// A value a host derives once per verified token (a binding's native
    /// claims object): built by `make` on first use, then reused on every
    /// cache hit of the same token. Rules stay the core's: whether the token
    /// is still valid is decided before this is reached.
    pub fn memo<T: Any + Send + Sync>(&self, make: impl FnOnce(&Verified) -> T) -> Option<&T> {
        self.memo.get_or_init(|| Box::new(make(&self.verified))).downcast_ref::<T>()
    }

    /// The value [`VerifiedToken::memo`] stored, without ever building one.
    /// For hosts whose `make` runs foreign code that may wait on a lock the
    /// caller holds (Python: building objects can run finalizers that let
    /// another thread take the GIL, which would then block in `memo` while
    /// holding it): build outside, then store with `memo(|_| built)`.
    pub fn memoized<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.memo.get()?.downcast_ref::<T>()
    }
}

struct Issuer {
    policy: Policy,
    store: Arc<KeyStore>,
    /// The store's name, shared by every token it verifies (no copy per token).
    name: Arc<str>,
    fetched: bool,
}

/// The verified-token cache, sharded so threads rarely meet on one lock.
struct TokenShards {
    shards: Box<[Mutex<TokenCache<Arc<VerifiedToken>>>]>,
}

const TOKEN_SHARDS: usize = 8;

impl TokenShards {
    fn new(capacity: usize) -> Option<TokenShards> {
        if capacity == 0 {
            return None;
        }
        let per = capacity.div_ceil(TOKEN_SHARDS);
        let shards = (0..TOKEN_SHARDS).map(|_| Mutex::new(TokenCache::new(per, clock::seed()))).collect();
        Some(TokenShards { shards })
    }

    fn shard(&self, token: &str) -> &Mutex<TokenCache<Arc<VerifiedToken>>> {
        // The signature's last byte is as good as random and costs nothing;
        // the shard's own map then hashes the whole token with a keyed hash.
        let b = token.as_bytes().last().copied().unwrap_or(0);
        &self.shards[usize::from(b) % self.shards.len()]
    }
}

struct Inner {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
    tokens: Option<TokenShards>,
    tasks: Vec<Arc<Task>>,
    cancel: CancellationToken,
    rotations: Rotations,
    listeners: Listeners,
    closed: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl GaugeSource for Inner {
    fn gauges(&self, out: &mut Vec<metrics_registry::GaugeRow>) {
        for issuer in &self.issuers {
            let health = issuer.store.health();
            let labels = vec![("issuer".to_owned(), issuer.store.name.clone())];
            if let Some(age) = health.age_seconds {
                out.push(("jwks_cache_age_seconds", labels.clone(), age));
            }
            out.push(("jwks_keys", labels, health.key_count as f64));
        }
    }
}

/// Verifies tokens of several issuers; cheap to clone and share.
///
/// `verify` never waits while usable keys exist; it waits for one refetch only
/// when a token names a key the cache does not have (bounded by the cooldown
/// and the request timeout). `verify_cached` never waits. Both answer from the
/// verified-token cache first when the exact token verified before.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("issuers", &self.issuers()).finish()
    }
}

/// One step of a verification: an answer, or a refetch to wait for.
enum Step {
    Done(Result<Arc<VerifiedToken>, Rejection>),
    Wait { issuer: usize, after: u64, rejection: Rejection },
}

impl Verifier {
    /// Builds the verifier and starts one key-refresh task per fetched source:
    /// on the current tokio runtime when called inside one, else on
    /// tokenkeep's own ([`Runtime::global`]).
    pub fn new(issuers: Vec<IssuerConfig>) -> Result<Verifier, ConfigError> {
        Verifier::build(issuers, crate::DEFAULT_VERIFIED_TOKENS, Place::current(), Listeners::default())
    }

    /// Starts a verifier from the options spec (what every binding passes).
    pub fn start(spec: &VerifierSpec) -> Result<Verifier, SpecError> {
        Verifier::start_at(spec, Place::current())
    }

    /// Like [`Verifier::start`], with its tasks on `runtime`.
    pub fn start_on(runtime: &Arc<Runtime>, spec: &VerifierSpec) -> Result<Verifier, SpecError> {
        Verifier::start_at(spec, Place::Owned(runtime.clone()))
    }

    /// Like [`Verifier::start_on`], with callbacks registered before its
    /// first fetch starts: a host that forwards every event (Python's
    /// `logging` bridge) then sees the first `jwks_refreshed` too, which a
    /// callback added after `start` returns can miss.
    pub fn start_on_with_listeners(
        runtime: &Arc<Runtime>,
        spec: &VerifierSpec,
        listeners: Listeners,
    ) -> Result<Verifier, SpecError> {
        Verifier::start_with(spec, Place::Owned(runtime.clone()), listeners)
    }

    fn start_at(spec: &VerifierSpec, place: Place) -> Result<Verifier, SpecError> {
        Verifier::start_with(spec, place, Listeners::default())
    }

    fn start_with(spec: &VerifierSpec, place: Place, listeners: Listeners) -> Result<Verifier, SpecError> {
        let VerifierPlan { issuers, verified_tokens } = spec.validate()?;
        let mut configs = Vec::with_capacity(issuers.len());
        for (i, plan) in issuers.into_iter().enumerate() {
            let at = if spec.issuers.is_some() { format!("issuers[{i}].http") } else { "http".to_owned() };
            let mut http = crate::spec::http_options(&plan.http, &at)?;
            http.dangerous_allow_http = plan.cache.dangerous_allow_http;
            // Checked as the verifier will build it: for the source's origin.
            if let KeysPlan::Fetched(source) = &plan.keys {
                if let Some((url, _)) = source.url() {
                    HttpClient::for_origin(&http, url).map_err(|e| crate::spec::http_error(&e, &at))?;
                }
            }
            let keys = match plan.keys {
                KeysPlan::Static(keys) => Keys::Static(keys),
                KeysPlan::Fetched(source) => match source.url() {
                    Some((url, true)) => Keys::JwksUrl(url.to_owned()),
                    _ => Keys::Discovery,
                },
                _ => Keys::Discovery,
            };
            configs.push(IssuerConfig { policy: plan.policy, keys, http, cache: plan.cache });
        }
        Verifier::build(configs, verified_tokens, place, listeners).map_err(|e| match e {
            ConfigError::Http(h) => crate::spec::http_error(&h, "http"),
            other => SpecError::new("", SpecErrorCode::InvalidValue, other.to_string()),
        })
    }

    fn build(
        issuers: Vec<IssuerConfig>,
        verified_tokens: usize,
        place: Place,
        listeners: Listeners,
    ) -> Result<Verifier, ConfigError> {
        if issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        let cancel = CancellationToken::new();
        let rotations = Rotations::new();
        let mut built = Vec::new();
        let mut fetched = Vec::new();
        for config in issuers {
            let name = config.policy.issuers().first().cloned().unwrap_or_default();
            // Either switch allows plain http, for the cache's URL checks and the client's alike.
            let allow_http = config.cache.dangerous_allow_http || config.http.dangerous_allow_http;
            let mut config = config;
            config.cache.dangerous_allow_http = allow_http;
            config.http.dangerous_allow_http = allow_http;
            let source = config.source().map_err(ConfigError::Source)?;
            let is_static = source.is_static();
            // The configured URL is the origin the transport's credentials (a
            // bearer token) may go to; a jwks_uri elsewhere gets none.
            let origin = source.url().map(|(url, _)| url.to_owned());
            let cache = JwksCache::new(source, config.cache, clock::seed(), clock::now());
            let store = KeyStore::new(name, cache, rotations.clone(), listeners.clone());
            if let Some(origin) = origin {
                let client = HttpClient::for_origin(&config.http, &origin).map_err(ConfigError::Http)?;
                fetched.push((store.clone(), client, config.http, origin));
            }
            let name = Arc::from(store.name.as_str());
            built.push(Issuer { policy: config.policy, store, name, fetched: !is_static });
        }
        let tasks = fetched
            .into_iter()
            .map(|(store, client, http, origin)| {
                let cancel = cancel.clone();
                // The first run uses the client built (and checked) above; a
                // run after fork() builds its own, since pooled connections
                // belong to the parent's runtime.
                let first = Mutex::new(Some(client));
                Task::start(place.clone(), move || {
                    let client = host::lock(&first).take();
                    let client = match client {
                        Some(c) => c,
                        None => {
                            store.forget_in_flight();
                            HttpClient::for_origin(&http, &origin).unwrap_or_else(|_| HttpClient::fallback())
                        }
                    };
                    keys::run(store.clone(), client, cancel.clone())
                })
            })
            .collect();
        let max_token_bytes = built.iter().map(|i| i.policy.max_token_bytes()).max().unwrap_or(0);
        let inner = Arc::new(Inner {
            issuers: built,
            max_token_bytes,
            tokens: TokenShards::new(verified_tokens),
            tasks,
            cancel,
            rotations,
            listeners,
            closed: AtomicBool::new(false),
        });
        metrics_registry::register_source(Arc::downgrade(&(inner.clone() as Arc<dyn GaugeSource>)));
        Ok(Verifier { inner })
    }

    /// The issuers, in configuration order.
    pub fn issuers(&self) -> Vec<String> {
        self.inner.issuers.iter().map(|i| i.store.name.clone()).collect()
    }

    /// Verifies `token` with the keys at hand, waiting for one refetch only
    /// when that may turn the answer (unknown kid, a replaced key, no keys
    /// yet). The future runs on any executor.
    pub async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, Rejection> {
        self.verify_at_inner(token, None).await
    }

    /// [`Verifier::verify`] with the token's time rules checked at `now`
    /// (keys still follow the real clock).
    pub async fn verify_at(&self, token: &str, now: UnixTime) -> Result<Arc<VerifiedToken>, Rejection> {
        self.verify_at_inner(token, Some(now)).await
    }

    async fn verify_at_inner(&self, token: &str, now: Option<UnixTime>) -> Result<Arc<VerifiedToken>, Rejection> {
        let started = clock::Started::now();
        let result = match self.step(token, now, true, started.unix()) {
            Step::Done(r) => r,
            Step::Wait { issuer, after, rejection } => {
                let store = &self.inner.issuers[issuer].store;
                store.generation.wait(after, store.miss_budget()).await;
                self.after_wait(token, now, rejection)
            }
        };
        self.record(token, &result, started);
        result
    }

    /// The blocking twin of [`Verifier::verify`], for plain threads (it
    /// blocks the caller while a refetch runs, never a runtime thread).
    pub fn verify_blocking(&self, token: &str, now: Option<UnixTime>) -> Result<Arc<VerifiedToken>, Rejection> {
        let started = clock::Started::now();
        let result = match self.step(token, now, true, started.unix()) {
            Step::Done(r) => r,
            Step::Wait { issuer, after, rejection } => {
                let store = &self.inner.issuers[issuer].store;
                store.generation.wait_blocking(after, store.miss_budget());
                self.after_wait(token, now, rejection)
            }
        };
        self.record(token, &result, started);
        result
    }

    /// Verifies with the keys at hand and never waits: a miss is final.
    pub fn verify_cached(&self, token: &str) -> Result<Arc<VerifiedToken>, Rejection> {
        self.verify_cached_at(token, None)
    }

    /// [`Verifier::verify_cached`] with the token's time rules checked at `now`.
    pub fn verify_cached_at(&self, token: &str, now: Option<UnixTime>) -> Result<Arc<VerifiedToken>, Rejection> {
        let started = clock::Started::now();
        let result = match self.step(token, now, false, started.unix()) {
            Step::Done(r) => r,
            Step::Wait { rejection, .. } => Err(rejection),
        };
        self.record(token, &result, started);
        result
    }

    fn record(&self, token: &str, result: &Result<Arc<VerifiedToken>, Rejection>, started: clock::Started) {
        let seconds = started.elapsed_secs();
        crate::telemetry::record_verification(result.as_ref().map(|_| ()).map_err(Rejection::code), seconds);
        if let Err(rejection) = result {
            if self.inner.listeners.any() {
                self.inner.listeners.emit(&rejection_event(token, rejection));
            }
        }
    }

    /// Parses `token`. With one issuer, `only` is its snapshot and the token
    /// is parsed against that key set's header cache (several issuers route
    /// by `iss` before a key set is known).
    fn parse<'t>(&self, token: &'t str, only: Option<&'t KeySnapshot>) -> Result<ParsedToken<'t>, Rejection> {
        let max = self.inner.max_token_bytes;
        match only.and_then(KeySnapshot::keys) {
            Some(keys) => tokenkeep_core::parse_with_cache(token, max, keys.header_cache()),
            None => tokenkeep_core::parse(token, max),
        }
    }

    fn cached(&self, token: &str, token_now: UnixTime, keys_now: UnixTime) -> Option<Arc<VerifiedToken>> {
        let tokens = self.inner.tokens.as_ref()?;
        let issuers = &self.inner.issuers;
        host::lock(tokens.shard(token)).get(token, token_now, |issuer, key, seen| {
            let snapshot = issuers.get(issuer)?.store.snapshot();
            let keys = snapshot.usable_keys(keys_now)?;
            (snapshot.generation() == seen || TokenCache::<()>::key_in(keys, key)).then_some(snapshot.generation())
        })
    }

    /// The non-blocking part of every verification, at `keys_now` (the
    /// clock read once by the caller).
    fn step(&self, token: &str, now: Option<UnixTime>, may_fetch: bool, keys_now: UnixTime) -> Step {
        let token_now = now.unwrap_or(keys_now);
        if let Some(hit) = self.cached(token, token_now, keys_now) {
            return Step::Done(Ok(hit));
        }
        let only = match &self.inner.issuers[..] {
            [issuer] => Some(issuer.store.snapshot_guard()),
            _ => None,
        };
        // Parsed in place and routed by reference: the parsed token is a few
        // hundred bytes, and every move of it is a copy.
        let parsed = match self.parse(token, only.as_deref().map(|arc| &**arc)) {
            Ok(parsed) => parsed,
            Err(r) => return Step::Done(Err(r)),
        };
        let index = match tokenkeep_core::verifier::route(&parsed, self.inner.issuers.iter().map(|i| &i.policy)) {
            Ok(index) => index,
            Err(r) => return Step::Done(Err(r)),
        };
        let store = &self.inner.issuers[index].store;
        let loaded;
        let snapshot = match &only {
            Some(guard) => &**guard,
            None => {
                loaded = store.snapshot();
                &loaded
            }
        };
        if snapshot.status(keys_now) != KeyStatus::Fresh {
            // Keys past their fresh TTL mean the IdP is failing, or this
            // process forked and the refresh task is gone: make sure of the latter.
            self.ensure_tasks();
        }
        match jwks::check_parsed_at(snapshot, parsed, &self.inner.issuers[index].policy, keys_now, token_now) {
            Check::Verified(v) => Step::Done(Ok(self.remember(token, index, snapshot.generation(), v))),
            Check::Rejected(r) => Step::Done(Err(r)),
            Check::Miss(miss) if may_fetch => {
                self.ensure_tasks();
                match store.decide_miss(&miss) {
                    MissDecision::Reject(r) => Step::Done(Err(r)),
                    MissDecision::WaitForGeneration(after) => {
                        Step::Wait { issuer: index, after, rejection: miss.rejection }
                    }
                }
            }
            Check::Miss(miss) => Step::Done(Err(miss.rejection)),
        }
    }

    /// After waiting for a refetch: check once more and take that answer.
    fn after_wait(
        &self,
        token: &str,
        now: Option<UnixTime>,
        rejection: Rejection,
    ) -> Result<Arc<VerifiedToken>, Rejection> {
        match self.step(token, now, false, clock::now()) {
            Step::Done(r) => r,
            Step::Wait { .. } => Err(rejection),
        }
    }

    fn remember(&self, token: &str, issuer: usize, generation: u64, verified: Verified) -> Arc<VerifiedToken> {
        let value = Arc::new(VerifiedToken {
            verified,
            issuer: self.inner.issuers[issuer].name.clone(),
            memo: OnceLock::new(),
        });
        if let Some(tokens) = &self.inner.tokens {
            host::lock(tokens.shard(token)).insert(token, issuer, &value.verified, generation, value.clone());
        }
        value
    }

    fn ensure_tasks(&self) {
        for task in &self.inner.tasks {
            host::Respawn::respawn_if_forked(task.as_ref());
        }
    }

    /// Waits until every issuer has usable keys, or `timeout`; true when
    /// ready. Call it at start-up so the first requests are not answered 503.
    pub async fn ready(&self, timeout: Duration) -> bool {
        self.ensure_tasks();
        // One deadline for all: n slow issuers must not make this wait n times.
        let deadline = Instant::now() + timeout;
        for issuer in &self.inner.issuers {
            while !issuer.store.is_ready() {
                let seen = issuer.store.generation.count();
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || self.is_closed() {
                    return false;
                }
                issuer.store.generation.wait(seen, left).await;
            }
        }
        true
    }

    /// The blocking twin of [`Verifier::ready`].
    pub fn ready_blocking(&self, timeout: Duration) -> bool {
        self.ensure_tasks();
        let deadline = Instant::now() + timeout;
        for issuer in &self.inner.issuers {
            while !issuer.store.is_ready() {
                let seen = issuer.store.generation.count();
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || self.is_closed() {
                    return false;
                }
                issuer.store.generation.wait_blocking(seen, left);
            }
        }
        true
    }

    /// Health of every issuer's keys.
    pub fn health(&self) -> Vec<IssuerHealth> {
        self.ensure_tasks();
        self.inner
            .issuers
            .iter()
            .map(|i| IssuerHealth { issuer: i.store.name.clone(), cache: i.store.health() })
            .collect()
    }

    /// Moves whenever an issuer's key set changes (keys added or removed).
    pub fn rotations(&self) -> Rotations {
        self.inner.rotations.clone()
    }

    /// Callbacks for this verifier's events (`jwks_refreshed`,
    /// `jwks_refresh_failed`, `jwt_validation_failed`, …).
    pub fn events(&self) -> &Listeners {
        &self.inner.listeners
    }

    /// Asks every fetched issuer for its keys now. The miss cooldown still
    /// applies (at most one such fetch per 30 s by default); returns whether
    /// a fetch runs for every issuer that fetches.
    pub fn refresh(&self) -> bool {
        self.ensure_tasks();
        // Every issuer is asked, whatever the others answered.
        let started: Vec<bool> =
            self.inner.issuers.iter().filter(|i| i.fetched).map(|i| i.store.request_refresh()).collect();
        started.into_iter().all(|s| s)
    }

    /// Whether [`Verifier::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Stops every background task and waits for them to end. Idempotent;
    /// verification keeps working with the keys at hand (no refetch).
    pub async fn close(&self) {
        if self.begin_close() {
            for task in &self.inner.tasks {
                if let Some(join) = task.take_join() {
                    let _ = host::with_timeout(Duration::from_secs(5), join).await;
                }
            }
        }
    }

    /// The blocking twin of [`Verifier::close`].
    pub fn close_blocking(&self) {
        if self.begin_close() {
            for task in &self.inner.tasks {
                if let Some(join) = task.take_join() {
                    // The task ends at its next await point; nothing to wait on here.
                    drop(join);
                }
            }
        }
    }

    /// Same as [`Verifier::close`].
    pub async fn shutdown(&self) {
        self.close().await;
    }

    fn begin_close(&self) -> bool {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.inner.cancel.cancel();
        self.inner.rotations.close();
        for issuer in &self.inner.issuers {
            issuer.store.generation.close();
        }
        true
    }
}

/// The `jwt_validation_failed` event: reason, kid and issuer, sanitized and
/// truncated; never the token.
fn rejection_event(token: &str, rejection: &Rejection) -> Event {
    let (kid, iss, alg) = match tokenkeep_core::decode_unverified(token) {
        Ok(t) => (
            t.header.get("kid").and_then(|v| v.as_str()).map(tokenkeep_core::rejection::sanitize),
            t.claims.get("iss").and_then(|v| v.as_str()).map(tokenkeep_core::rejection::sanitize),
            t.header.get("alg").and_then(|v| v.as_str()).map(tokenkeep_core::rejection::sanitize),
        ),
        Err(_) => (None, None, None),
    };
    Event::new("jwt_validation_failed", Level::Info, "verifier", iss.as_deref().unwrap_or(""), "token rejected")
        .with("reason", rejection.code().as_str())
        .with("detail", rejection.to_string())
        .with_opt("kid", kid)
        .with_opt("issuer", iss)
        .with_opt("alg", alg)
}
