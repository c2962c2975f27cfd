//! Token verification, in two phases so a host whose fastest signature check
//! is asynchronous (WebCrypto) can do that part itself:
//!
//! - [`prepare`] applies every header, policy and claims rule, selects the
//!   candidate keys, and returns a [`PendingCheck`] (or a [`Rejection`]);
//! - the host checks the signature with one of [`PendingCheck::candidates`];
//! - [`complete`] turns the outcome into [`Verified`] claims or
//!   `invalid_signature`, re-checking the time rules against its own `now`.
//!
//! [`verify`] is exactly these three steps with the compiled-in backend.
//! Every rule lives once, here. Cheap rules run before the signature check, so a
//! token that would be rejected anyway costs no signature work and, in the
//! cache, never triggers a key fetch.

use crate::alg::Algorithm;
use crate::header_cache::HeaderCache;
use crate::jose::{
    self, Audiences, ClaimsScan, Member, Members, Names, Registered, b64_decode, b64_decode_uninit, b64_decoded_len,
    b64_is_canonical, is_duplicate_error, parse_strict_json, split_compact_with,
};
use crate::jwk::{KeySet, VerificationKey};
use crate::policy::{Policy, SubjectRule};
use crate::rejection::{AlgRefusal, Malformed, Rejection, sanitize};
use crate::spiffe::SpiffeId;
use crate::time::UnixTime;
use serde_json::{Map, Value};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Duplicate kids happen during IdP migrations; more candidates than this for
/// one token is not a migration but an attempt to make us work.
pub const MAX_CANDIDATES: usize = 3;

/// The header fields a caller needs from a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHeader {
    /// The algorithm the token was signed with.
    pub alg: Algorithm,
    /// `kid`, when present.
    pub kid: Option<HeaderText>,
    /// `typ`, when present.
    pub typ: Option<HeaderText>,
}

/// Longest header string kept inline in a [`HeaderText`].
const INLINE_TEXT: usize = 22;

/// A header string (`kid`, `typ`). Up to 22 bytes (nearly every kid and typ)
/// it is held inline, so handing a remembered header to each verified token
/// copies it without an allocation; longer ones are on the heap. Reads as a
/// `str` (`Deref`, `as_str`, `Display`).
#[derive(Clone)]
pub struct HeaderText(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Heap(Box<str>),
}

impl HeaderText {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Always valid: the bytes were copied from a `str` (see `From<&str>`).
            TextRepr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            TextRepr::Heap(s) => s,
        }
    }
}

impl HeaderText {
    /// The text's bytes (what the hot path compares: no UTF-8 re-check).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            TextRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            TextRepr::Heap(s) => s.as_bytes(),
        }
    }
}

impl From<&str> for HeaderText {
    fn from(s: &str) -> HeaderText {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE_TEXT => {
                let mut bytes = [0u8; INLINE_TEXT];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                HeaderText(TextRepr::Inline { len, bytes })
            }
            _ => HeaderText(TextRepr::Heap(s.into())),
        }
    }
}

impl From<String> for HeaderText {
    fn from(s: String) -> HeaderText {
        if s.len() <= INLINE_TEXT { HeaderText::from(s.as_str()) } else { HeaderText(TextRepr::Heap(s.into())) }
    }
}

impl From<HeaderText> for String {
    fn from(t: HeaderText) -> String {
        match t.0 {
            TextRepr::Heap(s) => s.into(),
            TextRepr::Inline { .. } => t.as_str().to_owned(),
        }
    }
}

impl std::ops::Deref for HeaderText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for HeaderText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for HeaderText {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for HeaderText {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for HeaderText {}

impl std::hash::Hash for HeaderText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for HeaderText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for HeaderText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for HeaderText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for HeaderText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of a verified token: the JSON as the token carried it, the
/// registered claims already read, and the full tree built on first use.
#[derive(Clone)]
pub struct Claims {
    json: Box<str>,
    registered: Registered,
    names: Names,
    map: OnceLock<Map<String, Value>>,
}

impl Claims {
    /// The claims JSON exactly as the token carried it (the decoded payload):
    /// one object, no member repeated at any depth. Bindings build their
    /// native object from it in one pass.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The claims object's members in the token's order, each name with its
    /// value, from the same strict scan that read the registered claims: a
    /// binding builds its native object from these without reading the JSON
    /// again. `None` when that scan could not record them (a name or string
    /// with an escape, a number that is not a plain integer of at most 18
    /// digits, more than 16 members, deep nesting): read [`Claims::json`] then.
    pub fn members(&self) -> Option<Members<'_>> {
        self.names.members(&self.json)
    }

    /// One claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_map().get(name)
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        match &self.registered.iss {
            Member::Is(t) => Some(t.get(&self.json)),
            _ => None,
        }
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        match &self.registered.sub {
            Member::Is(t) => Some(t.get(&self.json)),
            _ => None,
        }
    }

    /// `aud`, whether it was a string or an array.
    pub fn audiences(&self) -> Vec<&str> {
        match &self.registered.aud {
            Member::Is(a) => a.iter(&self.json).collect(),
            _ => Vec::new(),
        }
    }

    /// `exp` as a time.
    pub fn expires_at(&self) -> Option<UnixTime> {
        match self.registered.exp {
            Member::Is(exp) => Some(UnixTime::from_secs_f64(exp)),
            _ => None,
        }
    }

    /// All claims (the tree is built on the first call).
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| match parse_strict_json(self.json.as_bytes()) {
            Ok(Value::Object(map)) => map,
            // Unreachable: `json` passed the same strict parser when the token was read.
            _ => Map::new(),
        })
    }

    /// The scopes granted (`scope`, then `scp`), each once: see
    /// [`crate::bearer::granted_scopes`].
    pub fn scopes(&self) -> Vec<String> {
        // From the scan's members when it recorded them: only `scope` and
        // `scp` are read, not the whole tree (hosts ask on every verified
        // token they remember).
        let Some(members) = self.members() else {
            return crate::bearer::granted_scopes(self.as_map());
        };
        let (mut scope, mut scp) = (None, None);
        for (name, value) in members {
            let value = match value {
                crate::jose::ClaimValue::Str(text) => Value::String(text.to_owned()),
                crate::jose::ClaimValue::Json(text) if text.starts_with('[') => {
                    parse_strict_json(text.as_bytes()).unwrap_or(Value::Null)
                }
                _ => continue,
            };
            match name {
                "scope" => scope = Some(value),
                "scp" => scp = Some(value),
                _ => {}
            }
        }
        crate::bearer::scopes_of(scope.as_ref(), scp.as_ref())
    }

    /// All claims, owned.
    pub fn into_map(self) -> Map<String, Value> {
        self.as_map();
        self.map.into_inner().unwrap_or_default()
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json || self.as_map() == other.as_map()
    }
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Claims").field(self.as_map()).finish()
    }
}

/// A token whose signature verified and which satisfied the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// Header fields.
    pub header: TokenHeader,
    /// Claims.
    pub claims: Claims,
    /// The key whose signature verified (the first candidate when the host
    /// only reported success); its `handle()` names it stably.
    pub key: Arc<VerificationKey>,
    times: TimeRules,
}

impl Verified {
    /// The token's time rules, to re-check it at a later `now` (the
    /// verified-token cache does on every hit).
    pub fn time_rules(&self) -> TimeRules {
        self.times
    }
}

/// The time rules, kept so [`complete`] (and a verified-token cache) can re-run
/// them against a later `now`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeRules {
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    leeway: Duration,
    max_age: Option<Duration>,
}

impl TimeRules {
    /// Checks the token's times against `now`.
    pub fn check(&self, now: UnixTime) -> Result<(), Rejection> {
        let now_s = now.as_millis() as f64 / 1000.0;
        let leeway = self.leeway.as_secs_f64();
        let now_secs = now.as_secs();
        if let Some(exp) = self.exp {
            if now_s >= exp + leeway {
                return Err(Rejection::Expired { exp, now: now_secs });
            }
        }
        if let Some(nbf) = self.nbf {
            if nbf > now_s + leeway {
                return Err(Rejection::NotYetValid { nbf, now: now_secs });
            }
        }
        if let Some(iat) = self.iat {
            if iat > now_s + leeway {
                return Err(Rejection::IssuedInFuture { iat, now: now_secs });
            }
            if let Some(max_age) = self.max_age {
                if now_s > iat + max_age.as_secs_f64() + leeway {
                    return Err(Rejection::TooOld { iat, max_age: max_age.as_secs(), now: now_secs });
                }
            }
        }
        Ok(())
    }

    /// When the token stops being valid (`exp` plus leeway), if it has `exp`.
    pub fn valid_until(&self) -> Option<UnixTime> {
        self.exp.map(|e| UnixTime::from_secs_f64(e) + self.leeway)
    }
}

/// A token that passed every rule but the signature, with what the host needs
/// to check it: algorithm, candidate keys (most often one; at most
/// [`MAX_CANDIDATES`] when an IdP publishes a kid twice), signing input and
/// signature bytes.
pub struct PendingCheck {
    header: TokenHeader,
    claims: Claims,
    candidates: Vec<Arc<VerificationKey>>,
    /// The signing input, then the signature: one allocation for both.
    bytes: Vec<u8>,
    /// Where the signature starts in `bytes`.
    split: usize,
    times: TimeRules,
    /// The key set whose header cache missed this token's header, and the
    /// header segment: it learns the header if the token verifies (set only
    /// on a miss, so a hit copies nothing).
    remember_header: Option<(Arc<KeySet>, Box<str>)>,
}

/// A token is a bearer credential: its signing input and signature together
/// are the token, so `Debug` shows only their lengths.
impl std::fmt::Debug for PendingCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCheck")
            .field("header", &self.header)
            .field("candidates", &self.candidates)
            .field("signing_input_len", &self.split)
            .field("signature_len", &(self.bytes.len() - self.split))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedToken")
            .field("header", &self.header)
            .field("token_len", &self.token_len)
            .finish_non_exhaustive()
    }
}

impl PendingCheck {
    /// The token's algorithm: the one every candidate key allows.
    pub fn alg(&self) -> Algorithm {
        self.header.alg
    }

    /// The token's header fields.
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }

    /// Keys to try, in order; success with any one means the signature is good.
    pub fn candidates(&self) -> &[Arc<VerificationKey>] {
        &self.candidates
    }

    /// The bytes that were signed (`base64url(header) "." base64url(payload)`).
    pub fn signing_input(&self) -> &[u8] {
        &self.bytes[..self.split]
    }

    /// The signature bytes (raw `r || s` for ECDSA).
    pub fn signature(&self) -> &[u8] {
        &self.bytes[self.split..]
    }

    /// The time rules of this token.
    pub fn time_rules(&self) -> TimeRules {
        self.times
    }

    /// Checks the signature with the compiled-in backend; returns the index of
    /// the candidate that verified.
    pub fn check_natively(&self) -> Option<usize> {
        self.candidates.iter().position(|k| k.verify_signature(self.header.alg, self.signing_input(), self.signature()))
    }
}

/// Verifies `token` against `keys` under `policy` at `now`.
///
/// The header of a token that verifies is remembered in `keys`' header cache,
/// so later tokens with the same header skip its decoding.
pub fn verify(token: &str, keys: &KeySet, policy: &Policy, now: UnixTime) -> Result<Verified, Rejection> {
    // The signature is decoded here, once, while the token is split.
    let mut signature = [std::mem::MaybeUninit::<u8>::uninit(); INLINE_SIGNATURE];
    let parsed = parse_token_into(token, policy.max_token_bytes, Some(keys.header_cache()), Some(&mut signature))?;
    check_parsed_natively(parsed, keys, policy, now, Ok, |f| Err(f.into_rejection()))
}

/// Why [`check_parsed_natively`] did not verify.
pub(crate) enum Failure {
    /// A rule (or key selection) refused the token.
    Rule(Rejection),
    /// No candidate's signature verified; the token's kid, sanitized.
    BadSignature { kid: Option<String> },
}

impl Failure {
    pub(crate) fn into_rejection(self) -> Rejection {
        match self {
            Failure::Rule(r) => r,
            Failure::BadSignature { .. } => Rejection::InvalidSignature,
        }
    }
}

/// Every rule, key selection and the signature check with the compiled-in
/// backend. `parsed` is used in place (its signature bytes are not copied);
/// its header cache, if it missed, learns the header when the token verifies.
/// The answer is `verified(...)` or `failed(...)`, so each caller wraps the
/// verified token (a few hundred bytes) where it is built, not by moving it
/// out of a `Result` into its own.
#[inline]
pub(crate) fn check_parsed_natively<T>(
    parsed: ParsedToken<'_>,
    keys: &KeySet,
    policy: &Policy,
    now: UnixTime,
    verified: impl FnOnce(Verified) -> T,
    failed: impl FnOnce(Failure) -> T,
) -> T {
    match check_parsed_natively_rules(&parsed, keys, policy, now) {
        Ok((key, times)) => {
            if let Some(cache) = parsed.remember_header_in {
                cache.remember(parsed.header_segment, &parsed.header);
            }
            let ParsedToken { header, claims, .. } = parsed;
            verified(Verified { key: key.clone(), header, claims, times })
        }
        Err(failure) => failed(failure),
    }
}

/// [`check_parsed_natively`]'s checks: the key that verified and the time rules.
fn check_parsed_natively_rules<'k>(
    parsed: &ParsedToken<'_>,
    keys: &'k KeySet,
    policy: &Policy,
    now: UnixTime,
) -> Result<(&'k Arc<VerificationKey>, TimeRules), Failure> {
    let times = check_policy_rules(parsed, policy, now).map_err(Failure::Rule)?;
    let candidates = select_keys(keys, &parsed.header).map_err(Failure::Rule)?;
    let (alg, input) = (parsed.header.alg, parsed.signing_input.as_bytes());
    let find = |signature: &[u8]| candidates.iter().find(|k| k.verify_signature(alg, input, signature));
    let matched = match parsed.signature {
        Some(decoded) => Some(find(decoded)),
        None => with_signature(parsed.signature_b64, find),
    };
    // `None` only if the signature was not base64url, which parsing refused.
    let Some(key) = matched.ok_or(Failure::Rule(malformed(Malformed::Base64)))? else {
        return Err(Failure::BadSignature { kid: parsed.header.kid.as_deref().map(sanitize) });
    };
    times.check(now).map_err(Failure::Rule)?;
    Ok((key, times))
}

/// Completes a [`PendingCheck`] with the host's signature outcome.
pub fn complete(pending: PendingCheck, signature_ok: bool, now: UnixTime) -> Result<Verified, Rejection> {
    complete_with(pending, signature_ok.then_some(0), now)
}

/// Like [`complete`], naming which candidate verified.
pub fn complete_with(pending: PendingCheck, matched: Option<usize>, now: UnixTime) -> Result<Verified, Rejection> {
    let key = matched.and_then(|i| pending.candidates.get(i)).ok_or(Rejection::InvalidSignature)?;
    pending.times.check(now)?;
    if let Some((keys, segment)) = &pending.remember_header {
        keys.header_cache().remember(segment, &pending.header);
    }
    Ok(Verified { key: key.clone(), header: pending.header, claims: pending.claims, times: pending.times })
}

/// Header, policy, claims and key-selection rules: everything but the
/// signature itself.
pub fn prepare(token: &str, keys: &KeySet, policy: &Policy, now: UnixTime) -> Result<PendingCheck, Rejection> {
    prepare_parsed(parse_token(token, policy.max_token_bytes, Some(keys.header_cache()))?, keys, policy, now)
}

/// [`prepare`] for a token already parsed.
pub(crate) fn prepare_parsed(
    parsed: ParsedToken<'_>,
    keys: &KeySet,
    policy: &Policy,
    now: UnixTime,
) -> Result<PendingCheck, Rejection> {
    prepare_remembering(parsed, keys, None, policy, now)
}

/// [`prepare_parsed`]; when `shared` is the key set (`keys`) whose header
/// cache missed the token's header, the check keeps it so that
/// [`complete_with`] teaches the cache the header of a token that verified.
pub(crate) fn prepare_remembering(
    parsed: ParsedToken<'_>,
    keys: &KeySet,
    shared: Option<&Arc<KeySet>>,
    policy: &Policy,
    now: UnixTime,
) -> Result<PendingCheck, Rejection> {
    let times = check_policy_rules(&parsed, policy, now)?;
    let candidates = select_keys(keys, &parsed.header)?.iter().cloned().collect();
    let input = parsed.signing_input.as_bytes();
    let signature_len = b64_decoded_len(parsed.signature_b64.len()).ok_or(malformed(Malformed::Base64))?;
    let mut bytes = Vec::with_capacity(input.len() + signature_len);
    bytes.extend_from_slice(input);
    with_signature(parsed.signature_b64, |signature| bytes.extend_from_slice(signature))
        .ok_or(malformed(Malformed::Base64))?;
    let remember_header = match (parsed.remember_header_in, shared) {
        (Some(missed), Some(set)) if std::ptr::eq(missed, set.header_cache()) => {
            Some((Arc::clone(set), parsed.header_segment.into()))
        }
        _ => None,
    };
    Ok(PendingCheck {
        bytes,
        split: input.len(),
        candidates,
        header: parsed.header,
        claims: parsed.claims,
        times,
        remember_header,
    })
}

/// At most [`MAX_CANDIDATES`] keys, borrowed from the key set: no reference
/// count is touched until one verified.
#[derive(Default)]
pub(crate) struct Candidates<'k> {
    keys: [Option<&'k Arc<VerificationKey>>; MAX_CANDIDATES],
    len: usize,
}

impl<'k> Candidates<'k> {
    fn push(&mut self, key: &'k Arc<VerificationKey>) {
        if let Some(slot) = self.keys.get_mut(self.len) {
            *slot = Some(key);
            self.len += 1;
        }
    }

    fn is_full(&self) -> bool {
        self.len == MAX_CANDIDATES
    }

    fn iter(&self) -> impl Iterator<Item = &'k Arc<VerificationKey>> + '_ {
        self.keys[..self.len].iter().flatten().copied()
    }
}

/// Every rule that needs no key: algorithm allowed, issuer, claims.
pub(crate) fn check_policy_rules(
    parsed: &ParsedToken<'_>,
    policy: &Policy,
    now: UnixTime,
) -> Result<TimeRules, Rejection> {
    let alg = parsed.header.alg;
    if !policy.algorithms.contains(alg) {
        return Err(Rejection::AlgNotAllowed { alg: alg.name().into(), by: AlgRefusal::Policy });
    }
    if parsed.token_len > policy.max_token_bytes {
        return Err(Rejection::TokenTooLarge { len: parsed.token_len, limit: policy.max_token_bytes });
    }
    check_issuer(parsed.issuer(), policy)?;
    check_claims(&parsed.header, &parsed.claims, policy, now)
}

/// Most signature bytes kept on the stack: RSA up to 4096 bits and every
/// other algorithm; larger ones (RSA up to 8192 bits) go to the heap.
const INLINE_SIGNATURE: usize = 512;

/// Decodes a signature segment onto this frame's stack (never zeroed, never
/// moved, never allocated up to [`INLINE_SIGNATURE`] bytes) and hands it to
/// `check`; `None` when the segment is not canonical base64url.
fn with_signature<R>(b64: &str, check: impl FnOnce(&[u8]) -> R) -> Option<R> {
    if b64_decoded_len(b64.len())? <= INLINE_SIGNATURE {
        let mut inline = [std::mem::MaybeUninit::<u8>::uninit(); INLINE_SIGNATURE];
        b64_decode_uninit(b64, &mut inline).map(check)
    } else {
        b64_decode(b64).map(|heap| check(&heap))
    }
}

/// A token whose structure and header passed; nothing else checked yet.
/// Produced by [`parse`], consumed by the checks that follow.
pub struct ParsedToken<'t> {
    pub(crate) token_len: usize,
    pub(crate) header: TokenHeader,
    pub(crate) claims: Claims,
    pub(crate) signing_input: &'t str,
    /// Checked to be canonical base64url; decoded only where it is checked,
    /// so the parsed token stays small (it is moved a few times per token).
    signature_b64: &'t str,
    /// The signature, when the parser was given room to decode it into
    /// (see [`verify`]).
    signature: Option<&'t [u8]>,
    header_segment: &'t str,
    /// The cache that missed this header: it learns it if the token verifies.
    remember_header_in: Option<&'t HeaderCache>,
}

/// Structure and header rules only: what a multi-issuer host needs to route a
/// token by `iss` before choosing a policy and keys. Nothing here is trusted.
pub fn parse(token: &str, max_token_bytes: usize) -> Result<ParsedToken<'_>, Rejection> {
    parse_token(token, max_token_bytes, None)
}

/// Like [`parse`], skipping the header's decoding when `cache` holds it; when
/// it does not and the token later verifies (through [`crate::jwks::check_parsed`]),
/// the cache learns the header.
pub fn parse_with_cache<'t>(
    token: &'t str,
    max_token_bytes: usize,
    cache: &'t HeaderCache,
) -> Result<ParsedToken<'t>, Rejection> {
    parse_token(token, max_token_bytes, Some(cache))
}

impl ParsedToken<'_> {
    /// `iss` when it is a string (unverified).
    pub fn issuer(&self) -> Option<&str> {
        self.claims.issuer()
    }

    /// Header fields (unverified).
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }
}

fn malformed(m: Malformed) -> Rejection {
    Rejection::Malformed(m)
}

/// Structure and header rules (RFC 8725), independent of any policy but the
/// size limit; also what a multi-issuer verifier needs to route by `iss`.
pub(crate) fn parse_token<'t>(
    token: &'t str,
    max_token_bytes: usize,
    cache: Option<&'t HeaderCache>,
) -> Result<ParsedToken<'t>, Rejection> {
    parse_token_into(token, max_token_bytes, cache, None)
}

/// [`parse_token`], decoding the signature into `signature` when it fits
/// (instead of only checking it: whoever passes room checks the signature).
fn parse_token_into<'t>(
    token: &'t str,
    max_token_bytes: usize,
    cache: Option<&'t HeaderCache>,
    signature: Option<&'t mut [std::mem::MaybeUninit<u8>; INLINE_SIGNATURE]>,
) -> Result<ParsedToken<'t>, Rejection> {
    if token.is_empty() {
        return Err(Rejection::MissingToken);
    }
    if token.len() > max_token_bytes {
        return Err(Rejection::TokenTooLarge { len: token.len(), limit: max_token_bytes });
    }
    let read_signature = |b64: &'t str| match signature {
        Some(room) if b64_decoded_len(b64.len()).is_some_and(|n| n <= INLINE_SIGNATURE) => {
            b64_decode_uninit(b64, room).map(Some)
        }
        _ => b64_is_canonical(b64).then_some(None),
    };
    let (parts, decoded) = split_compact_with(token, read_signature).map_err(|e| match e {
        jose::SplitError::Jwe => malformed(Malformed::Jwe),
        jose::SplitError::PartCount => malformed(Malformed::NotCompactJws),
    })?;
    let (header, remember_header_in) = match cache.map(|c| (c, c.get(parts.header_b64))) {
        Some((_, Some(known))) => (known.clone(), None),
        Some((c, None)) => (parse_header(parts.header_b64)?, Some(c)),
        None => (parse_header(parts.header_b64)?, None),
    };
    let mut scan = ClaimsScan::default();
    let json = parse_claims(parts.payload_b64, &mut scan)?;
    if !parts.signature_canonical {
        return Err(malformed(Malformed::Base64));
    }
    Ok(ParsedToken {
        token_len: token.len(),
        header,
        claims: Claims { json, registered: scan.registered, names: scan.names, map: OnceLock::new() },
        signing_input: parts.signing_input,
        signature_b64: parts.signature_b64,
        signature: decoded.flatten(),
        header_segment: parts.header_b64,
        remember_header_in,
    })
}

/// The header rules: canonical base64url, strict JSON, `alg`, `b64`, `crit`,
/// member types.
fn parse_header(b64: &str) -> Result<TokenHeader, Rejection> {
    let header_bytes = b64_decode(b64).ok_or(malformed(Malformed::Base64))?;
    let header_json = String::from_utf8(header_bytes).map_err(|_| malformed(Malformed::HeaderJson))?;
    let header = match jose::parse_header(&header_json) {
        Ok(Some(h)) => h,
        Ok(None) => return Err(malformed(Malformed::HeaderJson)),
        Err(e) if is_duplicate_error(&e) => return Err(malformed(Malformed::DuplicateMember)),
        Err(_) => return Err(malformed(Malformed::HeaderJson)),
    };
    let Member::Is(alg_name) = &header.alg else { return Err(malformed(Malformed::MissingAlg)) };
    if alg_name == "none" {
        return Err(Rejection::AlgNotAllowed { alg: "none".into(), by: AlgRefusal::None });
    }
    let alg = Algorithm::from_name(alg_name).ok_or_else(|| Rejection::UnsupportedAlg { alg: sanitize(alg_name) })?;
    let b64_flag = match &header.b64 {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(malformed(Malformed::HeaderMemberType)),
    };
    if !b64_flag {
        return Err(malformed(Malformed::UnencodedPayload));
    }
    if let Some(crit) = &header.crit {
        // The only extension understood is `b64`, and only in its default
        // (true) form; anything else, or an empty list, is refused (RFC 7515 §4.1.11).
        let ok = crit.as_array().is_some_and(|names| {
            !names.is_empty() && names.iter().all(|n| n.as_str() == Some("b64") && header.b64.is_some())
        });
        if !ok {
            return Err(malformed(Malformed::UnknownCritical));
        }
    }
    let string_member = |member: Member<String>| -> Result<Option<HeaderText>, Rejection> {
        match member {
            Member::Absent => Ok(None),
            Member::Is(s) => Ok(Some(s.into())),
            Member::WrongType => Err(malformed(Malformed::HeaderMemberType)),
        }
    };
    let kid = string_member(header.kid)?;
    let typ = string_member(header.typ)?;
    Ok(TokenHeader { alg, kid, typ })
}

/// The claims rules that need no policy: canonical base64url, one strict JSON
/// object, scanned into `scan`. The decoded JSON is returned (it becomes
/// [`Claims::json`]).
fn parse_claims(b64: &str, scan: &mut ClaimsScan) -> Result<Box<str>, Rejection> {
    let bytes = b64_decode(b64).ok_or(malformed(Malformed::Base64))?;
    // JSON text is UTF-8: checked once for the whole text (a token with
    // invalid UTF-8 and a repeated member is `bad_claims_json`, whichever
    // comes first).
    let json = String::from_utf8(bytes).map_err(|_| malformed(Malformed::ClaimsJson))?;
    match jose::scan_claims_into(&json, scan) {
        Ok(true) => Ok(json.into_boxed_str()),
        Ok(false) => Err(malformed(Malformed::ClaimsJson)),
        Err(e) if is_duplicate_error(&e) => Err(malformed(Malformed::DuplicateMember)),
        Err(_) => Err(malformed(Malformed::ClaimsJson)),
    }
}

pub(crate) fn check_issuer(iss: Option<&str>, policy: &Policy) -> Result<(), Rejection> {
    match iss {
        Some(iss) if policy.accepts_issuer(iss) => Ok(()),
        Some(iss) => Err(Rejection::WrongIssuer { iss: Some(sanitize(iss)) }),
        None => Err(Rejection::WrongIssuer { iss: None }),
    }
}

fn numeric_claim(member: &Member<f64>) -> Result<Option<f64>, Rejection> {
    match member {
        Member::Absent => Ok(None),
        Member::Is(n) => Ok(Some(*n)),
        Member::WrongType => Err(malformed(Malformed::ClaimType)),
    }
}

fn missing(claim: &str) -> Rejection {
    Rejection::MissingClaim { claim: claim.to_owned() }
}

fn time_rules(registered: &Registered, policy: &Policy) -> Result<TimeRules, Rejection> {
    Ok(TimeRules {
        exp: numeric_claim(&registered.exp)?,
        nbf: numeric_claim(&registered.nbf)?,
        iat: numeric_claim(&registered.iat)?,
        leeway: policy.leeway,
        max_age: policy.max_age,
    })
}

fn check_claims(header: &TokenHeader, claims: &Claims, policy: &Policy, now: UnixTime) -> Result<TimeRules, Rejection> {
    let (registered, names, json) = (&claims.registered, &claims.names, &*claims.json);
    let times = time_rules(registered, policy)?;
    let audiences: Option<&Audiences> = match &registered.aud {
        Member::Absent => None,
        Member::Is(a) => Some(a),
        Member::WrongType => return Err(malformed(Malformed::ClaimType)),
    };
    let subject = match &registered.sub {
        Member::Absent => None,
        Member::Is(s) => Some(s.get(json)),
        Member::WrongType => return Err(malformed(Malformed::ClaimType)),
    };
    for claim in &policy.required_claims {
        if !names.contains(claim, json) {
            return Err(missing(claim));
        }
    }
    if policy.max_age.is_some() && times.iat.is_none() {
        return Err(missing("iat"));
    }
    let audience_required = !policy.audiences.is_empty() || policy.spiffe.is_some();
    if audience_required && registered.aud.is_absent() {
        return Err(missing("aud"));
    }
    if policy.spiffe.is_some() && subject.is_none() {
        return Err(missing("sub"));
    }
    times.check(now)?;
    let accepted = |aud: &crate::jose::Text| {
        let aud = aud.get(json);
        policy.audiences.iter().any(|p| p == aud)
    };
    // Matched directly, not through `Audiences::iter`'s chained iterator: this
    // runs on every token.
    if !policy.audiences.is_empty()
        && !audiences.is_some_and(|a| match a {
            Audiences::One(one) => accepted(one),
            Audiences::Many(many) => many.iter().any(accepted),
        })
    {
        return Err(Rejection::WrongAudience);
    }
    if !policy.typ.accepts_bytes(header.typ.as_ref().map(HeaderText::as_bytes)) {
        return Err(Rejection::WrongType { typ: header.typ.as_deref().map(sanitize) });
    }
    check_subject(subject, policy)?;
    Ok(times)
}

fn check_subject(subject: Option<&str>, policy: &Policy) -> Result<(), Rejection> {
    let not_allowed = |why| Err(Rejection::SubjectNotAllowed { why });
    if let Some(rule) = &policy.spiffe {
        let Some(sub) = subject else { return not_allowed("no subject") };
        let id = match SpiffeId::parse(sub) {
            Ok(id) => id,
            Err(e) => return not_allowed(e.as_str()),
        };
        if !rule.trust_domains.iter().any(|td| td == id.trust_domain()) {
            return not_allowed("trust domain not allowed");
        }
        if !rule.allowed_ids.is_empty() && !rule.allowed_ids.iter().any(|a| a == id.as_str()) {
            return not_allowed("SPIFFE ID not in the allowed list");
        }
        if !rule.path_prefixes.is_empty() && !rule.path_prefixes.iter().any(|p| id.path_is_under(p)) {
            return not_allowed("SPIFFE ID path not under an allowed prefix");
        }
    }
    match &policy.subjects {
        SubjectRule::Any => Ok(()),
        SubjectRule::OneOf(list) => match subject {
            Some(s) if list.iter().any(|a| a == s) => Ok(()),
            _ => not_allowed("subject not in the allowed list"),
        },
        SubjectRule::Prefix(prefix) => match subject {
            Some(s) if s.starts_with(prefix.as_str()) => Ok(()),
            _ => not_allowed("subject does not have the allowed prefix"),
        },
    }
}

/// Candidate keys: matching `kid` (when the token has one) and allowing the
/// token's algorithm; without `kid`, exactly one key may allow the algorithm.
pub(crate) fn select_keys<'k>(keys: &'k KeySet, header: &TokenHeader) -> Result<Candidates<'k>, Rejection> {
    if keys.is_empty() {
        return Err(Rejection::KeysUnavailable);
    }
    let alg = header.alg;
    let mut candidates = Candidates::default();
    match &header.kid {
        Some(kid) => {
            let kid_bytes = kid.as_bytes();
            let mut same_kid = false;
            for key in keys.keys().iter().filter(|k| k.kid().map(str::as_bytes) == Some(kid_bytes)) {
                same_kid = true;
                if key.allows(alg) {
                    candidates.push(key);
                    if candidates.is_full() {
                        break;
                    }
                }
            }
            if candidates.len > 0 {
                Ok(candidates)
            } else if same_kid {
                Err(Rejection::AlgNotAllowed { alg: alg.name().into(), by: AlgRefusal::Key })
            } else {
                Err(Rejection::UnknownKid { kid: Some(sanitize(kid)) })
            }
        }
        None => {
            let mut able = keys.keys().iter().filter(|k| k.allows(alg));
            match (able.next(), able.next()) {
                (Some(only), None) => {
                    candidates.push(only);
                    Ok(candidates)
                }
                _ => Err(Rejection::UnknownKid { kid: None }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn header_text_reads_back_what_it_was_given_inline_or_not() {
        let long = "k".repeat(INLINE_TEXT + 1);
        let inline_max = "é".repeat(INLINE_TEXT / 2);
        for s in ["", "bench-1", "JWT", "kid with ünïcode", inline_max.as_str(), &long[1..], &long] {
            let t = HeaderText::from(s);
            assert_eq!(t.as_str(), s);
            assert_eq!(t.as_bytes(), s.as_bytes());
            assert_eq!(HeaderText::from(s.to_owned()), t);
            assert_eq!(String::from(t.clone()), s);
            assert_eq!(format!("{t}"), s);
            assert_eq!(format!("{t:?}"), format!("{s:?}"));
            assert!(t == *s && t == s);
            assert_eq!(matches!(t.0, TextRepr::Inline { .. }), s.len() <= INLINE_TEXT, "{s}");
        }
        assert_ne!(HeaderText::from("a"), HeaderText::from("a\0"));
        assert_ne!(HeaderText::from(&long[1..]), HeaderText::from(long.as_str()));
    }

    #[test]
    fn scopes_from_the_scan_agree_with_the_whole_tree() {
        for json in [
            r#"{"scope":"a b a","scp":["c","b",1]}"#,
            r#"{"scp":"x y","scope":["z"]}"#,
            r#"{"sub":"s","scope":5,"scp":{"a":1}}"#,
            r#"{"sub":"s"}"#,
            r#"{"scope":"a\u0020b","scp":["\u0063"]}"#,
            r#"{"scope":"a","exp":1.5}"#,
        ] {
            let mut scan = ClaimsScan::default();
            let text = crate::jose::b64_encode(json.as_bytes());
            let json = parse_claims(&text, &mut scan).expect(json);
            let claims = Claims { json, registered: scan.registered, names: scan.names, map: OnceLock::new() };
            let whole = crate::bearer::granted_scopes(&serde_json::from_str(claims.json()).unwrap());
            assert_eq!(claims.scopes(), whole, "{}", claims.json());
        }
    }

    #[test]
    fn debug_output_never_contains_the_token() {
        // HS256 with an explicit secret, so the test needs no key files.
        let secret = [42u8; 32];
        let keys = KeySet::empty().with_secret(Some("k"), Algorithm::HS256, &secret).expect("secret");
        let header = crate::jose::b64_encode(br#"{"alg":"HS256","kid":"k"}"#);
        let payload = crate::jose::b64_encode(br#"{"iss":"i","exp":4000000000}"#);
        let input = format!("{header}.{payload}");
        let tag = crate::crypto::hmac_sign(&keys.keys()[0].backend, input.as_bytes()).expect("hmac");
        let signature = crate::jose::b64_encode(&tag);
        let token = format!("{input}.{signature}");
        let policy = Policy::new("i").with_algorithms([Algorithm::HS256].into_iter().collect());
        let now = UnixTime::from_secs(1_767_225_600);
        let pending = prepare(&token, &keys, &policy, now).expect("prepared");
        let parsed = parse(&token, 1 << 14).expect("parsed");
        let verified = verify(&token, &keys, &policy, now).expect("verified");
        for text in [format!("{pending:?}"), format!("{parsed:?}"), format!("{verified:?}"), format!("{keys:?}")] {
            assert!(!text.contains(&signature), "{text}");
            assert!(!text.contains(&token), "{text}");
            assert!(!text.contains("42, 42, 42"), "secret bytes in {text}");
        }
    }
}
