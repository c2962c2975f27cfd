//! [`FileToken`]: a rotating token file, re-read before the token's own
//! `exp` and whenever the file changes.

use super::file_change::FileSignature;
use super::telemetry::{self, Source};
use super::{DropGuard, OutboundError, Published, SecretToken, lock};
use crate::clock;
use arc_swap::ArcSwap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{CredentialError, CredentialState, Event, Health};
use tokenkeep_core::token_file::{TokenFileAction, TokenFileConfig, TokenFileError, TokenFileMachine};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Which file, and how closely to watch it.
#[derive(Clone, Debug)]
pub struct FileTokenConfig {
    /// The token file (symlinks followed, as Kubernetes mounts them).
    pub path: PathBuf,
    /// How often the file's and its directory's metadata are compared (1 s):
    /// a rename, a `..data` symlink swap or an in-place rewrite triggers a read.
    pub change_poll: Duration,
    /// When to re-read regardless (80 % of the token's life, a 60 s backstop).
    pub machine: TokenFileConfig,
}

impl FileTokenConfig {
    /// Follows `path` with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileTokenConfig { path: path.into(), change_poll: Duration::from_secs(1), machine: TokenFileConfig::default() }
    }
}

struct Shared {
    path: PathBuf,
    change_poll: Duration,
    machine: Mutex<TokenFileMachine>,
    published: ArcSwap<Published<SecretToken>>,
    rotation: watch::Sender<u64>,
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
    shared: Arc<Shared>,
    _guard: Arc<DropGuard>,
}

impl fmt::Debug for FileToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileToken")
            .field("path", &self.shared.path)
            .field("state", &self.state())
            .field("token", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for FileToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token file {} ({})", self.shared.path.display(), self.state())
    }
}

impl FileToken {
    /// Starts following the file (inside a tokio runtime); the first read is immediate.
    pub fn start(config: FileTokenConfig) -> Result<FileToken, OutboundError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OutboundError::NoRuntime)?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            path: config.path,
            change_poll: config.change_poll.max(Duration::from_millis(100)),
            machine: Mutex::new(TokenFileMachine::new(config.machine, clock::seed(), clock::now())),
            published: ArcSwap::from_pointee(Published::empty()),
            rotation: watch::Sender::new(0),
        });
        runtime.spawn(run(shared.clone(), cancel.clone()));
        Ok(FileToken { shared, _guard: Arc::new(DropGuard(cancel)) })
    }

    /// The token to present now (one atomic load): the last good one until
    /// its own `exp`, then [`CredentialError::Expired`].
    pub fn current(&self) -> Result<SecretToken, CredentialError> {
        self.shared.published.load().read(clock::now())
    }

    /// Why the last read was refused (`None` when it succeeded).
    pub fn last_error(&self) -> Option<TokenFileError> {
        lock(&self.shared.machine).last_error()
    }

    /// Expiry (`exp`) of the token held, as Unix seconds.
    pub fn expires_at_unix(&self) -> Option<u64> {
        self.shared.published.load().expires_at.map(UnixTime::as_secs)
    }

    /// A health snapshot.
    pub fn health(&self) -> Health {
        lock(&self.shared.machine).health(clock::now())
    }

    /// The state (never `Fatal`: a file can always be fixed).
    pub fn state(&self) -> CredentialState {
        lock(&self.shared.machine).state()
    }

    /// A counter that changes whenever a new token is read.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.rotation.subscribe()
    }

    /// The upstream refused the token (401): re-read soon (at most once a second).
    pub fn handle_upstream_unauthorized(&self) {
        lock(&self.shared.machine).handle_upstream_unauthorized(clock::now());
    }
}

fn drain(shared: &Shared, m: &mut TokenFileMachine, now: UnixTime) {
    let mut rotated = false;
    let name = shared.path.to_string_lossy();
    while let Some(e) = m.poll_event() {
        rotated |= matches!(e, Event::Obtained { .. });
        telemetry::emit(Source::FileToken, &name, &e, now);
    }
    let p = match m.current(now) {
        Ok(t) => Published {
            value: Some(SecretToken::new(t.expose())),
            expires_at: Some(t.exp),
            error: CredentialError::NotYetObtained,
            fatal: None,
        },
        Err(e) => Published { value: None, expires_at: None, error: e, fatal: None },
    };
    shared.published.store(Arc::new(p));
    if rotated {
        shared.rotation.send_modify(|n| *n = n.wrapping_add(1));
    }
}

async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut seen = FileSignature::of(&shared.path);
    let mut next_check = tokio::time::Instant::now() + shared.change_poll;
    loop {
        let (reads, sleep_for) = {
            let mut m = lock(&shared.machine);
            let now = clock::now();
            m.handle_timeout(now);
            let mut reads = 0;
            while let Some(TokenFileAction::Read { .. }) = m.poll_action() {
                reads += 1;
            }
            drain(&shared, &mut m, now);
            (reads, m.poll_timeout().map_or(Duration::from_secs(3600), clock::until))
        };
        if reads > 0 {
            let contents = tokio::fs::read(&shared.path).await;
            let mut m = lock(&shared.machine);
            let now = clock::now();
            match contents {
                Ok(bytes) => {
                    if let Err(e) = m.handle_contents(&bytes, now) {
                        tracing::warn!(target: "tokenkeep::outbound", source = "file_token", path = %shared.path.display(), event = "refused", error = e.code(), "token file contents refused; keeping the last good token");
                    }
                }
                Err(_) => m.handle_read_failed(now),
            }
            drain(&shared, &mut m, now);
            continue;
        }
        let wake_at = (tokio::time::Instant::now() + sleep_for).min(next_check);
        tokio::select! {
            () = tokio::time::sleep_until(wake_at) => {}
            () = cancel.cancelled() => return,
        }
        if tokio::time::Instant::now() >= next_check {
            next_check = tokio::time::Instant::now() + shared.change_poll;
            let path = shared.path.clone();
            let now_sig = tokio::task::spawn_blocking(move || FileSignature::of(&path)).await.unwrap_or_default();
            if now_sig != seen {
                seen = now_sig;
                tracing::debug!(target: "tokenkeep::outbound", source = "file_token", path = %shared.path.display(), event = "file_changed", "token file changed");
                lock(&shared.machine).handle_file_changed(clock::now());
            }
        }
    }
}
