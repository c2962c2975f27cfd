//! [`VaultToken`]: a Vault/OpenBao token obtained by JWT login and kept fresh.

use super::session::SessionHost;
use super::slot::Slot;
use super::{CredentialHealth, CredentialKind, ExposedValue, FileToken, SecretToken, telemetry};
use crate::clock;
use crate::events::Listeners;
use crate::host::{Place, Runtime};
use crate::http::{HttpClient, HttpOptions};
use crate::metrics_registry::{GaugeRow, GaugeSource};
use crate::signal::Rotations;
use crate::spec::{SpecError, SpecErrorCode, VaultTokenSpec};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialError, CredentialState, SecretString};
use tokenkeep_core::vault::{JwtErrorCode, check_login_jwt};
use tokenkeep_core::vault_session::VaultSession;

/// Why a [`JwtProvider`] has no JWT to give: a typed code and a message
/// (never the JWT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtError {
    code: JwtErrorCode,
    message: String,
}

impl JwtError {
    /// An error with `code` and a message for the logs.
    pub fn new(code: JwtErrorCode, message: impl Into<String>) -> JwtError {
        let message: String = message.into().chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect();
        JwtError { code, message }
    }

    /// The code.
    pub fn code(&self) -> JwtErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no JWT ({}): {}", self.code, self.message)
    }
}

impl std::error::Error for JwtError {}

/// Gives the JWT a Vault login is made with (a SPIFFE Workload API client,
/// a cloud metadata service). Called on a blocking thread when a login
/// needs a JWT and the last one is within 5 s of its `exp` (or was never given).
pub trait JwtProvider: Send + Sync {
    /// The JWT, or why there is none now (the login waits and asks again a second later).
    fn jwt(&self) -> Result<String, JwtError>;
}

/// Where the JWT for a login comes from, when not from the spec's `jwt_file`.
#[derive(Clone)]
#[non_exhaustive]
pub enum JwtSource {
    /// A file, read anew before every login.
    File(String),
    /// A [`FileToken`] (its current value, taken before every login).
    FileToken(FileToken),
    /// A provider, asked when a login needs a JWT.
    Provider(Arc<dyn JwtProvider>),
}

impl fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtSource::File(p) => f.debug_tuple("File").field(p).finish(),
            JwtSource::FileToken(t) => f.debug_tuple("FileToken").field(t).finish(),
            JwtSource::Provider(_) => f.write_str("Provider(<dyn JwtProvider>)"),
        }
    }
}

impl JwtSource {
    /// Reading it costs next to nothing (a small file, a snapshot), so it is
    /// read before every due attempt and every login uses the freshest JWT.
    pub(crate) fn is_cheap(&self) -> bool {
        !matches!(self, JwtSource::Provider(_))
    }

    /// A JWT fit for a login at `now` (the core's rule: a JWS whose `exp` is
    /// more than 5 s away), or why not.
    pub(crate) async fn read(&self, now: UnixTime) -> Result<SecretString, JwtErrorCode> {
        match self {
            JwtSource::File(path) => {
                let raw = tokio::fs::read(path).await.map_err(|_| JwtErrorCode::Unreadable)?;
                check_login_jwt(&raw, now)
            }
            JwtSource::FileToken(t) => {
                let tok = t.current().map_err(|_| JwtErrorCode::Unavailable)?;
                check_login_jwt(tok.expose().as_bytes(), now)
            }
            JwtSource::Provider(p) => {
                let p = p.clone();
                match tokio::task::spawn_blocking(move || p.jwt()).await {
                    Ok(Ok(jwt)) => check_login_jwt(jwt.as_bytes(), now),
                    Ok(Err(e)) => Err(e.code()),
                    Err(_) => Err(JwtErrorCode::ProviderFailed),
                }
            }
        }
    }
}

struct Inner {
    host: Arc<SessionHost>,
    revoke_on_close: bool,
    closing: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The backstop: the last handle is gone without a close. Stop the
        // task; nothing is revoked (a token lives out its TTL).
        self.host.cancel.cancel();
    }
}

impl GaugeSource for Inner {
    fn gauges(&self, out: &mut Vec<GaugeRow>) {
        let slot = &self.host.token;
        let health: CredentialHealth = self.host.peek(|s, now| s.token().health(now).into());
        telemetry::gauges(slot.kind, &slot.name, slot.read().0.is_ok(), &health, out);
    }
}

/// A Vault/OpenBao token obtained by JWT login and kept fresh by one
/// background task: `renew-self` near two thirds of its TTL, a new login when
/// renewal stops extending it (`token_max_ttl`) or the server forgot it, the
/// previous token served while a refresh runs, never a token past its expiry.
/// The [`super::VaultSecret`]s and [`super::VaultLease`]s started on it read
/// with it, on the same task.
///
/// Clones share the task. [`VaultToken::close`] closes its secrets and leases
/// first (revoking leases as their specs say), then revokes the token when
/// its spec says `revoke_on_close`. Dropping the last clone (and every
/// secret and lease started on it) stops the task without revoking anything.
#[derive(Clone)]
pub struct VaultToken {
    inner: Arc<Inner>,
}

impl fmt::Debug for VaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultToken")
            .field("name", &self.name())
            .field("state", &self.state())
            .field("token", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for VaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault token {} ({})", self.name(), self.state())
    }
}

impl VaultToken {
    /// Starts from `spec` (the process environment fills `addr`, `namespace`
    /// and `ca_file` where unset), the JWT read from its `jwt_file`; the
    /// first login begins at once. Inside a tokio runtime the task runs
    /// there, else on [`Runtime::global`].
    pub fn start(spec: &VaultTokenSpec) -> Result<VaultToken, SpecError> {
        VaultToken::start_at(spec, None, Place::current(), Listeners::default())
    }

    /// [`VaultToken::start`] with the JWT from `jwt` (a [`FileToken`], a
    /// provider); the spec then has no `jwt_file`.
    pub fn start_with_jwt(spec: &VaultTokenSpec, jwt: JwtSource) -> Result<VaultToken, SpecError> {
        VaultToken::start_at(spec, Some(jwt), Place::current(), Listeners::default())
    }

    /// [`VaultToken::start`] (or with `jwt`) with its task on `runtime`.
    pub fn start_on(
        runtime: &Arc<Runtime>,
        spec: &VaultTokenSpec,
        jwt: Option<JwtSource>,
    ) -> Result<VaultToken, SpecError> {
        VaultToken::start_at(spec, jwt, Place::Owned(runtime.clone()), Listeners::default())
    }

    /// [`VaultToken::start_on`] with callbacks registered before the first
    /// login starts: a host that forwards every event (Python's `logging`
    /// bridge) then sees the first `credential_obtained` too, which a
    /// callback added after `start` returns can miss.
    pub fn start_on_with_listeners(
        runtime: &Arc<Runtime>,
        spec: &VaultTokenSpec,
        jwt: Option<JwtSource>,
        listeners: Listeners,
    ) -> Result<VaultToken, SpecError> {
        VaultToken::start_at(spec, jwt, Place::Owned(runtime.clone()), listeners)
    }

    fn start_at(
        spec: &VaultTokenSpec,
        jwt: Option<JwtSource>,
        place: Place,
        listeners: Listeners,
    ) -> Result<VaultToken, SpecError> {
        let spec = spec.clone().with_env(|k| std::env::var(k).ok());
        let plan = match &jwt {
            Some(_) => spec.validate_with_jwt_source()?,
            None => spec.validate()?,
        };
        let jwt = match jwt {
            Some(j) => j,
            None => JwtSource::File(plan.jwt_file.clone().unwrap_or_default()),
        };
        let http = HttpOptions {
            ca_file: plan.ca_file.as_ref().map(PathBuf::from),
            dangerous_allow_http: plan.dangerous_allow_http,
            ..HttpOptions::default()
        };
        // The address is the one origin the transport's own credentials may go to.
        let origin = plan.vault.address().to_owned();
        let client = HttpClient::for_origin(&http, &origin).map_err(|e| crate::spec::http_error(&e, ""))?;
        let name = plan.name();
        let session = VaultSession::new(
            plan.vault,
            plan.mount.as_str(),
            &plan.role,
            plan.credential,
            clock::seed(),
            clock::now(),
        )
        .map_err(|e| SpecError::new("", SpecErrorCode::InvalidValue, e.to_string()))?;
        let slot = Arc::new(Slot::new(CredentialKind::VaultToken, name, listeners));
        let host = SessionHost::start(session, slot, jwt, http, origin, client, place);
        let inner = Arc::new(Inner { host, revoke_on_close: plan.revoke_on_close, closing: AtomicBool::new(false) });
        telemetry::register(&inner);
        Ok(VaultToken { inner })
    }

    pub(crate) fn host(&self) -> &Arc<SessionHost> {
        &self.inner.host
    }

    /// `role@mount`, as logs, metrics and health name it.
    pub fn name(&self) -> &str {
        &self.inner.host.token.name
    }

    /// The token to use now (one atomic load): the current one while valid,
    /// also while a refresh runs; after its expiry a typed error
    /// ([`CredentialError::Expired`]), never a stale token.
    pub fn current(&self) -> Result<SecretToken, CredentialError> {
        let (answer, overdue) = self.inner.host.token.read();
        if overdue {
            self.inner.host.ensure_task();
        }
        answer
    }

    /// When the token held expires (moves with every renewal).
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.inner.host.token.load().expires_at
    }

    /// Waits (on any executor) until a token is available, at most `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<SecretToken, CredentialError> {
        self.inner.host.token.ready(timeout, || self.inner.host.ensure_task()).await
    }

    /// The blocking twin of [`VaultToken::ready`].
    pub fn ready_blocking(&self, timeout: Duration) -> Result<SecretToken, CredentialError> {
        self.inner.host.token.ready_blocking(timeout, || self.inner.host.ensure_task())
    }

    /// A health snapshot (state, ages, next refresh, failures, last error code).
    pub fn health(&self) -> CredentialHealth {
        self.inner.host.peek(|s, now| s.token().health(now).into())
    }

    /// The state.
    pub fn state(&self) -> CredentialState {
        self.inner.host.peek(|s, _| s.token().state())
    }

    /// Moves whenever a new token is obtained (a login) or the one held
    /// expired, so users can rebuild what holds the old one.
    pub fn rotations(&self) -> Rotations {
        self.inner.host.token.rotations.clone()
    }

    /// Callbacks for this token's `credential_*` events.
    pub fn events(&self) -> &Listeners {
        &self.inner.host.token.listeners
    }

    /// Asks for a renewal (or a login) now; rate-limited (at most one forced
    /// refresh per 5 s). `false` once closed.
    pub fn refresh(&self) -> bool {
        self.inner.host.with_session(|s, now| s.refresh(tokenkeep_core::vault_session::Member::Token, now))
    }

    /// A request made with [`VaultToken::current`] got 401/403 (the server
    /// forgot the token, say after a restart): log in again, rate-limited.
    pub fn report_unauthorized(&self) {
        self.inner
            .host
            .with_session(|s, now| s.handle_upstream_unauthorized(tokenkeep_core::vault_session::Member::Token, now));
    }

    /// Whether [`VaultToken::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    fn begin_close(&self) {
        if !self.inner.closing.swap(true, Ordering::AcqRel) {
            let revoke = self.inner.revoke_on_close;
            self.inner.host.with_session(|s, now| s.close(revoke, now));
        }
    }

    fn end_close(&self, finished: bool) {
        if !finished {
            // Out of budget (Vault unreachable): stop without the revocations.
            self.inner.host.cancel.cancel();
        }
        self.inner.host.token.mark_closed();
    }

    /// Closes the token and everything started on it: secrets stop, leases
    /// are revoked (as their specs say) while the token still works, then
    /// the token is revoked when its spec says `revoke_on_close`. Waits for
    /// that (at most 15 s). Idempotent; the future runs on any executor.
    pub async fn close(&self) {
        self.begin_close();
        let finished = self.inner.host.token.finished().await;
        self.end_close(finished);
    }

    /// The blocking twin of [`VaultToken::close`].
    pub fn close_blocking(&self) {
        self.begin_close();
        let finished = self.inner.host.token.finished_blocking();
        self.end_close(finished);
    }
}

super::impl_credential!(VaultToken, {
    fn exposed_value(&self) -> Result<ExposedValue, CredentialError> {
        self.current().map(|t| ExposedValue(serde_json::Value::from(t.expose())))
    }
});
