//! `tokenkeep.Verifier`: a frozen newtype over `tokenkeep::Verifier`, so a
//! call passes only the token (no borrow flag, no Python-level wrapper).

use crate::rotations::{self, RotationIterator};
use crate::{asyncio, bearer, claims, errors, events, fast, options};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyType};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokenkeep::spec::VerifierSpec;
use tokenkeep::{Authenticated, Denial, Rejection, RejectionCode, UnixTime, VerifiedToken};

/// Verifies JWTs of one or several issuers; keys are fetched, cached and
/// refreshed in the background.
#[pyclass(frozen, module = "tokenkeep", name = "Verifier")]
pub(crate) struct Verifier {
    inner: tokenkeep::Verifier,
}

/// A token as the caller gave it: `str` (borrowed from Python when the
/// interpreter allows it) or `bytes`.
enum TokenText<'a> {
    /// The str's own UTF-8 (no copy).
    Borrowed(&'a str),
    Str(PyBackedStr),
    Owned(String),
}

impl TokenText<'_> {
    fn as_str(&self) -> &str {
        match self {
            TokenText::Borrowed(s) => s,
            TokenText::Str(s) => s,
            TokenText::Owned(s) => s,
        }
    }

    fn into_string(self) -> String {
        match self {
            TokenText::Borrowed(s) => s.to_owned(),
            TokenText::Str(s) => s.to_string(),
            TokenText::Owned(s) => s,
        }
    }
}

fn token_text<'a>(py: Python<'_>, token: &'a Bound<'_, PyAny>) -> PyResult<TokenText<'a>> {
    if let Ok(s) = token.cast::<PyString>() {
        if let Some(text) = fast::utf8(s) {
            return Ok(TokenText::Borrowed(text));
        }
        return Ok(match s.extract::<PyBackedStr>() {
            Ok(backed) => TokenText::Str(backed),
            // Lone surrogates cannot be UTF-8: the core rejects what remains as malformed.
            Err(_) => TokenText::Owned(s.to_string_lossy().into_owned()),
        });
    }
    if let Ok(b) = token.cast::<PyBytes>() {
        return Ok(TokenText::Owned(match String::from_utf8_lossy(b.as_bytes()) {
            Cow::Borrowed(s) => s.to_owned(),
            Cow::Owned(s) => s,
        }));
    }
    if token.is_none() {
        return Err(errors::rejection_code(py, RejectionCode::MissingToken, "no token"));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!("a token is str or bytes, not {}", token.get_type().name()?)))
}

fn unix_time(py: Python<'_>, now: Option<f64>) -> PyResult<Option<UnixTime>> {
    match now {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(UnixTime::from_secs_f64(s))),
        Some(_) => Err(errors::argument(py, "now", "must be Unix seconds (a finite number >= 0)")),
    }
}

pub(crate) fn duration(py: Python<'_>, name: &str, seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| errors::argument(py, name, "must be seconds (a finite number >= 0)"))
}

static MSGSPEC: PyOnceLock<Option<(Py<PyAny>, Py<PyAny>)>> = PyOnceLock::new();

/// `msgspec.convert` and `msgspec.Struct`, imported once if installed.
fn msgspec(py: Python<'_>) -> Option<&(Py<PyAny>, Py<PyAny>)> {
    MSGSPEC
        .get_or_init(py, || {
            let module = py.import("msgspec").ok()?;
            Some((module.getattr("convert").ok()?.unbind(), module.getattr("Struct").ok()?.unbind()))
        })
        .as_ref()
}

/// What `into=` names, checked before verifying (a wrong `into` is an error
/// even for a token that would be rejected).
enum Into {
    /// A pydantic model's `model_validate`.
    Pydantic(Py<PyAny>),
    /// `msgspec.convert` and the Struct class.
    Msgspec(Py<PyAny>, Py<PyAny>),
}

impl Into {
    fn resolve(py: Python<'_>, model: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Into>> {
        let Some(model) = model else { return Ok(None) };
        if let Ok(validate) = model.getattr(pyo3::intern!(py, "model_validate")) {
            return Ok(Some(Into::Pydantic(validate.unbind())));
        }
        if let Some((convert, base)) = msgspec(py) {
            if model.cast::<PyType>().is_ok_and(|t| t.is_subclass(base.bind(py)).unwrap_or(false)) {
                return Ok(Some(Into::Msgspec(convert.clone_ref(py), model.clone().unbind())));
            }
        }
        Err(pyo3::exceptions::PyTypeError::new_err("into= takes a pydantic model class or a msgspec Struct class"))
    }

    fn build(&self, py: Python<'_>, claims: Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        match self {
            Into::Pydantic(validate) => validate.bind(py).call1((claims,)).map(Bound::unbind),
            Into::Msgspec(convert, model) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item(pyo3::intern!(py, "type"), model.bind(py))?;
                convert.bind(py).call((claims,), Some(&kwargs)).map(Bound::unbind)
            }
        }
    }
}

/// The claims dict (or `into` built from it): built once per verified token
/// and kept with it, so a verified-token cache hit costs a dict copy.
fn claims_object(py: Python<'_>, token: Arc<VerifiedToken>, into: Option<&Into>) -> PyResult<Py<PyAny>> {
    let dict = match token.memoized::<Py<PyDict>>() {
        Some(kept) => kept.bind(py).copy()?,
        None => {
            let built = claims::to_dict(py, &token.claims)?;
            // Only worth keeping when the verified-token cache holds the token too.
            if Arc::strong_count(&token) > 1 {
                token.memo(|_| built.clone().unbind());
                built.copy()?
            } else {
                built
            }
        }
    };
    match into {
        None => Ok(dict.into_any().unbind()),
        Some(into) => into.build(py, dict),
    }
}

fn outcome(py: Python<'_>, result: Result<Arc<VerifiedToken>, Rejection>, into: Option<&Into>) -> PyResult<Py<PyAny>> {
    match result {
        Ok(token) => claims_object(py, token, into),
        Err(rejection) => Err(errors::rejection(py, &rejection)),
    }
}

/// What `authenticate` answers: `(claims, scopes)` or `tokenkeep.Denied`.
fn authenticated(py: Python<'_>, result: Result<Authenticated, Denial>) -> PyResult<Py<PyAny>> {
    match result {
        Ok(ok) => {
            let claims = claims_object(py, ok.token, None)?;
            bearer::admitted(py, claims, &ok.scopes)
        }
        Err(denial) => Err(bearer::denied(py, &denial)),
    }
}

impl Verifier {
    fn start(py: Python<'_>, options: &Bound<'_, PyDict>) -> PyResult<Verifier> {
        let spec: VerifierSpec = options::read(py, options.as_any())?;
        // Forwarding is registered before the first fetch starts, so its
        // `jwks_refreshed` reaches logging too.
        let inner = tokenkeep::Verifier::start_on_with_listeners(
            &tokenkeep::Runtime::global(),
            &spec,
            events::logging_listeners(),
        )
        .map_err(|e| errors::spec(py, &e))?;
        Ok(Verifier { inner })
    }

    /// `verify` (`wait`: may wait for one refetch) or `verify_cached`.
    pub(crate) fn check(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        now: Option<f64>,
        into: Option<&Bound<'_, PyAny>>,
        wait: bool,
    ) -> PyResult<Py<PyAny>> {
        let now = unix_time(py, now)?;
        let into = Into::resolve(py, into)?;
        let token = token_text(py, token)?;
        let token = token.as_str();
        let result = py.detach(|| {
            if wait { self.inner.verify_blocking(token, now) } else { self.inner.verify_cached_at(token, now) }
        });
        outcome(py, result, into.as_ref())
    }

    fn is_closed_fn(&self) -> rotations::IsClosed {
        let inner = self.inner.clone();
        Arc::new(move || inner.is_closed())
    }
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (issuer=None, audience=None, **options))]
    fn new(
        py: Python<'_>,
        issuer: Option<Bound<'_, PyAny>>,
        audience: Option<Bound<'_, PyAny>>,
        options: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Verifier> {
        errors::guard(|| {
            let merged =
                options::merge(py, &[("issuer", issuer.as_ref()), ("audience", audience.as_ref())], options.as_ref())?;
            Verifier::start(py, &merged)
        })
    }

    /// Static keys (a JWKS dict or its JSON text): nothing is ever fetched.
    #[classmethod]
    #[pyo3(signature = (jwks, *, issuer, audience=None, **options))]
    fn from_jwks(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        jwks: Bound<'_, PyAny>,
        issuer: Bound<'_, PyAny>,
        audience: Option<Bound<'_, PyAny>>,
        options: Option<Bound<'_, PyDict>>,
    ) -> PyResult<Verifier> {
        errors::guard(|| {
            let merged = options::merge(
                py,
                &[("jwks", Some(&jwks)), ("issuer", Some(&issuer)), ("audience", audience.as_ref())],
                options.as_ref(),
            )?;
            Verifier::start(py, &merged)
        })
    }

    /// Verifies `token` and returns its claims; waits (GIL released) only for
    /// one refetch when the token names a key the cache does not have.
    #[pyo3(signature = (token, *, now=None, into=None))]
    fn verify(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        now: Option<f64>,
        into: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        errors::guard(|| self.check(py, token, now, into, true))
    }

    /// Verifies with the keys at hand and never waits: an unknown kid is final.
    #[pyo3(signature = (token, *, now=None, into=None))]
    fn verify_cached(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        now: Option<f64>,
        into: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        errors::guard(|| self.check(py, token, now, into, false))
    }

    /// `verify` as an asyncio awaitable; the event loop never blocks.
    #[pyo3(signature = (token, *, now=None, into=None))]
    fn verify_async<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
        now: Option<f64>,
        into: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        errors::guard(|| {
            let now = unix_time(py, now)?;
            let into = Into::resolve(py, into)?;
            let token = token_text(py, token)?.into_string();
            let verifier = self.inner.clone();
            let future = async move {
                match now {
                    Some(now) => verifier.verify_at(&token, now).await,
                    None => verifier.verify(&token).await,
                }
            };
            asyncio::spawn(py, future, move |py, result| outcome(py, result, into.as_ref()))
        })
    }

    /// HTTP bearer authentication in one call: verifies the token of
    /// `authorization` (an `Authorization` header value; None when the
    /// request has none) as `verify` does (GIL released), then checks that it
    /// grants every scope in `scopes`. Returns `(claims, granted_scopes)`;
    /// a refusal raises `tokenkeep.Denied` with the status, code and headers
    /// to answer with. `realm`, when given, is named in every challenge.
    #[pyo3(signature = (authorization, scopes=Vec::new(), *, realm=None))]
    #[pyo3(text_signature = "(self, authorization, scopes=(), *, realm=None)")]
    fn authenticate(
        &self,
        py: Python<'_>,
        authorization: Option<PyBackedStr>,
        scopes: Vec<String>,
        realm: Option<PyBackedStr>,
    ) -> PyResult<Py<PyAny>> {
        errors::guard(|| {
            let (authorization, realm) = (authorization.as_deref(), realm.as_deref());
            let result = py.detach(|| self.inner.authenticate_blocking(authorization, &scopes, realm));
            authenticated(py, result)
        })
    }

    /// `authenticate` as an asyncio awaitable; the event loop never blocks.
    #[pyo3(signature = (authorization, scopes=Vec::new(), *, realm=None))]
    #[pyo3(text_signature = "(self, authorization, scopes=(), *, realm=None)")]
    fn authenticate_async<'py>(
        &self,
        py: Python<'py>,
        authorization: Option<String>,
        scopes: Vec<String>,
        realm: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        errors::guard(|| {
            let verifier = self.inner.clone();
            let future =
                async move { verifier.authenticate(authorization.as_deref(), &scopes, realm.as_deref()).await };
            asyncio::spawn(py, future, authenticated)
        })
    }

    /// Waits (GIL released) until every issuer has usable keys, or `timeout`
    /// seconds; True when ready.
    #[pyo3(signature = (timeout=5.0))]
    fn ready(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        errors::guard(|| {
            let timeout = duration(py, "timeout", timeout)?;
            Ok(py.detach(|| self.inner.ready_blocking(timeout)))
        })
    }

    /// `ready` as an asyncio awaitable.
    #[pyo3(signature = (timeout=5.0))]
    fn ready_async<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
        errors::guard(|| {
            let timeout = duration(py, "timeout", timeout)?;
            let verifier = self.inner.clone();
            asyncio::spawn(py, async move { verifier.ready(timeout).await }, |py, ready| {
                Ok(pyo3::types::PyBool::new(py, ready).to_owned().into_any().unbind())
            })
        })
    }

    /// Health of every issuer's keys, one dict each.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        errors::guard(|| {
            let list = PyList::empty(py);
            for issuer in self.inner.health() {
                let h = &issuer.cache;
                let d = PyDict::new(py);
                d.set_item("issuer", &issuer.issuer)?;
                d.set_item("state", h.state.as_str())?;
                d.set_item("key_count", h.key_count)?;
                d.set_item("age_seconds", h.age_seconds)?;
                d.set_item("fresh_for_seconds", h.fresh_for_seconds)?;
                d.set_item("next_fetch_in_seconds", h.next_fetch_in_seconds)?;
                d.set_item("consecutive_failures", h.consecutive_failures)?;
                d.set_item("last_error_code", h.last_error_code)?;
                d.set_item("fetches", h.fetches)?;
                d.set_item("fetches_on_miss", h.fetches_on_miss)?;
                list.append(d)?;
            }
            Ok(list)
        })
    }

    /// Asks every fetched issuer for its keys now (the miss cooldown still
    /// applies); True when a fetch runs for each.
    fn refresh(&self) -> PyResult<bool> {
        errors::guard(|| Ok(self.inner.refresh()))
    }

    /// Stops the background refresh (idempotent); verification goes on with
    /// the keys at hand.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        errors::guard(|| {
            py.detach(|| self.inner.close_blocking());
            Ok(())
        })
    }

    /// The issuers, in configuration order.
    #[getter]
    fn issuers(&self) -> Vec<String> {
        self.inner.issuers()
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// `async for n in verifier.rotations()`: the key-set generation after
    /// each change of any issuer's keys; ends when the verifier closes.
    fn rotations(&self) -> RotationIterator {
        RotationIterator::new(self.inner.rotations(), self.is_closed_fn())
    }

    /// Calls `callback(generation)` after each key-set change (on tokenkeep's
    /// callback thread); returns an id for `remove_rotation_callback`.
    fn on_rotation(&self, callback: Py<PyAny>) -> PyResult<u64> {
        errors::guard(|| Ok(rotations::add_callback(&self.inner.rotations(), callback)))
    }

    /// Stops calling a callback added with `on_rotation`.
    fn remove_rotation_callback(&self, id: u64) {
        self.inner.rotations().remove_listener(tokenkeep::ListenerId(id));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        asyncio::ready(py, slf.into_any().unbind())
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(&self, py: Python<'py>, _exc: &Bound<'py, pyo3::types::PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        errors::guard(|| {
            let verifier = self.inner.clone();
            asyncio::spawn(py, async move { verifier.close().await }, |py, ()| {
                Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any().unbind())
            })
        })
    }

    fn __repr__(&self) -> String {
        let state = if self.inner.is_closed() { ", closed" } else { "" };
        format!("Verifier(issuers={:?}{state})", self.inner.issuers())
    }
}
