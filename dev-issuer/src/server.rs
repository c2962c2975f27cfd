//! The HTTP side: listener, connection handling, endpoints and the handle a
//! caller keeps.

use crate::keys::{JwksDoc, KeyRing};
use crate::signing::ISSUER_ALGORITHMS;
use crate::{DevIssuerConfig, DevIssuerError, OutageMode, Stats, issuer_algorithm, tls};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt as _;
use tracing::debug;

pub(crate) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
const JWKS_PATH: &str = "/jwks";
const TOKEN_PATH: &str = "/token";
const ENDPOINTS: [&str; 6] = [DISCOVERY_PATH, JWKS_PATH, TOKEN_PATH, "/rotate", "/outage", "/stats"];
const DEFAULT_TTL: Duration = Duration::from_secs(300);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Shared {
    issuer: String,
    base_url: String,
    max_age: Duration,
    retire_after: Duration,
    bearer_file: Option<PathBuf>,
    keys: Mutex<KeyRing>,
    outage: Mutex<Option<(Instant, OutageMode)>>,
    jwks_override: Mutex<Option<(u16, Vec<u8>)>>,
    stats: Mutex<Stats>,
}

struct Minted {
    token: String,
    kid: String,
    expires_at: u64,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Shared {
    fn mint(&self, claims: Value, alg: &str, ttl: Duration, kid: Option<&str>) -> Result<Minted, DevIssuerError> {
        let Value::Object(mut claims) = claims else {
            return Err(DevIssuerError::InvalidClaims);
        };
        let alg = issuer_algorithm(alg)?;
        let (key, header_kid) = {
            let mut ring = lock(&self.keys);
            match kid {
                Some(kid) => match ring.find(kid) {
                    Some(k) if k.alg() == alg => (k, None),
                    _ => (ring.current_for(alg)?, Some(kid)),
                },
                None => (ring.current_for(alg)?, None),
            }
        };
        let now = unix_now();
        let exp = now.saturating_add(ttl.as_secs());
        claims.entry("iss").or_insert_with(|| self.issuer.clone().into());
        claims.entry("iat").or_insert_with(|| now.into());
        claims.entry("exp").or_insert_with(|| exp.into());
        let expires_at = claims.get("exp").and_then(Value::as_u64).unwrap_or(exp);
        let token = key.sign_jwt(&claims, header_kid)?;
        let kid = header_kid.or(key.kid()).unwrap_or_default().to_owned();
        Ok(Minted { token, kid, expires_at })
    }

    fn rotate(&self) -> Result<Vec<String>, DevIssuerError> {
        let kids = lock(&self.keys).rotate(Instant::now, self.retire_after)?;
        debug!(new_keys = kids.len(), "dev issuer rotated its keys");
        Ok(kids)
    }

    fn jwks_doc(&self) -> Arc<JwksDoc> {
        let mut ring = lock(&self.keys);
        ring.prune(Instant::now());
        ring.jwks()
    }

    fn active_outage(&self) -> Option<(Instant, OutageMode)> {
        let mut outage = lock(&self.outage);
        match *outage {
            Some((until, _)) if until <= Instant::now() => {
                *outage = None;
                None
            }
            other => other,
        }
    }

    async fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(file) = &self.bearer_file else { return true };
        let Ok(expected) = tokio::fs::read_to_string(file).await else {
            return false;
        };
        let expected = expected.trim();
        let Some(presented) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, presented)) = presented.split_once(' ') else { return false };
        !expected.is_empty()
            && scheme.eq_ignore_ascii_case("bearer")
            && aws_lc_rs::constant_time::verify_slices_are_equal(presented.trim().as_bytes(), expected.as_bytes())
                .is_ok()
    }
}

/// A started dev issuer. Dropping it stops the server (without waiting);
/// [`RunningIssuer::shutdown`] stops it and waits.
pub struct RunningIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    ca_path: Option<PathBuf>,
    _ca_temp: Option<tempfile::TempPath>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RunningIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningIssuer")
            .field("issuer", &self.shared.issuer)
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl RunningIssuer {
    /// The `iss` of minted tokens and of the discovery document.
    pub fn issuer_url(&self) -> &str {
        &self.shared.issuer
    }

    /// `http(s)://127.0.0.1:<port>`, where the issuer really listens.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.shared.base_url)
    }

    /// The OIDC discovery document URL.
    pub fn discovery_url(&self) -> String {
        format!("{}{DISCOVERY_PATH}", self.shared.base_url)
    }

    /// The `POST /token` URL.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.shared.base_url)
    }

    /// The socket address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The CA certificate (PEM) to trust, when serving HTTPS.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// Signs a token with the current key for `alg` (generated on first use),
    /// filling `iss`, `iat` and `exp` (now + `ttl`) unless `claims` has them.
    pub fn mint(&self, claims: Value, alg: &str, ttl: Duration) -> Result<String, DevIssuerError> {
        Ok(self.shared.mint(claims, alg, ttl, None)?.token)
    }

    /// Like [`RunningIssuer::mint`] with header `kid` = `kid`. When the issuer
    /// still holds a key for `alg` with that kid (current or rotated out, not
    /// yet retired) it signs with it; otherwise it signs with the current key
    /// for `alg` under the foreign, unpublished kid (an `unknown_kid` token).
    pub fn mint_with_kid(&self, claims: Value, alg: &str, ttl: Duration, kid: &str) -> Result<String, DevIssuerError> {
        Ok(self.shared.mint(claims, alg, ttl, Some(kid))?.token)
    }

    /// The kid of the current key for `alg`, generating the key on first use.
    pub fn current_kid(&self, alg: &str) -> Result<String, DevIssuerError> {
        let alg = issuer_algorithm(alg)?;
        let key = lock(&self.shared.keys).current_for(alg)?;
        Ok(key.kid().unwrap_or_default().to_owned())
    }

    /// JOSE names of the algorithms that have a current key.
    pub fn algorithms_in_use(&self) -> Vec<String> {
        lock(&self.shared.keys).algorithms_in_use().into_iter().map(|a| a.name().to_owned()).collect()
    }

    /// A new current key for every algorithm in use; the previous keys stay
    /// published for `retire_after`. Returns the new kids.
    pub fn rotate(&self) -> Result<Vec<String>, DevIssuerError> {
        self.shared.rotate()
    }

    /// The JWKS as currently published (ignoring any override).
    pub fn jwks(&self) -> Value {
        serde_json::from_slice(&self.shared.jwks_doc().body).expect("own JSON")
    }

    /// Discovery and JWKS fail in `mode` for `duration` from now;
    /// `Duration::ZERO` ends an outage.
    pub fn outage(&self, duration: Duration, mode: OutageMode) {
        *lock(&self.shared.outage) = if duration.is_zero() { None } else { Some((Instant::now() + duration, mode)) };
    }

    /// Serve this status and body at `/jwks` instead of the real key set
    /// (malformed or oversized bodies); `None` goes back to the real one.
    pub fn set_jwks_override(&self, answer: Option<(u16, Vec<u8>)>) {
        *lock(&self.shared.jwks_override) = answer;
    }

    /// The request counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Stops listening, drops every open connection and waits for the tasks.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }
}

/// An issuer demanding a bearer token it cannot read would answer 401 to
/// everyone: refuse to start instead.
fn check_bearer_file(path: &std::path::Path) -> Result<(), DevIssuerError> {
    let fail = |kind, why: String| DevIssuerError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(kind, format!("the required bearer token file (--require-bearer): {why}")),
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.kind(), format!("cannot read it: {e}")))?;
    if text.trim().is_empty() {
        return Err(fail(std::io::ErrorKind::InvalidData, "it is empty".to_owned()));
    }
    Ok(())
}

impl Drop for RunningIssuer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub(crate) async fn start(config: DevIssuerConfig) -> Result<RunningIssuer, DevIssuerError> {
    let algorithms =
        config.algorithms.iter().map(|a| issuer_algorithm(a)).collect::<Result<Vec<_>, DevIssuerError>>()?;
    if let Some(path) = &config.require_bearer_file {
        check_bearer_file(path)?;
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
        .await
        .map_err(|source| DevIssuerError::Bind { port: config.port, source })?;
    let addr = listener.local_addr().map_err(|source| DevIssuerError::Bind { port: config.port, source })?;

    let (acceptor, ca_path, ca_temp) = if config.tls {
        let material = tls::generate()?;
        let (path, temp) = match &config.ca_path {
            Some(path) => {
                std::fs::write(path, &material.ca_pem)
                    .map_err(|source| DevIssuerError::Io { path: path.clone(), source })?;
                (path.clone(), None)
            }
            None => {
                let io = |source| DevIssuerError::Io { path: std::env::temp_dir(), source };
                let mut file = tempfile::Builder::new()
                    .prefix("tokenkeep-dev-issuer-ca-")
                    .suffix(".pem")
                    .tempfile()
                    .map_err(io)?;
                std::io::Write::write_all(&mut file, material.ca_pem.as_bytes()).map_err(io)?;
                let temp = file.into_temp_path();
                (temp.to_path_buf(), Some(temp))
            }
        };
        (Some(tokio_rustls::TlsAcceptor::from(material.server_config)), Some(path), temp)
    } else {
        (None, None, None)
    };

    let scheme = if config.tls { "https" } else { "http" };
    let base_url = format!("{scheme}://127.0.0.1:{}", addr.port());
    let keys = tokio::task::spawn_blocking(move || KeyRing::new(&algorithms))
        .await
        .map_err(|_| DevIssuerError::Key("key generation task failed".into()))??;
    let shared = Arc::new(Shared {
        issuer: config.issuer.clone().unwrap_or_else(|| base_url.clone()),
        base_url,
        max_age: config.jwks_max_age,
        retire_after: config.effective_retire_after(),
        bearer_file: config.require_bearer_file.clone(),
        keys: Mutex::new(keys),
        outage: Mutex::new(None),
        jwks_override: Mutex::new(None),
        stats: Mutex::new(Stats::default()),
    });

    let router = Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(jwks))
        .route(TOKEN_PATH, post(token))
        .route("/rotate", post(rotate))
        .route("/outage", post(outage))
        .route("/stats", get(stats))
        .with_state(shared.clone());

    let mut tasks = vec![tokio::spawn(serve(listener, acceptor, shared.clone(), router))];
    if let Some(every) = config.rotate_every.filter(|d| !d.is_zero()) {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut next = tokio::time::Instant::now() + every;
            loop {
                tokio::time::sleep_until(next).await;
                next += every;
                let s = shared.clone();
                let _ = tokio::task::spawn_blocking(move || s.rotate()).await;
            }
        }));
    }
    debug!(%addr, tls = config.tls, "dev issuer listening");
    Ok(RunningIssuer { shared, addr, tls: config.tls, ca_path, _ca_temp: ca_temp, tasks })
}

async fn serve(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, shared: Arc<Shared>, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, tls.clone(), shared.clone(), router.clone()));
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Returned by the service to make hyper close the connection unanswered.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by a simulated outage")
    }
}

impl std::error::Error for ResetConnection {}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    router: Router,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), router.clone(), req));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    let result = match tls {
        Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
            Ok(Ok(stream)) => builder.serve_connection(TokioIo::new(stream), service).await,
            Ok(Err(e)) => {
                debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        },
        None => builder.serve_connection(TokioIo::new(stream), service).await,
    };
    if let Err(e) = result {
        debug!(error = %e, "connection ended");
    }
}

fn endpoint_name(path: &str) -> &'static str {
    ENDPOINTS.iter().copied().find(|e| *e == path).unwrap_or("other")
}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, ResetConnection> {
    let method = req.method().clone();
    let endpoint = endpoint_name(req.uri().path());
    {
        let mut stats = lock(&shared.stats);
        stats.total += 1;
        *stats.by_endpoint.entry(endpoint.to_owned()).or_default() += 1;
    }
    let guarded = endpoint == DISCOVERY_PATH || endpoint == JWKS_PATH;
    let mut response = if !guarded {
        router.oneshot(req).await.unwrap_or_else(|never| match never {})
    } else if let Some((until, mode)) = shared.active_outage() {
        match mode {
            OutageMode::Reset => {
                lock(&shared.stats).resets += 1;
                debug!(%method, path = endpoint, "reset (simulated outage)");
                return Err(ResetConnection);
            }
            OutageMode::Hang => {
                tokio::time::sleep_until(until.into()).await;
                unavailable()
            }
            OutageMode::Status503 => unavailable(),
        }
    } else if !shared.bearer_ok(req.headers()).await {
        let mut r = error_response(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    } else {
        router.oneshot(req).await.unwrap_or_else(|never| match never {})
    };
    let status = response.status();
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())) {
        response.headers_mut().insert(header::DATE, date);
    }
    {
        let mut stats = lock(&shared.stats);
        *stats.by_status.entry(status.as_u16()).or_default() += 1;
        if endpoint == JWKS_PATH && status == StatusCode::NOT_MODIFIED {
            stats.jwks_304s += 1;
        }
    }
    debug!(%method, path = endpoint, status = status.as_u16(), "dev issuer request");
    Ok(response)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).expect("JSON serialises");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": code, "message": message }))
}

fn unavailable() -> Response<Body> {
    error_response(StatusCode::SERVICE_UNAVAILABLE, "outage", "simulated outage")
}

fn cache_control(max_age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={}", max_age.as_secs())).expect("ASCII")
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let algs: Vec<&str> = ISSUER_ALGORITHMS.iter().map(|a| a.name()).collect();
    let doc = json!({
        "issuer": shared.issuer,
        "jwks_uri": format!("{}{JWKS_PATH}", shared.base_url),
        "token_endpoint": format!("{}{TOKEN_PATH}", shared.base_url),
        "id_token_signing_alg_values_supported": algs,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    });
    let mut r = json_response(StatusCode::OK, &doc);
    r.headers_mut().insert(header::CACHE_CONTROL, cache_control(shared.max_age));
    r
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, as RFC
/// 9110 prescribes for this header).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == etag)
}

async fn jwks(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    if let Some((status, body)) = lock(&shared.jwks_override).clone() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let doc = shared.jwks_doc();
    let etag = HeaderValue::from_str(&doc.etag).expect("hex ETag");
    let mut r = if none_match(&headers, &doc.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], doc.body.clone()).into_response()
    };
    r.headers_mut().insert(header::ETAG, etag);
    r.headers_mut().insert(header::CACHE_CONTROL, cache_control(shared.max_age));
    r
}

#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default)]
    claims: Option<Map<String, Value>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    ttl: Option<f64>,
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, Box<Response<Body>>> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|_| {
        Box::new(error_response(StatusCode::BAD_REQUEST, "bad_request", "the body is not the expected JSON object"))
    })
}

async fn token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let req: TokenRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let ttl = match req.ttl {
        None => DEFAULT_TTL,
        Some(t) if t.is_finite() && (0.0..1e10).contains(&t) => Duration::from_secs_f64(t),
        Some(_) => return error_response(StatusCode::BAD_REQUEST, "bad_ttl", "ttl must be a number of seconds"),
    };
    let alg = req.alg.unwrap_or_else(|| "ES256".to_owned());
    let claims = Value::Object(req.claims.unwrap_or_default());
    let result = tokio::task::spawn_blocking(move || shared.mint(claims, &alg, ttl, None)).await;
    match result {
        Ok(Ok(m)) => {
            json_response(StatusCode::OK, &json!({ "token": m.token, "kid": m.kid, "expires_at": m.expires_at }))
        }
        Ok(Err(e)) => error_response(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "minting failed"),
    }
}

async fn rotate(State(shared): State<Arc<Shared>>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || shared.rotate()).await {
        Ok(Ok(kids)) => json_response(StatusCode::OK, &json!({ "kids": kids })),
        Ok(Err(e)) => error_response(StatusCode::INTERNAL_SERVER_ERROR, e.code(), &e.to_string()),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", "rotation failed"),
    }
}

#[derive(Deserialize)]
struct OutageRequest {
    seconds: f64,
    #[serde(default)]
    mode: Option<String>,
}

async fn outage(State(shared): State<Arc<Shared>>, body: Bytes) -> Response<Body> {
    let req: OutageRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let Some(mode) = OutageMode::from_name(req.mode.as_deref().unwrap_or("503")) else {
        return error_response(StatusCode::BAD_REQUEST, "bad_mode", "mode must be \"503\", \"hang\" or \"reset\"");
    };
    if !(req.seconds.is_finite() && (0.0..1e9).contains(&req.seconds)) {
        return error_response(StatusCode::BAD_REQUEST, "bad_seconds", "seconds must be a non-negative number");
    }
    let duration = Duration::from_secs_f64(req.seconds);
    *lock(&shared.outage) = if duration.is_zero() { None } else { Some((Instant::now() + duration, mode)) };
    json_response(StatusCode::OK, &json!({ "seconds": req.seconds, "mode": mode.name() }))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let stats = lock(&shared.stats).clone();
    json_response(StatusCode::OK, &serde_json::to_value(stats).expect("stats serialise"))
}
