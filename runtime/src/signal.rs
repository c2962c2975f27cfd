//! A change counter every handle exposes (key-set generations, credential
//! rotations) that can be waited on from a plain thread, from any async
//! executor, or followed with a callback; no tokio type in its signatures.

use crate::host::lock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

type Listener = Arc<dyn Fn(u64) + Send + Sync>;

struct Inner {
    count: Mutex<u64>,
    cond: Condvar,
    watch: watch::Sender<u64>,
    closed: Mutex<bool>,
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
}

/// A counter that only grows: every rotation (a new credential, a new key
/// set) moves it by one. Clones share it.
#[derive(Clone)]
pub struct Rotations {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Rotations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotations").field("count", &self.count()).finish()
    }
}

/// Identifies a callback registered with [`Rotations::on_rotation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u64);

impl Default for Rotations {
    fn default() -> Self {
        Rotations::new()
    }
}

impl Rotations {
    /// A counter at zero.
    pub fn new() -> Rotations {
        Rotations {
            inner: Arc::new(Inner {
                count: Mutex::new(0),
                cond: Condvar::new(),
                watch: watch::Sender::new(0),
                closed: Mutex::new(false),
                listeners: Mutex::new(Vec::new()),
                next_listener: AtomicU64::new(1),
            }),
        }
    }

    /// The current count.
    pub fn count(&self) -> u64 {
        *lock(&self.inner.count)
    }

    /// Moves the counter by one, wakes every waiter and calls every callback
    /// (on the calling thread, after the new value is visible).
    pub(crate) fn bump(&self) -> u64 {
        let n = {
            let mut c = lock(&self.inner.count);
            *c += 1;
            *c
        };
        self.publish(n);
        n
    }

    /// Raises the counter to `n` if it is lower (key-set generations).
    pub(crate) fn raise_to(&self, n: u64) {
        {
            let mut c = lock(&self.inner.count);
            if *c >= n {
                return;
            }
            *c = n;
        }
        self.publish(n);
    }

    fn publish(&self, n: u64) {
        self.inner.cond.notify_all();
        self.inner.watch.send_replace(n);
        let listeners: Vec<Listener> = lock(&self.inner.listeners).iter().map(|(_, f)| f.clone()).collect();
        for f in listeners {
            // A panicking callback must not take the handle's task down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(n)));
        }
    }

    /// Ends every wait (the handle was closed).
    pub(crate) fn close(&self) {
        *lock(&self.inner.closed) = true;
        self.inner.cond.notify_all();
        lock(&self.inner.listeners).clear();
        // Waking async waiters: a send with the same value still notifies.
        let n = self.count();
        self.inner.watch.send_replace(n);
    }

    fn is_closed(&self) -> bool {
        *lock(&self.inner.closed)
    }

    /// Blocks the calling thread until the count exceeds `after`, or
    /// `timeout` passes, or the handle closes; the count then, if it moved.
    pub fn wait_blocking(&self, after: u64, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        let mut c = lock(&self.inner.count);
        loop {
            if *c > after {
                return Some(*c);
            }
            let now = Instant::now();
            if now >= deadline || self.is_closed() {
                return None;
            }
            c = self.inner.cond.wait_timeout(c, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Waits (on any executor) until the count exceeds `after`, or `timeout`
    /// passes, or the handle closes; the count then, if it moved.
    pub async fn wait(&self, after: u64, timeout: Duration) -> Option<u64> {
        let mut rx = self.inner.watch.subscribe();
        let wait = async {
            loop {
                let n = *rx.borrow_and_update();
                if n > after {
                    return Some(n);
                }
                if self.is_closed() || rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        crate::host::with_timeout(timeout, wait).await.flatten()
    }

    /// Calls `f` with the new count after every rotation, on a background
    /// thread, until [`Rotations::remove_listener`] or the handle closes.
    pub fn on_rotation(&self, f: impl Fn(u64) + Send + Sync + 'static) -> ListenerId {
        let id = self.inner.next_listener.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.listeners).push((id, Arc::new(f)));
        ListenerId(id)
    }

    /// Stops calling a callback.
    pub fn remove_listener(&self, id: ListenerId) {
        lock(&self.inner.listeners).retain(|(i, _)| *i != id.0);
    }
}
