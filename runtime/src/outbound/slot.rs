//! What a handle publishes for lock-free readers: the value (one atomic
//! load), its rotations, its event listeners, and whether it was closed.

use super::{CLOSE_BUDGET, CredentialError, CredentialKind};
use crate::clock;
use crate::events::Listeners;
use crate::signal::Rotations;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::CredentialState;

/// The value a handle's task published last.
pub(crate) struct Published<T> {
    pub(crate) value: Option<T>,
    pub(crate) expires_at: Option<UnixTime>,
    /// The error to answer when there is no valid value.
    pub(crate) error: CredentialError,
    /// Whether the machine is `Fatal` (an expired value then answers `Fatal`).
    pub(crate) fatal: Option<&'static str>,
    /// When the task meant to look again: a reader finding this long past
    /// knows the task is gone (the process forked) and restarts it.
    pub(crate) due_at: Option<UnixTime>,
}

impl<T> Published<T> {
    pub(crate) fn empty(error: CredentialError) -> Self {
        Published { value: None, expires_at: None, error, fatal: None, due_at: None }
    }

    /// `value` (with its expiry) or, without one, `error`; `Fatal` from `state`.
    pub(crate) fn of(
        value: Result<(T, Option<UnixTime>), CredentialError>,
        state: CredentialState,
        last_error: Option<&'static str>,
        due_at: Option<UnixTime>,
    ) -> Self {
        let fatal = (state == CredentialState::Fatal).then(|| last_error.unwrap_or("fatal"));
        match value {
            Ok((v, expires_at)) => {
                Published { value: Some(v), expires_at, error: CredentialError::NotYetObtained, fatal, due_at }
            }
            Err(error) => Published { value: None, expires_at: None, error, fatal, due_at },
        }
    }
}

/// A task this late past its own deadline is not running.
const OVERDUE: Duration = Duration::from_secs(2);

pub(crate) struct Slot<T> {
    pub(crate) kind: CredentialKind,
    pub(crate) name: String,
    published: ArcSwap<Published<T>>,
    pub(crate) rotations: Rotations,
    pub(crate) listeners: Listeners,
    closed: AtomicBool,
    /// Moves once, when closing finished (revocations done or given up).
    pub(crate) finished: Rotations,
}

impl<T> Slot<T> {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl<T: Clone> Slot<T> {
    /// A slot whose callbacks are in place before its task can publish.
    pub(crate) fn new(kind: CredentialKind, name: String, listeners: Listeners) -> Slot<T> {
        Slot {
            kind,
            name,
            published: ArcSwap::from_pointee(Published::empty(CredentialError::NotYetObtained)),
            rotations: Rotations::new(),
            listeners,
            closed: AtomicBool::new(false),
            finished: Rotations::new(),
        }
    }

    /// The published value if still valid now; never one past its expiry.
    /// `Err(None)` means the task looks gone (see [`Published::due_at`]).
    pub(crate) fn read(&self) -> (Result<T, CredentialError>, bool) {
        let now = clock::now();
        let p = self.published.load();
        let overdue = p.due_at.is_some_and(|d| now > d + OVERDUE);
        let answer = match &p.value {
            Some(v) if p.expires_at.is_none_or(|e| now < e) => Ok(v.clone()),
            Some(_) => Err(match p.fatal {
                Some(cause) => CredentialError::Fatal { cause },
                None => CredentialError::Expired,
            }),
            None => Err(p.error),
        };
        (answer, overdue)
    }

    /// The published record, for reuse of an unchanged value.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Published<T>>> {
        self.published.load()
    }

    pub(crate) fn publish(&self, p: Published<T>) {
        if !self.is_closed() {
            self.published.store(Arc::new(p));
        }
    }

    /// Answers `closed` from now on and ends every wait; `true` the first time.
    pub(crate) fn mark_closed(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.published.store(Arc::new(Published::empty(CredentialError::Closed)));
        self.rotations.close();
        self.finished.bump();
        true
    }

    /// Waits (any executor) for a value, at most `timeout`; the last answer.
    pub(crate) async fn ready(&self, timeout: Duration, ensure: impl Fn()) -> Result<T, CredentialError> {
        ensure();
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.rotations.count();
            let (answer, _) = self.read();
            let left = deadline.saturating_duration_since(Instant::now());
            if answer.is_ok() || self.is_closed() || left.is_zero() {
                return answer;
            }
            // Rotations move on every new value; a second is the longest a
            // state change without one (an expiry) goes unseen here.
            self.rotations.wait(seen, left.min(Duration::from_secs(1))).await;
        }
    }

    /// The blocking twin of [`Slot::ready`].
    pub(crate) fn ready_blocking(&self, timeout: Duration, ensure: impl Fn()) -> Result<T, CredentialError> {
        ensure();
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.rotations.count();
            let (answer, _) = self.read();
            let left = deadline.saturating_duration_since(Instant::now());
            if answer.is_ok() || self.is_closed() || left.is_zero() {
                return answer;
            }
            self.rotations.wait_blocking(seen, left.min(Duration::from_secs(1)));
        }
    }

    /// Waits (any executor) until closing finished, at most the close budget.
    pub(crate) async fn finished(&self) -> bool {
        self.finished.wait(0, CLOSE_BUDGET).await.is_some() || self.finished.count() > 0
    }

    /// The blocking twin of [`Slot::finished`].
    pub(crate) fn finished_blocking(&self) -> bool {
        self.finished.wait_blocking(0, CLOSE_BUDGET).is_some()
    }
}
