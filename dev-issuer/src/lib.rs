//! # tokenkeep-dev-issuer
//!
//! A real OIDC/JWKS issuer on `127.0.0.1` for local work, demos and tests. It
//! never binds anything but loopback.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tokenkeep_dev_issuer::DevIssuerError> {
//! use std::time::Duration;
//! use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig};
//!
//! let issuer = DevIssuer::start(DevIssuerConfig::default()).await?;
//! let token = issuer.mint(serde_json::json!({"sub": "me", "aud": "api"}), "ES256", Duration::from_secs(300))?;
//! println!("{} {} {}", issuer.issuer_url(), issuer.jwks_url(), token.len());
//! issuer.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Endpoints:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/.well-known/openid-configuration` | discovery: `issuer`, `jwks_uri`, `token_endpoint`, `id_token_signing_alg_values_supported` |
//! | GET | `/jwks` | public keys; `Cache-Control: public, max-age=N`, strong `ETag`, 304 on `If-None-Match` |
//! | POST | `/token` | `{"claims": {...}, "alg": "ES256", "ttl": 300}` -> `{"token", "kid", "expires_at"}` |
//! | POST | `/rotate` | a new current key for every algorithm in use |
//! | POST | `/outage` | `{"seconds": N, "mode": "503" \| "hang" \| "reset"}` |
//! | GET | `/stats` | request counters as JSON ([`Stats`]) |
//!
//! Outages and the bearer requirement apply to discovery and JWKS only (what
//! a verifier fetches); the control endpoints keep working so a test can
//! always talk to the issuer.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod keys;
mod server;
pub mod signing;
pub mod static_server;
mod tls;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokenkeep_core::Algorithm;

pub use server::RunningIssuer;
pub use signing::SigningKey;
pub use static_server::{SeenRequest, StaticRoute, StaticServer};

/// Default `max-age` of the JWKS response.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// How the dev issuer is started.
#[derive(Clone, Debug)]
pub struct DevIssuerConfig {
    /// Loopback port; 0 picks an ephemeral one.
    pub port: u16,
    /// Serve HTTPS with a freshly generated CA and a server certificate for
    /// `localhost` and `127.0.0.1`.
    pub tls: bool,
    /// Where to write the CA certificate (PEM) when `tls` is on; a temporary
    /// file (removed on shutdown) when `None`.
    pub ca_path: Option<PathBuf>,
    /// Discovery and JWKS demand `Authorization: Bearer <contents of this file,
    /// trimmed>`; the file is re-read on every request so a rotated token
    /// works at once. Anything else gets 401.
    pub require_bearer_file: Option<PathBuf>,
    /// `Cache-Control: max-age` of the JWKS (and discovery) responses.
    pub jwks_max_age: Duration,
    /// Rotate the keys of every algorithm in use on this period.
    pub rotate_every: Option<Duration>,
    /// How long a rotated-out key stays published; `None` means twice
    /// `jwks_max_age`.
    pub retire_after: Option<Duration>,
    /// The `iss` to announce and put into tokens; by default
    /// `http(s)://127.0.0.1:<port>`.
    pub issuer: Option<String>,
    /// JOSE names of the algorithms whose keys exist from the start (more are
    /// generated on first use). Default: `["ES256"]`.
    pub algorithms: Vec<String>,
}

impl Default for DevIssuerConfig {
    fn default() -> Self {
        DevIssuerConfig {
            port: 0,
            tls: false,
            ca_path: None,
            require_bearer_file: None,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            rotate_every: None,
            retire_after: None,
            issuer: None,
            algorithms: vec!["ES256".to_owned()],
        }
    }
}

impl DevIssuerConfig {
    /// The effective retirement delay of rotated-out keys.
    pub fn effective_retire_after(&self) -> Duration {
        self.retire_after.unwrap_or(self.jwks_max_age * 2)
    }
}

/// The dev issuer's entry point.
#[derive(Debug)]
pub struct DevIssuer;

impl DevIssuer {
    /// Binds `127.0.0.1:<port>`, generates the initial keys (and TLS material)
    /// and serves until [`RunningIssuer::shutdown`] or drop.
    pub async fn start(config: DevIssuerConfig) -> Result<RunningIssuer, DevIssuerError> {
        server::start(config).await
    }
}

/// What an outage does to discovery and JWKS requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutageMode {
    /// Answer `503 Service Unavailable`.
    Status503,
    /// Accept the request and answer nothing until the outage ends (then 503).
    Hang,
    /// Close the connection without an answer.
    Reset,
}

impl OutageMode {
    /// Parses the `/outage` endpoint's `mode`: `503`, `hang` or `reset`.
    pub fn from_name(name: &str) -> Option<OutageMode> {
        match name {
            "503" | "status503" => Some(OutageMode::Status503),
            "hang" => Some(OutageMode::Hang),
            "reset" => Some(OutageMode::Reset),
            _ => None,
        }
    }

    /// The name `/outage` accepts.
    pub fn name(self) -> &'static str {
        match self {
            OutageMode::Status503 => "503",
            OutageMode::Hang => "hang",
            OutageMode::Reset => "reset",
        }
    }
}

/// Request counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Every request, whatever happened to it.
    pub total: u64,
    /// Requests per path (`/jwks`, `/.well-known/openid-configuration`,
    /// `/token`, …; anything unknown under `other`).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Answers per HTTP status (a reset connection has no status and is not
    /// counted here).
    pub by_status: BTreeMap<u16, u64>,
    /// JWKS requests answered `304 Not Modified`.
    pub jwks_304s: u64,
    /// Connections closed without an answer by a `reset` outage.
    pub resets: u64,
}

impl Stats {
    /// Requests to `/jwks`.
    pub fn jwks_requests(&self) -> u64 {
        self.endpoint("/jwks")
    }

    /// Requests to the discovery document.
    pub fn discovery_requests(&self) -> u64 {
        self.endpoint(server::DISCOVERY_PATH)
    }

    /// Requests to one path.
    pub fn endpoint(&self, path: &str) -> u64 {
        self.by_endpoint.get(path).copied().unwrap_or(0)
    }

    /// Answers with one status.
    pub fn status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// Errors of the dev issuer. Messages never contain a token or key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIssuerError {
    /// Binding the loopback port failed.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The OS error.
        source: std::io::Error,
    },
    /// Generating or configuring TLS failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The algorithm is unknown or not served by the dev issuer.
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlg(String),
    /// The key cannot sign with the requested algorithm.
    #[error("a {key} key cannot sign {alg}")]
    AlgMismatch {
        /// The requested algorithm.
        alg: String,
        /// The key's type.
        key: String,
    },
    /// The claims are not a JSON object.
    #[error("claims must be a JSON object")]
    InvalidClaims,
    /// A key could not be generated, parsed or used.
    #[error("key error: {0}")]
    Key(String),
    /// The key is usable for signing, but verifiers refuse it (the core's
    /// key rules): tokens signed with it would never verify.
    #[error("a {key} key for {alg} is refused by verifiers ({reason}){}", explain_refusal(.reason))]
    KeyRefused {
        /// The key's type and size.
        key: String,
        /// The algorithm.
        alg: String,
        /// The core's skip reason code.
        reason: &'static str,
    },
}

fn explain_refusal(reason: &str) -> &'static str {
    match reason {
        "hmac_secret_too_short" => {
            ": an HMAC secret needs at least as many bytes as its hash (32 for HS256, 48 for HS384, 64 for HS512)"
        }
        _ => "",
    }
}

impl DevIssuerError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            DevIssuerError::Bind { .. } => "bind_failed",
            DevIssuerError::Tls(_) => "tls_setup_failed",
            DevIssuerError::Io { .. } => "io_error",
            DevIssuerError::UnsupportedAlg(_) => "unsupported_alg",
            DevIssuerError::AlgMismatch { .. } => "alg_key_mismatch",
            DevIssuerError::InvalidClaims => "invalid_claims",
            DevIssuerError::Key(_) => "key_error",
            DevIssuerError::KeyRefused { .. } => "key_refused",
        }
    }
}

/// Parses a JOSE algorithm name the dev issuer publishes keys for.
pub fn issuer_algorithm(name: &str) -> Result<Algorithm, DevIssuerError> {
    Algorithm::from_name(name)
        .filter(|a| signing::ISSUER_ALGORITHMS.contains(a))
        .ok_or_else(|| DevIssuerError::UnsupportedAlg(name.to_owned()))
}
