//! Vault / OpenBao protocol as data: request builders, response parsers, and
//! the wiring of the three Vault credentials onto [`CredentialMachine`].
//!
//! Nothing here performs I/O. Every builder returns an [`HttpRequest`]; every
//! parser takes an [`HttpResponse`]. `X-Vault-Token` is always a
//! [`HeaderValue::sensitive`] header, and a login request's body (holding the
//! JWT) is never printed ([`HttpRequest`]'s `Debug` leaves bodies out).
//!
//! Machines:
//!
//! - [`VaultTokenMachine`]: JWT login (the host supplies the JWT when asked,
//!   [`VaultAction::NeedJwt`]), `renew-self` near 2/3 of the TTL, re-login when
//!   a renewal stops extending the token (`token_max_ttl`) or the token is
//!   rejected, `revoke-self` on shutdown when asked.
//! - [`KvSecretMachine`]: polls a KV v2 secret with the current token; a
//!   version change is a rotation; the previous version stays for the grace window.
//! - [`LeaseMachine`]: a dynamic secret (`database/creds/<role>`): read,
//!   renew through `sys/leases/renew`, re-read before the lease's max TTL or
//!   before the creating token dies, revoke the old lease after the grace
//!   window, revoke on shutdown.
//!
//! Secrets and leases are read with the current Vault token, which the host
//! passes in with `handle_token` whenever the token machine reports a change
//! (an `obtained`/`renewed`/`rotated` event). A 403 on such a read makes the
//! secret's machine emit [`Event::TokenRejected`]; the host then calls
//! [`VaultTokenMachine::handle_token_rejected`] (one re-login). A second 403
//! with the new token is fatal for that secret (slow retry).

use crate::credential::{
    Attempt, AttemptFailure, AttemptKind, CredentialConfig, CredentialError, CredentialMachine, CredentialState, Event,
    Health, Obtained, Outcome, SecretString,
};
use crate::http::{HeaderValue, HttpOutcome, HttpRequest, HttpResponse, Method, RequestId, TransportError};
use crate::time::UnixTime;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// Default per-request budget.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default largest response body read.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Longest lease or TTL believed from a server (ten years); longer is clamped.
const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// Everything that can go wrong talking to Vault, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaultError {
    /// The server address is not an `http(s)://host[:port][/prefix]` URL.
    InvalidAddress,
    /// A mount or path is empty, has an empty, `.` or `..` segment, or a
    /// character outside `A-Za-z0-9-_.~@+=:,`.
    InvalidPath,
    /// Another argument is unusable (an empty role, lease id or JWT).
    InvalidArgument,
    /// 403: the token is gone (expired, revoked, server restarted) or the
    /// policy denies.
    PermissionDenied,
    /// 400: the request is wrong (bad role, bad JWT; permanent).
    InvalidRequest,
    /// 404 without data.
    NotFound,
    /// KV v2: the latest version is deleted (404 with metadata, `data.data` null).
    SecretDeleted {
        /// The deleted version, if reported.
        version: Option<u64>,
    },
    /// 503: sealed or not ready (retryable).
    Sealed {
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// 429 (retryable).
    RateLimited {
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// 412: a standby has not caught up (retryable).
    PreconditionFailed,
    /// Another 5xx (retryable).
    ServerError {
        /// The status.
        status: u16,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// A status this client does not expect (unknown 4xx permanent, others retryable).
    UnexpectedStatus {
        /// The status.
        status: u16,
    },
    /// No answer (retryable).
    Transport(TransportError),
    /// A 2xx whose body lacks what the endpoint promises.
    BadResponse,
    /// A lease renew/revoke/lookup for a lease the server does not know (400
    /// "lease not found"): final for that lease.
    LeaseNotFound,
    /// The lease cannot be renewed (400 "lease is not renewable").
    LeaseNotRenewable,
}

crate::codes::code_enum! {
    /// The stable code of a [`VaultError`].
    pub enum VaultErrorCode {
        /// The server address is not an `http(s)://host[:port][/prefix]` URL.
        InvalidAddress => "invalid_address",
        /// A mount, path or namespace that is not usable.
        InvalidPath => "invalid_path",
        /// Another argument is unusable (an empty role, lease id or JWT).
        InvalidArgument => "invalid_argument",
        /// 403: the token is gone or the policy denies.
        PermissionDenied => "permission_denied",
        /// 400: the request is wrong (bad role, bad JWT).
        InvalidRequest => "invalid_request",
        /// 404 without data.
        NotFound => "not_found",
        /// KV v2: the latest version is deleted.
        SecretDeleted => "secret_deleted",
        /// 503: sealed or not ready.
        Sealed => "sealed",
        /// 429.
        RateLimited => "rate_limited",
        /// 412: a standby has not caught up.
        PreconditionFailed => "precondition_failed",
        /// Another 5xx.
        ServerError => "server_error",
        /// A status this client does not expect.
        UnexpectedStatus => "unexpected_status",
        /// No answer (the transport's own code is in the error).
        Transport => "transport",
        /// A 2xx whose body lacks what the endpoint promises.
        BadResponse => "bad_response",
        /// The lease is unknown to the server.
        LeaseNotFound => "lease_not_found",
        /// The lease cannot be renewed.
        LeaseNotRenewable => "lease_not_renewable",
    }
}

impl VaultError {
    /// Stable snake_case code.
    pub fn code(&self) -> VaultErrorCode {
        match self {
            VaultError::InvalidAddress => VaultErrorCode::InvalidAddress,
            VaultError::InvalidPath => VaultErrorCode::InvalidPath,
            VaultError::InvalidArgument => VaultErrorCode::InvalidArgument,
            VaultError::PermissionDenied => VaultErrorCode::PermissionDenied,
            VaultError::InvalidRequest => VaultErrorCode::InvalidRequest,
            VaultError::NotFound => VaultErrorCode::NotFound,
            VaultError::SecretDeleted { .. } => VaultErrorCode::SecretDeleted,
            VaultError::Sealed { .. } => VaultErrorCode::Sealed,
            VaultError::RateLimited { .. } => VaultErrorCode::RateLimited,
            VaultError::PreconditionFailed => VaultErrorCode::PreconditionFailed,
            VaultError::ServerError { .. } => VaultErrorCode::ServerError,
            VaultError::UnexpectedStatus { .. } => VaultErrorCode::UnexpectedStatus,
            VaultError::Transport(_) => VaultErrorCode::Transport,
            VaultError::BadResponse => VaultErrorCode::BadResponse,
            VaultError::LeaseNotFound => VaultErrorCode::LeaseNotFound,
            VaultError::LeaseNotRenewable => VaultErrorCode::LeaseNotRenewable,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            VaultError::Sealed { .. }
            | VaultError::RateLimited { .. }
            | VaultError::PreconditionFailed
            | VaultError::ServerError { .. }
            | VaultError::Transport(_)
            | VaultError::BadResponse => true,
            VaultError::UnexpectedStatus { status } => !(400..500).contains(status),
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            VaultError::Sealed { retry_after }
            | VaultError::RateLimited { retry_after }
            | VaultError::ServerError { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultError::InvalidAddress => f.write_str("invalid Vault address"),
            VaultError::InvalidPath => f.write_str("invalid Vault mount or path"),
            VaultError::InvalidArgument => f.write_str("invalid argument"),
            VaultError::PermissionDenied => f.write_str("Vault: permission denied"),
            VaultError::InvalidRequest => f.write_str("Vault: invalid request"),
            VaultError::NotFound => f.write_str("Vault: not found"),
            VaultError::SecretDeleted { version: Some(v) } => {
                write!(f, "Vault: secret version {v} is deleted")
            }
            VaultError::SecretDeleted { version: None } => f.write_str("Vault: secret is deleted"),
            VaultError::Sealed { .. } => f.write_str("Vault: sealed or unavailable"),
            VaultError::RateLimited { .. } => f.write_str("Vault: rate limited"),
            VaultError::PreconditionFailed => f.write_str("Vault: precondition failed (standby behind)"),
            VaultError::ServerError { status, .. } => write!(f, "Vault: server error {status}"),
            VaultError::UnexpectedStatus { status } => {
                write!(f, "Vault: unexpected status {status}")
            }
            VaultError::Transport(e) => write!(f, "Vault unreachable: {}", e.code()),
            VaultError::BadResponse => f.write_str("Vault: malformed response"),
            VaultError::LeaseNotFound => f.write_str("Vault: lease not found"),
            VaultError::LeaseNotRenewable => f.write_str("Vault: lease is not renewable"),
        }
    }
}

impl std::error::Error for VaultError {}

/// A validated mount or path: segments separated by `/`, none empty, `.` or
/// `..`, characters from `A-Za-z0-9-_.~@+=:,` only (so nothing needs escaping
/// in a URL). Leading and trailing slashes are dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaultPath(String);

impl VaultPath {
    /// Validates `s`.
    pub fn new(s: &str) -> Result<Self, VaultError> {
        let s = s.trim().trim_matches('/');
        if s.is_empty() {
            return Err(VaultError::InvalidPath);
        }
        for seg in s.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(VaultError::InvalidPath);
            }
            if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~@+=:,".contains(&b)) {
                return Err(VaultError::InvalidPath);
            }
        }
        Ok(VaultPath(s.to_string()))
    }

    /// The normalised path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VaultPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where and how to reach Vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultConfig {
    address: String,
    namespace: Option<VaultPath>,
    /// Per-request budget put on every [`HttpRequest`].
    pub request_timeout: Duration,
    /// Largest body the host may read.
    pub max_body_bytes: usize,
}

impl VaultConfig {
    /// `address` like `VAULT_ADDR`: `https://vault.example:8200` (a trailing
    /// slash is dropped; a path prefix is kept; no query, fragment or credentials).
    pub fn new(address: &str) -> Result<Self, VaultError> {
        let a = address.trim().trim_end_matches('/');
        let rest =
            a.strip_prefix("https://").or_else(|| a.strip_prefix("http://")).ok_or(VaultError::InvalidAddress)?;
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty()
            || a.contains(['?', '#', '@', ' ', '\\'])
            || a.chars().any(|c| c.is_control())
            || rest.contains("//")
        {
            return Err(VaultError::InvalidAddress);
        }
        Ok(VaultConfig {
            address: a.to_string(),
            namespace: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// Sends `X-Vault-Namespace: ns` (Vault Enterprise / OpenBao namespaces).
    pub fn with_namespace(mut self, ns: &str) -> Result<Self, VaultError> {
        self.namespace = Some(VaultPath::new(ns)?);
        Ok(self)
    }

    /// The normalised address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_ref().map(VaultPath::as_str)
    }

    fn request(
        &self,
        id: RequestId,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> HttpRequest {
        let mut headers = vec![("X-Vault-Request".to_string(), HeaderValue::plain("true"))];
        if let Some(ns) = &self.namespace {
            headers.push(("X-Vault-Namespace".to_string(), HeaderValue::plain(ns.as_str())));
        }
        if let Some(t) = token {
            headers.push(("X-Vault-Token".to_string(), HeaderValue::sensitive(t)));
        }
        let body = match body {
            Some(v) => {
                headers.push(("Content-Type".to_string(), HeaderValue::plain("application/json")));
                serde_json::to_vec(&v).unwrap_or_default()
            }
            None => Vec::new(),
        };
        HttpRequest {
            id,
            method,
            url: format!("{}/v1/{}", self.address, path),
            headers,
            body,
            timeout: self.request_timeout,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// `POST /v1/auth/<mount>/login {role, jwt}`.
    pub fn login_jwt(
        &self,
        id: RequestId,
        mount: &VaultPath,
        role: &str,
        jwt: &str,
    ) -> Result<HttpRequest, VaultError> {
        if role.trim().is_empty() || jwt.trim().is_empty() {
            return Err(VaultError::InvalidArgument);
        }
        Ok(self.request(
            id,
            Method::Post,
            &format!("auth/{}/login", mount.as_str()),
            None,
            Some(json!({"role": role, "jwt": jwt.trim()})),
        ))
    }

    /// `POST /v1/auth/token/renew-self`, with `{"increment": "<secs>s"}` when
    /// `increment` is given. Never pass an increment smaller than the
    /// remaining TTL (it would shorten the token); the machines omit it.
    pub fn renew_self(&self, id: RequestId, token: &str, increment: Option<Duration>) -> HttpRequest {
        let body = increment.map(|i| json!({"increment": format!("{}s", i.as_secs())}));
        self.request(id, Method::Post, "auth/token/renew-self", Some(token), body.or(Some(json!({}))))
    }

    /// `GET /v1/auth/token/lookup-self`.
    pub fn lookup_self(&self, id: RequestId, token: &str) -> HttpRequest {
        self.request(id, Method::Get, "auth/token/lookup-self", Some(token), None)
    }

    /// `POST /v1/auth/token/revoke-self`.
    pub fn revoke_self(&self, id: RequestId, token: &str) -> HttpRequest {
        self.request(id, Method::Post, "auth/token/revoke-self", Some(token), None)
    }

    /// `GET /v1/<mount>/data/<path>` (KV v2 read, latest version).
    pub fn kv2_read(&self, id: RequestId, token: &str, mount: &VaultPath, path: &VaultPath) -> HttpRequest {
        self.request(id, Method::Get, &format!("{}/data/{}", mount.as_str(), path.as_str()), Some(token), None)
    }

    /// `POST /v1/<mount>/data/<path> {"data": {...}}` (KV v2 write), with
    /// `options.cas` when `cas` is given.
    pub fn kv2_write(
        &self,
        id: RequestId,
        token: &str,
        mount: &VaultPath,
        path: &VaultPath,
        data: &Map<String, Value>,
        cas: Option<u64>,
    ) -> HttpRequest {
        let mut body = json!({"data": data});
        if let (Some(c), Some(obj)) = (cas, body.as_object_mut()) {
            obj.insert("options".into(), json!({"cas": c}));
        }
        self.request(id, Method::Post, &format!("{}/data/{}", mount.as_str(), path.as_str()), Some(token), Some(body))
    }

    /// `GET /v1/<path>`: any read, e.g. `database/creds/<role>` for a leased secret.
    pub fn read(&self, id: RequestId, token: &str, path: &VaultPath) -> HttpRequest {
        self.request(id, Method::Get, path.as_str(), Some(token), None)
    }

    /// `PUT /v1/sys/leases/renew {lease_id, increment}`.
    pub fn lease_renew(&self, id: RequestId, token: &str, lease_id: &str, increment: Option<Duration>) -> HttpRequest {
        let mut body = json!({"lease_id": lease_id});
        if let (Some(i), Some(obj)) = (increment, body.as_object_mut()) {
            obj.insert("increment".into(), json!(i.as_secs()));
        }
        self.request(id, Method::Put, "sys/leases/renew", Some(token), Some(body))
    }

    /// `PUT /v1/sys/leases/lookup {lease_id}`.
    pub fn lease_lookup(&self, id: RequestId, token: &str, lease_id: &str) -> HttpRequest {
        self.request(id, Method::Put, "sys/leases/lookup", Some(token), Some(json!({"lease_id": lease_id})))
    }

    /// `PUT /v1/sys/leases/revoke {lease_id}`.
    pub fn lease_revoke(&self, id: RequestId, token: &str, lease_id: &str) -> HttpRequest {
        self.request(id, Method::Put, "sys/leases/revoke", Some(token), Some(json!({"lease_id": lease_id})))
    }
}

// ----- values ------------------------------------------------------------

/// A Vault token from a login. `Debug` shows neither the token nor its accessor.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultToken {
    token: SecretString,
    accessor: Option<SecretString>,
    /// TTL granted at login.
    pub lease_duration: Duration,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
    /// Policies attached.
    pub policies: Vec<String>,
}

impl VaultToken {
    /// A token value (for tests and hosts holding a static token).
    pub fn new(token: impl Into<String>, lease_duration: Duration, renewable: bool) -> Self {
        VaultToken { token: SecretString::new(token), accessor: None, lease_duration, renewable, policies: Vec::new() }
    }

    /// The token, for `X-Vault-Token`.
    pub fn expose(&self) -> &str {
        self.token.expose()
    }

    /// The token's accessor (sensitive: it can revoke the token).
    pub fn accessor(&self) -> Option<&str> {
        self.accessor.as_ref().map(SecretString::expose)
    }
}

impl fmt::Debug for VaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultToken")
            .field("token", &"<redacted>")
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("policies", &self.policies)
            .finish()
    }
}

/// What `renew-self` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRenewal {
    /// New TTL from now: the no-progress guard compares `now + lease_duration`
    /// with the previous expiry (Vault answers 200 with a capped TTL at `token_max_ttl`).
    pub lease_duration: Duration,
    /// Whether it may be renewed again.
    pub renewable: bool,
    /// Number of warnings the server attached (a capped TTL comes with one).
    pub warnings: usize,
}

/// What `lookup-self` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenLookup {
    /// Remaining TTL.
    pub ttl: Duration,
    /// Whether it is renewable.
    pub renewable: bool,
    /// Policies attached.
    pub policies: Vec<String>,
    /// `expire_time` as sent (RFC 3339), if any.
    pub expire_time: Option<String>,
}

/// A KV v2 secret version. `Debug` shows the version and the number of keys, never values.
#[derive(Clone, PartialEq)]
pub struct KvSecret {
    /// `data.data`.
    pub data: Map<String, Value>,
    /// `data.metadata.version`.
    pub version: u64,
    /// `data.metadata.created_time`.
    pub created_time: Option<String>,
}

impl KvSecret {
    /// A string member of the secret.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

impl fmt::Debug for KvSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSecret")
            .field("version", &self.version)
            .field("keys", &self.data.len())
            .field("created_time", &self.created_time)
            .finish()
    }
}

/// A leased (dynamic) secret. `Debug` shows the lease's path prefix only.
#[derive(Clone, PartialEq)]
pub struct LeasedSecret {
    lease_id: SecretString,
    /// TTL granted.
    pub lease_duration: Duration,
    /// Whether `sys/leases/renew` may extend it.
    pub renewable: bool,
    /// The secret itself (`data.username`, `data.password`, ...).
    pub data: Map<String, Value>,
}

impl LeasedSecret {
    /// The lease id.
    pub fn lease_id(&self) -> &str {
        self.lease_id.expose()
    }

    /// A string member of the secret.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

impl fmt::Debug for LeasedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.lease_id.expose();
        let prefix = id.rsplit_once('/').map_or("", |(p, _)| p);
        f.debug_struct("LeasedSecret")
            .field("lease", &format_args!("{prefix}/<redacted>"))
            .field("lease_duration", &self.lease_duration)
            .field("renewable", &self.renewable)
            .field("keys", &self.data.len())
            .finish()
    }
}

/// What `sys/leases/renew` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRenewal {
    /// New TTL from now (capped at the lease's max TTL).
    pub lease_duration: Duration,
    /// Whether it may be renewed again.
    pub renewable: bool,
}

// ----- parsers -------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Plain,
    Kv,
    Lease,
}

fn error_messages(body: &Value) -> Vec<String> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect())
        .unwrap_or_default()
}

/// Longest reason [`error_reason`] returns, in characters.
const REASON_MAX_CHARS: usize = 300;

/// Why Vault/OpenBao refused `sent`, as its `errors[]` said, for a log line:
/// the messages joined with `; `, the request's secrets (its sensitive
/// headers: the Vault token; the `jwt`, `token` and `lease_id` members of its
/// body) replaced with `<redacted>` should the server echo them, control and
/// bidi characters replaced, at most 300 characters. `None` for a success or
/// an answer without `errors`.
pub fn error_reason(resp: &HttpResponse, sent: &HttpRequest) -> Option<String> {
    if (200..300).contains(&resp.status) {
        return None;
    }
    let body: Value = serde_json::from_slice(&resp.body).ok()?;
    let messages: Vec<&str> = body.get("errors")?.as_array()?.iter().filter_map(Value::as_str).collect();
    if messages.is_empty() {
        return None;
    }
    let mut reason = messages.join("; ");
    let sent_body: Value = serde_json::from_slice(&sent.body).unwrap_or(Value::Null);
    let body_secrets = ["jwt", "token", "lease_id"].into_iter().filter_map(|k| sent_body.get(k)?.as_str());
    let header_secrets = sent.headers.iter().filter(|(_, v)| v.is_sensitive()).map(|(_, v)| v.expose());
    for secret in body_secrets.chain(header_secrets).filter(|s| !s.is_empty()) {
        reason = reason.replace(secret, "<redacted>");
    }
    // OpenBao writes "1 error occurred:\n\t* permission denied\n\n": one line, no padding.
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(crate::text::sanitize_clipped(&reason, REASON_MAX_CHARS))
}

fn classify(resp: &HttpResponse, ctx: Ctx) -> VaultError {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let msgs = error_messages(&body);
    let says = |needle: &str| msgs.iter().any(|m| m.contains(needle));
    let retry_after = resp.retry_after();
    match resp.status {
        400 if ctx == Ctx::Lease && (says("lease not found") || says("invalid lease")) => VaultError::LeaseNotFound,
        400 if ctx == Ctx::Lease && says("not renewable") => VaultError::LeaseNotRenewable,
        400 => VaultError::InvalidRequest,
        403 => VaultError::PermissionDenied,
        404 => {
            let data = body.get("data");
            let meta = data.and_then(|d| d.get("metadata")).filter(|m| m.is_object());
            let inner_null = data.and_then(|d| d.get("data")).is_none_or(Value::is_null);
            match (ctx, meta) {
                (Ctx::Kv, Some(m)) if inner_null => {
                    VaultError::SecretDeleted { version: m.get("version").and_then(Value::as_u64) }
                }
                _ => VaultError::NotFound,
            }
        }
        412 => VaultError::PreconditionFailed,
        429 => VaultError::RateLimited { retry_after },
        503 => VaultError::Sealed { retry_after },
        s @ 500..=599 => VaultError::ServerError { status: s, retry_after },
        s => VaultError::UnexpectedStatus { status: s },
    }
}

fn success_body(resp: &HttpResponse, ctx: Ctx) -> Result<Value, VaultError> {
    if !(200..300).contains(&resp.status) {
        return Err(classify(resp, ctx));
    }
    if resp.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&resp.body).map_err(|_| VaultError::BadResponse)
}

fn duration_field(v: Option<&Value>) -> Option<Duration> {
    let v = v?;
    let secs = v.as_u64().or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))?;
    Some(Duration::from_secs(secs.min(MAX_TTL_SECS)))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn warnings(body: &Value) -> usize {
    body.get("warnings").and_then(Value::as_array).map_or(0, Vec::len)
}

/// Parses a login answer: `auth.client_token`, `auth.lease_duration`,
/// `auth.renewable`, `auth.policies`, `auth.accessor`.
pub fn parse_login(resp: &HttpResponse) -> Result<VaultToken, VaultError> {
    let body = success_body(resp, Ctx::Plain)?;
    let auth = body.get("auth").filter(|a| a.is_object()).ok_or(VaultError::BadResponse)?;
    let token =
        auth.get("client_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or(VaultError::BadResponse)?;
    Ok(VaultToken {
        token: SecretString::new(token),
        accessor: auth.get("accessor").and_then(Value::as_str).filter(|a| !a.is_empty()).map(SecretString::new),
        lease_duration: duration_field(auth.get("lease_duration")).ok_or(VaultError::BadResponse)?,
        renewable: auth.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        policies: string_list(auth.get("policies")),
    })
}

/// Parses a `renew-self` answer.
pub fn parse_renew_self(resp: &HttpResponse) -> Result<TokenRenewal, VaultError> {
    let body = success_body(resp, Ctx::Plain)?;
    let auth = body.get("auth").filter(|a| a.is_object()).ok_or(VaultError::BadResponse)?;
    Ok(TokenRenewal {
        lease_duration: duration_field(auth.get("lease_duration")).ok_or(VaultError::BadResponse)?,
        renewable: auth.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        warnings: warnings(&body),
    })
}

/// Parses a `lookup-self` answer.
pub fn parse_lookup_self(resp: &HttpResponse) -> Result<TokenLookup, VaultError> {
    let body = success_body(resp, Ctx::Plain)?;
    let data = body.get("data").filter(|d| d.is_object()).ok_or(VaultError::BadResponse)?;
    Ok(TokenLookup {
        ttl: duration_field(data.get("ttl")).ok_or(VaultError::BadResponse)?,
        renewable: data.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        policies: string_list(data.get("policies")),
        expire_time: data.get("expire_time").and_then(Value::as_str).map(str::to_string),
    })
}

/// Parses a KV v2 read: `data.data` (an object) and `data.metadata.version`.
/// A 404 whose `data.data` is null with metadata present is
/// [`VaultError::SecretDeleted`]; a plain 404 is [`VaultError::NotFound`].
pub fn parse_kv2_read(resp: &HttpResponse) -> Result<KvSecret, VaultError> {
    let body = success_body(resp, Ctx::Kv)?;
    let data = body.get("data").filter(|d| d.is_object()).ok_or(VaultError::BadResponse)?;
    let meta = data.get("metadata");
    let version = meta.and_then(|m| m.get("version")).and_then(Value::as_u64);
    let inner = match data.get("data") {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::Null) | None if meta.is_some_and(Value::is_object) => {
            return Err(VaultError::SecretDeleted { version });
        }
        _ => return Err(VaultError::BadResponse),
    };
    Ok(KvSecret {
        data: inner,
        version: version.ok_or(VaultError::BadResponse)?,
        created_time: meta.and_then(|m| m.get("created_time")).and_then(Value::as_str).map(str::to_string),
    })
}

/// Parses a KV v2 write: the new `data.version`.
pub fn parse_kv2_write(resp: &HttpResponse) -> Result<u64, VaultError> {
    let body = success_body(resp, Ctx::Kv)?;
    body.get("data").and_then(|d| d.get("version")).and_then(Value::as_u64).ok_or(VaultError::BadResponse)
}

/// Parses a read that returns a lease (`lease_id`, `lease_duration`,
/// `renewable`, `data`).
pub fn parse_lease_read(resp: &HttpResponse) -> Result<LeasedSecret, VaultError> {
    let body = success_body(resp, Ctx::Plain)?;
    let lease_id =
        body.get("lease_id").and_then(Value::as_str).filter(|l| !l.is_empty()).ok_or(VaultError::BadResponse)?;
    let data = match body.get("data") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(VaultError::BadResponse),
    };
    Ok(LeasedSecret {
        lease_id: SecretString::new(lease_id),
        lease_duration: duration_field(body.get("lease_duration")).ok_or(VaultError::BadResponse)?,
        renewable: body.get("renewable").and_then(Value::as_bool).unwrap_or(false),
        data,
    })
}

/// Parses a `sys/leases/renew` answer. "lease not found" is [`VaultError::LeaseNotFound`].
pub fn parse_lease_renew(resp: &HttpResponse) -> Result<LeaseRenewal, VaultError> {
    let body = success_body(resp, Ctx::Lease)?;
    Ok(LeaseRenewal {
        lease_duration: duration_field(body.get("lease_duration")).ok_or(VaultError::BadResponse)?,
        renewable: body.get("renewable").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Parses a `sys/leases/lookup` answer: the remaining `ttl`.
pub fn parse_lease_lookup(resp: &HttpResponse) -> Result<Duration, VaultError> {
    let body = success_body(resp, Ctx::Lease)?;
    duration_field(body.get("data").and_then(|d| d.get("ttl"))).ok_or(VaultError::BadResponse)
}

/// Checks a revoke answer (`revoke-self`, `sys/leases/revoke`): `Ok` on 2xx.
pub fn parse_revoke(resp: &HttpResponse) -> Result<(), VaultError> {
    success_body(resp, Ctx::Lease).map(|_| ())
}

fn outcome_error(outcome: HttpOutcome, ctx: Ctx) -> Result<HttpResponse, VaultError> {
    match outcome {
        HttpOutcome::Response(r) => {
            if (200..300).contains(&r.status) {
                Ok(r)
            } else {
                Err(classify(&r, ctx))
            }
        }
        HttpOutcome::Failed(e) => Err(VaultError::Transport(e)),
    }
}

fn retryable<V>(e: &VaultError) -> Outcome<V> {
    Outcome::Retryable { code: e.code().as_str(), retry_after: e.retry_after() }
}

// ----- revocation queue ------------------------------------------------------

struct Revoke {
    secret: SecretString,
    attempts: u32,
    not_before: UnixTime,
}

const REVOKE_MAX_ATTEMPTS: u32 = 5;

#[derive(Default)]
struct RevokeQueue {
    items: VecDeque<Revoke>,
}

impl RevokeQueue {
    fn push(&mut self, secret: SecretString, now: UnixTime) {
        if !secret.is_empty() {
            self.items.push_back(Revoke { secret, attempts: 0, not_before: now });
        }
    }

    fn ready(&self, now: UnixTime) -> bool {
        self.items.front().is_some_and(|r| r.not_before <= now)
    }

    fn next_time(&self) -> Option<UnixTime> {
        self.items.front().map(|r| r.not_before)
    }

    /// A failed revocation: retried later (5 s, 10 s, ...) up to 5 times.
    fn failed(&mut self, mut r: Revoke, now: UnixTime) -> bool {
        r.attempts += 1;
        if r.attempts >= REVOKE_MAX_ATTEMPTS {
            return false;
        }
        r.not_before = now + Duration::from_secs(5u64 << r.attempts.min(6));
        self.items.push_back(r);
        true
    }
}

fn finish_revoke<V>(
    machine: &mut CredentialMachine<V>,
    queue: &mut RevokeQueue,
    r: Revoke,
    outcome: HttpOutcome,
    now: UnixTime,
) {
    match outcome_error(outcome, Ctx::Lease) {
        Ok(_) | Err(VaultError::LeaseNotFound) => machine.push_event(Event::Revoked),
        Err(e) if e.is_retryable() => {
            let will_retry = queue.failed(r, now);
            machine.push_event(Event::RevokeFailed { code: e.code().as_str(), will_retry });
        }
        Err(e) => machine.push_event(Event::RevokeFailed { code: e.code().as_str(), will_retry: false }),
    }
}

// ----- token machine ------------------------------------------------------

/// What a [`VaultTokenMachine`] wants from its host.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum VaultAction {
    /// Send this request; answer with `handle_response(request.id, ...)`.
    Send(HttpRequest),
    /// A login is due and the machine has no usable JWT: read one (token
    /// file, SPIFFE Workload API) and call [`VaultTokenMachine::handle_jwt`].
    NeedJwt,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TokenOp {
    Login,
    Renew,
    Revoke,
}

/// A JWT closer than this to its `exp` is not used for a login: it could
/// expire on its way to the server.
pub const JWT_MIN_REMAINING: Duration = Duration::from_secs(5);

crate::codes::code_enum! {
    /// Why no JWT could be had for a Vault login (the login waits and asks again).
    pub enum JwtErrorCode {
        /// The JWT file could not be read (missing, permission, I/O).
        Unreadable => "unreadable",
        /// The source has no JWT now (a token file not written yet, a
        /// provider whose workload API is not ready).
        Unavailable => "unavailable",
        /// The provider failed for another reason.
        ProviderFailed => "provider_failed",
        /// Empty or whitespace only.
        Empty => "empty",
        /// Not UTF-8.
        NotUtf8 => "not_utf8",
        /// Not a compact JWS.
        NotAJwt => "not_a_jwt",
        /// No numeric `exp` claim.
        NoExp => "no_exp",
        /// Already expired.
        Expired => "expired",
        /// Within [`JWT_MIN_REMAINING`] of its `exp`.
        Expiring => "expiring",
    }
}

/// Whether a JWT expiring at `exp` may still be sent for a login at `now`
/// (the 5 s freshness rule; a JWT without a readable `exp` is the server's to judge).
pub fn jwt_fresh_enough(exp: Option<UnixTime>, now: UnixTime) -> bool {
    exp.is_none_or(|e| e > now + JWT_MIN_REMAINING)
}

/// Checks bytes a JWT source produced (a file's contents, a provider's
/// answer) for a login at `now`: a compact JWS with an `exp` more than
/// [`JWT_MIN_REMAINING`] away. Returns the JWT, trimmed.
pub fn check_login_jwt(raw: &[u8], now: UnixTime) -> Result<SecretString, JwtErrorCode> {
    use crate::token_file::{TokenFileError, parse_token_file};
    let token = parse_token_file(raw, now).map_err(|e| match e {
        TokenFileError::Empty => JwtErrorCode::Empty,
        TokenFileError::NotUtf8 => JwtErrorCode::NotUtf8,
        TokenFileError::NoExp => JwtErrorCode::NoExp,
        TokenFileError::TokenExpired => JwtErrorCode::Expired,
        _ => JwtErrorCode::NotAJwt,
    })?;
    if !jwt_fresh_enough(Some(token.exp), now) {
        return Err(JwtErrorCode::Expiring);
    }
    Ok(SecretString::new(token.expose()))
}

/// The Vault token obtained by JWT login, renewed with `renew-self`.
pub struct VaultTokenMachine {
    vault: VaultConfig,
    mount: VaultPath,
    role: String,
    machine: CredentialMachine<VaultToken>,
    jwt: Option<(SecretString, Option<UnixTime>)>,
    waiting_for_jwt: Option<Attempt>,
    need_jwt: bool,
    actions: VecDeque<VaultAction>,
    op: Option<(RequestId, TokenOp)>,
    revoking: Option<Revoke>,
    revokes: RevokeQueue,
    revoke_retired: bool,
    /// Since when logins have been answered 400 (retried as transient for a while).
    login_400_since: Option<UnixTime>,
}

/// How much shorter than what the login (or the lease read) granted a renewal
/// may be before it counts as capped by a max TTL (the server counts from its
/// own clock).
const CAPPED_TOLERANCE: Duration = Duration::from_secs(2);

/// How long login answers of 400 are retried with backoff before the token
/// machine goes Fatal: OpenBao also answers 400 when it could not fetch the
/// JWKS it validates the JWT against, which passes.
pub const TRANSIENT_LOGIN_400_WINDOW: std::time::Duration = std::time::Duration::from_secs(30);

impl fmt::Debug for VaultTokenMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultTokenMachine")
            .field("address", &self.vault.address)
            .field("mount", &self.mount)
            .field("role", &self.role)
            .field("machine", &self.machine)
            .field("has_jwt", &self.jwt.is_some())
            .finish()
    }
}

impl VaultTokenMachine {
    /// Logs in at `auth/<mount>/login` as `role`; the first login is due at `now`.
    pub fn new(
        vault: VaultConfig,
        mount: &str,
        role: &str,
        config: CredentialConfig,
        seed: u64,
        now: UnixTime,
    ) -> Result<Self, VaultError> {
        if role.trim().is_empty() {
            return Err(VaultError::InvalidArgument);
        }
        let mut m = VaultTokenMachine {
            vault,
            mount: VaultPath::new(mount)?,
            role: role.to_string(),
            machine: CredentialMachine::new(config, seed, now),
            jwt: None,
            waiting_for_jwt: None,
            need_jwt: false,
            actions: VecDeque::new(),
            op: None,
            revoking: None,
            revokes: RevokeQueue::default(),
            revoke_retired: false,
            login_400_since: None,
        };
        m.pump(now);
        Ok(m)
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<VaultAction> {
        self.actions.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.machine.poll_event()
    }

    /// When to call [`VaultTokenMachine::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        let revoke = if self.machine.in_flight().is_none() { self.revokes.next_time() } else { None };
        match (self.machine.poll_timeout(), revoke) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.machine.handle_timeout(now);
        self.pump(now);
    }

    /// A JWT to log in with (the latest one; pushing each rotation is fine).
    /// Its `exp`, when readable, keeps an expired JWT from being sent.
    pub fn handle_jwt(&mut self, jwt: &str, now: UnixTime) {
        let jwt = jwt.trim();
        if jwt.is_empty() {
            return;
        }
        let exp =
            crate::jose::decode_unverified(jwt).ok().and_then(|t| t.numeric_claim("exp")).map(UnixTime::from_secs_f64);
        self.jwt = Some((SecretString::new(jwt), exp));
        self.need_jwt = false;
        self.pump(now);
    }

    /// The host could not supply a JWT after [`VaultAction::NeedJwt`]
    /// (`code`: unreadable, not a JWT, about to expire): the waiting login
    /// counts as a failed attempt, so the next one follows the credential
    /// backoff and health reports `code`.
    pub fn handle_jwt_unavailable(&mut self, code: JwtErrorCode, now: UnixTime) {
        if let Some(att) = self.waiting_for_jwt.take() {
            self.need_jwt = false;
            self.machine.handle_outcome(att.id, Outcome::Retryable { code: code.as_str(), retry_after: None }, now);
        }
        self.pump(now);
    }

    /// The answer to request `id`; unknown or stale ids are ignored.
    pub fn handle_response(&mut self, id: RequestId, outcome: HttpOutcome, now: UnixTime) {
        let op = match self.op {
            Some((op_id, op)) if op_id == id => op,
            _ => return self.handle_timeout(now),
        };
        self.op = None;
        match op {
            TokenOp::Login => {
                let out = match outcome_error(outcome, Ctx::Plain).and_then(|r| parse_login(&r)) {
                    Ok(tok) => {
                        let expires_at =
                            if tok.lease_duration.is_zero() { None } else { Some(now + tok.lease_duration) };
                        let renewable = tok.renewable;
                        Outcome::Obtained(Obtained { value: tok, expires_at, renewable, version: None })
                    }
                    Err(e) if e.is_retryable() => retryable(&e),
                    // A 400 is a bad JWT or role binding, or OpenBao could not
                    // fetch the JWKS itself (transient): a few backed-off
                    // retries before deciding it is permanent.
                    // Once Fatal, a 400 keeps it so (the slow retry does not open a
                    // new window of quick ones).
                    Err(e @ VaultError::InvalidRequest)
                        if self.machine.state() != CredentialState::Fatal
                            && now.saturating_since(*self.login_400_since.get_or_insert(now))
                                < TRANSIENT_LOGIN_400_WINDOW =>
                    {
                        retryable(&e)
                    }
                    // 403 (bad role, permission denied), or 400 that persisted:
                    // Fatal, which still retries slowly.
                    Err(e) => Outcome::Permanent { code: e.code().as_str() },
                };
                if !matches!(out, Outcome::Retryable { .. }) {
                    self.login_400_since = None;
                }
                self.machine.handle_outcome(id, out, now);
                // The retry that decides (transient or Fatal) comes when the window
                // ends, not a backoff delay later: Fatal 30 s after the first 400.
                if let Some(since) = self.login_400_since {
                    self.machine.retry_no_later_than(since + TRANSIENT_LOGIN_400_WINDOW, now);
                }
            }
            TokenOp::Renew => {
                let out = match outcome_error(outcome, Ctx::Plain).and_then(|r| parse_renew_self(&r)) {
                    Ok(r) => {
                        let expires_at = now + r.lease_duration;
                        // A renewal granting less than the login did was capped by
                        // token_max_ttl: asking again would only waste a request.
                        let granted = self.machine.current(now).map(|t| t.lease_duration).unwrap_or_default();
                        if !r.renewable || r.lease_duration + CAPPED_TOLERANCE < granted {
                            Outcome::RenewedToEnd { expires_at }
                        } else {
                            Outcome::Renewed { expires_at }
                        }
                    }
                    Err(e) if e.is_retryable() => retryable(&e),
                    // 403/400: the token is gone (revoked, expired, server restarted): log in again.
                    Err(e) => Outcome::Gone { code: e.code().as_str() },
                };
                self.machine.handle_outcome(id, out, now);
            }
            TokenOp::Revoke => {
                if let Some(r) = self.revoking.take() {
                    finish_revoke(&mut self.machine, &mut self.revokes, r, outcome, now);
                }
                self.machine.handle_auxiliary_done(id, now);
            }
        }
        self.pump(now);
    }

    /// A request made with the current token was refused with 401/403 (by
    /// the service the token was presented to, or a secret machine's
    /// [`Event::TokenRejected`]): log in again, once (rate-limited).
    pub fn handle_upstream_unauthorized(&mut self, now: UnixTime) {
        self.machine.request_refresh(true, now);
        self.pump(now);
    }

    /// Asks for a renewal (or a login) soon; rate-limited like every forced
    /// refresh ([`CredentialConfig::min_forced_interval`]).
    pub fn refresh(&mut self, now: UnixTime) {
        self.machine.request_refresh(false, now);
        self.pump(now);
    }

    /// Forgets the request in flight (its answer will never come: the
    /// process forked and the task sending it is gone); a revocation goes
    /// back to its queue, an attempt is made again at once.
    pub fn forget_in_flight(&mut self, now: UnixTime) {
        if let Some((id, _)) = self.op.take() {
            if let Some(r) = self.revoking.take() {
                self.revokes.items.push_front(r);
            }
            self.machine.withdraw(id, now);
        }
        if let Some(att) = self.waiting_for_jwt.take() {
            self.machine.withdraw(att.id, now);
        }
        self.need_jwt = false;
        self.pump(now);
    }

    /// Stop refreshing. With `revoke`, the current token (and any that
    /// arrives from a login still in flight) is revoked with `revoke-self`.
    pub fn handle_shutdown(&mut self, now: UnixTime, revoke: bool) {
        self.machine.stop(now);
        if let Some(att) = self.waiting_for_jwt.take() {
            self.machine.withdraw(att.id, now);
        }
        let held = self.machine.take_all();
        if revoke {
            for t in held {
                self.revokes.push(t.token, now);
            }
        }
        self.revoke_retired = revoke;
        self.pump(now);
    }

    /// Whether shutdown finished (nothing in flight, nothing left to revoke).
    pub fn is_shut_down(&self) -> bool {
        self.machine.is_stopped() && self.machine.in_flight().is_none() && self.revokes.items.is_empty()
    }

    /// The token to use now; an error after its expiry, never a stale token.
    pub fn current(&self, now: UnixTime) -> Result<&VaultToken, CredentialError> {
        self.machine.current(now)
    }

    /// The replaced token during its grace window.
    pub fn previous(&self, now: UnixTime) -> Option<&VaultToken> {
        self.machine.previous(now)
    }

    /// Expiry of the current token.
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.machine.expires_at()
    }

    /// State.
    pub fn state(&self) -> CredentialState {
        self.machine.state()
    }

    /// Health snapshot.
    pub fn health(&self, now: UnixTime) -> Health {
        self.machine.health(now)
    }

    /// The generic machine underneath (read-only).
    pub fn machine(&self) -> &CredentialMachine<VaultToken> {
        &self.machine
    }

    fn usable_jwt(&self, now: UnixTime) -> Option<&str> {
        match &self.jwt {
            Some((j, exp)) if jwt_fresh_enough(*exp, now) => Some(j.expose()),
            _ => None,
        }
    }

    fn pump(&mut self, now: UnixTime) {
        while let Some(retired) = self.machine.poll_retired() {
            if self.revoke_retired {
                self.revokes.push(retired.token, now);
            }
        }
        if let Some(att) = self.machine.poll_attempt() {
            match att.kind {
                AttemptKind::Acquire => {
                    self.waiting_for_jwt = Some(att);
                    self.need_jwt = false;
                }
                AttemptKind::Renew => match self.machine.current(now) {
                    Ok(tok) => {
                        let req = self.vault.renew_self(att.id, tok.expose(), None);
                        self.op = Some((att.id, TokenOp::Renew));
                        self.actions.push_back(VaultAction::Send(req));
                    }
                    Err(_) => {
                        self.machine.handle_outcome(
                            att.id,
                            Outcome::Gone { code: AttemptFailure::Expired.as_str() },
                            now,
                        );
                        return self.pump(now);
                    }
                },
            }
        }
        if let Some(att) = self.waiting_for_jwt {
            if self.machine.in_flight() != Some(att.id) {
                // Abandoned while waiting.
                self.waiting_for_jwt = None;
            } else if let Some(built) =
                self.usable_jwt(now).map(|jwt| self.vault.login_jwt(att.id, &self.mount, &self.role, jwt))
            {
                self.waiting_for_jwt = None;
                match built {
                    Ok(req) => {
                        self.op = Some((att.id, TokenOp::Login));
                        self.actions.push_back(VaultAction::Send(req));
                    }
                    Err(e) => {
                        self.machine.handle_outcome(att.id, Outcome::Permanent { code: e.code().as_str() }, now);
                    }
                }
            } else if !self.need_jwt {
                self.need_jwt = true;
                self.actions.push_back(VaultAction::NeedJwt);
            }
        }
        if self.op.is_none() && self.revokes.ready(now) {
            if let Some(id) = self.machine.start_auxiliary(now) {
                if let Some(r) = self.revokes.items.pop_front() {
                    let req = self.vault.revoke_self(id, r.secret.expose());
                    self.revoking = Some(r);
                    self.op = Some((id, TokenOp::Revoke));
                    self.actions.push_back(VaultAction::Send(req));
                } else {
                    self.machine.handle_auxiliary_done(id, now);
                }
            }
        }
    }
}

// ----- KV v2 secret machine -------------------------------------------------

/// A KV v2 secret polled with the current Vault token (default every 60 s
/// ±10 %, [`CredentialConfig::polled`]). A version change is a rotation: the
/// new version becomes current, the old one stays as `previous` for the grace
/// window. 403 asks for a re-login ([`Event::TokenRejected`]); a deleted
/// secret (`secret_deleted`) or a missing one (`not_found`) is fatal (slow
/// retry) and the last value read keeps being served.
pub struct KvSecretMachine {
    vault: VaultConfig,
    mount: VaultPath,
    path: VaultPath,
    machine: CredentialMachine<KvSecret>,
    token: Option<SecretString>,
    waiting: Option<Attempt>,
    requests: VecDeque<HttpRequest>,
    op: Option<RequestId>,
}

impl fmt::Debug for KvSecretMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvSecretMachine")
            .field("mount", &self.mount)
            .field("path", &self.path)
            .field("machine", &self.machine)
            .field("has_token", &self.token.is_some())
            .finish()
    }
}

impl KvSecretMachine {
    /// Polls `<mount>/data/<path>`; the first read is due at `now` (it waits
    /// for a token from [`KvSecretMachine::handle_token`]).
    pub fn new(
        vault: VaultConfig,
        mount: &str,
        path: &str,
        config: CredentialConfig,
        seed: u64,
        now: UnixTime,
    ) -> Result<Self, VaultError> {
        let mut m = KvSecretMachine {
            vault,
            mount: VaultPath::new(mount)?,
            path: VaultPath::new(path)?,
            machine: CredentialMachine::new(config, seed, now),
            token: None,
            waiting: None,
            requests: VecDeque::new(),
            op: None,
        };
        m.pump(now);
        Ok(m)
    }

    /// The Vault token to read with (call whenever the token machine's token
    /// changes; `None` when it has none). A new token retries a read that was
    /// rejected with 403.
    pub fn handle_token(&mut self, token: Option<&VaultToken>, now: UnixTime) {
        let new = token.map(|t| SecretString::new(t.expose()));
        if new != self.token {
            self.token = new;
            self.machine.handle_dependency_changed(now);
        }
        self.pump(now);
    }

    /// The next request to send.
    pub fn poll_request(&mut self) -> Option<HttpRequest> {
        self.requests.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.machine.poll_event()
    }

    /// When to call [`KvSecretMachine::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        self.machine.poll_timeout()
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.machine.handle_timeout(now);
        self.pump(now);
    }

    /// The answer to request `id`; unknown or stale ids are ignored.
    pub fn handle_response(&mut self, id: RequestId, outcome: HttpOutcome, now: UnixTime) {
        if self.op != Some(id) {
            return self.handle_timeout(now);
        }
        self.op = None;
        let out = match outcome_error(outcome, Ctx::Kv).and_then(|r| parse_kv2_read(&r)) {
            Ok(s) => {
                let version = Some(s.version);
                Outcome::Obtained(Obtained { value: s, expires_at: None, renewable: false, version })
            }
            Err(e @ VaultError::PermissionDenied) => Outcome::Rejected { code: e.code().as_str() },
            Err(e) if e.is_retryable() => retryable(&e),
            Err(e) => Outcome::Permanent { code: e.code().as_str() },
        };
        self.machine.handle_outcome(id, out, now);
        self.pump(now);
    }

    /// Stop polling.
    pub fn handle_shutdown(&mut self, now: UnixTime) {
        self.machine.stop(now);
        if let Some(att) = self.waiting.take() {
            self.machine.withdraw(att.id, now);
        }
    }

    /// Whether shutdown finished (nothing in flight).
    pub fn is_shut_down(&self) -> bool {
        self.machine.is_stopped() && self.machine.in_flight().is_none()
    }

    /// The secret's value was refused by the service it is for: read it
    /// again soon (rate-limited), maybe it was rotated.
    pub fn handle_upstream_unauthorized(&mut self, now: UnixTime) {
        self.refresh(now);
    }

    /// Asks for a read soon (rate-limited).
    pub fn refresh(&mut self, now: UnixTime) {
        self.machine.request_refresh(false, now);
        self.pump(now);
    }

    /// Forgets the read in flight (see [`VaultTokenMachine::forget_in_flight`]).
    pub fn forget_in_flight(&mut self, now: UnixTime) {
        if let Some(id) = self.op.take() {
            self.machine.withdraw(id, now);
        }
        if let Some(att) = self.waiting.take() {
            self.machine.withdraw(att.id, now);
        }
        self.pump(now);
    }

    /// The secret to use now.
    pub fn current(&self, now: UnixTime) -> Result<&KvSecret, CredentialError> {
        self.machine.current(now)
    }

    /// The previous version during its grace window.
    pub fn previous(&self, now: UnixTime) -> Option<&KvSecret> {
        self.machine.previous(now)
    }

    /// State.
    pub fn state(&self) -> CredentialState {
        self.machine.state()
    }

    /// Health snapshot.
    pub fn health(&self, now: UnixTime) -> Health {
        self.machine.health(now)
    }

    /// The generic machine underneath (read-only).
    pub fn machine(&self) -> &CredentialMachine<KvSecret> {
        &self.machine
    }

    fn pump(&mut self, now: UnixTime) {
        while self.machine.poll_retired().is_some() {}
        if let Some(att) = self.machine.poll_attempt() {
            self.waiting = Some(att);
        }
        if let Some(att) = self.waiting {
            if self.machine.in_flight() != Some(att.id) {
                self.waiting = None;
            } else if let Some(t) = &self.token {
                self.waiting = None;
                self.machine.handle_attempt_sent();
                self.op = Some(att.id);
                self.requests.push_back(self.vault.kv2_read(att.id, t.expose(), &self.mount, &self.path));
            }
        }
        let _ = now;
    }
}

// ----- lease machine ------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LeaseOp {
    Read { generation: u64, token_expiry: Option<UnixTime> },
    Renew,
    Revoke,
}

/// A leased (dynamic) secret such as `database/creds/<role>`.
///
/// Renewed with `sys/leases/renew` near 2/3 of its TTL while renewable; a
/// renewal that stops extending it (max TTL), "lease not found" or "not
/// renewable" makes the next attempt a fresh read. A lease dies with the
/// token that created it: once the token is replaced (re-login), the lease's
/// expiry becomes `min(lease expiry, old token's expiry)` and it is re-read
/// under the new token at once. Replaced leases are revoked after the grace
/// window; on shutdown with `revoke`, the current one too.
pub struct LeaseMachine {
    vault: VaultConfig,
    path: VaultPath,
    machine: CredentialMachine<LeasedSecret>,
    token: Option<SecretString>,
    token_generation: u64,
    token_expiry: Option<UnixTime>,
    lease_expiry: Option<UnixTime>,
    creator_generation: u64,
    creator_expiry: Option<UnixTime>,
    waiting: Option<Attempt>,
    requests: VecDeque<HttpRequest>,
    op: Option<(RequestId, LeaseOp)>,
    revoking: Option<Revoke>,
    revokes: RevokeQueue,
    revoke_retired: bool,
}

impl fmt::Debug for LeaseMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseMachine")
            .field("path", &self.path)
            .field("machine", &self.machine)
            .field("has_token", &self.token.is_some())
            .field("lease_expiry", &self.lease_expiry)
            .field("revocations_queued", &self.revokes.items.len())
            .finish()
    }
}

impl LeaseMachine {
    /// Reads `path` (e.g. `database/creds/app`); the first read is due at
    /// `now` (it waits for a token from [`LeaseMachine::handle_token`]).
    pub fn new(
        vault: VaultConfig,
        path: &str,
        config: CredentialConfig,
        seed: u64,
        now: UnixTime,
    ) -> Result<Self, VaultError> {
        let mut m = LeaseMachine {
            vault,
            path: VaultPath::new(path)?,
            machine: CredentialMachine::new(config, seed, now),
            token: None,
            token_generation: 0,
            token_expiry: None,
            lease_expiry: None,
            creator_generation: 0,
            creator_expiry: None,
            waiting: None,
            requests: VecDeque::new(),
            op: None,
            revoking: None,
            revokes: RevokeQueue::default(),
            revoke_retired: true,
        };
        m.pump(now);
        Ok(m)
    }

    /// The current Vault token and its expiry (call after every token event:
    /// login, renewal, rotation). A new token bounds the current lease by the
    /// old token's expiry and triggers a re-read under the new token.
    pub fn handle_token(&mut self, token: Option<&VaultToken>, expires_at: Option<UnixTime>, now: UnixTime) {
        let new = token.map(|t| SecretString::new(t.expose()));
        if new == self.token {
            self.token_expiry = expires_at;
            if self.creator_generation == self.token_generation {
                self.creator_expiry = expires_at;
            }
        } else {
            self.token = new;
            self.token_generation = self.token_generation.wrapping_add(1);
            self.token_expiry = expires_at;
            self.machine.handle_dependency_changed(now);
            if self.machine.expires_at().is_some() {
                let e = self.effective(self.lease_expiry);
                self.machine.handle_expiry_changed(e, true, now);
            }
        }
        self.pump(now);
    }

    /// The next request to send.
    pub fn poll_request(&mut self) -> Option<HttpRequest> {
        self.requests.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.machine.poll_event()
    }

    /// When to call [`LeaseMachine::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        let revoke =
            if self.machine.in_flight().is_none() && self.token.is_some() { self.revokes.next_time() } else { None };
        match (self.machine.poll_timeout(), revoke) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.machine.handle_timeout(now);
        self.pump(now);
    }

    /// The answer to request `id`; unknown or stale ids are ignored.
    pub fn handle_response(&mut self, id: RequestId, outcome: HttpOutcome, now: UnixTime) {
        let op = match self.op {
            Some((op_id, op)) if op_id == id => op,
            _ => return self.handle_timeout(now),
        };
        self.op = None;
        match op {
            LeaseOp::Read { generation, token_expiry } => {
                let out = match outcome_error(outcome, Ctx::Plain).and_then(|r| parse_lease_read(&r)) {
                    Ok(s) => {
                        let own = now + s.lease_duration;
                        // Only adopt the lease if the machine takes the answer.
                        if self.machine.in_flight() == Some(id) {
                            self.lease_expiry = Some(own);
                            self.creator_generation = generation;
                            self.creator_expiry = token_expiry;
                        }
                        let renewable = s.renewable;
                        let expires_at = self.effective(Some(own));
                        Outcome::Obtained(Obtained { value: s, expires_at, renewable, version: None })
                    }
                    Err(e @ VaultError::PermissionDenied) => Outcome::Rejected { code: e.code().as_str() },
                    Err(e) if e.is_retryable() => retryable(&e),
                    Err(e) => Outcome::Permanent { code: e.code().as_str() },
                };
                self.machine.handle_outcome(id, out, now);
            }
            LeaseOp::Renew => {
                let out = match outcome_error(outcome, Ctx::Lease).and_then(|r| parse_lease_renew(&r)) {
                    Ok(r) => {
                        let own = now + r.lease_duration;
                        self.lease_expiry = Some(own);
                        let expires_at = self.effective(Some(own)).unwrap_or(own);
                        // Less than the read granted: the lease's max TTL capped it, and
                        // the next attempt reads a new credential instead of renewing.
                        let granted = self.machine.current(now).map(|l| l.lease_duration).unwrap_or_default();
                        if !r.renewable || r.lease_duration + CAPPED_TOLERANCE < granted {
                            Outcome::RenewedToEnd { expires_at }
                        } else {
                            Outcome::Renewed { expires_at }
                        }
                    }
                    Err(e @ VaultError::PermissionDenied) => Outcome::Rejected { code: e.code().as_str() },
                    Err(e) if e.is_retryable() => retryable(&e),
                    // lease not found / not renewable / other: final for this lease, read a new one.
                    Err(e) => Outcome::Gone { code: e.code().as_str() },
                };
                self.machine.handle_outcome(id, out, now);
            }
            LeaseOp::Revoke => {
                if let Some(r) = self.revoking.take() {
                    finish_revoke(&mut self.machine, &mut self.revokes, r, outcome, now);
                }
                self.machine.handle_auxiliary_done(id, now);
            }
        }
        self.pump(now);
    }

    /// Stop renewing. With `revoke`, every lease held (and one arriving from
    /// a read still in flight) is revoked.
    pub fn handle_shutdown(&mut self, now: UnixTime, revoke: bool) {
        self.machine.stop(now);
        if let Some(att) = self.waiting.take() {
            self.machine.withdraw(att.id, now);
        }
        self.revoke_retired = revoke;
        let held = self.machine.take_all();
        if revoke {
            for l in held {
                self.revokes.push(l.lease_id, now);
            }
        }
        self.pump(now);
    }

    /// Whether shutdown finished (nothing in flight, nothing left to revoke).
    pub fn is_shut_down(&self) -> bool {
        self.machine.is_stopped() && self.machine.in_flight().is_none() && self.revokes.items.is_empty()
    }

    /// The credential was refused by the service it is for (a database
    /// login failed): read a new one soon (rate-limited).
    pub fn handle_upstream_unauthorized(&mut self, now: UnixTime) {
        self.machine.request_refresh(true, now);
        self.pump(now);
    }

    /// Asks for a renewal (or a new read) soon (rate-limited).
    pub fn refresh(&mut self, now: UnixTime) {
        self.machine.request_refresh(false, now);
        self.pump(now);
    }

    /// Forgets the request in flight (see [`VaultTokenMachine::forget_in_flight`]).
    pub fn forget_in_flight(&mut self, now: UnixTime) {
        if let Some((id, _)) = self.op.take() {
            if let Some(r) = self.revoking.take() {
                self.revokes.items.push_front(r);
            }
            self.machine.withdraw(id, now);
        }
        if let Some(att) = self.waiting.take() {
            self.machine.withdraw(att.id, now);
        }
        self.pump(now);
    }

    /// The secret to use now; an error after its (effective) expiry.
    pub fn current(&self, now: UnixTime) -> Result<&LeasedSecret, CredentialError> {
        self.machine.current(now)
    }

    /// The replaced lease during its grace window.
    pub fn previous(&self, now: UnixTime) -> Option<&LeasedSecret> {
        self.machine.previous(now)
    }

    /// Effective expiry of the current lease.
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.machine.expires_at()
    }

    /// State.
    pub fn state(&self) -> CredentialState {
        self.machine.state()
    }

    /// Health snapshot.
    pub fn health(&self, now: UnixTime) -> Health {
        self.machine.health(now)
    }

    /// The generic machine underneath (read-only).
    pub fn machine(&self) -> &CredentialMachine<LeasedSecret> {
        &self.machine
    }

    /// `min(lease expiry, creating token's expiry)` once the creating token is
    /// no longer the current one.
    fn effective(&self, own: Option<UnixTime>) -> Option<UnixTime> {
        if self.creator_generation != self.token_generation {
            match (own, self.creator_expiry) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            own
        }
    }

    fn pump(&mut self, now: UnixTime) {
        while let Some(old) = self.machine.poll_retired() {
            if self.revoke_retired {
                self.revokes.push(old.lease_id, now);
            }
        }
        if let Some(att) = self.machine.poll_attempt() {
            self.waiting = Some(att);
        }
        if let Some(att) = self.waiting {
            if self.machine.in_flight() != Some(att.id) {
                self.waiting = None;
            } else if let Some(t) = &self.token {
                self.waiting = None;
                self.machine.handle_attempt_sent();
                match att.kind {
                    AttemptKind::Acquire => {
                        let op = LeaseOp::Read { generation: self.token_generation, token_expiry: self.token_expiry };
                        self.op = Some((att.id, op));
                        self.requests.push_back(self.vault.read(att.id, t.expose(), &self.path));
                    }
                    AttemptKind::Renew => match self.machine.current(now) {
                        Ok(lease) => {
                            let req = self.vault.lease_renew(
                                att.id,
                                t.expose(),
                                lease.lease_id(),
                                Some(lease.lease_duration),
                            );
                            self.op = Some((att.id, LeaseOp::Renew));
                            self.requests.push_back(req);
                        }
                        Err(_) => {
                            self.machine.handle_outcome(
                                att.id,
                                Outcome::Gone { code: AttemptFailure::Expired.as_str() },
                                now,
                            );
                            return self.pump(now);
                        }
                    },
                }
            }
        }
        if self.op.is_none() && self.token.is_some() && self.revokes.ready(now) {
            if let Some(id) = self.machine.start_auxiliary(now) {
                match (self.revokes.items.pop_front(), &self.token) {
                    (Some(r), Some(t)) => {
                        let req = self.vault.lease_revoke(id, t.expose(), r.secret.expose());
                        self.revoking = Some(r);
                        self.op = Some((id, LeaseOp::Revoke));
                        self.requests.push_back(req);
                    }
                    (r, _) => {
                        if let Some(r) = r {
                            self.revokes.items.push_front(r);
                        }
                        self.machine.handle_auxiliary_done(id, now);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> UnixTime {
        UnixTime::from_secs(1_767_225_600)
    }

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status, body.as_bytes().to_vec())
    }

    #[test]
    fn error_reason_keeps_the_servers_words_but_no_secret() {
        let v = VaultConfig::new("http://127.0.0.1:8200").unwrap();
        let jwt = "eyJhbGciOi.secretjwt.sig";
        let login = v.login_jwt(RequestId(1), &VaultPath::new("jwt").unwrap(), "app", jwt).unwrap();
        let answer = resp(
            400,
            &format!(r#"{{"errors":["error validating token: invalid audience claim","got {jwt}\u001b[2J"]}}"#),
        );
        let reason = error_reason(&answer, &login).unwrap();
        assert_eq!(reason, "error validating token: invalid audience claim; got <redacted>\u{fffd}[2J");
        let renew = v.renew_self(RequestId(2), "s.supersecret", None);
        let answer = resp(403, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied for s.supersecret\\n\\n\"]}");
        assert_eq!(error_reason(&answer, &renew).unwrap(), "1 error occurred: * permission denied for <redacted>");
        assert_eq!(error_reason(&resp(200, r#"{"errors":["x"]}"#), &renew), None);
        assert_eq!(error_reason(&resp(400, "not json"), &renew), None);
        assert_eq!(error_reason(&resp(400, r#"{"errors":[]}"#), &renew), None);
    }

    #[test]
    fn an_unavailable_jwt_is_a_failed_attempt_with_backoff() {
        let v = VaultConfig::new("http://127.0.0.1:8200").unwrap();
        let mut tm = VaultTokenMachine::new(v, "jwt", "app", CredentialConfig::expiring(), 1, now()).unwrap();
        tm.handle_timeout(now());
        assert!(matches!(tm.poll_action(), Some(VaultAction::NeedJwt)));
        tm.handle_jwt_unavailable(JwtErrorCode::Unreadable, now());
        let health = tm.health(now());
        assert_eq!(health.last_error_code, Some("unreadable"));
        assert_eq!(health.consecutive_failures, 1);
        let next = tm.machine().next_attempt_at().expect("a retry is scheduled");
        assert!(next > now(), "not at once");
        // The retry asks for a JWT again, and a second failure waits longer on average (backoff, not a fixed 1 s).
        tm.handle_timeout(next);
        assert!(matches!(tm.poll_action(), Some(VaultAction::NeedJwt)));
        tm.handle_jwt_unavailable(JwtErrorCode::NotAJwt, next);
        assert_eq!(tm.health(next).consecutive_failures, 2);
    }

    #[test]
    fn address_and_path_validation() {
        let v = VaultConfig::new("https://vault.example:8200/").unwrap();
        assert_eq!(v.address(), "https://vault.example:8200");
        assert_eq!(VaultConfig::new("vault:8200").unwrap_err().code(), "invalid_address");
        assert!(VaultConfig::new("https://u:p@vault").is_err());
        assert!(VaultConfig::new("https://").is_err());
        assert_eq!(VaultPath::new("/secret/").unwrap().as_str(), "secret");
        for bad in ["", "/", "a//b", "a/../b", "a/./b", "a b", "a?b", "a%2f"] {
            assert_eq!(VaultPath::new(bad).unwrap_err().code(), "invalid_path", "{bad}");
        }
        let req =
            v.kv2_read(RequestId(1), "s.tok", &VaultPath::new("secret").unwrap(), &VaultPath::new("app/hmac").unwrap());
        assert_eq!(req.url, "https://vault.example:8200/v1/secret/data/app/hmac");
    }

    #[test]
    fn requests_carry_headers_and_never_print_secrets() {
        let v = VaultConfig::new("http://127.0.0.1:8200").unwrap().with_namespace("team-a").unwrap();
        let login =
            v.login_jwt(RequestId(7), &VaultPath::new("jwt").unwrap(), "app", "eyJhbGciOi.secretjwt.sig").unwrap();
        assert_eq!(login.url, "http://127.0.0.1:8200/v1/auth/jwt/login");
        let body: Value = serde_json::from_slice(&login.body).unwrap();
        assert_eq!(body["role"], "app");
        let renew = v.renew_self(RequestId(8), "s.supersecret", None);
        let tok = renew.headers.iter().find(|(n, _)| n == "X-Vault-Token").unwrap();
        assert!(tok.1.is_sensitive());
        assert!(renew.headers.iter().any(|(n, h)| n == "X-Vault-Namespace" && h.expose() == "team-a"));
        assert!(renew.headers.iter().any(|(n, h)| n == "X-Vault-Request" && h.expose() == "true"));
        let lease =
            v.lease_renew(RequestId(9), "s.supersecret", "database/creds/app/abc123", Some(Duration::from_secs(3600)));
        assert_eq!(lease.method, Method::Put);
        let body: Value = serde_json::from_slice(&lease.body).unwrap();
        assert_eq!(body["increment"], 3600);

        let token = parse_login(&resp(
            200,
            r#"{"auth":{"client_token":"s.supersecret","accessor":"acc-secret","lease_duration":3600,"renewable":true,"policies":["default","app"]}}"#,
        ))
        .unwrap();
        assert_eq!(token.expose(), "s.supersecret");
        assert_eq!(token.lease_duration, Duration::from_secs(3600));
        let kv = parse_kv2_read(&resp(
            200,
            r#"{"data":{"data":{"key":"kv-secret-value"},"metadata":{"version":3,"created_time":"2026-01-01T00:00:00Z"}}}"#,
        ))
        .unwrap();
        assert_eq!(kv.version, 3);
        let lease = parse_lease_read(&resp(
            200,
            r#"{"lease_id":"database/creds/app/abc123","lease_duration":600,"renewable":true,"data":{"username":"u","password":"db-secret-pw"}}"#,
        ))
        .unwrap();
        assert_eq!(lease.get_str("password"), Some("db-secret-pw"));

        let mut tm = VaultTokenMachine::new(v.clone(), "jwt", "app", CredentialConfig::expiring(), 1, now()).unwrap();
        tm.handle_jwt("eyJhbGciOi.secretjwt.sig", now());
        let dbg = format!(
            "{login:?} {renew:?} {token:?} {kv:?} {lease:?} {tm:?} {:?} {:?} {:?}",
            tm.poll_action(),
            SecretString::new("s.supersecret"),
            Outcome::Obtained(Obtained { value: token.clone(), expires_at: None, renewable: true, version: None })
        );
        for secret in ["secretjwt", "s.supersecret", "acc-secret", "kv-secret-value", "db-secret-pw", "abc123"] {
            assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
        }
    }

    #[test]
    fn error_classification() {
        let kv = |s, b| outcome_error(HttpOutcome::Response(resp(s, b)), Ctx::Kv).and_then(|r| parse_kv2_read(&r));
        assert_eq!(
            kv(404, r#"{"data":{"data":null,"metadata":{"version":4,"deletion_time":"x"}}}"#).unwrap_err(),
            VaultError::SecretDeleted { version: Some(4) }
        );
        assert_eq!(kv(404, r#"{"errors":[]}"#).unwrap_err(), VaultError::NotFound);
        assert_eq!(kv(403, r#"{"errors":["permission denied"]}"#).unwrap_err().code(), "permission_denied");
        assert!(kv(503, r#"{"errors":["Vault is sealed"]}"#).unwrap_err().is_retryable());
        assert!(kv(412, "").unwrap_err().is_retryable());
        let rl = outcome_error(HttpOutcome::Response(resp(429, "").with_header("Retry-After", "7")), Ctx::Plain)
            .unwrap_err();
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(7)));
        assert!(!kv(400, r#"{"errors":["bad"]}"#).unwrap_err().is_retryable());
        assert_eq!(kv(200, r#"{"data":{}}"#).unwrap_err().code(), "bad_response");
        assert_eq!(
            parse_lease_renew(&resp(400, r#"{"errors":["lease not found"]}"#)).unwrap_err().code(),
            "lease_not_found"
        );
        assert_eq!(
            parse_lease_renew(&resp(400, r#"{"errors":["lease is not renewable"]}"#)).unwrap_err().code(),
            "lease_not_renewable"
        );
        assert_eq!(parse_login(&resp(200, "not json")).unwrap_err().code(), "bad_response");
        let t = outcome_error(HttpOutcome::Failed(TransportError::Connect), Ctx::Plain).unwrap_err();
        assert!(t.is_retryable());
        assert_eq!(t.code(), "transport");
        let r =
            parse_renew_self(&resp(200, r#"{"auth":{"lease_duration":120,"renewable":true},"warnings":["capped"]}"#))
                .unwrap();
        assert_eq!((r.lease_duration.as_secs(), r.warnings), (120, 1));
    }
}
