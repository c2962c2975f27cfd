//! The two calls a service makes per request, `Verifier.verify(token)` and
//! `Verifier.verify_cached(token)`, entered the way CPython calls its own
//! methods. An abi3 wheel for CPython 3.9 gets pyo3's tuple-and-dict calling
//! convention (vectorcall is in the limited API only from 3.10), which
//! builds an argument tuple per call; every CPython this wheel loads in
//! (>= 3.9) also takes `METH_FASTCALL | METH_KEYWORDS` methods, so these two
//! are installed that way over pyo3's. A call with anything but the one
//! positional token (`now=`, `into=`, a wrong count) goes to pyo3's method,
//! kept as is, so arguments are parsed and reported exactly as before.
//! Same for the token's text: the str's own UTF-8 buffer, not a copy.
//!
//! The only unsafe code of the package is here.

#![allow(unsafe_code)]

use crate::errors;
use crate::verifier::Verifier;
use pyo3::Borrowed;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use std::ffi::{CStr, c_int};
use std::os::raw::c_char;

/// `METH_FASTCALL` (0x0080) and `METH_KEYWORDS` (0x0002): the values of
/// CPython's headers since 3.7 (pyo3-ffi names them only for 3.10+ abi3).
const METH_FASTCALL_KEYWORDS: c_int = 0x0080 | 0x0002;

type FastWithKeywords = unsafe extern "C" fn(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// pyo3's own methods, for every call the fast entry does not take.
static PYO3_VERIFY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PYO3_VERIFY_CACHED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Replaces `Verifier.verify` and `Verifier.verify_cached` with fastcall
/// methods (same names, same docs and signatures); called once at import.
pub(crate) fn install(py: Python<'_>, class: &Bound<'_, PyType>) -> PyResult<()> {
    install_one(py, class, c"verify", &PYO3_VERIFY, verify)?;
    install_one(py, class, c"verify_cached", &PYO3_VERIFY_CACHED, verify_cached)
}

fn install_one(
    py: Python<'_>,
    class: &Bound<'_, PyType>,
    name: &'static CStr,
    original: &PyOnceLock<Py<PyAny>>,
    entry: FastWithKeywords,
) -> PyResult<()> {
    let name_str = name.to_str().map_err(|_| pyo3::exceptions::PyValueError::new_err("method name"))?;
    let pyo3_method = class.getattr(name_str)?;
    // The docstring as pyo3 made it, with its text signature, so
    // `help()` and `inspect.signature` stay the same.
    let text_signature: Option<String> = pyo3_method.getattr("__text_signature__").ok().and_then(|s| s.extract().ok());
    let doc: Option<String> = pyo3_method.getattr("__doc__").ok().and_then(|s| s.extract().ok());
    let full_doc = match text_signature {
        Some(sig) => format!("{name_str}{sig}\n--\n\n{}", doc.unwrap_or_default()),
        None => doc.unwrap_or_default(),
    };
    let doc = std::ffi::CString::new(full_doc).unwrap_or_default();
    original.set(py, pyo3_method.unbind()).ok();
    // CPython keeps a pointer to the definition for the type's lifetime (the
    // process's): leaked once per method at import.
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        // SAFETY: a function pointer of the METH_FASTCALL | METH_KEYWORDS
        // shape stored in the union's PyCFunction slot, as C extensions do
        // (`(PyCFunction)(void(*)(void))f`); CPython casts it back by the flags.
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: unsafe { std::mem::transmute::<FastWithKeywords, ffi::PyCFunction>(entry) },
        },
        ml_flags: METH_FASTCALL_KEYWORDS,
        ml_doc: Box::leak(doc.into_boxed_c_str()).as_ptr(),
    }));
    // SAFETY: the type is a live type object (we hold it), the definition is
    // 'static; PyDescr_NewMethod returns a new reference or NULL with an
    // exception set.
    let descriptor = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(class.as_type_ptr(), std::ptr::from_mut(def)))?
    };
    class.setattr(name_str, descriptor)
}

unsafe extern "C" fn verify(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held and the arguments of a
    // METH_FASTCALL | METH_KEYWORDS method.
    unsafe { call(slf, args, nargs, kwnames, true) }
}

unsafe extern "C" fn verify_cached(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `verify`.
    unsafe { call(slf, args, nargs, kwnames, false) }
}

/// # Safety
/// The GIL is held; `slf` is a live object; `args` holds `nargs` positional
/// then `len(kwnames)` keyword values, all borrowed; `kwnames` is NULL or a
/// tuple of str.
unsafe fn call(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    wait: bool,
) -> *mut ffi::PyObject {
    // SAFETY: CPython holds the GIL for the duration of a method call.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: borrowed references valid for this call (see the contract).
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let positional: &[*mut ffi::PyObject] =
        if nargs <= 0 { &[] } else { unsafe { std::slice::from_raw_parts(args, nargs as usize) } };
    let keywords = if kwnames.is_null() { None } else { Some(unsafe { Bound::from_borrowed_ptr(py, kwnames) }) };
    let keyword_count = keywords.as_ref().map_or(0, |k| k.len().unwrap_or(0));
    let values = if keyword_count == 0 {
        &[][..]
    } else {
        // SAFETY: the keyword values follow the positional ones.
        unsafe { std::slice::from_raw_parts(args.add(positional.len()), keyword_count) }
    };
    // A panic never unwinds into CPython: internal_error, as everywhere.
    let result = errors::guard(|| {
        if let ([token], 0, Ok(verifier)) = (positional, keyword_count, slf.cast::<Verifier>()) {
            // SAFETY: a borrowed reference held by the caller for the call.
            let token = unsafe { Borrowed::from_ptr(py, *token) };
            return verifier.get().check(py, &token, None, None, wait);
        }
        pyo3_call(py, &slf, positional, keywords.as_ref(), values, wait)
    });
    match result {
        Ok(value) => value.into_ptr(),
        Err(error) => {
            error.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Any other call: pyo3's method with the same arguments.
fn pyo3_call(
    py: Python<'_>,
    slf: &Bound<'_, PyAny>,
    positional: &[*mut ffi::PyObject],
    keywords: Option<&Bound<'_, PyAny>>,
    values: &[*mut ffi::PyObject],
    wait: bool,
) -> PyResult<Py<PyAny>> {
    let original = if wait { &PYO3_VERIFY } else { &PYO3_VERIFY_CACHED };
    let original = original.get(py).ok_or_else(|| errors::internal(py))?;
    // SAFETY: borrowed references held by the caller for the call.
    let borrowed = |p: &*mut ffi::PyObject| unsafe { Bound::from_borrowed_ptr(py, *p) };
    let mut all = Vec::with_capacity(positional.len() + 1);
    all.push(slf.clone());
    all.extend(positional.iter().map(borrowed));
    let args = PyTuple::new(py, all)?;
    let kwargs = PyDict::new(py);
    if let Some(keywords) = keywords {
        for (name, value) in keywords.try_iter()?.zip(values.iter().map(borrowed)) {
            kwargs.set_item(name?, value)?;
        }
    }
    original.bind(py).call(args, Some(&kwargs)).map(Bound::unbind)
}

#[cfg(not(windows))]
unsafe extern "C" {
    /// In every CPython's exported symbols (the limited API lists it from
    /// 3.10, CPython 3.9 has and exports it too); not on Windows, where an
    /// abi3 module links against python3.dll's limited list only.
    fn PyUnicode_AsUTF8AndSize(unicode: *mut ffi::PyObject, size: *mut ffi::Py_ssize_t) -> *const c_char;
}

/// The str's UTF-8 text without copying it (None: lone surrogates, which
/// the caller handles, or a platform without the call).
pub(crate) fn utf8<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    #[cfg(not(windows))]
    {
        let mut size: ffi::Py_ssize_t = 0;
        // SAFETY: `s` is a live str; the buffer it returns lives as long as
        // the str (kept alive by `s` for 'a) and str objects never change.
        let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
        if data.is_null() {
            // Not encodable (lone surrogates): forget the UnicodeEncodeError.
            // SAFETY: the GIL is held (we hold a Bound).
            unsafe { ffi::PyErr_Clear() };
            return None;
        }
        // SAFETY: CPython's UTF-8 buffer of the str, `size` bytes; CPython
        // only makes it from a successful strict UTF-8 encoding.
        Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), size as usize)) })
    }
    #[cfg(windows)]
    {
        let _ = s;
        None
    }
}
