//! The one HTTP stack every source uses: reqwest with rustls, no redirects,
//! body limit enforced while reading, per-source TLS and auth options. It
//! executes the core's plain-data requests and hands back plain-data outcomes.
//!
//! Two rules hold for every request, whoever built it:
//!
//! - **Transport**: https, or plain http to loopback only, unless
//!   [`HttpOptions::dangerous_allow_http`] (the core's
//!   [`check_url`](tokenkeep_core::jwks::check_url) decides). A refused URL is
//!   never contacted ([`TransportError::InsecureUrl`]).
//! - **Credentials stay at their origin**: the bearer token and the extra
//!   headers of [`HttpOptions`] go only to the origins (scheme, host, port)
//!   they were configured for: the URL the client was made for
//!   ([`HttpClient::for_origin`]) and [`HttpOptions::credential_origins`].
//!   A `jwks_uri` that discovery points elsewhere is fetched without them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokenkeep_core::http::{HttpOutcome, HttpRequest, HttpResponse, Method, TransportError};
use tokenkeep_core::jwks::{SourceError, check_url};

/// Per-source transport options.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Trust only the CA certificates in this PEM bundle (read through
    /// symlinks, as Kubernetes mounts them), instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Send `Authorization: Bearer <contents>` on every request to a
    /// credential origin, the file read anew each time (a projected
    /// service-account token rotates). It must be readable when the client
    /// is built.
    pub bearer_token_file: Option<PathBuf>,
    /// Connect to these addresses for these host names, keeping the name for
    /// SNI and certificate checks (clusters with broken DNS). As with
    /// reqwest's `resolve`, the port connected to is the URL's (or the
    /// scheme's default); the port of the address is not used.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Extra headers on every request to a credential origin (they may be
    /// credentials: an API key, a cookie).
    pub headers: Vec<(String, String)>,
    /// More origins (`https://host[:port]`) that may receive the bearer token
    /// and the extra headers, besides the one the client was made for.
    pub credential_origins: Vec<String>,
    /// Allow plain http to hosts other than loopback. Never in production:
    /// whatever is sent or received can be read and changed on the way.
    pub dangerous_allow_http: bool,
    /// Overall budget per request when the core sets none.
    pub timeout: Option<Duration>,
    /// Accept any certificate. Only for tests against throwaway servers.
    pub dangerous_accept_invalid_certs: bool,
}

/// Options that cannot be turned into a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpConfigError {
    /// The CA file could not be read.
    CaFileUnreadable(PathBuf),
    /// The CA file holds no usable PEM certificate.
    CaFileInvalid(PathBuf),
    /// A header name or value is not valid HTTP.
    InvalidHeader(String),
    /// The bearer token file cannot be read.
    BearerFileUnreadable(PathBuf),
    /// A credential origin is not an `http(s)://host[:port]` URL.
    InvalidOrigin(String),
    /// The URL the client is made for is not acceptable (not http(s), or
    /// plain http to a non-loopback host without `dangerous_allow_http`).
    Url(String, SourceError),
    /// A bearer token or extra headers, but no origin to send them to.
    CredentialsWithoutOrigin,
    /// The TLS stack refused the configuration.
    ClientBuild,
}

impl HttpConfigError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            HttpConfigError::CaFileUnreadable(_) => "ca_file_unreadable",
            HttpConfigError::CaFileInvalid(_) => "ca_file_invalid",
            HttpConfigError::InvalidHeader(_) => "invalid_header",
            HttpConfigError::BearerFileUnreadable(_) => "bearer_file_unreadable",
            HttpConfigError::InvalidOrigin(_) => "invalid_origin",
            HttpConfigError::Url(_, e) => e.code(),
            HttpConfigError::CredentialsWithoutOrigin => "credentials_without_origin",
            HttpConfigError::ClientBuild => "http_client_build",
        }
    }
}

impl std::fmt::Display for HttpConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpConfigError::CaFileUnreadable(p) => write!(f, "cannot read CA file {}", p.display()),
            HttpConfigError::CaFileInvalid(p) => write!(f, "no PEM certificate in CA file {}", p.display()),
            HttpConfigError::InvalidHeader(n) => write!(f, "invalid header {n:?}"),
            HttpConfigError::BearerFileUnreadable(p) => write!(f, "cannot read bearer token file {}", p.display()),
            HttpConfigError::InvalidOrigin(o) => {
                write!(
                    f,
                    "credential origin {:?} is not an http(s)://host[:port] URL",
                    tokenkeep_core::text::sanitize(o)
                )
            }
            HttpConfigError::Url(u, e) => write!(f, "{}: {e}", tokenkeep_core::text::sanitize(u)),
            HttpConfigError::CredentialsWithoutOrigin => f.write_str(
                "a bearer token or extra headers need an origin to be sent to: build the client with \
                 HttpClient::for_origin or list credential_origins",
            ),
            HttpConfigError::ClientBuild => f.write_str("the HTTP client could not be built with these TLS options"),
        }
    }
}

impl std::error::Error for HttpConfigError {}

/// An origin: scheme, host (lower case), port (the scheme's default when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &str) -> Option<Origin> {
        let url = reqwest::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

/// An HTTP client for one source.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    bearer_token_file: Option<PathBuf>,
    headers: reqwest::header::HeaderMap,
    credential_origins: Vec<Origin>,
    allow_http: bool,
    default_timeout: Duration,
}

/// Why a TLS handshake failed, as far as the certificate check says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The chain does not lead to a trusted CA (a self-signed certificate,
    /// a private CA without `ca_file`, the wrong `ca_file`).
    UnknownIssuer,
    /// The certificate is not valid for the host name connected to.
    NameMismatch,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet (or the local clock is behind).
    NotYetValid,
    /// The certificate was revoked.
    Revoked,
    /// Another handshake failure (protocol versions, cipher suites, a bad certificate).
    Other,
}

impl TlsFailure {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            TlsFailure::UnknownIssuer => "tls_unknown_issuer",
            TlsFailure::NameMismatch => "tls_name_mismatch",
            TlsFailure::Expired => "tls_certificate_expired",
            TlsFailure::NotYetValid => "tls_certificate_not_yet_valid",
            TlsFailure::Revoked => "tls_certificate_revoked",
            TlsFailure::Other => "tls_handshake_failed",
        }
    }

    /// What to change, in a few words.
    pub fn explain(self) -> &'static str {
        match self {
            TlsFailure::UnknownIssuer => {
                "the certificate is not signed by a trusted CA (give the issuing CA with --ca / ca_file)"
            }
            TlsFailure::NameMismatch => "the certificate is not valid for this host name",
            TlsFailure::Expired => "the certificate has expired",
            TlsFailure::NotYetValid => "the certificate is not valid yet (or this machine's clock is behind)",
            TlsFailure::Revoked => "the certificate was revoked",
            TlsFailure::Other => "the TLS handshake failed",
        }
    }
}

impl HttpClient {
    /// Builds a client; fails on unreadable CA or bearer files or bad
    /// headers, never later. Credentials (bearer token, extra headers) need
    /// [`HttpOptions::credential_origins`] here; [`HttpClient::for_origin`]
    /// is the usual way.
    pub fn new(options: &HttpOptions) -> Result<HttpClient, HttpConfigError> {
        HttpClient::build(options, None)
    }

    /// A client for the source at `url` (an issuer, a JWKS URL, a Vault
    /// address): `url` must pass the transport rule, and its origin receives
    /// the credentials of `options`.
    pub fn for_origin(options: &HttpOptions, url: &str) -> Result<HttpClient, HttpConfigError> {
        HttpClient::build(options, Some(url))
    }

    fn build(options: &HttpOptions, url: Option<&str>) -> Result<HttpClient, HttpConfigError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokenkeep/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5));
        if let Some(path) = &options.ca_file {
            let pem = std::fs::read(path).map_err(|_| HttpConfigError::CaFileUnreadable(path.clone()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| HttpConfigError::CaFileInvalid(path.clone()))?;
            builder = builder.tls_certs_only(certs);
        }
        for (host, addr) in &options.resolve {
            builder = builder.resolve(host, *addr);
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &options.headers {
            let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpConfigError::InvalidHeader(name.clone()))?;
            let mut v = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| HttpConfigError::InvalidHeader(name.clone()))?;
            v.set_sensitive(true);
            headers.insert(n, v);
        }
        if let Some(path) = &options.bearer_token_file {
            std::fs::read(path).map_err(|_| HttpConfigError::BearerFileUnreadable(path.clone()))?;
        }
        let mut credential_origins = Vec::new();
        if let Some(url) = url {
            check_url(url, options.dangerous_allow_http).map_err(|e| HttpConfigError::Url(url.to_owned(), e))?;
            credential_origins
                .push(Origin::of(url).ok_or_else(|| HttpConfigError::Url(url.to_owned(), SourceError::InvalidUrl))?);
        }
        for origin in &options.credential_origins {
            let parsed = Origin::of(origin)
                .filter(|_| check_url(origin, options.dangerous_allow_http).is_ok())
                .ok_or_else(|| HttpConfigError::InvalidOrigin(origin.clone()))?;
            credential_origins.push(parsed);
        }
        let has_credentials = options.bearer_token_file.is_some() || !headers.is_empty();
        if has_credentials && credential_origins.is_empty() {
            return Err(HttpConfigError::CredentialsWithoutOrigin);
        }
        if options.dangerous_accept_invalid_certs {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|_| HttpConfigError::ClientBuild)?;
        Ok(HttpClient {
            client,
            bearer_token_file: options.bearer_token_file.clone(),
            headers,
            credential_origins,
            allow_http: options.dangerous_allow_http,
            default_timeout: options.timeout.unwrap_or(Duration::from_secs(5)),
        })
    }

    /// A client with default options, for when options that were good at
    /// start no longer build one (a CA file removed before a fork's respawn):
    /// requests then fail their TLS checks rather than the task dying. It
    /// carries no credentials.
    pub(crate) fn fallback() -> HttpClient {
        HttpClient::new(&HttpOptions::default()).unwrap_or_else(|_| HttpClient {
            client: reqwest::Client::new(),
            bearer_token_file: None,
            headers: reqwest::header::HeaderMap::new(),
            credential_origins: Vec::new(),
            allow_http: false,
            default_timeout: Duration::from_secs(5),
        })
    }

    /// Whether the configured credentials may go to `url`.
    fn sends_credentials_to(&self, url: &str) -> bool {
        Origin::of(url).is_some_and(|o| self.credential_origins.contains(&o))
    }

    /// Sends `request` and reads at most its body limit.
    pub async fn execute(&self, request: HttpRequest) -> HttpOutcome {
        self.execute_explained(request).await.0
    }

    /// [`HttpClient::execute`], and when the outcome is a TLS failure, which
    /// one (for a diagnosis such as `tokenkeep doctor`).
    pub async fn execute_explained(&self, request: HttpRequest) -> (HttpOutcome, Option<TlsFailure>) {
        let budget = if request.timeout.is_zero() { self.default_timeout } else { request.timeout };
        match tokio::time::timeout(budget, self.execute_inner(request)).await {
            Ok(outcome) => outcome,
            Err(_) => (HttpOutcome::Failed(TransportError::Timeout), None),
        }
    }

    async fn execute_inner(&self, request: HttpRequest) -> (HttpOutcome, Option<TlsFailure>) {
        match self.send(request).await {
            Ok(response) => (HttpOutcome::Response(response), None),
            Err((e, tls)) => (HttpOutcome::Failed(e), tls),
        }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, (TransportError, Option<TlsFailure>)> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            _ => return Err((TransportError::Other, None)),
        };
        if let Err(e) = check_url(&request.url, self.allow_http) {
            return Err((
                if e == SourceError::InsecureUrl { TransportError::InsecureUrl } else { TransportError::Other },
                None,
            ));
        }
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.expose());
        }
        if self.sends_credentials_to(&request.url) {
            builder = builder.headers(self.headers.clone());
            if let Some(path) = &self.bearer_token_file {
                match tokio::fs::read_to_string(path).await {
                    Ok(token) => builder = builder.bearer_auth(token.trim()),
                    Err(_) => return Err((TransportError::Other, None)),
                }
            }
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let mut response = builder.send().await.map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) && status != 304 {
            return Err((TransportError::Redirect, None));
        }
        if response.content_length().is_some_and(|l| l > request.max_body_bytes as u64) {
            return Err((TransportError::BodyTooLarge, None));
        }
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
            .collect();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > request.max_body_bytes {
                        return Err((TransportError::BodyTooLarge, None));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(&e)),
            }
        }
        Ok(HttpResponse { status, headers, body })
    }
}

fn classify(e: &reqwest::Error) -> (TransportError, Option<TlsFailure>) {
    if e.is_timeout() {
        return (TransportError::Timeout, None);
    }
    // rustls reports certificate problems as connect errors, its own error
    // wrapped in an io::Error somewhere down the chain of causes. Not
    // reqwest's own message: it quotes the URL, and a URL naming `/tls/`
    // must not turn a refused connection into a TLS failure.
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(err) = source {
        // io::Error hides what it wraps from `source()`, and may wrap another io::Error.
        let mut candidate: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(c) = candidate {
            if let Some(tls) = c.downcast_ref::<rustls::Error>() {
                return (TransportError::Tls, Some(tls_failure(tls)));
            }
            candidate = c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|i| i as _);
        }
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return (TransportError::Tls, Some(TlsFailure::Other));
        }
        source = err.source();
    }
    (if e.is_connect() { TransportError::Connect } else { TransportError::Other }, None)
}

fn tls_failure(e: &rustls::Error) -> TlsFailure {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => TlsFailure::UnknownIssuer,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsFailure::NameMismatch,
            C::Expired | C::ExpiredContext { .. } => TlsFailure::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsFailure::NotYetValid,
            C::Revoked => TlsFailure::Revoked,
            _ => TlsFailure::Other,
        },
        _ => TlsFailure::Other,
    }
}
