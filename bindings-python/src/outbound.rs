//! The outbound handles for Python (`tokenkeep.VaultToken`, `VaultSecret`,
//! `VaultLease`, `FileToken`, `HmacKeyring`) and `tokenkeep.Secret`: frozen
//! newtypes over the runtime's handles, started from the runtime's specs
//! (keyword arguments read by serde, like the Verifier's options). Every rule
//! (when to refresh, retries, health, revocation) is the runtime's; the
//! methods shared by every kind go through its `Credential` trait.

use crate::rotations::{self, RotationIterator};
use crate::verifier::duration;
use crate::{asyncio, errors, events, options};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyTuple};
use std::sync::Arc;
use tokenkeep::outbound::{Credential, CredentialError, CredentialHealth, SecretToken, Signature};
use tokenkeep::spec::{FileTokenSpec, HmacKeyringSpec, VaultLeaseSpec, VaultSecretSpec, VaultTokenSpec};

/// A secret string (a Vault token, a JWT): `repr` and `str` never show it,
/// `get_secret_value()` does (pydantic's `SecretStr` convention).
#[pyclass(frozen, module = "tokenkeep", name = "Secret")]
pub(crate) struct Secret {
    value: Arc<str>,
}

impl Secret {
    fn from_token(token: &SecretToken) -> Secret {
        Secret { value: Arc::from(token.expose()) }
    }
}

#[pymethods]
impl Secret {
    #[new]
    fn new(value: String) -> Secret {
        Secret { value: Arc::from(value) }
    }

    /// The secret itself, for where it goes on the wire.
    fn get_secret_value(&self) -> &str {
        &self.value
    }

    fn __repr__(&self) -> &'static str {
        "Secret('**********')"
    }

    fn __str__(&self) -> &'static str {
        "**********"
    }

    fn __len__(&self) -> usize {
        self.value.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Secret>().is_ok_and(|o| o.get().value == self.value)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.value.hash(&mut h);
        h.finish()
    }
}

/// What `current()` gives for each kind: a token as `Secret`, KV and lease
/// data as a dict of plain values (the runtime's exposed value), a keyring's
/// current key version (its secrets never leave it: `sign`/`verify`).
trait CurrentValue {
    fn current_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

fn unavailable(py: Python<'_>) -> impl FnOnce(CredentialError) -> PyErr + '_ {
    move |e| errors::credential(py, &e)
}

fn token_value(py: Python<'_>, token: Result<SecretToken, CredentialError>) -> PyResult<Py<PyAny>> {
    let token = token.map_err(unavailable(py))?;
    Ok(Py::new(py, Secret::from_token(&token))?.into_any())
}

fn exposed_value(py: Python<'_>, handle: &dyn Credential) -> PyResult<Py<PyAny>> {
    let value = handle.exposed_value().map_err(unavailable(py))?;
    Ok(pythonize::pythonize(py, value.expose()).map_err(PyErr::from)?.unbind())
}

impl CurrentValue for tokenkeep::outbound::VaultToken {
    fn current_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        token_value(py, self.current())
    }
}

impl CurrentValue for tokenkeep::outbound::FileToken {
    fn current_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        token_value(py, self.current())
    }
}

impl CurrentValue for tokenkeep::outbound::VaultSecret {
    fn current_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        exposed_value(py, self)
    }
}

impl CurrentValue for tokenkeep::outbound::VaultLease {
    fn current_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        exposed_value(py, self)
    }
}

impl CurrentValue for tokenkeep::outbound::HmacKeyring {
    fn current_value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let version = self.current().map_err(unavailable(py))?;
        Ok(version.into_pyobject(py)?.into_any().unbind())
    }
}

fn health_dict<'py>(py: Python<'py>, handle: &dyn Credential) -> PyResult<Bound<'py, PyDict>> {
    let h: CredentialHealth = handle.health();
    let d = PyDict::new(py);
    d.set_item("kind", handle.kind().as_str())?;
    d.set_item("name", handle.name())?;
    d.set_item("state", h.state.as_str())?;
    d.set_item("token_age_seconds", h.token_age_seconds)?;
    d.set_item("expires_in_seconds", h.expires_in_seconds)?;
    d.set_item("next_refresh_in_seconds", h.next_refresh_in_seconds)?;
    d.set_item("last_refresh_ok", h.last_refresh_ok)?;
    d.set_item("consecutive_failures", h.consecutive_failures)?;
    d.set_item("last_error_code", h.last_error_code)?;
    d.set_item("version", h.version)?;
    d.set_item("in_flight", h.in_flight)?;
    Ok(d)
}

fn py_bool(py: Python<'_>, b: bool) -> Py<PyAny> {
    PyBool::new(py, b).to_owned().into_any().unbind()
}

/// The methods every outbound class has, over the runtime's `Credential`
/// trait (and each handle's own `ready`/`close` futures), plus `$extra`
/// (the constructor, kind-specific methods).
macro_rules! credential_class {
    ($ty:ident, $label:literal, { $($extra:tt)* }) => {
        #[pymethods]
        impl $ty {
            $($extra)*

            /// The value to use now: `Secret` for a token, a dict for KV or
            /// lease data, the key version for a keyring. Raises
            /// `CredentialUnavailable` (never a stale value).
            fn current(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                errors::guard(|| self.inner.current_value(py))
            }

            /// A health snapshot (state, ages, next refresh, failures, last error code).
            fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                errors::guard(|| health_dict(py, &self.inner))
            }

            /// Waits (GIL released) until a value is available, or `timeout`
            /// seconds; True when one is.
            #[pyo3(signature = (timeout=5.0))]
            fn ready(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
                errors::guard(|| {
                    let timeout = duration(py, "timeout", timeout)?;
                    Ok(py.detach(|| Credential::wait_ready_blocking(&self.inner, timeout)))
                })
            }

            /// `ready` as an asyncio awaitable.
            #[pyo3(signature = (timeout=5.0))]
            fn ready_async<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
                errors::guard(|| {
                    let timeout = duration(py, "timeout", timeout)?;
                    let handle = self.inner.clone();
                    asyncio::spawn(py, async move { handle.ready(timeout).await.is_ok() }, |py, ready| {
                        Ok(py_bool(py, ready))
                    })
                })
            }

            /// Asks for a refresh now (rate-limited by the runtime); False once closed.
            fn refresh(&self) -> PyResult<bool> {
                errors::guard(|| Ok(Credential::refresh(&self.inner)))
            }

            /// The upstream answered 401/403 to a request made with the
            /// current value: the runtime refreshes it (rate-limited).
            fn report_unauthorized(&self) -> PyResult<()> {
                errors::guard(|| {
                    Credential::report_unauthorized(&self.inner);
                    Ok(())
                })
            }

            /// Stops it (GIL released), revoking what its options say to
            /// revoke, and waits for that (at most 15 s). Idempotent.
            fn close(&self, py: Python<'_>) -> PyResult<()> {
                errors::guard(|| {
                    py.detach(|| Credential::close_blocking(&self.inner));
                    Ok(())
                })
            }

            /// Whether `close()` was called.
            #[getter]
            fn closed(&self) -> bool {
                Credential::is_closed(&self.inner)
            }

            /// Its name in logs, metrics and health.
            #[getter]
            fn name(&self) -> String {
                Credential::name(&self.inner)
            }

            /// Its kind (`vault_token`, `vault_secret`, `vault_lease`, `file_token`, `hmac_keyring`).
            #[getter]
            fn kind(&self) -> &'static str {
                Credential::kind(&self.inner).as_str()
            }

            /// `async for n in handle.rotations()`: the rotation counter after
            /// each new value; ends when the handle closes.
            fn rotations(&self) -> RotationIterator {
                let handle = self.inner.clone();
                RotationIterator::new(Credential::rotations(&self.inner), Arc::new(move || Credential::is_closed(&handle)))
            }

            /// Calls `callback(count)` after each new value (on tokenkeep's
            /// callback thread); returns an id for `remove_rotation_callback`.
            fn on_rotation(&self, callback: Py<PyAny>) -> PyResult<u64> {
                errors::guard(|| Ok(rotations::add_callback(&Credential::rotations(&self.inner), callback)))
            }

            /// Stops calling a callback added with `on_rotation`.
            fn remove_rotation_callback(&self, id: u64) {
                Credential::rotations(&self.inner).remove_listener(tokenkeep::ListenerId(id));
            }

            fn __enter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            #[pyo3(signature = (*_exc))]
            fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
                self.close(py)?;
                Ok(false)
            }

            fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                let py = slf.py();
                asyncio::ready(py, slf.into_any().unbind())
            }

            #[pyo3(signature = (*_exc))]
            fn __aexit__<'py>(&self, py: Python<'py>, _exc: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
                errors::guard(|| {
                    let handle = self.inner.clone();
                    asyncio::spawn(py, async move { handle.close().await }, |py, ()| Ok(py_bool(py, false)))
                })
            }

            fn __repr__(&self) -> String {
                let state = Credential::health(&self.inner).state;
                let closed = if Credential::is_closed(&self.inner) { ", closed" } else { "" };
                format!("{}(name={:?}, state={:?}{closed})", $label, Credential::name(&self.inner), state.as_str())
            }
        }
    };
}

fn spec<T: for<'de> serde::Deserialize<'de>>(
    py: Python<'_>,
    named: &[(&str, Option<&Bound<'_, PyAny>>)],
    rest: Option<&Bound<'_, PyDict>>,
) -> PyResult<T> {
    let merged = options::merge(py, named, rest)?;
    options::read(py, merged.as_any())
}

/// A Vault/OpenBao token obtained by JWT login, renewed and replaced in the background.
#[pyclass(frozen, module = "tokenkeep", name = "VaultToken")]
pub(crate) struct VaultToken {
    inner: tokenkeep::outbound::VaultToken,
}

credential_class!(VaultToken, "VaultToken", {
    #[new]
    #[pyo3(signature = (role=None, **options))]
    fn new(py: Python<'_>, role: Option<Bound<'_, PyAny>>, options: Option<Bound<'_, PyDict>>) -> PyResult<VaultToken> {
        errors::guard(|| {
            let spec: VaultTokenSpec = spec(py, &[("role", role.as_ref())], options.as_ref())?;
            let inner = tokenkeep::outbound::VaultToken::start_on_with_listeners(
                &tokenkeep::Runtime::global(),
                &spec,
                None,
                events::logging_listeners(),
            )
            .map_err(|e| errors::spec(py, &e))?;
            Ok(VaultToken { inner })
        })
    }
});

/// A KV v2 secret read with a `VaultToken`, polled; a new version is a rotation.
#[pyclass(frozen, module = "tokenkeep", name = "VaultSecret")]
pub(crate) struct VaultSecret {
    inner: tokenkeep::outbound::VaultSecret,
}

credential_class!(VaultSecret, "VaultSecret", {
    #[new]
    #[pyo3(signature = (token, mount=None, path=None, **options))]
    fn new(
        py: Python<'_>,
        token: PyRef<'_, VaultToken>,
        mount: Option<Bound<'_, PyAny>>,
        path: Option<Bound<'_, PyAny>>,
        options: Option<Bound<'_, PyDict>>,
    ) -> PyResult<VaultSecret> {
        errors::guard(|| {
            let spec: VaultSecretSpec =
                spec(py, &[("mount", mount.as_ref()), ("path", path.as_ref())], options.as_ref())?;
            let inner = tokenkeep::outbound::VaultSecret::start_with_listeners(
                &token.inner,
                &spec,
                events::logging_listeners(),
            )
            .map_err(|e| errors::spec(py, &e))?;
            Ok(VaultSecret { inner })
        })
    }
});

/// A dynamic credential (`database/creds/<role>`) read with a `VaultToken`:
/// renewed, replaced before its max TTL, revoked after the grace window.
#[pyclass(frozen, module = "tokenkeep", name = "VaultLease")]
pub(crate) struct VaultLease {
    inner: tokenkeep::outbound::VaultLease,
}

credential_class!(VaultLease, "VaultLease", {
    #[new]
    #[pyo3(signature = (token, path=None, **options))]
    fn new(
        py: Python<'_>,
        token: PyRef<'_, VaultToken>,
        path: Option<Bound<'_, PyAny>>,
        options: Option<Bound<'_, PyDict>>,
    ) -> PyResult<VaultLease> {
        errors::guard(|| {
            let spec: VaultLeaseSpec = spec(py, &[("path", path.as_ref())], options.as_ref())?;
            let inner =
                tokenkeep::outbound::VaultLease::start_with_listeners(&token.inner, &spec, events::logging_listeners())
                    .map_err(|e| errors::spec(py, &e))?;
            Ok(VaultLease { inner })
        })
    }
});

/// A rotating token file (a Kubernetes projected service-account token, a JWT-SVID).
#[pyclass(frozen, module = "tokenkeep", name = "FileToken")]
pub(crate) struct FileToken {
    inner: tokenkeep::outbound::FileToken,
}

credential_class!(FileToken, "FileToken", {
    #[new]
    #[pyo3(signature = (path=None, **options))]
    fn new(py: Python<'_>, path: Option<Bound<'_, PyAny>>, options: Option<Bound<'_, PyDict>>) -> PyResult<FileToken> {
        errors::guard(|| {
            let spec: FileTokenSpec = spec(py, &[("path", path.as_ref())], options.as_ref())?;
            let inner = tokenkeep::outbound::FileToken::start_on_with_listeners(
                &tokenkeep::Runtime::global(),
                &spec,
                events::logging_listeners(),
            )
            .map_err(|e| errors::spec(py, &e))?;
            Ok(FileToken { inner })
        })
    }
});

/// HMAC request signing with a rotating secret (a KV field read with a
/// `VaultToken`, or a file); the previous secret verifies for the grace window.
#[pyclass(frozen, module = "tokenkeep", name = "HmacKeyring")]
pub(crate) struct HmacKeyring {
    inner: tokenkeep::outbound::HmacKeyring,
}

credential_class!(HmacKeyring, "HmacKeyring", {
    #[new]
    #[pyo3(signature = (token=None, **options))]
    fn new(
        py: Python<'_>,
        token: Option<PyRef<'_, VaultToken>>,
        options: Option<Bound<'_, PyDict>>,
    ) -> PyResult<HmacKeyring> {
        errors::guard(|| {
            let spec: HmacKeyringSpec = spec(py, &[], options.as_ref())?;
            let token = token.as_ref().map(|t| &t.inner);
            let inner = tokenkeep::outbound::HmacKeyring::start_on_with_listeners(
                &tokenkeep::Runtime::global(),
                &spec,
                token,
                events::logging_listeners(),
            )
            .map_err(|e| errors::spec(py, &e))?;
            Ok(HmacKeyring { inner })
        })
    }

    /// Signs a request with the current secret, timestamped now: the
    /// signature header's value. Raises `HmacError`.
    #[pyo3(signature = (method, path, body=b"".as_slice()), text_signature = "($self, method, path, body=b'')")]
    fn sign(&self, py: Python<'_>, method: &str, path: &str, body: &[u8]) -> PyResult<String> {
        errors::guard(|| self.inner.sign(method, path, body).map(|s| s.to_header()).map_err(|e| errors::hmac(py, &e)))
    }

    /// Verifies a signature header for this request now; returns the key
    /// version that matched. Raises `HmacError`.
    #[pyo3(signature = (signature, method, path, body=b"".as_slice()), text_signature = "($self, signature, method, path, body=b'')")]
    fn verify(&self, py: Python<'_>, signature: &str, method: &str, path: &str, body: &[u8]) -> PyResult<u64> {
        errors::guard(|| {
            let sig = Signature::from_header(signature).map_err(|e| errors::hmac(py, &e))?;
            self.inner.verify(&sig, method, path, body).map_err(|e| errors::hmac(py, &e))
        })
    }
});
