//! Errors as Python exceptions, by code: the classes live in
//! `tokenkeep/_errors.py` (so they can inherit from both `TokenkeepError` and
//! `ValueError`); this module only picks the class a code names and fills in
//! what the runtime said (message, code, HTTP status, Retry-After).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::panic::AssertUnwindSafe;
use tokenkeep::codes::HostErrorCode;
use tokenkeep::outbound::{CredentialError, HmacError};
use tokenkeep::spec::SpecError;
use tokenkeep::{Rejection, RejectionCode};

struct Classes {
    base: Py<PyType>,
    config: Py<PyType>,
    credential: Py<PyType>,
    hmac: Py<PyType>,
    rejection_by_code: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let module = py.import("tokenkeep._errors")?;
        Ok(Classes {
            base: module.getattr("TokenkeepError")?.cast_into::<PyType>()?.unbind(),
            config: module.getattr("ConfigError")?.cast_into::<PyType>()?.unbind(),
            credential: module.getattr("CredentialUnavailable")?.cast_into::<PyType>()?.unbind(),
            hmac: module.getattr("HmacError")?.cast_into::<PyType>()?.unbind(),
            rejection_by_code: module.getattr("REJECTION_CLASSES")?.unbind(),
        })
    })
}

fn build<'py>(make: impl FnOnce() -> PyResult<Bound<'py, PyAny>>) -> PyErr {
    match make() {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

/// A rejected token: the `Rejected` subclass named by its code.
pub(crate) fn rejection(py: Python<'_>, rejection: &Rejection) -> PyErr {
    let code = rejection.code();
    build(|| {
        let class = classes(py)?.rejection_by_code.bind(py).get_item(code.as_str())?;
        class.call1((rejection.to_string(), code.as_str(), code.http_status(), code.retry_after_secs()))
    })
}

/// A rejection the runtime did not make but a binding argument implies
/// (`None` as a token).
pub(crate) fn rejection_code(py: Python<'_>, code: RejectionCode, message: &str) -> PyErr {
    build(|| {
        let class = classes(py)?.rejection_by_code.bind(py).get_item(code.as_str())?;
        class.call1((message, code.as_str(), code.http_status(), code.retry_after_secs()))
    })
}

/// Options that are not acceptable: `ConfigError`, message = the spec
/// error's Display (field path first).
pub(crate) fn spec(py: Python<'_>, error: &SpecError) -> PyErr {
    build(|| classes(py)?.config.bind(py).call1((error.to_string(), error.code().as_str(), error.path())))
}

/// A bad argument of a call (not an option of the spec): `ConfigError` too.
pub(crate) fn argument(py: Python<'_>, name: &str, message: &str) -> PyErr {
    build(|| classes(py)?.config.bind(py).call1((format!("{name}: {message}"), "invalid_value", name)))
}

/// An error of the host surface itself (`closed`, `timeout`, `internal_error`).
pub(crate) fn host(py: Python<'_>, code: HostErrorCode, message: &str) -> PyErr {
    build(|| classes(py)?.base.bind(py).call1((message, code.as_str())))
}

/// An outbound handle with no value to give: `CredentialUnavailable`, code
/// one of `credential_error` (`not_yet_obtained`, `expired`, `fatal`, `closed`).
pub(crate) fn credential(py: Python<'_>, error: &CredentialError) -> PyErr {
    build(|| classes(py)?.credential.bind(py).call1((error.to_string(), error.code().as_str())))
}

/// A request signature that could not be made or did not verify: `HmacError`,
/// code one of `hmac`.
pub(crate) fn hmac(py: Python<'_>, error: &HmacError) -> PyErr {
    build(|| classes(py)?.hmac.bind(py).call1((error.to_string(), error.code())))
}

/// What a caught panic becomes.
pub(crate) fn internal(py: Python<'_>) -> PyErr {
    host(py, HostErrorCode::InternalError, "internal error in tokenkeep (a bug: please report it)")
}

/// Runs one entry point's body; a Rust panic becomes `TokenkeepError` with
/// code `internal_error` instead of pyo3's `PanicException` (a
/// `BaseException` that `except Exception` would not catch).
pub(crate) fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(_) => Err(Python::attach(internal)),
    }
}
