//! The options spec: the one serde form of every tokenkeep option.
//!
//! The agent's TOML, the CLI's `--policy`, Python keyword arguments, JS
//! objects, Kotlin records and the edge build's options all deserialize into
//! these types, and one validation pass turns them into the core's own
//! configuration ([`Policy`], [`CacheConfig`], [`KeySource`], …). No host
//! checks an option itself; every error names the field path
//! (`issuers[1].audience: must not be empty`) and carries a [`SpecErrorCode`].
//!
//! Conventions: field names are snake_case, and every multi-word field also
//! accepts its camelCase spelling (`jwks_url` / `jwksUrl`) so JS and Kotlin
//! objects deserialize as they are written; unknown fields are errors;
//! durations are seconds (`90`, `1.5`) or a string with a unit (`"250ms"`,
//! `"90s"`, `"5m"`, `"2h"`, `"1d"`).
//!
//! ```
//! use tokenkeep_core::spec::VerifierSpec;
//! let spec = VerifierSpec::from_json(r#"{"issuer": "https://idp.example", "audience": "api", "leeway": "45s"}"#).unwrap();
//! let plan = spec.validate().unwrap();
//! assert_eq!(plan.issuers[0].policy.audiences(), ["api"]);
//!
//! let err = VerifierSpec::from_json(r#"{"issuers": [{"issuer": "https://a.example"}, {"issuer": "https://b.example", "audience": []}]}"#)
//!     .unwrap()
//!     .validate()
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "issuers[1].audience: must not be empty");
//! assert_eq!(err.code().as_str(), "empty_value");
//! ```

use crate::alg::{AlgSet, Algorithm};
use crate::jwk::KeySet;
use crate::jwks::{CacheConfig, KeySource, SourceError};
use crate::policy::{Policy, PolicyConfig, PolicyError};
use crate::rejection::sanitize;
use crate::token_cache::DEFAULT_CAPACITY as DEFAULT_VERIFIED_TOKENS;
use core::fmt;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use crate::spec_outbound::*;

crate::codes::code_enum! {
    /// The stable code of a [`SpecError`].
    pub enum SpecErrorCode {
        /// The document is not valid JSON (or TOML, …) at all.
        Syntax => "syntax",
        /// A field the spec does not have (a typo, or an option of another source kind).
        UnknownField => "unknown_field",
        /// A required field is absent.
        MissingField => "missing_field",
        /// A field has the wrong type (a number where a string belongs, …).
        InvalidType => "invalid_type",
        /// A field's value is not acceptable.
        InvalidValue => "invalid_value",
        /// A duration that is not seconds or a number with a unit.
        InvalidDuration => "invalid_duration",
        /// A value outside its allowed range (intervals, grace windows, TTL clamps…).
        OutOfRange => "out_of_range",
        /// A string or list that must not be empty.
        EmptyValue => "empty_value",
        /// Two fields that cannot be given together.
        Conflict => "conflict",
        /// A URL that does not parse as an absolute http(s) URL.
        InvalidUrl => "invalid_url",
        /// A plain-http URL to a host other than loopback, without `dangerous_allow_http`.
        InsecureUrl => "insecure_url",
        /// An algorithm name tokenkeep does not know.
        UnknownAlgorithm => "unknown_algorithm",
        /// A JWKS document that is not a key set.
        InvalidJwks => "invalid_jwks",
        /// An HMAC secret that cannot be used (too short, bad encoding…).
        InvalidSecret => "invalid_secret",
        /// A Vault address, mount, path or namespace that is not usable.
        InvalidVaultPath => "invalid_vault_path",
        /// No Vault address: neither in the options nor in `VAULT_ADDR` / `BAO_ADDR`.
        MissingAddress => "missing_address",
        /// A file named by an option cannot be read (CA file, bearer token file).
        FileUnreadable => "file_unreadable",
        /// A file named by an option holds nothing usable (a CA file without a certificate).
        InvalidFile => "invalid_file",
    }
}

/// Options that are not acceptable: the field path, a code and a message a
/// newcomer can act on. Never holds a secret (values are not quoted unless
/// they are names, and then sanitized).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    path: String,
    code: SpecErrorCode,
    message: String,
}

impl SpecError {
    /// An error at `path` (empty: the whole document).
    pub fn new(path: impl Into<String>, code: SpecErrorCode, message: impl Into<String>) -> SpecError {
        SpecError { path: path.into(), code, message: message.into() }
    }

    /// Where: `issuers[1].audience`, `cache.min_ttl`; empty for the whole document.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The stable code.
    pub fn code(&self) -> SpecErrorCode {
        self.code
    }

    /// What is wrong, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error under `prefix` (`kv[2]` + `interval` = `kv[2].interval`).
    pub fn within(mut self, prefix: &str) -> SpecError {
        self.path = join(prefix, &self.path);
        self
    }

    /// Classifies a serde error raised while deserializing at `path`.
    pub fn from_serde(path: String, error: &dyn fmt::Display) -> SpecError {
        let text = error.to_string();
        // serde's own errors have fixed wordings (`de::Error::unknown_field`
        // and friends); the spec's deserializers add a marker of their own.
        let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
        let (code, message) = if let Some(rest) = text.strip_prefix(DURATION_MARK) {
            (SpecErrorCode::InvalidDuration, rest.to_owned())
        } else if text.starts_with("unknown field") {
            (SpecErrorCode::UnknownField, text)
        } else if let Some(field) = text.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            // serde reports a missing field at its object; the path names the
            // field itself, as the spec's own rules do (`issuers[1].issuer`).
            let path = join(&path, field);
            return SpecError { path, code: SpecErrorCode::MissingField, message: "is required".to_owned() };
        } else if text.starts_with("invalid type") {
            (SpecErrorCode::InvalidType, text)
        } else if text.starts_with("invalid value")
            || text.starts_with("invalid length")
            || text.starts_with("unknown variant")
        {
            (SpecErrorCode::InvalidValue, text)
        } else {
            (SpecErrorCode::Syntax, text)
        };
        SpecError { path, code, message: sanitize_message(&without_quoted_strings(&message)) }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

impl std::error::Error for SpecError {}

/// serde quotes the string it refused (`invalid type: string "…", expected a
/// sequence`); that string can be a secret given in the wrong place (an HMAC
/// key, a header value), so the message says only that it was a string.
fn without_quoted_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        let quoted = &rest[at + "string \"".len()..];
        let mut escaped = false;
        let end = quoted.char_indices().find(|&(_, c)| {
            let closing = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closing
        });
        out.push_str("a string");
        rest = end.map_or("", |(i, _)| &quoted[i + 1..]);
    }
    out.push_str(rest);
    out
}

fn sanitize_message(s: &str) -> String {
    s.chars().take(300).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// Deserializes any spec type from any serde format, naming the failing path.
///
/// The input is read into a JSON value first, then the spec type from that
/// value (where paths are tracked), so every host gets its paths from the
/// same code. An error of the format itself has no path.
pub fn from_deserializer<'de, T: DeserializeOwned, D: Deserializer<'de>>(deserializer: D) -> Result<T, SpecError>
where
    D::Error: fmt::Display,
{
    let value = crate::spec_de::read_value(deserializer).map_err(|(path, e)| SpecError::from_serde(path, &e))?;
    from_value_ref(&value)
}

/// Deserializes a spec type from JSON text.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, SpecError> {
    // A syntax error has no path (serde_json's message names line and column,
    // which `from_serde` drops); a key given twice names its object.
    let value = crate::spec_de::parse_json(text).map_err(|(path, e)| SpecError::from_serde(path, &e))?;
    from_value_ref(&value)
}

/// Deserializes a spec type from a JSON value (what bindings build from a
/// Python dict or a JS object).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, SpecError> {
    from_value_ref(&value)
}

fn from_value_ref<T: DeserializeOwned>(value: &Value) -> Result<T, SpecError> {
    crate::spec_de::from_value(value).map_err(|e| {
        let (path, message) = e.into_parts();
        SpecError::from_serde(path, &message)
    })
}

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

const DURATION_MARK: &str = "[duration] ";

/// A duration: seconds as a number, or a string with a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(pub Duration);

impl Seconds {
    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for Seconds {
    fn from(d: Duration) -> Self {
        Seconds(d)
    }
}

/// Parses `"250ms"`, `"90s"`, `"5m"`, `"2h"`, `"1d"` or plain seconds
/// (`"30"`, `"1.5"`, `".5"`, `"5."`).
///
/// The number is read as an exact decimal and rounded once, to the
/// nanosecond: `"0.1"` is 100 ms, not the nearest binary fraction. (It also
/// keeps the float parser, 14 KB of gzipped wasm, out of the edge module.)
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(format!("{:?} is not a duration (seconds, or a number with ms, s, m, h or d)", sanitize(text)));
    }
    const SECOND: u128 = 1_000_000_000;
    let nanos_per_unit: u128 = match unit.trim() {
        "" | "s" | "sec" | "secs" => SECOND,
        "ms" => SECOND / 1000,
        "m" | "min" => 60 * SECOND,
        "h" => 3600 * SECOND,
        "d" => 86400 * SECOND,
        other => return Err(format!("unknown duration unit {:?} (use ms, s, m, h or d)", sanitize(other))),
    };
    decimal_nanos(whole, fraction, nanos_per_unit)
        .filter(|&nanos| nanos <= MAX_DURATION_SECS as u128 * SECOND)
        .map(|nanos| Duration::new((nanos / SECOND) as u64, (nanos % SECOND) as u32))
        .ok_or_else(|| format!("{:?} is not a usable duration", sanitize(text)))
}

/// The longest duration any option takes (a century), in seconds.
const MAX_DURATION_SECS: u64 = 100 * 365 * 86400;

/// `whole.fraction` (ASCII digits) times `unit` nanoseconds, rounded half up;
/// `None` when far beyond any usable duration.
fn decimal_nanos(whole: &str, fraction: &str, unit: u128) -> Option<u128> {
    let digits = |s: &str| s.bytes().fold(0u128, |n, b| n * 10 + u128::from(b - b'0'));
    let whole = whole.trim_start_matches('0');
    // 20 digits already exceed a century in nanoseconds for every unit.
    if whole.len() > 20 {
        return None;
    }
    // Digits past the 24th change the result by under 1e-10 ns; u128 holds
    // 10^24 times the largest unit.
    let fraction = &fraction[..fraction.len().min(24)];
    let scale = 10u128.pow(fraction.len() as u32);
    let part = (digits(fraction) * unit + scale / 2) / scale;
    digits(whole).checked_mul(unit)?.checked_add(part)
}

fn seconds_to_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..=MAX_DURATION_SECS as f64).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds, or a string such as \"90s\", \"5m\", \"250ms\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
                seconds_to_duration(v)
                    .map(Seconds)
                    .ok_or_else(|| E::custom(format!("{DURATION_MARK}{v} is not a usable number of seconds")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                parse_duration(v).map(Seconds).map_err(|m| E::custom(format!("{DURATION_MARK}{m}")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.as_secs_f64())
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Seconds {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Seconds, or a string with a unit: \"250ms\", \"90s\", \"5m\", \"2h\", \"1d\".",
            "oneOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|sec|secs|m|min|h|d)?\\s*$"}
            ]
        })
    }
}

/// A string or a list of strings (`"api"` or `["api", "web"]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl OneOrMany {
    /// The strings, in order.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A JWKS given inline: the document as an object, or as JSON text.
#[derive(Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum JwksDocument {
    /// `{"keys": [...]}`.
    Object(serde_json::Map<String, Value>),
    /// The same as JSON text.
    Text(String),
}

impl<'de> Deserialize<'de> for JwksDocument {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = JwksDocument;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWKS document: an object {\"keys\": [...]} or its JSON text")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JwksDocument, E> {
                Ok(JwksDocument::Text(v.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<JwksDocument, A::Error> {
                let m = <serde_json::Map<String, Value> as Deserialize>::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(JwksDocument::Object(m))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Debug for JwksDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public keys only, but a document can be large: show its size.
        match self {
            JwksDocument::Object(m) => write!(f, "JwksDocument(object, {} members)", m.len()),
            JwksDocument::Text(t) => write!(f, "JwksDocument(text, {} bytes)", t.len()),
        }
    }
}

/// A secret option value (an HMAC key, a header value): serialized as given,
/// never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An HMAC secret given explicitly by the caller (HS256/384/512 are never
/// trusted from a JWKS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HmacKeySpec {
    /// `oct`.
    pub kty: String,
    /// Key id matched against the token's `kid` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `HS256`, `HS384` or `HS512`.
    pub alg: String,
    /// The secret, base64url without padding (RFC 7518 `k`).
    pub k: SecretValue,
    /// Optional `use` (must be `sig` when present).
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

// ---------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------

/// Transport options of one source (the runtime's `HttpOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// Trust only the CA certificates in this PEM file (read through symlinks).
    #[serde(default, alias = "caFile", skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Send `Authorization: Bearer <contents>` (the file read anew each time),
    /// only to the origin of the configured issuer or URL.
    #[serde(default, alias = "bearerTokenFile", skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    /// Connect to this address for this host name (`"10.0.0.1"` or
    /// `"10.0.0.1:443"`), keeping the name for SNI and certificate checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolve: BTreeMap<String, String>,
    /// Extra headers on every request (values are treated as secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, SecretValue>,
    /// More origins (`https://host[:port]`) that may receive the bearer token
    /// and the headers, besides the configured issuer's or URL's (a
    /// discovery document whose `jwks_uri` is on another host of yours).
    #[serde(default, alias = "credentialOrigins", skip_serializing_if = "Vec::is_empty")]
    pub credential_origins: Vec<String>,
    /// Budget per request (default 5 s for key fetches, 10 s for Vault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    /// Accept any certificate: only for tests against throwaway servers.
    #[serde(default, alias = "dangerousAcceptInvalidCerts", skip_serializing_if = "is_false")]
    pub dangerous_accept_invalid_certs: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl HttpSpec {
    /// Checks what can be checked without touching a file.
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        let at = |field: &str| join(path, field);
        for (field, value) in [("ca_file", &self.ca_file), ("bearer_token_file", &self.bearer_token_file)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(SpecError::new(at(field), SpecErrorCode::EmptyValue, "must not be empty"));
            }
        }
        for (host, addr) in &self.resolve {
            let ok = addr.parse::<core::net::IpAddr>().is_ok() || addr.parse::<core::net::SocketAddr>().is_ok();
            if host.is_empty() || !ok {
                return Err(SpecError::new(
                    at(&format!("resolve.{}", sanitize(host))),
                    SpecErrorCode::InvalidValue,
                    "must map a host name to an IP address (\"10.0.0.1\" or \"10.0.0.1:443\")",
                ));
            }
        }
        for (i, origin) in self.credential_origins.iter().enumerate() {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', '@']));
            if !bare {
                return Err(SpecError::new(
                    at(&format!("credential_origins[{i}]")),
                    SpecErrorCode::InvalidUrl,
                    "must be an origin: scheme, host and optional port (https://idp.example:8443)",
                ));
            }
        }
        for name in self.headers.keys() {
            let token =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(SpecError::new(
                    at("headers"),
                    SpecErrorCode::InvalidValue,
                    format!("{:?} is not an HTTP header name", sanitize(name)),
                ));
            }
        }
        if self.timeout.is_some_and(|t| t.0.is_zero() || t.0 > Duration::from_secs(300)) {
            return Err(SpecError::new(at("timeout"), SpecErrorCode::OutOfRange, "must be between 1 ms and 5 min"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Verifier
// ---------------------------------------------------------------------------

/// Tunables of the key cache (and, at the top level, the verified-token cache).
/// Absent fields keep the design's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// Fresh TTL when the JWKS response has no `Cache-Control: max-age` (5 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Seconds>,
    /// `max-age` is clamped to at least this (1 min).
    #[serde(default, alias = "minTtl", skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<Seconds>,
    /// `max-age` is clamped to at most this (24 h).
    #[serde(default, alias = "maxTtl", skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<Seconds>,
    /// Refresh ahead at this fraction of the fresh TTL (0.8).
    #[serde(default, alias = "refreshAhead", skip_serializing_if = "Option::is_none")]
    pub refresh_ahead: Option<f64>,
    /// Serve the last good keys this long past the fresh TTL while fetches fail (1 h).
    #[serde(default, alias = "staleIfError", skip_serializing_if = "Option::is_none")]
    pub stale_if_error: Option<Seconds>,
    /// At most one fetch triggered by an unknown kid per this period (30 s).
    #[serde(default, alias = "missCooldown", skip_serializing_if = "Option::is_none")]
    pub miss_cooldown: Option<Seconds>,
    /// Budget of one key fetch (5 s).
    #[serde(default, alias = "requestTimeout", skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Seconds>,
    /// How long a kid absent from a fresh fetch is answered `unknown_kid` at once (5 min).
    #[serde(default, alias = "negativeKidTtl", skip_serializing_if = "Option::is_none")]
    pub negative_kid_ttl: Option<Seconds>,
    /// Verified tokens remembered (default 4096; 0 turns the cache off).
    /// Only at the verifier's top level.
    #[serde(default, alias = "verifiedTokens", skip_serializing_if = "Option::is_none")]
    pub verified_tokens: Option<usize>,
}

impl CacheSpec {
    fn merged_over(&self, defaults: &CacheSpec) -> CacheSpec {
        CacheSpec {
            ttl: self.ttl.or(defaults.ttl),
            min_ttl: self.min_ttl.or(defaults.min_ttl),
            max_ttl: self.max_ttl.or(defaults.max_ttl),
            refresh_ahead: self.refresh_ahead.or(defaults.refresh_ahead),
            stale_if_error: self.stale_if_error.or(defaults.stale_if_error),
            miss_cooldown: self.miss_cooldown.or(defaults.miss_cooldown),
            request_timeout: self.request_timeout.or(defaults.request_timeout),
            negative_kid_ttl: self.negative_kid_ttl.or(defaults.negative_kid_ttl),
            verified_tokens: None,
        }
    }

    /// The core's cache configuration, every bound checked.
    pub fn to_config(&self, path: &str, allow_http: bool) -> Result<CacheConfig, SpecError> {
        let mut c = CacheConfig { dangerous_allow_http: allow_http, ..CacheConfig::default() };
        let at = |field: &str| join(path, field);
        let range =
            |field: &str, v: Option<Seconds>, lo: Duration, hi: Duration| -> Result<Option<Duration>, SpecError> {
                match v {
                    Some(Seconds(d)) if d < lo || d > hi => Err(SpecError::new(
                        at(field),
                        SpecErrorCode::OutOfRange,
                        format!("must be between {} and {}", human(lo), human(hi)),
                    )),
                    other => Ok(other.map(Seconds::get)),
                }
            };
        let day = Duration::from_secs(86400);
        if let Some(d) = range("min_ttl", self.min_ttl, Duration::from_secs(1), day)? {
            c.min_ttl = d;
        }
        if let Some(d) = range("max_ttl", self.max_ttl, Duration::from_secs(1), 7 * day)? {
            c.max_ttl = d;
        }
        if c.min_ttl > c.max_ttl {
            return Err(SpecError::new(at("min_ttl"), SpecErrorCode::Conflict, "must not exceed max_ttl"));
        }
        if let Some(d) = range("ttl", self.ttl, c.min_ttl, c.max_ttl)? {
            c.default_ttl = d;
        }
        if let Some(f) = self.refresh_ahead {
            if !(f > 0.0 && f < 1.0) {
                return Err(SpecError::new(
                    at("refresh_ahead"),
                    SpecErrorCode::OutOfRange,
                    "must be a fraction between 0 and 1 (0.8 refreshes at 80% of the TTL)",
                ));
            }
            c.refresh_ahead = f;
        }
        if let Some(d) = range("stale_if_error", self.stale_if_error, Duration::ZERO, 7 * day)? {
            c.stale_if_error = d;
        }
        if let Some(d) = range("miss_cooldown", self.miss_cooldown, Duration::from_secs(1), Duration::from_secs(3600))?
        {
            c.miss_cooldown = d;
        }
        if let Some(d) =
            range("request_timeout", self.request_timeout, Duration::from_millis(100), Duration::from_secs(120))?
        {
            c.request_timeout = d;
        }
        if let Some(d) = range("negative_kid_ttl", self.negative_kid_ttl, Duration::ZERO, day)? {
            c.negative_kid_ttl = d;
        }
        Ok(c)
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s < 120.0 {
        format!("{s} s")
    } else if s < 7200.0 {
        format!("{} min", s / 60.0)
    } else {
        format!("{} h", s / 3600.0)
    }
}

/// Options of a verifier: one issuer inline (`issuer`, `audience`, keys…), or
/// several under `issuers` (each entry the same shape; the top level's
/// `algorithms`, `leeway`, `policy`, `cache` and `http` are their defaults).
///
/// Where keys come from: `jwks` (static), else `jwks_url`, else OIDC
/// discovery at the (first) issuer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifierSpec {
    /// Accepted issuer (`iss`); the first is the one discovery asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<OneOrMany>,
    /// Accepted audiences; any one of them in `aud` passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<OneOrMany>,
    /// Keys from this JWKS URL instead of discovery.
    #[serde(default, alias = "jwksUrl", skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Static keys (an object or JSON text); never fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwksDocument>,
    /// HMAC secrets passed explicitly (HS* must also be in `algorithms`).
    #[serde(default, alias = "hmacKeys", skip_serializing_if = "Option::is_none")]
    pub hmac_keys: Option<Vec<HmacKeySpec>>,
    /// Allowed algorithms (default: every asymmetric one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// Clock-skew allowance for `exp`, `nbf`, `iat` (30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<Seconds>,
    /// SPIFFE JWT-SVID mode: `sub` must be a SPIFFE ID in one of these trust domains.
    #[serde(default, alias = "spiffeTrustDomain", skip_serializing_if = "Option::is_none")]
    pub spiffe_trust_domain: Option<OneOrMany>,
    /// The rest of the policy (the same form as the shared test vectors'
    /// `policy`): required claims, `typ`, max age, subjects, SPIFFE rules,
    /// size limit, more issuers and audiences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    /// Key cache tunables; `verified_tokens` sizes the verified-token cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheSpec>,
    /// Transport options for key fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSpec>,
    /// Allow plain-http key URLs to hosts other than loopback. Never in production.
    #[serde(default, alias = "dangerousAllowHttp", skip_serializing_if = "is_false")]
    pub dangerous_allow_http: bool,
    /// Several issuers in one verifier; the token's `iss` picks the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuers: Option<Vec<VerifierSpec>>,
}

/// Where one issuer's keys come from, checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KeysPlan {
    /// Fetched: a JWKS URL or OIDC discovery (already checked against the transport rule).
    Fetched(KeySource),
    /// Given once.
    Static(Arc<KeySet>),
}

/// One issuer of a validated verifier spec.
#[derive(Clone, Debug)]
pub struct IssuerPlan {
    /// Its policy.
    pub policy: Policy,
    /// Its keys.
    pub keys: KeysPlan,
    /// Its key cache configuration.
    pub cache: CacheConfig,
    /// Its transport options (checked; files are the host's to read).
    pub http: HttpSpec,
}

/// A validated verifier spec: everything a host needs to start a verifier.
#[derive(Clone, Debug)]
pub struct VerifierPlan {
    /// The issuers, in order.
    pub issuers: Vec<IssuerPlan>,
    /// Capacity of the verified-token cache (0: off).
    pub verified_tokens: usize,
}

impl VerifierSpec {
    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<VerifierSpec, SpecError> {
        from_json(text)
    }

    /// Parses a JSON value.
    pub fn from_value(value: Value) -> Result<VerifierSpec, SpecError> {
        from_value(value)
    }

    /// Checks everything and builds the core's configuration.
    pub fn validate(&self) -> Result<VerifierPlan, SpecError> {
        let verified_tokens = self.cache.as_ref().and_then(|c| c.verified_tokens).unwrap_or(DEFAULT_VERIFIED_TOKENS);
        if verified_tokens > 1_000_000 {
            return Err(SpecError::new(
                "cache.verified_tokens",
                SpecErrorCode::OutOfRange,
                "must be at most 1000000 (0 turns the cache off)",
            ));
        }
        let issuers = match &self.issuers {
            None => vec![self.issuer_plan("", &VerifierSpec::default())?],
            Some(list) => {
                for (field, given) in [
                    ("issuer", self.issuer.is_some()),
                    ("audience", self.audience.is_some()),
                    ("jwks_url", self.jwks_url.is_some()),
                    ("jwks", self.jwks.is_some()),
                    ("hmac_keys", self.hmac_keys.is_some()),
                    ("spiffe_trust_domain", self.spiffe_trust_domain.is_some()),
                ] {
                    if given {
                        return Err(SpecError::new(
                            field,
                            SpecErrorCode::Conflict,
                            "belongs inside each entry of `issuers` when `issuers` is given",
                        ));
                    }
                }
                if list.is_empty() {
                    return Err(SpecError::new("issuers", SpecErrorCode::EmptyValue, "must not be empty"));
                }
                let mut plans = Vec::with_capacity(list.len());
                for (i, entry) in list.iter().enumerate() {
                    let path = format!("issuers[{i}]");
                    if entry.issuers.is_some() {
                        return Err(SpecError::new(
                            join(&path, "issuers"),
                            SpecErrorCode::Conflict,
                            "issuers cannot be nested",
                        ));
                    }
                    if entry.cache.as_ref().is_some_and(|c| c.verified_tokens.is_some()) {
                        return Err(SpecError::new(
                            join(&path, "cache.verified_tokens"),
                            SpecErrorCode::Conflict,
                            "the verified-token cache is sized once, at the top level",
                        ));
                    }
                    plans.push(entry.issuer_plan(&path, self)?);
                }
                plans
            }
        };
        Ok(VerifierPlan { issuers, verified_tokens })
    }

    fn issuer_plan(&self, path: &str, defaults: &VerifierSpec) -> Result<IssuerPlan, SpecError> {
        let at = |field: &str| join(path, field);
        let mut config = self.policy.clone().or_else(|| defaults.policy.clone()).unwrap_or_default();
        // The inline issuer comes first: discovery asks it.
        let mut issuers = self.issuer.as_ref().map(OneOrMany::to_vec).unwrap_or_default();
        for extra in std::mem::take(&mut config.issuers) {
            if !issuers.contains(&extra) {
                issuers.push(extra);
            }
        }
        if issuers.is_empty() {
            return Err(SpecError::new(
                at("issuer"),
                SpecErrorCode::MissingField,
                "is required: the `iss` this verifier accepts (alone, it also means OIDC discovery there)",
            ));
        }
        if let Some(i) = issuers.iter().position(|s| s.trim().is_empty()) {
            let field = if self.issuer.is_some() && i < self.issuer.as_ref().map_or(0, |v| v.to_vec().len()) {
                "issuer"
            } else {
                "policy.issuers"
            };
            return Err(SpecError::new(at(field), SpecErrorCode::EmptyValue, "must not be empty"));
        }
        config.issuers = issuers;
        if let Some(aud) = &self.audience {
            let list = aud.to_vec();
            if list.is_empty() || list.iter().any(|a| a.is_empty()) {
                return Err(SpecError::new(at("audience"), SpecErrorCode::EmptyValue, "must not be empty"));
            }
            for a in list {
                if !config.audiences.contains(&a) {
                    config.audiences.push(a);
                }
            }
        }
        let algorithms = self.algorithms.as_ref().or(defaults.algorithms.as_ref());
        if let Some(algs) = algorithms {
            if config.algorithms.is_some() {
                return Err(SpecError::new(
                    at("algorithms"),
                    SpecErrorCode::Conflict,
                    "give it here or in policy.algorithms, not both",
                ));
            }
            let field = if self.algorithms.is_some() { at("algorithms") } else { "algorithms".to_owned() };
            if algs.is_empty() {
                return Err(SpecError::new(field, SpecErrorCode::EmptyValue, "must not be empty"));
            }
            if let Some(bad) = algs.iter().find(|a| Algorithm::from_name(a).is_none()) {
                return Err(SpecError::new(
                    field,
                    SpecErrorCode::UnknownAlgorithm,
                    format!("unknown algorithm {:?} (known: {})", sanitize(bad), known_algorithms()),
                ));
            }
            config.algorithms = Some(algs.clone());
        }
        if let Some(leeway) = self.leeway.or(defaults.leeway) {
            if config.leeway_secs.is_some() {
                return Err(SpecError::new(
                    at("leeway"),
                    SpecErrorCode::Conflict,
                    "give it here or in policy.leeway_secs, not both",
                ));
            }
            if leeway.0 > Duration::from_secs(3600) {
                return Err(SpecError::new(at("leeway"), SpecErrorCode::OutOfRange, "must be at most 1 h"));
            }
            config.leeway_secs = Some(leeway.0.as_secs());
        }
        if let Some(domains) = &self.spiffe_trust_domain {
            let list = domains.to_vec();
            if list.is_empty() || list.iter().any(|d| d.is_empty()) {
                return Err(SpecError::new(at("spiffe_trust_domain"), SpecErrorCode::EmptyValue, "must not be empty"));
            }
            let rule = config.spiffe.get_or_insert_with(Default::default);
            for d in list {
                if !rule.trust_domains.contains(&d) {
                    rule.trust_domains.push(d);
                }
            }
        }
        let policy = Policy::from_config(&config).map_err(|e| policy_error(path, &e))?;

        let allow_http = self.dangerous_allow_http || defaults.dangerous_allow_http;
        let cache_spec = match (&self.cache, &defaults.cache) {
            (Some(c), Some(d)) => c.merged_over(d),
            (Some(c), None) | (None, Some(c)) => c.merged_over(&CacheSpec::default()),
            (None, None) => CacheSpec::default(),
        };
        let cache_path = if self.cache.is_some() { at("cache") } else { "cache".to_owned() };
        let cache = cache_spec.to_config(&cache_path, allow_http)?;
        let http = self.http.clone().or_else(|| defaults.http.clone()).unwrap_or_default();
        http.validate(&if self.http.is_some() { at("http") } else { "http".to_owned() })?;

        let first_issuer = policy.issuers()[0].clone();
        let keys = match (&self.jwks, &self.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(SpecError::new(at("jwks_url"), SpecErrorCode::Conflict, "give either jwks or jwks_url"));
            }
            (Some(doc), None) => KeysPlan::Static(Arc::new(self.static_keys(path, doc)?)),
            (None, url) => {
                if self.hmac_keys.is_some() {
                    return Err(SpecError::new(
                        at("hmac_keys"),
                        SpecErrorCode::Conflict,
                        "HMAC secrets go with static keys (`jwks`), not with fetched ones",
                    ));
                }
                let (field, source) = match url {
                    Some(u) if allow_http => ("jwks_url", KeySource::dangerous_jwks_url_allow_http(u.clone())),
                    Some(u) => ("jwks_url", KeySource::jwks_url(u.clone())),
                    None if allow_http => ("issuer", KeySource::dangerous_oidc_issuer_allow_http(&first_issuer)),
                    None => ("issuer", KeySource::oidc_issuer(&first_issuer)),
                };
                KeysPlan::Fetched(source.map_err(|e| source_error(&at(field), e))?)
            }
        };
        Ok(IssuerPlan { policy, keys, cache, http })
    }

    fn static_keys(&self, path: &str, doc: &JwksDocument) -> Result<KeySet, SpecError> {
        let at = |field: &str| join(path, field);
        let parsed = match doc {
            JwksDocument::Object(map) => KeySet::from_jwks_value(&Value::Object(map.clone())),
            JwksDocument::Text(text) => KeySet::from_jwks_json(text.as_bytes()),
        };
        let mut keys = parsed.map_err(|e| {
            SpecError::new(at("jwks"), SpecErrorCode::InvalidJwks, format!("{e} (expected {{\"keys\": [...]}})"))
        })?;
        for (i, key) in self.hmac_keys.iter().flatten().enumerate() {
            let jwk = serde_json::to_value(key).unwrap_or(Value::Null);
            keys = keys.with_secret_jwk(&jwk).map_err(|reason| {
                SpecError::new(
                    at(&format!("hmac_keys[{i}]")),
                    SpecErrorCode::InvalidSecret,
                    format!("unusable HMAC key ({})", reason.code()),
                )
            })?;
        }
        Ok(keys)
    }
}

fn known_algorithms() -> String {
    Algorithm::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

fn policy_error(path: &str, e: &PolicyError) -> SpecError {
    let (field, code) = match e {
        PolicyError::NoIssuer => ("issuer", SpecErrorCode::MissingField),
        PolicyError::UnknownAlgorithm(_) => ("policy.algorithms", SpecErrorCode::UnknownAlgorithm),
        PolicyError::NoAlgorithm => ("policy.algorithms", SpecErrorCode::EmptyValue),
        PolicyError::ConflictingSubjectRules => ("policy.subject_prefix", SpecErrorCode::Conflict),
        PolicyError::NoTrustDomain => ("policy.spiffe.trust_domains", SpecErrorCode::EmptyValue),
    };
    SpecError::new(join(path, field), code, e.to_string())
}

fn source_error(path: &str, e: SourceError) -> SpecError {
    let code = match e {
        SourceError::InsecureUrl => SpecErrorCode::InsecureUrl,
        _ => SpecErrorCode::InvalidUrl,
    };
    SpecError::new(path, code, e.to_string())
}

/// The algorithms of a validated set, by name (for hosts that list them).
pub fn algorithm_names(set: AlgSet) -> Vec<&'static str> {
    Algorithm::ALL.iter().filter(|a| set.contains(**a)).map(|a| a.name()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_refused_string_is_not_quoted_back() {
        let err = VerifierSpec::from_json(
            r#"{"hmac_keys": "c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw", "issuer": "https://a.example"}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), SpecErrorCode::InvalidType);
        assert_eq!(err.to_string(), "hmac_keys: invalid type: a string, expected a sequence");
        let err = VerifierSpec::from_json(r#"{"http": {"headers": {"x-key": ["s\"ecret"]}}}"#).unwrap_err();
        assert!(!err.to_string().contains("ecret"), "{err}");
        assert_eq!(
            without_quoted_strings(r#"invalid value: string "a\"b", expected x"#),
            "invalid value: a string, expected x"
        );
    }

    use super::*;

    fn err(json: &str) -> SpecError {
        match VerifierSpec::from_json(json) {
            Err(e) => e,
            Ok(spec) => spec.validate().unwrap_err(),
        }
    }

    #[test]
    fn durations() {
        for (text, secs) in
            [("90s", 90.0), ("5m", 300.0), ("250ms", 0.25), ("2h", 7200.0), ("1d", 86400.0), ("30", 30.0)]
        {
            assert_eq!(parse_duration(text).unwrap().as_secs_f64(), secs, "{text}");
        }
        let exact = [("0.1", 100_000_000), (".5", 500_000_000), ("5.", 5_000_000_000), ("05", 5_000_000_000)];
        for (text, nanos) in exact {
            assert_eq!(parse_duration(text).unwrap().as_nanos(), nanos, "{text}");
        }
        assert_eq!(parse_duration("1.0000000004ms").unwrap().as_nanos(), 1_000_000);
        assert_eq!(parse_duration("1.0000005ms").unwrap().as_nanos(), 1_000_001);
        assert_eq!(parse_duration(" 1.5 m ").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("36500d").unwrap(), Duration::from_secs(100 * 365 * 86400));
        for refused in ["", ".", "1.2.3", "36500.1d", "99999999999999999999999999h", "ms", "1e3"] {
            assert!(parse_duration(refused).is_err(), "{refused:?}");
        }
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        let e = err(r#"{"issuer": "https://i.example", "leeway": "forever"}"#);
        assert_eq!((e.path(), e.code()), ("leeway", SpecErrorCode::InvalidDuration));
    }

    #[test]
    fn inline_and_policy_merge() {
        let spec = VerifierSpec::from_json(
            r#"{"issuer": "https://i.example", "audience": ["a", "b"], "leeway": 10,
                "policy": {"issuers": ["https://other.example"], "required_claims": ["exp", "sub"]}}"#,
        )
        .unwrap();
        let plan = spec.validate().unwrap();
        let p = &plan.issuers[0].policy;
        assert_eq!(p.issuers(), ["https://i.example", "https://other.example"]);
        assert_eq!(p.audiences(), ["a", "b"]);
        assert_eq!(p.leeway(), Duration::from_secs(10));
        assert!(matches!(&plan.issuers[0].keys, KeysPlan::Fetched(s) if s.url() == Some(("https://i.example", false))));
        assert_eq!(plan.verified_tokens, DEFAULT_VERIFIED_TOKENS);
    }

    #[test]
    fn camel_case_aliases() {
        let spec =
            VerifierSpec::from_json(r#"{"issuer": "https://i.example", "jwksUrl": "https://i.example/jwks"}"#).unwrap();
        assert_eq!(spec.jwks_url.as_deref(), Some("https://i.example/jwks"));
    }

    #[test]
    fn paths_and_codes() {
        let cases: &[(&str, &str, SpecErrorCode)] = &[
            (r#"{"isuer": "x"}"#, "isuer", SpecErrorCode::UnknownField),
            (r#"{"audience": "a"}"#, "issuer", SpecErrorCode::MissingField),
            (r#"{"issuer": 5}"#, "issuer", SpecErrorCode::InvalidType),
            (
                r#"{"issuer": "https://i.example", "jwks_url": "http://idp.example/jwks"}"#,
                "jwks_url",
                SpecErrorCode::InsecureUrl,
            ),
            (
                r#"{"issuer": "https://i.example", "algorithms": ["RS257"]}"#,
                "algorithms",
                SpecErrorCode::UnknownAlgorithm,
            ),
            (
                r#"{"issuer": "https://i.example", "cache": {"min_ttl": "2h", "max_ttl": "1h"}}"#,
                "cache.min_ttl",
                SpecErrorCode::Conflict,
            ),
            (
                r#"{"issuer": "https://i.example", "cache": {"refresh_ahead": 1.5}}"#,
                "cache.refresh_ahead",
                SpecErrorCode::OutOfRange,
            ),
            (r#"{"issuer": "https://i.example", "jwks": {"nokeys": 1}}"#, "jwks", SpecErrorCode::InvalidJwks),
            (
                r#"{"issuers": [{"issuer": "https://a.example"}, {"issuer": "https://b.example", "cache": {"ttl": "1s"}}]}"#,
                "issuers[1].cache.ttl",
                SpecErrorCode::OutOfRange,
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "http": {"resolve": {"a.example": "nope"}}}]}"#,
                "issuers[0].http.resolve.a.example",
                SpecErrorCode::InvalidValue,
            ),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "policy": {"issuers": []}, "issuers": []}]}"#,
                "issuers[0].issuers",
                SpecErrorCode::Conflict,
            ),
        ];
        for (json, path, code) in cases {
            let e = err(json);
            assert_eq!((e.path(), e.code()), (*path, *code), "{json}: {e}");
        }
    }

    /// The three entry points name the same paths (spec_de tracks them for
    /// all three): nested maps and sequences, missing fields at the field,
    /// the document itself as the empty path, refused secrets unquoted.
    #[test]
    fn every_entry_point_names_the_same_path() {
        let cases: &[(&str, &str, SpecErrorCode)] = &[
            (
                r#"{"issuers": [{"issuer": "https://a.example"}, {"issuer": "https://b.example", "cache": {"ttl": "soon"}}]}"#,
                "issuers[1].cache.ttl",
                SpecErrorCode::InvalidDuration,
            ),
            (r#"{"issuer": "x", "http": {"headers": {"X-Foo": 5}}}"#, "http.headers.X-Foo", SpecErrorCode::InvalidType),
            (
                r#"{"issuer": "x", "policy": {"spiffe": {}}}"#,
                "policy.spiffe.trust_domains",
                SpecErrorCode::MissingField,
            ),
            (
                r#"{"issuer": "x", "hmac_keys": [{"kty": "oct", "alg": "HS256"}]}"#,
                "hmac_keys[0].k",
                SpecErrorCode::MissingField,
            ),
            (
                r#"{"issuer": "x", "cache": {"verified_tokens": -1}}"#,
                "cache.verified_tokens",
                SpecErrorCode::InvalidValue,
            ),
            (
                r#"{"issuer": "x", "cache": {"verified_tokens": 1.5}}"#,
                "cache.verified_tokens",
                SpecErrorCode::InvalidType,
            ),
            (r#"{"issuer": "x", "policy": {"issuers": ["a", null]}}"#, "policy.issuers[1]", SpecErrorCode::InvalidType),
            (
                r#"{"issuers": [{"issuer": "https://a.example", "jwks_uri": "u"}]}"#,
                "issuers[0].jwks_uri",
                SpecErrorCode::UnknownField,
            ),
            (
                r#"{"issuer": "x", "cache": [null, null, null, null, null, null, null, null, null, 1]}"#,
                "cache",
                SpecErrorCode::InvalidValue,
            ),
            ("5", "", SpecErrorCode::InvalidType),
        ];
        for (json, path, code) in cases {
            let value: Value = serde_json::from_str(json).unwrap();
            let errors = [
                from_json::<VerifierSpec>(json).unwrap_err(),
                from_value::<VerifierSpec>(value).unwrap_err(),
                from_deserializer::<VerifierSpec, _>(&mut serde_json::Deserializer::from_str(json)).unwrap_err(),
            ];
            for e in errors {
                assert_eq!((e.path(), e.code()), (*path, *code), "{json}: {e}");
            }
        }
        let e = from_json::<VerifierSpec>(r#"{"issuer": "x", "cache": {"verified_tokens": 1.5}}"#).unwrap_err();
        assert_eq!(e.message(), "invalid type: floating point `1.5`, expected usize");
        let e = from_json::<VerifierSpec>(r#"{"issuer": "x", "http": {"headers": {"X-Foo": null}}}"#).unwrap_err();
        assert_eq!(e.message(), "invalid type: null, expected a string");
        // A secret in the wrong place is never quoted back.
        let e = from_json::<VerifierSpec>(r#"{"issuer": "x", "http": {"headers": "hunter2"}}"#).unwrap_err();
        assert_eq!(e.to_string(), "http.headers: invalid type: a string, expected a map");
        let e = from_json::<VerifierSpec>(r#"{"issuer": "x", "jwks": {"keys": []}, "hmac_keys": [{"kty": "oct", "alg": "HS256", "k": {"v": "hunter2"}}]}"#)
            .unwrap_err();
        assert_eq!((e.path(), e.code()), ("hmac_keys[0].k", SpecErrorCode::InvalidType));
        assert!(!e.to_string().contains("hunter2"), "{e}");
        // Text that is not JSON has no path.
        let e = from_json::<VerifierSpec>(r#"{"issuer": "x""#).unwrap_err();
        assert_eq!((e.path(), e.code()), ("", SpecErrorCode::Syntax));
    }

    /// A key given twice in options text is refused at its object, as it was
    /// when the spec types read the text directly.
    #[test]
    fn a_repeated_key_is_refused() {
        let e =
            from_json::<VerifierSpec>(r#"{"issuer": "https://a.example", "issuer": "https://b.example"}"#).unwrap_err();
        assert_eq!((e.path(), e.code(), e.message()), ("", SpecErrorCode::Syntax, "duplicate field `issuer`"));
        let e =
            from_json::<VerifierSpec>(r#"{"issuers": [{"issuer": "x", "cache": {"ttl": 5, "ttl": 6}}]}"#).unwrap_err();
        assert_eq!((e.path(), e.code()), ("issuers[0].cache", SpecErrorCode::Syntax));
    }

    #[test]
    fn secrets_never_debug_printed() {
        let spec = VerifierSpec::from_json(
            r#"{"issuer": "https://i.example", "jwks": {"keys": []}, "algorithms": ["HS256"],
                "hmac_keys": [{"kty": "oct", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}],
                "http": {"headers": {"x-api-key": "hunter2"}}}"#,
        )
        .unwrap();
        let debug = format!("{spec:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("c2VjcmV0"), "{debug}");
    }
}
