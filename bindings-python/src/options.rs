//! Keyword arguments to the options spec: the Python objects are read by
//! serde straight into `tokenkeep::spec` types, which do every check and name
//! the field path of every error. Nothing is validated here.

use crate::errors;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pythonize::Depythonizer;
use serde::Deserialize;

/// The keyword arguments as one options dict: `None` means "not given" (the
/// spec's default), so `Verifier(audience=None)` is `Verifier()`.
pub(crate) fn merge<'py>(
    py: Python<'py>,
    named: &[(&str, Option<&Bound<'py, PyAny>>)],
    rest: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = PyDict::new(py);
    for (name, value) in named {
        if let Some(value) = value.filter(|v| !v.is_none()) {
            options.set_item(name, value)?;
        }
    }
    if let Some(rest) = rest {
        for (name, value) in rest.iter() {
            if !value.is_none() {
                options.set_item(name, value)?;
            }
        }
    }
    Ok(options)
}

/// Reads a spec type from Python objects (dicts, lists, str, int, float, bool).
pub(crate) fn read<T: for<'de> Deserialize<'de>>(py: Python<'_>, options: &Bound<'_, PyAny>) -> PyResult<T> {
    let mut de = Depythonizer::from_object(options);
    tokenkeep::spec::from_deserializer(&mut de).map_err(|e| errors::spec(py, &e))
}
