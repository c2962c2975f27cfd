//! Compact JWS parsing under RFC 8725 rules: canonical base64url only, JSON
//! with duplicate members rejected, unknown `crit` rejected.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeSet;
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

/// Decodes canonical unpadded base64url. base64-simd's strict decoder: the
/// URL-safe alphabet only, no padding, zero trailing bits (the same rules as
/// `B64`, proven in the tests below); so are [`b64_decode_uninit`] and
/// [`b64_is_canonical`].
pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    b64_decoded_len(s.len())?;
    // Into a buffer of the exact length, not zeroed first.
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s.as_bytes()).ok()
}

/// Bytes that `len` characters of unpadded base64url decode to; `None` for a
/// length no canonical encoding has.
pub(crate) fn b64_decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + r.saturating_sub(1)),
    }
}

/// Decodes canonical unpadded base64url into `out`, which need not be
/// initialized; the decoded bytes, or `None` when `s` is not canonical or `out`
/// is too short.
pub(crate) fn b64_decode_uninit<'o>(s: &str, out: &'o mut [std::mem::MaybeUninit<u8>]) -> Option<&'o [u8]> {
    let len = b64_decoded_len(s.len())?;
    let out = out.get_mut(..len)?;
    base64_simd::URL_SAFE_NO_PAD.decode(s.as_bytes(), base64_simd::Out::from_uninit_slice(out)).ok().map(|d| &*d)
}

/// Whether `s` is canonical unpadded base64url (what [`b64_decode_uninit`]
/// accepts), without decoding it.
pub(crate) fn b64_is_canonical(s: &str) -> bool {
    b64_decoded_len(s.len()).is_some() && base64_simd::URL_SAFE_NO_PAD.check(s.as_bytes()).is_ok()
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

/// A member the header or claims rules read, by JSON type.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Member<T> {
    /// Not in the object.
    #[default]
    Absent,
    /// Present with the expected type.
    Is(T),
    /// Present with another type.
    WrongType,
}

impl<T> Member<T> {
    pub(crate) fn is_absent(&self) -> bool {
        matches!(self, Member::Absent)
    }
}

/// The JOSE header members tokenkeep reads; others are checked for JSON
/// strictness and dropped. `alg` borrows from the decoded header.
#[derive(Default)]
pub(crate) struct RawHeader<'de> {
    pub alg: Member<Cow<'de, str>>,
    pub kid: Member<String>,
    pub typ: Member<String>,
    pub crit: Option<Value>,
    pub b64: Option<Value>,
}

/// Parses a JOSE header object, rejecting duplicate members at any depth.
/// `Ok(None)` when the JSON is valid but not an object.
pub(crate) fn parse_header(json: &str) -> Result<Option<RawHeader<'_>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json.as_bytes());
    let header = de.deserialize_any(HeaderVisitor)?;
    de.end()?;
    Ok(header)
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Option<RawHeader<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = RawHeader::default();
        let mut seen = SeenNames::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let which = HeaderMember::of(&name);
            if !seen.insert(name) {
                return Err(de::Error::custom(DUPLICATE_MEMBER));
            }
            match which {
                HeaderMember::Alg => header.alg = map.next_value_seed(StrSeed)?,
                HeaderMember::Kid => header.kid = owned(map.next_value_seed(StrSeed)?),
                HeaderMember::Typ => header.typ = owned(map.next_value_seed(StrSeed)?),
                HeaderMember::Crit => header.crit = Some(map.next_value_seed(StrictSeed)?),
                HeaderMember::B64 => header.b64 = Some(map.next_value_seed(StrictSeed)?),
                HeaderMember::Other => map.next_value_seed(StrictSkip)?,
            }
        }
        Ok(Some(header))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_seq(seq).map(|()| None)
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

enum HeaderMember {
    Alg,
    Kid,
    Typ,
    Crit,
    B64,
    Other,
}

impl HeaderMember {
    fn of(name: &str) -> HeaderMember {
        match name {
            "alg" => HeaderMember::Alg,
            "kid" => HeaderMember::Kid,
            "typ" => HeaderMember::Typ,
            "crit" => HeaderMember::Crit,
            "b64" => HeaderMember::B64,
            _ => HeaderMember::Other,
        }
    }
}

fn owned(member: Member<Cow<'_, str>>) -> Member<String> {
    match member {
        Member::Absent => Member::Absent,
        Member::Is(s) => Member::Is(s.into_owned()),
        Member::WrongType => Member::WrongType,
    }
}

/// Where a string of the claims is: a range of the claims JSON when the token
/// wrote it without escapes (nearly always), else its unescaped copy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Text {
    At(u32, u32),
    Unescaped(Box<str>),
}

impl Text {
    fn borrowed(s: &str, base: usize) -> Text {
        let start = (s.as_ptr() as usize).wrapping_sub(base);
        match (u32::try_from(start), u32::try_from(start + s.len())) {
            (Ok(a), Ok(b)) => Text::At(a, b),
            _ => Text::Unescaped(s.into()),
        }
    }

    /// The string, given the claims JSON this was read from.
    pub(crate) fn get<'a>(&'a self, json: &'a str) -> &'a str {
        match self {
            Text::At(a, b) => json.get(*a as usize..*b as usize).unwrap_or_default(),
            Text::Unescaped(s) => s,
        }
    }
}

/// `aud`: one string or an array of them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Audiences {
    One(Text),
    Many(Vec<Text>),
}

impl Audiences {
    pub(crate) fn iter<'a>(&'a self, json: &'a str) -> impl Iterator<Item = &'a str> {
        let (one, many) = match self {
            Audiences::One(t) => (Some(t), &[][..]),
            Audiences::Many(list) => (None, &list[..]),
        };
        one.into_iter().chain(many).map(move |t| t.get(json))
    }
}

/// The registered claims the rules read, found in one pass over the claims
/// JSON that also proves it strict (one object, no member twice at any depth).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Registered {
    pub iss: Member<Text>,
    pub sub: Member<Text>,
    pub aud: Member<Audiences>,
    pub exp: Member<f64>,
    pub nbf: Member<f64>,
    pub iat: Member<f64>,
}

/// Names of the claims object's members, for `required_claims`; from the
/// direct scan also each member's value, so a binding builds its native
/// object from this scan instead of reading the JSON again.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Names {
    /// Names (and values, when `spans`) within the first 64 KiB of the JSON,
    /// as 16-bit offsets: the parsed token is moved a few times per token,
    /// and this keeps it as small as the names alone took with 32 bits.
    few: [MemberSpan; FEW_NAMES],
    len: usize,
    more: Vec<Text>,
    /// Set by the direct scan: every member is in `few`, with its value, and
    /// every name and string value there is free of escapes, every number a
    /// plain integer of at most 18 digits.
    spans: bool,
}

/// Where a member's name and value (its JSON text) are in the claims JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct MemberSpan {
    name: (u16, u16),
    value: (u16, u16),
}

/// Claims JSON longer than this is scanned by serde_json (offsets are 16-bit).
const SPAN_MAX: usize = u16::MAX as usize;

impl Names {
    pub(crate) fn contains(&self, name: &str, json: &str) -> bool {
        self.few[..self.len].iter().any(|m| json.get(usize::from(m.name.0)..usize::from(m.name.1)) == Some(name))
            || self.more.iter().any(|t| t.get(json) == name)
    }

    fn push(&mut self, text: Text) {
        match text {
            Text::At(a, b) if self.len < FEW_NAMES => match (u16::try_from(a), u16::try_from(b)) {
                (Ok(a), Ok(b)) => {
                    self.few[self.len] = MemberSpan { name: (a, b), value: (0, 0) };
                    self.len += 1;
                }
                _ => self.more.push(text),
            },
            other => self.more.push(other),
        }
    }

    /// The members with their values' JSON text, in the token's order (None
    /// unless the direct scan read the object).
    pub(crate) fn members<'j>(&'j self, json: &'j str) -> Option<Members<'j>> {
        self.spans.then(|| Members { json, members: self.few[..self.len].iter() })
    }
}

/// The claims object's members, as the strict scan found them: each name
/// with its value (see [`crate::Claims::members`]).
#[derive(Clone, Debug)]
pub struct Members<'j> {
    json: &'j str,
    members: std::slice::Iter<'j, MemberSpan>,
}

/// A member's value, as [`crate::Claims::members`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimValue<'j> {
    /// A string, free of escapes: its text (between the quotes).
    Str(&'j str),
    /// A non-negative integer of at most 18 digits (no fraction, no exponent).
    Int(u64),
    /// Any other value (array, object, `true`, `false`, `null`): its JSON
    /// text, strict like the whole (no member repeated at any depth).
    Json(&'j str),
}

impl<'j> Iterator for Members<'j> {
    type Item = (&'j str, ClaimValue<'j>);

    fn next(&mut self) -> Option<Self::Item> {
        let &MemberSpan { name: (a, b), value: (c, d) } = self.members.next()?;
        let (json, c, d) = (self.json, usize::from(c), usize::from(d));
        let name = json.get(usize::from(a)..usize::from(b)).unwrap_or_default();
        let value = match json.as_bytes().get(c) {
            // The scan's strings: the text between the quotes (ASCII, so
            // char boundaries).
            Some(b'"') => ClaimValue::Str(json.get(c + 1..d.saturating_sub(1)).unwrap_or_default()),
            Some(b'0'..=b'9') => ClaimValue::Int(
                json.as_bytes()
                    .get(c..d)
                    .unwrap_or_default()
                    .iter()
                    .fold(0u64, |n, d| n.wrapping_mul(10).wrapping_add(u64::from(d.wrapping_sub(b'0')))),
            ),
            _ => ClaimValue::Json(json.get(c..d).unwrap_or_default()),
        };
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.members.size_hint()
    }
}

impl ExactSizeIterator for Members<'_> {}

/// What one pass over the claims JSON found.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ClaimsScan {
    pub registered: Registered,
    pub names: Names,
}

/// Scans the claims JSON into `out` (which starts as the default): strictness,
/// registered claims and member names, without building a tree. `Ok(false)`
/// when the JSON is valid but not an object. Written in place, so the result
/// is not moved through each layer. (From `&str`: UTF-8 was checked once for
/// the whole text, not per string.)
pub(crate) fn scan_claims_into(json: &str, out: &mut ClaimsScan) -> Result<bool, serde_json::Error> {
    if simple::scan_into(json, out) {
        return Ok(true);
    }
    // The fast path may have written part of `out` before it gave up.
    *out = ClaimsScan::default();
    Ok(match scan_claims_with_serde(json)? {
        Some(scan) => {
            *out = scan;
            true
        }
        None => false,
    })
}

/// The authority: serde_json with visitors that keep nothing but the facts.
pub(crate) fn scan_claims_with_serde(json: &str) -> Result<Option<ClaimsScan>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json.as_bytes());
    let scan = de.deserialize_any(ClaimsVisitor { base: json.as_ptr() as usize })?;
    de.end()?;
    Ok(scan)
}

struct ClaimsVisitor {
    base: usize,
}

enum ClaimMember {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Other,
}

impl ClaimMember {
    fn of(name: &str) -> ClaimMember {
        ClaimMember::of_bytes(name.as_bytes())
    }

    fn of_bytes(name: &[u8]) -> ClaimMember {
        match name {
            b"iss" => ClaimMember::Iss,
            b"sub" => ClaimMember::Sub,
            b"aud" => ClaimMember::Aud,
            b"exp" => ClaimMember::Exp,
            b"nbf" => ClaimMember::Nbf,
            b"iat" => ClaimMember::Iat,
            _ => ClaimMember::Other,
        }
    }
}

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Option<ClaimsScan>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let base = self.base;
        let mut registered = Registered::default();
        let mut seen = SeenNames::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let which = ClaimMember::of(&name);
            if !seen.insert(name) {
                return Err(de::Error::custom(DUPLICATE_MEMBER));
            }
            let text = |m: Member<Cow<'de, str>>| match m {
                Member::Absent => Member::Absent,
                Member::Is(Cow::Borrowed(s)) => Member::Is(Text::borrowed(s, base)),
                Member::Is(Cow::Owned(s)) => Member::Is(Text::Unescaped(s.into())),
                Member::WrongType => Member::WrongType,
            };
            match which {
                ClaimMember::Iss => registered.iss = text(map.next_value_seed(StrSeed)?),
                ClaimMember::Sub => registered.sub = text(map.next_value_seed(StrSeed)?),
                ClaimMember::Aud => registered.aud = map.next_value_seed(AudSeed { base })?,
                ClaimMember::Exp => registered.exp = map.next_value_seed(NumSeed)?,
                ClaimMember::Nbf => registered.nbf = map.next_value_seed(NumSeed)?,
                ClaimMember::Iat => registered.iat = map.next_value_seed(NumSeed)?,
                ClaimMember::Other => map.next_value_seed(StrictSkip)?,
            }
        }
        let mut names = Names::default();
        seen.for_each(|name| {
            names.push(match name {
                Cow::Borrowed(s) => Text::borrowed(s, base),
                Cow::Owned(s) => Text::Unescaped(s.as_str().into()),
            })
        });
        Ok(Some(ClaimsScan { registered, names }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_seq(seq).map(|()| None)
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

/// How many member names of one object are compared pairwise before a
/// sorted set takes over (a 16 KiB token of tiny members stays linear-ish).
const FEW_NAMES: usize = 16;

/// Member names of one object seen so far: duplicates are refused.
struct SeenNames<'de> {
    few: [&'de str; FEW_NAMES],
    len: usize,
    many: Option<BTreeSet<Cow<'de, str>>>,
}

impl<'de> SeenNames<'de> {
    fn new() -> Self {
        SeenNames { few: [""; FEW_NAMES], len: 0, many: None }
    }

    /// False when `name` was seen before.
    fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if self.many.is_none() {
            if let Cow::Borrowed(s) = name {
                if self.len < FEW_NAMES {
                    if self.few[..self.len].contains(&s) {
                        return false;
                    }
                    self.few[self.len] = s;
                    self.len += 1;
                    return true;
                }
            }
            self.many = Some(self.few[..self.len].iter().map(|s| Cow::Borrowed(*s)).collect());
        }
        self.many.as_mut().is_some_and(|set| set.insert(name))
    }

    fn for_each(&self, mut f: impl FnMut(&Cow<'de, str>)) {
        match &self.many {
            Some(set) => set.iter().for_each(f),
            None => self.few[..self.len].iter().for_each(|s| f(&Cow::Borrowed(*s))),
        }
    }
}

/// A member name, borrowed from the input unless it had escapes.
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(NameSeed)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Any JSON value, checked for duplicate members at any depth, kept nowhere.
struct StrictSkip;

impl<'de> DeserializeSeed<'de> for StrictSkip {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(StrictSkip)
    }
}

impl<'de> Visitor<'de> for StrictSkip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(StrictSkip)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = SeenNames::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if !seen.insert(name) {
                return Err(de::Error::custom(DUPLICATE_MEMBER));
            }
            map.next_value_seed(StrictSkip)?;
        }
        Ok(())
    }
}

/// A string member (borrowed when it had no escapes); any other value is
/// still checked strictly and reported as the wrong type.
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Member<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(StrSeed)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Member<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Is(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Is(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Member::Is(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_seq(seq).map(|()| Member::WrongType)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_map(map).map(|()| Member::WrongType)
    }
}

/// A numeric member as seconds (`exp`, `nbf`, `iat`).
struct NumSeed;

impl<'de> DeserializeSeed<'de> for NumSeed {
    type Value = Member<f64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NumSeed)
    }
}

impl<'de> Visitor<'de> for NumSeed {
    type Value = Member<f64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Member::Is(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Member::Is(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(if v.is_finite() { Member::Is(v) } else { Member::WrongType })
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_seq(seq).map(|()| Member::WrongType)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_map(map).map(|()| Member::WrongType)
    }
}

/// `aud`: a string, or an array whose items are all strings.
struct AudSeed {
    base: usize,
}

impl<'de> DeserializeSeed<'de> for AudSeed {
    type Value = Member<Audiences>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudSeed {
    type Value = Member<Audiences>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Member::Is(Audiences::One(Text::borrowed(v, self.base))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Member::Is(Audiences::One(Text::Unescaped(v.into()))))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Member::WrongType)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut all = Some(Vec::new());
        while let Some(item) = seq.next_element_seed(StrSeed)? {
            match (item, &mut all) {
                (Member::Is(Cow::Borrowed(s)), Some(list)) => list.push(Text::borrowed(s, self.base)),
                (Member::Is(Cow::Owned(s)), Some(list)) => list.push(Text::Unescaped(s.into())),
                _ => all = None,
            }
        }
        Ok(all.map_or(Member::WrongType, |list| Member::Is(Audiences::Many(list))))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        StrictSkip.visit_map(map).map(|()| Member::WrongType)
    }
}

/// The claims as IdPs write them, scanned without serde: an object whose
/// member names and strings have no escapes, whose numbers are non-negative
/// integers of at most 18 digits, with at most [`FEW_NAMES`] members per
/// object and little nesting. Anything else (an escape, a float, a syntax
/// error, a repeated name…) returns `None` and serde_json decides, so this
/// accepts a subset of what serde_json accepts and finds the same facts
/// (proven by the property tests below).
mod simple {
    use super::{Audiences, ClaimMember, ClaimsScan, FEW_NAMES, Member, MemberSpan, Text};

    /// Deeper nesting is left to serde_json (which refuses past 128).
    const MAX_DEPTH: usize = 32;

    /// Length of the prefix of `bytes` free of `"`, `\\` and control
    /// characters, eight bytes at a time (claim strings are short).
    pub(super) fn plain_prefix(bytes: &[u8]) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let has_zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let mut at = 0;
        while let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let w = u64::from_le_bytes(word);
            let special = has_zero_byte(w ^ (ONES * u64::from(b'"')))
                | has_zero_byte(w ^ (ONES * u64::from(b'\\')))
                | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
            if special != 0 {
                // The lowest flagged byte is a real one (borrows only run upwards).
                return at + (special.trailing_zeros() / 8) as usize;
            }
            at += 8;
        }
        at + bytes[at..].iter().take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20).count()
    }

    /// The length and first bytes of the name at `bytes[start..end]`: equal
    /// fingerprints of names shorter than 8 bytes mean equal names. One load
    /// of the 8 bytes at `start` when the text has them (it nearly always
    /// does: the name's value follows), masked to the name.
    fn fingerprint(bytes: &[u8], start: usize, end: usize) -> u64 {
        let len = end - start;
        let keep = len.min(7);
        let head = match bytes.get(start..start + 8) {
            Some(eight) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(eight);
                u64::from_le_bytes(word) & ((1u64 << (8 * keep)) - 1)
            }
            None => {
                let mut word = [0u8; 8];
                word[..keep].copy_from_slice(&bytes[start..start + keep]);
                u64::from_le_bytes(word)
            }
        };
        head | (u64::from(len as u8) << 56)
    }

    #[cfg(test)]
    #[test]
    fn fingerprint_by_load_equals_fingerprint_by_copy() {
        for name in ["", "a", "iss", "abcdefg", "abcdefgh", "a name longer than a word"] {
            let alone = fingerprint(name.as_bytes(), 0, name.len());
            let followed = format!("{name}\":\"a value\"}}");
            assert_eq!(fingerprint(followed.as_bytes(), 0, name.len()), alone, "{name}");
            let other = format!("{}x\":1}}", name.get(..name.len().saturating_sub(1)).unwrap_or_default());
            if name.len() < 8 && !name.ends_with('x') && !name.is_empty() {
                assert_ne!(fingerprint(other.as_bytes(), 0, name.len()), alone, "{name} vs {other}");
            }
        }
    }

    struct Cursor<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    /// What a value was, as far as the registered claims care.
    enum Kind {
        Str(u32, u32),
        Int(u64),
        Array { all_strings: bool },
        Other,
    }

    #[cfg(test)]
    pub(super) fn scan(json: &str) -> Option<ClaimsScan> {
        let mut out = ClaimsScan::default();
        scan_into(json, &mut out).then_some(out)
    }

    /// Whether the fast path could read `json`; when not, `out` may be partly
    /// written and the caller asks serde_json.
    pub(super) fn scan_into(json: &str, out: &mut ClaimsScan) -> bool {
        if json.len() > super::SPAN_MAX {
            return false;
        }
        let mut c = Cursor { bytes: json.as_bytes(), at: 0 };
        c.skip_ws();
        if c.claims_object(out).is_none() {
            return false;
        }
        c.skip_ws();
        out.names.spans = c.at == c.bytes.len();
        out.names.spans
    }

    impl Cursor<'_> {
        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
                self.at += 1;
            }
        }

        fn eat(&mut self, byte: u8) -> Option<()> {
            (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
        }

        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.at).copied()
        }

        /// A string without escapes or control characters; its content's span.
        fn string(&mut self) -> Option<(u32, u32)> {
            self.eat(b'"')?;
            let start = self.at;
            let end = start + plain_prefix(&self.bytes[start..]);
            if self.bytes.get(end) != Some(&b'"') {
                return None;
            }
            self.at = end + 1;
            Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
        }

        fn integer(&mut self) -> Option<u64> {
            let start = self.at;
            let (mut at, mut n) = (start, 0u64);
            // One pass: digits are read and summed together (at most 18 are
            // summed, so no overflow; a longer run is refused below).
            while let Some(&d @ b'0'..=b'9') = self.bytes.get(at) {
                n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                at += 1;
            }
            self.at = at;
            let len = at - start;
            let plain = len != 0 && len <= 18 && (self.bytes[start] != b'0' || len == 1);
            if !plain || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            Some(n)
        }

        fn literal(&mut self, word: &[u8]) -> Option<Kind> {
            let end = self.at + word.len();
            (self.bytes.get(self.at..end) == Some(word)).then(|| {
                self.at = end;
                Kind::Other
            })
        }

        fn value(&mut self, depth: usize) -> Option<Kind> {
            match self.peek()? {
                b'"' => self.string().map(|(a, b)| Kind::Str(a, b)),
                b'0'..=b'9' => self.integer().map(Kind::Int),
                b't' => self.literal(b"true"),
                b'f' => self.literal(b"false"),
                b'n' => self.literal(b"null"),
                b'[' => self.array(depth + 1),
                b'{' => self.nested_object(depth + 1),
                _ => None,
            }
        }

        /// Out of line: claims rarely nest objects, and inlined here it made
        /// every value pay for its stack frame.
        #[cold]
        #[inline(never)]
        fn nested_object(&mut self, depth: usize) -> Option<Kind> {
            self.object(depth, |c, _| c.value(depth).map(drop))?;
            Some(Kind::Other)
        }

        fn array(&mut self, depth: usize) -> Option<Kind> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.eat(b'[')?;
            self.skip_ws();
            let mut all_strings = true;
            if self.eat(b']').is_some() {
                return Some(Kind::Array { all_strings });
            }
            loop {
                self.skip_ws();
                all_strings &= matches!(self.value(depth)?, Kind::Str(..));
                self.skip_ws();
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        return Some(Kind::Array { all_strings });
                    }
                    _ => return None,
                }
            }
        }

        /// An object's members, each name new within the object; `member`
        /// sees each name's span before its value is read.
        fn object(&mut self, depth: usize, mut member: impl FnMut(&mut Self, (u32, u32)) -> Option<()>) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.eat(b'{')?;
            self.skip_ws();
            if self.eat(b'}').is_some() {
                return Some(());
            }
            let mut seen = [(0u64, 0u32, 0u32); FEW_NAMES];
            let mut count = 0;
            loop {
                self.skip_ws();
                let name = self.string()?;
                let text = &self.bytes[name.0 as usize..name.1 as usize];
                let print = fingerprint(self.bytes, name.0 as usize, name.1 as usize);
                let same = |&(p, a, b): &(u64, u32, u32)| {
                    p == print && (text.len() < 8 || &self.bytes[a as usize..b as usize] == text)
                };
                if count == FEW_NAMES || seen[..count].iter().any(same) {
                    return None;
                }
                seen[count] = (print, name.0, name.1);
                count += 1;
                self.skip_ws();
                self.eat(b':')?;
                self.skip_ws();
                member(self, name)?;
                self.skip_ws();
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }

        fn claims_object(&mut self, out: &mut ClaimsScan) -> Option<()> {
            let ClaimsScan { registered, names } = out;
            let text = |kind: Kind| match kind {
                Kind::Str(a, b) => Member::Is(Text::At(a, b)),
                _ => Member::WrongType,
            };
            let number = |kind: Kind| match kind {
                Kind::Int(n) => Member::Is(n as f64),
                _ => Member::WrongType,
            };
            self.object(1, |c, (a, b)| {
                let start = c.at;
                match ClaimMember::of_bytes(&c.bytes[a as usize..b as usize]) {
                    ClaimMember::Iss => registered.iss = text(c.value(1)?),
                    ClaimMember::Sub => registered.sub = text(c.value(1)?),
                    ClaimMember::Aud => registered.aud = c.audiences()?,
                    ClaimMember::Exp => registered.exp = number(c.value(1)?),
                    ClaimMember::Nbf => registered.nbf = number(c.value(1)?),
                    ClaimMember::Iat => registered.iat = number(c.value(1)?),
                    ClaimMember::Other => {
                        c.value(1)?;
                    }
                }
                // `object` refuses a member past FEW_NAMES, so each one has its
                // slot; the offsets fit: `scan_into` takes at most SPAN_MAX bytes.
                *names.few.get_mut(names.len)? =
                    MemberSpan { name: (a as u16, b as u16), value: (start as u16, c.at as u16) };
                names.len += 1;
                Some(())
            })
        }

        fn audiences(&mut self) -> Option<Member<Audiences>> {
            if self.peek()? != b'[' {
                return Some(match self.value(1)? {
                    Kind::Str(a, b) => Member::Is(Audiences::One(Text::At(a, b))),
                    _ => Member::WrongType,
                });
            }
            let start = self.at;
            let Kind::Array { all_strings } = self.array(2)? else { return None };
            if !all_strings {
                return Some(Member::WrongType);
            }
            // Read the (valid, all-string) array again for its items' spans.
            let mut items = Vec::new();
            let mut c = Cursor { bytes: &self.bytes[..self.at], at: start + 1 };
            loop {
                c.skip_ws();
                match c.peek()? {
                    b'"' => items.push(c.string().map(|(a, b)| Text::At(a, b))?),
                    b',' => c.at += 1,
                    _ => return Some(Member::Is(Audiences::Many(items))),
                }
            }
        }
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
    /// Whether `signature_b64` is canonical base64url (checked without decoding).
    pub signature_canonical: bool,
    /// `header_b64 + "." + payload_b64`: the bytes that were signed.
    pub signing_input: &'t str,
}

pub(crate) enum SplitError {
    Jwe,
    PartCount,
}

pub(crate) fn split_compact(token: &str) -> Result<CompactParts<'_>, SplitError> {
    split_compact_with(token, |signature| b64_is_canonical(signature).then_some(())).map(|(parts, _)| parts)
}

/// [`split_compact`], reading the signature part with `read` (which returns
/// `None` when it is not canonical base64url): a caller that will decode the
/// signature anyway decodes it here instead of checking it twice.
pub(crate) fn split_compact_with<'t, S>(
    token: &'t str,
    read: impl FnOnce(&'t str) -> Option<S>,
) -> Result<(CompactParts<'t>, Option<S>), SplitError> {
    let bytes = token.as_bytes();
    let Some(first) = memchr::memchr(b'.', bytes) else { return Err(SplitError::PartCount) };
    let Some(second) = memchr::memchr(b'.', &bytes[first + 1..]).map(|i| first + 1 + i) else {
        return Err(SplitError::PartCount);
    };
    // Two dots found; a JWE's five parts leave two more. A canonical
    // signature has no dot (it is not in the alphabet): one pass over the
    // last part checks both, and dots are looked for only when it fails.
    let rest = &bytes[second + 1..];
    let signature = read(&token[second + 1..]);
    let signature_canonical = signature.is_some();
    if !signature_canonical && memchr::memchr(b'.', rest).is_some() {
        return Err(match memchr::memchr_iter(b'.', rest).count() {
            2 => SplitError::Jwe,
            _ => SplitError::PartCount,
        });
    }
    let parts = CompactParts {
        header_b64: &token[..first],
        payload_b64: &token[first + 1..second],
        signature_b64: &token[second + 1..],
        signature_canonical,
        signing_input: &token[..second],
    };
    Ok((parts, signature))
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

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// The fast decoder and the `base64` crate's strict engine agree on
        /// every string: accepted or refused, and the bytes.
        #[test]
        fn fast_base64url_agrees_with_the_strict_engine(s in "[A-Za-z0-9_=+/ .\\-]{0,70}") {
            let reference = B64.decode(s.as_bytes()).ok();
            proptest::prop_assert_eq!(b64_decode(&s), reference);
        }

        /// The check without output refuses exactly what the decoder refuses
        /// (long enough for several SIMD blocks).
        #[test]
        fn base64url_check_agrees_with_the_decoder(s in "[A-Za-z0-9_=+/ .\\-]{0,200}") {
            proptest::prop_assert_eq!(b64_is_canonical(&s), b64_decode(&s).is_some());
        }

        /// One character of a valid encoding replaced, anywhere (the tail's
        /// trailing bits included).
        #[test]
        fn base64url_check_agrees_on_near_misses(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..300),
            at in proptest::num::usize::ANY,
            c in "[A-Za-z0-9_=+/ .\\-]",
        ) {
            let mut s = b64_encode(&bytes);
            let at = at % s.len();
            s.replace_range(at..at + 1, &c);
            proptest::prop_assert_eq!(b64_is_canonical(&s), b64_decode(&s).is_some());
        }

        #[test]
        fn base64url_check_accepts_what_was_encoded(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            proptest::prop_assert!(b64_is_canonical(&b64_encode(&bytes)));
        }

        #[test]
        fn fast_base64url_decodes_what_was_encoded(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            proptest::prop_assert_eq!(b64_decode(&b64_encode(&bytes)), Some(bytes));
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod claims_scan {
        use super::super::{ClaimValue, ClaimsScan, scan_claims_with_serde, simple};
        use proptest::prelude::*;
        use serde_json::Value;

        fn ws() -> impl Strategy<Value = &'static str> {
            prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t ")]
        }

        fn name() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                Just(r#""iss""#),
                Just(r#""sub""#),
                Just(r#""aud""#),
                Just(r#""exp""#),
                Just(r#""nbf""#),
                Just(r#""iat""#),
                Just(r#""x""#),
                Just(r#""y z""#),
                Just(r#""\u0065xp""#),
                Just(r#""é""#),
            ]
        }

        fn leaf() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("true".to_owned()),
                Just("false".to_owned()),
                Just("null".to_owned()),
                "(0|[1-9][0-9]{0,21})",
                "-?0?[0-9]{1,3}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?",
                r#""([a-z :/._-]|é|\\n|\\u00e9|\\"|\t){0,6}""#,
            ]
        }

        fn value() -> impl Strategy<Value = String> {
            leaf().prop_recursive(4, 24, 5, |inner| {
                prop_oneof![
                    prop::collection::vec((ws(), inner.clone()), 0..4).prop_map(|items| format!(
                        "[{}]",
                        items.iter().map(|(w, v)| format!("{w}{v}")).collect::<Vec<_>>().join(",")
                    )),
                    prop::collection::vec((name(), ws(), inner), 0..5).prop_map(|members| {
                        let members: Vec<String> = members.iter().map(|(n, w, v)| format!("{n}{w}:{v}")).collect();
                        format!("{{{}}}", members.join(","))
                    }),
                ]
            })
        }

        fn claims() -> impl Strategy<Value = String> {
            (ws(), prop::collection::vec((name(), ws(), value()), 0..9), ws()).prop_map(|(a, members, b)| {
                let members: Vec<String> = members.iter().map(|(n, w, v)| format!("{n}{w}:{w}{v}")).collect();
                format!("{a}{{{}}}{b}", members.join(&format!(",{a}")))
            })
        }

        /// One character replaced, removed or inserted somewhere.
        fn mutated() -> impl Strategy<Value = String> {
            (
                claims(),
                any::<prop::sample::Index>(),
                0..3u8,
                prop::sample::select(vec!['"', ',', ':', '{', '}', '[', ']', '\\', '0', 'e', '.', ' ', '\u{1}']),
            )
                .prop_map(|(text, at, op, ch)| {
                    let mut chars: Vec<char> = text.chars().collect();
                    let i = at.index(chars.len() + 1);
                    match op {
                        0 if i < chars.len() => chars[i] = ch,
                        1 if i < chars.len() => {
                            chars.remove(i);
                        }
                        _ => chars.insert(i, ch),
                    }
                    chars.into_iter().collect()
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            /// Whatever the fast scanner accepts, serde_json accepts with the same facts.
            #[test]
            fn fast_scan_agrees_with_serde(text in prop_oneof![claims(), mutated()]) {
                if let Some(fast) = simple::scan(&text) {
                    prop_assert!(members_agree_with_serde(&text, &fast), "{}", text);
                    prop_assert_eq!(Some(names_only(fast)), scan_claims_with_serde(&text).ok().flatten(), "{}", text);
                }
            }
        }

        proptest! {
            #[test]
            fn plain_prefix_stops_at_the_first_special_byte(bytes in prop::collection::vec(
                prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20, 1 => 0x80u8..=0xff], 0..40)) {
                let naive = bytes.iter().take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20).count();
                prop_assert_eq!(simple::plain_prefix(&bytes), naive);
            }
        }

        /// The facts serde_json's scan finds too: the names without their values.
        fn names_only(mut scan: ClaimsScan) -> ClaimsScan {
            scan.names.few.iter_mut().for_each(|m| m.value = (0, 0));
            scan.names.spans = false;
            scan
        }

        /// Every member the fast scan recorded is the member serde_json
        /// reads, with the same value, and none is missing.
        fn members_agree_with_serde(text: &str, scan: &ClaimsScan) -> bool {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else { return false };
            let Some(members) = scan.names.members(text) else { return false };
            members.len() == map.len()
                && members.into_iter().all(|(name, value)| {
                    let expected = map.get(name);
                    match value {
                        ClaimValue::Str(s) => expected == Some(&Value::String(s.to_owned())),
                        ClaimValue::Int(n) => expected == Some(&Value::from(n)),
                        ClaimValue::Json(json) => expected == serde_json::from_str::<Value>(json).ok().as_ref(),
                    }
                })
        }

        #[test]
        fn typical_claims_take_the_fast_path() {
            for text in [
                r#"{"iss":"https://idp.example","aud":"api","sub":"user-1","iat":1767225540,"exp":1767229200,"scope":"read write"}"#,
                r#"{"aud":["a","b"],"exp":1767229200,"iss":"https://kubernetes.default.svc","kubernetes.io":{"namespace":"default","pod":{"name":"p","uid":"u"},"serviceaccount":{"name":"s","uid":"v"}},"nbf":1767225540,"sub":"system:serviceaccount:default:s"}"#,
                r#" { "iss" : "i" , "roles" : [ ] , "ok" : true , "n" : null } "#,
            ] {
                let fast = simple::scan(text).expect(text);
                assert!(members_agree_with_serde(text, &fast), "{text}");
                assert_eq!(Some(names_only(fast)), scan_claims_with_serde(text).ok().flatten());
            }
            for text in [r#"{"exp":1.5}"#, r#"{"a":"\n"}"#, r#"{"a":1,"a":2}"#, r#"{"a":-1}"#, "[]", r#"{"a":1} x"#] {
                assert!(simple::scan(text).is_none(), "{text}");
            }
        }
    }

    #[test]
    fn split_tells_jwe_from_garbage() {
        assert!(split_compact("a.b.c").is_ok());
        assert!(matches!(split_compact("a.b.c.d.e"), Err(SplitError::Jwe)));
        assert!(matches!(split_compact("a.b"), Err(SplitError::PartCount)));
        assert!(matches!(split_compact("a.b.c.d"), Err(SplitError::PartCount)));
    }
}
