//! [`HmacKeyring`]: HMAC request signing with a secret that rotates, fed by a
//! [`VaultSecret`] field or a file. Signing, the constant-time check, the
//! timestamp window, the grace window, what a refused secret does and the
//! keyring's health are the core's ([`tokenkeep_core::hmac_keyring`]); this
//! host hands it new secrets and publishes the keyring for lock-free signing.

use super::file_change::FileSignature;
use super::slot::{Published, Slot};
use super::{CredentialHealth, CredentialKind, ExposedValue, VaultSecret, VaultToken, telemetry};
use crate::clock;
use crate::events::Listeners;
use crate::host::{self, Place, Runtime, Task};
use crate::metrics_registry::{GaugeRow, GaugeSource};
use crate::signal::{ListenerId, Rotations};
use crate::spec::{HmacKeyringSpec, HmacSourcePlan, SpecError, SpecErrorCode, VaultSecretSpec};
use arc_swap::ArcSwap;
use serde_json::{Value, json};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{AttemptKind, CredentialError, CredentialState, Event};
use tokenkeep_core::hmac_keyring::{HmacError, HmacKeyring as CoreKeyring, HmacSourceError, KeyringState, Signature};
use tokio_util::sync::CancellationToken;

/// How often a secret file is read even when its metadata did not change.
const FILE_BACKSTOP: Duration = Duration::from_secs(60);

enum Source {
    Vault {
        secret: VaultSecret,
        field: String,
        /// The secret was started for this keyring (closed with it).
        owned: bool,
        listener: Mutex<Option<ListenerId>>,
    },
    File {
        path: PathBuf,
        change_poll: Duration,
    },
}

struct Shared {
    source: Source,
    state: Mutex<KeyringState>,
    ring: ArcSwap<CoreKeyring>,
    slot: Slot<u64>,
    next_check_at: Mutex<Option<UnixTime>>,
    cancel: CancellationToken,
    /// Reads the file (File source) or retires the previous secret when due
    /// (both sources); `None` once close took it.
    task: Mutex<Option<Arc<Task>>>,
    /// Wakes the task: read the file now, or look at the retirement deadline again.
    wake: host::TaskWake,
}

impl Shared {
    /// Offers a secret to the core's keyring state; publishes what changed
    /// and reports it (events after every lock is released).
    fn offer(&self, offer: impl FnOnce(&mut KeyringState, UnixTime) -> Result<bool, HmacSourceError>) {
        let now = clock::now();
        let (outcome, previous, ring, version) = {
            let mut st = host::lock(&self.state);
            let previous = st.current_version();
            let outcome = offer(&mut st, now);
            let ring = matches!(outcome, Ok(true)).then(|| st.keyring(now));
            (outcome, previous, ring, st.current_version())
        };
        if let Some(ring) = ring {
            self.ring.store(Arc::new(ring));
        }
        if let Some(v) = version {
            self.slot.publish(Published::of(Ok((v, None)), CredentialState::Fresh, None, None));
        }
        let events: Vec<Event> = match outcome {
            Ok(true) => {
                let mut e = Vec::new();
                if previous.is_some() {
                    e.push(Event::Rotated { previous_version: previous, version });
                }
                e.push(Event::Obtained { version, expires_at: None });
                e
            }
            Ok(false) => Vec::new(),
            Err(code) => {
                tracing::warn!(target: "tokenkeep::outbound", source = "hmac_keyring", name = %self.slot.name, event = "refused", error = code.as_str(), "HMAC secret not installed; keeping the keys held");
                vec![Event::AttemptFailed { kind: AttemptKind::Acquire, code: code.as_str(), next_attempt_at: None }]
            }
        };
        for e in &events {
            telemetry::emit(CredentialKind::HmacKeyring, &self.slot.name, e, now, &self.slot.listeners);
        }
        if matches!(outcome, Ok(true)) {
            self.slot.rotations.bump();
        }
    }

    /// Drops a previous secret whose grace window is over and reports it:
    /// `credential_previous_retired`, and a rotation (what the keyring offers
    /// changed, so a sink rendering it is rewritten). The signing ring keeps
    /// the retired version, which its own clock already refuses, so a late
    /// signature gets `key_retired` rather than `unknown_key_version`.
    fn retire_due(&self) {
        let now = clock::now();
        let retired = host::lock(&self.state).handle_timeout(now);
        if retired.is_none() {
            return;
        }
        let event = Event::PreviousRetired { version: retired };
        telemetry::emit(CredentialKind::HmacKeyring, &self.slot.name, &event, now, &self.slot.listeners);
        self.slot.rotations.bump();
    }

    /// How long until a previous secret retires (`None`: none held).
    fn retire_in(&self) -> Option<Duration> {
        host::lock(&self.state).poll_timeout().map(clock::until)
    }

    /// Takes the KV secret's current version, if any.
    fn follow_secret(&self) {
        if let Source::Vault { secret, field, .. } = &self.source {
            if let Ok(kv) = secret.current() {
                self.offer(|st, now| st.handle_kv_data(&kv.data, field, kv.version, now));
                // A rotation moves the retirement deadline.
                self.wake.notify();
            }
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    closing: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
        if let Source::Vault { secret, listener, .. } = &self.shared.source {
            if let Some(id) = host::lock(listener).take() {
                secret.rotations().remove_listener(id);
            }
        }
    }
}

impl GaugeSource for Inner {
    fn gauges(&self, out: &mut Vec<GaugeRow>) {
        let health = health(&self.shared);
        let slot = &self.shared.slot;
        telemetry::gauges(slot.kind, &slot.name, slot.read().0.is_ok(), &health, out);
    }
}

fn health(shared: &Shared) -> CredentialHealth {
    let now = clock::now();
    let source = match &shared.source {
        Source::Vault { secret, .. } => secret.core_health(),
        Source::File { .. } => None,
    };
    let next = *host::lock(&shared.next_check_at);
    host::lock(&shared.state).health(now, source, next).into()
}

/// A rotating HMAC keyring kept current from its source.
///
/// [`HmacKeyring::sign`] signs with the current secret and
/// [`HmacKeyring::verify`] accepts the current one or, for the grace window
/// after a rotation (rounded up to a whole second), the previous one; both
/// are one atomic load of the core keyring and the core's typed
/// [`HmacError`]s. A secret the source offers that the core refuses (too
/// short, an older version) or that cannot be read leaves the keys held in
/// place and shows in [`HmacKeyring::health`] and [`Credential::refusal`].
/// `Debug` and `Display` show versions, never a secret.
///
/// ```no_run
/// # fn demo(secret: tokenkeep::outbound::VaultSecret) -> Result<(), Box<dyn std::error::Error>> {
/// use tokenkeep::outbound::HmacKeyring;
/// use tokenkeep::spec::HmacKeyringSpec;
/// let spec = HmacKeyringSpec { field: Some("key".into()), ..HmacKeyringSpec::default() };
/// let ring = HmacKeyring::start_on_secret(&secret, &spec)?;
/// ring.ready_blocking(std::time::Duration::from_secs(10))?;
/// let header = ring.sign("POST", "/v1/items", b"{}")?.to_header();
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HmacKeyring {
    inner: Arc<Inner>,
}

impl fmt::Debug for HmacKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyring")
            .field("source", &self.name())
            .field("current_version", &self.current_version())
            .field("previous_version", &self.previous_version())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for HmacKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current_version() {
            Some(v) => write!(f, "hmac keyring {} (version {v})", self.name()),
            None => write!(f, "hmac keyring {} (no key)", self.name()),
        }
    }
}

impl HmacKeyring {
    /// Starts from `spec`: a file source, or a KV field read with `token`
    /// (a secret started for this keyring and closed with it).
    pub fn start(spec: &HmacKeyringSpec, token: Option<&VaultToken>) -> Result<HmacKeyring, SpecError> {
        HmacKeyring::start_at(spec, token, Place::current(), Listeners::default())
    }

    /// [`HmacKeyring::start`] with a file source's task on `runtime`.
    pub fn start_on(
        runtime: &Arc<Runtime>,
        spec: &HmacKeyringSpec,
        token: Option<&VaultToken>,
    ) -> Result<HmacKeyring, SpecError> {
        HmacKeyring::start_at(spec, token, Place::Owned(runtime.clone()), Listeners::default())
    }

    /// [`HmacKeyring::start_on`] with callbacks registered before the first
    /// secret can be installed (see [`VaultToken::start_on_with_listeners`]).
    pub fn start_on_with_listeners(
        runtime: &Arc<Runtime>,
        spec: &HmacKeyringSpec,
        token: Option<&VaultToken>,
        listeners: Listeners,
    ) -> Result<HmacKeyring, SpecError> {
        HmacKeyring::start_at(spec, token, Place::Owned(runtime.clone()), listeners)
    }

    /// A keyring on field `spec.field` of `secret` (shared with other users:
    /// not closed with the keyring). `mount` and `path`, when given, must
    /// name that secret; its poll interval is its own.
    pub fn start_on_secret(secret: &VaultSecret, spec: &HmacKeyringSpec) -> Result<HmacKeyring, SpecError> {
        if spec.file.is_some() {
            return Err(SpecError::new("file", SpecErrorCode::Conflict, "the keyring reads the secret given with it"));
        }
        if spec.interval.is_some() {
            return Err(SpecError::new(
                "interval",
                SpecErrorCode::Conflict,
                "the secret given polls at its own interval",
            ));
        }
        let (mount, path) = secret.mount_and_path();
        let named = HmacKeyringSpec {
            mount: spec.mount.clone().or_else(|| Some(mount.to_owned())),
            path: spec.path.clone().or_else(|| Some(path.to_owned())),
            ..spec.clone()
        };
        let plan = named.validate()?;
        let HmacSourcePlan::Vault { secret: names, field } = &plan.source else {
            return Err(SpecError::new("file", SpecErrorCode::Conflict, "the keyring reads the secret given with it"));
        };
        if names.name() != secret.name() {
            return Err(SpecError::new("path", SpecErrorCode::Conflict, "does not name the secret given"));
        }
        Ok(HmacKeyring::build(
            plan.name(),
            Source::Vault { secret: secret.clone(), field: field.clone(), owned: false, listener: Mutex::new(None) },
            plan.keyring,
            Place::current(),
            Listeners::default(),
        ))
    }

    fn start_at(
        spec: &HmacKeyringSpec,
        token: Option<&VaultToken>,
        place: Place,
        listeners: Listeners,
    ) -> Result<HmacKeyring, SpecError> {
        let plan = spec.validate()?;
        let name = plan.name();
        let source = match plan.source {
            HmacSourcePlan::Vault { secret, field } => {
                let token = token.ok_or_else(|| {
                    SpecError::new(
                        "",
                        SpecErrorCode::MissingField,
                        "a keyring on a KV secret needs the Vault token to read it with",
                    )
                })?;
                let secret_spec = VaultSecretSpec {
                    mount: secret.mount.as_str().to_owned(),
                    path: secret.path.as_str().to_owned(),
                    interval: spec.interval,
                    grace: None,
                };
                let secret = VaultSecret::start(token, &secret_spec)?;
                Source::Vault { secret, field, owned: true, listener: Mutex::new(None) }
            }
            HmacSourcePlan::File { path, change_poll } => Source::File { path: PathBuf::from(path), change_poll },
            _ => return Err(SpecError::new("", SpecErrorCode::InvalidValue, "unknown keyring source")),
        };
        Ok(HmacKeyring::build(name, source, plan.keyring, place, listeners))
    }

    fn build(
        name: String,
        source: Source,
        config: tokenkeep_core::hmac_keyring::HmacKeyringConfig,
        place: Place,
        listeners: Listeners,
    ) -> HmacKeyring {
        let shared = Arc::new(Shared {
            source,
            ring: ArcSwap::from_pointee(CoreKeyring::new(config.clone())),
            state: Mutex::new(KeyringState::new(config)),
            slot: Slot::new(CredentialKind::HmacKeyring, name, listeners),
            next_check_at: Mutex::new(None),
            cancel: CancellationToken::new(),
            task: Mutex::new(None),
            wake: host::TaskWake::new(),
        });
        if let Source::Vault { secret, listener, .. } = &shared.source {
            let weak: Weak<Shared> = Arc::downgrade(&shared);
            let id = secret.rotations().on_rotation(move |_| {
                if let Some(shared) = weak.upgrade() {
                    shared.follow_secret();
                }
            });
            *host::lock(listener) = Some(id);
            shared.follow_secret();
        }
        let for_task = shared.clone();
        *host::lock(&shared.task) = Some(Task::start(place, move || {
            // After a fork the parent's task is still registered on the old wake-up.
            for_task.wake.renew();
            let shared = for_task.clone();
            async move {
                match shared.source {
                    Source::File { .. } => run_file(shared).await,
                    Source::Vault { .. } => run_retirement(shared).await,
                }
            }
        }));
        let inner = Arc::new(Inner { shared, closing: AtomicBool::new(false) });
        telemetry::register(&inner);
        HmacKeyring { inner }
    }

    fn ensure_task(&self) {
        if let Some(task) = host::lock(&self.inner.shared.task).as_ref() {
            host::Respawn::respawn_if_forked(task.as_ref());
        }
    }

    /// `<mount>/<path>#<field>` or the file, as logs, metrics and health name it.
    pub fn name(&self) -> &str {
        &self.inner.shared.slot.name
    }

    /// Signs a request with the current secret, timestamped now.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> Result<Signature, HmacError> {
        self.inner.shared.ring.load().sign(method, path, body, clock::now())
    }

    /// Verifies `sig` for this request now; returns the key version that matched.
    pub fn verify(&self, sig: &Signature, method: &str, path: &str, body: &[u8]) -> Result<u64, HmacError> {
        self.inner.shared.ring.load().verify(sig, method, path, body, clock::now())
    }

    /// Version of the current secret (one atomic load).
    pub fn current(&self) -> Result<u64, CredentialError> {
        self.inner.shared.slot.read().0
    }

    /// Version of the current secret (`None` before the first one).
    pub fn current_version(&self) -> Option<u64> {
        self.inner.shared.ring.load().current_version()
    }

    /// Version of the previous secret while it still verifies.
    pub fn previous_version(&self) -> Option<u64> {
        self.inner.shared.ring.load().previous_version(clock::now())
    }

    /// Waits (on any executor) until a secret is installed, at most `timeout`; its version.
    pub async fn ready(&self, timeout: Duration) -> Result<u64, CredentialError> {
        self.inner.shared.slot.ready(timeout, || self.ensure_task()).await
    }

    /// The blocking twin of [`HmacKeyring::ready`].
    pub fn ready_blocking(&self, timeout: Duration) -> Result<u64, CredentialError> {
        self.inner.shared.slot.ready_blocking(timeout, || self.ensure_task())
    }

    /// Why the latest secret offered was not installed (`None` once one is).
    pub fn last_error(&self) -> Option<HmacSourceError> {
        host::lock(&self.inner.shared.state).refused()
    }

    /// A health snapshot: `version` is the key version held; a refused or
    /// unreadable secret shows in `last_refresh_ok` and `last_error_code`.
    /// For a KV source the secret's own polling figures are included.
    pub fn health(&self) -> CredentialHealth {
        self.ensure_task();
        health(&self.inner.shared)
    }

    /// Moves at every rotation (a new key installed).
    pub fn rotations(&self) -> Rotations {
        self.inner.shared.slot.rotations.clone()
    }

    /// Callbacks for this keyring's `credential_*` events (`credential_obtained`,
    /// `credential_rotated`, `credential_attempt_failed` for a refused secret).
    pub fn events(&self) -> &Listeners {
        &self.inner.shared.slot.listeners
    }

    /// Looks at the source now (a KV read, rate-limited; a file read); `false` once closed.
    pub fn refresh(&self) -> bool {
        if self.is_closed() {
            return false;
        }
        match &self.inner.shared.source {
            Source::Vault { secret, .. } => secret.refresh(),
            Source::File { .. } => {
                self.ensure_task();
                self.inner.shared.wake.notify();
                true
            }
        }
    }

    /// A peer refused a signature made with the current secret (401/403):
    /// look at the source again, it may have rotated.
    pub fn report_unauthorized(&self) {
        self.refresh();
    }

    /// Whether [`HmacKeyring::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closing.load(Ordering::Acquire)
    }

    fn begin_close(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.closing.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.inner.shared.cancel.cancel();
        self.inner.shared.slot.mark_closed();
        if let Source::Vault { secret, listener, .. } = &self.inner.shared.source {
            if let Some(id) = host::lock(listener).take() {
                secret.rotations().remove_listener(id);
            }
        }
        host::lock(&self.inner.shared.task).as_ref().and_then(|t| t.take_join())
    }

    /// Stops following the source (a KV secret started for the keyring is
    /// closed too); the keys held keep signing and verifying (the previous
    /// one until its grace window ends). Idempotent; any executor.
    pub async fn close(&self) {
        let join = self.begin_close();
        if let Source::Vault { secret, owned: true, .. } = &self.inner.shared.source {
            secret.close().await;
        }
        if let Some(join) = join {
            let _ = host::with_timeout(super::CLOSE_BUDGET, join).await;
        }
    }

    /// The blocking twin of [`HmacKeyring::close`].
    pub fn close_blocking(&self) {
        drop(self.begin_close());
        if let Source::Vault { secret, owned: true, .. } = &self.inner.shared.source {
            secret.close_blocking();
        }
    }

    /// The secrets as plain data (see [`ExposedValue`]).
    fn exposed(&self) -> Result<ExposedValue, CredentialError> {
        if self.is_closed() {
            return Err(CredentialError::Closed);
        }
        let now = clock::now();
        let st = host::lock(&self.inner.shared.state);
        let secrets = st.secrets(now).ok_or(CredentialError::NotYetObtained)?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let previous = secrets.previous.map(|(version, secret, until)| {
            json!({"version": version, "secret": text(secret), "valid_until": until.as_secs()})
        });
        Ok(ExposedValue(json!({
            "current": {"version": secrets.current.0, "secret": text(secrets.current.1)},
            "previous": previous.unwrap_or(Value::Null),
        })))
    }
}

super::impl_credential!(HmacKeyring, {
    fn exposed_value(&self) -> Result<ExposedValue, CredentialError> {
        self.exposed()
    }
    fn refusal(&self) -> Option<String> {
        self.last_error().map(|e| e.as_str().to_owned())
    }
});

/// Sleeps until the previous secret's grace window ends (forever if none is held).
async fn retirement(shared: &Shared) {
    match shared.retire_in() {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// The Vault source's task: its reads are the secret's; this only retires.
async fn run_retirement(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = retirement(&shared) => shared.retire_due(),
            () = shared.wake.notified() => {}
            () = shared.cancel.cancelled() => return,
        }
    }
}

async fn run_file(shared: Arc<Shared>) {
    let Source::File { path, change_poll } = &shared.source else { return };
    let change_poll = *change_poll;
    let signature = |p: &Path| {
        let p = p.to_path_buf();
        async move { tokio::task::spawn_blocking(move || FileSignature::of(&p)).await.ok() }
    };
    let mut seen = signature(path).await;
    let mut last_read = tokio::time::Instant::now();
    let mut read = true;
    loop {
        if read {
            last_read = tokio::time::Instant::now();
            match tokio::fs::read(path).await {
                Ok(mut bytes) => {
                    shared.offer(|st, now| st.handle_file_contents(&bytes, now));
                    bytes.fill(0);
                    std::hint::black_box(&bytes);
                }
                Err(_) => shared.offer(|st, _| {
                    st.handle_source_error(HmacSourceError::Unreadable);
                    Err(HmacSourceError::Unreadable)
                }),
            }
        }
        *host::lock(&shared.next_check_at) = Some(clock::now() + change_poll);
        let poll = tokio::time::sleep(change_poll);
        tokio::pin!(poll);
        let forced = loop {
            tokio::select! {
                () = &mut poll => break false,
                () = shared.wake.notified() => break true,
                () = retirement(&shared) => shared.retire_due(),
                () = shared.cancel.cancelled() => return,
            }
        };
        let now_sig = signature(path).await;
        read = forced || now_sig != seen || last_read.elapsed() >= FILE_BACKSTOP;
        if now_sig != seen {
            tracing::debug!(target: "tokenkeep::outbound", source = "hmac_keyring", name = %shared.slot.name, event = "file_changed", "HMAC secret file changed");
        }
        seen = now_sig;
    }
}
