//! Compact JWS parsing under RFC 8725 rules: canonical base64url only, JSON
//! with duplicate members rejected, unknown `crit` rejected.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Unpadded base64url that refuses padding, whitespace, the standard
/// alphabet's `+` and `/`, and non-zero trailing bits: one token, one encoding.
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.as_bytes()).ok()
}

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Parses JSON, failing on a duplicate member name at any depth (RFC 7515
/// §4: a JWS with duplicate header names is to be rejected; the same attack
/// works on claims).
pub(crate) fn parse_strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE_MEMBER));
            }
            let v = map.next_value_seed(StrictSeed)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

pub(crate) const DUPLICATE_MEMBER: &str = "duplicate member name";

/// The JOSE header members tokenkeep reads; others are checked for JSON
/// strictness and dropped. Parsed without building a map: this runs per token.
#[derive(Default)]
pub(crate) struct RawHeader {
    pub alg: Option<Value>,
    pub kid: Option<Value>,
    pub typ: Option<Value>,
    pub crit: Option<Value>,
    pub b64: Option<Value>,
}

/// Parses a JOSE header object, rejecting duplicate members at any depth.
/// `Ok(None)` when the JSON is valid but not an object.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Option<RawHeader>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let header = de.deserialize_any(HeaderVisitor)?;
    de.end()?;
    Ok(header)
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Option<RawHeader>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = RawHeader::default();
        let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(DUPLICATE_MEMBER));
            }
            let value = map.next_value_seed(StrictSeed)?;
            let slot = match key.as_ref() {
                "alg" => &mut header.alg,
                "kid" => &mut header.kid,
                "typ" => &mut header.typ,
                "crit" => &mut header.crit,
                "b64" => &mut header.b64,
                _ => {
                    seen.push(key);
                    continue;
                }
            };
            *slot = Some(value);
            seen.push(key);
        }
        Ok(Some(header))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element_seed(StrictSeed)?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

pub(crate) fn is_duplicate_error(e: &serde_json::Error) -> bool {
    e.to_string().starts_with(DUPLICATE_MEMBER)
}

/// A compact JWS split into its parts, nothing decoded yet.
pub(crate) struct CompactParts<'t> {
    pub header_b64: &'t str,
    pub payload_b64: &'t str,
    pub signature_b64: &'t str,
    /// `header_b64 + "." + payload_b64`: the bytes that were signed.
    pub signing_input: &'t str,
}

pub(crate) enum SplitError {
    Jwe,
    PartCount,
}

pub(crate) fn split_compact(token: &str) -> Result<CompactParts<'_>, SplitError> {
    let mut dots = token.match_indices('.').map(|(i, _)| i);
    let (Some(first), Some(second)) = (dots.next(), dots.next()) else {
        return Err(SplitError::PartCount);
    };
    // Two dots consumed; a JWE's five parts leave two more.
    match dots.count() {
        0 => {}
        2 => return Err(SplitError::Jwe),
        _ => return Err(SplitError::PartCount),
    }
    Ok(CompactParts {
        header_b64: &token[..first],
        payload_b64: &token[first + 1..second],
        signature_b64: &token[second + 1..],
        signing_input: &token[..second],
    })
}

/// Header and claims of a token, decoded without any verification.
///
/// For tools that must look inside a token they cannot verify (`tokenkeep
/// inspect`, reading a token file's own `exp`). Never a basis for trust.
#[derive(Clone, Debug, PartialEq)]
pub struct UnverifiedToken {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

impl UnverifiedToken {
    /// A numeric claim (`exp`, `iat`, `nbf`) in seconds, when it is a number.
    pub fn numeric_claim(&self, name: &str) -> Option<f64> {
        self.claims.get(name).and_then(Value::as_f64)
    }
}

/// Why a token could not even be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not three dot-separated parts (five means JWE).
    NotCompactJws,
    /// A part is not canonical unpadded base64url.
    Base64,
    /// The header or claims are not a JSON object, or repeat a member.
    Json,
}

impl DecodeError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::NotCompactJws => "not_compact_jws",
            DecodeError::Base64 => "bad_base64url",
            DecodeError::Json => "bad_json",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::NotCompactJws => "not a compact JWS (expected three dot-separated parts)",
            DecodeError::Base64 => "a part is not canonical base64url",
            DecodeError::Json => "header or claims are not a JSON object without duplicate members",
        })
    }
}

impl std::error::Error for DecodeError {}

/// Decodes header and claims without checking anything else.
pub fn decode_unverified(token: &str) -> Result<UnverifiedToken, DecodeError> {
    let token = token.trim();
    let parts = split_compact(token).map_err(|_| DecodeError::NotCompactJws)?;
    let object = |b64: &str| -> Result<Map<String, Value>, DecodeError> {
        let bytes = b64_decode(b64).ok_or(DecodeError::Base64)?;
        match parse_strict_json(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(DecodeError::Json),
        }
    };
    Ok(UnverifiedToken { header: object(parts.header_b64)?, claims: object(parts.payload_b64)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_rejects_duplicates_at_any_depth() {
        assert!(parse_strict_json(br#"{"a":1,"b":{"c":1}}"#).is_ok());
        let e = parse_strict_json(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(is_duplicate_error(&e));
        let e = parse_strict_json(br#"{"a":{"c":1,"c":1}}"#).unwrap_err();
        assert!(is_duplicate_error(&e));
        assert!(parse_strict_json(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn base64url_is_canonical_only() {
        assert_eq!(b64_decode("AQ").unwrap(), vec![1]);
        assert!(b64_decode("AQ==").is_none(), "padding");
        assert!(b64_decode("AR").is_none(), "non-zero trailing bits");
        assert!(b64_decode("A+").is_none(), "standard alphabet");
        assert!(b64_decode("A Q").is_none(), "whitespace");
    }

    #[test]
    fn split_tells_jwe_from_garbage() {
        assert!(split_compact("a.b.c").is_ok());
        assert!(matches!(split_compact("a.b.c.d.e"), Err(SplitError::Jwe)));
        assert!(matches!(split_compact("a.b"), Err(SplitError::PartCount)));
        assert!(matches!(split_compact("a.b.c.d"), Err(SplitError::PartCount)));
    }
}
