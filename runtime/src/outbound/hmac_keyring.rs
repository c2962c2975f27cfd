//! [`HmacKeyring`]: HMAC request signing with a secret that rotates, fed by a
//! [`VaultSecret`] field or a file. The signing, the constant-time check, the
//! timestamp window and the grace window are the core's
//! ([`tokenkeep_core::hmac_keyring`]); this host only hands it new secrets.

use super::file_change::FileSignature;
use super::{DropGuard, OutboundError, VaultSecret, lock, wait_for_value};
use crate::clock;
use arc_swap::ArcSwap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialState, Health};
use tokenkeep_core::hmac_keyring::{HmacError, HmacKeyring as CoreKeyring, HmacKeyringConfig, Signature};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a secret file is read even when its metadata did not change.
const FILE_BACKSTOP: Duration = Duration::from_secs(60);

/// Where an [`HmacKeyring`] takes its secret from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HmacKeyringSource {
    /// A string field of a KV v2 secret; the KV version is the key version,
    /// and every new version the [`VaultSecret`] reads is a rotation.
    Vault {
        /// The secret, polled by its own task (shared with other users, not
        /// stopped by [`HmacKeyring::shutdown`]).
        secret: VaultSecret,
        /// Name of the field in the KV data that holds the HMAC secret.
        field: String,
    },
    /// A file holding the secret (its bytes, less one trailing line ending);
    /// the key version is a counter that goes up each time the contents
    /// change.
    File {
        /// The secret file (symlinks followed, as Kubernetes mounts them).
        path: PathBuf,
        /// How often the file's and its directory's metadata are compared (1 s):
        /// a rename, a `..data` symlink swap or an in-place rewrite triggers
        /// a read; the file is also read every minute regardless.
        change_poll: Duration,
    },
}

impl HmacKeyringSource {
    /// Field `field` of `secret`.
    pub fn vault(secret: &VaultSecret, field: impl Into<String>) -> Self {
        HmacKeyringSource::Vault { secret: secret.clone(), field: field.into() }
    }

    /// The file at `path`, its metadata checked every second.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        HmacKeyringSource::File { path: path.into(), change_poll: Duration::from_secs(1) }
    }
}

/// Why the secret the source offered was not installed (the keys held keep
/// signing and verifying).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HmacSourceError {
    /// The secret file is empty (or holds a line ending only).
    EmptyFile,
    /// The secret file could not be read (missing, permission, I/O).
    Unreadable,
    /// The KV secret has no string field of the configured name.
    MissingField,
    /// The core refused the secret: too short, or a version older than the
    /// current one.
    Refused(HmacError),
}

impl HmacSourceError {
    /// Stable snake_case code (the core's code for [`HmacSourceError::Refused`]).
    pub fn code(&self) -> &'static str {
        match self {
            HmacSourceError::EmptyFile => "empty",
            HmacSourceError::Unreadable => "unreadable",
            HmacSourceError::MissingField => "missing_field",
            HmacSourceError::Refused(e) => e.code(),
        }
    }
}

impl fmt::Display for HmacSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HmacSourceError::EmptyFile => f.write_str("HMAC secret file is empty"),
            HmacSourceError::Unreadable => f.write_str("HMAC secret file could not be read"),
            HmacSourceError::MissingField => f.write_str("KV secret has no string field of that name"),
            HmacSourceError::Refused(e) => write!(f, "HMAC secret refused: {e}"),
        }
    }
}

impl std::error::Error for HmacSourceError {}

enum Kind {
    Vault { secret: VaultSecret, field: String },
    File { path: PathBuf, change_poll: Duration },
}

/// The task's bookkeeping, read by `health()` (never on the signing path).
#[derive(Clone, Default)]
struct Status {
    loaded_at: Option<UnixTime>,
    last_ok: Option<bool>,
    failures: u32,
    last_error: Option<HmacSourceError>,
    last_error_code: Option<&'static str>,
    next_check_at: Option<UnixTime>,
}

struct Shared {
    name: String,
    kind: Kind,
    config: HmacKeyringConfig,
    ring: ArcSwap<CoreKeyring>,
    status: Mutex<Status>,
    rotation: watch::Sender<u64>,
    cancel: CancellationToken,
}

/// A rotating HMAC keyring kept current by one background task.
///
/// [`HmacKeyring::sign`] signs with the current secret and
/// [`HmacKeyring::verify`] accepts the current one or, for
/// [`HmacKeyringConfig::grace`] after a rotation, the previous one; both are
/// one atomic load of the core keyring and the core's typed
/// [`HmacError`]s. A secret the source offers that the core refuses (too
/// short, an older version) or that cannot be read leaves the keys held in
/// place and shows as [`HmacKeyring::last_error`] and in
/// [`HmacKeyring::health`]. `Debug` and `Display` show versions, never a secret.
///
/// ```no_run
/// # async fn demo(secret: tokenkeep::outbound::VaultSecret) -> Result<(), Box<dyn std::error::Error>> {
/// use tokenkeep::outbound::{HmacKeyring, HmacKeyringConfig, HmacKeyringSource};
/// let ring = HmacKeyring::start(HmacKeyringSource::vault(&secret, "key"), HmacKeyringConfig::default())?;
/// ring.ready(std::time::Duration::from_secs(10)).await?;
/// let header = ring.sign("POST", "/v1/items", b"{}")?.to_header();
/// # let _ = header; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HmacKeyring {
    shared: Arc<Shared>,
    _guard: Arc<DropGuard>,
}

impl fmt::Debug for HmacKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyring")
            .field("source", &self.shared.name)
            .field("current_version", &self.current_version())
            .field("previous_version", &self.previous_version())
            .field("last_error", &self.last_error())
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for HmacKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current_version() {
            Some(v) => write!(f, "hmac keyring {} (version {v})", self.shared.name),
            None => write!(f, "hmac keyring {} (no key)", self.shared.name),
        }
    }
}

impl HmacKeyring {
    /// Starts following `source` (inside a tokio runtime). A Vault source is
    /// installed as soon as its secret has been read; a file is read at once.
    pub fn start(source: HmacKeyringSource, config: HmacKeyringConfig) -> Result<HmacKeyring, OutboundError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OutboundError::NoRuntime)?;
        let (name, kind) = match source {
            HmacKeyringSource::Vault { secret, field } => {
                if field.is_empty() {
                    return Err(OutboundError::InvalidConfig("empty_field"));
                }
                (format!("{}#{field}", secret.name()), Kind::Vault { secret, field })
            }
            HmacKeyringSource::File { path, change_poll } => {
                if path.as_os_str().is_empty() {
                    return Err(OutboundError::InvalidConfig("empty_path"));
                }
                let change_poll = change_poll.max(Duration::from_millis(100));
                (path.display().to_string(), Kind::File { path, change_poll })
            }
        };
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            name,
            kind,
            ring: ArcSwap::from_pointee(CoreKeyring::new(config.clone())),
            config,
            status: Mutex::new(Status::default()),
            rotation: watch::Sender::new(0),
            cancel: cancel.clone(),
        });
        runtime.spawn(run(shared.clone()));
        Ok(HmacKeyring { shared, _guard: Arc::new(DropGuard(cancel)) })
    }

    /// Signs a request with the current secret, timestamped now.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> Result<Signature, HmacError> {
        self.shared.ring.load().sign(method, path, body, clock::now())
    }

    /// Verifies `sig` for this request now; returns the key version that matched.
    pub fn verify(&self, sig: &Signature, method: &str, path: &str, body: &[u8]) -> Result<u64, HmacError> {
        self.shared.ring.load().verify(sig, method, path, body, clock::now())
    }

    /// Version of the current secret (`None` before the first one).
    pub fn current_version(&self) -> Option<u64> {
        self.shared.ring.load().current_version()
    }

    /// Version of the previous secret while it still verifies.
    pub fn previous_version(&self) -> Option<u64> {
        self.shared.ring.load().previous_version(clock::now())
    }

    /// Waits until a secret is installed or `timeout` passes; returns its version.
    pub async fn ready(&self, timeout: Duration) -> Result<u64, HmacError> {
        wait_for_value(self.subscribe(), timeout, || self.current_version().ok_or(HmacError::NoKey)).await
    }

    /// Why the latest secret offered was not installed (`None` once one is).
    pub fn last_error(&self) -> Option<HmacSourceError> {
        lock(&self.shared.status).last_error
    }

    /// A health snapshot: `version` is the key version held; a refused or
    /// unreadable secret shows in `last_refresh_ok` and `last_error_code`.
    /// For a Vault source the KV secret's own polling figures are included.
    pub fn health(&self) -> Health {
        let now = clock::now();
        let version = self.current_version();
        let st = lock(&self.shared.status).clone();
        let secs = |t: UnixTime| if t > now { t.saturating_since(now) } else { now.saturating_since(t) }.as_secs();
        let failing = st.last_error.is_some();
        match &self.shared.kind {
            Kind::Vault { secret, .. } => {
                let mut h = secret.health();
                h.version = version;
                h.state = match (version.is_some(), failing) {
                    (false, _) if h.state == CredentialState::Fatal => CredentialState::Fatal,
                    (false, _) => CredentialState::Empty,
                    (true, true) if matches!(h.state, CredentialState::Fresh | CredentialState::Refreshing) => {
                        CredentialState::Degraded
                    }
                    (true, _) => h.state,
                };
                if failing {
                    h.last_refresh_ok = Some(false);
                    h.consecutive_failures = h.consecutive_failures.max(st.failures);
                    h.last_error_code = st.last_error_code;
                } else if h.last_error_code.is_none() {
                    h.last_error_code = st.last_error_code;
                }
                h
            }
            Kind::File { .. } => Health {
                state: match (version.is_some(), failing) {
                    (false, _) => CredentialState::Empty,
                    (true, true) => CredentialState::Degraded,
                    (true, false) => CredentialState::Fresh,
                },
                token_age_seconds: st.loaded_at.map(secs),
                expires_in_seconds: None,
                next_refresh_in_seconds: st.next_check_at.map(secs),
                last_refresh_ok: st.last_ok,
                consecutive_failures: st.failures,
                last_error_code: st.last_error_code,
                version,
                in_flight: false,
            },
        }
    }

    /// The state (as in [`HmacKeyring::health`]).
    pub fn state(&self) -> CredentialState {
        self.health().state
    }

    /// The current key version (0 before the first); it changes at every rotation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.rotation.subscribe()
    }

    /// Stops following the source; the keys held keep signing and verifying
    /// (the previous one until its grace window ends). A [`VaultSecret`]
    /// source is not stopped (call its own `shutdown`).
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }
}

/// The secret installed last, to rebuild the core keyring at the next
/// rotation (the core keyring is not `Clone`). Overwritten when dropped.
struct Held {
    secret: Vec<u8>,
    version: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.secret.fill(0);
        std::hint::black_box(&self.secret);
    }
}

/// Hands `secret` (as `version`) to the core: on success the new keyring is
/// published (the held secret becoming the previous one), else the keys held
/// stay and the core's error is recorded.
fn offer(shared: &Shared, held: &mut Option<Held>, secret: &[u8], version: u64) {
    let now = clock::now();
    if held.as_ref().is_some_and(|h| h.version == version) {
        // The core's no-op for the same version; a rebuild would drop the previous key.
        record(shared, Ok(()));
        return;
    }
    let mut ring = CoreKeyring::new(shared.config.clone());
    let result = match held.as_ref() {
        Some(h) => ring.rotate(&h.secret, h.version, now).and_then(|()| ring.rotate(secret, version, now)),
        None => ring.rotate(secret, version, now),
    };
    match result {
        Ok(()) => {
            let previous = held.as_ref().map(|h| h.version);
            *held = Some(Held { secret: secret.to_vec(), version });
            shared.ring.store(Arc::new(ring));
            lock(&shared.status).loaded_at = Some(now);
            record(shared, Ok(()));
            match previous {
                Some(p) => {
                    tracing::info!(target: "tokenkeep::outbound", source = "hmac_keyring", name = %shared.name, event = "rotated", previous_version = p, version, grace_s = shared.config.grace.as_secs_f64(), "HMAC secret rotated")
                }
                None => {
                    tracing::info!(target: "tokenkeep::outbound", source = "hmac_keyring", name = %shared.name, event = "obtained", version, "HMAC secret loaded")
                }
            }
            shared.rotation.send_replace(version);
        }
        Err(e) => record(shared, Err(HmacSourceError::Refused(e))),
    }
}

/// Records the outcome of one look at the source; logs a failure when it is new.
fn record(shared: &Shared, outcome: Result<(), HmacSourceError>) {
    let mut st = lock(&shared.status);
    match outcome {
        Ok(()) => {
            st.last_ok = Some(true);
            st.failures = 0;
            st.last_error = None;
        }
        Err(e) => {
            let new = st.last_error != Some(e);
            st.last_ok = Some(false);
            st.failures = st.failures.saturating_add(1);
            st.last_error = Some(e);
            st.last_error_code = Some(e.code());
            drop(st);
            if new {
                tracing::warn!(target: "tokenkeep::outbound", source = "hmac_keyring", name = %shared.name, event = "refused", error = e.code(), "HMAC secret not installed; keeping the keys held");
            }
        }
    }
}

async fn run(shared: Arc<Shared>) {
    let mut held = None;
    match &shared.kind {
        Kind::Vault { secret, field } => run_vault(&shared, &mut held, secret, field).await,
        Kind::File { path, change_poll } => run_file(&shared, &mut held, path, *change_poll).await,
    }
}

async fn run_vault(shared: &Shared, held: &mut Option<Held>, secret: &VaultSecret, field: &str) {
    let mut rx = secret.subscribe();
    loop {
        rx.borrow_and_update();
        if let Ok(kv) = secret.current() {
            match kv.get_str(field) {
                Some(s) => offer(shared, held, s.as_bytes(), kv.version),
                None => record(shared, Err(HmacSourceError::MissingField)),
            }
        }
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return;
                }
            }
            () = shared.cancel.cancelled() => return,
        }
    }
}

async fn run_file(shared: &Shared, held: &mut Option<Held>, path: &Path, change_poll: Duration) {
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
                    strip_line_ending(&mut bytes);
                    if bytes.is_empty() {
                        record(shared, Err(HmacSourceError::EmptyFile));
                    } else if held.as_ref().is_some_and(|h| h.secret == bytes) {
                        record(shared, Ok(()));
                    } else {
                        let version = held.as_ref().map_or(1, |h| h.version.saturating_add(1));
                        offer(shared, held, &bytes, version);
                    }
                    bytes.fill(0);
                    std::hint::black_box(&bytes);
                }
                Err(_) => record(shared, Err(HmacSourceError::Unreadable)),
            }
        }
        lock(&shared.status).next_check_at = Some(clock::now() + change_poll);
        tokio::select! {
            () = tokio::time::sleep(change_poll) => {}
            () = shared.cancel.cancelled() => return,
        }
        let now_sig = signature(path).await;
        read = now_sig != seen || last_read.elapsed() >= FILE_BACKSTOP;
        if now_sig != seen {
            tracing::debug!(target: "tokenkeep::outbound", source = "hmac_keyring", name = %shared.name, event = "file_changed", "HMAC secret file changed");
        }
        seen = now_sig;
    }
}

/// Drops one trailing `\n` (or `\r\n`).
fn strip_line_ending(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_line_ending;

    #[test]
    fn one_line_ending_is_stripped() {
        for (input, want) in [("s\n", "s"), ("s\r\n", "s"), ("s\n\n", "s\n"), ("s", "s"), ("\n", "")] {
            let mut b = input.as_bytes().to_vec();
            strip_line_ending(&mut b);
            assert_eq!(b, want.as_bytes(), "{input:?}");
        }
    }
}
