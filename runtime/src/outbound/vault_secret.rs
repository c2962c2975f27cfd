//! [`VaultSecret`]: a KV v2 secret polled with a [`VaultToken`].

use super::session::DepSlot;
use super::slot::Slot;
use super::{CredentialHealth, CredentialKind, ExposedValue, VaultToken, telemetry};
use crate::clock;
use crate::events::Listeners;
use crate::metrics_registry::{GaugeRow, GaugeSource};
use crate::signal::Rotations;
use crate::spec::{SpecError, SpecErrorCode, VaultSecretSpec};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokenkeep_core::credential::{CredentialError, CredentialState};
use tokenkeep_core::vault::KvSecret;
use tokenkeep_core::vault_session::{DependentId, Member};

/// One secret or lease of a token's session: what both handles share.
pub(crate) struct Dependent<T> {
    pub(crate) token: VaultToken,
    pub(crate) id: DependentId,
    pub(crate) slot: Arc<Slot<T>>,
    closing: AtomicBool,
}

impl<T: Clone> Dependent<T> {
    /// Adds a member to `token`'s session with `add` and registers its slot.
    pub(crate) fn start(
        token: &VaultToken,
        slot: Arc<Slot<T>>,
        dep_slot: impl FnOnce(Arc<Slot<T>>) -> DepSlot,
        add: impl FnOnce(
            &mut tokenkeep_core::vault_session::VaultSession,
            tokenkeep_core::UnixTime,
        ) -> Result<DependentId, tokenkeep_core::vault::VaultError>,
    ) -> Result<Arc<Dependent<T>>, SpecError> {
        if token.is_closed() {
            return Err(SpecError::new("", SpecErrorCode::InvalidValue, "the Vault token it reads with was closed"));
        }
        let host = token.host();
        let id =
            host.with_session(add).map_err(|e| SpecError::new("", SpecErrorCode::InvalidVaultPath, e.to_string()))?;
        host.register(id, dep_slot(slot.clone()));
        Ok(Arc::new(Dependent { token: token.clone(), id, slot, closing: AtomicBool::new(false) }))
    }

    pub(crate) fn member(&self) -> Member {
        Member::Dependent(self.id)
    }

    pub(crate) fn current(&self) -> Result<T, CredentialError> {
        let (answer, overdue) = self.slot.read();
        if overdue {
            self.token.host().ensure_task();
        }
        answer
    }

    pub(crate) fn refresh(&self) -> bool {
        let member = self.member();
        self.token.host().with_session(|s, now| s.refresh(member, now))
    }

    pub(crate) fn report_unauthorized(&self) {
        let member = self.member();
        self.token.host().with_session(|s, now| s.handle_upstream_unauthorized(member, now));
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn begin_close(&self) {
        if !self.closing.swap(true, Ordering::AcqRel) {
            let id = self.id;
            self.token.host().with_session(|s, now| s.close_dependent(id, now));
        }
    }

    fn end_close(&self, finished: bool) {
        if !finished {
            // Out of budget (Vault unreachable): leave without the revocations.
            let id = self.id;
            self.token.host().with_session(|s, now| s.remove_dependent(id, now));
            self.token.host().unregister(id);
        }
        self.slot.mark_closed();
    }

    pub(crate) async fn close(&self) {
        self.begin_close();
        let finished = self.slot.finished().await;
        self.end_close(finished);
    }

    pub(crate) fn close_blocking(&self) {
        self.begin_close();
        let finished = self.slot.finished_blocking();
        self.end_close(finished);
    }

    pub(crate) async fn ready(&self, timeout: Duration) -> Result<T, CredentialError> {
        self.slot.ready(timeout, || self.token.host().ensure_task()).await
    }

    pub(crate) fn ready_blocking(&self, timeout: Duration) -> Result<T, CredentialError> {
        self.slot.ready_blocking(timeout, || self.token.host().ensure_task())
    }

    /// Health from the session, or (once closed and gone) an empty one.
    pub(crate) fn health(
        &self,
        of: impl FnOnce(
            &tokenkeep_core::vault_session::VaultSession,
            tokenkeep_core::UnixTime,
        ) -> Option<tokenkeep_core::credential::Health>,
    ) -> CredentialHealth {
        self.token.host().peek(of).map_or_else(closed_health, CredentialHealth::from)
    }
}

impl<T> Drop for Dependent<T> {
    fn drop(&mut self) {
        // The backstop: the last handle is gone without a close. Leave the
        // session at once; nothing is revoked (a lease lives out its TTL).
        if !self.slot.is_closed() {
            let id = self.id;
            self.token.host().with_session(|s, now| s.remove_dependent(id, now));
            self.token.host().unregister(id);
        }
    }
}

fn closed_health() -> CredentialHealth {
    CredentialHealth {
        state: CredentialState::Empty,
        token_age_seconds: None,
        expires_in_seconds: None,
        next_refresh_in_seconds: None,
        last_refresh_ok: None,
        consecutive_failures: 0,
        last_error_code: None,
        version: None,
        in_flight: false,
    }
}

impl GaugeSource for Dependent<Arc<KvSecret>> {
    fn gauges(&self, out: &mut Vec<GaugeRow>) {
        let id = self.id;
        let health = self.health(|s, now| s.kv(id).map(|m| m.health(now)));
        telemetry::gauges(self.slot.kind, &self.slot.name, self.slot.read().0.is_ok(), &health, out);
    }
}

/// A KV v2 secret kept current by its token's task, which polls it with the
/// current [`VaultToken`]. A new version is a rotation: `current()` changes,
/// the replaced version stays in `previous()` for the grace window, and
/// `rotations()` moves. A 403 asks the token for one new login; the last
/// value read keeps being served meanwhile.
#[derive(Clone)]
pub struct VaultSecret {
    inner: Arc<Dependent<Arc<KvSecret>>>,
    /// The mount and path, normalised.
    names: Arc<(String, String)>,
}

impl fmt::Debug for VaultSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSecret").field("name", &self.name()).field("data", &"<redacted>").finish()
    }
}

impl fmt::Display for VaultSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault secret {}", self.name())
    }
}

impl VaultSecret {
    /// Follows the secret of `spec`, read with `token` (on its task); the
    /// first read happens as soon as the token has a value.
    pub fn start(token: &VaultToken, spec: &VaultSecretSpec) -> Result<VaultSecret, SpecError> {
        VaultSecret::start_with_listeners(token, spec, Listeners::default())
    }

    /// [`VaultSecret::start`] with callbacks registered before the first read can
    /// publish (see [`VaultToken::start_on_with_listeners`]).
    pub fn start_with_listeners(
        token: &VaultToken,
        spec: &VaultSecretSpec,
        listeners: Listeners,
    ) -> Result<VaultSecret, SpecError> {
        let plan = spec.validate()?;
        let slot = Arc::new(Slot::new(CredentialKind::VaultSecret, plan.name(), listeners));
        let credential = plan.credential.clone();
        let inner = Dependent::start(token, slot, DepSlot::Kv, |s, now| {
            s.add_kv(plan.mount.as_str(), plan.path.as_str(), credential, clock::seed(), now)
        })?;
        telemetry::register(&inner);
        let names = Arc::new((plan.mount.as_str().to_owned(), plan.path.as_str().to_owned()));
        Ok(VaultSecret { inner, names })
    }

    /// The KV mount and the path below it.
    pub fn mount_and_path(&self) -> (&str, &str) {
        (&self.names.0, &self.names.1)
    }

    /// `<mount>/<path>`, as logs, metrics and health name it.
    pub fn name(&self) -> &str {
        &self.inner.slot.name
    }

    /// The token it reads with.
    pub fn token(&self) -> &VaultToken {
        &self.inner.token
    }

    /// The latest version read (one atomic load).
    pub fn current(&self) -> Result<Arc<KvSecret>, CredentialError> {
        self.inner.current()
    }

    /// The version replaced by the last rotation, while its grace window lasts.
    pub fn previous(&self) -> Option<Arc<KvSecret>> {
        let id = self.inner.id;
        self.inner.token.host().peek(|s, now| s.kv(id).and_then(|m| m.previous(now)).cloned().map(Arc::new))
    }

    /// Waits (on any executor) until a version is available, at most `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<Arc<KvSecret>, CredentialError> {
        self.inner.ready(timeout).await
    }

    /// The blocking twin of [`VaultSecret::ready`].
    pub fn ready_blocking(&self, timeout: Duration) -> Result<Arc<KvSecret>, CredentialError> {
        self.inner.ready_blocking(timeout)
    }

    /// A health snapshot (`version` is the KV version held).
    pub fn health(&self) -> CredentialHealth {
        let id = self.inner.id;
        self.inner.health(|s, now| s.kv(id).map(|m| m.health(now)))
    }

    /// The KV machine's own health, for a keyring that merges it with its own.
    pub(crate) fn core_health(&self) -> Option<tokenkeep_core::credential::Health> {
        let id = self.inner.id;
        self.inner.token.host().peek(|s, now| s.kv(id).map(|m| m.health(now)))
    }

    /// Moves whenever a new version is obtained.
    pub fn rotations(&self) -> Rotations {
        self.inner.slot.rotations.clone()
    }

    /// Callbacks for this secret's `credential_*` events.
    pub fn events(&self) -> &Listeners {
        &self.inner.slot.listeners
    }

    /// Asks for a read now (rate-limited); `false` once closed.
    pub fn refresh(&self) -> bool {
        self.inner.refresh()
    }

    /// The service the secret is for refused it (401/403): read it again soon, rate-limited.
    pub fn report_unauthorized(&self) {
        self.inner.report_unauthorized()
    }

    /// Whether [`VaultSecret::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Stops polling. Idempotent; the future runs on any executor.
    pub async fn close(&self) {
        self.inner.close().await
    }

    /// The blocking twin of [`VaultSecret::close`].
    pub fn close_blocking(&self) {
        self.inner.close_blocking()
    }
}

super::impl_credential!(VaultSecret, {
    fn exposed_value(&self) -> Result<ExposedValue, CredentialError> {
        self.current().map(|s| ExposedValue(serde_json::Value::Object(s.data.clone())))
    }
});
