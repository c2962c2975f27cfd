//! Starting the runtime's sources from the configuration, and the loop that
//! carries each rotation to its sink (and then to its `on_rotate` command).
//!
//! The agent adds no credential logic: when to renew, re-login, re-read or
//! replace is decided by the runtime (`tokenkeep::outbound`). Each source's
//! rotation watch wakes one loop here, which renders the current value,
//! compares it with what the sink holds and writes only a different value.

use super::config::AgentConfig;
use super::serve::{ON_ROTATE_TOTAL, SINK_WRITES_TOTAL};
use super::sink;
use crate::output::Failure;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep::outbound::{
    FileToken, FileTokenConfig, Health, JwtSource, OutboundError, VaultLease, VaultLeaseConfig, VaultSecret,
    VaultSecretConfig, VaultToken, VaultTokenConfig,
};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// How long an `on_rotate` command may run before it is killed.
const ON_ROTATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait between attempts to write a sink that could not be written (a full
/// disk, a directory made read-only): the value is retried, not dropped.
const SINK_RETRY: Duration = Duration::from_secs(5);
/// At most this much of a command's output goes to the debug log.
const OUTPUT_LOG_LIMIT: usize = 4096;

/// A running source of the runtime.
pub enum Handle {
    VaultToken(VaultToken),
    Kv(VaultSecret),
    Lease(VaultLease),
    FileToken(FileToken),
}

impl Handle {
    /// The `kind` in `/health` and the metrics' labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Handle::VaultToken(_) => "vault_token",
            Handle::Kv(_) => "kv",
            Handle::Lease(_) => "lease",
            Handle::FileToken(_) => "file_token",
        }
    }

    pub fn health(&self) -> Health {
        match self {
            Handle::VaultToken(s) => s.health(),
            Handle::Kv(s) => s.health(),
            Handle::Lease(s) => s.health(),
            Handle::FileToken(s) => s.health(),
        }
    }

    /// Whether the source holds a value that may be used now.
    pub fn usable(&self) -> bool {
        match self {
            Handle::VaultToken(s) => s.current().is_ok(),
            Handle::Kv(s) => s.current().is_ok(),
            Handle::Lease(s) => s.current().is_ok(),
            Handle::FileToken(s) => s.current().is_ok(),
        }
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        match self {
            Handle::VaultToken(s) => s.subscribe(),
            Handle::Kv(s) => s.subscribe(),
            Handle::Lease(s) => s.subscribe(),
            Handle::FileToken(s) => s.subscribe(),
        }
    }

    /// The bytes the sink should hold now.
    fn render(&self, field: Option<&str>) -> Rendered {
        match self {
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
        }
    }
}

/// What a source has for its sink at a given moment.
enum Rendered {
    Value(Vec<u8>),
    /// No usable value now (not obtained yet, expired): the sink keeps what it has.
    Absent,
    /// The configured `field` is not in the secret.
    MissingField,
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

/// Everything the agent started, in start order (token, KV, leases, files).
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
    // Tables naming the same secret share one poller (at the shortest of
    // their intervals): one read per period, and every sink of a secret
    // shows the same version.
    let mut secrets: Vec<((&str, &str), VaultSecret)> = Vec::new();
    for kv in &config.kv {
        let t = token.as_ref().ok_or_else(|| Failure::usage("invalid_config", "KV secrets need a Vault login"))?;
        let key = (kv.mount.as_str(), kv.path.as_str());
        let secret = match secrets.iter().find(|(k, _)| *k == key) {
            Some((_, shared)) => shared.clone(),
            None => {
                let interval =
                    config.kv.iter().filter(|o| (o.mount.as_str(), o.path.as_str()) == key).map(|o| o.interval).min();
                let c = VaultSecretConfig::new(kv.mount.clone(), kv.path.clone())
                    .with_poll_interval(interval.unwrap_or(kv.interval));
                let started = VaultSecret::start(t, c).map_err(|e| start_failed(&format!("kv `{}`", kv.name), &e))?;
                secrets.push((key, started.clone()));
                started
            }
        };
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
    Ok(Sources { list, token })
}

impl Sources {
    /// Stops the sources: leases first (their revocation needs the token),
    /// then KV secrets and token files, the Vault token last (revoked when
    /// asked). Each runtime shutdown is bounded (15 s).
    pub async fn shutdown(self) {
        for s in &self.list {
            if let Handle::Lease(lease) = &s.handle {
                lease.shutdown().await;
            }
        }
        for s in &self.list {
            if let Handle::Kv(secret) = &s.handle {
                secret.shutdown();
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
        let rendered = source.handle.render(source.field.as_deref());
        match (&source.sink, rendered) {
            (_, Rendered::Absent) => {}
            (None, Rendered::Value(_)) => {
                if !reported_ready {
                    reported_ready = true;
                    ready.send_modify(|n| *n += 1);
                }
            }
            (Some(path), Rendered::MissingField) => {
                let field = source.field.as_deref().unwrap_or_default();
                tracing::warn!(target: "tokenkeep::agent", source = %source.name, sink = %path.display(), field, "the secret has no such field: sink not written");
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
        let before = first.then(|| sink::read_existing(&path_owned)).flatten();
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

fn clip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(OUTPUT_LOG_LIMIT)]);
    text.trim_end().to_owned()
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
}
