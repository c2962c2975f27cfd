//! A handle's rotation counter for Python: a callback on every rotation (run
//! on the dispatcher thread), and an async iterator
//! (`async for n in handle.rotations(): ...`) that ends when the handle closes.

use crate::{asyncio, dispatch, errors};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokenkeep::{ListenerId, Rotations};

/// Whether the handle that owns a counter was closed.
pub(crate) type IsClosed = Arc<dyn Fn() -> bool + Send + Sync>;

/// One wait of the iterator: long, so an idle service wakes rarely; a
/// timeout just starts the next wait.
const WAIT_SLICE: Duration = Duration::from_secs(3600);

/// Calls `callback(count)` after every rotation; returns the id to remove it.
pub(crate) fn add_callback(rotations: &Rotations, callback: Py<PyAny>) -> u64 {
    let callback = Arc::new(callback);
    let ListenerId(id) = rotations.on_rotation(move |count| {
        let callback = callback.clone();
        dispatch::run(move |py| {
            if let Err(e) = callback.bind(py).call1((count,)) {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    });
    id
}

/// `async for count in handle.rotations()`: yields the counter after each
/// rotation (rotations that happen while the loop body runs are folded into
/// the next value), and stops when the handle is closed.
#[pyclass(frozen, module = "tokenkeep", name = "RotationIterator")]
pub(crate) struct RotationIterator {
    rotations: Rotations,
    is_closed: IsClosed,
    seen: Arc<AtomicU64>,
}

impl RotationIterator {
    pub(crate) fn new(rotations: Rotations, is_closed: IsClosed) -> RotationIterator {
        let seen = Arc::new(AtomicU64::new(rotations.count()));
        RotationIterator { rotations, is_closed, seen }
    }
}

#[pymethods]
impl RotationIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        errors::guard(|| {
            let rotations = self.rotations.clone();
            let is_closed = self.is_closed.clone();
            let seen = self.seen.clone();
            let wait = async move {
                loop {
                    let after = seen.load(Ordering::Acquire);
                    if is_closed() {
                        return None;
                    }
                    if let Some(count) = rotations.wait(after, WAIT_SLICE).await {
                        seen.fetch_max(count, Ordering::AcqRel);
                        return Some(count);
                    }
                }
            };
            asyncio::spawn(py, wait, |py, next| match next {
                Some(count) => Ok(count.into_pyobject(py)?.into_any().unbind()),
                None => Err(PyStopAsyncIteration::new_err(())),
            })
        })
    }

    /// The counter now.
    #[getter]
    fn count(&self) -> u64 {
        self.rotations.count()
    }

    fn __repr__(&self) -> String {
        format!("RotationIterator(count={})", self.rotations.count())
    }
}
