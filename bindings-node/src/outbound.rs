//! The outbound handles (`VaultToken`, `VaultSecret`, `VaultLease`,
//! `FileToken`, `HmacKeyring`) as one native class over the runtime's
//! handles: started from the runtime's specs (JSON text of the JS options,
//! read by the same parser as the verifier's), every method shared by the
//! five kinds through the runtime's `Credential` trait. Every rule (when to
//! refresh, retries, health, grace windows, revocation) is the runtime's.
//!
//! Events reach JavaScript through one weak threadsafe function per handle,
//! registered before the handle starts (`start_*_with_listeners`), so the
//! first `credential_obtained` is delivered too: an event as JSON text, a
//! rotation as the new count in decimal.

use crate::{EventSink, Failure, event_json, failure, guarded, napi_failure, settle, spec_failure};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokenkeep::outbound::{Credential, CredentialError, Signature};
use tokenkeep::spec::{FileTokenSpec, HmacKeyringSpec, VaultLeaseSpec, VaultSecretSpec, VaultTokenSpec};
use tokenkeep::{EventListenerId, ListenerId, Listeners, Rotations};

/// The runtime handle behind one JS object.
#[derive(Clone)]
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

/// Why a handle has no value to give (`current()`): returned, not thrown,
/// like a rejected token; the JS layer throws its `TokenkeepError`.
#[napi(object)]
pub struct Unavailable {
    /// A `credential_error` code: `not_yet_obtained`, `expired`, `fatal`, `closed`.
    pub code: String,
    /// The runtime's message (never the value).
    pub message: String,
}

impl From<CredentialError> for Unavailable {
    fn from(e: CredentialError) -> Self {
        Unavailable { code: e.code().as_str().to_owned(), message: e.to_string() }
    }
}

/// A health snapshot of an outbound handle (the runtime's `CredentialHealth`).
#[napi(object)]
pub struct CredentialHealth {
    /// `vault_token`, `vault_secret`, `vault_lease`, `file_token` or `hmac_keyring`.
    pub kind: String,
    /// Its name in logs, metrics and health.
    pub name: String,
    /// `empty`, `fresh`, `refreshing`, `degraded`, `expired` or `fatal`.
    pub state: String,
    /// Seconds since the value held was obtained.
    pub token_age_seconds: Option<f64>,
    /// Seconds until the value held expires.
    pub expires_in_seconds: Option<f64>,
    /// Seconds until the next scheduled refresh.
    pub next_refresh_in_seconds: Option<f64>,
    /// Whether the last finished refresh succeeded.
    pub last_refresh_ok: Option<bool>,
    /// Failed refreshes since the last success.
    pub consecutive_failures: u32,
    /// Code of the most recent failure (kept after recovery).
    pub last_error_code: Option<String>,
    /// Version of the value held (KV secrets, keyrings).
    pub version: Option<f64>,
    /// Whether a refresh is in flight.
    pub in_flight: bool,
}

fn health_of(c: &dyn Credential) -> CredentialHealth {
    let h = c.health();
    CredentialHealth {
        kind: c.kind().as_str().to_owned(),
        name: c.name(),
        state: h.state.as_str().to_owned(),
        token_age_seconds: h.token_age_seconds.map(|s| s as f64),
        expires_in_seconds: h.expires_in_seconds.map(|s| s as f64),
        next_refresh_in_seconds: h.next_refresh_in_seconds.map(|s| s as f64),
        last_refresh_ok: h.last_refresh_ok,
        consecutive_failures: h.consecutive_failures,
        last_error_code: h.last_error_code,
        version: h.version.map(|v| v as f64),
        in_flight: h.in_flight,
    }
}

/// The weak threadsafe function events and rotations go to.
fn sink_of(callback: Function<String, ()>) -> std::result::Result<Arc<EventSink>, Failure> {
    let sink: EventSink = callback
        .build_threadsafe_function::<String>()
        .callee_handled::<false>()
        .weak::<true>()
        .build()
        .map_err(napi_failure)?;
    Ok(Arc::new(sink))
}

/// Listeners holding the event forwarder, to start a handle with.
fn listeners_for(sink: &Arc<EventSink>) -> (Listeners, EventListenerId) {
    let listeners = Listeners::default();
    let sink = sink.clone();
    let id = listeners.add(move |event| {
        sink.call(event_json(event), ThreadsafeFunctionCallMode::NonBlocking);
    });
    (listeners, id)
}

/// Forwards each new rotation count once, the ones before the callback was
/// registered included (a first value read before `start` returned).
fn forward_rotations(rotations: &Rotations, sink: &Arc<EventSink>) -> ListenerId {
    let delivered = Arc::new(AtomicU64::new(0));
    let sink = sink.clone();
    let send = Arc::new(move |n: u64| {
        if delivered.fetch_max(n, Ordering::AcqRel) < n {
            sink.call(n.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
        }
    });
    let callback = send.clone();
    let id = rotations.on_rotation(move |n| callback(n));
    let seen = rotations.count();
    if seen > 0 {
        send(seen);
    }
    id
}

fn timeout_of(timeout_ms: f64) -> std::result::Result<Duration, Failure> {
    if !timeout_ms.is_finite() || timeout_ms < 0.0 {
        return Err(failure("invalid_value", "timeoutMs: must be a finite number >= 0"));
    }
    Ok(Duration::from_secs_f64(timeout_ms.min(1e12) / 1000.0))
}

fn hmac_failure(e: &tokenkeep::outbound::HmacError) -> Failure {
    failure(e.code(), e)
}

/// One outbound handle of the runtime (`tokenkeep::outbound::*`).
#[napi]
pub struct NativeCredential {
    handle: Handle,
    events: Option<EventListenerId>,
    rotations: Option<ListenerId>,
}

impl NativeCredential {
    fn started(handle: Handle, sink: &Arc<EventSink>, events: EventListenerId) -> NativeCredential {
        let rotations = forward_rotations(&handle.credential().rotations(), sink);
        NativeCredential { handle, events: Some(events), rotations: Some(rotations) }
    }

    fn vault_token_of(token: &NativeCredential) -> std::result::Result<&tokenkeep::outbound::VaultToken, Failure> {
        match &token.handle {
            Handle::VaultToken(t) => Ok(t),
            _ => Err(failure("invalid_type", "token: must be a VaultToken")),
        }
    }

    fn keyring(&self) -> std::result::Result<&tokenkeep::outbound::HmacKeyring, Failure> {
        match &self.handle {
            Handle::HmacKeyring(k) => Ok(k),
            _ => Err(failure("invalid_type", "sign/verify: only an HmacKeyring signs")),
        }
    }
}

#[napi]
impl NativeCredential {
    /// A Vault token by JWT login, from a `VaultTokenSpec` as JSON text;
    /// `on_event` gets every event (JSON text) and rotation (its count).
    #[napi(factory, ts_args_type = "specJson: string, onEvent: (message: string) => void")]
    pub fn vault_token(spec_json: String, on_event: Function<String, ()>) -> std::result::Result<Self, Failure> {
        guarded(|| {
            let spec: VaultTokenSpec = tokenkeep::spec::from_json(&spec_json).map_err(|e| spec_failure(&e))?;
            let sink = sink_of(on_event)?;
            let (listeners, events) = listeners_for(&sink);
            let handle = tokenkeep::outbound::VaultToken::start_on_with_listeners(
                &tokenkeep::Runtime::global(),
                &spec,
                None,
                listeners,
            )
            .map_err(|e| spec_failure(&e))?;
            Ok(Self::started(Handle::VaultToken(handle), &sink, events))
        })
    }

    /// A KV v2 secret read with `token`, from a `VaultSecretSpec` as JSON text.
    #[napi(factory, ts_args_type = "token: NativeCredential, specJson: string, onEvent: (message: string) => void")]
    pub fn vault_secret(
        token: &NativeCredential,
        spec_json: String,
        on_event: Function<String, ()>,
    ) -> std::result::Result<Self, Failure> {
        guarded(|| {
            let token = Self::vault_token_of(token)?;
            let spec: VaultSecretSpec = tokenkeep::spec::from_json(&spec_json).map_err(|e| spec_failure(&e))?;
            let sink = sink_of(on_event)?;
            let (listeners, events) = listeners_for(&sink);
            let handle = tokenkeep::outbound::VaultSecret::start_with_listeners(token, &spec, listeners)
                .map_err(|e| spec_failure(&e))?;
            Ok(Self::started(Handle::VaultSecret(handle), &sink, events))
        })
    }

    /// A dynamic credential read with `token`, from a `VaultLeaseSpec` as JSON text.
    #[napi(factory, ts_args_type = "token: NativeCredential, specJson: string, onEvent: (message: string) => void")]
    pub fn vault_lease(
        token: &NativeCredential,
        spec_json: String,
        on_event: Function<String, ()>,
    ) -> std::result::Result<Self, Failure> {
        guarded(|| {
            let token = Self::vault_token_of(token)?;
            let spec: VaultLeaseSpec = tokenkeep::spec::from_json(&spec_json).map_err(|e| spec_failure(&e))?;
            let sink = sink_of(on_event)?;
            let (listeners, events) = listeners_for(&sink);
            let handle = tokenkeep::outbound::VaultLease::start_with_listeners(token, &spec, listeners)
                .map_err(|e| spec_failure(&e))?;
            Ok(Self::started(Handle::VaultLease(handle), &sink, events))
        })
    }

    /// A rotating token file, from a `FileTokenSpec` as JSON text.
    #[napi(factory, ts_args_type = "specJson: string, onEvent: (message: string) => void")]
    pub fn file_token(spec_json: String, on_event: Function<String, ()>) -> std::result::Result<Self, Failure> {
        guarded(|| {
            let spec: FileTokenSpec = tokenkeep::spec::from_json(&spec_json).map_err(|e| spec_failure(&e))?;
            let sink = sink_of(on_event)?;
            let (listeners, events) = listeners_for(&sink);
            let handle = tokenkeep::outbound::FileToken::start_on_with_listeners(
                &tokenkeep::Runtime::global(),
                &spec,
                listeners,
            )
            .map_err(|e| spec_failure(&e))?;
            Ok(Self::started(Handle::FileToken(handle), &sink, events))
        })
    }

    /// An HMAC keyring from an `HmacKeyringSpec` as JSON text: a file
    /// source, or a KV field read with `token`.
    #[napi(
        factory,
        ts_args_type = "token: NativeCredential | undefined | null, specJson: string, onEvent: (message: string) => void"
    )]
    pub fn hmac_keyring(
        token: Option<&NativeCredential>,
        spec_json: String,
        on_event: Function<String, ()>,
    ) -> std::result::Result<Self, Failure> {
        guarded(|| {
            let token = token.map(Self::vault_token_of).transpose()?;
            let spec: HmacKeyringSpec = tokenkeep::spec::from_json(&spec_json).map_err(|e| spec_failure(&e))?;
            let sink = sink_of(on_event)?;
            let (listeners, events) = listeners_for(&sink);
            let handle = tokenkeep::outbound::HmacKeyring::start_on_with_listeners(
                &tokenkeep::Runtime::global(),
                &spec,
                token,
                listeners,
            )
            .map_err(|e| spec_failure(&e))?;
            Ok(Self::started(Handle::HmacKeyring(handle), &sink, events))
        })
    }

    /// The value now: a token (text), KV or lease data (JSON text), a
    /// keyring's key version; or why there is none.
    #[napi(ts_return_type = "string | number | Unavailable")]
    pub fn current(&self) -> std::result::Result<Either3<String, f64, Unavailable>, Failure> {
        guarded(|| {
            let value = match &self.handle {
                Handle::VaultToken(h) => h.current().map(|t| Either3::A(t.expose().to_owned())),
                Handle::FileToken(h) => h.current().map(|t| Either3::A(t.expose().to_owned())),
                Handle::HmacKeyring(h) => h.current().map(|v| Either3::B(v as f64)),
                Handle::VaultSecret(_) | Handle::VaultLease(_) => {
                    self.handle.credential().exposed_value().map(|v| Either3::A(v.expose().to_string()))
                }
            };
            Ok(value.unwrap_or_else(|e| Either3::C(Unavailable::from(e))))
        })
    }

    /// A health snapshot.
    #[napi]
    pub fn health(&self) -> std::result::Result<CredentialHealth, Failure> {
        guarded(|| Ok(health_of(self.handle.credential())))
    }

    /// Whether a value is available within `timeout_ms`: at once, or a Promise.
    #[napi(ts_return_type = "boolean | Promise<boolean>")]
    pub fn ready<'env>(
        &self,
        env: &'env Env,
        timeout_ms: f64,
    ) -> std::result::Result<Either<bool, Object<'env>>, Failure> {
        guarded(|| {
            let timeout = timeout_of(timeout_ms)?;
            let handle = self.handle.clone();
            settle(env, async move {
                match &handle {
                    Handle::VaultToken(h) => h.ready(timeout).await.is_ok(),
                    Handle::VaultSecret(h) => h.ready(timeout).await.is_ok(),
                    Handle::VaultLease(h) => h.ready(timeout).await.is_ok(),
                    Handle::FileToken(h) => h.ready(timeout).await.is_ok(),
                    Handle::HmacKeyring(h) => h.ready(timeout).await.is_ok(),
                }
            })
        })
    }

    /// Asks for a refresh now (rate-limited by the runtime); false once closed.
    #[napi]
    pub fn refresh(&self) -> std::result::Result<bool, Failure> {
        guarded(|| Ok(self.handle.credential().refresh()))
    }

    /// The upstream refused the current value (401/403): the runtime refreshes it.
    #[napi]
    pub fn report_unauthorized(&self) -> std::result::Result<(), Failure> {
        guarded(|| {
            self.handle.credential().report_unauthorized();
            Ok(())
        })
    }

    /// New values so far.
    #[napi]
    pub fn rotations(&self) -> std::result::Result<f64, Failure> {
        guarded(|| Ok(self.handle.credential().rotations().count() as f64))
    }

    /// Its name in logs, metrics and health.
    #[napi]
    pub fn name(&self) -> std::result::Result<String, Failure> {
        guarded(|| Ok(self.handle.credential().name()))
    }

    /// Its kind (`vault_token`, …).
    #[napi]
    pub fn kind(&self) -> String {
        self.handle.credential().kind().as_str().to_owned()
    }

    /// Whether `close()` was called.
    #[napi]
    pub fn is_closed(&self) -> bool {
        self.handle.credential().is_closed()
    }

    /// Stops it, revoking what its options say to revoke, and waits for that
    /// (the runtime bounds the wait); idempotent. At once, or a Promise.
    #[napi(ts_return_type = "void | Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> std::result::Result<Either<(), Object<'env>>, Failure> {
        guarded(|| {
            let handle = self.handle.clone();
            settle(env, async move { handle.credential().close_credential().await })
        })
    }

    /// HmacKeyring: signs a request now with the current secret; the
    /// signature header's value.
    #[napi]
    pub fn sign(&self, method: String, path: String, body: Buffer) -> std::result::Result<String, Failure> {
        guarded(|| {
            let keyring = self.keyring()?;
            keyring.sign(&method, &path, &body).map(|s| s.to_header()).map_err(|e| hmac_failure(&e))
        })
    }

    /// HmacKeyring: verifies a signature header for this request now; the
    /// key version that matched.
    #[napi]
    pub fn verify(
        &self,
        signature: String,
        method: String,
        path: String,
        body: Buffer,
    ) -> std::result::Result<f64, Failure> {
        guarded(|| {
            let keyring = self.keyring()?;
            let sig = Signature::from_header(&signature).map_err(|e| hmac_failure(&e))?;
            keyring.verify(&sig, &method, &path, &body).map(|v| v as f64).map_err(|e| hmac_failure(&e))
        })
    }
}

impl Drop for NativeCredential {
    fn drop(&mut self) {
        // Other clones of the runtime handle (a VaultSecret's token, a
        // pending close) may outlive this object; its callbacks must not.
        let credential = self.handle.credential();
        if let Some(id) = self.events.take() {
            credential.events().remove(id);
        }
        if let Some(id) = self.rotations.take() {
            credential.rotations().remove_listener(id);
        }
    }
}
