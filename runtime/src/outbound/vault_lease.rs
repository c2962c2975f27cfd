//! [`VaultLease`]: a dynamic (leased) secret such as `database/creds/<role>`,
//! read, renewed and replaced with a [`VaultToken`].

use super::telemetry::{self, Source};
use super::{DropGuard, OutboundError, Published, VaultToken, lock, wait_for_value};
use crate::clock;
use arc_swap::ArcSwap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialConfig, CredentialError, CredentialState, Event, Health};
pub use tokenkeep_core::vault::LeasedSecret;
use tokenkeep_core::vault::{LeaseMachine, VaultToken as CoreToken};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which leased secret to read, and how.
#[derive(Clone, Debug)]
pub struct VaultLeaseConfig {
    /// The path read for a new credential (`database/creds/app`).
    pub path: String,
    /// How long a replaced credential stays in `previous()` before its lease
    /// is revoked (`None`: 2 min).
    pub grace: Option<Duration>,
    /// Revoke the current lease on [`VaultLease::shutdown`] (default `true`).
    pub revoke_on_shutdown: bool,
    /// Refresh tuning (the design's defaults; `grace` above wins).
    pub credential: CredentialConfig,
}

impl VaultLeaseConfig {
    /// Reads `path` (e.g. `database/creds/app`) with the defaults.
    pub fn new(path: impl Into<String>) -> Self {
        VaultLeaseConfig {
            path: path.into(),
            grace: None,
            revoke_on_shutdown: true,
            credential: CredentialConfig::expiring(),
        }
    }

    /// Sets the grace window of a replaced credential.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }
}

struct Shared {
    name: String,
    token: VaultToken,
    machine: Mutex<LeaseMachine>,
    published: ArcSwap<Published<Arc<LeasedSecret>>>,
    rotation: watch::Sender<u64>,
    wake: Notify,
    shutdown: AtomicBool,
    revoke_on_shutdown: bool,
    task: Mutex<Option<JoinHandle<()>>>,
    cancel: CancellationToken,
}

/// A leased credential (a database username and password from
/// `database/creds/<role>`) kept valid by one background task: read with the
/// current [`VaultToken`], renewed through `sys/leases/renew` near two thirds
/// of its TTL, replaced by a new read when renewal stops extending it (the
/// lease's max TTL) and at once when the token that created it is replaced
/// (a lease dies with its token), the replaced one kept in `previous()` for
/// the grace window and then revoked; the current one revoked on
/// [`VaultLease::shutdown`]. `subscribe()` ticks on every new credential so
/// users can rebuild their connection pool.
///
/// `Debug` never shows the credential.
#[derive(Clone)]
pub struct VaultLease {
    shared: Arc<Shared>,
    _guard: Arc<DropGuard>,
}

impl fmt::Debug for VaultLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultLease")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for VaultLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault lease {} ({})", self.shared.name, self.state())
    }
}

impl VaultLease {
    /// Starts the task (inside a tokio runtime); the first read happens as
    /// soon as `token` has a token.
    pub fn start(token: &VaultToken, config: VaultLeaseConfig) -> Result<VaultLease, OutboundError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OutboundError::NoRuntime)?;
        let mut credential = config.credential.clone();
        if config.grace.is_some() {
            credential.grace = config.grace;
        }
        let now = clock::now();
        let machine = LeaseMachine::new(token.shared().vault.clone(), &config.path, credential, clock::seed(), now)
            .map_err(|e| OutboundError::InvalidConfig(e.code()))?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            name: config.path.trim_matches('/').to_owned(),
            token: token.clone(),
            machine: Mutex::new(machine),
            published: ArcSwap::from_pointee(Published::empty()),
            rotation: watch::Sender::new(0),
            wake: Notify::new(),
            shutdown: AtomicBool::new(false),
            revoke_on_shutdown: config.revoke_on_shutdown,
            task: Mutex::new(None),
            cancel: cancel.clone(),
        });
        let handle = runtime.spawn(run(shared.clone()));
        *lock(&shared.task) = Some(handle);
        Ok(VaultLease { shared, _guard: Arc::new(DropGuard(cancel)) })
    }

    /// The credential to use now (one atomic load): never one past its
    /// effective expiry (the earlier of the lease's and its creating token's).
    pub fn current(&self) -> Result<Arc<LeasedSecret>, CredentialError> {
        self.shared.published.load().read(clock::now())
    }

    /// The credential replaced by the last rotation, while its grace window lasts.
    pub fn previous(&self) -> Option<Arc<LeasedSecret>> {
        lock(&self.shared.machine).previous(clock::now()).cloned().map(Arc::new)
    }

    /// Waits until a credential is available or `timeout` passes.
    pub async fn ready(&self, timeout: Duration) -> Result<Arc<LeasedSecret>, CredentialError> {
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

    /// A counter that changes whenever a new credential is read (or the
    /// current one expired), so users can rebuild their connection pool.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.rotation.subscribe()
    }

    /// Stops renewing; revokes every lease held when
    /// [`VaultLeaseConfig::revoke_on_shutdown`] is set (bounded by 15 s).
    /// Call it before shutting the [`VaultToken`] down: revocation uses it.
    pub async fn shutdown(&self) {
        if !self.shared.shutdown.swap(true, Ordering::SeqCst) {
            lock(&self.shared.machine).handle_shutdown(clock::now(), self.shared.revoke_on_shutdown);
        }
        self.shared.wake.notify_one();
        let handle = lock(&self.shared.task).take();
        if let Some(mut handle) = handle {
            if tokio::time::timeout(Duration::from_secs(15), &mut handle).await.is_err() {
                handle.abort();
            }
        }
        self.shared.cancel.cancel();
        self.shared.published.store(Arc::new(Published::empty()));
        self.shared.rotation.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Publishes the current credential; returns whether the token was rejected.
fn drain(shared: &Shared, m: &mut LeaseMachine, now: UnixTime) -> bool {
    let mut rejected = false;
    let mut rotated = false;
    while let Some(e) = m.poll_event() {
        rejected |= matches!(e, Event::TokenRejected { .. });
        rotated |= matches!(e, Event::Obtained { .. } | Event::Expired);
        // Counted with the secrets (`vault_secret_read_total{secret=<path>}`).
        telemetry::emit(Source::VaultSecret, &shared.name, &e, now);
    }
    if !shared.shutdown.load(Ordering::SeqCst) {
        let fatal = (m.state() == CredentialState::Fatal).then(|| m.health(now).last_error_code.unwrap_or("fatal"));
        let old = shared.published.load();
        let p = match m.current(now) {
            Ok(s) => {
                // Keep the same allocation while the lease is the same one.
                let value = match &old.value {
                    Some(v) if v.lease_id() == s.lease_id() && **v == *s => v.clone(),
                    _ => Arc::new(s.clone()),
                };
                Published {
                    value: Some(value),
                    expires_at: m.expires_at(),
                    error: CredentialError::NotYetObtained,
                    fatal,
                }
            }
            Err(e) => Published { value: None, expires_at: None, error: e, fatal },
        };
        shared.published.store(Arc::new(p));
    }
    if rotated {
        shared.rotation.send_modify(|n| *n = n.wrapping_add(1));
    }
    rejected
}

/// The token's value and (conservative, whole-second) expiry, as the core takes them.
fn token_now(token: &VaultToken, now: UnixTime) -> (Option<CoreToken>, Option<UnixTime>) {
    match token.current() {
        Ok(t) => {
            let expires_at = token.health().expires_in_seconds.map(|s| now + Duration::from_secs(s));
            (Some(CoreToken::new(t.expose(), Duration::ZERO, false)), expires_at)
        }
        Err(_) => (None, None),
    }
}

async fn run(shared: Arc<Shared>) {
    let mut token_rx = shared.token.subscribe();
    loop {
        let (request, rejected, sleep_for, done) = {
            let now = clock::now();
            let (token, token_expiry) = token_now(&shared.token, now);
            let mut m = lock(&shared.machine);
            m.handle_token(token.as_ref(), token_expiry, now);
            m.handle_timeout(now);
            let request = m.poll_request();
            let rejected = drain(&shared, &mut m, now);
            let sleep_for = m.poll_timeout().map_or(Duration::from_secs(3600), clock::until);
            let done = shared.shutdown.load(Ordering::SeqCst) && m.is_shut_down() && request.is_none();
            (request, rejected, sleep_for, done)
        };
        if done {
            return;
        }
        if rejected {
            shared.token.handle_token_rejected();
        }
        if let Some(request) = request {
            let id = request.id;
            let outcome = tokio::select! {
                outcome = super::send_to_vault(&shared.token.shared().client, request, "vault_lease", &shared.name) => outcome,
                () = shared.cancel.cancelled() => return,
            };
            let rejected = {
                let mut m = lock(&shared.machine);
                let now = clock::now();
                m.handle_response(id, outcome, now);
                drain(&shared, &mut m, now)
            };
            if rejected {
                shared.token.handle_token_rejected();
            }
            continue;
        }
        // Renewals move the token's expiry without a rotation tick: look at it
        // again at least every few seconds.
        let sleep_for = sleep_for.min(Duration::from_secs(5));
        tokio::select! {
            () = tokio::time::sleep(sleep_for) => {}
            r = token_rx.changed() => {
                if r.is_err() {
                    return;
                }
            }
            () = shared.wake.notified() => {}
            () = shared.cancel.cancelled() => return,
        }
    }
}
