//! tokenkeep for edge runtimes: wasm-bindgen over the sans-IO core.
//!
//! Newtypes and conversions only. The core decides everything (options,
//! policy, which keys, when to fetch, what a fetch or an imported key set
//! means); this crate keeps the core's machines for one isolate and hands the
//! JS glue (`bindings-node/edge/`) what it must do with the runtime's own
//! tools: `fetch` a request, check a signature with WebCrypto, keep the last
//! good key set in the Cache API. No clock, no timer, no I/O here: every call
//! takes `now` (milliseconds since the Unix epoch, from `Date.now()`).
//!
//! A verification is `step` (answer, or a signature for the host to check,
//! or keys to wait for), then `complete` with the host's signature outcome.
//! HTTP bearer authentication is the same verification of the header's token
//! (`bearerToken`) followed by `admit`: the core's `bearer` rules give the
//! granted scopes or the answer to send.

use std::rc::Rc;
use std::time::Duration;
use tokenkeep_core::bearer::{self, Denial};
use tokenkeep_core::http::{HttpOutcome, HttpResponse, RequestId, TransportError};
use tokenkeep_core::jwks::{
    self, Check, ImportOutcome, JwksCache, JwksEvent, KeySource, MissDecision, PersistedKeys, Prepared,
};
use tokenkeep_core::spec::{KeysPlan, SpecError, SpecErrorCode, VerifierSpec};
use tokenkeep_core::token_cache::TokenCache;
use tokenkeep_core::{AlgSet, Algorithm, PendingCheck, Policy, Rejection, UnixTime, Verified};
use wasm_bindgen::prelude::*;

/// `complete`'s `matched` when the host cannot check the algorithm.
const CANNOT_CHECK: i32 = -2;

/// `step` / `complete` answers that are neither a cached claims object nor
/// verified claims (JSON text).
const REJECTED: f64 = -2.0;
const WAIT: f64 = -3.0;

struct Issuer {
    name: String,
    policy: Policy,
    cache: JwksCache,
    /// Extra request headers (`http.headers`), sent on every key fetch.
    headers: Vec<(String, String)>,
}

/// A signature the host is checking.
struct Parked {
    check: PendingCheck,
    issuer: usize,
    generation: u64,
    token: String,
    token_now: UnixTime,
}

/// What the last `step` / `complete` produced, for the calls that read it.
// One per verifier, overwritten in place: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Out {
    None,
    Verified {
        verified: Verified,
        issuer: usize,
        generation: u64,
        token: String,
    },
    /// A verified-token cache hit, with the scopes its claims grant.
    Hit(Rc<[String]>),
    Rejected(Rejection),
    Wait {
        issuer: usize,
        generation: u64,
    },
}

/// A verified-token cache entry's answer: the JS claims object, and the
/// scopes the claims grant (for `admit` on a hit).
type Remembered = (JsValue, Rc<[String]>);

/// One isolate's verifier state: the issuers' policies and key caches, the
/// verified-token cache (its values are the JS claims objects), and the
/// signatures the host is checking.
#[wasm_bindgen]
pub struct Core {
    issuers: Vec<Issuer>,
    max_token_bytes: usize,
    tokens: Option<TokenCache<Remembered>>,
    /// Algorithms checked here (ring, ed25519-dalek) instead of by the host.
    native: AlgSet,
    parked: Vec<Option<Parked>>,
    out: Out,
}

thread_local! {
    /// Key handles (RFC 7638 thumbprints) numbered for the host's `CryptoKey`
    /// table, shared by every `Core` of the module as that table is; numbers
    /// are never reused, so a forgotten handle only costs a re-import.
    static KEY_IDS: std::cell::RefCell<(std::collections::HashMap<Box<str>, u32>, u32)> = Default::default();
}

/// At most this many handles are numbered; past it the table starts over.
const KEY_IDS_MAX: usize = 4096;

fn key_id(handle: &str) -> u32 {
    KEY_IDS.with(|cell| {
        let (ids, next) = &mut *cell.borrow_mut();
        if let Some(id) = ids.get(handle) {
            return *id;
        }
        if ids.len() >= KEY_IDS_MAX {
            ids.clear();
        }
        let id = *next;
        *next = next.wrapping_add(1);
        ids.insert(handle.into(), id);
        id
    })
}

fn at(ms: f64) -> UnixTime {
    UnixTime::from_millis(if ms.is_finite() && ms > 0.0 { ms as u64 } else { 0 })
}

fn ms(t: UnixTime) -> f64 {
    t.as_millis() as f64
}

/// A denial as `admit` answers it (the field names of the Node build's `Denied`).
fn denial_json(d: &Denial) -> String {
    serde_json::json!({
        "status": d.status, "error": d.error, "wwwAuthenticate": d.www_authenticate, "retryAfter": d.retry_after,
    })
    .to_string()
}

fn spec_error(e: &SpecError) -> JsValue {
    let v = serde_json::json!({"code": e.code().as_str(), "path": e.path(), "message": e.to_string()});
    JsValue::from_str(&v.to_string())
}

/// Transport options the edge cannot honour are refused, never ignored: a CA
/// file or a resolve override silently dropped would change who is trusted.
fn edge_http_check(http: &tokenkeep_core::spec::HttpSpec, path: &str) -> Result<(), SpecError> {
    let unsupported = [
        ("ca_file", http.ca_file.is_some(), "edge runtimes have no files; the runtime's own trust store is used"),
        (
            "bearer_token_file",
            http.bearer_token_file.is_some(),
            "edge runtimes have no files; pass the header in http.headers",
        ),
        ("resolve", !http.resolve.is_empty(), "edge runtimes resolve names themselves"),
        (
            "dangerous_accept_invalid_certs",
            http.dangerous_accept_invalid_certs,
            "edge runtimes always check certificates",
        ),
    ];
    for (field, given, why) in unsupported {
        if given {
            let at = if path.is_empty() { format!("http.{field}") } else { format!("{path}.http.{field}") };
            return Err(SpecError::new(
                at,
                SpecErrorCode::InvalidValue,
                format!("not supported on edge runtimes: {why}"),
            ));
        }
    }
    Ok(())
}

#[wasm_bindgen]
impl Core {
    /// Builds the verifier from the options spec as JSON text. `seed` is four
    /// random words (`crypto.getRandomValues`): the verified-token cache's hash
    /// key and the refresh jitter. Errors are `{"code", "path", "message"}` JSON.
    #[wasm_bindgen(constructor)]
    pub fn new(spec_json: &str, seed: &[u32], now_ms: f64) -> Result<Core, JsValue> {
        let spec = VerifierSpec::from_json(spec_json).map_err(|e| spec_error(&e))?;
        let plan = spec.validate().map_err(|e| spec_error(&e))?;
        let word = |i: usize| u64::from(seed.get(i).copied().unwrap_or(0));
        let (hash_seed, jitter_seed) = ((word(0) << 32) | word(1), (word(2) << 32) | word(3));
        let now = at(now_ms);
        let mut issuers = Vec::with_capacity(plan.issuers.len());
        for (i, issuer) in plan.issuers.into_iter().enumerate() {
            let path = if spec.issuers.is_some() { format!("issuers[{i}]") } else { String::new() };
            edge_http_check(&issuer.http, &path).map_err(|e| spec_error(&e))?;
            let source = match issuer.keys {
                KeysPlan::Static(keys) => KeySource::from_keys(keys),
                KeysPlan::Fetched(source) => source,
                _ => {
                    return Err(spec_error(&SpecError::new(
                        path,
                        SpecErrorCode::InvalidValue,
                        "unsupported key source",
                    )));
                }
            };
            let name = issuer.policy.issuers().first().cloned().unwrap_or_default();
            let seed = jitter_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let headers = issuer.http.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
            issuers.push(Issuer {
                name,
                policy: issuer.policy,
                cache: JwksCache::new(source, issuer.cache, seed, now),
                headers,
            });
        }
        let max_token_bytes = issuers.iter().map(|i| i.policy.max_token_bytes()).max().unwrap_or(0);
        let tokens = (plan.verified_tokens > 0).then(|| TokenCache::new(plan.verified_tokens, hash_seed));
        // HMAC secrets are never handed to the host, so HS* is always checked here.
        let native = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512].into_iter().collect();
        Ok(Core { issuers, max_token_bytes, tokens, native, parked: Vec::new(), out: Out::None })
    }

    /// Checks `alg` here (ring / ed25519-dalek) instead of asking the host:
    /// where the runtime's WebCrypto lacks it, or when the host is told to.
    #[cfg(feature = "module-signatures")]
    #[wasm_bindgen(js_name = checkNatively)]
    pub fn check_natively(&mut self, alg: &str) -> bool {
        match Algorithm::from_name(alg) {
            Some(a) => {
                self.native.insert(a);
                true
            }
            None => false,
        }
    }

    /// Answers `token`: the cached claims object (a verified-token cache hit),
    /// or the verified claims' JSON text (the payload as the token carried
    /// it, which the core read strictly: build the object from it, then
    /// `remember` it when `remembers()`), `-2` rejected (`rejectionCode` /
    /// `rejectionMessage`), `-3` wait for keys (`waitIssuer` /
    /// `waitGeneration`), or a non-negative id of a signature for the host to
    /// check (`pendingCheck`, `pendingJwk` for a key not imported yet, then
    /// `complete`).
    pub fn step(&mut self, token: &str, keys_now_ms: f64, token_now_ms: f64, may_fetch: bool) -> JsValue {
        let (keys_now, token_now) = (at(keys_now_ms), at(token_now_ms));
        if let Some(hit) = self.cached(token, token_now, keys_now) {
            return hit;
        }
        // The token is kept only as the verified-token cache's key.
        let kept = if self.tokens.is_some() { token.to_owned() } else { String::new() };
        // With one issuer its key set is known before routing: parse through
        // its header cache (a hit skips the header's decoding; a miss is
        // learnt when the token verifies, on either signature path).
        let single = (self.issuers.len() == 1).then(|| self.issuers[0].cache.snapshot());
        let parsed = match single.as_deref().and_then(|s| s.keys()) {
            Some(keys) => tokenkeep_core::parse_with_cache(token, self.max_token_bytes, keys.header_cache()),
            None => tokenkeep_core::parse(token, self.max_token_bytes),
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(r) => return self.reject(r),
        };
        let index = match tokenkeep_core::verifier::route(&parsed, self.issuers.iter().map(|i| &i.policy)) {
            Ok(i) => i,
            Err(r) => return self.reject(r),
        };
        let issuer = &self.issuers[index];
        let snapshot = match &single {
            Some(s) => s.clone(),
            None => issuer.cache.snapshot(),
        };
        let generation = snapshot.generation();
        let check = if self.native.contains(parsed.header().alg) {
            jwks::check_parsed_at(&snapshot, parsed, &issuer.policy, keys_now, token_now)
        } else {
            match jwks::prepare_parsed_at(&snapshot, parsed, &issuer.policy, keys_now, token_now) {
                Prepared::Signature(check) if check.candidates().iter().all(|k| k.public_jwk().is_some()) => {
                    return self.park(Parked { check, issuer: index, generation, token: kept, token_now });
                }
                Prepared::Signature(check) => {
                    let matched = check.check_natively();
                    jwks::complete_pending(check, matched, generation, token_now)
                }
                Prepared::Answer(check) => check,
            }
        };
        self.conclude(check, index, generation, kept, keys_now, may_fetch)
    }

    /// Ends a parked signature check: `matched` is the index of the candidate
    /// whose signature verified, -1 for none, or -2 when the host cannot
    /// check the algorithm at all (no WebCrypto for it, or no asynchronous
    /// call possible, and no in-module check in this build): the token is
    /// then refused as `unsupported_alg`. Answers as `step` does.
    pub fn complete(&mut self, id: u32, matched: i32, keys_now_ms: f64, may_fetch: bool) -> JsValue {
        let Some(parked) = self.parked.get_mut(id as usize).and_then(Option::take) else {
            return self.reject(Rejection::KeysUnavailable);
        };
        if matched == CANNOT_CHECK {
            return self.reject(Rejection::UnsupportedAlg { alg: parked.check.alg().name().to_owned() });
        }
        let matched = usize::try_from(matched).ok();
        let check = jwks::complete_pending(parked.check, matched, parked.generation, parked.token_now);
        self.conclude(check, parked.issuer, parked.generation, parked.token, at(keys_now_ms), may_fetch)
    }

    /// Ends a parked signature check inside the module (ring, ed25519-dalek):
    /// for a caller that cannot wait for WebCrypto. Never fetches.
    #[cfg(feature = "module-signatures")]
    #[wasm_bindgen(js_name = completeNatively)]
    pub fn complete_natively(&mut self, id: u32, keys_now_ms: f64) -> JsValue {
        let Some(parked) = self.parked.get_mut(id as usize).and_then(Option::take) else {
            return self.reject(Rejection::KeysUnavailable);
        };
        let matched = parked.check.check_natively();
        let check = jwks::complete_pending(parked.check, matched, parked.generation, parked.token_now);
        self.conclude(check, parked.issuer, parked.generation, parked.token, at(keys_now_ms), false)
    }

    /// Forgets a parked check the host will not complete (it threw).
    pub fn abandon(&mut self, id: u32) {
        if let Some(slot) = self.parked.get_mut(id as usize) {
            *slot = None;
        }
    }

    /// Everything the host needs to check parked signature `id`, in one
    /// buffer (one crossing, one copy): little-endian u32 words `alg` (an
    /// index into `algNames()`), `n` (candidate count), `n` key ids (stable
    /// numbers for the candidates' handles, shared by every `Core` of the
    /// module, to find their imported `CryptoKey`s), the signing input's
    /// length; then the signing input, then the signature (raw `r || s` for
    /// ECDSA, as WebCrypto takes it). Empty for an unknown id.
    #[wasm_bindgen(js_name = pendingCheck)]
    pub fn pending_check(&self, id: u32) -> Vec<u8> {
        let Some(p) = self.parked_ref(id) else { return Vec::new() };
        let (candidates, input, signature) = (p.check.candidates(), p.check.signing_input(), p.check.signature());
        let mut out = Vec::with_capacity(4 * (3 + candidates.len()) + input.len() + signature.len());
        let alg = Algorithm::ALL.iter().position(|a| *a == p.check.alg()).unwrap_or(usize::MAX);
        out.extend_from_slice(&(alg as u32).to_le_bytes());
        out.extend_from_slice(&(candidates.len() as u32).to_le_bytes());
        for key in candidates {
            out.extend_from_slice(&key_id(key.handle()).to_le_bytes());
        }
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
        out.extend_from_slice(input);
        out.extend_from_slice(signature);
        out
    }

    /// The algorithm names `pendingCheck` numbers, space-separated (read once).
    #[wasm_bindgen(js_name = algNames)]
    pub fn alg_names() -> String {
        Algorithm::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(" ")
    }

    /// The public JWK of candidate `i` as JSON (to import it once).
    #[wasm_bindgen(js_name = pendingJwk)]
    pub fn pending_jwk(&self, id: u32, i: usize) -> String {
        self.parked_ref(id)
            .and_then(|p| p.check.candidates().get(i))
            .and_then(|k| k.public_jwk())
            .map(|jwk| jwk.to_string())
            .unwrap_or_default()
    }

    /// Whether the verified-token cache is on (`remember` is worth calling).
    pub fn remembers(&self) -> bool {
        self.tokens.is_some()
    }

    /// Keeps `value` (the claims object the host built) as the verified-token
    /// cache's answer for the token just verified.
    pub fn remember(&mut self, value: JsValue) {
        if let (Out::Verified { verified, issuer, generation, token }, Some(tokens)) =
            (std::mem::replace(&mut self.out, Out::None), self.tokens.as_mut())
        {
            let scopes = verified.claims.scopes().into();
            tokens.insert(&token, issuer, &verified, generation, (value, scopes));
        }
    }

    /// The token of an `Authorization` header value (`Bearer <token>`, the
    /// scheme in any case), or `undefined`: the host then verifies `""`,
    /// which is rejected as `missing_token` like any other rejection.
    #[wasm_bindgen(js_name = bearerToken)]
    pub fn bearer_token(authorization: &str) -> Option<String> {
        bearer::bearer_token(authorization).map(str::to_owned)
    }

    /// HTTP bearer authentication's answer to the last `step` / `complete`
    /// (a verified token, a cache hit or a rejection; call it before
    /// `remember`), as JSON: `{"scopes": [...]}` when the token grants every
    /// scope in `required`, else the denial to send, `{"status", "error",
    /// "wwwAuthenticate", "retryAfter"}` (`realm` named in its challenge).
    /// `undefined` after any other answer.
    pub fn admit(&self, required: Vec<String>, realm: Option<String>) -> Option<String> {
        let realm = realm.as_deref();
        let granted = match &self.out {
            Out::Verified { verified, .. } => verified.claims.scopes(),
            Out::Hit(scopes) => scopes.to_vec(),
            Out::Rejected(r) => return Some(denial_json(&Denial::rejected(r.code(), realm))),
            Out::None | Out::Wait { .. } => return None,
        };
        Some(match bearer::missing_scopes(&required, &granted, realm) {
            Some(denial) => denial_json(&denial),
            None => serde_json::json!({ "scopes": granted }).to_string(),
        })
    }

    /// The rejection's stable code (after a `-2` answer).
    #[wasm_bindgen(js_name = rejectionCode)]
    pub fn rejection_code(&self) -> String {
        match &self.out {
            Out::Rejected(r) => r.code().as_str().to_owned(),
            _ => String::new(),
        }
    }

    /// The rejection's safe message.
    #[wasm_bindgen(js_name = rejectionMessage)]
    pub fn rejection_message(&self) -> String {
        match &self.out {
            Out::Rejected(r) => r.to_string(),
            _ => String::new(),
        }
    }

    /// The HTTP status the rejection calls for: 503 for `keys_unavailable`, else 401.
    #[wasm_bindgen(js_name = rejectionStatus)]
    pub fn rejection_status(&self) -> u16 {
        match &self.out {
            Out::Rejected(r) => r.code().http_status(),
            _ => 500,
        }
    }

    /// The issuer whose keys to wait for (after a `-3` answer).
    #[wasm_bindgen(js_name = waitIssuer)]
    pub fn wait_issuer(&self) -> usize {
        match self.out {
            Out::Wait { issuer, .. } => issuer,
            _ => 0,
        }
    }

    /// The snapshot generation to wait past.
    #[wasm_bindgen(js_name = waitGeneration)]
    pub fn wait_generation(&self) -> f64 {
        match self.out {
            Out::Wait { generation, .. } => generation as f64,
            _ => 0.0,
        }
    }

    /// How long a caller waits for a refetch of `issuer`: a discovery source
    /// may need two requests.
    #[wasm_bindgen(js_name = waitBudgetMs)]
    pub fn wait_budget_ms(&self, issuer: usize) -> f64 {
        let timeout = self.issuers.get(issuer).map_or(Duration::from_secs(5), |i| i.cache.config().request_timeout);
        (2 * (timeout + Duration::from_secs(1))).as_millis() as f64
    }

    /// The current snapshot generation of `issuer`.
    pub fn generation(&self, issuer: usize) -> f64 {
        self.issuers.get(issuer).map_or(0.0, |i| i.cache.snapshot().generation() as f64)
    }

    /// Advances every cache's clock (due fetches start, a lost request times
    /// out); returns when to call again (ms), or `Infinity`.
    pub fn tick(&mut self, now_ms: f64) -> f64 {
        let now = at(now_ms);
        for issuer in &mut self.issuers {
            issuer.cache.handle_timeout(now);
        }
        self.next_due()
    }

    /// When a cache next wants `tick` (ms), or `Infinity`.
    #[wasm_bindgen(js_name = nextDue)]
    pub fn next_due(&self) -> f64 {
        self.issuers.iter().filter_map(|i| i.cache.poll_timeout()).map(ms).fold(f64::INFINITY, f64::min)
    }

    /// The next request to send, as JSON `{issuer, id, url, headers: [[name,
    /// value]…], timeout_ms, max_body_bytes}`, or `undefined`.
    #[wasm_bindgen(js_name = takeRequest)]
    pub fn take_request(&mut self) -> Option<String> {
        for (index, issuer) in self.issuers.iter_mut().enumerate() {
            if let Some(request) = issuer.cache.poll_request() {
                let mut headers: Vec<(String, String)> =
                    request.headers.iter().map(|(n, v)| (n.clone(), v.expose().to_owned())).collect();
                headers.extend(issuer.headers.iter().cloned());
                let v = serde_json::json!({
                    "issuer": index,
                    "id": request.id.0,
                    "url": request.url,
                    "headers": headers,
                    "timeout_ms": request.timeout.as_millis() as u64,
                    "max_body_bytes": request.max_body_bytes,
                });
                return Some(v.to_string());
            }
        }
        None
    }

    /// The answer to request `id` of `issuer`; `headers` are name, value, name, value….
    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(
        &mut self,
        issuer: usize,
        id: f64,
        status: u16,
        headers: Vec<String>,
        body: &[u8],
        now_ms: f64,
    ) {
        let mut response = HttpResponse::new(status, body.to_vec());
        for pair in headers.chunks_exact(2) {
            response = response.with_header(pair[0].clone(), pair[1].clone());
        }
        if let Some(i) = self.issuers.get_mut(issuer) {
            i.cache.handle_response(RequestId(id as u64), HttpOutcome::Response(response), at(now_ms));
        }
    }

    /// No answer to request `id`: `code` is a transport code (`timeout`,
    /// `connect`, `tls`, `body_too_large`, `redirect`, else `transport`).
    #[wasm_bindgen(js_name = handleFailure)]
    pub fn handle_failure(&mut self, issuer: usize, id: f64, code: &str, now_ms: f64) {
        let error = TransportError::ALL.iter().find(|e| e.code() == code).cloned().unwrap_or(TransportError::Other);
        if let Some(i) = self.issuers.get_mut(issuer) {
            i.cache.handle_response(RequestId(id as u64), HttpOutcome::Failed(error), at(now_ms));
        }
    }

    /// Events since the last call, as a JSON array of `{name, issuer, …fields}`.
    /// Hosts call it after every fetch so the queue never grows.
    #[wasm_bindgen(js_name = drainEvents)]
    pub fn drain_events(&mut self) -> String {
        let mut out = Vec::new();
        for issuer in &mut self.issuers {
            while let Some(event) = issuer.cache.poll_event() {
                let mut v = serde_json::json!({"name": event.code(), "issuer": issuer.name});
                let fields = match &event {
                    JwksEvent::Refreshed { key_count, added, removed, skipped } => serde_json::json!({
                        "key_count": key_count, "added": added, "removed": removed,
                        "skipped": skipped.iter().map(|s| s.reason.code()).collect::<Vec<_>>(),
                    }),
                    JwksEvent::RefreshFailed { error, attempt, next_retry_in, serving_stale } => serde_json::json!({
                        "error": error.code(), "attempt": attempt,
                        "next_retry_in_s": next_retry_in.as_secs_f64(), "serving_stale": serving_stale,
                    }),
                    JwksEvent::Discovered { jwks_uri } => serde_json::json!({"jwks_uri": jwks_uri}),
                    _ => serde_json::json!({}),
                };
                if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
                    obj.extend(extra);
                }
                out.push(v);
            }
        }
        serde_json::Value::Array(out).to_string()
    }

    /// How many issuers.
    #[wasm_bindgen(js_name = issuerCount)]
    pub fn issuer_count(&self) -> usize {
        self.issuers.len()
    }

    /// An issuer's name (its first accepted `iss`).
    #[wasm_bindgen(js_name = issuerName)]
    pub fn issuer_name(&self, issuer: usize) -> String {
        self.issuers.get(issuer).map(|i| i.name.clone()).unwrap_or_default()
    }

    /// The URL an issuer's keys come from (`undefined` for static keys): what
    /// names its entry in a persistent key cache.
    #[wasm_bindgen(js_name = sourceUrl)]
    pub fn source_url(&self, issuer: usize) -> Option<String> {
        self.issuers.get(issuer)?.cache.source().url().map(|(url, _)| url.to_owned())
    }

    /// Whether `issuer` has usable keys at `now`.
    pub fn usable(&self, issuer: usize, now_ms: f64) -> bool {
        self.issuers.get(issuer).is_some_and(|i| i.cache.is_ready(at(now_ms)))
    }

    /// An issuer's last good key set with its freshness (JSON), to persist.
    #[wasm_bindgen(js_name = exportKeys)]
    pub fn export_keys(&self, issuer: usize) -> Option<String> {
        let persisted = self.issuers.get(issuer)?.cache.export_keys()?;
        serde_json::to_string(&persisted).ok()
    }

    /// Offers a persisted key set to `issuer`'s cache; the core decides
    /// whether it is used. Returns the outcome's name.
    #[wasm_bindgen(js_name = importKeys)]
    pub fn import_keys(&mut self, issuer: usize, json: &str, now_ms: f64) -> String {
        let Some(i) = self.issuers.get_mut(issuer) else { return "other_source".into() };
        match serde_json::from_slice::<PersistedKeys>(json.as_bytes()) {
            Ok(p) => i.cache.import_keys(&p, at(now_ms)).as_str().to_owned(),
            Err(_) => ImportOutcome::Unreadable.as_str().to_owned(),
        }
    }

    /// Asks every fetched issuer for its keys now (the miss cooldown applies);
    /// whether a fetch runs for each.
    #[wasm_bindgen(js_name = requestRefresh)]
    pub fn request_refresh(&mut self, now_ms: f64) -> bool {
        let now = at(now_ms);
        // Every issuer is asked, even after one refused.
        let mut all = true;
        for issuer in self.issuers.iter_mut().filter(|i| !i.cache.source().is_static()) {
            all &= issuer.cache.request_refresh(now);
        }
        all
    }

    /// Health of every issuer's keys as JSON (`[{issuer, cache: {state, key_count, …}}]`).
    pub fn health(&self, now_ms: f64) -> String {
        let now = at(now_ms);
        let list: Vec<serde_json::Value> = self
            .issuers
            .iter()
            .map(|i| {
                let h = i.cache.health(now);
                serde_json::json!({"issuer": i.name, "cache": {
                    "state": h.state.as_str(), "key_count": h.key_count, "age_seconds": h.age_seconds,
                    "fresh_for_seconds": h.fresh_for_seconds, "next_fetch_in_seconds": h.next_fetch_in_seconds,
                    "consecutive_failures": h.consecutive_failures, "last_error_code": h.last_error_code,
                    "fetches": h.fetches, "fetches_on_miss": h.fetches_on_miss,
                }})
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// Test-only: a real Rust panic, to prove the host turns it into
    /// `internal_error`.
    #[wasm_bindgen(js_name = _debugPanic)]
    pub fn debug_panic(&self) {
        let empty: Vec<u8> = Vec::new();
        let index = self.issuers.len() + 7;
        // Indexing past the end panics; the host sees a trap.
        std::hint::black_box(empty[std::hint::black_box(index)]);
    }
}

impl Core {
    fn cached(&mut self, token: &str, token_now: UnixTime, keys_now: UnixTime) -> Option<JsValue> {
        let tokens = self.tokens.as_mut()?;
        let issuers = &self.issuers;
        let (claims, scopes) = tokens.get(token, token_now, |issuer, key, seen| {
            let snapshot = issuers.get(issuer)?.cache.snapshot();
            let keys = snapshot.usable_keys(keys_now)?;
            (snapshot.generation() == seen || TokenCache::<()>::key_in(keys, key)).then_some(snapshot.generation())
        })?;
        self.out = Out::Hit(scopes);
        Some(claims)
    }

    fn reject(&mut self, r: Rejection) -> JsValue {
        self.out = Out::Rejected(r);
        JsValue::from_f64(REJECTED)
    }

    fn park(&mut self, parked: Parked) -> JsValue {
        let slot = match self.parked.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.parked.push(None);
                self.parked.len() - 1
            }
        };
        self.parked[slot] = Some(parked);
        JsValue::from_f64(slot as f64)
    }

    fn parked_ref(&self, id: u32) -> Option<&Parked> {
        self.parked.get(id as usize)?.as_ref()
    }

    fn conclude(
        &mut self,
        check: Check,
        issuer: usize,
        generation: u64,
        token: String,
        keys_now: UnixTime,
        may_fetch: bool,
    ) -> JsValue {
        match check {
            Check::Verified(verified) => {
                let claims = JsValue::from_str(verified.claims.json());
                self.out = Out::Verified { verified, issuer, generation, token };
                claims
            }
            Check::Rejected(r) => self.reject(r),
            Check::Miss(miss) if may_fetch => match self.issuers[issuer].cache.handle_key_miss(&miss, keys_now) {
                MissDecision::Reject(r) => self.reject(r),
                MissDecision::WaitForGeneration(generation) => {
                    self.out = Out::Wait { issuer, generation };
                    JsValue::from_f64(WAIT)
                }
            },
            Check::Miss(miss) => self.reject(miss.rejection),
        }
    }
}
