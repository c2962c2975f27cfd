//! [`VaultToken`]: a Vault/OpenBao token obtained by JWT login and kept fresh.

use super::telemetry::{self, Source};
use super::{DropGuard, FileToken, OutboundError, Published, SecretToken, lock, wait_for_value};
use crate::clock;
use crate::http::{HttpClient, HttpOptions};
use arc_swap::ArcSwap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialConfig, CredentialError, CredentialState, Event, Health};
use tokenkeep_core::token_file::parse_token_file;
use tokenkeep_core::vault::{VaultAction, VaultConfig, VaultTokenMachine};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The error a JWT closure returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtError(pub String);

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no JWT: {}", self.0)
    }
}

impl std::error::Error for JwtError {}

/// A JWT provider closure.
pub type JwtFn = Arc<dyn Fn() -> Result<String, JwtError> + Send + Sync>;

/// Where the JWT for a login comes from.
#[derive(Clone)]
pub enum JwtSource {
    /// A file (a projected service-account token, a JWT-SVID written by
    /// spiffe-helper), read anew before every login.
    File(PathBuf),
    /// A closure, called when a login needs a JWT and the last one is
    /// within 5 s of its `exp` (or was never given).
    Closure(JwtFn),
    /// A [`FileToken`] (its current value, taken before every login).
    FileToken(FileToken),
}

impl fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtSource::File(p) => f.debug_tuple("File").field(p).finish(),
            JwtSource::Closure(_) => f.write_str("Closure(<fn>)"),
            JwtSource::FileToken(t) => f.debug_tuple("FileToken").field(t).finish(),
        }
    }
}

impl JwtSource {
    /// Reading it costs next to nothing (a small file, a snapshot), so it is
    /// read before every due attempt and every login uses the freshest JWT.
    fn is_cheap(&self) -> bool {
        !matches!(self, JwtSource::Closure(_))
    }

    /// A JWT that parses and lives at least 5 more seconds, or an error code.
    async fn read(&self, now: UnixTime) -> Result<String, &'static str> {
        let raw = match self {
            JwtSource::File(path) => tokio::fs::read(path).await.map_err(|_| "jwt_unreadable")?,
            JwtSource::Closure(f) => {
                let f = f.clone();
                match tokio::task::spawn_blocking(move || f()).await {
                    Ok(Ok(s)) => s.into_bytes(),
                    Ok(Err(_)) | Err(_) => return Err("jwt_source_failed"),
                }
            }
            JwtSource::FileToken(t) => t.current().map_err(|e| e.code())?.expose().as_bytes().to_vec(),
        };
        let tok = parse_token_file(&raw, now).map_err(|e| e.code())?;
        if tok.exp <= now + Duration::from_secs(5) {
            return Err("jwt_expiring");
        }
        Ok(tok.expose().to_owned())
    }
}

/// How to obtain a Vault token. Absent fields are taken from the environment
/// Vault and OpenBao users already have (`VAULT_ADDR` / `BAO_ADDR`,
/// `VAULT_NAMESPACE` / `BAO_NAMESPACE`, `VAULT_CACERT` / `BAO_CACERT`) when the
/// token starts; explicit values win.
#[derive(Clone, Debug)]
pub struct VaultTokenConfig {
    /// `http(s)://host:port`; `None`: `VAULT_ADDR`, then `BAO_ADDR`.
    pub addr: Option<String>,
    /// Mount of the JWT auth method (`jwt`).
    pub auth_mount: String,
    /// Role to log in as.
    pub role: String,
    /// Where the JWT comes from.
    pub jwt: JwtSource,
    /// Vault Enterprise / OpenBao namespace; `None`: `VAULT_NAMESPACE`, then `BAO_NAMESPACE`.
    pub namespace: Option<String>,
    /// Transport options; `ca_file` `None`: `VAULT_CACERT`, then `BAO_CACERT`.
    pub http: HttpOptions,
    /// Revoke the token (`revoke-self`) on [`VaultToken::shutdown`].
    pub revoke_on_shutdown: bool,
    /// Refresh tuning (the design's defaults).
    pub credential: CredentialConfig,
}

impl VaultTokenConfig {
    /// Login as `role` at mount `jwt`, everything else default or from the environment.
    pub fn new(role: impl Into<String>, jwt: JwtSource) -> Self {
        VaultTokenConfig {
            addr: None,
            auth_mount: "jwt".to_owned(),
            role: role.into(),
            jwt,
            namespace: None,
            http: HttpOptions::default(),
            revoke_on_shutdown: false,
            credential: CredentialConfig::expiring(),
        }
    }

    /// [`VaultTokenConfig::new`] with the environment applied at once.
    pub fn from_env(role: impl Into<String>, jwt: JwtSource) -> Self {
        VaultTokenConfig::new(role, jwt).with_env()
    }

    /// Fills absent fields from the process environment.
    pub fn with_env(self) -> Self {
        self.with_env_from(|k| std::env::var(k).ok())
    }

    /// Fills absent fields from `get` (an environment lookup).
    pub fn with_env_from(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        let first = |a: &str, b: &str| get(a).or_else(|| get(b)).filter(|v| !v.trim().is_empty());
        if self.addr.is_none() {
            self.addr = first("VAULT_ADDR", "BAO_ADDR");
        }
        if self.namespace.is_none() {
            self.namespace = first("VAULT_NAMESPACE", "BAO_NAMESPACE");
        }
        if self.http.ca_file.is_none() {
            self.http.ca_file = first("VAULT_CACERT", "BAO_CACERT").map(PathBuf::from);
        }
        self
    }
}

struct ShutdownRequest {
    requested: AtomicBool,
    revoke: bool,
}

pub(crate) struct Shared {
    name: String,
    pub(crate) vault: VaultConfig,
    pub(crate) client: HttpClient,
    machine: Mutex<VaultTokenMachine>,
    published: ArcSwap<Published<SecretToken>>,
    rotation: watch::Sender<u64>,
    wake: Notify,
    jwt: JwtSource,
    shutdown: ShutdownRequest,
    task: Mutex<Option<JoinHandle<()>>>,
    cancel: CancellationToken,
}

/// A Vault/OpenBao token obtained by JWT login and kept fresh by one
/// background task: `renew-self` near two thirds of its TTL, a new login when
/// renewal stops extending it (`token_max_ttl`) or the server forgot it, the
/// previous token served while a refresh runs, never a token past its expiry.
///
/// Clones share the task; it stops when the last clone (and every
/// [`super::VaultSecret`] reading with it) is dropped, or on [`VaultToken::shutdown`].
#[derive(Clone)]
pub struct VaultToken {
    shared: Arc<Shared>,
    _guard: Arc<DropGuard>,
}

impl fmt::Debug for VaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultToken")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .field("token", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for VaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault token {} ({})", self.shared.name, self.state())
    }
}

impl VaultToken {
    /// Starts the task (inside a tokio runtime); the first login begins at once.
    pub fn start(config: VaultTokenConfig) -> Result<VaultToken, OutboundError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OutboundError::NoRuntime)?;
        let config = config.with_env();
        let addr = config.addr.as_deref().ok_or(OutboundError::MissingAddress)?;
        let mut vault = VaultConfig::new(addr).map_err(|e| OutboundError::InvalidConfig(e.code()))?;
        if let Some(ns) = config.namespace.as_deref() {
            vault = vault.with_namespace(ns).map_err(|e| OutboundError::InvalidConfig(e.code()))?;
        }
        // The address is the one origin the transport's own credentials may go to.
        let client = HttpClient::for_origin(&config.http, addr)?;
        let now = clock::now();
        let machine = VaultTokenMachine::new(
            vault.clone(),
            &config.auth_mount,
            &config.role,
            config.credential.clone(),
            clock::seed(),
            now,
        )
        .map_err(|e| OutboundError::InvalidConfig(e.code()))?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            name: format!("{}@{}", config.role, config.auth_mount),
            vault,
            client,
            machine: Mutex::new(machine),
            published: ArcSwap::from_pointee(Published::empty()),
            rotation: watch::Sender::new(0),
            wake: Notify::new(),
            jwt: config.jwt,
            shutdown: ShutdownRequest { requested: AtomicBool::new(false), revoke: config.revoke_on_shutdown },
            task: Mutex::new(None),
            cancel: cancel.clone(),
        });
        let handle = runtime.spawn(run(shared.clone()));
        *lock(&shared.task) = Some(handle);
        Ok(VaultToken { shared, _guard: Arc::new(DropGuard(cancel)) })
    }

    /// The token to use now (one atomic load): the current one while valid,
    /// also while a refresh runs; after its expiry a typed error
    /// ([`CredentialError::Expired`]), never a stale token.
    pub fn current(&self) -> Result<SecretToken, CredentialError> {
        self.shared.published.load().read(clock::now())
    }

    /// Waits until a token is available or `timeout` passes.
    pub async fn ready(&self, timeout: Duration) -> Result<SecretToken, CredentialError> {
        wait_for_value(self.subscribe(), timeout, || self.current()).await
    }

    /// A health snapshot (state, ages, next refresh, failures, last error code).
    pub fn health(&self) -> Health {
        lock(&self.shared.machine).health(clock::now())
    }

    /// The state.
    pub fn state(&self) -> CredentialState {
        lock(&self.shared.machine).state()
    }

    /// A counter that changes whenever a new token is obtained (a login), so
    /// users can rebuild what holds the old one.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.rotation.subscribe()
    }

    /// A request made with [`VaultToken::current`] got 403 (the server
    /// forgot the token, say after a restart): log in again, rate-limited.
    pub fn handle_token_rejected(&self) {
        lock(&self.shared.machine).handle_token_rejected(clock::now());
        self.shared.wake.notify_one();
    }

    /// Stops refreshing; revokes the token first when
    /// [`VaultTokenConfig::revoke_on_shutdown`] is set (bounded by 15 s).
    pub async fn shutdown(&self) {
        self.shared.shutdown.requested.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        let handle = lock(&self.shared.task).take();
        if let Some(mut handle) = handle {
            if tokio::time::timeout(Duration::from_secs(15), &mut handle).await.is_err() {
                handle.abort();
            }
        }
        self.shared.cancel.cancel();
        self.shared.published.store(Arc::new(Published::empty()));
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

fn publish(shared: &Shared, m: &VaultTokenMachine, now: UnixTime) {
    let health = m.health(now);
    let fatal = (m.state() == CredentialState::Fatal).then(|| health.last_error_code.unwrap_or("fatal"));
    let p = match m.current(now) {
        Ok(t) => Published {
            value: Some(SecretToken::new(t.expose())),
            expires_at: m.expires_at(),
            error: CredentialError::NotYetObtained,
            fatal,
        },
        Err(e) => Published { value: None, expires_at: None, error: e, fatal },
    };
    shared.published.store(Arc::new(p));
}

fn drain_events(shared: &Shared, m: &mut VaultTokenMachine, now: UnixTime) {
    let mut rotated = false;
    while let Some(e) = m.poll_event() {
        rotated |= matches!(e, Event::Obtained { .. } | Event::Expired);
        telemetry::emit(Source::VaultToken, &shared.name, &e, now);
    }
    publish(shared, m, now);
    if rotated {
        shared.rotation.send_modify(|n| *n = n.wrapping_add(1));
    }
}

async fn run(shared: Arc<Shared>) {
    let mut shutting_down = false;
    loop {
        let now = clock::now();
        if !shutting_down && shared.shutdown.requested.load(Ordering::SeqCst) {
            shutting_down = true;
            lock(&shared.machine).handle_shutdown(now, shared.shutdown.revoke);
        }
        // Feed the freshest JWT before an attempt falls due (cheap sources);
        // a failure here is answered when the machine asks (NeedJwt).
        let due = !shutting_down
            && shared.jwt.is_cheap()
            && lock(&shared.machine).machine().next_attempt_at().is_some_and(|t| t <= now);
        if due {
            if let Ok(jwt) = shared.jwt.read(now).await {
                lock(&shared.machine).handle_jwt(&jwt, clock::now());
            }
        }
        let (actions, sleep_for, done) = {
            let mut m = lock(&shared.machine);
            let now = clock::now();
            m.handle_timeout(now);
            let mut actions = Vec::new();
            while let Some(a) = m.poll_action() {
                actions.push(a);
            }
            drain_events(&shared, &mut m, now);
            let sleep_for = m.poll_timeout().map_or(Duration::from_secs(3600), clock::until);
            (actions, sleep_for, shutting_down && m.is_shut_down())
        };
        if done {
            return;
        }
        let mut progressed = false;
        for action in actions {
            match action {
                VaultAction::Send(request) => {
                    let id = request.id;
                    let outcome = tokio::select! {
                        outcome = super::send_to_vault(&shared.client, request, "vault_token", &shared.name) => outcome,
                        () = shared.cancel.cancelled() => return,
                    };
                    let mut m = lock(&shared.machine);
                    let now = clock::now();
                    m.handle_response(id, outcome, now);
                    drain_events(&shared, &mut m, now);
                    progressed = true;
                }
                VaultAction::NeedJwt => {
                    let now = clock::now();
                    match shared.jwt.read(now).await {
                        Ok(jwt) => {
                            lock(&shared.machine).handle_jwt(&jwt, clock::now());
                            progressed = true;
                        }
                        Err(code) => {
                            // A failed attempt: the next one follows the credential backoff.
                            tracing::warn!(target: "tokenkeep::outbound", source = "vault_token", name = %shared.name, event = "jwt_unavailable", error = code, "no usable JWT for the login");
                            let mut m = lock(&shared.machine);
                            let now = clock::now();
                            m.handle_jwt_unavailable(code, now);
                            drain_events(&shared, &mut m, now);
                            progressed = true;
                        }
                    }
                }
                _ => {}
            }
        }
        if progressed {
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(sleep_for) => {}
            () = shared.wake.notified() => {}
            () = shared.cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_fills_only_absent_fields() {
        let env = |k: &str| match k {
            "BAO_ADDR" => Some("http://127.0.0.1:8200".to_owned()),
            "VAULT_NAMESPACE" => Some("team-a".to_owned()),
            "VAULT_CACERT" => Some("/etc/ca.pem".to_owned()),
            _ => None,
        };
        let c = VaultTokenConfig::new("app", JwtSource::File("/jwt".into())).with_env_from(env);
        assert_eq!(c.addr.as_deref(), Some("http://127.0.0.1:8200"));
        assert_eq!(c.namespace.as_deref(), Some("team-a"));
        assert_eq!(c.http.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        let mut explicit = VaultTokenConfig::new("app", JwtSource::File("/jwt".into()));
        explicit.addr = Some("https://vault:8200".into());
        explicit.namespace = Some("mine".into());
        let c = explicit.with_env_from(env);
        assert_eq!(c.addr.as_deref(), Some("https://vault:8200"));
        assert_eq!(c.namespace.as_deref(), Some("mine"));
    }

    #[test]
    fn secret_token_never_prints() {
        let t = SecretToken::new("s.hunter2");
        assert!(!format!("{t:?} {t}").contains("hunter2"));
        assert_eq!(t.expose(), "s.hunter2");
    }
}
