//! One background task per key source. The task owns the I/O; the core's
//! cache decides; readers see an atomically swapped snapshot and never lock,
//! except to report a key miss.

use crate::clock;
use crate::http::HttpClient;
use crate::telemetry;
use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokenkeep_core::jwks::{CacheHealth, JwksCache, KeyMiss, KeySnapshot, MissDecision};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// Shared state of one key source: what readers see and how they reach the task.
pub(crate) struct KeyStore {
    pub(crate) name: String,
    snapshot: ArcSwap<KeySnapshot>,
    cache: Mutex<JwksCache>,
    wake: Notify,
    generation: watch::Sender<u64>,
    request_timeout: Duration,
}

impl KeyStore {
    pub(crate) fn new(name: String, cache: JwksCache) -> Arc<KeyStore> {
        let snapshot = cache.snapshot();
        let request_timeout = cache.config().request_timeout;
        Arc::new(KeyStore {
            name,
            snapshot: ArcSwap::new(snapshot),
            cache: Mutex::new(cache),
            wake: Notify::new(),
            generation: watch::Sender::new(0),
            request_timeout,
        })
    }

    /// The keys as of now: one atomic load.
    pub(crate) fn snapshot(&self) -> Arc<KeySnapshot> {
        self.snapshot.load_full()
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
        self.snapshot.store(snapshot);
        self.generation.send_replace(generation);
    }

    pub(crate) fn health(&self) -> CacheHealth {
        self.lock().health(clock::now())
    }

    /// Reports a miss; when the cache starts (or has) a fetch, waits for it to
    /// complete, bounded by the request timeout. Returns whether it waited for
    /// a new generation (the caller then checks once more and takes that answer).
    pub(crate) async fn resolve_miss(&self, miss: &KeyMiss) -> Result<(), tokenkeep_core::Rejection> {
        let decision = {
            let mut cache = self.lock();
            let decision = cache.handle_key_miss(miss, clock::now());
            telemetry::drain_jwks_events(&self.name, &mut cache);
            decision
        };
        match decision {
            MissDecision::Reject(r) => Err(r),
            MissDecision::WaitForGeneration(after) => {
                self.wake.notify_one();
                let mut rx = self.generation.subscribe();
                // A discovery source may need two requests (discovery, then JWKS).
                let budget = 2 * (self.request_timeout + Duration::from_secs(1));
                let _ = tokio::time::timeout(budget, rx.wait_for(|g| *g > after)).await;
                Ok(())
            }
        }
    }

    /// Waits until keys are usable or `deadline` passes; returns readiness.
    pub(crate) async fn ready(&self, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.generation.subscribe();
        loop {
            if self.snapshot().usable_keys(clock::now()).is_some() {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return self.snapshot().usable_keys(clock::now()).is_some();
            }
        }
    }
}

/// Drives one cache until `cancel` fires: timers, requests, responses, events.
pub(crate) async fn run(store: Arc<KeyStore>, client: HttpClient, cancel: CancellationToken) {
    loop {
        let (request, sleep_for) = {
            let mut cache = store.lock();
            cache.handle_timeout(clock::now());
            let request = cache.poll_request();
            telemetry::drain_jwks_events(&store.name, &mut cache);
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
            telemetry::drain_jwks_events(&store.name, &mut cache);
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
