//! Claims as Python objects, built in one pass by a serde visitor that
//! creates the dict, lists, strings and numbers directly (no intermediate
//! tree): JSON objects become dicts, arrays lists, integers ints (floats past
//! 64 bits, as serde_json reads them, the same as the core's own tree),
//! other numbers floats, `null` None.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;
use tokenkeep::Claims;

/// The claims of a verified token as a new dict, built in one pass over the
/// claims JSON the token carried (the core's strict parser already accepted
/// it: one object, no member repeated), without the core's `Value` tree.
pub(crate) fn to_dict<'py>(py: Python<'py>, claims: &Claims) -> PyResult<Bound<'py, PyDict>> {
    let mut json = serde_json::Deserializer::from_str(claims.json());
    let value =
        PyValue(py).deserialize(&mut json).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    value.cast_into::<PyDict>().map_err(|_| pyo3::exceptions::PyValueError::new_err("the claims are not a JSON object"))
}

fn py_err<E: de::Error>(e: PyErr) -> E {
    E::custom(e)
}

struct PyValue<'py>(Python<'py>);

impl<'de, 'py> DeserializeSeed<'de> for PyValue<'py> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyValue<'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(pyo3::types::PyBool::new(self.0, v).to_owned().into_any())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let Ok(value) = v.into_pyobject(self.0);
        Ok(value.into_any())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let Ok(value) = v.into_pyobject(self.0);
        Ok(value.into_any())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let Ok(value) = v.into_pyobject(self.0);
        Ok(value.into_any())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, v).into_any())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.0.None().into_bound(self.0))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let list = PyList::empty(self.0);
        while let Some(item) = seq.next_element_seed(PyValue(self.0))? {
            list.append(item).map_err(py_err)?;
        }
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let dict = PyDict::new(self.0);
        while let Some(key) = map.next_key_seed(PyKey(self.0))? {
            let value = map.next_value_seed(PyValue(self.0))?;
            dict.set_item(key, value).map_err(py_err)?;
        }
        Ok(dict.into_any())
    }
}

struct PyKey<'py>(Python<'py>);

impl<'de, 'py> DeserializeSeed<'de> for PyKey<'py> {
    type Value = Bound<'py, PyString>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for PyKey<'py> {
    type Value = Bound<'py, PyString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(member_name(self.0, v))
    }
}

/// Slots of the member-name cache (per thread).
const NAME_SLOTS: usize = 256;
/// Longer names are not cached.
const NAME_MAX: usize = 64;

/// A cached member name: its text and the Python `str` made of it.
type NameSlot = Option<(Box<str>, Py<PyString>)>;

thread_local! {
    /// Member names met before (`iss`, `aud`, `exp`, ... come with every
    /// token): the same `str` object again, its hash already computed, so
    /// building the dict neither allocates nor hashes the name.
    static NAMES: RefCell<Vec<NameSlot>> =
        RefCell::new((0..NAME_SLOTS).map(|_| None).collect());
}

/// A member name as a Python `str`, from the cache when it was met before.
fn member_name<'py>(py: Python<'py>, name: &str) -> Bound<'py, PyString> {
    if name.len() > NAME_MAX {
        return PyString::new(py, name);
    }
    // FNV-1a: the slot only, a collision just replaces the entry.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let slot = (hash % NAME_SLOTS as u64) as usize;
    NAMES.with(|names| {
        let Ok(mut names) = names.try_borrow_mut() else { return PyString::new(py, name) };
        if let Some((cached, object)) = &names[slot] {
            if **cached == *name {
                return object.bind(py).clone();
            }
        }
        let object = PyString::new(py, name);
        names[slot] = Some((name.into(), object.clone().unbind()));
        object
    })
}
