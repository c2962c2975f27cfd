//! Where handles run: an owned tokio runtime, a process-wide default that
//! starts lazily, and what keeps handles alive across `fork()`.
//!
//! Bindings construct handles from plain threads (a pyo3 method, a napi or
//! uniffi constructor), with no tokio runtime around them. [`Runtime::global`]
//! starts one on first use: two worker threads named `tokenkeep-*`, nothing
//! before the first handle. Rust services already inside tokio keep their
//! own: a handle started inside a runtime spawns its task there.
//!
//! `fork()` (gunicorn `--preload` forks after import) copies memory but no
//! threads: the child's copy of the runtime has no workers and every handle's
//! task is gone. The child notices, starts a fresh default runtime, and every
//! handle re-spawns its task there and resumes from the state it had (its
//! keys, its token). Detection is lazy (a process-id check on every slow path
//! and whenever a handle's state says its task is overdue) and can be made
//! immediate with [`after_fork_in_child`] (Python registers it with
//! `os.register_at_fork`).

use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// An owned multi-threaded tokio runtime for tokenkeep's background tasks.
/// Dropping it stops them (in the process that created it; a forked child
/// only forgets its copy, whose threads never existed there).
pub struct Runtime {
    tokio: Option<tokio::runtime::Runtime>,
    pid: u32,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("pid", &self.pid).finish_non_exhaustive()
    }
}

/// Worker threads of an owned runtime: the tasks only wait on timers and
/// sockets, and one thread can serve hundreds of sources.
const WORKER_THREADS: usize = 2;

impl Runtime {
    /// Starts a runtime with its own worker threads.
    pub fn new() -> std::io::Result<Runtime> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .max_blocking_threads(4)
            .thread_name("tokenkeep-worker")
            .enable_all()
            .build()?;
        Ok(Runtime { tokio: Some(tokio), pid: std::process::id() })
    }

    /// The process-wide default, started on first use and started again in a
    /// forked child.
    pub fn global() -> Arc<Runtime> {
        let mut slot = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        let pid = std::process::id();
        if let Some(rt) = slot.as_ref().filter(|rt| rt.pid == pid) {
            return rt.clone();
        }
        // The runtime cannot be built only when the OS refuses threads; then
        // nothing tokenkeep does can work, and saying so at once is best.
        let rt = Arc::new(Runtime::new().expect("tokenkeep: cannot start its runtime threads"));
        if let Some(old) = slot.replace(rt.clone()) {
            // A copy from before fork(): its threads do not exist here.
            std::mem::forget(old);
        }
        rt
    }

    /// Spawns `future` on this runtime.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(future)
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.tokio.as_ref().map(tokio::runtime::Runtime::handle).expect("runtime present until dropped")
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.tokio.take() {
            if rt_is_ours(self.pid) {
                rt.shutdown_timeout(Duration::from_secs(1));
            } else {
                std::mem::forget(rt);
            }
        }
    }
}

fn rt_is_ours(pid: u32) -> bool {
    std::process::id() == pid
}

static GLOBAL: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Where a handle's task runs.
#[derive(Clone, Debug)]
pub(crate) enum Place {
    /// The caller's tokio runtime (Rust services).
    Ambient(tokio::runtime::Handle),
    /// An owned runtime (given, or the process default).
    Owned(Arc<Runtime>),
}

impl Place {
    /// The ambient tokio runtime if there is one, else the process default.
    pub(crate) fn current() -> Place {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => Place::Ambient(h),
            Err(_) => Place::Owned(Runtime::global()),
        }
    }

    fn handle(&self) -> tokio::runtime::Handle {
        match self {
            Place::Ambient(h) => h.clone(),
            Place::Owned(rt) => rt.handle().clone(),
        }
    }
}

/// Something with a background task that must run again after a fork.
pub(crate) trait Respawn: Send + Sync {
    /// Re-spawns the task if the process changed since it was spawned.
    fn respawn_if_forked(&self);
}

static RESPAWN: Mutex<Vec<Weak<dyn Respawn>>> = Mutex::new(Vec::new());

/// Call in a forked child (Python: `os.register_at_fork(after_in_child=...)`)
/// to restart every live handle's task at once instead of on its next use.
pub fn after_fork_in_child() {
    let live: Vec<Arc<dyn Respawn>> = {
        let mut list = RESPAWN.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    for handle in live {
        handle.respawn_if_forked();
    }
}

/// The background task of one handle: spawned where the handle was made, and
/// again (on the new default runtime) when the process has forked.
pub(crate) struct Task {
    place: Mutex<(Place, u32)>,
    join: Mutex<Option<tokio::task::JoinHandle<()>>>,
    make: Box<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>,
}

impl Task {
    /// Starts `make()` now and registers for re-spawning after a fork.
    pub(crate) fn start<F, Fut>(place: Place, make: F) -> Arc<Task>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let task = Arc::new(Task {
            place: Mutex::new((place, std::process::id())),
            join: Mutex::new(None),
            make: Box::new(move || Box::pin(make())),
        });
        task.spawn_now();
        let weak: Weak<dyn Respawn> = Arc::downgrade(&(task.clone() as Arc<dyn Respawn>));
        let mut list = RESPAWN.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(weak);
        task
    }

    fn spawn_now(&self) {
        let handle = lock(&self.place).0.handle();
        let join = handle.spawn((self.make)());
        *lock(&self.join) = Some(join);
    }

    /// Takes the task's join handle (to await its end at close).
    pub(crate) fn take_join(&self) -> Option<tokio::task::JoinHandle<()>> {
        lock(&self.join).take()
    }
}

impl Respawn for Task {
    fn respawn_if_forked(&self) {
        let pid = std::process::id();
        {
            let mut place = lock(&self.place);
            if place.1 == pid {
                return;
            }
            // The old join handle belongs to a runtime with no threads here.
            if let Some(old) = lock(&self.join).take() {
                std::mem::forget(old);
            }
            *place = (Place::Owned(Runtime::global()), pid);
        }
        self.spawn_now();
    }
}

/// The wake-up of a handle's task, safe across `fork()`: a task parked on a
/// `Notify` in the parent stays registered in the child's copy of it (its
/// runtime is gone, its registration is not) and would swallow every
/// `notify_one` meant for the task that replaced it. A re-spawned task
/// starts with a fresh one ([`TaskWake::renew`]).
pub(crate) struct TaskWake(arc_swap::ArcSwap<tokio::sync::Notify>);

impl TaskWake {
    pub(crate) fn new() -> TaskWake {
        TaskWake(arc_swap::ArcSwap::from_pointee(tokio::sync::Notify::new()))
    }

    /// Wakes the task now, or at its next wait.
    pub(crate) fn notify(&self) {
        self.0.load().notify_one();
    }

    /// Resolves at the next [`TaskWake::notify`].
    pub(crate) fn notified(&self) -> tokio::sync::futures::OwnedNotified {
        self.0.load_full().notified_owned()
    }

    /// A fresh one, for a task spawned again in a forked child.
    pub(crate) fn renew(&self) {
        self.0.store(Arc::new(tokio::sync::Notify::new()));
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `future`, or `None` after `timeout`: works under any executor (a timer
/// on tokenkeep's runtime wakes it when the caller's executor has none).
pub(crate) async fn with_timeout<F: Future>(timeout: Duration, future: F) -> Option<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return tokio::time::timeout(timeout, future).await.ok();
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    Runtime::global().spawn(async move {
        tokio::time::sleep(timeout).await;
        let _ = tx.send(());
    });
    tokio::select! {
        out = future => Some(out),
        _ = rx => None,
    }
}
