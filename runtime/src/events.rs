//! Events as plain data: what a host logger (Python `logging`, a Node
//! EventEmitter, a Kotlin listener) receives, by the runbook's names. The
//! same events also go to `tracing`; nothing in them is ever a token, a key
//! or a secret, and attacker-chosen strings (kids, issuers) are sanitized and
//! truncated.

use crate::host::lock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How much an event matters, as loggers rank it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Routine detail (a 304, an attempt started).
    Debug,
    /// Normal operation (keys refreshed, a token renewed).
    Info,
    /// Something failed but is handled (a refresh failed, serving stale keys).
    Warn,
    /// Service is affected (no usable keys, a credential expired).
    Error,
}

impl Level {
    /// `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// Text (already sanitized).
    Str(String),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// A flag.
    Bool(bool),
    /// A list of texts (already sanitized).
    List(Vec<String>),
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::Str(s.to_owned())
    }
}
impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::Str(s)
    }
}
impl From<u64> for FieldValue {
    fn from(n: u64) -> Self {
        FieldValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<u32> for FieldValue {
    fn from(n: u32) -> Self {
        FieldValue::Int(i64::from(n))
    }
}
impl From<usize> for FieldValue {
    fn from(n: usize) -> Self {
        FieldValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<f64> for FieldValue {
    fn from(n: f64) -> Self {
        FieldValue::Float(n)
    }
}
impl From<bool> for FieldValue {
    fn from(b: bool) -> Self {
        FieldValue::Bool(b)
    }
}
impl From<Vec<String>> for FieldValue {
    fn from(v: Vec<String>) -> Self {
        FieldValue::List(v)
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Stable name: `jwks_refreshed`, `jwks_refresh_failed`, `jwt_validation_failed`,
    /// `credential_renewed`, … (all listed in `tests/vectors/codes.json`).
    pub name: String,
    /// Its level.
    pub level: Level,
    /// The kind of source: `jwks`, `verifier`, `vault_token`, `vault_secret`,
    /// `vault_lease`, `file_token`, `hmac_keyring`.
    pub source_kind: String,
    /// Which one: the issuer, or the credential's name.
    pub source: String,
    /// A one-line human message (no values in it; they are in `fields`).
    pub message: String,
    /// Structured fields (`key_count`, `reason`, `kid`, `error`, …).
    pub fields: BTreeMap<String, FieldValue>,
}

impl Event {
    pub(crate) fn new(name: &str, level: Level, source_kind: &str, source: &str, message: &str) -> Event {
        Event {
            name: name.to_owned(),
            level,
            source_kind: source_kind.to_owned(),
            source: source.to_owned(),
            message: message.to_owned(),
            fields: BTreeMap::new(),
        }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<FieldValue>) -> Event {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn with_opt(self, key: &str, value: Option<impl Into<FieldValue>>) -> Event {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Callbacks registered on one handle.
#[derive(Clone, Default)]
pub struct Listeners {
    inner: Arc<ListenersInner>,
}

#[derive(Default)]
struct ListenersInner {
    list: Mutex<Vec<(u64, Listener)>>,
    count: AtomicUsize,
    next: AtomicU64,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners").field("count", &self.inner.count.load(Ordering::Relaxed)).finish()
    }
}

/// Identifies an event callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventListenerId(pub u64);

impl Listeners {
    /// Adds a callback; it runs on the thread that produced the event (a
    /// background thread, or the verifying thread for `jwt_validation_failed`).
    pub fn add(&self, f: impl Fn(&Event) + Send + Sync + 'static) -> EventListenerId {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut list = lock(&self.inner.list);
        list.push((id, Arc::new(f)));
        self.inner.count.store(list.len(), Ordering::Release);
        EventListenerId(id)
    }

    /// Removes a callback.
    pub fn remove(&self, id: EventListenerId) {
        let mut list = lock(&self.inner.list);
        list.retain(|(i, _)| *i != id.0);
        self.inner.count.store(list.len(), Ordering::Release);
    }

    /// Removes every callback.
    pub fn clear(&self) {
        let mut list = lock(&self.inner.list);
        list.clear();
        self.inner.count.store(0, Ordering::Release);
    }

    /// Whether anyone listens (so producers skip building events nobody reads).
    pub fn any(&self) -> bool {
        self.inner.count.load(Ordering::Acquire) > 0
    }

    /// Calls every callback with `event`.
    pub(crate) fn emit(&self, event: &Event) {
        if !self.any() {
            return;
        }
        let list: Vec<Listener> = lock(&self.inner.list).iter().map(|(_, f)| f.clone()).collect();
        for f in list {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(event)));
        }
    }
}

/// Every event name the runtime produces, for `codes.json`.
pub const EVENT_NAMES: &[&str] = &[
    "jwks_refreshed",
    "jwks_not_modified",
    "jwks_refresh_failed",
    "jwks_stale",
    "jwks_expired",
    "oidc_discovered",
    "jwt_validation_failed",
    "credential_state_changed",
    "credential_attempt_started",
    "credential_obtained",
    "credential_rotated",
    "credential_renewed",
    "credential_no_progress",
    "credential_attempt_failed",
    "credential_gone",
    "credential_fatal",
    "credential_token_rejected",
    "credential_expired",
    "credential_previous_retired",
    "credential_abandoned",
    "credential_revoked",
    "credential_revoke_failed",
];
