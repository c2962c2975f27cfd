//! What `verify`, `jwks` and `doctor` share: transport flags, the runtime's
//! HTTP client, and fetching keys the way a service would.

use crate::output::Failure;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokenkeep::http::{HttpClient, HttpConfigError, HttpOptions, TlsFailure};
use tokenkeep_core::KeySet;
use tokenkeep_core::http::{HeaderValue, HttpOutcome, HttpRequest, HttpResponse, Method, RequestId};
use tokenkeep_core::jwks::{CacheConfig, JwksCache, KeySource};
use tokenkeep_core::text::sanitize;

/// Transport flags (the Kubernetes API server case: CA file, bearer token file,
/// DNS bypass).
#[derive(Debug, Clone, clap::Args)]
pub struct TransportArgs {
    /// Trust only the CA certificates in this PEM file.
    #[arg(long = "ca", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Send `Authorization: Bearer <contents of FILE>` (re-read per request), only to the origin (scheme, host,
    /// port) of the issuer or JWKS URL given, and of --credential-origin.
    #[arg(long, value_name = "FILE")]
    pub bearer_file: Option<PathBuf>,
    /// Another origin (`https://host[:port]`) that may receive the --bearer-file token, such as a JWKS host
    /// that discovery names (repeatable).
    #[arg(long = "credential-origin", value_name = "URL")]
    pub credential_origins: Vec<String>,
    /// Connect to IP for HOST, keeping HOST for SNI and certificate checks.
    #[arg(long, value_name = "HOST:IP", value_parser = parse_resolve)]
    pub resolve: Vec<(String, IpAddr)>,
    /// Request timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::output::parse_duration)]
    pub timeout: Duration,
    /// Allow plain http to hosts other than loopback (keys and tokens can then be read and changed on the way).
    #[arg(long)]
    pub dangerous_allow_http: bool,
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
            credential_origins: self.credential_origins.clone(),
            // The port of an override is ignored: the URL's port is used.
            resolve: self.resolve.iter().map(|(h, ip)| (h.clone(), SocketAddr::new(*ip, 0))).collect(),
            timeout: Some(self.timeout),
            dangerous_allow_http: self.dangerous_allow_http,
            ..HttpOptions::default()
        }
    }

    /// The runtime's client for `url` (an issuer, a JWKS URL): the transport
    /// rule checked, the credentials bound to its origin. A flag or file that
    /// does not work is a usage error (exit 2) naming it.
    pub fn client_for(&self, url: &str) -> Result<HttpClient, Failure> {
        HttpClient::for_origin(&self.options(), url).map_err(|e| {
            let flag = match &e {
                HttpConfigError::CaFileUnreadable(_) | HttpConfigError::CaFileInvalid(_) => "--ca: ",
                HttpConfigError::BearerFileUnreadable(_) => "--bearer-file: ",
                HttpConfigError::InvalidOrigin(_) => "--credential-origin: ",
                _ => "",
            };
            let hint = if e.code() == "insecure_url" { " (--dangerous-allow-http allows it)" } else { "" };
            Failure::usage(e.code(), format!("{flag}{e}{hint}"))
        })
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
    get_explained(client, url, timeout).await.0
}

/// [`get`], and which TLS failure it was, if one.
pub async fn get_explained(client: &HttpClient, url: &str, timeout: Duration) -> (HttpOutcome, Option<TlsFailure>) {
    client
        .execute_explained(HttpRequest {
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
        let bytes = std::fs::read(path).map_err(|e| {
            KeysError::Config(Failure::usage("file_unreadable", format!("--jwks: cannot read {path}: {e}")))
        })?;
        // A file that is there but holds no key set is the same verdict as a
        // URL that serves one: no usable keys (exit 1), not a usage error.
        return KeySet::from_jwks_json(&bytes)
            .map_err(|e| KeysError::Unavailable { detail: format!("{path}: {e} ({})", e.code()) });
    }
    let url = jwks.unwrap_or(issuer);
    let source = match jwks {
        Some(url) if transport.dangerous_allow_http => KeySource::dangerous_jwks_url_allow_http(url),
        Some(url) => KeySource::jwks_url(url),
        None if transport.dangerous_allow_http => KeySource::dangerous_oidc_issuer_allow_http(issuer),
        None => KeySource::oidc_issuer(issuer),
    }
    .map_err(|e| {
        let flag = if jwks.is_some() { "--jwks" } else { "--issuer" };
        let hint = if e.code() == "insecure_url" { " (--dangerous-allow-http allows it)" } else { "" };
        KeysError::Config(Failure::usage(e.code(), format!("{flag} {}: {e}{hint}", sanitize(url))))
    })?;
    let client = transport.client_for(url).map_err(KeysError::Config)?;
    let config = CacheConfig {
        request_timeout: transport.timeout,
        dangerous_allow_http: transport.dangerous_allow_http,
        ..CacheConfig::default()
    };
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
        None => {
            let code = cache.health(now()).last_error_code.unwrap_or("no_keys");
            Err(KeysError::Unavailable { detail: format!("fetching them failed ({code})") })
        }
    }
}

/// Why no keys could be had.
#[derive(Debug)]
pub enum KeysError {
    /// Bad flags or files: exit 2.
    Config(Failure),
    /// The source delivered no usable key set: what to print (with the
    /// fetch error's or the key set's code).
    Unavailable { detail: String },
}
