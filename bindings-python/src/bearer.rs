//! `Verifier.authenticate` / `authenticate_async`: the runtime's bearer
//! authentication (`tokenkeep::Verifier::authenticate`) converted. The rules
//! (header parsing, granted scopes, status and challenge per outcome) are the
//! core's; this module only turns an `Authenticated` into `(claims, scopes)`
//! and a `Denial` into `tokenkeep.Denied`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use tokenkeep::Denial;

static DENIED: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `(claims, scopes)`: the claims object `verify` gives and the granted
/// scopes in the runtime's order (`scope`, then `scp`, each once).
pub(crate) fn admitted(py: Python<'_>, claims: Py<PyAny>, scopes: &[String]) -> PyResult<Py<PyAny>> {
    let scopes = PyList::new(py, scopes)?;
    Ok(PyTuple::new(py, [claims.into_bound(py), scopes.into_any()])?.into_any().unbind())
}

/// `tokenkeep.Denied(message, code, status, headers)`: the headers are the
/// denial's, under their HTTP names, as present (`WWW-Authenticate` for 401
/// and 403, `Retry-After` for 503). The token is never part of a denial.
pub(crate) fn denied(py: Python<'_>, denial: &Denial) -> PyErr {
    match denied_instance(py, denial) {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

fn denied_instance<'py>(py: Python<'py>, denial: &Denial) -> PyResult<Bound<'py, PyAny>> {
    let class = DENIED.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("tokenkeep._errors")?.getattr("Denied")?.cast_into::<PyType>()?.unbind())
    })?;
    let headers = PyDict::new(py);
    if let Some(challenge) = &denial.www_authenticate {
        headers.set_item("WWW-Authenticate", challenge)?;
    }
    if let Some(seconds) = denial.retry_after {
        headers.set_item("Retry-After", seconds.to_string())?;
    }
    let message = format!("request refused with {}: {}", denial.status, denial.error);
    class.bind(py).call1((message, denial.error, denial.status, headers))
}
