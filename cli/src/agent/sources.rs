//! Starting the runtime's sources from the configuration, and the loop that
//! carries each rotation to its sink (and then to its `on_rotate` command).
//!
//! The agent adds no credential logic: when to renew, re-login, re-read or
//! replace is decided by the runtime (`tokenkeep::outbound`). Each source's
//! rotation watch wakes one loop here, which renders the current value,
//! compares it with what the sink holds and writes only a different value.
//! An `[[hmac]]` sink also changes with time (its previous secret is dropped
//! at the end of the grace window): its loop is woken then too.

use super::config::AgentConfig;
use super::serve::{ON_ROTATE_TOTAL, SINK_WRITES_TOTAL};
use super::sink;
use crate::output::Failure;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenkeep::outbound::{
    CredentialState, FileToken, FileTokenConfig, Health, HmacError, HmacKeyringConfig, JwtSource, OutboundError,
    VaultLease, VaultLeaseConfig, VaultSecret, VaultSecretConfig, VaultToken, VaultTokenConfig,
};
use tokenkeep_core::UnixTime;
use tokenkeep_core::hmac_keyring::HmacKeyring as CoreKeyring;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// How long an `on_rotate` command may run before it is killed.
const ON_ROTATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait between attempts to write a sink that could not be written (a full
/// disk, a directory made read-only): the value is retried, not dropped.
const SINK_RETRY: Duration = Duration::from_secs(5);
/// At most this much of a command's output goes to the debug log.
const OUTPUT_LOG_LIMIT: usize = 4096;
/// A KV poller serving `[[hmac]]` tables keeps a replaced version this much
/// longer than their longest grace: the agent's window starts when it sees
/// the rotation (a little after the poller's) and ends on a whole second.
const PREVIOUS_MARGIN: Duration = Duration::from_secs(5);

/// A running source of the runtime.
pub enum Handle {
    VaultToken(VaultToken),
    Kv(VaultSecret),
    Lease(VaultLease),
    FileToken(FileToken),
    Hmac(HmacSource),
}

impl Handle {
    /// The `kind` in `/health` and the metrics' labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Handle::VaultToken(_) => "vault_token",
            Handle::Kv(_) => "kv",
            Handle::Lease(_) => "lease",
            Handle::FileToken(_) => "file_token",
            Handle::Hmac(_) => "hmac_keyring",
        }
    }

    pub fn health(&self) -> Health {
        match self {
            Handle::VaultToken(s) => s.health(),
            Handle::Kv(s) => s.health(),
            Handle::Lease(s) => s.health(),
            Handle::FileToken(s) => s.health(),
            Handle::Hmac(s) => s.health(),
        }
    }

    /// Whether the source holds a value that may be used now.
    pub fn usable(&self) -> bool {
        match self {
            Handle::VaultToken(s) => s.current().is_ok(),
            Handle::Kv(s) => s.current().is_ok(),
            Handle::Lease(s) => s.current().is_ok(),
            Handle::FileToken(s) => s.current().is_ok(),
            Handle::Hmac(s) => s.usable(),
        }
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        match self {
            Handle::VaultToken(s) => s.subscribe(),
            Handle::Kv(s) => s.subscribe(),
            Handle::Lease(s) => s.subscribe(),
            Handle::FileToken(s) => s.subscribe(),
            Handle::Hmac(s) => s.secret.subscribe(),
        }
    }

    /// The bytes the sink should hold now, and when they will change without
    /// a rotation (an `[[hmac]]` sink's previous secret expiring).
    fn render(&self, field: Option<&str>) -> (Rendered, Option<Duration>) {
        let rendered = match self {
            Handle::Hmac(s) => return s.render(),
            Handle::VaultToken(s) => s.current().map_or(Rendered::Absent, |t| Rendered::Value(t.expose().into())),
            Handle::FileToken(s) => s.current().map_or(Rendered::Absent, |t| Rendered::Value(t.expose().into())),
            Handle::Kv(s) => match s.current() {
                Ok(secret) => render_object(&secret.data, field),
                Err(_) => Rendered::Absent,
            },
            Handle::Lease(s) => match s.current() {
                Ok(lease) => {
                    // The lease's own facts beside the data, so a program can
                    // see which lease it holds and for how long it was granted.
                    let mut object = lease.data.clone();
                    object.insert("lease_id".into(), Value::from(lease.lease_id()));
                    object.insert("lease_duration".into(), Value::from(lease.lease_duration.as_secs()));
                    object.insert("renewable".into(), Value::from(lease.renewable));
                    render_object(&object, field)
                }
                Err(_) => Rendered::Absent,
            },
        };
        (rendered, None)
    }
}

/// What a source has for its sink at a given moment.
enum Rendered {
    Value(Vec<u8>),
    /// No usable value now (not obtained yet, expired): the sink keeps what it has.
    Absent,
    /// The configured `field` is not in the secret.
    MissingField,
    /// The core refuses the value (an HMAC secret too short): its error code.
    Refused(&'static str),
}

/// An `[[hmac]]` keyring. The secrets are the KV poller's (`current()`, and
/// `previous()` for the replaced version); the agent keeps only when it saw
/// each version arrive (the previous secret's window runs from then) and
/// what the core made of the current secret. The runtime's `HmacKeyring` is
/// not used: it never hands its secrets out, and here they go to a file.
pub struct HmacSource {
    secret: VaultSecret,
    field: String,
    grace: Duration,
    state: Mutex<HmacState>,
}

#[derive(Default)]
struct HmacState {
    /// The current KV version and when this agent first saw it.
    seen: Option<(u64, SystemTime)>,
    /// The last version whose secret the core accepted (what the sink holds or is about to).
    accepted: Option<u64>,
    /// Why the current version is not written (`field_missing`, `secret_too_short`).
    refused: Option<&'static str>,
}

/// Whether the core would install `secret` in a keyring (its minimum length,
/// and whatever else its `rotate` checks), on a keyring of its own that is dropped at once.
fn core_accepts(secret: &[u8]) -> Result<(), HmacError> {
    CoreKeyring::new(HmacKeyringConfig::default()).rotate(secret, 1, UnixTime::EPOCH)
}

/// `t` rounded up to a whole second (`valid_until` is written in seconds,
/// and the previous secret must not be dropped before the time written).
fn ceil_to_second(t: SystemTime) -> SystemTime {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl HmacSource {
    fn new(secret: VaultSecret, field: String, grace: Duration) -> Self {
        HmacSource { secret, field, grace, state: Mutex::new(HmacState::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HmacState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A keyring was accepted (the sink holds one that works, even if the
    /// newest version was refused) and the poller still has a value.
    fn usable(&self) -> bool {
        self.secret.current().is_ok() && self.state().accepted.is_some()
    }

    /// The poller's health, with the version the sink holds and, when the
    /// newest secret was refused, that refusal (as the runtime's keyring reports it).
    fn health(&self) -> Health {
        let mut h = self.secret.health();
        let st = self.state();
        h.version = st.accepted;
        if let Some(code) = st.refused {
            h.last_refresh_ok = Some(false);
            h.last_error_code = Some(code);
            h.state = match (st.accepted.is_some(), h.state) {
                (false, CredentialState::Fatal) => CredentialState::Fatal,
                (false, _) => CredentialState::Empty,
                (true, CredentialState::Fresh | CredentialState::Refreshing) => CredentialState::Degraded,
                (true, other) => other,
            };
        }
        h
    }

    /// `{"current": {"version", "secret"}, "previous": {"version", "secret", "valid_until"} | null}`,
    /// and when the previous secret leaves it.
    fn render(&self) -> (Rendered, Option<Duration>) {
        let Ok(current) = self.secret.current() else { return (Rendered::Absent, None) };
        let now = SystemTime::now();
        let mut st = self.state();
        let seen_at = match st.seen {
            Some((version, at)) if version == current.version => at,
            _ => {
                st.seen = Some((current.version, now));
                now
            }
        };
        let Some(secret) = current.get_str(&self.field) else {
            st.refused = Some("field_missing");
            return (Rendered::MissingField, None);
        };
        if let Err(e) = core_accepts(secret.as_bytes()) {
            st.refused = Some(e.code());
            return (Rendered::Refused(e.code()), None);
        }
        st.refused = None;
        st.accepted = Some(current.version);
        drop(st);
        let valid_until = ceil_to_second(seen_at + self.grace);
        let previous = self.secret.previous().filter(|p| p.version < current.version && now < valid_until);
        let previous = previous.as_ref().and_then(|p| {
            let secret = p.get_str(&self.field).filter(|s| core_accepts(s.as_bytes()).is_ok())?;
            let until = valid_until.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            Some(serde_json::json!({"version": p.version, "secret": secret, "valid_until": until}))
        });
        let again_in = previous.is_some().then(|| valid_until.duration_since(now).unwrap_or_default());
        let keyring = serde_json::json!({
            "current": {"version": current.version, "secret": secret},
            "previous": previous,
        });
        let mut bytes = serde_json::to_vec(&keyring).unwrap_or_default();
        bytes.push(b'\n');
        (Rendered::Value(bytes), again_in)
    }
}

/// The whole object as one line of JSON, or one member: a string as is (a
/// password file holds the password, not a JSON string), anything else as JSON.
fn render_object(data: &Map<String, Value>, field: Option<&str>) -> Rendered {
    let Some(field) = field else {
        let mut json = serde_json::to_vec(data).unwrap_or_default();
        json.push(b'\n');
        return Rendered::Value(json);
    };
    match data.get(field) {
        Some(Value::String(s)) => Rendered::Value(s.as_bytes().to_vec()),
        Some(other) => Rendered::Value(other.to_string().into_bytes()),
        None => Rendered::MissingField,
    }
}

/// The state of a source's sink, for `/health`.
#[derive(Clone, Debug, Default)]
pub struct SinkStatus {
    /// Written at least once by this agent.
    pub written: bool,
    /// Why the last attempt did not write (`write_failed`, `field_missing`); `None` after a success.
    pub last_error: Option<&'static str>,
}

/// One source with its sink and command.
pub struct Source {
    pub name: String,
    pub handle: Handle,
    pub sink: Option<PathBuf>,
    field: Option<String>,
    on_rotate: Vec<String>,
    rotate: Notify,
    status: Mutex<SinkStatus>,
}

impl Source {
    fn new(name: String, handle: Handle, sink: Option<PathBuf>, field: Option<String>, on_rotate: Vec<String>) -> Self {
        Source {
            name,
            handle,
            sink,
            field,
            on_rotate,
            rotate: Notify::new(),
            status: Mutex::new(SinkStatus::default()),
        }
    }

    pub fn sink_status(&self) -> SinkStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_status(&self, f: impl FnOnce(&mut SinkStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Everything the agent started, in start order (token, KV, leases, files, HMAC keyrings).
pub struct Sources {
    pub list: Vec<Arc<Source>>,
    token: Option<VaultToken>,
}

fn start_failed(what: &str, e: &OutboundError) -> Failure {
    let message = match e {
        OutboundError::MissingAddress => {
            "no Vault address: give --vault-addr URL or `addr` in [vault], or set VAULT_ADDR / BAO_ADDR".to_owned()
        }
        other => other.to_string(),
    };
    Failure::usage(e.code(), format!("{what}: {message}"))
}

/// Starts every source; nothing is written yet. A source the runtime refuses
/// (no address, a bad mount or path, an unreadable CA file) is a configuration
/// error.
pub fn start(config: &AgentConfig) -> Result<Sources, Failure> {
    let mut list = Vec::new();
    let mut token = None;
    if let Some(v) = &config.vault {
        let mut c = VaultTokenConfig::new(v.role.clone(), JwtSource::File(v.jwt_file.clone()));
        c.addr = v.addr.clone();
        c.auth_mount = v.auth_mount.clone();
        c.namespace = v.namespace.clone();
        c.http.ca_file = v.ca_file.clone();
        c.http.dangerous_allow_http = v.dangerous_allow_http;
        c.revoke_on_shutdown = v.revoke_on_exit;
        let t = VaultToken::start(c).map_err(|e| start_failed("vault", &e))?;
        list.push(Arc::new(Source::new(
            v.name(),
            Handle::VaultToken(t.clone()),
            v.token_sink.clone(),
            None,
            v.on_rotate.clone(),
        )));
        token = Some(t);
    }
    let mut secrets = Pollers::default();
    for kv in &config.kv {
        let t = token.as_ref().ok_or_else(|| Failure::usage("invalid_config", "KV secrets need a Vault login"))?;
        let secret = secrets.get(config, t, &kv.mount, &kv.path, &format!("kv `{}`", kv.name))?;
        list.push(Arc::new(Source::new(
            kv.name.clone(),
            Handle::Kv(secret),
            Some(kv.sink.clone()),
            kv.field.clone(),
            kv.on_rotate.clone(),
        )));
    }
    // Tables naming the same lease path share one lease, so that `field =
    // "username"` and `field = "password"` come from the same credential.
    let mut held: Vec<(&str, VaultLease)> = Vec::new();
    for lease in &config.leases {
        let t = token.as_ref().ok_or_else(|| Failure::usage("invalid_config", "leases need a Vault login"))?;
        let shared = match held.iter().find(|(p, _)| *p == lease.path.as_str()) {
            Some((_, shared)) => shared.clone(),
            None => {
                let mut c = VaultLeaseConfig::new(lease.path.clone());
                c.grace = lease.grace;
                // A lease outlives the agent exactly when the token does.
                c.revoke_on_shutdown = config.vault.as_ref().is_some_and(|v| v.revoke_on_exit);
                let started =
                    VaultLease::start(t, c).map_err(|e| start_failed(&format!("lease `{}`", lease.name), &e))?;
                held.push((lease.path.as_str(), started.clone()));
                started
            }
        };
        list.push(Arc::new(Source::new(
            lease.name.clone(),
            Handle::Lease(shared),
            Some(lease.sink.clone()),
            lease.field.clone(),
            lease.on_rotate.clone(),
        )));
    }
    for f in &config.file_tokens {
        let s = FileToken::start(FileTokenConfig::new(f.path.clone()))
            .map_err(|e| start_failed(&format!("file_token `{}`", f.name), &e))?;
        list.push(Arc::new(Source::new(
            f.name.clone(),
            Handle::FileToken(s),
            f.sink.clone(),
            None,
            f.on_rotate.clone(),
        )));
    }
    for h in &config.hmac {
        let t = token.as_ref().ok_or_else(|| Failure::usage("invalid_config", "HMAC keyrings need a Vault login"))?;
        let secret = secrets.get(config, t, &h.mount, &h.path, &format!("hmac `{}`", h.name))?;
        list.push(Arc::new(Source::new(
            h.name.clone(),
            Handle::Hmac(HmacSource::new(secret, h.field.clone(), h.grace)),
            Some(h.sink.clone()),
            // Not used to render (the keyring knows its field): for the logs.
            Some(h.field.clone()),
            h.on_rotate.clone(),
        )));
    }
    Ok(Sources { list, token })
}

/// The KV pollers, one per secret: `[[kv]]` and `[[hmac]]` tables naming the
/// same secret share one (at the shortest of their intervals), so there is
/// one read per period and every sink of a secret shows the same version.
#[derive(Default)]
struct Pollers(Vec<((String, String), VaultSecret)>);

impl Pollers {
    /// The poller of `mount`/`path`, started at its first use. It keeps a
    /// replaced version for the longest grace of the `[[hmac]]` tables
    /// reading it (plus [`PREVIOUS_MARGIN`]); without any, the runtime's default.
    fn get(
        &mut self,
        config: &AgentConfig,
        token: &VaultToken,
        mount: &str,
        path: &str,
        what: &str,
    ) -> Result<VaultSecret, Failure> {
        if let Some((_, shared)) = self.0.iter().find(|((m, p), _)| m == mount && p == path) {
            return Ok(shared.clone());
        }
        let kv = config.kv.iter().filter(|k| k.mount == mount && k.path == path).map(|k| k.interval);
        let hmac = config.hmac.iter().filter(|h| h.mount == mount && h.path == path);
        let interval = kv.chain(hmac.clone().map(|h| h.interval)).min().unwrap_or(super::config::DEFAULT_KV_INTERVAL);
        let mut c = VaultSecretConfig::new(mount.to_owned(), path.to_owned()).with_poll_interval(interval);
        c.grace = hmac.map(|h| h.grace).max().map(|g| g + PREVIOUS_MARGIN);
        let started = VaultSecret::start(token, c).map_err(|e| start_failed(what, &e))?;
        self.0.push(((mount.to_owned(), path.to_owned()), started.clone()));
        Ok(started)
    }
}

impl Sources {
    /// Stops the sources: leases first (their revocation needs the token),
    /// then KV secrets (those of HMAC keyrings too) and token files, the
    /// Vault token last (revoked when asked). Each runtime shutdown is
    /// bounded (15 s).
    pub async fn shutdown(self) {
        for s in &self.list {
            if let Handle::Lease(lease) = &s.handle {
                lease.shutdown().await;
            }
        }
        for s in &self.list {
            match &s.handle {
                Handle::Kv(secret) => secret.shutdown(),
                Handle::Hmac(h) => h.secret.shutdown(),
                _ => {}
            }
        }
        if let Some(token) = &self.token {
            token.shutdown().await;
        }
        // Token files stop when their last handle is dropped, here.
    }
}

/// Carries `source`'s rotations to its sink until `stop`. Reports on `ready`
/// (once) when the sink was first written, or for a source without a sink,
/// when it first had a usable value. A write in progress always completes:
/// `stop` is only looked at between writes.
pub async fn follow(source: Arc<Source>, ready: Arc<watch::Sender<usize>>, stop: CancellationToken) {
    let mut rotations = source.handle.subscribe();
    // What this agent last wrote to the sink; `None` before the first write.
    let mut written: Option<Vec<u8>> = None;
    let mut reported_ready = false;
    loop {
        rotations.borrow_and_update();
        let mut retry = false;
        let (rendered, again_in) = source.handle.render(source.field.as_deref());
        match (&source.sink, rendered) {
            (_, Rendered::Absent) => {}
            (Some(path), Rendered::Refused(code)) => {
                tracing::warn!(target: "tokenkeep::agent", source = %source.name, sink = %path.display(), error = code, "the core refuses this secret: sink not written, it keeps the last good value");
                source.set_status(|s| s.last_error = Some(code));
            }
            (None, Rendered::Refused(_)) => {}
            (None, Rendered::Value(_)) => {
                if !reported_ready {
                    reported_ready = true;
                    ready.send_modify(|n| *n += 1);
                }
            }
            (Some(path), Rendered::MissingField) => {
                let field = source.field.as_deref().unwrap_or_default();
                tracing::warn!(target: "tokenkeep::agent", source = %source.name, sink = %path.display(), field, "the secret has no such field (a string for an HMAC keyring): sink not written");
                source.set_status(|s| s.last_error = Some("field_missing"));
            }
            (None, Rendered::MissingField) => {}
            (Some(path), Rendered::Value(bytes)) if written.as_deref() != Some(bytes.as_slice()) => {
                match write_sink(&source, path, bytes, written.is_none()).await {
                    Some((bytes, replaced_other)) => {
                        written = Some(bytes);
                        if replaced_other && !source.on_rotate.is_empty() {
                            source.rotate.notify_one();
                        }
                        if !reported_ready {
                            reported_ready = true;
                            ready.send_modify(|n| *n += 1);
                        }
                    }
                    None => retry = true,
                }
            }
            (Some(_), Rendered::Value(_)) => {}
        }
        tokio::select! {
            changed = rotations.changed() => {
                if changed.is_err() {
                    return; // the source is gone: the agent is stopping
                }
            }
            () = tokio::time::sleep(SINK_RETRY), if retry => {}
            () = tokio::time::sleep(again_in.unwrap_or_default()), if again_in.is_some() => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Writes one value; returns it and whether it replaced a different one (a
/// rotation: `on_rotate` runs). On the first write the comparison is with the
/// file on disk, so a restarted agent that finds the same value runs nothing
/// and one that finds an older value runs the command once. `None`: not
/// written (logged, counted, retried by the caller).
async fn write_sink(source: &Source, path: &Path, bytes: Vec<u8>, first: bool) -> Option<(Vec<u8>, bool)> {
    let path_owned = path.to_path_buf();
    let outcome = tokio::task::spawn_blocking(move || {
        let before = first.then(|| sink::read_existing(&path_owned, bytes.len() + 1)).flatten();
        let result = sink::write_atomic(&path_owned, &bytes);
        (result, bytes, before)
    })
    .await;
    let (result, bytes, before) = match outcome {
        Ok(o) => o,
        Err(_) => {
            tracing::warn!(target: "tokenkeep::agent", source = %source.name, sink = %path.display(), "sink write did not complete; retrying");
            return None;
        }
    };
    match result {
        Ok(()) => {
            let replaced_other = if first { before.is_some_and(|b| b != bytes) } else { true };
            let version = source.handle.health().version;
            tracing::info!(target: "tokenkeep::agent", source = %source.name, kind = source.handle.kind(), sink = %path.display(), version, first, "sink written");
            metrics::counter!(SINK_WRITES_TOTAL, "source" => source.name.clone(), "result" => "ok").increment(1);
            source.set_status(|s| {
                s.written = true;
                s.last_error = None;
            });
            Some((bytes, replaced_other))
        }
        Err(e) => {
            tracing::warn!(target: "tokenkeep::agent", source = %source.name, sink = %path.display(), error = %e, retry_in_s = SINK_RETRY.as_secs(), "cannot write the sink; the previous file is untouched");
            metrics::counter!(SINK_WRITES_TOTAL, "source" => source.name.clone(), "result" => "error").increment(1);
            source.set_status(|s| s.last_error = Some("write_failed"));
            None
        }
    }
}

/// Runs `source`'s `on_rotate` command after each rotation, one at a time:
/// rotations during a run coalesce into one more run afterwards. Never
/// blocks the sink loops. Stops (killing a running command) on `stop`.
pub async fn run_on_rotate(source: Arc<Source>, stop: CancellationToken) {
    if source.on_rotate.is_empty() {
        return;
    }
    loop {
        tokio::select! {
            () = source.rotate.notified() => {}
            () = stop.cancelled() => return,
        }
        tokio::select! {
            () = run_command(&source) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn run_command(source: &Source) {
    let argv = &source.on_rotate;
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env("TOKENKEEP_SOURCE", &source.name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(sink) = &source.sink {
        command.env("TOKENKEEP_SINK", sink);
    }
    let program = argv[0].as_str();
    let count = |result: &'static str| {
        metrics::counter!(ON_ROTATE_TOTAL, "source" => source.name.clone(), "result" => result).increment(1);
    };
    let child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(target: "tokenkeep::agent", source = %source.name, program, error = %e, "on_rotate command could not be started");
            count("failed");
            return;
        }
    };
    match tokio::time::timeout(ON_ROTATE_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => {
            tracing::debug!(target: "tokenkeep::agent", source = %source.name, program, stdout = %clip(&output.stdout), stderr = %clip(&output.stderr), "on_rotate command output");
            if output.status.success() {
                tracing::info!(target: "tokenkeep::agent", source = %source.name, program, "on_rotate command ran");
                count("ok");
            } else {
                tracing::warn!(target: "tokenkeep::agent", source = %source.name, program, status = %output.status, "on_rotate command failed");
                count("failed");
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "tokenkeep::agent", source = %source.name, program, error = %e, "on_rotate command could not be waited for");
            count("failed");
        }
        Err(_) => {
            // Dropping the wait dropped the child: kill_on_drop ends it.
            tracing::warn!(target: "tokenkeep::agent", source = %source.name, program, timeout_s = ON_ROTATE_TIMEOUT.as_secs(), "on_rotate command timed out and was killed");
            count("timeout");
        }
    }
}

/// A command's output for one log line: at most [`OUTPUT_LOG_LIMIT`] bytes, sanitized.
fn clip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(OUTPUT_LOG_LIMIT)]);
    tokenkeep_core::text::sanitize(text.trim_end()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn rendering_a_secret() {
        let data = object(json!({"password": "p", "port": 5432}));
        let Rendered::Value(whole) = render_object(&data, None) else { panic!("value") };
        assert_eq!(serde_json::from_slice::<Value>(&whole).unwrap(), json!({"password": "p", "port": 5432}));
        assert!(whole.ends_with(b"\n"));
        let Rendered::Value(one) = render_object(&data, Some("password")) else { panic!("value") };
        assert_eq!(one, b"p", "a string member is written as is");
        let Rendered::Value(port) = render_object(&data, Some("port")) else { panic!("value") };
        assert_eq!(port, b"5432");
        assert!(matches!(render_object(&data, Some("user")), Rendered::MissingField));
    }

    #[test]
    fn hmac_secrets_are_checked_by_the_core() {
        let min = tokenkeep_core::hmac_keyring::MIN_SECRET_BYTES;
        assert_eq!(core_accepts(&vec![b'k'; min - 1]).map_err(|e| e.code()), Err("secret_too_short"));
        assert!(core_accepts(&vec![b'k'; min]).is_ok());
    }

    #[test]
    fn valid_until_is_rounded_up() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(ceil_to_second(at(5_000)), at(5_000));
        assert_eq!(ceil_to_second(at(5_001)), at(6_000));
    }
}
