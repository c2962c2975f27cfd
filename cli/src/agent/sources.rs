//! Starting the runtime's sources from the configuration, and the loop that
//! carries each rotation to its sink (and then to its `on_rotate` command).
//!
//! The agent adds no credential logic: when to renew, re-login, re-read or
//! replace is decided by the runtime (`tokenkeep::outbound`). Each source's
//! rotation watch wakes one loop here, which renders the current value,
//! compares it with what the sink holds and writes only a different value.
//! An `[[hmac]]` sink also changes with time (its previous secret is dropped
//! at the end of the grace window): its loop is woken then too.

use super::config::{AgentConfig, path_text};
use super::serve::{ON_ROTATE_TOTAL, SINK_WRITES_TOTAL};
use super::sink;
use crate::output::Failure;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep::outbound::{
    Credential, CredentialHealth, CredentialKind, FileToken, HmacKeyring, VaultLease, VaultSecret, VaultToken,
};
use tokenkeep::spec::{FileTokenSpec, Seconds, SpecError, VaultSecretSpec};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// How long an `on_rotate` command may run before it is killed.
const ON_ROTATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait between attempts to write a sink that could not be written (a full
/// disk, a directory made read-only): the value is retried, not dropped.
const SINK_RETRY: Duration = Duration::from_secs(5);
/// At most this much of a command's output goes to the debug log.
const OUTPUT_LOG_LIMIT: usize = 4096;
/// Longest sleep of a sink loop between two looks at its source (a rotation
/// wakes it sooner).
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// A running source of the runtime: any outbound handle, seen through the
/// runtime's [`Credential`] trait (value as plain data, health, rotations,
/// close). The agent adds no credential logic of its own.
pub struct Handle(Arc<dyn Credential>);

impl Handle {
    /// The `kind` in `/health` and the metrics' labels.
    pub fn kind(&self) -> &'static str {
        match self.0.kind() {
            CredentialKind::VaultToken => "vault_token",
            CredentialKind::VaultSecret => "kv",
            CredentialKind::VaultLease => "lease",
            CredentialKind::FileToken => "file_token",
            _ => "hmac_keyring",
        }
    }

    pub fn health(&self) -> CredentialHealth {
        self.0.health()
    }

    /// Whether the source holds a value that may be used now.
    pub fn usable(&self) -> bool {
        self.0.is_usable()
    }

    /// The bytes the sink should hold now. Every change of them is a
    /// rotation of the source (an HMAC keyring's previous secret retiring
    /// included), so the sink is rewritten when the rotation count moves.
    fn render(&self, field: Option<&str>) -> Rendered {
        let Ok(value) = self.0.exposed_value() else { return Rendered::Absent };
        let value = value.into_exposed();
        if self.0.kind() == CredentialKind::HmacKeyring {
            let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
            bytes.push(b'\n');
            return Rendered::Value(bytes);
        }
        match &value {
            // A token file holds the token, not a JSON string.
            Value::String(token) => Rendered::Value(token.as_bytes().to_vec()),
            Value::Object(object) => render_object(object, field),
            _ => Rendered::Absent,
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
    /// Why the last attempt did not write (`write_failed`, `field_missing`,
    /// or the runtime's refusal of an HMAC secret: `secret_too_short`,
    /// `missing_field`); `None` after a success.
    pub last_error: Option<String>,
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
    fn new(
        name: String,
        handle: Arc<dyn Credential>,
        sink: Option<PathBuf>,
        field: Option<String>,
        on_rotate: Vec<String>,
    ) -> Self {
        Source {
            name,
            handle: Handle(handle),
            sink,
            field,
            on_rotate,
            rotate: Notify::new(),
            status: Mutex::new(SinkStatus::default()),
        }
    }

    pub fn sink_status(&self) -> SinkStatus {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // The runtime refused the newest value (an HMAC secret too short) and
        // keeps the last good one: so does the sink, and /health says why.
        if let (Some(_), Some(code)) = (&self.sink, self.handle.0.refusal()) {
            status.last_error = Some(code);
        }
        status
    }

    fn set_status(&self, f: impl FnOnce(&mut SinkStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Everything the agent started, in start order (token, KV, leases, files,
/// HMAC keyrings), and the handles to close (each once, dependents first).
pub struct Sources {
    pub list: Vec<Arc<Source>>,
    leases: Vec<VaultLease>,
    secrets: Vec<VaultSecret>,
    others: Vec<Arc<dyn Credential>>,
    token: Option<VaultToken>,
}

/// A refused spec as the agent's usage error, naming the table it came from.
fn start_failed(what: &str, e: &SpecError) -> Failure {
    let message = match e.code().as_str() {
        "missing_address" => {
            "no Vault address: give --vault-addr URL or `addr` in [vault], or set VAULT_ADDR / BAO_ADDR".to_owned()
        }
        _ => e.to_string(),
    };
    Failure::usage(e.code().as_str(), format!("{what}: {message}"))
}

/// Starts every source from the runtime's specs; nothing is written yet. A
/// source the runtime refuses (no address, a bad mount or path, an
/// unreadable CA file) is a configuration error.
pub fn start(config: &AgentConfig) -> Result<Sources, Failure> {
    let mut list = Vec::new();
    let mut token = None;
    let mut others: Vec<Arc<dyn Credential>> = Vec::new();
    if let Some(v) = &config.vault {
        let spec = v.token_spec();
        let t = VaultToken::start(&spec).map_err(|e| start_failed("vault", &e))?;
        list.push(Arc::new(Source::new(
            v.name(),
            Arc::new(t.clone()),
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
            Arc::new(secret),
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
                // A lease outlives the agent exactly when the token does.
                let spec = lease.lease_spec(config.vault.as_ref().is_some_and(|v| v.revoke_on_exit));
                let started =
                    VaultLease::start(t, &spec).map_err(|e| start_failed(&format!("lease `{}`", lease.name), &e))?;
                held.push((lease.path.as_str(), started.clone()));
                started
            }
        };
        list.push(Arc::new(Source::new(
            lease.name.clone(),
            Arc::new(shared),
            Some(lease.sink.clone()),
            lease.field.clone(),
            lease.on_rotate.clone(),
        )));
    }
    for f in &config.file_tokens {
        let spec = FileTokenSpec { path: path_text(&f.path), ..FileTokenSpec::default() };
        let s = FileToken::start(&spec).map_err(|e| start_failed(&format!("file_token `{}`", f.name), &e))?;
        let s: Arc<dyn Credential> = Arc::new(s);
        others.push(s.clone());
        list.push(Arc::new(Source::new(f.name.clone(), s, f.sink.clone(), None, f.on_rotate.clone())));
    }
    for h in &config.hmac {
        let what = format!("hmac `{}`", h.name);
        let t = token.as_ref().ok_or_else(|| Failure::usage("invalid_config", "HMAC keyrings need a Vault login"))?;
        let secret = secrets.get(config, t, &h.mount, &h.path, &what)?;
        let spec = h.keyring_spec();
        let keyring = HmacKeyring::start_on_secret(&secret, &spec).map_err(|e| start_failed(&what, &e))?;
        let keyring: Arc<dyn Credential> = Arc::new(keyring);
        others.push(keyring.clone());
        list.push(Arc::new(Source::new(
            h.name.clone(),
            keyring,
            Some(h.sink.clone()),
            // Not used to render (the keyring knows its field): for the logs.
            Some(h.field.clone()),
            h.on_rotate.clone(),
        )));
    }
    let leases = held.into_iter().map(|(_, l)| l).collect();
    Ok(Sources { list, leases, secrets: secrets.0.into_iter().map(|(_, s)| s).collect(), others, token })
}

/// The KV pollers, one per secret: `[[kv]]` and `[[hmac]]` tables naming the
/// same secret share one (at the shortest of their intervals), so there is
/// one read per period and every sink of a secret shows the same version.
#[derive(Default)]
struct Pollers(Vec<((String, String), VaultSecret)>);

impl Pollers {
    /// The poller of `mount`/`path`, started at its first use.
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
        let hmac = config.hmac.iter().filter(|h| h.mount == mount && h.path == path).map(|h| h.interval);
        let interval = kv.chain(hmac).min().unwrap_or(super::config::DEFAULT_KV_INTERVAL);
        let spec = VaultSecretSpec {
            mount: mount.to_owned(),
            path: path.to_owned(),
            interval: Some(Seconds(interval)),
            grace: None,
        };
        let started = VaultSecret::start(token, &spec).map_err(|e| start_failed(what, &e))?;
        self.0.push(((mount.to_owned(), path.to_owned()), started.clone()));
        Ok(started)
    }
}

impl Sources {
    /// Stops the sources: HMAC keyrings and token files, leases (their
    /// revocation needs the token), KV secrets, the Vault token last (revoked
    /// when asked). Each close is bounded by the runtime.
    pub async fn shutdown(self) {
        for other in &self.others {
            other.close_credential().await;
        }
        for lease in &self.leases {
            lease.close().await;
        }
        for secret in &self.secrets {
            secret.close().await;
        }
        if let Some(token) = &self.token {
            token.close().await;
        }
    }
}

/// Carries `source`'s rotations to its sink until `stop`. Reports on `ready`
/// (once) when the sink was first written, or for a source without a sink,
/// when it first had a usable value. A write in progress always completes:
/// `stop` is only looked at between writes.
pub async fn follow(source: Arc<Source>, ready: Arc<watch::Sender<usize>>, stop: CancellationToken) {
    let rotations = source.handle.0.rotations();
    // What this agent last wrote to the sink; `None` before the first write.
    let mut written: Option<Vec<u8>> = None;
    let mut reported_ready = false;
    loop {
        let seen = rotations.count();
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
                source.set_status(|s| s.last_error = Some("field_missing".to_owned()));
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
        let wait = if retry { SINK_RETRY } else { IDLE_WAIT };
        tokio::select! {
            _ = rotations.wait(seen, wait) => {}
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
            source.set_status(|s| s.last_error = Some("write_failed".to_owned()));
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
}
