//! Outbound credentials: tokens and secrets tokenkeep keeps fresh for the
//! calls a service makes (to Vault/OpenBao, to a database, to an API).
//!
//! Every handle has the [`Verifier`](crate::Verifier)'s shape, and the
//! [`Credential`] trait says it once for code that holds several kinds:
//! start from its options spec ([`crate::spec`]) from any thread (inside a
//! tokio runtime it runs there, else on [`crate::Runtime::global`], and a
//! forked child resumes it on a fresh runtime); `current()` is one atomic
//! load and never returns a value past its expiry; `ready` (async, any
//! executor) and `ready_blocking` wait for a first value; `health()` is an
//! owned snapshot; `rotations()` counts new values (wait on it from a thread
//! or any executor, or register a callback); `events()` delivers every
//! `credential_*` event as plain data; `refresh()` asks for a refresh now;
//! `report_unauthorized()` says the upstream refused the value (the one name
//! for that on every handle); `close()` / `close_blocking()` stop it,
//! revoking what the spec says to revoke. Dropping the last clone stops the
//! task too, without revoking anything.
//!
//! - [`VaultToken`]: JWT login at Vault/OpenBao, `renew-self` near two thirds
//!   of the TTL, re-login at `token_max_ttl` or when the server forgot the
//!   token. Its [`VaultSecret`]s and [`VaultLease`]s read with it, all driven
//!   by one core [`VaultSession`](tokenkeep_core::vault_session::VaultSession)
//!   on one task: a new token reaches them at once with its exact expiry.
//! - [`VaultSecret`]: a KV v2 secret polled with the token; a new version is
//!   a rotation, the previous one stays for the grace window.
//! - [`VaultLease`]: a dynamic credential (`database/creds/<role>`), renewed,
//!   replaced before its max TTL or its token's end, revoked after the grace window.
//! - [`FileToken`]: a rotating token file (Kubernetes projected
//!   service-account token, spiffe-helper JWT-SVID).
//! - [`HmacKeyring`]: HMAC request signing with a rotating secret (a
//!   [`VaultSecret`] field or a file); the previous secret still verifies for
//!   the grace window. Signing and checking are the core's, one atomic load.
//!
//! ```no_run
//! use tokenkeep::outbound::{VaultSecret, VaultToken};
//! use tokenkeep::spec::{VaultSecretSpec, VaultTokenSpec};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // VAULT_ADDR / BAO_ADDR, VAULT_NAMESPACE and VAULT_CACERT fill what is not set here.
//! let token = VaultToken::start(&VaultTokenSpec { jwt_file: Some("/var/run/secrets/jwt".into()), ..VaultTokenSpec::new("app") })?;
//! let secret = VaultSecret::start(&token, &VaultSecretSpec::new("secret", "app/config"))?;
//! let rotations = secret.rotations();
//! let mut seen = rotations.count();
//! loop {
//!     let s = secret.ready_blocking(std::time::Duration::from_secs(30))?;
//!     println!("using version {}", s.version); // build the connection pool here
//!     seen = rotations.wait_blocking(seen, std::time::Duration::from_secs(3600)).unwrap_or(seen);
//! }
//! # }
//! ```

mod file_change;
mod file_token;
mod hmac_keyring;
mod session;
mod slot;
mod telemetry;
mod vault_lease;
mod vault_secret;
mod vault_token;

pub use file_token::FileToken;
pub use hmac_keyring::HmacKeyring;
pub use tokenkeep_core::credential::{AttemptFailure, CredentialError, CredentialErrorCode, CredentialState};
pub use tokenkeep_core::hmac_keyring::{HmacError, HmacKeyringConfig, HmacSourceError, Signature};
pub use tokenkeep_core::token_file::TokenFileError;
pub use tokenkeep_core::vault::{JwtErrorCode, KvSecret, LeasedSecret, VaultErrorCode};
pub use vault_lease::VaultLease;
pub use vault_secret::VaultSecret;
pub use vault_token::{JwtError, JwtProvider, JwtSource, VaultToken};

use crate::events::Listeners;
use crate::signal::Rotations;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A secret string (a Vault token, a JWT) handed to callers. Cloning is
/// cheap; `Debug` and `Display` never show it: call [`SecretToken::expose`]
/// where it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(Arc<str>);

impl SecretToken {
    pub(crate) fn new(s: &str) -> Self {
        SecretToken(Arc::from(s))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The kind of an outbound handle (`Event::source_kind`, metric label `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    /// [`VaultToken`].
    VaultToken,
    /// [`VaultSecret`].
    VaultSecret,
    /// [`VaultLease`].
    VaultLease,
    /// [`FileToken`].
    FileToken,
    /// [`HmacKeyring`].
    HmacKeyring,
}

impl CredentialKind {
    /// Every kind, in a stable order.
    pub const ALL: &'static [CredentialKind] = &[
        CredentialKind::VaultToken,
        CredentialKind::VaultSecret,
        CredentialKind::VaultLease,
        CredentialKind::FileToken,
        CredentialKind::HmacKeyring,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::VaultToken => "vault_token",
            CredentialKind::VaultSecret => "vault_secret",
            CredentialKind::VaultLease => "vault_lease",
            CredentialKind::FileToken => "file_token",
            CredentialKind::HmacKeyring => "hmac_keyring",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A health snapshot of one outbound handle (owned: nothing borrowed, no
/// `&'static str`), for readiness probes, `/health` and bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialHealth {
    /// Current state.
    pub state: CredentialState,
    /// Seconds since the value held was obtained (renewals do not reset it).
    pub token_age_seconds: Option<u64>,
    /// Seconds until the value held expires (`None`: no value, or no expiry).
    pub expires_in_seconds: Option<u64>,
    /// Seconds until the next scheduled refresh (`None`: in flight or none planned).
    pub next_refresh_in_seconds: Option<u64>,
    /// Whether the last finished refresh succeeded (`None`: none finished yet).
    pub last_refresh_ok: Option<bool>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: u32,
    /// Code of the most recent failure, kept after recovery: a code of the
    /// `vault`, `token_file`, `jwt_source`, `hmac_source` or
    /// `credential_attempt` concern of `tests/vectors/codes.json`.
    pub last_error_code: Option<String>,
    /// Version of the value held, for versioned secrets (KV, keyrings).
    pub version: Option<u64>,
    /// Whether a refresh is in flight.
    pub in_flight: bool,
}

impl From<tokenkeep_core::credential::Health> for CredentialHealth {
    fn from(h: tokenkeep_core::credential::Health) -> Self {
        CredentialHealth {
            state: h.state,
            token_age_seconds: h.token_age_seconds,
            expires_in_seconds: h.expires_in_seconds,
            next_refresh_in_seconds: h.next_refresh_in_seconds,
            last_refresh_ok: h.last_refresh_ok,
            consecutive_failures: h.consecutive_failures,
            last_error_code: h.last_error_code.map(str::to_owned),
            version: h.version,
            in_flight: h.in_flight,
        }
    }
}

/// A credential's value as plain data, for hosts that write it out (the
/// agent's sinks) or hand it to another language: a token as a string; a KV
/// secret's data, a lease's data (with `lease_id`, `lease_duration` in
/// seconds, `renewable`) or a keyring (`{"current": {"version", "secret"},
/// "previous": {"version", "secret", "valid_until"} | null}`, `valid_until`
/// in Unix seconds) as an object. `Debug` never shows it.
#[derive(Clone, PartialEq)]
pub struct ExposedValue(serde_json::Value);

impl ExposedValue {
    /// The value itself (secrets in it).
    pub fn expose(&self) -> &serde_json::Value {
        &self.0
    }

    /// The value itself, owned.
    pub fn into_exposed(self) -> serde_json::Value {
        self.0
    }
}

impl fmt::Debug for ExposedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExposedValue(<redacted>)")
    }
}

/// A future returned by the [`Credential`] trait's async methods (runs on any executor).
pub type CloseFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// What every outbound handle offers, for code that holds several kinds
/// (the agent, a binding's base class). Each handle also has typed methods
/// (`current()` with its own value type).
pub trait Credential: Send + Sync + fmt::Debug {
    /// Its kind.
    fn kind(&self) -> CredentialKind;
    /// Its name in logs, metrics and health (`role@mount`, `<mount>/<path>`, the file…).
    fn name(&self) -> String;
    /// A health snapshot.
    fn health(&self) -> CredentialHealth;
    /// The value as plain data, or why there is none.
    fn exposed_value(&self) -> Result<ExposedValue, CredentialError>;
    /// Whether a value may be used now.
    fn is_usable(&self) -> bool {
        self.exposed_value().is_ok()
    }
    /// Why the newest value the source offered was refused while the last
    /// good one is kept (an HMAC secret too short); `None` otherwise.
    fn refusal(&self) -> Option<String> {
        None
    }
    /// Counts new values.
    fn rotations(&self) -> Rotations;
    /// Callbacks for its `credential_*` events.
    fn events(&self) -> &Listeners;
    /// Asks for a refresh now (rate-limited); `false` once closed.
    fn refresh(&self) -> bool;
    /// The upstream answered 401/403 to a request made with the current
    /// value: refresh it (a new login, a new credential, a re-read), rate-limited.
    fn report_unauthorized(&self);
    /// Blocks until a value is available, or `timeout`; whether one is.
    fn wait_ready_blocking(&self, timeout: Duration) -> bool;
    /// Stops it (revoking what its spec says to revoke) and waits for that.
    fn close_credential(&self) -> CloseFuture<'_>;
    /// The blocking twin of [`Credential::close_credential`].
    fn close_blocking(&self);
    /// Whether it was closed.
    fn is_closed(&self) -> bool;
}

/// How long `close` waits for revocations before giving up on them.
pub(crate) const CLOSE_BUDGET: Duration = Duration::from_secs(15);

/// The [`Credential`] impl of a handle whose inherent methods have the
/// trait's names: each forwards, and `$extra` holds what differs (how the
/// value is exposed, a refusal).
macro_rules! impl_credential {
    ($handle:ident, { $($extra:tt)* }) => {
        impl super::Credential for $handle {
            fn kind(&self) -> super::CredentialKind {
                super::CredentialKind::$handle
            }
            fn name(&self) -> String {
                $handle::name(self).to_owned()
            }
            fn health(&self) -> super::CredentialHealth {
                $handle::health(self)
            }
            fn rotations(&self) -> crate::signal::Rotations {
                $handle::rotations(self)
            }
            fn events(&self) -> &crate::events::Listeners {
                $handle::events(self)
            }
            fn refresh(&self) -> bool {
                $handle::refresh(self)
            }
            fn report_unauthorized(&self) {
                $handle::report_unauthorized(self)
            }
            fn wait_ready_blocking(&self, timeout: std::time::Duration) -> bool {
                self.ready_blocking(timeout).is_ok()
            }
            fn close_credential(&self) -> super::CloseFuture<'_> {
                Box::pin(self.close())
            }
            fn close_blocking(&self) {
                $handle::close_blocking(self)
            }
            fn is_closed(&self) -> bool {
                $handle::is_closed(self)
            }
            $($extra)*
        }
    };
}
pub(crate) use impl_credential;
