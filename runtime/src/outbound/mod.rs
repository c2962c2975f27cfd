//! Outbound credentials: tokens and secrets tokenkeep keeps fresh for the
//! calls a service makes (to Vault/OpenBao, to a database, to an API).
//!
//! Each source is one background task driving a sans-IO machine from
//! [`tokenkeep_core`]; readers call `current()`, one atomic load, never a
//! lock, and never get a value past its expiry. Every machine event becomes a
//! `tracing` event (target `tokenkeep::outbound`) and, for Vault, a `metrics`
//! counter; no event, `Debug` or `Display` ever carries a secret.
//!
//! - [`VaultToken`]: JWT login at Vault/OpenBao, `renew-self` near two thirds
//!   of the TTL, re-login at `token_max_ttl` or when the server forgot the
//!   token, `revoke-self` on [`VaultToken::shutdown`] when asked.
//! - [`VaultSecret`]: a KV v2 secret polled with the current token; a new
//!   version is a rotation, the previous one stays for the grace window.
//! - [`FileToken`]: a rotating token file (Kubernetes projected
//!   service-account token, spiffe-helper JWT-SVID).
//! - [`HmacKeyring`]: HMAC request signing with a rotating secret (a
//!   [`VaultSecret`] field or a file); the previous secret still verifies for
//!   the grace window. Signing and checking are the core's, one atomic load.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenkeep::outbound::{JwtSource, VaultSecret, VaultSecretConfig, VaultToken, VaultTokenConfig};
//! // VAULT_ADDR / BAO_ADDR, VAULT_NAMESPACE and VAULT_CACERT fill what is not set here.
//! let token = VaultToken::start(VaultTokenConfig::new("app", JwtSource::File("/var/run/secrets/jwt".into())))?;
//! let secret = VaultSecret::start(&token, VaultSecretConfig::new("secret", "app/config"))?;
//! let mut rotations = secret.subscribe();
//! loop {
//!     let s = secret.current()?;
//!     println!("using version {}", s.version);
//!     rotations.changed().await?; // rebuild the connection pool here
//! }
//! # }
//! ```

mod file_change;
mod file_token;
mod hmac_keyring;
mod telemetry;
mod vault_lease;
mod vault_secret;
mod vault_token;

pub use file_token::{FileToken, FileTokenConfig};
pub use hmac_keyring::{HmacKeyring, HmacKeyringSource, HmacSourceError};
pub use tokenkeep_core::credential::{CredentialConfig, CredentialError, CredentialState, Health};
pub use tokenkeep_core::hmac_keyring::{HmacError, HmacKeyringConfig, Signature};
pub use tokenkeep_core::token_file::{TokenFileConfig, TokenFileError};
pub use tokenkeep_core::vault::KvSecret;
pub use vault_lease::{LeasedSecret, VaultLease, VaultLeaseConfig};
pub use vault_secret::{VaultSecret, VaultSecretConfig};
pub use vault_token::{JwtError, JwtSource, VaultToken, VaultTokenConfig};

use std::fmt;
use std::sync::Arc;

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

/// Why an outbound source could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundError {
    /// No Vault address: neither in the configuration nor in `VAULT_ADDR` / `BAO_ADDR`.
    MissingAddress,
    /// The Vault address, mount, role or path is not usable (core error code inside).
    InvalidConfig(&'static str),
    /// The HTTP client could not be built (CA file, headers).
    Http(crate::http::HttpConfigError),
    /// Not called inside a tokio runtime.
    NoRuntime,
}

impl OutboundError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            OutboundError::MissingAddress => "missing_address",
            OutboundError::InvalidConfig(_) => "invalid_config",
            OutboundError::Http(e) => e.code(),
            OutboundError::NoRuntime => "no_runtime",
        }
    }
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundError::MissingAddress => f.write_str("no Vault address (set it, or VAULT_ADDR / BAO_ADDR)"),
            OutboundError::InvalidConfig(code) => write!(f, "invalid Vault configuration ({code})"),
            OutboundError::Http(e) => write!(f, "{e}"),
            OutboundError::NoRuntime => f.write_str("must be started inside a tokio runtime"),
        }
    }
}

impl std::error::Error for OutboundError {}

impl From<crate::http::HttpConfigError> for OutboundError {
    fn from(e: crate::http::HttpConfigError) -> Self {
        OutboundError::Http(e)
    }
}

/// Cancels the background task when the last handle is dropped.
pub(crate) struct DropGuard(pub(crate) tokio_util::sync::CancellationToken);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The lock-free view of a credential published by its task.
pub(crate) struct Published<T> {
    pub(crate) value: Option<T>,
    pub(crate) expires_at: Option<tokenkeep_core::UnixTime>,
    /// The error to answer when there is no valid value.
    pub(crate) error: CredentialError,
    /// Whether the machine is `Fatal` (an expired value then answers `Fatal`).
    pub(crate) fatal: Option<&'static str>,
}

impl<T: Clone> Published<T> {
    pub(crate) fn empty() -> Self {
        Published { value: None, expires_at: None, error: CredentialError::NotYetObtained, fatal: None }
    }

    /// The value if still valid at `now`; never a value past its expiry.
    pub(crate) fn read(&self, now: tokenkeep_core::UnixTime) -> Result<T, CredentialError> {
        match &self.value {
            Some(v) if self.expires_at.is_none_or(|e| now < e) => Ok(v.clone()),
            Some(_) => Err(match self.fatal {
                Some(cause) => CredentialError::Fatal { cause },
                None => CredentialError::Expired,
            }),
            None => Err(self.error),
        }
    }
}

/// Answers `current()` as soon as it gives a value, re-checking on every tick
/// of `changes`, for at most `timeout`; then the last answer.
async fn wait_for_value<T, E>(
    mut changes: tokio::sync::watch::Receiver<u64>,
    timeout: std::time::Duration,
    current: impl Fn() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let answer = current();
        if answer.is_ok() {
            return answer;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            // Out of time, or the source is gone: nothing more will change.
            _ => return current(),
        }
    }
}

/// Sends one Vault request. When Vault refuses it, the reason it gave
/// (`errors[]`, with any secret of the request redacted: see
/// [`tokenkeep_core::vault::error_reason`]) goes to the log beside the
/// machine's code, so `invalid_request` says which claim or role was wrong.
async fn send_to_vault(
    client: &crate::http::HttpClient,
    request: tokenkeep_core::http::HttpRequest,
    source: &'static str,
    name: &str,
) -> tokenkeep_core::http::HttpOutcome {
    let sent = request.clone();
    let outcome = client.execute(request).await;
    if let tokenkeep_core::http::HttpOutcome::Response(r) = &outcome {
        if let Some(reason) = tokenkeep_core::vault::error_reason(r, &sent) {
            tracing::warn!(target: "tokenkeep::outbound", source, name, status = r.status, reason = %reason, "Vault refused the request");
        }
    }
    outcome
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
