//! What `verify`, `jwks` and `doctor` share: transport flags, the runtime's
//! HTTP client, and fetching keys the way a service would.

use crate::output::Failure;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokenkeep::http::{HttpClient, HttpOptions};
use tokenkeep_core::KeySet;
use tokenkeep_core::http::{HeaderValue, HttpOutcome, HttpRequest, HttpResponse, Method, RequestId};
use tokenkeep_core::jwks::{CacheConfig, JwksCache, KeySource};

/// Transport flags (the Kubernetes API server case: CA file, bearer token file,
/// DNS bypass).
#[derive(Debug, Clone, clap::Args)]
pub struct TransportArgs {
    /// Trust only the CA certificates in this PEM file.
    #[arg(long = "ca", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Send `Authorization: Bearer <contents of FILE>` (re-read per request).
    #[arg(long, value_name = "FILE")]
    pub bearer_file: Option<PathBuf>,
    /// Connect to IP for HOST, keeping HOST for SNI and certificate checks.
    #[arg(long, value_name = "HOST:IP", value_parser = parse_resolve)]
    pub resolve: Vec<(String, IpAddr)>,
    /// Request timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::output::parse_duration)]
    pub timeout: Duration,
}

fn parse_resolve(s: &str) -> Result<(String, IpAddr), String> {
    let (host, ip) = s.rsplit_once(':').ok_or_else(|| format!("expected HOST:IP, got `{s}`"))?;
    let ip = ip.trim_matches(['[', ']']).parse::<IpAddr>().map_err(|e| format!("bad IP in `{s}`: {e}"))?;
    if host.is_empty() {
        return Err(format!("expected HOST:IP, got `{s}`"));
    }
    Ok((host.to_owned(), ip))
}

impl TransportArgs {
    pub fn options(&self) -> HttpOptions {
        HttpOptions {
            ca_file: self.ca.clone(),
            bearer_token_file: self.bearer_file.clone(),
            // The port of an override is ignored: the URL's port is used.
            resolve: self.resolve.iter().map(|(h, ip)| (h.clone(), SocketAddr::new(*ip, 0))).collect(),
            timeout: Some(self.timeout),
            ..HttpOptions::default()
        }
    }

    pub fn client(&self) -> Result<HttpClient, Failure> {
        HttpClient::new(&self.options()).map_err(|e| Failure::usage(e.code(), e.to_string()))
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::usage("runtime_failed", format!("cannot start the async runtime: {e}")))
}

pub fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// One GET, as the core would send it.
pub async fn get(client: &HttpClient, url: &str, timeout: Duration) -> HttpOutcome {
    client
        .execute(HttpRequest {
            id: RequestId(1),
            method: Method::Get,
            url: url.to_owned(),
            headers: vec![("accept".to_owned(), HeaderValue::plain("application/json"))],
            body: Vec::new(),
            timeout,
            max_body_bytes: CacheConfig::default().max_body_bytes,
        })
        .await
}

/// A response, or the transport error's code.
pub fn response(outcome: HttpOutcome) -> Result<HttpResponse, &'static str> {
    match outcome {
        HttpOutcome::Response(r) => Ok(r),
        HttpOutcome::Failed(e) => Err(e.code()),
    }
}

/// Keys from a file, a JWKS URL or (with `source: None`) the issuer's
/// discovery, fetched by the same cache state machine a service runs.
pub async fn load_keys(jwks: Option<&str>, issuer: &str, transport: &TransportArgs) -> Result<KeySet, KeysError> {
    if let Some(path) = jwks.filter(|j| !is_url(j)) {
        let bytes = std::fs::read(path).map_err(|e| KeysError::Config(format!("cannot read {path}: {e}")))?;
        return KeySet::from_jwks_json(&bytes).map_err(|e| KeysError::Config(format!("{path}: {e}")));
    }
    let source = match jwks {
        Some(url) => KeySource::jwks_url(url),
        None => KeySource::oidc_issuer(issuer),
    }
    .map_err(|e| KeysError::Config(format!("{}: {e}", jwks.unwrap_or(issuer))))?;
    let client = transport.client().map_err(|f| KeysError::Config(f.message))?;
    let config = CacheConfig { request_timeout: transport.timeout, ..CacheConfig::default() };
    let now = tokenkeep::clock::now;
    let mut cache = JwksCache::new(source, config, tokenkeep::clock::seed(), now());
    // Discovery, then the JWKS: at most two requests before a verdict.
    for _ in 0..2 {
        cache.handle_timeout(now());
        let Some(request) = cache.poll_request() else { break };
        let id = request.id;
        let outcome = client.execute(request).await;
        cache.handle_response(id, outcome, now());
        if cache.snapshot().generation() > 0 {
            break;
        }
    }
    let snapshot = cache.snapshot();
    match snapshot.usable_keys(now()) {
        Some(keys) => Ok((**keys).clone()),
        None => Err(KeysError::Unavailable(cache.health(now()).last_error_code.unwrap_or("no_keys").to_owned())),
    }
}

/// Why no keys could be had.
#[derive(Debug)]
pub enum KeysError {
    /// Bad flags or files: exit 2.
    Config(String),
    /// The source did not deliver (code of the fetch error).
    Unavailable(String),
}
