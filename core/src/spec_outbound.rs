//! The options spec of the outbound credentials (re-exported by
//! [`crate::spec`]): a Vault token, KV v2 secrets and leases read with it, a
//! token file, an HMAC keyring. The same conventions as the verifier's
//! (snake_case with camelCase aliases, unknown fields refused, durations as
//! seconds or `"90s"`), and one validation pass per source that turns a spec
//! into the core's configuration (a plan) and names the field at fault.
//!
//! Every bound lives here, once: poll intervals 1 s–24 h, grace windows at
//! most 24 h, request budgets 100 ms–2 min. The environment Vault users have
//! (`VAULT_ADDR` / `BAO_ADDR`, `VAULT_NAMESPACE` / `BAO_NAMESPACE`,
//! `VAULT_CACERT` / `BAO_CACERT`) is applied by [`VaultTokenSpec::with_env`],
//! a pure function of a lookup; explicit options win.
//!
//! ```
//! use tokenkeep_core::spec::{VaultSecretSpec, VaultTokenSpec};
//! let token: VaultTokenSpec = tokenkeep_core::spec::from_json(r#"{"role": "app", "jwtFile": "/run/jwt"}"#).unwrap();
//! let env = |k: &str| (k == "BAO_ADDR").then(|| "https://bao.example:8200".to_owned());
//! let plan = token.with_env(env).validate().unwrap();
//! assert_eq!(plan.vault.address(), "https://bao.example:8200");
//!
//! let secret: VaultSecretSpec =
//!     tokenkeep_core::spec::from_json(r#"{"mount": "secret", "path": "app/db", "interval": "10ms"}"#).unwrap();
//! let err = secret.validate().unwrap_err();
//! assert_eq!(err.to_string(), "interval: must be within 1s..24h");
//! ```

use crate::credential::CredentialConfig;
use crate::hmac_keyring::HmacKeyringConfig;
use crate::spec::{Seconds, SpecError, SpecErrorCode};
use crate::token_file::TokenFileConfig;
use crate::vault::{VaultConfig, VaultPath};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Shortest poll interval accepted: below it a poller hammers the server.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Longest poll interval accepted: above it a rotation waits more than a day.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Longest grace window accepted: a replaced credential kept longer than a
/// day is a credential nobody revoked.
pub const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Poll interval of a KV v2 secret when the spec gives none.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// Mount of the JWT auth method when the spec gives none.
pub const DEFAULT_AUTH_MOUNT: &str = "jwt";

fn at(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") }
}

/// A KV poll interval checked as every spec checks its `interval`, for a
/// host option that sets one for several sources (the agent's `--kv-interval`).
pub fn check_poll_interval(d: Duration) -> Result<Duration, SpecError> {
    interval(Some(Seconds(d)), "interval").map(|_| d)
}

fn interval(v: Option<Seconds>, field: &str) -> Result<Option<Duration>, SpecError> {
    match v {
        Some(Seconds(d)) if !(MIN_POLL_INTERVAL..=MAX_POLL_INTERVAL).contains(&d) => {
            Err(SpecError::new(field, SpecErrorCode::OutOfRange, "must be within 1s..24h"))
        }
        other => Ok(other.map(Seconds::get)),
    }
}

fn grace(v: Option<Seconds>, field: &str) -> Result<Option<Duration>, SpecError> {
    match v {
        Some(Seconds(d)) if d > MAX_GRACE => {
            Err(SpecError::new(field, SpecErrorCode::OutOfRange, "must be at most 24 h"))
        }
        other => Ok(other.map(Seconds::get)),
    }
}

fn ranged(
    v: Option<Seconds>,
    field: &str,
    lo: Duration,
    hi: Duration,
    says: &str,
) -> Result<Option<Duration>, SpecError> {
    match v {
        Some(Seconds(d)) if d < lo || d > hi => Err(SpecError::new(field, SpecErrorCode::OutOfRange, says)),
        other => Ok(other.map(Seconds::get)),
    }
}

fn non_empty(v: &str, field: &str) -> Result<(), SpecError> {
    if v.trim().is_empty() {
        Err(SpecError::new(field, SpecErrorCode::EmptyValue, "must not be empty"))
    } else {
        Ok(())
    }
}

fn vault_path(v: &str, field: &str) -> Result<VaultPath, SpecError> {
    non_empty(v, field)?;
    VaultPath::new(v).map_err(|_| {
        SpecError::new(
            field,
            SpecErrorCode::InvalidVaultPath,
            "must be segments of A-Za-z0-9-_.~@+=:, separated by `/` (none empty, `.` or `..`)",
        )
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------------------
// Vault token
// ---------------------------------------------------------------------------

/// Options of a Vault/OpenBao token obtained by JWT login (`auth/<mount>/login`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VaultTokenSpec {
    /// `http(s)://host:port` of the server (else `VAULT_ADDR`, then `BAO_ADDR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Vault Enterprise / OpenBao namespace (else `VAULT_NAMESPACE`, then `BAO_NAMESPACE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Trust only the CA certificates in this PEM file (else `VAULT_CACERT`, then `BAO_CACERT`).
    #[serde(default, alias = "caFile", skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Mount of the JWT auth method (`jwt`).
    #[serde(default, alias = "authMount", skip_serializing_if = "Option::is_none")]
    pub auth_mount: Option<String>,
    /// The role to log in as.
    pub role: String,
    /// The file holding the JWT (a projected service-account token, a
    /// JWT-SVID), read anew before every login. Absent when the JWT comes
    /// from a token-file handle or a provider given in code.
    #[serde(default, alias = "jwtFile", skip_serializing_if = "Option::is_none")]
    pub jwt_file: Option<String>,
    /// Revoke the token (`revoke-self`) when the handle is closed.
    #[serde(default, alias = "revokeOnClose", skip_serializing_if = "is_false")]
    pub revoke_on_close: bool,
    /// Budget of one request to the server (10 s).
    #[serde(default, alias = "requestTimeout", skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Seconds>,
    /// Longest wait between two attempts while Vault fails (5 min), 1 s–1 h.
    /// Backoff grows to it from 1 s; shorter means a faster return after an
    /// outage and more requests during one.
    #[serde(default, alias = "maxBackoff", skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<Seconds>,
    /// Allow a plain `http://` address on a host other than loopback. A JWT
    /// and a Vault token cross that connection in the clear: test clusters only.
    #[serde(default, alias = "dangerousAllowHttp", skip_serializing_if = "is_false")]
    pub dangerous_allow_http: bool,
}

/// A validated [`VaultTokenSpec`].
#[derive(Clone, Debug)]
pub struct VaultTokenPlan {
    /// Where Vault is (address, namespace, request budget).
    pub vault: VaultConfig,
    /// The JWT auth mount.
    pub mount: VaultPath,
    /// The role.
    pub role: String,
    /// The JWT file, when the JWT comes from one.
    pub jwt_file: Option<String>,
    /// The CA file for the server's certificate (the host reads it).
    pub ca_file: Option<String>,
    /// Revoke on close.
    pub revoke_on_close: bool,
    /// Refresh tuning.
    pub credential: CredentialConfig,
    /// Plain http to a non-loopback address was allowed.
    pub dangerous_allow_http: bool,
}

impl VaultTokenPlan {
    /// `role@mount`, as logs, metrics and health name the token.
    pub fn name(&self) -> String {
        format!("{}@{}", self.role, self.mount)
    }
}

impl VaultTokenSpec {
    /// A spec for `role` with everything else unset.
    pub fn new(role: impl Into<String>) -> VaultTokenSpec {
        VaultTokenSpec { role: role.into(), ..VaultTokenSpec::default() }
    }

    /// Fills the fields left unset from the environment Vault users have:
    /// `VAULT_ADDR` / `BAO_ADDR`, `VAULT_NAMESPACE` / `BAO_NAMESPACE`,
    /// `VAULT_CACERT` / `BAO_CACERT` (the `VAULT_` name first; blank values
    /// count as unset). `get` looks a variable up (`std::env::var(k).ok()`).
    #[must_use]
    pub fn with_env(mut self, get: impl Fn(&str) -> Option<String>) -> VaultTokenSpec {
        let first = |a: &str, b: &str| {
            get(a).filter(|v| !v.trim().is_empty()).or_else(|| get(b)).filter(|v| !v.trim().is_empty())
        };
        if self.addr.is_none() {
            self.addr = first("VAULT_ADDR", "BAO_ADDR");
        }
        if self.namespace.is_none() {
            self.namespace = first("VAULT_NAMESPACE", "BAO_NAMESPACE");
        }
        if self.ca_file.is_none() {
            self.ca_file = first("VAULT_CACERT", "BAO_CACERT");
        }
        self
    }

    /// Checks everything; the JWT comes from `jwt_file`, which is required.
    pub fn validate(&self) -> Result<VaultTokenPlan, SpecError> {
        let plan = self.plan()?;
        match &plan.jwt_file {
            Some(_) => Ok(plan),
            None => Err(SpecError::new(
                "jwt_file",
                SpecErrorCode::MissingField,
                "is required: the file holding the JWT to log in with",
            )),
        }
    }

    /// Checks everything for a token whose JWT comes from elsewhere (a
    /// token-file handle, a provider): `jwt_file` must then be absent.
    pub fn validate_with_jwt_source(&self) -> Result<VaultTokenPlan, SpecError> {
        if self.jwt_file.is_some() {
            return Err(SpecError::new(
                "jwt_file",
                SpecErrorCode::Conflict,
                "the JWT comes from the source given with it; give either that or jwt_file",
            ));
        }
        self.plan()
    }

    fn plan(&self) -> Result<VaultTokenPlan, SpecError> {
        let addr = self.addr.as_deref().filter(|a| !a.trim().is_empty()).ok_or_else(|| {
            SpecError::new(
                "addr",
                SpecErrorCode::MissingAddress,
                "no Vault address: set addr, or VAULT_ADDR / BAO_ADDR",
            )
        })?;
        let mut vault = VaultConfig::new(addr)
            .map_err(|_| SpecError::new("addr", SpecErrorCode::InvalidUrl, "must be an http(s)://host[:port] URL"))?;
        if crate::jwks::check_url(addr, self.dangerous_allow_http).is_err() {
            return Err(SpecError::new(
                "addr",
                SpecErrorCode::InsecureUrl,
                "plain http to a host other than loopback: use https (or dangerous_allow_http on a test cluster)",
            ));
        }
        if let Some(ns) = &self.namespace {
            vault_path(ns, "namespace")?;
            vault = vault
                .with_namespace(ns)
                .map_err(|_| SpecError::new("namespace", SpecErrorCode::InvalidVaultPath, "not usable"))?;
        }
        if let Some(t) = ranged(
            self.request_timeout,
            "request_timeout",
            Duration::from_millis(100),
            Duration::from_secs(120),
            "must be between 100 ms and 2 min",
        )? {
            vault.request_timeout = t;
        }
        let mount = vault_path(self.auth_mount.as_deref().unwrap_or(DEFAULT_AUTH_MOUNT), "auth_mount")?;
        non_empty(&self.role, "role")?;
        if let Some(f) = &self.jwt_file {
            non_empty(f, "jwt_file")?;
        }
        if let Some(f) = &self.ca_file {
            non_empty(f, "ca_file")?;
        }
        let mut credential = CredentialConfig::expiring();
        if let Some(cap) = ranged(
            self.max_backoff,
            "max_backoff",
            Duration::from_secs(1),
            Duration::from_secs(3600),
            "must be between 1 s and 1 h",
        )? {
            credential.backoff.cap = cap;
        }
        Ok(VaultTokenPlan {
            vault,
            mount,
            role: self.role.clone(),
            jwt_file: self.jwt_file.clone(),
            ca_file: self.ca_file.clone(),
            revoke_on_close: self.revoke_on_close,
            credential,
            dangerous_allow_http: self.dangerous_allow_http,
        })
    }
}

// ---------------------------------------------------------------------------
// KV v2 secret
// ---------------------------------------------------------------------------

/// Options of a KV v2 secret polled with a Vault token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VaultSecretSpec {
    /// The KV v2 mount (`secret`).
    pub mount: String,
    /// The path below the mount (`app/config` reads `<mount>/data/app/config`).
    pub path: String,
    /// Poll period (60 s, jittered ±10 %), 1 s–24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Seconds>,
    /// How long the replaced version stays available (2 × the interval), at most 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Seconds>,
}

/// A validated [`VaultSecretSpec`].
#[derive(Clone, Debug)]
pub struct VaultSecretPlan {
    /// The mount.
    pub mount: VaultPath,
    /// The path.
    pub path: VaultPath,
    /// Refresh tuning (poll interval and grace in it).
    pub credential: CredentialConfig,
}

impl VaultSecretPlan {
    /// `<mount>/<path>`, as logs, metrics and health name the secret.
    pub fn name(&self) -> String {
        format!("{}/{}", self.mount, self.path)
    }
}

impl VaultSecretSpec {
    /// `<mount>/data/<path>` with the defaults.
    pub fn new(mount: impl Into<String>, path: impl Into<String>) -> VaultSecretSpec {
        VaultSecretSpec { mount: mount.into(), path: path.into(), ..VaultSecretSpec::default() }
    }

    /// Checks everything.
    pub fn validate(&self) -> Result<VaultSecretPlan, SpecError> {
        self.validate_at("")
    }

    fn validate_at(&self, prefix: &str) -> Result<VaultSecretPlan, SpecError> {
        let mount = vault_path(&self.mount, &at(prefix, "mount"))?;
        let path = vault_path(&self.path, &at(prefix, "path"))?;
        let every = interval(self.interval, &at(prefix, "interval"))?.unwrap_or(DEFAULT_POLL_INTERVAL);
        let mut credential = CredentialConfig::polled(every);
        credential.grace = grace(self.grace, &at(prefix, "grace"))?;
        Ok(VaultSecretPlan { mount, path, credential })
    }
}

// ---------------------------------------------------------------------------
// Lease
// ---------------------------------------------------------------------------

/// Options of a leased (dynamic) secret such as `database/creds/<role>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VaultLeaseSpec {
    /// The path read for a new credential (`database/creds/app`).
    pub path: String,
    /// How long a replaced credential stays available before its lease is
    /// revoked (2 min), at most 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Seconds>,
    /// Revoke the leases held when the handle is closed (default true).
    #[serde(default, alias = "revokeOnClose", skip_serializing_if = "Option::is_none")]
    pub revoke_on_close: Option<bool>,
}

/// A validated [`VaultLeaseSpec`].
#[derive(Clone, Debug)]
pub struct VaultLeasePlan {
    /// The path read.
    pub path: VaultPath,
    /// Refresh tuning (grace in it).
    pub credential: CredentialConfig,
    /// Revoke on close.
    pub revoke_on_close: bool,
}

impl VaultLeaseSpec {
    /// `path` with the defaults.
    pub fn new(path: impl Into<String>) -> VaultLeaseSpec {
        VaultLeaseSpec { path: path.into(), ..VaultLeaseSpec::default() }
    }

    /// Checks everything.
    pub fn validate(&self) -> Result<VaultLeasePlan, SpecError> {
        let path = vault_path(&self.path, "path")?;
        let mut credential = CredentialConfig::expiring();
        credential.grace = grace(self.grace, "grace")?;
        Ok(VaultLeasePlan { path, credential, revoke_on_close: self.revoke_on_close.unwrap_or(true) })
    }
}

// ---------------------------------------------------------------------------
// Token file
// ---------------------------------------------------------------------------

/// Options of a rotating token file (a projected service-account token, a
/// JWT-SVID written by spiffe-helper).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FileTokenSpec {
    /// The file (symlinks followed, as Kubernetes mounts them).
    pub path: String,
    /// How often the file's and its directory's metadata are compared (1 s),
    /// 100 ms–1 h: a rename, a `..data` swap or an in-place rewrite triggers a read.
    #[serde(default, alias = "changePoll", skip_serializing_if = "Option::is_none")]
    pub change_poll: Option<Seconds>,
}

/// A validated [`FileTokenSpec`].
#[derive(Clone, Debug)]
pub struct FileTokenPlan {
    /// The file.
    pub path: String,
    /// Metadata comparison period.
    pub change_poll: Duration,
    /// When to re-read regardless.
    pub machine: TokenFileConfig,
}

const DEFAULT_CHANGE_POLL: Duration = Duration::from_secs(1);

fn change_poll(v: Option<Seconds>, field: &str) -> Result<Duration, SpecError> {
    Ok(ranged(v, field, Duration::from_millis(100), Duration::from_secs(3600), "must be between 100 ms and 1 h")?
        .unwrap_or(DEFAULT_CHANGE_POLL))
}

impl FileTokenSpec {
    /// `path` with the defaults.
    pub fn new(path: impl Into<String>) -> FileTokenSpec {
        FileTokenSpec { path: path.into(), change_poll: None }
    }

    /// Checks everything.
    pub fn validate(&self) -> Result<FileTokenPlan, SpecError> {
        non_empty(&self.path, "path")?;
        Ok(FileTokenPlan {
            path: self.path.clone(),
            change_poll: change_poll(self.change_poll, "change_poll")?,
            machine: TokenFileConfig::default(),
        })
    }
}

// ---------------------------------------------------------------------------
// HMAC keyring
// ---------------------------------------------------------------------------

/// Options of an HMAC request-signing keyring whose secret rotates: a string
/// field of a KV v2 secret (`mount`, `path`, `field`; the KV version is the
/// key version), or a file (`file`; the version counts its changes).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HmacKeyringSpec {
    /// KV v2 mount of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// Path of the secret below the mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The string member of the KV data holding the HMAC secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Poll period of the KV secret (60 s), 1 s–24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Seconds>,
    /// A file holding the secret instead (its bytes, less one line ending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// For `file`: how often its metadata are compared (1 s), 100 ms–1 h.
    #[serde(default, alias = "changePoll", skip_serializing_if = "Option::is_none")]
    pub change_poll: Option<Seconds>,
    /// How long the previous secret still verifies after a rotation (2 min), at most 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<Seconds>,
    /// Oldest signature timestamp accepted (5 min), 1 s–24 h.
    #[serde(default, alias = "maxAge", skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Seconds>,
    /// Furthest-future signature timestamp accepted (30 s), at most 1 h.
    #[serde(default, alias = "maxFuture", skip_serializing_if = "Option::is_none")]
    pub max_future: Option<Seconds>,
}

/// Where a validated keyring takes its secret from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HmacSourcePlan {
    /// A field of a KV v2 secret.
    Vault {
        /// The secret.
        secret: Box<VaultSecretPlan>,
        /// The field.
        field: String,
    },
    /// A file.
    File {
        /// The file.
        path: String,
        /// Metadata comparison period.
        change_poll: Duration,
    },
}

/// A validated [`HmacKeyringSpec`].
#[derive(Clone, Debug)]
pub struct HmacKeyringPlan {
    /// Where the secret comes from.
    pub source: HmacSourcePlan,
    /// Grace and timestamp windows.
    pub keyring: HmacKeyringConfig,
}

impl HmacKeyringPlan {
    /// `<mount>/<path>#<field>` or the file, as logs, metrics and health name the keyring.
    pub fn name(&self) -> String {
        match &self.source {
            HmacSourcePlan::Vault { secret, field } => format!("{}#{field}", secret.name()),
            HmacSourcePlan::File { path, .. } => path.clone(),
        }
    }
}

impl HmacKeyringSpec {
    /// A keyring on field `field` of the KV secret `<mount>/<path>`.
    pub fn vault(mount: impl Into<String>, path: impl Into<String>, field: impl Into<String>) -> HmacKeyringSpec {
        HmacKeyringSpec {
            mount: Some(mount.into()),
            path: Some(path.into()),
            field: Some(field.into()),
            ..HmacKeyringSpec::default()
        }
    }

    /// A keyring on the file at `path`.
    pub fn file(path: impl Into<String>) -> HmacKeyringSpec {
        HmacKeyringSpec { file: Some(path.into()), ..HmacKeyringSpec::default() }
    }

    /// Checks everything.
    pub fn validate(&self) -> Result<HmacKeyringPlan, SpecError> {
        let defaults = HmacKeyringConfig::default();
        let keyring = HmacKeyringConfig {
            grace: grace(self.grace, "grace")?.unwrap_or(defaults.grace),
            max_age: ranged(
                self.max_age,
                "max_age",
                Duration::from_secs(1),
                MAX_POLL_INTERVAL,
                "must be within 1s..24h",
            )?
            .unwrap_or(defaults.max_age),
            max_future: ranged(
                self.max_future,
                "max_future",
                Duration::ZERO,
                Duration::from_secs(3600),
                "must be at most 1 h",
            )?
            .unwrap_or(defaults.max_future),
        };
        let source = match &self.file {
            Some(file) => {
                for (field, given) in [
                    ("mount", self.mount.is_some()),
                    ("path", self.path.is_some()),
                    ("field", self.field.is_some()),
                    ("interval", self.interval.is_some()),
                ] {
                    if given {
                        return Err(SpecError::new(
                            field,
                            SpecErrorCode::Conflict,
                            "belongs to a KV source; give either `file` or mount, path and field",
                        ));
                    }
                }
                non_empty(file, "file")?;
                HmacSourcePlan::File { path: file.clone(), change_poll: change_poll(self.change_poll, "change_poll")? }
            }
            None => {
                if self.change_poll.is_some() {
                    return Err(SpecError::new(
                        "change_poll",
                        SpecErrorCode::Conflict,
                        "belongs to a file source (`file`)",
                    ));
                }
                let required = |v: &Option<String>, field: &str, what: &str| -> Result<String, SpecError> {
                    let v = v.as_ref().ok_or_else(|| {
                        SpecError::new(
                            field,
                            SpecErrorCode::MissingField,
                            format!("is required: {what} (or give `file`)"),
                        )
                    })?;
                    non_empty(v, field)?;
                    Ok(v.clone())
                };
                let field = required(&self.field, "field", "the KV field holding the secret")?;
                let secret = VaultSecretSpec {
                    mount: required(&self.mount, "mount", "the KV v2 mount")?,
                    path: required(&self.path, "path", "the secret's path")?,
                    interval: self.interval,
                    grace: None,
                }
                .validate()?;
                HmacSourcePlan::Vault { secret: Box::new(secret), field }
            }
        };
        Ok(HmacKeyringPlan { source, keyring })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::from_json;

    #[test]
    fn environment_fills_only_what_is_unset() {
        let env = |k: &str| match k {
            "VAULT_ADDR" => Some("  ".to_owned()),
            "BAO_ADDR" => Some("http://127.0.0.1:8200".to_owned()),
            "VAULT_NAMESPACE" => Some("team-a".to_owned()),
            "BAO_CACERT" => Some("/etc/ca.pem".to_owned()),
            _ => None,
        };
        let s = VaultTokenSpec::new("app").with_env(env);
        assert_eq!(s.addr.as_deref(), Some("http://127.0.0.1:8200"), "a blank VAULT_ADDR counts as unset");
        assert_eq!(s.namespace.as_deref(), Some("team-a"));
        assert_eq!(s.ca_file.as_deref(), Some("/etc/ca.pem"));
        let explicit = VaultTokenSpec {
            addr: Some("https://vault:8200".into()),
            namespace: Some("mine".into()),
            ..VaultTokenSpec::new("app")
        }
        .with_env(env);
        assert_eq!(explicit.addr.as_deref(), Some("https://vault:8200"));
        assert_eq!(explicit.namespace.as_deref(), Some("mine"));
    }

    #[test]
    fn plans() {
        let t: VaultTokenSpec = from_json(
            r#"{"addr": "https://vault.example:8200/", "role": "app", "jwtFile": "/jwt", "authMount": "k8s/",
                "namespace": "team-a", "revokeOnClose": true, "requestTimeout": "3s"}"#,
        )
        .unwrap();
        let p = t.validate().unwrap();
        assert_eq!(
            (p.vault.address(), p.vault.namespace(), p.mount.as_str()),
            ("https://vault.example:8200", Some("team-a"), "k8s")
        );
        assert_eq!(
            (p.name(), p.revoke_on_close, p.vault.request_timeout),
            ("app@k8s".to_owned(), true, Duration::from_secs(3))
        );
        let s = VaultSecretSpec {
            interval: Some(Seconds(Duration::from_secs(5))),
            ..VaultSecretSpec::new("secret", "/app/db/")
        };
        let p = s.validate().unwrap();
        assert_eq!(
            (p.name(), p.credential.poll_interval, p.credential.grace_window()),
            ("secret/app/db".to_owned(), Some(Duration::from_secs(5)), Duration::from_secs(10))
        );
        let l = VaultLeaseSpec::new("database/creds/app").validate().unwrap();
        assert!(l.revoke_on_close);
        let h: HmacKeyringSpec =
            from_json(r#"{"mount": "secret", "path": "app/hmac", "field": "key", "grace": "10m"}"#).unwrap();
        let p = h.validate().unwrap();
        assert_eq!((p.name(), p.keyring.grace), ("secret/app/hmac#key".to_owned(), Duration::from_secs(600)));
        let f = HmacKeyringSpec::file("/run/hmac").validate().unwrap();
        assert!(matches!(f.source, HmacSourcePlan::File { change_poll, .. } if change_poll == Duration::from_secs(1)));
    }

    /// The shared refused documents (tests/vectors/bad_outbound_options.json),
    /// each through its kind's validation, in an empty environment.
    #[test]
    fn bad_documents_name_the_field_and_code() {
        let text = include_str!("../../tests/vectors/bad_outbound_options.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() >= 30);
        fn check<T: for<'de> Deserialize<'de>>(
            options: &serde_json::Value,
            validate: impl Fn(T) -> Result<(), SpecError>,
        ) -> Result<(), SpecError> {
            crate::spec::from_value::<T>(options.clone()).and_then(validate)
        }
        for case in cases {
            let options = &case["options"];
            let result = match case["kind"].as_str().unwrap() {
                "vault_token" => check(options, |s: VaultTokenSpec| s.with_env(|_| None).validate().map(|_| ())),
                "vault_secret" => check(options, |s: VaultSecretSpec| s.validate().map(|_| ())),
                "vault_lease" => check(options, |s: VaultLeaseSpec| s.validate().map(|_| ())),
                "file_token" => check(options, |s: FileTokenSpec| s.validate().map(|_| ())),
                "hmac_keyring" => check(options, |s: HmacKeyringSpec| s.validate().map(|_| ())),
                other => panic!("unknown kind {other}"),
            };
            let e = result.expect_err(case["name"].as_str().unwrap());
            assert_eq!(
                (e.path(), e.code().as_str()),
                (case["path"].as_str().unwrap(), case["code"].as_str().unwrap()),
                "{}: {e}",
                case["name"]
            );
        }
    }
}
