//! The one thread that runs Python code on behalf of the runtime.
//!
//! Events, rotation callbacks and the results of awaited futures are produced
//! on tokenkeep's worker threads (or on a verifying thread without the GIL).
//! Taking the GIL there would stall key refreshes behind whatever Python is
//! doing, so they are queued here and a dedicated thread (`tokenkeep-python`)
//! takes the GIL once per batch. It starts with the first job (importing
//! starts no thread), again in a forked child (threads do not survive
//! `fork()`), and stops taking the GIL once the interpreter is exiting.

use arc_swap::ArcSwapOption;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce(Python<'_>) + Send>;

struct Queue {
    pid: u32,
    sender: Sender<Job>,
}

/// Read without a lock on every job, so a `fork()` taken while another thread
/// queues can never leave the child waiting on a lock nobody will release.
static QUEUE: ArcSwapOption<Queue> = ArcSwapOption::const_empty();
/// Held only while a thread is started (once per process).
static STARTING: Mutex<()> = Mutex::new(());
static EXITING: AtomicBool = AtomicBool::new(false);
/// Set by the dispatcher thread before it checks `EXITING` and takes the
/// GIL, cleared after it gave it back: `stop` waits for it to clear, so no
/// thread is waiting for the GIL when the interpreter finalizes (CPython
/// before 3.14 ends such a thread with `pthread_exit`, whose forced unwind
/// through Rust frames aborts the process: "FATAL: exception not rethrown").
static BUSY: AtomicBool = AtomicBool::new(false);

/// Runs `job` with the GIL on the dispatcher thread, soon.
pub(crate) fn run(job: impl FnOnce(Python<'_>) + Send + 'static) {
    if EXITING.load(Ordering::SeqCst) {
        return;
    }
    let pid = std::process::id();
    let job: Job = Box::new(job);
    let job = match QUEUE.load().as_ref().filter(|q| q.pid == pid) {
        Some(queue) => match queue.sender.send(job) {
            Ok(()) => return,
            Err(returned) => returned.0,
        },
        None => job,
    };
    let _starting = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    // Another thread may have started it meanwhile.
    if let Some(queue) = QUEUE.load().as_ref().filter(|q| q.pid == pid) {
        if let Err(returned) = queue.sender.send(job) {
            drop(returned);
        }
        return;
    }
    let (sender, receiver) = channel::<Job>();
    let started = std::thread::Builder::new().name("tokenkeep-python".into()).spawn(move || serve(receiver));
    if started.is_err() {
        // No thread, no Python callbacks: the runtime keeps working without them.
        return;
    }
    let _ = sender.send(job);
    QUEUE.store(Some(Arc::new(Queue { pid, sender })));
}

fn serve(receiver: Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        // BUSY before EXITING is read, EXITING before BUSY is read in `stop`
        // (both SeqCst): either this thread sees EXITING, or `stop` sees BUSY
        // and waits, GIL released, for this batch to end.
        BUSY.store(true, Ordering::SeqCst);
        if EXITING.load(Ordering::SeqCst) {
            BUSY.store(false, Ordering::SeqCst);
            return;
        }
        Python::attach(|py| {
            run_one(py, first);
            while let Ok(next) = receiver.try_recv() {
                run_one(py, next);
            }
        });
        BUSY.store(false, Ordering::SeqCst);
    }
}

fn run_one(py: Python<'_>, job: Job) {
    // A job's own errors are reported by the job; a panic must not end the thread.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(py)));
}

/// Called from `atexit`: the interpreter is going away, so the dispatcher
/// must not take the GIL again (a thread that does so during finalization is
/// ended by CPython mid-call).
pub(crate) fn stop(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    if BUSY.load(Ordering::SeqCst) {
        // The batch under way (or the GIL it waits for) ends once this thread
        // lets go of the GIL; bounded, in case a callback never returns.
        py.detach(|| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while BUSY.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
    }
}

/// In a forked child: the parent's dispatcher thread is gone, whatever it was doing.
pub(crate) fn after_fork() {
    BUSY.store(false, Ordering::SeqCst);
}
