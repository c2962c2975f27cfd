//! Rust futures as asyncio futures, without a thread pool.
//!
//! The runtime's futures run on any executor. The future is polled once on
//! the calling thread (GIL released): most verifications are done then, and
//! the asyncio future is returned already resolved. Otherwise it moves to
//! tokenkeep's runtime, and when it ends the dispatcher thread converts the
//! result and hands it to the event loop with `call_soon_threadsafe`; no
//! thread ever waits for it. Cancelling the asyncio future aborts the task.

use crate::dispatch;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;
use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// An asyncio future (of the running loop) for `future`; `convert` turns its
/// output into the Python result or exception, with the GIL.
pub(crate) fn spawn<'py, F, T, C>(py: Python<'py>, future: F, convert: C) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
    C: FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
{
    let get_running_loop = GET_RUNNING_LOOP
        .get_or_try_init(py, || py.import("asyncio")?.getattr("get_running_loop").map(Bound::unbind))?;
    let event_loop = get_running_loop.bind(py).call0()?;
    let target = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let mut future = Box::pin(future);
    let first = py.detach(|| future.as_mut().poll(&mut Context::from_waker(Waker::noop())));
    if let Poll::Ready(output) = first {
        settle(py, &target, convert(py, output));
        return Ok(target);
    }
    let loop_ref = event_loop.unbind();
    let target_ref = target.clone().unbind();
    let task = tokenkeep::Runtime::global().spawn(async move {
        let output = future.await;
        dispatch::run(move |py| {
            let outcome = convert(py, output);
            let (ok, value) = match outcome {
                Ok(v) => (true, v),
                Err(e) => (false, e.into_value(py).into_any()),
            };
            let resolve = match resolve_function(py) {
                Ok(f) => f,
                Err(e) => return e.write_unraisable(py, None),
            };
            // The loop may be closed by now: nobody is waiting any more.
            let _ = loop_ref
                .bind(py)
                .call_method1(pyo3::intern!(py, "call_soon_threadsafe"), (resolve, target_ref, ok, value));
        });
    });
    let abort = Mutex::new(Some(task.abort_handle()));
    let on_done = PyCFunction::new_closure(py, None, None, move |args, _kwargs| -> PyResult<()> {
        let done = args.get_item(0)?;
        if done.call_method0(pyo3::intern!(args.py(), "cancelled"))?.is_truthy()? {
            if let Some(handle) = abort.lock().unwrap_or_else(|p| p.into_inner()).take() {
                handle.abort();
            }
        }
        Ok(())
    })?;
    target.call_method1(pyo3::intern!(py, "add_done_callback"), (on_done,))?;
    Ok(target)
}

/// An already resolved asyncio future (for `__aenter__` and friends).
pub(crate) fn ready<'py>(py: Python<'py>, value: Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
    spawn(py, std::future::ready(()), move |_, ()| Ok(value))
}

fn settle(py: Python<'_>, target: &Bound<'_, PyAny>, outcome: PyResult<Py<PyAny>>) {
    let result = match outcome {
        Ok(value) => target.call_method1(pyo3::intern!(py, "set_result"), (value,)),
        Err(e) => target.call_method1(pyo3::intern!(py, "set_exception"), (e.into_value(py),)),
    };
    if let Err(e) = result {
        e.write_unraisable(py, Some(target));
    }
}

fn resolve_function(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    RESOLVE
        .get_or_try_init(py, || {
            let f = PyCFunction::new_closure(py, None, None, |args, _kwargs| -> PyResult<()> {
                let py = args.py();
                let target = args.get_item(0)?;
                // Cancelled (or otherwise settled) meanwhile: drop the result.
                if target.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
                    return Ok(());
                }
                let method = if args.get_item(1)?.is_truthy()? { "set_result" } else { "set_exception" };
                target.call_method1(method, (args.get_item(2)?,))?;
                Ok(())
            })?;
            Ok(f.into_any().unbind())
        })
        .map(|f| f.bind(py))
}
