//! One background task per key source. The task owns the I/O; the core's
//! cache decides; readers see an atomically swapped snapshot and never lock,
//! except to report a key miss.

use crate::clock;
use crate::events::Listeners;
use crate::http::HttpClient;
use crate::signal::Rotations;
use crate::telemetry;
use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokenkeep_core::jwks::{CacheHealth, JwksCache, KeyMiss, KeySnapshot, MissDecision};
use tokio_util::sync::CancellationToken;

/// Shared state of one key source: what readers see and how they reach the task.
pub(crate) struct KeyStore {
    pub(crate) name: String,
    snapshot: ArcSwap<KeySnapshot>,
    cache: Mutex<JwksCache>,
    wake: crate::host::TaskWake,
    /// The snapshot generation, for readers waiting on a refetch.
    pub(crate) generation: Rotations,
    /// The verifier's rotation counter: moves when this store's keys change.
    key_rotations: Rotations,
    pub(crate) listeners: Listeners,
    request_timeout: Duration,
}

impl KeyStore {
    pub(crate) fn new(name: String, cache: JwksCache, key_rotations: Rotations, listeners: Listeners) -> Arc<KeyStore> {
        let snapshot = cache.snapshot();
        let request_timeout = cache.config().request_timeout;
        Arc::new(KeyStore {
            name,
            snapshot: ArcSwap::new(snapshot),
            cache: Mutex::new(cache),
            wake: crate::host::TaskWake::new(),
            generation: Rotations::new(),
            key_rotations,
            listeners,
            request_timeout,
        })
    }

    /// The keys as of now: one atomic load.
    pub(crate) fn snapshot(&self) -> Arc<KeySnapshot> {
        self.snapshot.load_full()
    }

    /// The current snapshot for the length of one verification, without
    /// touching its reference count (an atomic add and subtract on a count
    /// every verifying thread shares).
    pub(crate) fn snapshot_guard(&self) -> arc_swap::Guard<Arc<KeySnapshot>> {
        self.snapshot.load()
    }

    fn lock(&self) -> MutexGuard<'_, JwksCache> {
        // A panic while holding the lock cannot leave the cache half-updated in
        // a way that matters more than stopping verification would.
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes the cache's current snapshot and wakes waiters.
    fn publish(&self, cache: &JwksCache) {
        let snapshot = cache.snapshot();
        let generation = snapshot.generation();
        let keys_changed = {
            let old = self.snapshot.load();
            !same_keys(&old, &snapshot)
        };
        self.snapshot.store(snapshot);
        self.generation.raise_to(generation);
        if keys_changed {
            self.key_rotations.bump();
        }
    }

    fn drain_events(&self, cache: &mut JwksCache) {
        telemetry::drain_jwks_events(&self.name, cache, &self.listeners);
    }

    pub(crate) fn health(&self) -> CacheHealth {
        self.lock().health(clock::now())
    }

    /// What one reader's miss decided: answer now, or wait past a generation.
    pub(crate) fn decide_miss(&self, miss: &KeyMiss) -> MissDecision {
        let decision = {
            let mut cache = self.lock();
            let decision = cache.handle_key_miss(miss, clock::now());
            self.drain_events(&mut cache);
            decision
        };
        if matches!(decision, MissDecision::WaitForGeneration(_)) {
            self.wake.notify();
        }
        decision
    }

    /// How long a reader waits for a refetch: a discovery source may need two
    /// requests (discovery, then JWKS).
    pub(crate) fn miss_budget(&self) -> Duration {
        2 * (self.request_timeout + Duration::from_secs(1))
    }

    /// Asks for a fetch now, under the miss cooldown; whether one runs.
    pub(crate) fn request_refresh(&self) -> bool {
        let started = {
            let mut cache = self.lock();
            let started = cache.request_refresh(clock::now());
            self.drain_events(&mut cache);
            started
        };
        self.wake.notify();
        started
    }

    /// Whether keys are usable at `now`.
    pub(crate) fn is_ready(&self) -> bool {
        self.snapshot().usable_keys(clock::now()).is_some()
    }

    /// Forgets a request the task of a parent process had in flight (and
    /// the parent task's wake-up registration).
    pub(crate) fn forget_in_flight(&self) {
        self.wake.renew();
        self.lock().forget_in_flight(clock::now());
    }
}

fn same_keys(a: &KeySnapshot, b: &KeySnapshot) -> bool {
    match (a.keys(), b.keys()) {
        (Some(x), Some(y)) => {
            Arc::ptr_eq(x, y) || x.keys().iter().map(|k| k.handle()).eq(y.keys().iter().map(|k| k.handle()))
        }
        (None, None) => true,
        _ => false,
    }
}

/// Drives one cache until `cancel` fires: timers, requests, responses, events.
pub(crate) async fn run(store: Arc<KeyStore>, client: HttpClient, cancel: CancellationToken) {
    loop {
        let (request, sleep_for) = {
            let mut cache = store.lock();
            cache.handle_timeout(clock::now());
            let request = cache.poll_request();
            store.drain_events(&mut cache);
            telemetry::record_cache_gauges(&store.name, &cache.health(clock::now()));
            store.publish(&cache);
            let sleep_for = cache.poll_timeout().map_or(Duration::from_secs(3600), clock::until);
            (request, sleep_for)
        };
        if let Some(request) = request {
            let id = request.id;
            let outcome = tokio::select! {
                outcome = client.execute(request) => outcome,
                () = cancel.cancelled() => return,
            };
            let mut cache = store.lock();
            cache.handle_response(id, outcome, clock::now());
            store.drain_events(&mut cache);
            store.publish(&cache);
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(sleep_for) => {}
            () = store.wake.notified() => {}
            () = cancel.cancelled() => return,
        }
    }
}
