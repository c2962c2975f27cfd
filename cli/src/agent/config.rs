//! The agent's configuration: the TOML file of `--config`, the flags on top
//! of it, and every check that can be made before anything starts (so a
//! mistake is exit 2 at once, not a sidecar that runs and writes nothing).
//!
//! The file (every table optional; unknown keys are errors):
//!
//! ```toml
//! [vault]                                   # the login every [[kv]], [[lease]] and [[hmac]] reads with
//! addr = "https://vault.example:8200"       # else VAULT_ADDR / BAO_ADDR
//! auth_mount = "jwt"                        # default "jwt"
//! role = "app"
//! jwt_file = "/var/run/secrets/tokens/vault-jwt"   # read anew before every login
//! namespace = "team-a"                      # else VAULT_NAMESPACE / BAO_NAMESPACE
//! ca_file = "/etc/ssl/vault-ca.pem"         # else VAULT_CACERT / BAO_CACERT
//! token_sink = "/run/tokenkeep/vault-token" # the token itself, rewritten on every new login
//! revoke_on_exit = true                     # revoke leases and token on SIGTERM/SIGINT
//! on_rotate = ["/usr/local/bin/reload-app"] # after the token sink changed
//! dangerous_allow_http = false              # plain http to a non-loopback addr (or --dangerous-allow-http)
//!
//! [health]
//! listen = "127.0.0.1:8787"                 # GET /health and /metrics; loopback only unless
//! dangerous_listen_any = false              # ... this is true (or --dangerous-health-listen-any)
//!
//! [[kv]]                                    # a KV v2 secret, polled
//! name = "app-config"                       # default "<mount>/<path>"; names must be unique
//! mount = "secret"
//! path = "app/config"
//! sink = "/run/tokenkeep/app-config.json"   # the secret's data as a JSON object ...
//! field = "password"                        # ... or this one member (a string is written as is)
//! interval = "60s"                          # poll period, 1 s .. 24 h (default --kv-interval, 60 s)
//! on_rotate = ["/usr/local/bin/reload-app", "--config"]  # argv, no shell
//!
//! [[lease]]                                 # a dynamic secret, renewed and replaced
//! path = "database/creds/app"
//! sink = "/run/tokenkeep/db.json"           # {<data members>, "lease_id", "lease_duration", "renewable"}
//! field = "password"                        # optional, as for [[kv]]
//! grace = "2m"                              # the replaced credential's lease is revoked after this
//! on_rotate = ["pkill", "-HUP", "app"]
//!
//! [[file_token]]                            # a rotating token file (projected SA token, JWT-SVID)
//! name = "k8s"
//! path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
//! sink = "/run/tokenkeep/k8s-token"         # optional: a copy at a stable path
//! on_rotate = ["/usr/local/bin/reload-app"]
//!
//! [[hmac]]                                  # an HMAC keyring: current and previous secret of a KV v2 field
//! name = "webhooks"                         # default "<mount>/<path>#<field>"
//! mount = "secret"
//! path = "app/webhook"
//! field = "key"                             # a string of at least 16 bytes (the core's minimum)
//! sink = "/run/tokenkeep/webhook-keys.json" # see below
//! interval = "60s"                          # as for [[kv]]
//! grace = "10m"                             # how long the previous secret stays (default 2m, at most 24 h)
//! on_rotate = ["/usr/local/bin/reload-app"]
//! ```
//!
//! `on_rotate` runs (argv, no shell, 30 s at most, one run at a time per
//! source, with `TOKENKEEP_SOURCE` and `TOKENKEEP_SINK` in its environment)
//! after a sink's content changed: on every rotation, and on the first write
//! after a start when the file already held another value; not when a sink is
//! created. `lease_duration` is in seconds.
//!
//! An `[[hmac]]` sink is for a program that signs or verifies (webhooks)
//! itself and must accept the previous secret for a while after a rotation:
//!
//! ```json
//! {"current": {"version": 3, "secret": "..."},
//!  "previous": {"version": 2, "secret": "...", "valid_until": 1767226200} | null}
//! ```
//!
//! `version` is the KV version; `valid_until` is in Unix seconds: the time
//! this agent saw the rotation plus `grace`. The file is rewritten on every
//! rotation and again at `valid_until`, with `"previous": null` (so
//! `on_rotate` runs then too). A secret the core would refuse (a missing or
//! non-string field, shorter than its minimum) is not written: the file keeps
//! the last good keyring and `/health` shows `sink_error` (`missing_field`,
//! `secret_too_short`: the runtime keyring's codes). An agent restarted within a grace window starts
//! without the previous secret.
//!
//! `[[kv]]` and `[[hmac]]` tables naming the same secret share one poller (at
//! the shortest of their intervals); `[[lease]]` tables naming the same path
//! share one lease, so `field = "username"` and `field = "password"` in two
//! tables come from the same credential.
//!
//! Flags override the `[vault]` table key by key; `--kv` entries are added to
//! the `[[kv]]` tables; `--health-listen` overrides `[health] listen`.
//! Relative paths are relative to the working directory.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokenkeep::spec::{
    FileTokenSpec as FileTokenOptions, HmacKeyringSpec, Seconds, SpecError, SpecErrorCode, VaultLeaseSpec,
    VaultSecretSpec, VaultTokenSpec, check_poll_interval,
};
use toml::Spanned;

/// Poll period of a KV secret when neither the table nor `--kv-interval` says.
pub const DEFAULT_KV_INTERVAL: Duration = Duration::from_secs(60);

/// What the command line said; every field may also come from the file.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub vault_addr: Option<String>,
    pub role: Option<String>,
    pub jwt_file: Option<PathBuf>,
    pub auth_mount: Option<String>,
    pub namespace: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub token_sink: Option<PathBuf>,
    /// `MOUNT/PATH=SINK`, as typed.
    pub kv: Vec<String>,
    pub kv_interval: Option<Duration>,
    pub health_listen: Option<String>,
    pub dangerous_health_listen_any: bool,
    pub revoke_on_exit: bool,
    pub dangerous_allow_http: bool,
}

/// The checked configuration the agent runs.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub vault: Option<VaultSpec>,
    pub health_listen: Option<SocketAddr>,
    pub kv: Vec<KvSpec>,
    pub leases: Vec<LeaseSpec>,
    pub file_tokens: Vec<FileTokenSpec>,
    pub hmac: Vec<HmacSpec>,
}

/// The Vault login.
#[derive(Clone, Debug, PartialEq)]
pub struct VaultSpec {
    /// `None`: `VAULT_ADDR` / `BAO_ADDR` (the runtime reads them).
    pub addr: Option<String>,
    pub auth_mount: String,
    pub role: String,
    pub jwt_file: PathBuf,
    pub namespace: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub token_sink: Option<PathBuf>,
    pub revoke_on_exit: bool,
    pub on_rotate: Vec<String>,
    /// Plain http to a non-loopback Vault (`--dangerous-allow-http`).
    pub dangerous_allow_http: bool,
}

impl VaultSpec {
    /// The token's name in `/health`, metrics and logs (`role@mount`, as the runtime names it).
    pub fn name(&self) -> String {
        format!("{}@{}", self.role, self.auth_mount)
    }

    /// The runtime's options for this login (the environment still fills
    /// what is unset when it starts).
    pub fn token_spec(&self) -> VaultTokenSpec {
        VaultTokenSpec {
            addr: self.addr.clone(),
            namespace: self.namespace.clone(),
            ca_file: self.ca_file.as_deref().map(path_text),
            auth_mount: Some(self.auth_mount.clone()),
            role: self.role.clone(),
            jwt_file: Some(path_text(&self.jwt_file)),
            revoke_on_close: self.revoke_on_exit,
            dangerous_allow_http: self.dangerous_allow_http,
            ..VaultTokenSpec::default()
        }
    }
}

/// A path as the runtime's specs take it (they are JSON-shaped: text).
pub(crate) fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// One KV v2 secret and where it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct KvSpec {
    pub name: String,
    pub mount: String,
    pub path: String,
    pub sink: PathBuf,
    pub field: Option<String>,
    pub interval: Duration,
    pub on_rotate: Vec<String>,
}

/// One leased secret and where it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseSpec {
    pub name: String,
    pub path: String,
    pub sink: PathBuf,
    pub field: Option<String>,
    pub grace: Option<Duration>,
    pub on_rotate: Vec<String>,
}

impl LeaseSpec {
    /// The runtime's options for this lease; whether it is revoked on close
    /// follows the Vault login's `revoke_on_exit`.
    pub fn lease_spec(&self, revoke_on_close: bool) -> VaultLeaseSpec {
        lease_options(&self.path, self.grace, Some(revoke_on_close))
    }
}

fn lease_options(path: &str, grace: Option<Duration>, revoke_on_close: Option<bool>) -> VaultLeaseSpec {
    VaultLeaseSpec { path: path.to_owned(), grace: grace.map(Seconds), revoke_on_close }
}

/// One HMAC keyring: a KV v2 field, the current and previous secret written as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct HmacSpec {
    pub name: String,
    pub mount: String,
    pub path: String,
    pub field: String,
    pub sink: PathBuf,
    pub interval: Duration,
    /// How long the previous secret stays in the sink after a rotation
    /// (`None`: the keyring's default).
    pub grace: Option<Duration>,
    pub on_rotate: Vec<String>,
}

impl HmacSpec {
    /// The runtime's options for the keyring on its (shared) KV poller, which
    /// has the interval.
    pub fn keyring_spec(&self) -> HmacKeyringSpec {
        HmacKeyringSpec {
            mount: Some(self.mount.clone()),
            path: Some(self.path.clone()),
            field: Some(self.field.clone()),
            grace: self.grace.map(Seconds),
            ..HmacKeyringSpec::default()
        }
    }
}

/// One token file, and optionally where its copy goes.
#[derive(Clone, Debug, PartialEq)]
pub struct FileTokenSpec {
    pub name: String,
    pub path: PathBuf,
    pub sink: Option<PathBuf>,
    pub on_rotate: Vec<String>,
}

// ----- the file ---------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    vault: Option<Spanned<FileVault>>,
    health: Option<FileHealth>,
    #[serde(default)]
    kv: Vec<Spanned<FileKv>>,
    #[serde(default)]
    lease: Vec<Spanned<FileLease>>,
    #[serde(default)]
    file_token: Vec<Spanned<FileTokenTable>>,
    #[serde(default)]
    hmac: Vec<Spanned<FileHmac>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVault {
    addr: Option<Spanned<String>>,
    auth_mount: Option<Spanned<String>>,
    role: Option<String>,
    jwt_file: Option<Spanned<PathBuf>>,
    namespace: Option<Spanned<String>>,
    ca_file: Option<PathBuf>,
    token_sink: Option<Spanned<PathBuf>>,
    revoke_on_exit: Option<bool>,
    on_rotate: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    dangerous_allow_http: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHealth {
    listen: Option<Spanned<String>>,
    #[serde(default)]
    dangerous_listen_any: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKv {
    name: Option<Spanned<String>>,
    mount: Spanned<String>,
    path: Spanned<String>,
    sink: Spanned<PathBuf>,
    field: Option<Spanned<String>>,
    interval: Option<Spanned<Seconds>>,
    on_rotate: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLease {
    name: Option<Spanned<String>>,
    path: Spanned<String>,
    sink: Spanned<PathBuf>,
    field: Option<Spanned<String>>,
    grace: Option<Spanned<Seconds>>,
    on_rotate: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHmac {
    name: Option<Spanned<String>>,
    mount: Spanned<String>,
    path: Spanned<String>,
    field: Spanned<String>,
    sink: Spanned<PathBuf>,
    interval: Option<Spanned<Seconds>>,
    grace: Option<Spanned<Seconds>>,
    on_rotate: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTokenTable {
    name: Spanned<String>,
    path: Spanned<PathBuf>,
    sink: Option<Spanned<PathBuf>>,
    on_rotate: Option<Spanned<Vec<String>>>,
}

// ----- where a value came from, for the error messages -------------------------------

/// Where a value was written: a flag, or a line of the file.
#[derive(Clone, Debug)]
enum At {
    Flag(String),
    Line { file: PathBuf, line: usize, key: String },
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Flag(flag) => f.write_str(flag),
            At::Line { file, line, key } => write!(f, "{} line {line} ({key})", file.display()),
        }
    }
}

/// The file's text, to turn byte spans into line numbers.
struct Doc {
    path: PathBuf,
    text: String,
}

/// Anything with a byte span in the file.
trait SpanOf {
    fn span_of(&self) -> std::ops::Range<usize>;
}

impl<T> SpanOf for Spanned<T> {
    fn span_of(&self) -> std::ops::Range<usize> {
        self.span()
    }
}

impl Doc {
    fn at_span(&self, span: std::ops::Range<usize>, key: &str) -> At {
        let start = span.start.min(self.text.len());
        let line = self.text.as_bytes()[..start].iter().filter(|b| **b == b'\n').count() + 1;
        At::Line { file: self.path.clone(), line, key: key.to_owned() }
    }
}

/// A configuration mistake: a stable code (the agent's `--json` error
/// `code`) and a message naming the flag or the file, line and key at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub code: &'static str,
    pub message: String,
}

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        ConfigError { code: "invalid_config", message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(at: &At, message: impl fmt::Display) -> ConfigError {
    format!("{at}: {message}").into()
}

fn err_code(code: &'static str, at: &At, message: impl fmt::Display) -> ConfigError {
    ConfigError { code, message: format!("{at}: {message}") }
}

/// A refusal by the runtime's options spec (which owns every rule on the
/// values), placed at the flag, variable or line the refused key came from
/// (`place` maps the spec's field to it; the entry's own place otherwise).
/// The value refused is shown (sanitized) as `spec` holds it.
fn refused(e: &SpecError, spec: &impl serde::Serialize, place: &dyn Fn(&str) -> Option<At>, entry: &At) -> ConfigError {
    let key = e.path().split(['.', '[']).next().unwrap_or_default();
    let at = place(key).unwrap_or_else(|| entry.clone());
    let value = serde_json::to_value(spec).ok().and_then(|v| v.get(key).and_then(|v| v.as_str().map(str::to_owned)));
    let at = match value {
        Some(v) if !v.is_empty() => format!("{at}: `{}`", tokenkeep_core::text::sanitize(&v)),
        _ => at.to_string(),
    };
    let hint = match e.code() {
        SpecErrorCode::InsecureUrl => {
            "; the JWT and the Vault token would cross the network in clear: use https, or \
             --dangerous-allow-http (`dangerous_allow_http = true` in [vault]) for a throwaway server"
        }
        SpecErrorCode::InvalidUrl => " (write it like https://vault.example:8200)",
        _ => "",
    };
    ConfigError {
        code: e.code().as_str(),
        message: format!("{at}: `{key}` {}{hint} ({})", e.message(), e.code().as_str()),
    }
}

// ----- load -------------------------------------------------------------------------

/// Reads `--config` (if any), applies the flags on top, checks everything.
/// The error names the flag or the file, line and key at fault.
pub fn load(flags: &Flags) -> Result<AgentConfig, ConfigError> {
    let (file, doc) = match &flags.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--config {}: cannot read the file: {e}", path.display()))?;
            let file: FileConfig = toml::from_str(&text).map_err(|e| toml_error(&path.display().to_string(), &e))?;
            (file, Some(Doc { path: path.clone(), text }))
        }
        None => (FileConfig::default(), None),
    };
    resolve(flags, file, doc.as_ref())
}

/// Parses a TOML text as if it came from `--config <path>` (for tests).
#[cfg(test)]
fn load_text(flags: &Flags, path: &str, text: &str) -> Result<AgentConfig, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(path, &e))?;
    resolve(flags, file, Some(&Doc { path: path.into(), text: text.to_owned() }))
}

/// A file the TOML reader refused, with the spec's code where the spec's
/// own deserializers (durations) refused a value.
fn toml_error(path: &str, e: &toml::de::Error) -> ConfigError {
    let classified = SpecError::from_serde(String::new(), &e.message());
    let (code, text) = match classified.code() {
        SpecErrorCode::InvalidDuration => {
            (classified.code().as_str(), e.to_string().replace(e.message(), classified.message()))
        }
        _ => ("invalid_config", e.to_string()),
    };
    ConfigError { code, message: format!("--config {path}: {}", text.trim_end()) }
}

fn resolve(flags: &Flags, file: FileConfig, doc: Option<&Doc>) -> Result<AgentConfig, ConfigError> {
    // Spans only exist when a file was read; `doc` is then always `Some`.
    let at = |s: &dyn SpanOf, key: &str| -> At {
        match doc {
            Some(d) => d.at_span(s.span_of(), key),
            None => At::Flag(key.to_owned()),
        }
    };
    let mut checks = Checks::default();

    let vault = resolve_vault(flags, file.vault, &at, &mut checks)?;
    let health_listen = resolve_health(flags, file.health, &at)?;

    let kv_default_interval = match flags.kv_interval {
        Some(d) => {
            check_poll_interval(d).map_err(|e| refused(&e, &(), &|_| None, &At::Flag("--kv-interval".into())))?
        }
        None => DEFAULT_KV_INTERVAL,
    };
    let mut kv = Vec::new();
    for item in file.kv {
        let table = at(&item, "[[kv]]");
        let item = item.into_inner();
        let mount = non_empty(&item.mount, &at(&item.mount, "mount"))?;
        let path = non_empty(&item.path, &at(&item.path, "path"))?;
        let interval = item.interval.as_ref().map_or(kv_default_interval, |i| i.get_ref().get());
        let spec = VaultSecretSpec {
            mount: mount.clone(),
            path: path.clone(),
            interval: Some(Seconds(interval)),
            grace: None,
        };
        spec.validate().map_err(|e| {
            let place = |key: &str| match key {
                "mount" => Some(at(&item.mount, "mount")),
                "path" => Some(at(&item.path, "path")),
                "interval" => item.interval.as_ref().map(|i| at(i, "interval")),
                _ => None,
            };
            refused(&e, &spec, &place, &table)
        })?;
        let name = match &item.name {
            Some(n) => non_empty(n, &at(n, "name"))?,
            None => format!("{}/{}", mount.trim_matches('/'), path.trim_matches('/')),
        };
        let field = item.field.as_ref().map(|f| non_empty(f, &at(f, "field"))).transpose()?;
        let on_rotate = command(item.on_rotate.as_ref(), &at)?;
        checks.name(&name, item.name.as_ref().map_or(table.clone(), |n| at(n, "name")))?;
        let sink = checks.sink(item.sink.get_ref(), at(&item.sink, "sink"))?;
        kv.push(KvSpec { name, mount, path, sink, field, interval, on_rotate });
    }
    for spec in &flags.kv {
        let flag = At::Flag(format!("--kv {spec}"));
        let (mount, path, sink) = parse_kv_flag(spec).map_err(|m| err(&flag, m))?;
        let spec = VaultSecretSpec { mount: mount.clone(), path: path.clone(), interval: None, grace: None };
        spec.validate().map_err(|e| refused(&e, &spec, &|_| None, &flag))?;
        let name = format!("{mount}/{path}");
        checks.name(&name, flag.clone())?;
        let sink = checks.sink(&sink, flag)?;
        kv.push(KvSpec { name, mount, path, sink, field: None, interval: kv_default_interval, on_rotate: Vec::new() });
    }

    let mut leases = Vec::new();
    for item in file.lease {
        let table = at(&item, "[[lease]]");
        let item = item.into_inner();
        let path = non_empty(&item.path, &at(&item.path, "path"))?;
        let grace = item.grace.as_ref().map(|g| g.get_ref().get());
        let spec = lease_options(&path, grace, None);
        spec.validate().map_err(|e| {
            let place = |key: &str| match key {
                "path" => Some(at(&item.path, "path")),
                "grace" => item.grace.as_ref().map(|g| at(g, "grace")),
                _ => None,
            };
            refused(&e, &spec, &place, &table)
        })?;
        let name = match &item.name {
            Some(n) => non_empty(n, &at(n, "name"))?,
            None => path.trim_matches('/').to_owned(),
        };
        let field = item.field.as_ref().map(|f| non_empty(f, &at(f, "field"))).transpose()?;
        let on_rotate = command(item.on_rotate.as_ref(), &at)?;
        checks.name(&name, item.name.as_ref().map_or(table.clone(), |n| at(n, "name")))?;
        let sink = checks.sink(item.sink.get_ref(), at(&item.sink, "sink"))?;
        if let Some(other) = leases.iter().find(|l: &&LeaseSpec| l.path == path && l.grace != grace) {
            return Err(err(
                &table,
                format!(
                    "lease path `{path}` is also read by `{}` with another `grace`: they share one lease, give them the same grace",
                    other.name
                ),
            ));
        }
        leases.push(LeaseSpec { name, path, sink, field, grace, on_rotate });
    }

    let mut file_tokens = Vec::new();
    for item in file.file_token {
        let item = item.into_inner();
        let name = non_empty(&item.name, &at(&item.name, "name"))?;
        let path_at = at(&item.path, "path");
        let spec = FileTokenOptions::new(path_text(item.path.get_ref()));
        spec.validate().map_err(|e| refused(&e, &spec, &|_| None, &path_at))?;
        checks.name(&name, at(&item.name, "name"))?;
        checks.input(item.path.get_ref(), path_at);
        let sink = item.sink.as_ref().map(|s| checks.sink(s.get_ref(), at(s, "sink"))).transpose()?;
        let on_rotate = command(item.on_rotate.as_ref(), &at)?;
        file_tokens.push(FileTokenSpec { name, path: item.path.into_inner(), sink, on_rotate });
    }

    let mut hmac = Vec::new();
    for item in file.hmac {
        let table = at(&item, "[[hmac]]");
        let item = item.into_inner();
        let mount = non_empty(&item.mount, &at(&item.mount, "mount"))?;
        let path = non_empty(&item.path, &at(&item.path, "path"))?;
        let field = non_empty(&item.field, &at(&item.field, "field"))?;
        let interval = item.interval.as_ref().map_or(kv_default_interval, |i| i.get_ref().get());
        let grace = item.grace.as_ref().map(|g| g.get_ref().get());
        let spec = HmacKeyringSpec {
            mount: Some(mount.clone()),
            path: Some(path.clone()),
            field: Some(field.clone()),
            interval: Some(Seconds(interval)),
            grace: grace.map(Seconds),
            ..HmacKeyringSpec::default()
        };
        spec.validate().map_err(|e| {
            let place = |key: &str| match key {
                "mount" => Some(at(&item.mount, "mount")),
                "path" => Some(at(&item.path, "path")),
                "field" => Some(at(&item.field, "field")),
                "interval" => item.interval.as_ref().map(|i| at(i, "interval")),
                "grace" => item.grace.as_ref().map(|g| at(g, "grace")),
                _ => None,
            };
            refused(&e, &spec, &place, &table)
        })?;
        let name = match &item.name {
            Some(n) => non_empty(n, &at(n, "name"))?,
            None => format!("{}/{}#{field}", mount.trim_matches('/'), path.trim_matches('/')),
        };
        let on_rotate = command(item.on_rotate.as_ref(), &at)?;
        checks.name(&name, item.name.as_ref().map_or(table, |n| at(n, "name")))?;
        let sink = checks.sink(item.sink.get_ref(), at(&item.sink, "sink"))?;
        hmac.push(HmacSpec { name, mount, path, field, sink, interval, grace, on_rotate });
    }

    if vault.is_none() {
        if let Some(first) = kv.first() {
            return Err(format!(
                "KV secret `{}` needs a Vault login: give --role and --jwt-file (and --vault-addr or VAULT_ADDR), \
                 or a [vault] table in --config",
                first.name
            )
            .into());
        }
        if let Some(first) = leases.first() {
            return Err(format!(
                "lease `{}` needs a Vault login: give --role and --jwt-file (and --vault-addr or VAULT_ADDR), \
                 or a [vault] table in --config",
                first.name
            )
            .into());
        }
        if let Some(first) = hmac.first() {
            return Err(format!(
                "HMAC keyring `{}` needs a Vault login: give --role and --jwt-file (and --vault-addr or VAULT_ADDR), \
                 or a [vault] table in --config",
                first.name
            )
            .into());
        }
    }
    if checks.sinks.is_empty() {
        return Err("nothing to write: give --token-sink PATH or --kv MOUNT/PATH=SINK, or sinks in --config FILE"
            .to_owned()
            .into());
    }
    checks.inputs_are_not_sinks()?;
    Ok(AgentConfig { vault, health_listen, kv, leases, file_tokens, hmac })
}

fn resolve_vault(
    flags: &Flags,
    table: Option<Spanned<FileVault>>,
    at: &dyn Fn(&dyn SpanOf, &str) -> At,
    checks: &mut Checks,
) -> Result<Option<VaultSpec>, ConfigError> {
    let any_flag = flags.vault_addr.is_some()
        || flags.role.is_some()
        || flags.jwt_file.is_some()
        || flags.auth_mount.is_some()
        || flags.namespace.is_some()
        || flags.ca_file.is_some()
        || flags.token_sink.is_some()
        || flags.revoke_on_exit
        || flags.dangerous_allow_http;
    let (table_at, file) = match table {
        Some(t) => (Some(at(&t, "[vault]")), t.into_inner()),
        None if any_flag || !flags.kv.is_empty() => (None, FileVault::default()),
        None => return Ok(None),
    };
    // "agent.toml line 1 ([vault]): `role` is missing" or, with flags only, "no Vault role".
    let missing = |key: &str, what: &str, flag: &str| match &table_at {
        Some(t) => format!("{t}: `{key}` is missing ({what}): add it, or give {flag}"),
        None => format!("no {what}: give {flag} (or `{key}` in the [vault] table of --config)"),
    };
    let role = flags
        .role
        .clone()
        .or(file.role)
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| missing("role", "Vault role to log in as", "--role ROLE"))?;
    let (jwt_file, jwt_at) = match (&flags.jwt_file, &file.jwt_file) {
        (Some(p), _) => (p.clone(), At::Flag("--jwt-file".into())),
        (None, Some(p)) => (p.get_ref().clone(), at(p, "jwt_file")),
        (None, None) => return Err(missing("jwt_file", "JWT file to log in with", "--jwt-file PATH").into()),
    };
    if jwt_file.as_os_str().is_empty() {
        return Err(err(&jwt_at, "the JWT file path must not be empty"));
    }
    // A flag wins over the file's key; either way, where the value came from,
    // so a refusal by the spec names its flag, variable or line.
    let chosen = |flag_value: &Option<String>, flag: &str, file_value: &Option<Spanned<String>>, key: &str| match (
        flag_value, file_value,
    ) {
        (Some(v), _) => Some((v.clone(), At::Flag(flag.to_owned()))),
        (None, Some(v)) => Some((v.get_ref().clone(), at(v, key))),
        (None, None) => None,
    };
    let (auth_mount, mount_at) = chosen(&flags.auth_mount, "--auth-mount", &file.auth_mount, "auth_mount")
        .unwrap_or_else(|| ("jwt".to_owned(), At::Flag("--auth-mount".into())));
    let addr = chosen(&flags.vault_addr, "--vault-addr", &file.addr, "addr").filter(|(a, _)| !a.trim().is_empty());
    let addr_at =
        addr.as_ref().map(|(_, at)| at.clone()).or_else(|| env_value(["VAULT_ADDR", "BAO_ADDR"]).map(|(_, at)| at));
    let namespace =
        chosen(&flags.namespace, "--namespace", &file.namespace, "namespace").filter(|(n, _)| !n.trim().is_empty());
    let namespace_at = namespace
        .as_ref()
        .map(|(_, at)| at.clone())
        .or_else(|| env_value(["VAULT_NAMESPACE", "BAO_NAMESPACE"]).map(|(_, at)| at));
    checks.input(&jwt_file, jwt_at.clone());
    let token_sink = match (&flags.token_sink, &file.token_sink) {
        (Some(p), _) => Some(checks.sink(p, At::Flag("--token-sink".into()))?),
        (None, Some(p)) => Some(checks.sink(p.get_ref(), at(p, "token_sink"))?),
        (None, None) => None,
    };
    let spec = VaultSpec {
        // What came from the environment stays there: the runtime reads it.
        addr: addr.map(|(a, _)| a),
        role: role.trim().to_owned(),
        auth_mount: auth_mount.trim().trim_matches('/').to_owned(),
        jwt_file,
        namespace: namespace.map(|(n, _)| n),
        ca_file: flags.ca_file.clone().or(file.ca_file),
        token_sink,
        revoke_on_exit: flags.revoke_on_exit || file.revoke_on_exit.unwrap_or(false),
        on_rotate: command(file.on_rotate.as_ref(), at)?,
        dangerous_allow_http: flags.dangerous_allow_http || file.dangerous_allow_http,
    };
    // Checked now as the runtime will check it at start, environment included
    // (with no address anywhere the runtime's start says so, naming the variables).
    let checked = spec.token_spec().with_env(|k| std::env::var(k).ok());
    let known_addr = checked.addr.as_deref().is_some_and(|a| !a.trim().is_empty());
    checked.validate().map(drop).or_else(|e| if known_addr { Err(e) } else { Ok(()) }).map_err(|e| {
        let place = |key: &str| match key {
            "addr" => addr_at.clone(),
            "namespace" => namespace_at.clone(),
            "auth_mount" => Some(mount_at.clone()),
            "jwt_file" => Some(jwt_at.clone()),
            _ => None,
        };
        refused(&e, &checked, &place, table_at.as_ref().unwrap_or(&At::Flag("--role".into())))
    })?;
    checks.name(&spec.name(), table_at.unwrap_or(At::Flag("--role".into())))?;
    Ok(Some(spec))
}

fn resolve_health(
    flags: &Flags,
    table: Option<FileHealth>,
    at: &dyn Fn(&dyn SpanOf, &str) -> At,
) -> Result<Option<SocketAddr>, ConfigError> {
    let (file_listen, file_any) = table.map_or((None, false), |t| (t.listen, t.dangerous_listen_any));
    let (text, where_) = match (&flags.health_listen, &file_listen) {
        (Some(l), _) => (l.clone(), At::Flag("--health-listen".into())),
        (None, Some(l)) => (l.get_ref().clone(), at(l, "listen")),
        (None, None) => return Ok(None),
    };
    let addr: SocketAddr = text.trim().parse().map_err(|_| {
        err(&where_, format!("`{text}` is not an IP address and port (write it like 127.0.0.1:8787 or [::1]:8787)"))
    })?;
    let allowed = addr.ip().is_loopback() || flags.dangerous_health_listen_any || file_any;
    if !allowed {
        return Err(err(
            &where_,
            format!(
                "{addr} is not a loopback address: /health and /metrics describe the credentials held; listen on \
                 127.0.0.1 or [::1], or give --dangerous-health-listen-any (`dangerous_listen_any = true` in [health]) \
                 if something else really protects that port"
            ),
        ));
    }
    Ok(Some(addr))
}

/// The first of `names` set in the environment, with where it came from.
fn env_value<const N: usize>(names: [&str; N]) -> Option<(String, At)> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, At::Flag(format!("the environment variable {n}"))))
    })
}

/// `secret/app/config=/run/cfg.json` -> (`secret`, `app/config`, `/run/cfg.json`).
fn parse_kv_flag(spec: &str) -> Result<(String, String, PathBuf), String> {
    const SHAPE: &str = "expected MOUNT/PATH=SINK, e.g. secret/app/config=/run/tokenkeep/app-config.json";
    let (secret, sink) = spec.split_once('=').ok_or_else(|| format!("no `=SINK` ({SHAPE})"))?;
    let (mount, path) = secret
        .trim()
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| format!("no `/` between mount and path ({SHAPE})"))?;
    let path = path.trim_matches('/');
    if mount.is_empty() || path.is_empty() {
        return Err(format!("empty mount or path ({SHAPE})"));
    }
    if sink.trim().is_empty() {
        return Err(format!("empty sink path ({SHAPE})"));
    }
    Ok((mount.to_owned(), path.to_owned(), PathBuf::from(sink.trim())))
}

fn non_empty(value: &Spanned<String>, at: &At) -> Result<String, ConfigError> {
    let v = value.get_ref().trim();
    if v.is_empty() {
        return Err(err(at, "must not be empty"));
    }
    Ok(v.to_owned())
}

/// An `on_rotate` argv: absent is none; present must name a program.
fn command(
    argv: Option<&Spanned<Vec<String>>>,
    at: &dyn Fn(&dyn SpanOf, &str) -> At,
) -> Result<Vec<String>, ConfigError> {
    let Some(argv) = argv else { return Ok(Vec::new()) };
    match argv.get_ref().first() {
        Some(program) if !program.trim().is_empty() => Ok(argv.get_ref().clone()),
        _ => Err(err(
            &at(argv, "on_rotate"),
            "must name a program: an argv array such as [\"/usr/local/bin/reload-app\", \"--config\"] (no shell)",
        )),
    }
}

/// Cross-entry checks: distinct names, distinct sinks, no sink over an input.
#[derive(Default)]
struct Checks {
    names: Vec<(String, At)>,
    /// (normalised, as written, where)
    sinks: Vec<(PathBuf, PathBuf, At)>,
    inputs: Vec<(PathBuf, PathBuf, At)>,
}

impl Checks {
    fn name(&mut self, name: &str, at: At) -> Result<(), ConfigError> {
        if let Some((_, first)) = self.names.iter().find(|(n, _)| n == name) {
            return Err(err(
                &at,
                format!("the source name `{name}` is already used by {first}; set `name` to tell them apart"),
            ));
        }
        self.names.push((name.to_owned(), at));
        Ok(())
    }

    fn sink(&mut self, path: &Path, at: At) -> Result<PathBuf, ConfigError> {
        if path.as_os_str().is_empty() {
            return Err(err(&at, "the sink path must not be empty"));
        }
        if path.file_name().is_none() || path.to_string_lossy().ends_with('/') {
            return Err(err(&at, format!("sink `{}` must name a file, not a directory", path.display())));
        }
        if path.is_dir() {
            return Err(err(&at, format!("sink `{}` is a directory", path.display())));
        }
        if let Some(kind) = super::sink::refused_kind(path) {
            return Err(err_code(
                "sink_not_a_regular_file",
                &at,
                format!(
                    "sink `{}` is {kind}: a sink must be a regular file or a path that does not exist yet \
                     (the agent replaces it on every write)",
                    path.display()
                ),
            ));
        }
        let normal = normalise(path);
        if let Some((_, _, first)) = self.sinks.iter().find(|(n, _, _)| *n == normal) {
            return Err(err(
                &at,
                format!("sink `{}` is also the sink of {first}: sinks must be distinct", path.display()),
            ));
        }
        self.sinks.push((normal, path.to_path_buf(), at));
        Ok(path.to_path_buf())
    }

    fn input(&mut self, path: &Path, at: At) {
        self.inputs.push((normalise(path), path.to_path_buf(), at));
    }

    /// A sink written over the JWT or a token file would feed the agent its own output.
    fn inputs_are_not_sinks(&self) -> Result<(), ConfigError> {
        for (normal, written, at) in &self.sinks {
            if let Some((_, _, input_at)) = self.inputs.iter().find(|(n, _, _)| n == normal) {
                return Err(err(
                    at,
                    format!(
                        "sink `{}` is the file read by {input_at}: a sink must not overwrite an input",
                        written.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An absolute, lexically cleaned path with the parent's symlinks resolved
/// when it exists, so `./a`, `dir/../a` and a symlinked directory compare equal.
fn normalise(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(real) => real.join(name),
            Err(_) => clean.clone(),
        },
        _ => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags::default()
    }

    const FULL: &str = r#"
[vault]
addr = "http://127.0.0.1:8200"
auth_mount = "jwt"
role = "app"
jwt_file = "/var/run/secrets/tokens/vault-jwt"
namespace = "team-a"
token_sink = "/run/tokenkeep/vault-token"
revoke_on_exit = true

[health]
listen = "127.0.0.1:8787"

[[kv]]
mount = "secret"
path = "app/config"
sink = "/run/tokenkeep/app-config.json"
interval = "60s"
on_rotate = ["/usr/local/bin/reload-app", "--config"]

[[kv]]
name = "db-password"
mount = "secret"
path = "app/config"
field = "password"
sink = "/run/tokenkeep/db-password"

[[lease]]
path = "database/creds/app"
sink = "/run/tokenkeep/db.json"
grace = "2m"
on_rotate = ["pkill", "-HUP", "app"]

[[file_token]]
name = "k8s"
path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
sink = "/run/tokenkeep/k8s-token"
"#;

    #[test]
    fn the_documented_file_loads() {
        let c = load_text(&flags(), "agent.toml", FULL).unwrap();
        let v = c.vault.as_ref().unwrap();
        assert_eq!(v.name(), "app@jwt");
        assert!(v.revoke_on_exit);
        assert_eq!(c.health_listen, Some("127.0.0.1:8787".parse().unwrap()));
        assert_eq!(c.kv.len(), 2);
        assert_eq!(c.kv[0].name, "secret/app/config");
        assert_eq!(c.kv[0].on_rotate, ["/usr/local/bin/reload-app", "--config"]);
        assert_eq!(c.kv[1].field.as_deref(), Some("password"));
        assert_eq!(c.kv[1].interval, DEFAULT_KV_INTERVAL);
        assert_eq!(c.leases[0].grace, Some(Duration::from_secs(120)));
        assert_eq!(c.leases[0].name, "database/creds/app");
        assert_eq!(c.file_tokens[0].sink.as_deref(), Some(Path::new("/run/tokenkeep/k8s-token")));
    }

    #[test]
    fn flags_override_the_vault_table_and_add_kv() {
        let f = Flags {
            role: Some("other".into()),
            vault_addr: Some("https://vault:8200".into()),
            kv: vec!["kv/team/db=/run/tokenkeep/team-db.json".into()],
            kv_interval: Some(Duration::from_secs(5)),
            health_listen: Some("[::1]:0".into()),
            ..flags()
        };
        let c = load_text(&f, "agent.toml", FULL).unwrap();
        let v = c.vault.unwrap();
        assert_eq!(v.role, "other");
        assert_eq!(v.addr.as_deref(), Some("https://vault:8200"));
        assert_eq!(v.namespace.as_deref(), Some("team-a"), "not overridden: kept");
        assert_eq!(c.health_listen, Some("[::1]:0".parse().unwrap()));
        let added = c.kv.last().unwrap();
        assert_eq!((added.mount.as_str(), added.path.as_str()), ("kv", "team/db"));
        assert_eq!(added.interval, Duration::from_secs(5));
        assert_eq!(c.kv[1].interval, Duration::from_secs(5), "--kv-interval is the default of the tables too");
        assert_eq!(c.kv[0].interval, Duration::from_secs(60), "a table's own interval wins");
    }

    #[test]
    fn flags_alone() {
        let f = Flags {
            role: Some("app".into()),
            jwt_file: Some("/jwt".into()),
            token_sink: Some("/run/t".into()),
            kv: vec!["secret/app/config=/run/cfg.json".into()],
            ..flags()
        };
        let c = load(&f).unwrap();
        let v = c.vault.unwrap();
        assert_eq!(v.auth_mount, "jwt");
        assert_eq!(v.addr, None, "left to VAULT_ADDR / BAO_ADDR");
        assert_eq!(c.kv[0].interval, DEFAULT_KV_INTERVAL);
        assert_eq!(c.health_listen, None);
    }

    fn fails(f: &Flags, text: &str) -> String {
        load_text(f, "agent.toml", text).expect_err("must be refused").message
    }

    #[test]
    fn mistakes_name_the_line_and_key() {
        let e = fails(&flags(), "[vault]\nrole = \"app\"\njwt_file = \"/j\"\nrol = \"x\"\n");
        assert!(e.contains("line 4") && e.contains("unknown field `rol`"), "{e}");

        let e = fails(&flags(), "[vault]\nrole = \"app\"\njwt_file = \"/j\"\n\n[health]\nlisten = \"0.0.0.0:8787\"\n");
        assert!(e.contains("line 6 (listen)") && e.contains("--dangerous-health-listen-any"), "{e}");
        let f = Flags { dangerous_health_listen_any: true, ..flags() };
        let ok =
            "[vault]\nrole = \"app\"\njwt_file = \"/j\"\ntoken_sink = \"/t\"\n[health]\nlisten = \"0.0.0.0:8787\"\n";
        assert!(load_text(&f, "agent.toml", ok).is_ok());

        let e = fails(
            &flags(),
            "[vault]\nrole = \"app\"\njwt_file = \"/j\"\ntoken_sink = \"/run/x\"\n\n[[kv]]\nmount = \"secret\"\npath = \"a\"\nsink = \"/run/./x\"\n",
        );
        assert!(e.contains("line 9 (sink)") && e.contains("line 4 (token_sink)") && e.contains("distinct"), "{e}");

        let e = fails(&flags(), "[[kv]]\nmount = \"secret\"\npath = \"a\"\nsink = \"/run/x\"\ninterval = \"10ms\"\n");
        assert!(e.contains("line 5 (interval)") && e.contains("1s..24h"), "{e}");

        let e = fails(&flags(), "[[kv]]\nmount = \"secret\"\npath = \"a\"\nsink = \"/run/x\"\ninterval = \"soon\"\n");
        assert!(e.contains("line 5") && e.contains("\"soon\" is not a duration"), "{e}");

        let e = fails(&flags(), "[[kv]]\nmount = \"secret\"\npath = \"a\"\nsink = \"/run/x\"\n");
        assert!(e.contains("needs a Vault login"), "{e}");

        let e = fails(&flags(), "[vault]\njwt_file = \"/j\"\ntoken_sink = \"/t\"\n");
        assert!(e.contains("line 1 ([vault])") && e.contains("`role` is missing") && e.contains("--role"), "{e}");

        let e = fails(&flags(), "[vault]\nrole = \"a\"\njwt_file = \"/j\"\ntoken_sink = \"/j\"\n");
        assert!(e.contains("must not overwrite an input"), "{e}");

        let e = fails(
            &flags(),
            "[vault]\nrole = \"a\"\njwt_file = \"/j\"\n[[kv]]\nmount = \"s\"\npath = \"a\"\nsink = \"/x\"\non_rotate = []\n",
        );
        assert!(e.contains("line 8 (on_rotate)") && e.contains("must name a program"), "{e}");

        let e = fails(
            &flags(),
            "[vault]\nrole = \"a\"\njwt_file = \"/j\"\n[[kv]]\nmount = \"s\"\npath = \"a\"\nsink = \"/x\"\n[[kv]]\nmount = \"s\"\npath = \"a\"\nsink = \"/y\"\n",
        );
        assert!(e.contains("`s/a` is already used") && e.contains("set `name`"), "{e}");

        let e = fails(&flags(), "[vault]\nrole = \"a\"\njwt_file = \"/j\"\n");
        assert!(e.contains("nothing to write"), "{e}");
    }

    /// Every rule on a value is the options spec's: its code and words, placed
    /// at the line or flag the value came from.
    #[test]
    fn the_spec_refuses_values_and_the_agent_places_them() {
        let base = "[vault]\nrole = \"a\"\njwt_file = \"/j\"\naddr = \"https://vault.example\"\n";
        let refused = |f: &Flags, text: &str| load_text(f, "agent.toml", text).expect_err("must be refused");
        for (table, code, line_key) in [
            ("[[kv]]\nmount = \"secret\"\npath = \"a/../b\"\nsink = \"/x\"\n", "invalid_vault_path", "line 7 (path)"),
            (
                "[[kv]]\nmount = \"secret\"\npath = \"a\"\nsink = \"/x\"\ninterval = \"25h\"\n",
                "out_of_range",
                "line 9 (interval)",
            ),
            (
                "[[lease]]\npath = \"database/creds/app\"\nsink = \"/x\"\ngrace = \"2d\"\n",
                "out_of_range",
                "line 8 (grace)",
            ),
            ("[[lease]]\npath = \"database/ creds\"\nsink = \"/x\"\n", "invalid_vault_path", "line 6 (path)"),
            (
                "[[hmac]]\nmount = \"s\"\npath = \"p\"\nfield = \"k\"\nsink = \"/x\"\ngrace = \"25h\"\n",
                "out_of_range",
                "line 10 (grace)",
            ),
            (
                "[[kv]]\nmount = \"secret\"\npath = \"a\"\nsink = \"/x\"\ninterval = \"0.5s\"\n",
                "out_of_range",
                "line 9 (interval)",
            ),
        ] {
            let e = refused(&flags(), &format!("{base}{table}"));
            assert_eq!(e.code, code, "{table}: {e}");
            assert!(e.message.contains(line_key), "{table}: {e}");
        }
        let e =
            refused(&flags(), "[vault]\nrole = \"a\"\njwt_file = \"/j\"\naddr = \"vault:8200\"\ntoken_sink = \"/t\"\n");
        assert_eq!(e.code, "invalid_url", "{e}");
        assert!(e.message.contains("line 4 (addr)") && e.message.contains("`vault:8200`"), "{e}");
        let f = Flags { kv_interval: Some(Duration::from_secs(2 * 86400)), ..flags() };
        let e = refused(&f, &format!("{base}token_sink = \"/t\"\n"));
        assert_eq!(e.code, "out_of_range", "{e}");
        assert!(e.message.starts_with("--kv-interval"), "{e}");
    }

    #[test]
    fn tables_of_one_lease_must_agree_on_grace() {
        let base = "[vault]\nrole = \"a\"\njwt_file = \"/j\"\n";
        let two = |grace_b: &str| {
            format!(
                "{base}[[lease]]\nname = \"user\"\npath = \"database/creds/app\"\nfield = \"username\"\nsink = \"/u\"\n\
                 grace = \"2m\"\n[[lease]]\nname = \"pass\"\npath = \"database/creds/app\"\nfield = \"password\"\n\
                 sink = \"/p\"\ngrace = \"{grace_b}\"\n"
            )
        };
        let c = load_text(&flags(), "agent.toml", &two("2m")).unwrap();
        assert_eq!(c.leases.len(), 2);
        let e = fails(&flags(), &two("5m"));
        assert!(e.contains("line 10 ([[lease]])") && e.contains("same grace"), "{e}");
    }

    #[test]
    fn kv_flag_shapes() {
        assert_eq!(
            parse_kv_flag("secret/app/config=/run/cfg.json").unwrap(),
            ("secret".into(), "app/config".into(), PathBuf::from("/run/cfg.json"))
        );
        for bad in ["secret/app/config", "secret=/x", "/app=/x", "secret/=/x", "secret/a="] {
            assert!(parse_kv_flag(bad).is_err(), "{bad}");
        }
        let f = Flags { role: Some("a".into()), jwt_file: Some("/j".into()), kv: vec!["nope".into()], ..flags() };
        let e = load(&f).unwrap_err().message;
        assert!(e.starts_with("--kv nope: ") && e.contains("MOUNT/PATH=SINK"), "{e}");
    }

    /// The first ```toml block after the line `start`, up to its closing fence.
    fn toml_block<'t>(text: &'t str, start: &str) -> &'t str {
        let at = text.find(start).unwrap_or_else(|| panic!("`{start}` not found"));
        let rest = &text[at..];
        let open = rest.find("```toml\n").expect("a ```toml block") + "```toml\n".len();
        let close = rest[open..].find("```").expect("the block's closing fence");
        &rest[open..open + close]
    }

    /// The README's example is the agent's configuration as the code reads
    /// it: parsed and validated in full (the validation reads the file system
    /// only to refuse a sink that is an existing directory, which none of its
    /// `/run/tokenkeep/...` paths are, and to resolve symlinked parents).
    #[test]
    fn the_readme_example_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let section_at = readme.find("### `tokenkeep agent`").expect("the README's agent section");
        let section_len = readme[section_at + 1..].find("\n## ").map_or(readme.len() - section_at, |n| n + 1);
        let section = &readme[section_at..section_at + section_len];
        let text = toml_block(section, "### `tokenkeep agent`");
        let c = load_text(&flags(), "README.md", text).unwrap_or_else(|e| panic!("the README's example: {e}"));
        assert!(c.vault.is_some() && c.health_listen.is_some());
        assert!(!c.kv.is_empty() && !c.leases.is_empty() && !c.file_tokens.is_empty() && !c.hmac.is_empty(), "{c:?}");
        let h = &c.hmac[0];
        assert_eq!((h.field.as_str(), h.grace), ("key", Some(Duration::from_secs(600))));
        let min = tokenkeep_core::hmac_keyring::MIN_SECRET_BYTES;
        assert!(section.contains(&format!("at least {min} bytes")), "the README states the core's minimum");
    }

    /// The same for the example in this module's documentation.
    #[test]
    fn the_module_doc_example_loads() {
        let source = include_str!("config.rs");
        let doc: String = source
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").strip_prefix(' ').unwrap_or("")))
            .collect();
        let text = toml_block(&doc, "The file");
        let c = load_text(&flags(), "config.rs", text).unwrap_or_else(|e| panic!("the module doc's example: {e}"));
        assert!(!c.kv.is_empty() && !c.leases.is_empty() && !c.file_tokens.is_empty() && !c.hmac.is_empty(), "{c:?}");
    }

    #[test]
    fn hmac_tables() {
        let base = "[vault]\nrole = \"a\"\njwt_file = \"/j\"\n";
        let c = load_text(
            &flags(),
            "agent.toml",
            &format!("{base}[[hmac]]\nmount = \"secret\"\npath = \"app/hmac\"\nfield = \"key\"\nsink = \"/h.json\"\n"),
        )
        .unwrap();
        let h = &c.hmac[0];
        assert_eq!(h.name, "secret/app/hmac#key");
        assert_eq!(h.grace, None, "the keyring's default");
        assert_eq!(h.interval, DEFAULT_KV_INTERVAL);
        assert!(h.on_rotate.is_empty());

        let one = "[[hmac]]\nmount = \"secret\"\npath = \"app/hmac\"\nfield = \"key\"\nsink = \"/h.json\"\n";
        let e = fails(&flags(), one);
        assert!(e.contains("HMAC keyring `secret/app/hmac#key` needs a Vault login"), "{e}");
        let e = fails(&flags(), &format!("{base}{one}grace = \"25h\"\n"));
        assert!(e.contains("line 9 (grace)") && e.contains("24 h"), "{e}");
        let e = fails(&flags(), &format!("{base}{one}interval = \"1ms\"\n"));
        assert!(e.contains("line 9 (interval)") && e.contains("1s..24h"), "{e}");
        let e = fails(&flags(), &format!("{base}[[hmac]]\nmount = \"secret\"\npath = \"app/hmac\"\nsink = \"/h\"\n"));
        assert!(e.contains("missing field `field`"), "{e}");
        let e = fails(&flags(), &format!("{base}{one}secret = \"no\"\n"));
        assert!(e.contains("unknown field `secret`"), "{e}");
        let e = fails(&flags(), &format!("{base}token_sink = \"/h.json\"\n{one}"));
        assert!(e.contains("line 9 (sink)") && e.contains("line 4 (token_sink)"), "{e}");
        let e = fails(&flags(), &format!("{base}{one}{one}"));
        assert!(e.contains("`secret/app/hmac#key` is already used"), "{e}");
    }

    #[test]
    fn sinks_compare_after_normalisation() {
        assert_eq!(normalise(Path::new("/run/a/../b/./c")), normalise(Path::new("/run/b/c")));
    }
}
