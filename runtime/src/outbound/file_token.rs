//! [`FileToken`]: a rotating token file, re-read before the token's own
//! `exp` and whenever the file changes.

use super::file_change::FileSignature;
use super::slot::{Published, Slot};
use super::{CredentialHealth, CredentialKind, ExposedValue, SecretToken, telemetry};
use crate::clock;
use crate::events::Listeners;
use crate::host::{self, Place, Runtime, Task};
use crate::metrics_registry::{GaugeRow, GaugeSource};
use crate::signal::Rotations;
use crate::spec::{FileTokenSpec, SpecError};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialError, CredentialState, Event};
use tokenkeep_core::token_file::{TokenFileAction, TokenFileError, TokenFileMachine};
use tokio_util::sync::CancellationToken;

struct Shared {
    path: PathBuf,
    change_poll: Duration,
    machine: Mutex<TokenFileMachine>,
    slot: Slot<SecretToken>,
    cancel: CancellationToken,
}

struct Inner {
    shared: Arc<Shared>,
    task: Arc<Task>,
    closing: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl GaugeSource for Inner {
    fn gauges(&self, out: &mut Vec<GaugeRow>) {
        let health: CredentialHealth = host::lock(&self.shared.machine).health(clock::now()).into();
        let slot = &self.shared.slot;
        telemetry::gauges(slot.kind, &slot.name, slot.read().0.is_ok(), &health, out);
    }
}

/// A rotating token file (a Kubernetes projected service-account token, a
/// JWT-SVID written by spiffe-helper) kept current by one background task.
///
/// The file is read when the token nears its own `exp` (80 % of its life),
/// when the file or its directory changes (checked every second: the
/// kubelet's `..data` symlink swap, a rename, an in-place rewrite), and every
/// minute as a backstop. Empty, half-written or garbage contents are refused
/// with a typed [`TokenFileError`] ([`FileToken::last_error`]) and the last good
/// token is kept until its own `exp`, then [`CredentialError::Expired`].
#[derive(Clone)]
pub struct FileToken {
    inner: Arc<Inner>,
}

impl fmt::Debug for FileToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileToken")
            .field("path", &self.inner.shared.path)
            .field("state", &self.state())
            .field("token", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for FileToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token file {} ({})", self.inner.shared.path.display(), self.state())
    }
}

impl FileToken {
    /// Starts following the file of `spec`; the first read is immediate.
    /// Inside a tokio runtime the task runs there, else on [`Runtime::global`].
    pub fn start(spec: &FileTokenSpec) -> Result<FileToken, SpecError> {
        FileToken::start_at(spec, Place::current(), Listeners::default())
    }

    /// [`FileToken::start`] with its task on `runtime`.
    pub fn start_on(runtime: &Arc<Runtime>, spec: &FileTokenSpec) -> Result<FileToken, SpecError> {
        FileToken::start_at(spec, Place::Owned(runtime.clone()), Listeners::default())
    }

    /// [`FileToken::start_on`] with callbacks registered before the first
    /// read (see [`VaultToken::start_on_with_listeners`]).
    pub fn start_on_with_listeners(
        runtime: &Arc<Runtime>,
        spec: &FileTokenSpec,
        listeners: Listeners,
    ) -> Result<FileToken, SpecError> {
        FileToken::start_at(spec, Place::Owned(runtime.clone()), listeners)
    }

    fn start_at(spec: &FileTokenSpec, place: Place, listeners: Listeners) -> Result<FileToken, SpecError> {
        let plan = spec.validate()?;
        let shared = Arc::new(Shared {
            path: PathBuf::from(&plan.path),
            change_poll: plan.change_poll,
            machine: Mutex::new(TokenFileMachine::new(plan.machine, clock::seed(), clock::now())),
            slot: Slot::new(CredentialKind::FileToken, plan.path.clone(), listeners),
            cancel: CancellationToken::new(),
        });
        let for_task = shared.clone();
        let task = Task::start(place, move || run(for_task.clone()));
        let inner = Arc::new(Inner { shared, task, closing: AtomicBool::new(false) });
        telemetry::register(&inner);
        Ok(FileToken { inner })
    }

    fn ensure_task(&self) {
        host::Respawn::respawn_if_forked(self.inner.task.as_ref());
    }

    /// The file, as logs, metrics and health name it.
    pub fn name(&self) -> &str {
        &self.inner.shared.slot.name
    }

    /// The token to present now (one atomic load): the last good one until
    /// its own `exp`, then [`CredentialError::Expired`].
    pub fn current(&self) -> Result<SecretToken, CredentialError> {
        let (answer, overdue) = self.inner.shared.slot.read();
        if overdue {
            self.ensure_task();
        }
        answer
    }

    /// Why the last read was refused (`None` when it succeeded).
    pub fn last_error(&self) -> Option<TokenFileError> {
        host::lock(&self.inner.shared.machine).last_error()
    }

    /// Expiry (`exp`) of the token held.
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.inner.shared.slot.load().expires_at
    }

    /// Waits (on any executor) until a token is available, at most `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<SecretToken, CredentialError> {
        self.inner.shared.slot.ready(timeout, || self.ensure_task()).await
    }

    /// The blocking twin of [`FileToken::ready`].
    pub fn ready_blocking(&self, timeout: Duration) -> Result<SecretToken, CredentialError> {
        self.inner.shared.slot.ready_blocking(timeout, || self.ensure_task())
    }

    /// A health snapshot.
    pub fn health(&self) -> CredentialHealth {
        self.ensure_task();
        host::lock(&self.inner.shared.machine).health(clock::now()).into()
    }

    /// The state (never `Fatal`: a file can always be fixed).
    pub fn state(&self) -> CredentialState {
        host::lock(&self.inner.shared.machine).state()
    }

    /// Moves whenever a new token is read.
    pub fn rotations(&self) -> Rotations {
        self.inner.shared.slot.rotations.clone()
    }

    /// Callbacks for this file's `credential_*` events.
    pub fn events(&self) -> &Listeners {
        &self.inner.shared.slot.listeners
    }

    /// Reads the file now (at most once a second); `false` once closed.
    pub fn refresh(&self) -> bool {
        if self.is_closed() {
            return false;
        }
        self.report_unauthorized();
        true
    }

    /// The upstream refused the token (401): re-read soon (at most once a second).
    pub fn report_unauthorized(&self) {
        self.ensure_task();
        host::lock(&self.inner.shared.machine).handle_upstream_unauthorized(clock::now());
    }

    /// Whether [`FileToken::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    fn begin_close(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.closing.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.inner.shared.cancel.cancel();
        self.inner.shared.slot.mark_closed();
        self.inner.task.take_join()
    }

    /// Stops following the file. Idempotent; the future runs on any executor.
    pub async fn close(&self) {
        if let Some(join) = self.begin_close() {
            let _ = host::with_timeout(super::CLOSE_BUDGET, join).await;
        }
    }

    /// The blocking twin of [`FileToken::close`] (the task ends at its next await).
    pub fn close_blocking(&self) {
        drop(self.begin_close());
    }
}

super::impl_credential!(FileToken, {
    fn exposed_value(&self) -> Result<ExposedValue, CredentialError> {
        self.current().map(|t| ExposedValue(serde_json::Value::from(t.expose())))
    }
});

/// Publishes the machine's token and hands its events out (after the lock).
fn drain(shared: &Shared, now: UnixTime) {
    let (events, published) = {
        let mut m = host::lock(&shared.machine);
        let events: Vec<Event> = std::iter::from_fn(|| m.poll_event()).collect();
        let old = shared.slot.load();
        let value = m.current(now).map(|t| {
            let same = old.value.as_ref().filter(|v| v.expose() == t.expose()).cloned();
            (same.unwrap_or_else(|| SecretToken::new(t.expose())), Some(t.exp))
        });
        // The task also wakes every change_poll: that is its deadline.
        let due = m.poll_timeout().map(|t| t.min(now + shared.change_poll)).or(Some(now + shared.change_poll));
        (events, Published::of(value, m.state(), None, due))
    };
    shared.slot.publish(published);
    let mut rotated = false;
    for e in &events {
        rotated |= matches!(e, Event::Obtained { .. });
        telemetry::emit(CredentialKind::FileToken, &shared.slot.name, e, now, &shared.slot.listeners);
    }
    if rotated {
        shared.slot.rotations.bump();
    }
}

async fn run(shared: Arc<Shared>) {
    let mut seen = FileSignature::of(&shared.path);
    let mut next_check = tokio::time::Instant::now() + shared.change_poll;
    loop {
        let (reads, sleep_for) = {
            let mut m = host::lock(&shared.machine);
            let now = clock::now();
            m.handle_timeout(now);
            let mut reads = 0;
            while let Some(TokenFileAction::Read { .. }) = m.poll_action() {
                reads += 1;
            }
            (reads, m.poll_timeout().map_or(Duration::from_secs(3600), clock::until))
        };
        drain(&shared, clock::now());
        if reads > 0 {
            let contents = tokio::fs::read(&shared.path).await;
            let now = clock::now();
            {
                let mut m = host::lock(&shared.machine);
                match contents {
                    Ok(bytes) => {
                        if let Err(e) = m.handle_contents(&bytes, now) {
                            tracing::warn!(target: "tokenkeep::outbound", source = "file_token", path = %shared.path.display(), event = "refused", error = e.code(), "token file contents refused; keeping the last good token");
                        }
                    }
                    Err(_) => m.handle_read_failed(now),
                }
            }
            drain(&shared, now);
            continue;
        }
        let wake_at = (tokio::time::Instant::now() + sleep_for).min(next_check);
        tokio::select! {
            () = tokio::time::sleep_until(wake_at) => {}
            () = shared.cancel.cancelled() => return,
        }
        if tokio::time::Instant::now() >= next_check {
            next_check = tokio::time::Instant::now() + shared.change_poll;
            let path = shared.path.clone();
            let now_sig = tokio::task::spawn_blocking(move || FileSignature::of(&path)).await.unwrap_or_default();
            if now_sig != seen {
                seen = now_sig;
                tracing::debug!(target: "tokenkeep::outbound", source = "file_token", path = %shared.path.display(), event = "file_changed", "token file changed");
                host::lock(&shared.machine).handle_file_changed(clock::now());
            }
        }
    }
}
