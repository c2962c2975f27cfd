//! [`VaultSecret`]: a KV v2 secret polled with a [`VaultToken`].

use super::telemetry::{self, Source};
use super::{DropGuard, OutboundError, Published, VaultToken, lock, wait_for_value};
use crate::clock;
use arc_swap::ArcSwap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialConfig, CredentialError, CredentialState, Event, Health};
use tokenkeep_core::vault::{KvSecret, KvSecretMachine, VaultToken as CoreToken};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Which KV v2 secret to follow, and how often.
#[derive(Clone, Debug)]
pub struct VaultSecretConfig {
    /// KV v2 mount (`secret`).
    pub mount: String,
    /// Path below the mount (`app/config` reads `<mount>/data/app/config`).
    pub path: String,
    /// Poll period (60 s), jittered ±10 %.
    pub poll_interval: Duration,
    /// How long the previous version stays available (`None`: 2 × the poll interval).
    pub grace: Option<Duration>,
}

impl VaultSecretConfig {
    /// `<mount>/data/<path>`, polled every 60 s ±10 %.
    pub fn new(mount: impl Into<String>, path: impl Into<String>) -> Self {
        VaultSecretConfig {
            mount: mount.into(),
            path: path.into(),
            poll_interval: Duration::from_secs(60),
            grace: None,
        }
    }

    /// Sets the poll period.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
}

struct Shared {
    name: String,
    token: VaultToken,
    machine: Mutex<KvSecretMachine>,
    published: ArcSwap<Published<Arc<KvSecret>>>,
    rotation: watch::Sender<u64>,
    wake: Notify,
    cancel: CancellationToken,
}

/// A KV v2 secret kept current by one background task that polls it with
/// the current [`VaultToken`]. A new version is a rotation: `current()`
/// changes, the replaced version stays in `previous()` for the grace window,
/// and the watch from `subscribe()` ticks. A 403 asks the token for one new
/// login; the last value read keeps being served meanwhile.
#[derive(Clone)]
pub struct VaultSecret {
    shared: Arc<Shared>,
    _guard: Arc<DropGuard>,
}

impl fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSecret")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .field("data", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for VaultSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault secret {} ({})", self.shared.name, self.state())
    }
}

impl VaultSecret {
    /// Starts polling (inside a tokio runtime); the first read happens as
    /// soon as `token` has a token.
    pub fn start(token: &VaultToken, config: VaultSecretConfig) -> Result<VaultSecret, OutboundError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OutboundError::NoRuntime)?;
        let mut credential = CredentialConfig::polled(config.poll_interval);
        credential.grace = config.grace;
        let now = clock::now();
        let machine = KvSecretMachine::new(
            token.shared().vault.clone(),
            &config.mount,
            &config.path,
            credential,
            clock::seed(),
            now,
        )
        .map_err(|e| OutboundError::InvalidConfig(e.code()))?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            name: format!("{}/{}", config.mount, config.path),
            token: token.clone(),
            machine: Mutex::new(machine),
            published: ArcSwap::from_pointee(Published::empty()),
            rotation: watch::Sender::new(0),
            wake: Notify::new(),
            cancel: cancel.clone(),
        });
        runtime.spawn(run(shared.clone()));
        Ok(VaultSecret { shared, _guard: Arc::new(DropGuard(cancel)) })
    }

    /// `<mount>/<path>`, as logs and metrics name it.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The latest version read (one atomic load).
    pub fn current(&self) -> Result<Arc<KvSecret>, CredentialError> {
        self.shared.published.load().read(clock::now())
    }

    /// The version replaced by the last rotation, while its grace window lasts.
    pub fn previous(&self) -> Option<Arc<KvSecret>> {
        lock(&self.shared.machine).previous(clock::now()).cloned().map(Arc::new)
    }

    /// Waits until a version is available or `timeout` passes.
    pub async fn ready(&self, timeout: Duration) -> Result<Arc<KvSecret>, CredentialError> {
        wait_for_value(self.subscribe(), timeout, || self.current()).await
    }

    /// A health snapshot (`version` is the KV version held).
    pub fn health(&self) -> Health {
        lock(&self.shared.machine).health(clock::now())
    }

    /// The state.
    pub fn state(&self) -> CredentialState {
        lock(&self.shared.machine).state()
    }

    /// A counter that changes whenever a new version is obtained.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.rotation.subscribe()
    }

    /// Stops polling.
    pub fn shutdown(&self) {
        lock(&self.shared.machine).handle_shutdown(clock::now());
        self.shared.cancel.cancel();
    }
}

/// Drains events; returns whether the token was rejected.
fn drain(shared: &Shared, m: &mut KvSecretMachine, now: UnixTime) -> bool {
    let mut rejected = false;
    let mut rotated = false;
    while let Some(e) = m.poll_event() {
        rejected |= matches!(e, Event::TokenRejected { .. });
        rotated |= matches!(e, Event::Obtained { .. });
        telemetry::emit(Source::VaultSecret, &shared.name, &e, now);
    }
    let stale = shared.published.load().value.is_none() || m.current(now).is_err();
    if rotated || stale {
        let fatal = (m.state() == CredentialState::Fatal).then(|| m.health(now).last_error_code.unwrap_or("fatal"));
        let p = match m.current(now) {
            Ok(s) => Published {
                value: Some(Arc::new(s.clone())),
                expires_at: None,
                error: CredentialError::NotYetObtained,
                fatal,
            },
            Err(e) => Published { value: None, expires_at: None, error: e, fatal },
        };
        shared.published.store(Arc::new(p));
    }
    if rotated {
        shared.rotation.send_modify(|n| *n = n.wrapping_add(1));
    }
    rejected
}

async fn run(shared: Arc<Shared>) {
    let mut token_rx = shared.token.subscribe();
    loop {
        let (request, rejected, sleep_for) = {
            let mut m = lock(&shared.machine);
            let now = clock::now();
            let token = shared.token.current().ok().map(|t| CoreToken::new(t.expose(), Duration::ZERO, false));
            m.handle_token(token.as_ref(), now);
            m.handle_timeout(now);
            let request = m.poll_request();
            let rejected = drain(&shared, &mut m, now);
            let sleep_for = m.poll_timeout().map_or(Duration::from_secs(3600), clock::until);
            (request, rejected, sleep_for)
        };
        if rejected {
            shared.token.handle_token_rejected();
        }
        if let Some(request) = request {
            let id = request.id;
            let outcome = tokio::select! {
                outcome = super::send_to_vault(&shared.token.shared().client, request, "vault_secret", &shared.name) => outcome,
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
