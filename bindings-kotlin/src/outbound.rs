//! The outbound handles (`VaultToken`, `VaultSecret`, `VaultLease`,
//! `FileToken`, `HmacKeyring`) as one uniffi object over the runtime's
//! handles: the Kotlin layer gives each kind its own class and only calls the
//! methods of its kind. Options arrive as the spec's JSON text and go to
//! `tokenkeep::spec`; every rule (refresh, retry, health, revocation) is the
//! runtime's. The methods every kind shares go through its `Credential` trait.

use crate::{Event, NativeError, NativeEventListener, count, guard, guard_value, guarded, host_error, millis};
use std::sync::Arc;
use tokenkeep::Listeners;
use tokenkeep::codes::HostErrorCode;
use tokenkeep::outbound::{Credential, CredentialError, HmacError, Signature};
use tokenkeep::spec::{FileTokenSpec, HmacKeyringSpec, VaultLeaseSpec, VaultSecretSpec, VaultTokenSpec, from_json};

impl From<CredentialError> for NativeError {
    fn from(e: CredentialError) -> Self {
        NativeError::Credential { code: e.code().as_str().to_owned(), detail: e.to_string() }
    }
}

impl From<HmacError> for NativeError {
    fn from(e: HmacError) -> Self {
        NativeError::Hmac { code: e.code().to_owned(), detail: e.to_string() }
    }
}

/// The runtime's handle, by kind (each one a cheap clone of shared state).
#[derive(Clone, Debug)]
enum Handle {
    VaultToken(tokenkeep::outbound::VaultToken),
    VaultSecret(tokenkeep::outbound::VaultSecret),
    VaultLease(tokenkeep::outbound::VaultLease),
    FileToken(tokenkeep::outbound::FileToken),
    HmacKeyring(tokenkeep::outbound::HmacKeyring),
}

impl Handle {
    fn credential(&self) -> &dyn Credential {
        match self {
            Handle::VaultToken(h) => h,
            Handle::VaultSecret(h) => h,
            Handle::VaultLease(h) => h,
            Handle::FileToken(h) => h,
            Handle::HmacKeyring(h) => h,
        }
    }
}

/// A kind-specific method called on another kind: only the generated API
/// allows that (the Kotlin classes do not), so it is a bug, not bad input.
fn wrong_kind(wanted: &str) -> NativeError {
    host_error(HostErrorCode::InternalError, format!("not a {wanted} handle"))
}

/// Listeners holding the construction-time callback, registered before the
/// handle starts so it sees the first event.
fn listeners(listener: Option<Box<dyn NativeEventListener>>) -> Listeners {
    let listeners = Listeners::default();
    if let Some(listener) = listener {
        let listener: Arc<dyn NativeEventListener> = Arc::from(listener);
        listeners.add(move |event| listener.on_event(Event::from(event)));
    }
    listeners
}

fn vault_token_of(token: &NativeCredential) -> Result<&tokenkeep::outbound::VaultToken, NativeError> {
    match &token.inner {
        Handle::VaultToken(t) => Ok(t),
        _ => Err(wrong_kind("vault_token")),
    }
}

/// Health of one outbound handle (`tokenkeep::outbound::CredentialHealth`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CredentialHealth {
    /// `vault_token`, `vault_secret`, `vault_lease`, `file_token` or `hmac_keyring`.
    pub kind: String,
    /// Its name in logs and metrics (`role@mount`, `<mount>/<path>`, the file).
    pub name: String,
    /// `empty`, `fresh`, `refreshing`, `degraded`, `expired` or `fatal`.
    pub state: String,
    /// Seconds since the value held was obtained.
    pub token_age_seconds: Option<i64>,
    /// Seconds until the value held expires.
    pub expires_in_seconds: Option<i64>,
    /// Seconds until the next scheduled refresh.
    pub next_refresh_in_seconds: Option<i64>,
    /// Whether the last finished refresh succeeded.
    pub last_refresh_ok: Option<bool>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: i32,
    /// Code of the most recent failure (kept after recovery).
    pub last_error_code: Option<String>,
    /// Version of the value held (KV secrets, keyrings).
    pub version: Option<i64>,
    /// Whether a refresh is in flight.
    pub in_flight: bool,
}

fn health_of(handle: &dyn Credential) -> CredentialHealth {
    let h = handle.health();
    CredentialHealth {
        kind: handle.kind().as_str().to_owned(),
        name: handle.name(),
        state: h.state.as_str().to_owned(),
        token_age_seconds: h.token_age_seconds.map(count),
        expires_in_seconds: h.expires_in_seconds.map(count),
        next_refresh_in_seconds: h.next_refresh_in_seconds.map(count),
        last_refresh_ok: h.last_refresh_ok,
        consecutive_failures: i32::try_from(h.consecutive_failures).unwrap_or(i32::MAX),
        last_error_code: h.last_error_code,
        version: h.version.map(count),
        in_flight: h.in_flight,
    }
}

/// An outbound handle of any kind, started from its options spec (JSON text).
#[derive(uniffi::Object)]
pub struct NativeCredential {
    inner: Handle,
}

impl std::fmt::Debug for NativeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

fn started(inner: Handle) -> Result<Arc<NativeCredential>, NativeError> {
    Ok(Arc::new(NativeCredential { inner }))
}

#[uniffi::export]
impl NativeCredential {
    /// A Vault/OpenBao token by JWT login (`VaultTokenSpec` JSON), renewed in the background.
    #[uniffi::constructor]
    pub fn vault_token(
        options_json: String,
        listener: Option<Box<dyn NativeEventListener>>,
    ) -> Result<Arc<NativeCredential>, NativeError> {
        guard(|| {
            let spec: VaultTokenSpec = from_json(&options_json)?;
            let runtime = tokenkeep::Runtime::global();
            let handle =
                tokenkeep::outbound::VaultToken::start_on_with_listeners(&runtime, &spec, None, listeners(listener))?;
            started(Handle::VaultToken(handle))
        })
    }

    /// A KV v2 secret read with `token` (`VaultSecretSpec` JSON), polled.
    #[uniffi::constructor]
    pub fn vault_secret(
        token: Arc<NativeCredential>,
        options_json: String,
        listener: Option<Box<dyn NativeEventListener>>,
    ) -> Result<Arc<NativeCredential>, NativeError> {
        guard(|| {
            let spec: VaultSecretSpec = from_json(&options_json)?;
            let handle = tokenkeep::outbound::VaultSecret::start_with_listeners(
                vault_token_of(&token)?,
                &spec,
                listeners(listener),
            )?;
            started(Handle::VaultSecret(handle))
        })
    }

    /// A dynamic credential read with `token` (`VaultLeaseSpec` JSON), renewed and replaced.
    #[uniffi::constructor]
    pub fn vault_lease(
        token: Arc<NativeCredential>,
        options_json: String,
        listener: Option<Box<dyn NativeEventListener>>,
    ) -> Result<Arc<NativeCredential>, NativeError> {
        guard(|| {
            let spec: VaultLeaseSpec = from_json(&options_json)?;
            let handle = tokenkeep::outbound::VaultLease::start_with_listeners(
                vault_token_of(&token)?,
                &spec,
                listeners(listener),
            )?;
            started(Handle::VaultLease(handle))
        })
    }

    /// A rotating token file (`FileTokenSpec` JSON).
    #[uniffi::constructor]
    pub fn file_token(
        options_json: String,
        listener: Option<Box<dyn NativeEventListener>>,
    ) -> Result<Arc<NativeCredential>, NativeError> {
        guard(|| {
            let spec: FileTokenSpec = from_json(&options_json)?;
            let runtime = tokenkeep::Runtime::global();
            let handle = tokenkeep::outbound::FileToken::start_on_with_listeners(&runtime, &spec, listeners(listener))?;
            started(Handle::FileToken(handle))
        })
    }

    /// HMAC request signing (`HmacKeyringSpec` JSON): a file source, or a KV field read with `token`.
    #[uniffi::constructor]
    pub fn hmac_keyring(
        token: Option<Arc<NativeCredential>>,
        options_json: String,
        listener: Option<Box<dyn NativeEventListener>>,
    ) -> Result<Arc<NativeCredential>, NativeError> {
        guard(|| {
            let spec: HmacKeyringSpec = from_json(&options_json)?;
            let token = match &token {
                Some(t) => Some(vault_token_of(t)?),
                None => None,
            };
            let runtime = tokenkeep::Runtime::global();
            let handle =
                tokenkeep::outbound::HmacKeyring::start_on_with_listeners(&runtime, &spec, token, listeners(listener))?;
            started(Handle::HmacKeyring(handle))
        })
    }

    /// The token to use now (vault_token, file_token); never a stale one.
    pub fn current_token(&self) -> Result<String, NativeError> {
        guard(|| {
            let token = match &self.inner {
                Handle::VaultToken(h) => h.current()?,
                Handle::FileToken(h) => h.current()?,
                _ => return Err(wrong_kind("vault_token or file_token")),
            };
            Ok(token.expose().to_owned())
        })
    }

    /// The data to use now as JSON text (vault_secret: the KV data; vault_lease:
    /// the data with `lease_id`, `lease_duration`, `renewable`).
    pub fn current_data_json(&self) -> Result<String, NativeError> {
        guard(|| match &self.inner {
            Handle::VaultSecret(_) | Handle::VaultLease(_) => {
                Ok(self.inner.credential().exposed_value()?.expose().to_string())
            }
            _ => Err(wrong_kind("vault_secret or vault_lease")),
        })
    }

    /// The KV version now (vault_secret).
    pub fn current_kv_version(&self) -> Result<i64, NativeError> {
        guard(|| match &self.inner {
            Handle::VaultSecret(h) => Ok(count(h.current()?.version)),
            _ => Err(wrong_kind("vault_secret")),
        })
    }

    /// The keyring's current key version (hmac_keyring).
    pub fn current_key_version(&self) -> Result<i64, NativeError> {
        guard(|| match &self.inner {
            Handle::HmacKeyring(h) => Ok(count(h.current()?)),
            _ => Err(wrong_kind("hmac_keyring")),
        })
    }

    /// Signs a request with the current secret, timestamped now: the header value (hmac_keyring).
    pub fn sign(&self, method: String, path: String, body: Vec<u8>) -> Result<String, NativeError> {
        guard(|| match &self.inner {
            Handle::HmacKeyring(h) => Ok(h.sign(&method, &path, &body)?.to_header()),
            _ => Err(wrong_kind("hmac_keyring")),
        })
    }

    /// Verifies a signature header for this request now; the key version that matched (hmac_keyring).
    pub fn verify(&self, signature: String, method: String, path: String, body: Vec<u8>) -> Result<i64, NativeError> {
        guard(|| match &self.inner {
            Handle::HmacKeyring(h) => {
                let sig = Signature::from_header(&signature)?;
                Ok(count(h.verify(&sig, &method, &path, &body)?))
            }
            _ => Err(wrong_kind("hmac_keyring")),
        })
    }

    /// A health snapshot.
    pub fn health(&self) -> Result<CredentialHealth, NativeError> {
        guard(|| Ok(health_of(self.inner.credential())))
    }

    /// Waits until a value is available; false after `timeout_ms` or close.
    pub async fn ready(&self, timeout_ms: i64) -> Result<bool, NativeError> {
        let inner = self.inner.clone();
        let timeout = millis(timeout_ms);
        guarded(async move {
            Ok(match &inner {
                Handle::VaultToken(h) => h.ready(timeout).await.is_ok(),
                Handle::VaultSecret(h) => h.ready(timeout).await.is_ok(),
                Handle::VaultLease(h) => h.ready(timeout).await.is_ok(),
                Handle::FileToken(h) => h.ready(timeout).await.is_ok(),
                Handle::HmacKeyring(h) => h.ready(timeout).await.is_ok(),
            })
        })
        .await
    }

    /// The blocking twin of `ready`.
    pub fn ready_blocking(&self, timeout_ms: i64) -> Result<bool, NativeError> {
        guard(|| Ok(self.inner.credential().wait_ready_blocking(millis(timeout_ms))))
    }

    /// Asks for a refresh now (rate-limited by the runtime); false once closed.
    pub fn refresh(&self) -> Result<bool, NativeError> {
        guard(|| Ok(self.inner.credential().refresh()))
    }

    /// The upstream refused the current value (401/403): the runtime refreshes it (rate-limited).
    pub fn report_unauthorized(&self) -> Result<(), NativeError> {
        guard(|| {
            self.inner.credential().report_unauthorized();
            Ok(())
        })
    }

    /// The rotation counter (new values so far).
    pub fn rotation_count(&self) -> i64 {
        guard_value(0, || count(self.inner.credential().rotations().count()))
    }

    /// Waits until the rotation counter exceeds `after`; the count then, or
    /// nothing after `timeout_ms` or close.
    pub async fn wait_rotation(&self, after: i64, timeout_ms: i64) -> Result<Option<i64>, NativeError> {
        let rotations = self.inner.credential().rotations();
        let after = u64::try_from(after).unwrap_or(0);
        guarded(async move { Ok(rotations.wait(after, millis(timeout_ms)).await.map(count)) }).await
    }

    /// The blocking twin of `wait_rotation`.
    pub fn wait_rotation_blocking(&self, after: i64, timeout_ms: i64) -> Result<Option<i64>, NativeError> {
        guard(|| {
            let after = u64::try_from(after).unwrap_or(0);
            Ok(self.inner.credential().rotations().wait_blocking(after, millis(timeout_ms)).map(count))
        })
    }

    /// Calls `listener` with every later event of this handle (on the producing thread).
    pub fn add_event_listener(&self, listener: Box<dyn NativeEventListener>) -> Result<i64, NativeError> {
        guard(|| {
            let listener: Arc<dyn NativeEventListener> = Arc::from(listener);
            let id = self.inner.credential().events().add(move |event| listener.on_event(Event::from(event)));
            Ok(count(id.0))
        })
    }

    /// Stops calling a listener.
    pub fn remove_event_listener(&self, id: i64) {
        guard_value((), || {
            self.inner.credential().events().remove(tokenkeep::EventListenerId(u64::try_from(id).unwrap_or(0)))
        })
    }

    /// Stops it, revoking what its options say to revoke, and waits for that
    /// (idempotent). Not named `close`: see `NativeVerifier::shutdown`.
    pub async fn shutdown(&self) -> Result<(), NativeError> {
        let inner = self.inner.clone();
        guarded(async move {
            inner.credential().close_credential().await;
            Ok(())
        })
        .await
    }

    /// The blocking twin of `shutdown` (waits for the revocations too).
    pub fn close_blocking(&self) -> Result<(), NativeError> {
        guard(|| {
            self.inner.credential().close_blocking();
            Ok(())
        })
    }

    /// Whether it was closed.
    pub fn is_closed(&self) -> bool {
        guard_value(true, || self.inner.credential().is_closed())
    }

    /// Its name in logs, metrics and health.
    pub fn name(&self) -> String {
        guard_value(String::new(), || self.inner.credential().name())
    }

    /// Its kind (`vault_token`, …).
    pub fn kind(&self) -> String {
        guard_value(String::new(), || self.inner.credential().kind().as_str().to_owned())
    }
}
