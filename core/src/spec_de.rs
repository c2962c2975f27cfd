//! A serde `Deserializer` over a borrowed [`serde_json::Value`] that names the
//! path of the first error (`issuers[1].audience`, `http.headers.X-Foo`).
//!
//! Why not `serde_path_to_error` over serde_json's own deserializers: that
//! wrapper puts a second deserializer layer (its `Wrap` types around
//! serde_json's text or `Value` deserializer) under every derived visitor of
//! the spec, and monomorphisation copies both for each one. Here the options
//! text is parsed once into a `Value` (the parser the module already has for
//! JWKS documents), and this one layer, which keeps the path itself, is the
//! only deserializer instantiated per visitor. Measured on the edge
//! WebAssembly module (`scripts/build-edge.sh edge`): 174,201 -> 167,875
//! bytes gzip (394,352 -> 373,258 raw), 964 bytes gzip of which are the
//! duplicate-key check of [`parse_json`].
//!
//! It behaves as serde_json's `&Value` deserializer does (numbers as
//! `u64`/`i64`/`f64`, `null` as `None` for options, arrays for structs as
//! sequences, leftover elements refused) and words its errors the same way,
//! so the spec's error classification (`SpecError::from_serde`) is unchanged.
//! The path follows `serde_path_to_error`'s format: map keys joined with `.`,
//! sequence indexes as `[i]`, the document itself as the empty string. No
//! spec type is an enum, so `deserialize_enum` is `deserialize_any`.

use core::cell::Cell;
use core::fmt;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Expected, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_json::{Map, Number, Value};

/// Where a value sits: a chain of frames on the stack, rendered only when an
/// error needs it.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A deserialization error and the path where it was raised. Boxed, as
/// serde_json's is: every generic function passes it back, so a pointer-sized
/// error keeps each instantiation smaller.
#[derive(Debug)]
pub(crate) struct Error(Box<ErrorImpl>);

#[derive(Debug)]
struct ErrorImpl {
    path: Option<String>,
    message: String,
}

impl Error {
    /// Records `path` unless a deeper one already is.
    #[cold]
    fn at(mut self, path: &Path<'_>) -> Error {
        if self.0.path.is_none() {
            self.0.path = Some(path.to_string());
        }
        self
    }

    /// The path (empty: the whole document) and the message.
    pub(crate) fn into_parts(self) -> (String, String) {
        let ErrorImpl { path, message } = *self.0;
        (path.unwrap_or_default(), message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Error {
        Error(Box::new(ErrorImpl { path: None, message: msg.to_string() }))
    }

    #[cold]
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Error {
        Error::custom(format_args!("invalid type: {}, expected {}", Shown(unexp), exp))
    }

    #[cold]
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Error {
        Error::custom(format_args!("invalid value: {}, expected {}", Shown(unexp), exp))
    }
}

/// A refused value as serde_json words it: `null` (not serde's "unit
/// value"), and floats through serde_json's number formatting rather than
/// `core`'s (which would add ~20 KB to the edge module).
struct Shown<'a>(Unexpected<'a>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Unexpected::Unit => f.write_str("null"),
            Unexpected::Float(v) => match Number::from_f64(v) {
                Some(n) => write!(f, "floating point `{n}`"),
                None => f.write_str("a non-finite floating point number"),
            },
            other => fmt::Display::fmt(&other, f),
        }
    }
}

/// Deserializes `T` from `value`; an error names its path.
pub(crate) fn from_value<T: de::DeserializeOwned>(value: &Value) -> Result<T, Error> {
    T::deserialize(ValueDe { value, path: &Path::Root })
}

/// Parses options text into a `Value`, refusing a key given twice in one
/// object: serde_json's own `Value` keeps the last one, but the spec types,
/// when they read the text directly, refused `{"algorithms": …, "algorithms":
/// …}`, and a repeated option passing silently is worse than an error. The
/// error is reported as before: `duplicate field `…`` at the object's path.
pub(crate) fn parse_json(text: &str) -> Result<Value, (String, serde_json::Error)> {
    let failed_at = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(text.as_bytes());
    let value = Strict { path: &Path::Root, failed_at: &failed_at, name_every_failure: false }
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
    value.map_err(|e| (failed_at.take().unwrap_or_default(), e))
}

/// A value at `path` (see [`parse_json`] and [`read_value`]). A key given
/// twice records its object's path in `failed_at`; with `name_every_failure`,
/// any other failure records the path of the innermost value that failed.
struct Strict<'a> {
    path: &'a Path<'a>,
    failed_at: &'a Cell<Option<String>>,
    name_every_failure: bool,
}

impl<'a> Strict<'a> {
    fn at(&self, path: &'a Path<'a>) -> Strict<'a> {
        Strict { path, failed_at: self.failed_at, name_every_failure: self.name_every_failure }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let (path, failed_at, name_every_failure) = (self.path, self.failed_at, self.name_every_failure);
        let result = deserializer.deserialize_any(self);
        if result.is_err() && name_every_failure {
            // The innermost failure names the path; the frames around it keep it.
            let inner = failed_at.take();
            failed_at.set(inner.or_else(|| Some(path.to_string())));
        }
        result
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = Path::Index(self.path, items.len());
            match seq.next_element_seed(self.at(&path))? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                self.failed_at.set(Some(self.path.to_string()));
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let path = Path::Key(self.path, &key);
            let value = access.next_value_seed(self.at(&path))?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// One value of the document, at `path`.
struct ValueDe<'a, 'de> {
    value: &'de Value,
    path: &'a Path<'a>,
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => return self.number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => return self.seq(items, visitor),
            Value::Object(map) => return self.map(map, visitor),
        };
        result.map_err(|e: Error| e.at(self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let path = self.path;
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(path))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        let path = self.path;
        visitor.visit_newtype_struct(self).map_err(|e| e.at(path))
    }

    // The typed requests call the visitor only for their own kind and refuse
    // the rest themselves (as serde_json's `Value` does, in the same words
    // as the visitor's own refusal), so a visitor is not instantiated with
    // every `visit_*` it would refuse anyway.

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool::<Error>(*b).map_err(|e| e.at(self.path)),
            _ => Err(self.refuse(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_borrowed_str::<Error>(s).map_err(|e| e.at(self.path)),
            _ => Err(self.refuse(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Number(n) => self.number(n, visitor),
            _ => Err(self.refuse(&visitor)),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => self.seq(items, visitor),
            _ => Err(self.refuse(&visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            _ => Err(self.refuse(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // serde_json reads a struct from an object or from an array of its fields.
        match self.value {
            Value::Object(map) => self.map(map, visitor),
            Value::Array(items) => self.seq(items, visitor),
            _ => Err(self.refuse(&visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u128 f32 char bytes byte_buf unit
        unit_struct tuple tuple_struct enum identifier ignored_any
    }
}

impl<'de> ValueDe<'_, 'de> {
    fn number<V: Visitor<'de>>(&self, n: &Number, visitor: V) -> Result<V::Value, Error> {
        match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => visitor.visit_u64(u),
            (None, Some(i)) => visitor.visit_i64(i),
            // Without arbitrary_precision, every other number is a finite f64.
            (None, None) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
        }
        .map_err(|e: Error| e.at(self.path))
    }

    fn seq<V: Visitor<'de>>(&self, items: &'de [Value], visitor: V) -> Result<V::Value, Error> {
        let mut seq = SeqDe { items: items.iter(), index: 0, path: self.path };
        visitor.visit_seq(&mut seq).and_then(|v| seq.end().map(|()| v)).map_err(|e| e.at(self.path))
    }

    fn map<V: Visitor<'de>>(&self, map: &'de Map<String, Value>, visitor: V) -> Result<V::Value, Error> {
        let mut access = MapDe { entries: map.iter(), pending: None, path: self.path };
        visitor.visit_map(&mut access).and_then(|v| access.end().map(|()| v)).map_err(|e| e.at(self.path))
    }

    /// The error a visitor gives for a value of another kind, at this path.
    #[cold]
    fn refuse(&self, expected: &dyn Expected) -> Error {
        let unexpected = match self.value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Unexpected::Unsigned(u),
                (None, Some(i)) => Unexpected::Signed(i),
                (None, None) => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        };
        <Error as de::Error>::invalid_type(unexpected, expected).at(self.path)
    }
}

/// The elements of an array, each at `path[i]`.
struct SeqDe<'a, 'de> {
    items: core::slice::Iter<'de, Value>,
    index: usize,
    path: &'a Path<'a>,
}

impl SeqDe<'_, '_> {
    /// serde_json refuses an array with elements the visitor left unread.
    fn end(&self) -> Result<(), Error> {
        match self.items.len() {
            0 => Ok(()),
            left => Err(de::Error::invalid_length(self.index + left, &"fewer elements in array")),
        }
    }
}

impl<'de> SeqAccess<'de> for SeqDe<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.items.next() else { return Ok(None) };
        let path = Path::Index(self.path, self.index);
        self.index += 1;
        seed.deserialize(ValueDe { value, path: &path }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The members of an object, each value (and key) at `path.key`.
struct MapDe<'a, 'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    path: &'a Path<'a>,
}

impl MapDe<'_, '_> {
    /// serde_json refuses an object with members the visitor left unread.
    fn end(&self) -> Result<(), Error> {
        match self.entries.len() {
            0 => Ok(()),
            left => Err(de::Error::invalid_length(left, &"fewer elements in map")),
        }
    }
}

impl<'de> MapAccess<'de> for MapDe<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.pending = Some((key, value));
        // An unknown field is reported at the field's own path.
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))
            .map(Some)
            .map_err(|e| e.at(&Path::Key(self.path, key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("a map value was asked for before its key"));
        };
        seed.deserialize(ValueDe { value, path: &Path::Key(self.path, key) })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Reads any serde format (Python objects) into a `Value`, naming the path of
/// the value the format itself could not read (`cache.ttl` for an object no
/// JSON can hold): `(path, message)`.
pub(crate) fn read_value<'de, D: de::Deserializer<'de>>(deserializer: D) -> Result<Value, (String, String)>
where
    D::Error: fmt::Display,
{
    let failed_at = Cell::new(None);
    Strict { path: &Path::Root, failed_at: &failed_at, name_every_failure: true }
        .deserialize(deserializer)
        .map_err(|e| (failed_at.take().unwrap_or_default(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        #[serde(default)]
        count: Option<u64>,
        #[serde(default)]
        tags: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        items: Vec<Inner>,
        #[serde(default)]
        flag: bool,
        #[serde(default)]
        ratio: Option<f64>,
    }

    fn refuse(value: Value) -> (String, String) {
        from_value::<Outer>(&value).unwrap_err().into_parts()
    }

    #[test]
    fn nested_errors_name_their_path() {
        let (path, message) = refuse(json!({"items": [{"name": "a"}, {"name": "b", "count": -1}]}));
        assert_eq!((path.as_str(), message.as_str()), ("items[1].count", "invalid value: integer `-1`, expected u64"));
        let (path, message) = refuse(json!({"items": [{"name": "a", "tags": {"X-Foo": 5}}]}));
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("items[0].tags.X-Foo", "invalid type: integer `5`, expected a string")
        );
        let (path, message) = refuse(json!({"items": [{"name": "a", "count": 2.5}]}));
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("items[0].count", "invalid type: floating point `2.5`, expected u64")
        );
        let (path, message) = refuse(json!({"flag": null}));
        assert_eq!((path.as_str(), message.as_str()), ("flag", "invalid type: null, expected a boolean"));
    }

    #[test]
    fn unknown_fields_at_the_field_missing_ones_at_the_object() {
        let (path, message) = refuse(json!({"items": [{"name": "a", "nmae": "b"}]}));
        assert_eq!(path, "items[0].nmae");
        assert!(message.starts_with("unknown field `nmae`"), "{message}");
        let (path, message) = refuse(json!({"items": [{}, {"count": 1}]}));
        assert_eq!((path.as_str(), message.as_str()), ("items[0]", "missing field `name`"));
    }

    #[test]
    fn root_errors_have_no_path() {
        let (path, message) = refuse(json!(5));
        assert_eq!((path.as_str(), message.as_str()), ("", "invalid type: integer `5`, expected struct Outer"));
        let (path, _) = refuse(json!({"flag": true, "items": [], "ratio": 0.5, "extra": 1}));
        assert_eq!(path, "extra");
        // A struct read from an array, as serde_json allows; leftovers are refused.
        let (path, message) = refuse(json!([[], false, 0.5, 1]));
        assert_eq!((path.as_str(), message.as_str()), ("", "invalid length 4, expected fewer elements in array"));
    }

    #[test]
    fn numbers_reach_the_visitor_as_serde_json_sends_them() {
        let outer: Outer = from_value(&json!({"ratio": 1, "items": [{"name": "n", "count": 7}]})).unwrap();
        assert_eq!((outer.ratio, outer.items[0].count), (Some(1.0), Some(7)));
        let outer: Outer = from_value(&json!({"ratio": null})).unwrap();
        assert_eq!(outer.ratio, None);
        let v: Value = from_value(&json!({"a": [1, -2, 2.5, "s", null, true, {}]})).unwrap();
        assert_eq!(v, json!({"a": [1, -2, 2.5, "s", null, true, {}]}));
    }

    #[test]
    fn a_refused_string_is_quoted_in_the_message_only_as_serde_does() {
        // The spec strips `string "…"` from messages (SpecError::from_serde);
        // here the wording must be serde's, so that stripping finds it.
        let (path, message) = refuse(json!({"items": [{"name": "a", "tags": "hunter2"}]}));
        assert_eq!(path, "items[0].tags");
        assert_eq!(message, "invalid type: string \"hunter2\", expected a map");
    }
}
