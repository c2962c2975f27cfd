//! The one HTTP stack every source uses: reqwest with rustls, no redirects,
//! body limit enforced while reading, per-source TLS and auth options. It
//! executes the core's plain-data requests and hands back plain-data outcomes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokenkeep_core::http::{HttpOutcome, HttpRequest, HttpResponse, Method, TransportError};

/// Per-source transport options.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Trust only the CA certificates in this PEM bundle (read through
    /// symlinks, as Kubernetes mounts them), instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Send `Authorization: Bearer <contents>` on every request, the file read
    /// anew each time (a projected service-account token rotates).
    pub bearer_token_file: Option<PathBuf>,
    /// Connect to these addresses for these host names, keeping the name for
    /// SNI and certificate checks (clusters with broken DNS). As with
    /// reqwest's `resolve`, the port connected to is the URL's (or the
    /// scheme's default); the port of the address is not used.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
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
            HttpConfigError::ClientBuild => f.write_str("the HTTP client could not be built with these TLS options"),
        }
    }
}

impl std::error::Error for HttpConfigError {}

/// An HTTP client for one source.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    bearer_token_file: Option<PathBuf>,
    default_timeout: Duration,
}

impl HttpClient {
    /// Builds a client; fails on unreadable CA files or bad headers, never later.
    pub fn new(options: &HttpOptions) -> Result<HttpClient, HttpConfigError> {
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
        if !options.headers.is_empty() {
            let mut map = reqwest::header::HeaderMap::new();
            for (name, value) in &options.headers {
                let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| HttpConfigError::InvalidHeader(name.clone()))?;
                let v = reqwest::header::HeaderValue::from_str(value)
                    .map_err(|_| HttpConfigError::InvalidHeader(name.clone()))?;
                map.insert(n, v);
            }
            builder = builder.default_headers(map);
        }
        if options.dangerous_accept_invalid_certs {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|_| HttpConfigError::ClientBuild)?;
        Ok(HttpClient {
            client,
            bearer_token_file: options.bearer_token_file.clone(),
            default_timeout: options.timeout.unwrap_or(Duration::from_secs(5)),
        })
    }

    /// A client with default options, for when options that were good at
    /// start no longer build one (a CA file removed before a fork's respawn):
    /// requests then fail their TLS checks rather than the task dying.
    pub(crate) fn fallback() -> HttpClient {
        HttpClient::new(&HttpOptions::default()).unwrap_or_else(|_| HttpClient {
            client: reqwest::Client::new(),
            bearer_token_file: None,
            default_timeout: Duration::from_secs(5),
        })
    }

    /// Sends `request` and reads at most its body limit.
    pub async fn execute(&self, request: HttpRequest) -> HttpOutcome {
        let budget = if request.timeout.is_zero() { self.default_timeout } else { request.timeout };
        match tokio::time::timeout(budget, self.execute_inner(request)).await {
            Ok(outcome) => outcome,
            Err(_) => HttpOutcome::Failed(TransportError::Timeout),
        }
    }

    async fn execute_inner(&self, request: HttpRequest) -> HttpOutcome {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            _ => return HttpOutcome::Failed(TransportError::Other),
        };
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.expose());
        }
        if let Some(path) = &self.bearer_token_file {
            match tokio::fs::read_to_string(path).await {
                Ok(token) => builder = builder.bearer_auth(token.trim()),
                Err(_) => return HttpOutcome::Failed(TransportError::Other),
            }
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let mut response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return HttpOutcome::Failed(classify(&e)),
        };
        let status = response.status().as_u16();
        if (300..400).contains(&status) && status != 304 {
            return HttpOutcome::Failed(TransportError::Redirect);
        }
        if response.content_length().is_some_and(|l| l > request.max_body_bytes as u64) {
            return HttpOutcome::Failed(TransportError::BodyTooLarge);
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
                        return HttpOutcome::Failed(TransportError::BodyTooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return HttpOutcome::Failed(classify(&e)),
            }
        }
        HttpOutcome::Response(HttpResponse { status, headers, body })
    }
}

fn classify(e: &reqwest::Error) -> TransportError {
    if e.is_timeout() {
        return TransportError::Timeout;
    }
    // rustls reports certificate problems as connect errors; look at the chain
    // of causes. Not at reqwest's own message: it quotes the URL, and a URL
    // naming `/tls/` must not turn a refused connection into a TLS failure.
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(err) = source {
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return TransportError::Tls;
        }
        source = err.source();
    }
    if e.is_connect() { TransportError::Connect } else { TransportError::Other }
}
