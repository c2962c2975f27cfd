//! JWK and JWKS: parsed once, when a key set arrives, into ready-to-verify keys.
//! One unusable key is skipped with a visible reason; the rest of the set works
//! (peers that reject a whole set for one odd key answer 401 to everyone).

use crate::alg::{AlgSet, Algorithm};
use crate::crypto::{self, BackendKey, Curve};
use crate::header_cache::HeaderCache;
use crate::jose::{b64_decode, b64_encode};
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;

/// Most keys taken from one set; the rest are skipped (`too_many_keys`).
pub const MAX_KEYS: usize = 100;
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bigger keys make verification a DoS).
pub const MAX_RSA_BITS: usize = 8192;

/// Why one key of a set was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The entry is not a JSON object.
    NotAnObject,
    /// `kty` is missing or not one of RSA, EC, OKP, oct.
    UnsupportedKty,
    /// The curve is not P-256, P-384 or Ed25519 (for example Ed448, X25519, P-521).
    UnsupportedCurve,
    /// RSA modulus below 2048 bits.
    RsaKeyTooSmall,
    /// RSA modulus above 8192 bits.
    RsaKeyTooLarge,
    /// `use` is present and is not `sig`.
    NotForSigning,
    /// `key_ops` is present and lacks `verify`.
    KeyOpsWithoutVerify,
    /// A symmetric key inside a public key set: secrets are only ever passed
    /// explicitly by the caller.
    SymmetricKeyNotTrusted,
    /// The JWK's `alg` is not a JWS algorithm tokenkeep verifies.
    UnsupportedAlg,
    /// The JWK's `alg` does not fit its `kty`/`crv`.
    AlgKtyMismatch,
    /// A symmetric key without `alg` (an HMAC secret is bound to one hash).
    AlgRequired,
    /// Bad base64url, wrong lengths, a point not on the curve, a bad exponent.
    InvalidKeyMaterial,
    /// An HMAC secret shorter than its hash output (RFC 7518 §3.2).
    HmacSecretTooShort,
    /// Beyond the first [`MAX_KEYS`] keys of a set.
    TooManyKeys,
}

impl SkipReason {
    /// Every reason, in a stable order.
    pub const ALL: &'static [SkipReason] = &[
        SkipReason::NotAnObject,
        SkipReason::UnsupportedKty,
        SkipReason::UnsupportedCurve,
        SkipReason::RsaKeyTooSmall,
        SkipReason::RsaKeyTooLarge,
        SkipReason::NotForSigning,
        SkipReason::KeyOpsWithoutVerify,
        SkipReason::SymmetricKeyNotTrusted,
        SkipReason::UnsupportedAlg,
        SkipReason::AlgKtyMismatch,
        SkipReason::AlgRequired,
        SkipReason::InvalidKeyMaterial,
        SkipReason::HmacSecretTooShort,
        SkipReason::TooManyKeys,
    ];

    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::NotAnObject => "not_an_object",
            SkipReason::UnsupportedKty => "unsupported_kty",
            SkipReason::UnsupportedCurve => "unsupported_curve",
            SkipReason::RsaKeyTooSmall => "rsa_key_too_small",
            SkipReason::RsaKeyTooLarge => "rsa_key_too_large",
            SkipReason::NotForSigning => "not_for_signing",
            SkipReason::KeyOpsWithoutVerify => "key_ops_without_verify",
            SkipReason::SymmetricKeyNotTrusted => "symmetric_key_not_trusted",
            SkipReason::UnsupportedAlg => "unsupported_alg",
            SkipReason::AlgKtyMismatch => "alg_kty_mismatch",
            SkipReason::AlgRequired => "alg_required",
            SkipReason::InvalidKeyMaterial => "invalid_key_material",
            SkipReason::HmacSecretTooShort => "hmac_secret_too_short",
            SkipReason::TooManyKeys => "too_many_keys",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A key of a set that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the set's `keys` array.
    pub index: usize,
    /// The key's `kid`, when it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// A whole document that is not a key set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Not JSON.
    NotJson,
    /// JSON, but not an object with a `keys` array.
    NotAKeySet,
}

impl JwksError {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            JwksError::NotJson => "jwks_not_json",
            JwksError::NotAKeySet => "jwks_not_a_key_set",
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwksError::NotJson => "key set document is not JSON",
            JwksError::NotAKeySet => "key set document has no \"keys\" array",
        })
    }
}

impl std::error::Error for JwksError {}

/// The family and size of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA P-256.
    EcP256,
    /// ECDSA P-384.
    EcP384,
    /// Ed25519.
    Ed25519,
    /// An HMAC secret (never from a fetched set).
    Hmac,
}

impl KeyKind {
    /// `kty` of the JWK.
    pub fn kty(self) -> &'static str {
        match self {
            KeyKind::Rsa { .. } => "RSA",
            KeyKind::EcP256 | KeyKind::EcP384 => "EC",
            KeyKind::Ed25519 => "OKP",
            KeyKind::Hmac => "oct",
        }
    }

    /// Size or curve, for display (`2048 bits`, `P-256`).
    pub fn describe(self) -> String {
        match self {
            KeyKind::Rsa { bits } => format!("{bits} bits"),
            KeyKind::EcP256 => "P-256".into(),
            KeyKind::EcP384 => "P-384".into(),
            KeyKind::Ed25519 => "Ed25519".into(),
            KeyKind::Hmac => "secret".into(),
        }
    }
}

/// A key ready to verify signatures.
///
/// Hosts that check signatures themselves (WebCrypto) import
/// [`VerificationKey::public_jwk`] once and cache it under
/// [`VerificationKey::handle`], which is stable across refetches of the same key.
pub struct VerificationKey {
    kid: Option<String>,
    kind: KeyKind,
    declared_alg: Option<Algorithm>,
    algorithms: AlgSet,
    handle: String,
    public_jwk: Option<Value>,
    pub(crate) backend: BackendKey,
}

impl VerificationKey {
    /// The key's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Family and size.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The JWK's own `alg`, when it had one.
    pub fn declared_alg(&self) -> Option<Algorithm> {
        self.declared_alg
    }

    /// The algorithms this key verifies (from its `alg`, else its kty/crv).
    pub fn algorithms(&self) -> AlgSet {
        self.algorithms
    }

    /// Whether this key may verify `alg`.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(alg)
    }

    /// A stable identifier: the RFC 7638 thumbprint of a public key (so the same
    /// key fetched twice has the same handle), `secret:<kid>` for a secret.
    pub fn handle(&self) -> &str {
        &self.handle
    }

    /// The public JWK (members needed to import it: kty, n/e or crv/x/y, alg,
    /// kid). `None` for secrets, which are never handed out.
    pub fn public_jwk(&self) -> Option<&Value> {
        self.public_jwk.as_ref()
    }

    /// Checks `signature` over `message` with the compiled-in backend.
    pub fn verify_signature(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.allows(alg) && crypto::verify_signature(&self.backend, alg, message, signature)
    }
}

/// Two keys are the same key when their handles are equal.
impl PartialEq for VerificationKey {
    fn eq(&self, other: &Self) -> bool {
        self.handle == other.handle && self.kid == other.kid
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("algorithms", &self.algorithms)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// A set of verification keys, built once from a JWKS and never mutated.
///
/// It also holds the [`HeaderCache`] that [`crate::verify()`] fills: a new set
/// (every fetch) starts with an empty one; clones share it.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
    skipped: Vec<SkippedKey>,
    header_cache: Arc<HeaderCache>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("keys", &self.keys).field("skipped", &self.skipped).finish()
    }
}

impl KeySet {
    /// A set without keys.
    pub fn empty() -> Self {
        KeySet::default()
    }

    /// Parses a JWKS document (`{"keys": [...]}`) as fetched from an IdP.
    /// Symmetric keys in it are skipped.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| JwksError::NotJson)?;
        KeySet::from_jwks_value(&value)
    }

    /// Like [`KeySet::from_jwks_json`], from parsed JSON.
    pub fn from_jwks_value(value: &Value) -> Result<KeySet, JwksError> {
        let keys = value.get("keys").and_then(Value::as_array).ok_or(JwksError::NotAKeySet)?;
        let mut set = KeySet::default();
        for (index, entry) in keys.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            if set.keys.len() >= MAX_KEYS {
                set.skipped.push(SkippedKey { index, kid, reason: SkipReason::TooManyKeys });
                continue;
            }
            match parse_jwk(entry, false) {
                Ok(key) => set.keys.push(Arc::new(key)),
                Err(reason) => set.skipped.push(SkippedKey { index, kid, reason }),
            }
        }
        Ok(set)
    }

    /// Adds a secret passed explicitly by the caller, as an `oct` JWK
    /// (`{"kty":"oct","kid":..,"alg":"HS256","k":..}`).
    pub fn with_secret_jwk(mut self, jwk: &Value) -> Result<KeySet, SkipReason> {
        let key = parse_jwk(jwk, true)?;
        self.keys.push(Arc::new(key));
        Ok(self)
    }

    /// Adds a raw HMAC secret passed explicitly by the caller.
    pub fn with_secret(mut self, kid: Option<&str>, alg: Algorithm, secret: &[u8]) -> Result<KeySet, SkipReason> {
        let key = hmac_key(kid.map(str::to_owned), alg, secret)?;
        self.keys.push(Arc::new(key));
        Ok(self)
    }

    /// The usable keys, in set order.
    pub fn keys(&self) -> &[Arc<VerificationKey>] {
        &self.keys
    }

    /// The keys that were skipped, with reasons.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether a usable key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// The distinct kids of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid())
    }

    /// Headers of tokens that verified against this set (see [`HeaderCache`]).
    pub fn header_cache(&self) -> &HeaderCache {
        &self.header_cache
    }

    /// A new set with these keys (used by the cache when it merges fetches).
    pub(crate) fn from_parts(keys: Vec<Arc<VerificationKey>>, skipped: Vec<SkippedKey>) -> KeySet {
        KeySet { keys, skipped, header_cache: Arc::default() }
    }
}

fn str_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, SkipReason> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SkipReason::InvalidKeyMaterial),
    }
}

fn bytes_member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, SkipReason> {
    let s = str_member(obj, name)?.ok_or(SkipReason::InvalidKeyMaterial)?;
    b64_decode(s).ok_or(SkipReason::InvalidKeyMaterial)
}

fn parse_jwk(entry: &Value, trust_symmetric: bool) -> Result<VerificationKey, SkipReason> {
    let obj = entry.as_object().ok_or(SkipReason::NotAnObject)?;
    let kty = str_member(obj, "kty").map_err(|_| SkipReason::UnsupportedKty)?;
    let kid = str_member(obj, "kid")?.map(str::to_owned);
    if let Some(u) = str_member(obj, "use")? {
        if u != "sig" {
            return Err(SkipReason::NotForSigning);
        }
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or(SkipReason::KeyOpsWithoutVerify)?;
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return Err(SkipReason::KeyOpsWithoutVerify);
        }
    }
    let declared_alg = match str_member(obj, "alg")? {
        None => None,
        Some(name) => Some(Algorithm::from_name(name).ok_or(SkipReason::UnsupportedAlg)?),
    };
    let bind = |family: AlgSet| -> Result<AlgSet, SkipReason> {
        match declared_alg {
            None => Ok(family),
            Some(a) if family.contains(a) => Ok(if AlgSet::ed25519().contains(a) { family } else { AlgSet::only(a) }),
            Some(_) => Err(SkipReason::AlgKtyMismatch),
        }
    };
    match kty {
        Some("RSA") => {
            let n = strip_leading_zeros(bytes_member(obj, "n")?);
            let e = strip_leading_zeros(bytes_member(obj, "e")?);
            let bits = bit_length(&n);
            if bits < MIN_RSA_BITS {
                return Err(SkipReason::RsaKeyTooSmall);
            }
            if bits > MAX_RSA_BITS {
                return Err(SkipReason::RsaKeyTooLarge);
            }
            // Odd modulus; odd exponent in [3, 2^32] (what every verifier accepts).
            if n.last().is_none_or(|b| b & 1 == 0)
                || e.is_empty()
                || e.len() > 5
                || e.last().is_none_or(|b| b & 1 == 0)
                || (e.len() == 1 && e[0] < 3)
                || (e.len() == 5 && e[0] > 1)
            {
                return Err(SkipReason::InvalidKeyMaterial);
            }
            let algorithms = bind(AlgSet::rsa())?;
            let backend = crypto::rsa_key(&n, &e, algorithms).map_err(|_| SkipReason::InvalidKeyMaterial)?;
            let (n64, e64) = (b64_encode(&n), b64_encode(&e));
            let thumb = format!(r#"{{"e":"{e64}","kty":"RSA","n":"{n64}"}}"#);
            let mut jwk = json!({"kty": "RSA", "n": n64, "e": e64});
            Ok(finish(kid, KeyKind::Rsa { bits }, declared_alg, algorithms, &thumb, &mut jwk, backend))
        }
        Some("EC") => {
            let (curve, kind, family, len) = match str_member(obj, "crv")? {
                Some("P-256") => (Curve::P256, KeyKind::EcP256, AlgSet::only(Algorithm::ES256), 32),
                Some("P-384") => (Curve::P384, KeyKind::EcP384, AlgSet::only(Algorithm::ES384), 48),
                _ => return Err(SkipReason::UnsupportedCurve),
            };
            let x = left_pad(bytes_member(obj, "x")?, len)?;
            let y = left_pad(bytes_member(obj, "y")?, len)?;
            if !crate::ec_point::is_on_curve(curve, &x, &y) {
                return Err(SkipReason::InvalidKeyMaterial);
            }
            let algorithms = bind(family)?;
            let backend = crypto::ec_key(curve, &x, &y).map_err(|_| SkipReason::InvalidKeyMaterial)?;
            let crv = if curve == Curve::P256 { "P-256" } else { "P-384" };
            let (x64, y64) = (b64_encode(&x), b64_encode(&y));
            let thumb = format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x64}","y":"{y64}"}}"#);
            let mut jwk = json!({"kty": "EC", "crv": crv, "x": x64, "y": y64});
            Ok(finish(kid, kind, declared_alg, algorithms, &thumb, &mut jwk, backend))
        }
        Some("OKP") => {
            if str_member(obj, "crv")? != Some("Ed25519") {
                return Err(SkipReason::UnsupportedCurve);
            }
            let x = bytes_member(obj, "x")?;
            let algorithms = bind(AlgSet::ed25519())?;
            let backend = crypto::ed25519_key(&x).map_err(|_| SkipReason::InvalidKeyMaterial)?;
            let x64 = b64_encode(&x);
            let thumb = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x64}"}}"#);
            let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x64});
            Ok(finish(kid, KeyKind::Ed25519, declared_alg, algorithms, &thumb, &mut jwk, backend))
        }
        Some("oct") => {
            if !trust_symmetric {
                return Err(SkipReason::SymmetricKeyNotTrusted);
            }
            let alg = declared_alg.ok_or(SkipReason::AlgRequired)?;
            let secret = bytes_member(obj, "k")?;
            hmac_key(kid, alg, &secret)
        }
        _ => Err(SkipReason::UnsupportedKty),
    }
}

fn finish(
    kid: Option<String>,
    kind: KeyKind,
    declared_alg: Option<Algorithm>,
    algorithms: AlgSet,
    thumbprint_input: &str,
    jwk: &mut Value,
    backend: BackendKey,
) -> VerificationKey {
    let handle = b64_encode(&crypto::sha256(thumbprint_input.as_bytes()));
    if let Some(obj) = jwk.as_object_mut() {
        if let Some(kid) = &kid {
            obj.insert("kid".into(), Value::String(kid.clone()));
        }
        if let Some(a) = declared_alg {
            obj.insert("alg".into(), Value::String(a.name().into()));
        }
    }
    VerificationKey { kid, kind, declared_alg, algorithms, handle, public_jwk: Some(jwk.take()), backend }
}

fn hmac_key(kid: Option<String>, alg: Algorithm, secret: &[u8]) -> Result<VerificationKey, SkipReason> {
    let min = match alg {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => return Err(SkipReason::AlgKtyMismatch),
    };
    if secret.len() < min {
        return Err(SkipReason::HmacSecretTooShort);
    }
    let backend = crypto::hmac_key(alg, secret).map_err(|_| SkipReason::InvalidKeyMaterial)?;
    let handle = format!("secret:{}", kid.as_deref().unwrap_or(""));
    Ok(VerificationKey {
        kid,
        kind: KeyKind::Hmac,
        declared_alg: Some(alg),
        algorithms: AlgSet::only(alg),
        handle,
        public_jwk: None,
        backend,
    })
}

fn strip_leading_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(b) => (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

fn left_pad(v: Vec<u8>, len: usize) -> Result<Vec<u8>, SkipReason> {
    if v.len() > len || v.is_empty() {
        return Err(SkipReason::InvalidKeyMaterial);
    }
    let mut out = vec![0u8; len - v.len()];
    out.extend_from_slice(&v);
    Ok(out)
}
