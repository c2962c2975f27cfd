//! Claims as Python objects, created directly (no intermediate tree): JSON
//! objects become dicts, arrays lists, integers ints (floats past 64 bits,
//! as serde_json reads them, the same as the core's own tree), other numbers
//! floats, `null` None.
//!
//! Claims as IdPs write them (no escapes in strings, integer numbers, up to
//! 16 members) come with their members already found by the core's strict
//! scan ([`tokenkeep::Claims::members`]): the dict is built from those, and
//! only a value that is an array or an object is read here, by a direct byte
//! scan ([`Flat`]). Without the members, the same scan reads the whole JSON;
//! anything it leaves (an escape, a fraction or exponent, an integer past
//! i64, deep nesting) is read by a serde visitor instead, from the start.
//! All give the same objects.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;
use tokenkeep::{ClaimValue, Claims};

/// The claims of a verified token as a new dict, built in one pass over the
/// claims JSON the token carried (the core's strict parser already accepted
/// it: one object, no member repeated), without the core's `Value` tree.
pub(crate) fn to_dict<'py>(py: Python<'py>, claims: &Claims) -> PyResult<Bound<'py, PyDict>> {
    // One thread-local lookup per dict, not one per member.
    STRINGS.with(|strings| {
        if let Some(dict) = from_members(py, strings, claims)? {
            return Ok(dict);
        }
        let mut flat = Flat { py, strings, json: claims.json(), at: 0 };
        if let Some(dict) = flat.claims()? {
            return Ok(dict);
        }
        let mut json = serde_json::Deserializer::from_str(claims.json());
        let value = PyValue { py, strings, shared: false, top: true }
            .deserialize(&mut json)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        value
            .cast_into::<PyDict>()
            .map_err(|_| pyo3::exceptions::PyValueError::new_err("the claims are not a JSON object"))
    })
}

/// The dict from the members the core's scan found (`Ok(None)`: it did not
/// record them, or a nested value is one the direct scan leaves to serde).
fn from_members<'py>(
    py: Python<'py>,
    strings: &RefCell<Strings>,
    claims: &Claims,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Some(members) = claims.members() else { return Ok(None) };
    let dict = PyDict::new(py);
    for (name, value) in members {
        let key = cached(py, strings, Table::Names, name);
        let value = match value {
            ClaimValue::Str(text) if SHARED_VALUES.contains(&name) => {
                cached(py, strings, Table::Values, text).into_any()
            }
            ClaimValue::Str(text) => PyString::new(py, text).into_any(),
            ClaimValue::Int(n) => {
                let Ok(n) = n.into_pyobject(py);
                n.into_any()
            }
            ClaimValue::Json(json) => {
                let mut flat = Flat { py, strings, json, at: 0 };
                match flat.value(1, SHARED_VALUES.contains(&name))? {
                    Some(value) if flat.at == json.len() => value,
                    _ => return Ok(None),
                }
            }
            // A kind this binding does not know yet: the whole JSON instead.
            _ => return Ok(None),
        };
        dict.set_item(key, value)?;
    }
    Ok(Some(dict))
}

/// Members whose string values are the same in every token of an issuer or
/// a client (`iss`, `aud`, ...): their `str` objects are reused like member
/// names. Per-token values (`sub`, `jti`, ...) are always built anew.
const SHARED_VALUES: &[&str] = &["iss", "aud", "azp", "client_id", "scope", "scp"];

/// Deeper nesting is left to serde.
const FLAT_DEPTH: usize = 16;

/// The direct scan: `Ok(None)` for JSON it leaves to serde.
struct Flat<'py, 'c, 'j> {
    py: Python<'py>,
    strings: &'c RefCell<Strings>,
    json: &'j str,
    at: usize,
}

impl<'py, 'j> Flat<'py, '_, 'j> {
    fn claims(&mut self) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.space();
        if self.peek() != Some(b'{') {
            return Ok(None);
        }
        let Some(dict) = self.object(0, true)? else { return Ok(None) };
        self.space();
        Ok((self.at == self.json.len()).then_some(dict))
    }

    fn peek(&self) -> Option<u8> {
        self.json.as_bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// At `"`: the text up to the closing quote (None: an escape or a
    /// control character, left to serde).
    fn text(&mut self) -> Option<&'j str> {
        let bytes = self.json.as_bytes();
        let start = self.at + 1;
        let mut end = start;
        loop {
            match bytes.get(end)? {
                b'"' => break,
                b'\\' => return None,
                b if *b < 0x20 => return None,
                _ => end += 1,
            }
        }
        self.at = end + 1;
        // Both ends are ASCII quotes: char boundaries.
        let json: &'j str = self.json;
        json.get(start..end)
    }

    /// At `{`.
    fn object(&mut self, depth: usize, top: bool) -> PyResult<Option<Bound<'py, PyDict>>> {
        let dict = PyDict::new(self.py);
        self.at += 1;
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Some(dict));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Ok(None);
            }
            let Some(name) = self.text() else { return Ok(None) };
            let shared = top && SHARED_VALUES.contains(&name);
            let key = cached(self.py, self.strings, Table::Names, name);
            self.space();
            if self.peek() != Some(b':') {
                return Ok(None);
            }
            self.at += 1;
            self.space();
            let Some(value) = self.value(depth + 1, shared)? else { return Ok(None) };
            dict.set_item(key, value)?;
            match self.separator_or_close(b'}') {
                Some(false) => {}
                Some(true) => return Ok(Some(dict)),
                None => return Ok(None),
            }
        }
    }

    /// After a member or an item: `,` (`Some(false)`: another follows) or
    /// `close` (`Some(true)`: the object or array ends); None for anything else.
    fn separator_or_close(&mut self, close: u8) -> Option<bool> {
        self.space();
        match self.peek()? {
            b',' => {
                self.at += 1;
                self.space();
                Some(false)
            }
            b if b == close => {
                self.at += 1;
                Some(true)
            }
            _ => None,
        }
    }

    /// At `[`.
    fn array(&mut self, depth: usize, shared: bool) -> PyResult<Option<Bound<'py, PyList>>> {
        let list = PyList::empty(self.py);
        self.at += 1;
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Some(list));
        }
        loop {
            let Some(item) = self.value(depth + 1, shared)? else { return Ok(None) };
            list.append(item)?;
            match self.separator_or_close(b']') {
                Some(false) => {}
                Some(true) => return Ok(Some(list)),
                None => return Ok(None),
            }
        }
    }

    fn value(&mut self, depth: usize, shared: bool) -> PyResult<Option<Bound<'py, PyAny>>> {
        if depth > FLAT_DEPTH {
            return Ok(None);
        }
        let py = self.py;
        Ok(match self.peek() {
            Some(b'"') => match self.text() {
                Some(text) if shared => Some(cached(py, self.strings, Table::Values, text).into_any()),
                Some(text) => Some(PyString::new(py, text).into_any()),
                None => None,
            },
            Some(b'-' | b'0'..=b'9') => self.integer().map(|n| {
                let Ok(n) = n.into_pyobject(py);
                n.into_any()
            }),
            Some(b'{') => self.object(depth, false)?.map(Bound::into_any),
            Some(b'[') => self.array(depth, shared)?.map(Bound::into_any),
            Some(b't') => self.literal("true").map(|()| pyo3::types::PyBool::new(py, true).to_owned().into_any()),
            Some(b'f') => self.literal("false").map(|()| pyo3::types::PyBool::new(py, false).to_owned().into_any()),
            Some(b'n') => self.literal("null").map(|()| py.None().into_bound(py)),
            _ => None,
        })
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let rest = self.json.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// An integer that fits i64 (None: a fraction, an exponent or a larger
    /// number, which serde reads as u64 or float).
    fn integer(&mut self) -> Option<i64> {
        let bytes = self.json.as_bytes();
        let negative = bytes[self.at] == b'-';
        let mut at = self.at + usize::from(negative);
        let first = at;
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = bytes.get(at).copied() {
            let digit = i64::from(d - b'0');
            n = n.checked_mul(10)?;
            n = if negative { n.checked_sub(digit)? } else { n.checked_add(digit)? };
            at += 1;
        }
        if at == first || matches!(bytes.get(at), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.at = at;
        Some(n)
    }
}

fn py_err<E: de::Error>(e: PyErr) -> E {
    E::custom(e)
}

/// A JSON value as a Python object; `shared`: its strings come from the cache.
#[derive(Clone, Copy)]
struct PyValue<'py, 'c> {
    py: Python<'py>,
    strings: &'c RefCell<Strings>,
    shared: bool,
    /// The claims object itself (not an object inside a claim).
    top: bool,
}

impl<'de, 'py> DeserializeSeed<'de> for PyValue<'py, '_> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyValue<'py, '_> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyBool::new(self.py, v).to_owned().into_any())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let Ok(value) = v.into_pyobject(self.py);
        Ok(value.into_any())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let Ok(value) = v.into_pyobject(self.py);
        Ok(value.into_any())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let Ok(value) = v.into_pyobject(self.py);
        Ok(value.into_any())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.shared {
            return Ok(cached(self.py, self.strings, Table::Values, v).into_any());
        }
        Ok(PyString::new(self.py, v).into_any())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.py);
        while let Some(item) = seq.next_element_seed(self)? {
            list.append(item).map_err(py_err)?;
        }
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.py);
        let key_seed = PyKey { py: self.py, strings: self.strings, top: self.top };
        while let Some((key, shared)) = map.next_key_seed(key_seed)? {
            let value = map.next_value_seed(PyValue { shared, top: false, ..self })?;
            dict.set_item(key, value).map_err(py_err)?;
        }
        Ok(dict.into_any())
    }
}

/// A member name as a `str`, and whether its value's strings are shared
/// (a top-level member named in [`SHARED_VALUES`]).
#[derive(Clone, Copy)]
struct PyKey<'py, 'c> {
    py: Python<'py>,
    strings: &'c RefCell<Strings>,
    top: bool,
}

impl<'de, 'py> DeserializeSeed<'de> for PyKey<'py, '_> {
    type Value = (Bound<'py, PyString>, bool);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyKey<'py, '_> {
    type Value = (Bound<'py, PyString>, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((cached(self.py, self.strings, Table::Names, v), self.top && SHARED_VALUES.contains(&v)))
    }
}

/// Slots of each cache table (per thread).
const SLOTS: usize = 256;
/// Longer strings are not cached.
const CACHED_MAX: usize = 64;

/// A cached string: its text and the Python `str` made of it.
type Slot = Option<(Box<str>, Py<PyString>)>;

#[derive(Clone, Copy)]
enum Table {
    Names,
    Values,
}

/// Strings met before: member names (`iss`, `aud`, `exp`, ... come with
/// every token) and the values of [`SHARED_VALUES`]. A hit is the same `str`
/// object again, its hash already computed, so building the dict neither
/// allocates nor hashes it.
struct Strings {
    names: Vec<Slot>,
    values: Vec<Slot>,
}

thread_local! {
    static STRINGS: RefCell<Strings> = RefCell::new(Strings {
        names: (0..SLOTS).map(|_| None).collect(),
        values: (0..SLOTS).map(|_| None).collect(),
    });
}

/// Equal bytes, compared eight at a time then one by one: these strings are
/// short (a call to memcmp costs more), but an `iss` URL is not a few bytes.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    a8.by_ref().zip(b8.by_ref()).all(|(x, y)| word(x) == word(y))
        && a8.remainder().iter().zip(b8.remainder()).all(|(x, y)| x == y)
}

/// `text` as a Python `str`, from the cache when it was met before.
fn cached<'py>(py: Python<'py>, strings: &RefCell<Strings>, table: Table, text: &str) -> Bound<'py, PyString> {
    if text.len() > CACHED_MAX {
        return PyString::new(py, text);
    }
    // The slot from the length and three bytes (claim names and values
    // differ there): a collision only replaces the entry, and hashing every
    // byte cost more than it saved.
    let bytes = text.as_bytes();
    let (first, middle, last) = match bytes {
        [] => (0, 0, 0),
        _ => (bytes[0], bytes[bytes.len() / 2], bytes[bytes.len() - 1]),
    };
    let hash = (bytes.len() as u32).wrapping_mul(0x9e37_79b9)
        ^ u32::from(first).wrapping_mul(0x85eb_ca6b)
        ^ u32::from(middle).wrapping_mul(0xc2b2_ae35)
        ^ u32::from(last).wrapping_mul(0x27d4_eb2f);
    let slot = (hash >> 24) as usize % SLOTS;
    // Building objects can run Python code (a collection's finalizers) that
    // verifies a token on this thread: that inner call then goes uncached.
    let Ok(mut strings) = strings.try_borrow_mut() else { return PyString::new(py, text) };
    let slots = match table {
        Table::Names => &mut strings.names,
        Table::Values => &mut strings.values,
    };
    if let Some((kept, object)) = &slots[slot] {
        if same(kept.as_bytes(), bytes) {
            return object.bind(py).clone();
        }
    }
    let object = PyString::new(py, text);
    // The replaced entry's `str` is released after the borrow ends (its
    // deallocation runs no Python code, but stay on the safe side).
    let old = slots[slot].replace((text.into(), object.clone().unbind()));
    drop(strings);
    drop(old);
    object
}
