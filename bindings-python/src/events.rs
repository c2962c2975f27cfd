//! Every event of a handle reaches the `tokenkeep` logger: the runtime's
//! listener queues it for the dispatcher thread, which hands it to
//! `tokenkeep._logging.emit` (the record's `extra` carries the event name and
//! its fields). Event fields are already sanitized by the runtime and never
//! hold a token or a secret.

use crate::dispatch;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tokenkeep::{Event, FieldValue, Listeners};

static EMIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Callbacks that forward every event to Python logging, for a handle to
/// start with (so its first event is not missed).
pub(crate) fn logging_listeners() -> Listeners {
    let listeners = Listeners::default();
    listeners.add(|event: &Event| {
        let event = event.clone();
        dispatch::run(move |py| {
            if let Err(e) = emit(py, &event) {
                e.write_unraisable(py, None);
            }
        });
    });
    listeners
}

fn emit(py: Python<'_>, event: &Event) -> PyResult<()> {
    let emit = EMIT.get_or_try_init(py, || py.import("tokenkeep._logging")?.getattr("emit").map(Bound::unbind))?;
    let fields = PyDict::new(py);
    for (name, value) in &event.fields {
        match value {
            FieldValue::Str(s) => fields.set_item(name, s)?,
            FieldValue::Int(n) => fields.set_item(name, n)?,
            FieldValue::Float(x) => fields.set_item(name, x)?,
            FieldValue::Bool(b) => fields.set_item(name, b)?,
            FieldValue::List(items) => fields.set_item(name, items)?,
        }
    }
    emit.bind(py).call1((
        event.name.as_str(),
        event.level.as_str(),
        event.source_kind.as_str(),
        event.source.as_str(),
        event.message.as_str(),
        fields,
    ))?;
    Ok(())
}
