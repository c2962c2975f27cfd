//! The verifier Rust services hold: several issuers, each with its policy and
//! a self-refreshing key cache driven by a background task.

use crate::clock;
use crate::http::{HttpClient, HttpConfigError, HttpOptions};
use crate::keys::{self, KeyStore};
use crate::telemetry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokenkeep_core::jwks::{self, CacheConfig, CacheHealth, Check, JwksCache, KeySource, SourceError};
use tokenkeep_core::{KeySet, Policy, Rejection, Verified};
use tokio::task::JoinHandle;
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
}

/// A verifier that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer configured.
    NoIssuer,
    /// A key source URL is not acceptable.
    Source(SourceError),
    /// Transport options are not usable.
    Http(HttpConfigError),
    /// Not called inside a tokio runtime.
    NoRuntime,
}

impl ConfigError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::NoIssuer => "no_issuer",
            ConfigError::Source(e) => e.code(),
            ConfigError::Http(e) => e.code(),
            ConfigError::NoRuntime => "no_tokio_runtime",
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoIssuer => f.write_str("a verifier needs at least one issuer"),
            ConfigError::Source(e) => write!(f, "key source: {e}"),
            ConfigError::Http(e) => write!(f, "transport: {e}"),
            ConfigError::NoRuntime => f.write_str("Verifier::new must be called inside a tokio runtime"),
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

struct Issuer {
    policy: Policy,
    store: Arc<KeyStore>,
}

struct Inner {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
    cancel: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Verifies tokens of several issuers; cheap to clone and share.
///
/// `verify` never waits while usable keys exist; it waits for one refetch only
/// when a token names a key the cache does not have (bounded by the cooldown
/// and the request timeout).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("issuers", &self.issuers()).finish()
    }
}

impl Verifier {
    /// Builds the verifier and starts one key-refresh task per fetched source
    /// on the current tokio runtime.
    pub fn new(issuers: Vec<IssuerConfig>) -> Result<Verifier, ConfigError> {
        if issuers.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let cancel = CancellationToken::new();
        let mut built = Vec::new();
        let mut pending = Vec::new();
        for config in issuers {
            let name = config.policy.issuers().first().cloned().unwrap_or_default();
            let allow_http = config.cache.dangerous_allow_http;
            let source = match config.keys {
                Keys::Discovery if allow_http => KeySource::dangerous_oidc_issuer_allow_http(&name),
                Keys::Discovery => KeySource::oidc_issuer(&name),
                Keys::JwksUrl(url) if allow_http => KeySource::dangerous_jwks_url_allow_http(url),
                Keys::JwksUrl(url) => KeySource::jwks_url(url),
                Keys::Static(keys) => Ok(KeySource::Static(keys)),
            }
            .map_err(ConfigError::Source)?;
            let is_static = matches!(source, KeySource::Static(_));
            let client = HttpClient::new(&config.http).map_err(ConfigError::Http)?;
            let cache = JwksCache::new(source, config.cache, clock::seed(), clock::now());
            let store = KeyStore::new(name, cache);
            if !is_static {
                pending.push((store.clone(), client));
            }
            built.push(Issuer { policy: config.policy, store });
        }
        let tasks = pending
            .into_iter()
            .map(|(store, client)| runtime.spawn(keys::run(store, client, cancel.clone())))
            .collect();
        let max_token_bytes = built.iter().map(|i| i.policy_max_bytes()).max().unwrap_or(0);
        Ok(Verifier { inner: Arc::new(Inner { issuers: built, max_token_bytes, cancel, tasks: Mutex::new(tasks) }) })
    }

    /// The issuers, in configuration order.
    pub fn issuers(&self) -> Vec<String> {
        self.inner.issuers.iter().map(|i| i.store.name.clone()).collect()
    }

    fn route<'t>(&self, token: &'t str) -> Result<(tokenkeep_core::ParsedToken<'t>, &Issuer), Rejection> {
        let parsed = tokenkeep_core::parse(token, self.inner.max_token_bytes)?;
        let index = tokenkeep_core::verifier::route(&parsed, self.inner.issuers.iter().map(|i| &i.policy))?;
        Ok((parsed, &self.inner.issuers[index]))
    }

    /// Verifies `token` with the keys at hand, waiting for one refetch only
    /// when that may turn the answer (unknown kid, a replaced key, no keys yet).
    pub async fn verify(&self, token: &str) -> Result<Verified, Rejection> {
        let started = Instant::now();
        let result = self.verify_inner(token).await;
        telemetry::record_verification(
            result.as_ref().map(|_| ()).map_err(Rejection::code),
            started.elapsed().as_secs_f64(),
        );
        result
    }

    async fn verify_inner(&self, token: &str) -> Result<Verified, Rejection> {
        let (parsed, issuer) = self.route(token)?;
        match jwks::check_parsed(&issuer.store.snapshot(), parsed, &issuer.policy, clock::now()) {
            Check::Verified(v) => Ok(v),
            Check::Rejected(r) => Err(r),
            Check::Miss(miss) => {
                issuer.store.resolve_miss(&miss).await?;
                let (parsed, issuer) = self.route(token)?;
                match jwks::check_parsed(&issuer.store.snapshot(), parsed, &issuer.policy, clock::now()) {
                    Check::Verified(v) => Ok(v),
                    Check::Rejected(r) => Err(r),
                    Check::Miss(miss) => Err(miss.rejection),
                }
            }
        }
    }

    /// Verifies with the keys at hand and never waits: a miss is final.
    pub fn verify_cached(&self, token: &str) -> Result<Verified, Rejection> {
        let started = Instant::now();
        let result = self.route(token).and_then(|(parsed, issuer)| {
            match jwks::check_parsed(&issuer.store.snapshot(), parsed, &issuer.policy, clock::now()) {
                Check::Verified(v) => Ok(v),
                Check::Rejected(r) => Err(r),
                Check::Miss(miss) => Err(miss.rejection),
            }
        });
        telemetry::record_verification(
            result.as_ref().map(|_| ()).map_err(Rejection::code),
            started.elapsed().as_secs_f64(),
        );
        result
    }

    /// Waits until every issuer has usable keys, or `timeout`; true when ready.
    /// Call it at start-up so the first requests are not answered 503.
    pub async fn ready(&self, timeout: Duration) -> bool {
        // One deadline for all: n slow issuers must not make this wait n times.
        let deadline = tokio::time::Instant::now() + timeout;
        let mut all = true;
        for issuer in &self.inner.issuers {
            all &= issuer.store.ready(deadline).await;
        }
        all
    }

    /// Health of every issuer's keys.
    pub fn health(&self) -> Vec<IssuerHealth> {
        self.inner
            .issuers
            .iter()
            .map(|i| IssuerHealth { issuer: i.store.name.clone(), cache: i.store.health() })
            .collect()
    }

    /// Stops every background task and waits for them to end.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Issuer {
    fn policy_max_bytes(&self) -> usize {
        self.policy.max_token_bytes()
    }
}
