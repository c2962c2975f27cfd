//! [`VaultLease`]: a dynamic (leased) secret such as `database/creds/<role>`,
//! read, renewed and replaced with a [`VaultToken`].

use super::session::DepSlot;
use super::slot::Slot;
use super::vault_secret::Dependent;
use super::{CredentialHealth, CredentialKind, ExposedValue, VaultToken, telemetry};
use crate::clock;
use crate::events::Listeners;
use crate::metrics_registry::{GaugeRow, GaugeSource};
use crate::signal::Rotations;
use crate::spec::{SpecError, VaultLeaseSpec};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokenkeep_core::credential::CredentialError;
use tokenkeep_core::vault::LeasedSecret;

impl GaugeSource for Dependent<Arc<LeasedSecret>> {
    fn gauges(&self, out: &mut Vec<GaugeRow>) {
        let id = self.id;
        let health = self.health(|s, now| s.lease(id).map(|m| m.health(now)));
        telemetry::gauges(self.slot.kind, &self.slot.name, self.slot.read().0.is_ok(), &health, out);
    }
}

/// A leased credential (a database username and password from
/// `database/creds/<role>`) kept valid by its token's task: read with the
/// current [`VaultToken`], renewed through `sys/leases/renew` near two thirds
/// of its TTL, replaced by a new read when renewal stops extending it (the
/// lease's max TTL) and at once when the token that created it is replaced
/// (a lease dies with its token), the replaced one kept in `previous()` for
/// the grace window and then revoked; the ones held revoked on
/// [`VaultLease::close`] (unless the spec says `revoke_on_close: false`).
/// `rotations()` moves on every new credential so users can rebuild their
/// connection pool.
///
/// `Debug` never shows the credential.
#[derive(Clone)]
pub struct VaultLease {
    inner: Arc<Dependent<Arc<LeasedSecret>>>,
}

impl fmt::Debug for VaultLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultLease").field("name", &self.name()).field("secret", &"<redacted>").finish()
    }
}

impl fmt::Display for VaultLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vault lease {}", self.name())
    }
}

impl VaultLease {
    /// Holds the lease of `spec`, read with `token` (on its task); the first
    /// read happens as soon as the token has a value.
    pub fn start(token: &VaultToken, spec: &VaultLeaseSpec) -> Result<VaultLease, SpecError> {
        VaultLease::start_with_listeners(token, spec, Listeners::default())
    }

    /// [`VaultLease::start`] with callbacks registered before the first read can
    /// publish (see [`VaultToken::start_on_with_listeners`]).
    pub fn start_with_listeners(
        token: &VaultToken,
        spec: &VaultLeaseSpec,
        listeners: Listeners,
    ) -> Result<VaultLease, SpecError> {
        let plan = spec.validate()?;
        let slot = Arc::new(Slot::new(CredentialKind::VaultLease, plan.path.as_str().to_owned(), listeners));
        let inner = Dependent::start(token, slot, DepSlot::Lease, |s, now| {
            s.add_lease(plan.path.as_str(), plan.credential, plan.revoke_on_close, clock::seed(), now)
        })?;
        telemetry::register(&inner);
        Ok(VaultLease { inner })
    }

    /// The path read, as logs, metrics and health name it.
    pub fn name(&self) -> &str {
        &self.inner.slot.name
    }

    /// The token it reads with.
    pub fn token(&self) -> &VaultToken {
        &self.inner.token
    }

    /// The credential to use now (one atomic load): never one past its
    /// effective expiry (the earlier of the lease's and its creating token's).
    pub fn current(&self) -> Result<Arc<LeasedSecret>, CredentialError> {
        self.inner.current()
    }

    /// The credential replaced by the last rotation, while its grace window lasts.
    pub fn previous(&self) -> Option<Arc<LeasedSecret>> {
        let id = self.inner.id;
        self.inner.token.host().peek(|s, now| s.lease(id).and_then(|m| m.previous(now)).cloned().map(Arc::new))
    }

    /// Waits (on any executor) until a credential is available, at most `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<Arc<LeasedSecret>, CredentialError> {
        self.inner.ready(timeout).await
    }

    /// The blocking twin of [`VaultLease::ready`].
    pub fn ready_blocking(&self, timeout: Duration) -> Result<Arc<LeasedSecret>, CredentialError> {
        self.inner.ready_blocking(timeout)
    }

    /// A health snapshot (state, ages, next refresh, failures, last error code).
    pub fn health(&self) -> CredentialHealth {
        let id = self.inner.id;
        self.inner.health(|s, now| s.lease(id).map(|m| m.health(now)))
    }

    /// Moves whenever a new credential is read (or the one held expired), so
    /// users can rebuild their connection pool.
    pub fn rotations(&self) -> Rotations {
        self.inner.slot.rotations.clone()
    }

    /// Callbacks for this lease's `credential_*` events.
    pub fn events(&self) -> &Listeners {
        &self.inner.slot.listeners
    }

    /// Asks for a renewal now (rate-limited); `false` once closed.
    pub fn refresh(&self) -> bool {
        self.inner.refresh()
    }

    /// The service refused the credential (a database login failed): read a
    /// new one soon, rate-limited.
    pub fn report_unauthorized(&self) {
        self.inner.report_unauthorized()
    }

    /// Whether [`VaultLease::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Stops renewing and revokes every lease held (unless the spec says
    /// `revoke_on_close: false`), waiting for that (at most 15 s). Close it
    /// before its [`VaultToken`] is closed otherwise (the token's close
    /// closes it too). Idempotent; the future runs on any executor.
    pub async fn close(&self) {
        self.inner.close().await
    }

    /// The blocking twin of [`VaultLease::close`].
    pub fn close_blocking(&self) {
        self.inner.close_blocking()
    }
}

/// The lease's data with its own facts beside it, so a program can see which
/// lease it holds and for how long it was granted.
fn lease_value(lease: &LeasedSecret) -> Value {
    let mut object = lease.data.clone();
    object.insert("lease_id".into(), Value::from(lease.lease_id()));
    object.insert("lease_duration".into(), Value::from(lease.lease_duration.as_secs()));
    object.insert("renewable".into(), Value::from(lease.renewable));
    Value::Object(object)
}

super::impl_credential!(VaultLease, {
    fn exposed_value(&self) -> Result<ExposedValue, CredentialError> {
        self.current().map(|l| ExposedValue(lease_value(&l)))
    }
});
