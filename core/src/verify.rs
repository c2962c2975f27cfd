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
use crate::jose::{self, b64_decode, is_duplicate_error, parse_strict_json, split_compact};
use crate::jwk::{KeySet, VerificationKey};
use crate::policy::{Policy, SubjectRule};
use crate::rejection::{AlgRefusal, Malformed, Rejection, sanitize};
use crate::spiffe::SpiffeId;
use crate::time::UnixTime;
use serde_json::{Map, Value};
use std::sync::Arc;
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
    pub kid: Option<String>,
    /// `typ`, when present.
    pub typ: Option<String>,
}

/// The claims of a verified token.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims(Map<String, Value>);

impl Claims {
    /// One claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.0.get("iss").and_then(Value::as_str)
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.0.get("sub").and_then(Value::as_str)
    }

    /// `aud`, whether it was a string or an array.
    pub fn audiences(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// `exp` as a time.
    pub fn expires_at(&self) -> Option<UnixTime> {
        self.0.get("exp").and_then(Value::as_f64).map(UnixTime::from_secs_f64)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// All claims, owned.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
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
    claims: Map<String, Value>,
    candidates: Vec<Arc<VerificationKey>>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    times: TimeRules,
}

/// A token is a bearer credential: its signing input and signature together
/// are the token, so `Debug` shows only their lengths.
impl std::fmt::Debug for PendingCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCheck")
            .field("header", &self.header)
            .field("candidates", &self.candidates)
            .field("signing_input_len", &self.signing_input.len())
            .field("signature_len", &self.signature.len())
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
        &self.signing_input
    }

    /// The signature bytes (raw `r || s` for ECDSA).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The time rules of this token.
    pub fn time_rules(&self) -> TimeRules {
        self.times
    }

    /// Checks the signature with the compiled-in backend; returns the index of
    /// the candidate that verified.
    pub fn check_natively(&self) -> Option<usize> {
        self.candidates.iter().position(|k| k.verify_signature(self.header.alg, &self.signing_input, &self.signature))
    }
}

/// Verifies `token` against `keys` under `policy` at `now`.
pub fn verify(token: &str, keys: &KeySet, policy: &Policy, now: UnixTime) -> Result<Verified, Rejection> {
    let selected = select(parse_token(token, policy.max_token_bytes)?, keys, policy, now)?;
    let matched = selected.check_natively();
    selected.finish(matched, now)
}

/// Completes a [`PendingCheck`] with the host's signature outcome.
pub fn complete(pending: PendingCheck, signature_ok: bool, now: UnixTime) -> Result<Verified, Rejection> {
    complete_with(pending, signature_ok.then_some(0), now)
}

/// Like [`complete`], naming which candidate verified.
pub fn complete_with(pending: PendingCheck, matched: Option<usize>, now: UnixTime) -> Result<Verified, Rejection> {
    finish(pending.header, pending.claims, &pending.candidates, pending.times, matched, now)
}

fn finish(
    header: TokenHeader,
    claims: Map<String, Value>,
    candidates: &[Arc<VerificationKey>],
    times: TimeRules,
    matched: Option<usize>,
    now: UnixTime,
) -> Result<Verified, Rejection> {
    let key = matched.and_then(|i| candidates.get(i)).ok_or(Rejection::InvalidSignature)?;
    times.check(now)?;
    Ok(Verified { key: key.clone(), header, claims: Claims(claims), times })
}

/// Header, policy, claims and key-selection rules: everything but the
/// signature itself.
pub fn prepare(token: &str, keys: &KeySet, policy: &Policy, now: UnixTime) -> Result<PendingCheck, Rejection> {
    select(parse_token(token, policy.max_token_bytes)?, keys, policy, now).map(Selected::into_pending)
}

/// A token that passed every rule but the signature, still borrowing its
/// signing input from the token (the native path never copies it).
pub(crate) struct Selected<'t> {
    parsed: ParsedToken<'t>,
    candidates: Vec<Arc<VerificationKey>>,
    times: TimeRules,
}

impl Selected<'_> {
    pub(crate) fn check_natively(&self) -> Option<usize> {
        let (alg, input, sig) = (self.parsed.header.alg, self.parsed.signing_input.as_bytes(), &self.parsed.signature);
        self.candidates.iter().position(|k| k.verify_signature(alg, input, sig))
    }

    pub(crate) fn finish(self, matched: Option<usize>, now: UnixTime) -> Result<Verified, Rejection> {
        finish(self.parsed.header, self.parsed.claims, &self.candidates, self.times, matched, now)
    }

    pub(crate) fn into_pending(self) -> PendingCheck {
        PendingCheck {
            signing_input: self.parsed.signing_input.as_bytes().to_vec(),
            header: self.parsed.header,
            claims: self.parsed.claims,
            signature: self.parsed.signature,
            candidates: self.candidates,
            times: self.times,
        }
    }
}

/// Every rule but the signature, then the candidate keys.
pub(crate) fn select<'t>(
    parsed: ParsedToken<'t>,
    keys: &KeySet,
    policy: &Policy,
    now: UnixTime,
) -> Result<Selected<'t>, Rejection> {
    let times = check_policy_rules(&parsed, policy, now)?;
    let candidates = select_keys(keys, &parsed.header)?;
    Ok(Selected { parsed, candidates, times })
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
    check_issuer(&parsed.claims, policy)?;
    check_claims(&parsed.header, &parsed.claims, policy, now)
}

/// A token whose structure and header passed; nothing else checked yet.
/// Produced by [`parse`], consumed by the checks that follow.
pub struct ParsedToken<'t> {
    pub(crate) token_len: usize,
    pub(crate) header: TokenHeader,
    pub(crate) claims: Map<String, Value>,
    pub(crate) signing_input: &'t str,
    pub(crate) signature: Vec<u8>,
}

/// Structure and header rules only: what a multi-issuer host needs to route a
/// token by `iss` before choosing a policy and keys. Nothing here is trusted.
pub fn parse(token: &str, max_token_bytes: usize) -> Result<ParsedToken<'_>, Rejection> {
    parse_token(token, max_token_bytes)
}

impl ParsedToken<'_> {
    /// `iss` when it is a string (unverified).
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// Header fields (unverified).
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }
}

fn malformed(m: Malformed) -> Rejection {
    Rejection::Malformed(m)
}

fn json_object(b64: &str, which: Malformed) -> Result<Map<String, Value>, Rejection> {
    let bytes = b64_decode(b64).ok_or(malformed(Malformed::Base64))?;
    match parse_strict_json(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(malformed(which)),
        Err(e) if is_duplicate_error(&e) => Err(malformed(Malformed::DuplicateMember)),
        Err(_) => Err(malformed(which)),
    }
}

/// Structure and header rules (RFC 8725), independent of any policy but the
/// size limit; also what a multi-issuer verifier needs to route by `iss`.
pub(crate) fn parse_token(token: &str, max_token_bytes: usize) -> Result<ParsedToken<'_>, Rejection> {
    if token.is_empty() {
        return Err(Rejection::MissingToken);
    }
    if token.len() > max_token_bytes {
        return Err(Rejection::TokenTooLarge { len: token.len(), limit: max_token_bytes });
    }
    let parts = split_compact(token).map_err(|e| match e {
        jose::SplitError::Jwe => malformed(Malformed::Jwe),
        jose::SplitError::PartCount => malformed(Malformed::NotCompactJws),
    })?;
    let header_bytes = b64_decode(parts.header_b64).ok_or(malformed(Malformed::Base64))?;
    let header = match jose::parse_header(&header_bytes) {
        Ok(Some(h)) => h,
        Ok(None) => return Err(malformed(Malformed::HeaderJson)),
        Err(e) if is_duplicate_error(&e) => return Err(malformed(Malformed::DuplicateMember)),
        Err(_) => return Err(malformed(Malformed::HeaderJson)),
    };
    let alg_name = header.alg.as_ref().and_then(Value::as_str).ok_or(malformed(Malformed::MissingAlg))?;
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
    let string_member = |member: Option<Value>| -> Result<Option<String>, Rejection> {
        match member {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(malformed(Malformed::HeaderMemberType)),
        }
    };
    let kid = string_member(header.kid)?;
    let typ = string_member(header.typ)?;
    let claims = json_object(parts.payload_b64, Malformed::ClaimsJson)?;
    let signature = b64_decode(parts.signature_b64).ok_or(malformed(Malformed::Base64))?;
    Ok(ParsedToken {
        token_len: token.len(),
        header: TokenHeader { alg, kid, typ },
        claims,
        signing_input: parts.signing_input,
        signature,
    })
}

pub(crate) fn check_issuer(claims: &Map<String, Value>, policy: &Policy) -> Result<(), Rejection> {
    match claims.get("iss") {
        Some(Value::String(iss)) if policy.accepts_issuer(iss) => Ok(()),
        Some(Value::String(iss)) => Err(Rejection::WrongIssuer { iss: Some(sanitize(iss)) }),
        _ => Err(Rejection::WrongIssuer { iss: None }),
    }
}

fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(malformed(Malformed::ClaimType)),
        Some(_) => Err(malformed(Malformed::ClaimType)),
    }
}

fn missing(claim: &str) -> Rejection {
    Rejection::MissingClaim { claim: claim.to_owned() }
}

fn time_rules(claims: &Map<String, Value>, policy: &Policy) -> Result<TimeRules, Rejection> {
    Ok(TimeRules {
        exp: numeric_claim(claims, "exp")?,
        nbf: numeric_claim(claims, "nbf")?,
        iat: numeric_claim(claims, "iat")?,
        leeway: policy.leeway,
        max_age: policy.max_age,
    })
}

fn check_claims(
    header: &TokenHeader,
    claims: &Map<String, Value>,
    policy: &Policy,
    now: UnixTime,
) -> Result<TimeRules, Rejection> {
    let times = time_rules(claims, policy)?;
    let aud = claims.get("aud");
    let audiences: &[Value] = match aud {
        None => &[],
        Some(Value::String(_)) => std::slice::from_ref(aud.unwrap_or(&Value::Null)),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items,
        Some(_) => return Err(malformed(Malformed::ClaimType)),
    };
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(malformed(Malformed::ClaimType)),
    };
    for claim in &policy.required_claims {
        if !claims.contains_key(claim) {
            return Err(missing(claim));
        }
    }
    if policy.max_age.is_some() && times.iat.is_none() {
        return Err(missing("iat"));
    }
    let audience_required = !policy.audiences.is_empty() || policy.spiffe.is_some();
    if audience_required && !claims.contains_key("aud") {
        return Err(missing("aud"));
    }
    if policy.spiffe.is_some() && subject.is_none() {
        return Err(missing("sub"));
    }
    times.check(now)?;
    if !policy.audiences.is_empty()
        && !audiences.iter().filter_map(Value::as_str).any(|a| policy.audiences.iter().any(|p| p == a))
    {
        return Err(Rejection::WrongAudience);
    }
    if !policy.typ.accepts(header.typ.as_deref()) {
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
pub(crate) fn select_keys(keys: &KeySet, header: &TokenHeader) -> Result<Vec<Arc<VerificationKey>>, Rejection> {
    if keys.is_empty() {
        return Err(Rejection::KeysUnavailable);
    }
    let alg = header.alg;
    match &header.kid {
        Some(kid) => {
            let mut same_kid = false;
            let candidates: Vec<_> = keys
                .keys()
                .iter()
                .filter(|k| k.kid() == Some(kid.as_str()))
                .inspect(|_| same_kid = true)
                .filter(|k| k.allows(alg))
                .take(MAX_CANDIDATES)
                .cloned()
                .collect();
            if !candidates.is_empty() {
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
                (Some(only), None) => Ok(vec![only.clone()]),
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
