//! The native part of the `tokenkeep` Python package (`tokenkeep._native`):
//! newtypes over the runtime's handles and conversions of their values, and
//! nothing else. Every rule (options, verification, health, retries, HTTP
//! statuses, when an outbound credential refreshes) is the runtime's.

#![deny(unsafe_code)]

mod asyncio;
mod bearer;
mod claims;
mod dispatch;
mod errors;
mod events;
mod fast;
mod options;
mod outbound;
mod rotations;
mod verifier;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The process-wide metrics of every handle, as plain tuples:
/// `[(name, help, kind, [(labels, value, count, [(le, cumulative)])])]`.
#[pyfunction]
fn metrics_snapshot(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    errors::guard(|| {
        let families = PyList::empty(py);
        for family in tokenkeep::metrics_snapshot().families {
            let samples = PyList::empty(py);
            for sample in &family.samples {
                let labels = PyDict::new(py);
                for (name, value) in &sample.labels {
                    labels.set_item(name, value)?;
                }
                samples.append((labels, sample.value, sample.count, sample.buckets.clone()))?;
            }
            families.append((family.name, family.help, family.kind.as_str(), samples))?;
        }
        Ok(families)
    })
}

/// Restarts every live handle's background task in a forked child
/// (registered with `os.register_at_fork` by the package).
#[pyfunction]
fn _after_fork_in_child() -> PyResult<()> {
    errors::guard(|| {
        dispatch::after_fork();
        tokenkeep::after_fork_in_child();
        Ok(())
    })
}

/// Called at interpreter exit: no more Python callbacks from tokenkeep's threads.
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    dispatch::stop(py);
}

/// Test-only: panics inside an entry point, to prove a panic surfaces as
/// `TokenkeepError` with code `internal_error`.
#[pyfunction]
fn _debug_panic() -> PyResult<()> {
    errors::guard(|| panic!("tokenkeep._native._debug_panic: a deliberate panic (test-only entry point)"))
}

#[pymodule(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<verifier::Verifier>()?;
    fast::install(m.py(), &m.py().get_type::<verifier::Verifier>())?;
    m.add_class::<rotations::RotationIterator>()?;
    m.add_class::<outbound::Secret>()?;
    m.add_class::<outbound::VaultToken>()?;
    m.add_class::<outbound::VaultSecret>()?;
    m.add_class::<outbound::VaultLease>()?;
    m.add_class::<outbound::FileToken>()?;
    m.add_class::<outbound::HmacKeyring>()?;
    m.add_function(wrap_pyfunction!(metrics_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_at_exit, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_panic, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The runtime's own lists, for tests that compare them with codes.json
    // and with the exception classes.
    m.add("REJECTION_CODES", tokenkeep::RejectionCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>())?;
    m.add("EVENT_NAMES", tokenkeep::events::EVENT_NAMES.to_vec())?;
    Ok(())
}
