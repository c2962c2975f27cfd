//! Deterministic simulations of the JWKS cache on a virtual clock: a simulated
//! IdP (pure data, answering the requests the cache emits), real signatures,
//! exact counts. Each test is named by what it proves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;
use tokenkeep_core::http::{HttpOutcome, HttpRequest, HttpResponse, TransportError};
use tokenkeep_core::jwks::{CacheConfig, JwksCache, JwksEvent, KeySource};
use tokenkeep_core::{JitterRng, Policy, Rejection, RejectionCode, UnixTime, Verdict, Verifier};

const ISSUER: &str = "https://idp.sim.test";
const AUDIENCE: &str = "api://sim";
const T0: u64 = 1_767_225_600;

// ---------------------------------------------------------------- the IdP

enum SimKey {
    Ed(ed25519_dalek::SigningKey),
    Es(p256::ecdsa::SigningKey),
}

struct Key {
    kid: String,
    key: SimKey,
}

impl Key {
    fn ed(kid: &str, seed: u8) -> Key {
        Key { kid: kid.into(), key: SimKey::Ed(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])) }
    }

    fn es(kid: &str, seed: u8) -> Key {
        let secret = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).expect("scalar");
        Key { kid: kid.into(), key: SimKey::Es(secret) }
    }

    fn jwk(&self) -> Value {
        match &self.key {
            SimKey::Ed(k) => json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig",
                                    "x": B64.encode(k.verifying_key().as_bytes())}),
            SimKey::Es(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                       "x": B64.encode(point.x().expect("x")), "y": B64.encode(point.y().expect("y"))})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self.key {
            SimKey::Ed(_) => "EdDSA",
            SimKey::Es(_) => "ES256",
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = match &self.key {
            SimKey::Ed(k) => k.sign(input.as_bytes()).to_bytes().to_vec(),
            SimKey::Es(k) => {
                let s: p256::ecdsa::Signature = k.sign(input.as_bytes());
                s.to_bytes().to_vec()
            }
        };
        format!("{input}.{}", B64.encode(sig))
    }
}

fn claims_at(now: UnixTime) -> Value {
    let t = now.as_secs();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": t, "exp": t + 600})
}

/// A token with a kid no IdP ever published and a signature nobody checks.
fn random_kid_token(rng: &mut JitterRng, now: UnixTime) -> String {
    let header = json!({"alg": "EdDSA", "kid": format!("rnd-{:016x}", rng.next_u64()), "typ": "JWT"});
    format!("{}.{}.{}", B64.encode(header.to_string()), B64.encode(claims_at(now).to_string()), B64.encode([7u8; 64]))
}

#[derive(Clone, Copy, PartialEq)]
enum Outage {
    Status503,
    ConnectionRefused,
}

struct Idp {
    /// Indexes into `keys` of what each fetch publishes, cycled (flapping IdPs
    /// publish different subsets on different calls).
    published: Vec<Vec<usize>>,
    keys: Vec<Key>,
    outages: Vec<(UnixTime, UnixTime, Outage)>,
    max_age: u64,
    served: u64,
    requests: Vec<UnixTime>,
}

impl Idp {
    fn new(keys: Vec<Key>, published: Vec<usize>) -> Idp {
        Idp { published: vec![published], keys, outages: Vec::new(), max_age: 300, served: 0, requests: Vec::new() }
    }

    fn answer(&mut self, request: &HttpRequest, now: UnixTime) -> HttpOutcome {
        self.requests.push(now);
        for (from, to, kind) in &self.outages {
            if now >= *from && now < *to {
                return match kind {
                    Outage::Status503 => HttpOutcome::Response(HttpResponse::new(503, "unavailable")),
                    Outage::ConnectionRefused => HttpOutcome::Failed(TransportError::Connect),
                };
            }
        }
        let set = &self.published[(self.served as usize) % self.published.len()];
        self.served += 1;
        let body = json!({"keys": set.iter().map(|i| self.keys[*i].jwk()).collect::<Vec<_>>()}).to_string();
        let etag = format!("\"{:x}\"", fnv(body.as_bytes()));
        let not_modified = request.headers.iter().any(|(n, v)| n == "if-none-match" && v.expose() == etag);
        let response = if not_modified { HttpResponse::new(304, "") } else { HttpResponse::new(200, body) };
        HttpOutcome::Response(
            response
                .with_header("cache-control", format!("public, max-age={}", self.max_age))
                .with_header("etag", etag),
        )
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

// ---------------------------------------------------------------- the host

const LATENCY: Duration = Duration::from_millis(40);

struct Sim {
    now: UnixTime,
    verifier: Verifier,
    idp: Idp,
    pending: Option<(UnixTime, HttpRequest)>,
    events: Vec<JwksEvent>,
    waited: u64,
}

impl Sim {
    fn new(idp: Idp, seed: u64) -> Sim {
        let now = UnixTime::from_secs(T0);
        let source = KeySource::jwks_url(format!("{ISSUER}/jwks")).expect("url");
        let cache = JwksCache::new(source, CacheConfig::default(), seed, now);
        let mut verifier = Verifier::new();
        verifier.add_issuer(Policy::new(ISSUER).with_audience(AUDIENCE), cache);
        let mut sim = Sim { now, verifier, idp, pending: None, events: Vec::new(), waited: 0 };
        sim.advance_to(now + Duration::from_secs(1));
        sim
    }

    fn cache(&mut self) -> &mut JwksCache {
        self.verifier.cache_mut(tokenkeep_core::IssuerId(0)).expect("issuer 0")
    }

    /// Runs the host loop until `t`: timers, then delivery of answers after LATENCY.
    fn advance_to(&mut self, t: UnixTime) {
        loop {
            let timer = self.cache().poll_timeout();
            let delivery = self.pending.as_ref().map(|(at, _)| *at);
            let next = [timer, delivery].into_iter().flatten().min();
            match next {
                Some(n) if n <= t => {
                    self.now = self.now.max(n);
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(t);
        self.step();
    }

    fn step(&mut self) {
        let now = self.now;
        if let Some((at, _)) = &self.pending {
            if *at <= now {
                let (_, req) = self.pending.take().expect("pending");
                let answer = self.idp.answer(&req, now);
                self.cache().handle_response(req.id, answer, now);
            }
        }
        self.cache().handle_timeout(now);
        while let Some(req) = self.cache().poll_request() {
            assert!(self.pending.is_none(), "two requests in flight");
            self.pending = Some((now + LATENCY, req));
        }
        while let Some(e) = self.cache().poll_event() {
            self.events.push(e);
        }
    }

    /// What a host does per request: verify; on NeedKeys wait for the refetch
    /// (advancing virtual time), then take the final answer.
    fn verify(&mut self, token: &str) -> Result<(), Rejection> {
        match self.verifier.verify(token, self.now) {
            Verdict::Verified(_) => Ok(()),
            Verdict::Rejected(r) => Err(r),
            Verdict::NeedKeys { after_generation, .. } => {
                self.waited += 1;
                self.step();
                let deadline = self.now + Duration::from_secs(6);
                while self.cache().snapshot().generation() <= after_generation && self.now < deadline {
                    let next = self.pending.as_ref().map_or(deadline, |(at, _)| *at);
                    self.advance_to(next.min(deadline));
                }
                self.verifier.verify_final(token, self.now).map(|_| ())
            }
        }
    }

    fn fetches(&mut self) -> (u64, u64) {
        let now = self.now;
        let h = self.cache().health(now);
        (h.fetches, h.fetches_on_miss)
    }
}

fn codes(results: &[Result<(), Rejection>]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for r in results {
        let code = r.as_ref().err().map_or("verified", |e| e.code().as_str());
        *m.entry(code).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------- scenarios

#[test]
fn key_rotation_causes_no_wrongful_rejection_and_at_most_one_extra_fetch() {
    let idp = Idp::new(vec![Key::ed("k1", 1), Key::ed("k2", 2)], vec![0]);
    let mut sim = Sim::new(idp, 11);
    let mut results = Vec::new();
    let mut signer = 0;
    // Rotate 2 s after a scheduled refresh: the worst moment for a cooldown
    // that counted from successful refreshes.
    let refreshed_at = loop {
        sim.advance_to(sim.now + Duration::from_secs(1));
        if sim.fetches().0 >= 2 {
            break sim.now.as_secs() - T0;
        }
    };
    let rotate_at = refreshed_at + 2;
    for second in refreshed_at..refreshed_at + 3600 {
        if second == rotate_at {
            // Worst case: the IdP publishes k2 and signs with it in the same instant.
            sim.idp.published = vec![vec![0, 1]];
            signer = 1;
        }
        sim.advance_to(UnixTime::from_secs(T0 + 1 + second));
        let token = sim.idp.keys[signer].sign(&claims_at(sim.now));
        results.push(sim.verify(&token));
        if second > rotate_at && second % 7 == 0 {
            // Tokens signed with the old key before the rotation are still valid.
            let old = sim.idp.keys[0].sign(&claims_at(sim.now - Duration::from_secs(5)));
            results.push(sim.verify(&old));
        }
    }
    let (fetches, on_miss) = sim.fetches();
    println!(
        "rotation 2 s after the refresh at t+{refreshed_at}s: {:?}, fetches {fetches} (on miss {on_miss}), waited {}",
        codes(&results),
        sim.waited
    );
    assert!(results.iter().all(Result::is_ok), "{:?}", codes(&results));
    assert_eq!(on_miss, 1, "exactly one extra fetch for the new kid");
    assert_eq!(sim.waited, 1, "only the first token with the new kid waited");
}

#[test]
fn idp_outage_within_stale_window_rejects_nothing_and_beyond_it_answers_keys_unavailable() {
    let mut rng = JitterRng::new(5);
    let start = T0 + 600 + rng.up_to(3600);
    for (label, hours, kind) in [("1 h", 1, Outage::Status503), ("3 h", 3, Outage::ConnectionRefused)] {
        let mut idp = Idp::new(vec![Key::ed("k1", 1)], vec![0]);
        let (from, to) = (UnixTime::from_secs(start), UnixTime::from_secs(start + hours * 3600));
        idp.outages.push((from, to, kind));
        let mut sim = Sim::new(idp, 7);
        let mut per_phase: BTreeMap<&str, Vec<Result<(), Rejection>>> = BTreeMap::new();
        let mut usable_until = None;
        for second in (0..(hours + 2) * 3600).step_by(5) {
            sim.advance_to(UnixTime::from_secs(T0 + 1 + second));
            let token = sim.idp.keys[0].sign(&claims_at(sim.now));
            let snapshot = sim.cache().snapshot();
            let r = sim.verify(&token);
            let phase = if sim.now < from {
                "before"
            } else if sim.now >= to && snapshot.status(sim.now) == tokenkeep_core::jwks::KeyStatus::Unavailable {
                "recovering"
            } else if sim.now >= to {
                "after"
            } else if snapshot.status(sim.now) == tokenkeep_core::jwks::KeyStatus::Unavailable {
                usable_until.get_or_insert(sim.now);
                "expired"
            } else {
                "during (stale keys)"
            };
            per_phase.entry(phase).or_default().push(r);
        }
        let summary: BTreeMap<_, _> = per_phase.iter().map(|(k, v)| (*k, codes(v))).collect();
        println!("outage {label} from t+{}s: {summary:?}", start - T0);
        for phase in ["before", "during (stale keys)", "after"] {
            let rs = per_phase.get(phase).map(Vec::as_slice).unwrap_or(&[]);
            assert!(rs.iter().all(Result::is_ok), "{label} {phase}: {:?}", codes(rs));
        }
        let expired = per_phase.get("expired").map(Vec::as_slice).unwrap_or(&[]);
        if hours == 1 {
            assert!(expired.is_empty(), "a 1 h outage stays inside the stale window");
        } else {
            assert!(!expired.is_empty());
            assert!(
                expired.iter().all(|r| r.as_ref().err().map(Rejection::code) == Some(RejectionCode::KeysUnavailable)),
                "past the stale window only keys_unavailable: {:?}",
                codes(expired)
            );
            // Recovery on the first success: at most one cooldown after the IdP
            // is back, a token finding no keys triggers the fetch that restores them.
            let recovering = per_phase.get("recovering").map_or(0, Vec::len);
            assert!(recovering * 5 <= 30, "{recovering} tokens rejected after the IdP was back");
            assert!(sim.events.iter().any(|e| matches!(e, JwksEvent::Expired)));
        }
    }
}

#[test]
fn unknown_kid_flood_makes_at_most_one_fetch_per_cooldown_even_during_an_outage() {
    let mut idp = Idp::new(vec![Key::ed("k1", 1)], vec![0]);
    let outage_from = T0 + 200;
    idp.outages.push((UnixTime::from_secs(outage_from), UnixTime::from_secs(outage_from + 120), Outage::Status503));
    let mut sim = Sim::new(idp, 3);
    let mut rng = JitterRng::new(99);
    let known = sim.idp.keys[0].sign(&claims_at(sim.now));
    let (mut flood, mut known_results, mut miss_fetch_times) = (Vec::new(), Vec::new(), Vec::new());
    let (_, mut last_on_miss) = sim.fetches();
    let phases = [(T0 + 60, 120u64, "normal"), (outage_from, 120u64, "outage")];
    for (from, seconds, _) in phases {
        for ms in (0..seconds * 1000).step_by(10) {
            sim.advance_to(UnixTime::from_millis(from * 1000 + ms));
            // 100 random-kid tokens every 10 ms: 10,000 tokens/s.
            for _ in 0..100 {
                let t = random_kid_token(&mut rng, sim.now);
                flood.push(sim.verify(&t));
            }
            let (_, on_miss) = sim.fetches();
            if on_miss > last_on_miss {
                miss_fetch_times.push(sim.now);
                last_on_miss = on_miss;
            }
            if ms % 1000 == 0 {
                known_results.push(sim.verifier.verify(&known, sim.now));
            }
        }
    }
    let gaps: Vec<u64> = miss_fetch_times.windows(2).map(|w| w[1].saturating_since(w[0]).as_secs()).collect();
    println!(
        "flood: {} tokens, {:?}, fetches on miss {} at gaps {:?} s, known-kid tokens verified without waiting: {}",
        flood.len(),
        codes(&flood),
        miss_fetch_times.len(),
        gaps,
        known_results.iter().filter(|v| matches!(v, Verdict::Verified(_))).count()
    );
    assert!(flood.iter().all(|r| r.as_ref().err().map(Rejection::code) == Some(RejectionCode::UnknownKid)));
    assert!(gaps.iter().all(|g| *g >= 30), "one fetch per 30 s cooldown at most: {gaps:?}");
    // 240 s of flood, a 30 s cooldown: at most 8 miss fetches + the first.
    assert!(miss_fetch_times.len() <= 9, "{}", miss_fetch_times.len());
    assert!(known_results.iter().all(|v| matches!(v, Verdict::Verified(_))), "known kid never waits");
}

#[test]
fn flapping_idp_drops_no_kid_until_two_fetches_agree() {
    let keys = vec![Key::ed("k1", 1), Key::ed("k2", 2), Key::ed("k3", 3)];
    let mut idp = Idp::new(keys, vec![]);
    idp.published = vec![vec![0, 1], vec![0, 2]];
    let mut sim = Sim::new(idp, 17);
    let mut results = Vec::new();
    for second in 0..7200u64 {
        sim.advance_to(UnixTime::from_secs(T0 + 1 + second));
        let signer = (second % 3) as usize;
        let token = sim.idp.keys[signer].sign(&claims_at(sim.now));
        let r = sim.verify(&token);
        if r.is_err() {
            let kids: Vec<String> =
                sim.cache().snapshot().keys().map(|k| k.kids().map(str::to_owned).collect()).unwrap_or_default();
            println!(
                "  t+{second}s k{} rejected: {:?}; cache kids {kids:?}; events {:?}",
                signer + 1,
                r,
                &sim.events[sim.events.len().saturating_sub(2)..]
            );
        }
        results.push(r);
    }
    let removed: usize =
        sim.events.iter().map(|e| if let JwksEvent::Refreshed { removed, .. } = e { removed.len() } else { 0 }).sum();
    let (fetches, on_miss) = sim.fetches();
    println!("flapping: {:?}, fetches {fetches} (on miss {on_miss}), kids removed {removed}", codes(&results));
    assert!(results.iter().all(Result::is_ok), "{:?}", codes(&results));
    assert_eq!(removed, 0);
    assert_eq!(on_miss, 1, "one fetch to learn the other subset, then none");

    // When the IdP really retires k2, the second fetch without it drops it.
    sim.idp.published = vec![vec![0, 2]];
    let before = sim.events.len();
    for second in 7200..8400u64 {
        sim.advance_to(UnixTime::from_secs(T0 + 1 + second));
    }
    let removals: Vec<Vec<String>> = sim.events[before..]
        .iter()
        .filter_map(|e| if let JwksEvent::Refreshed { removed, .. } = e { Some(removed.clone()) } else { None })
        .collect();
    println!("retirement: refreshes after k2 left: {removals:?}");
    // The flapping phase ended on the subset without k2, so the first fetch of
    // the retirement is the second in a row without it: k2 goes, and only k2.
    assert_eq!(removals, vec![vec!["k2".to_owned()]]);
}

#[test]
fn key_replaced_under_same_kid_refetches_at_most_once_per_cooldown() {
    let idp = Idp::new(vec![Key::ed("k1", 1), Key::ed("k1", 2)], vec![0]);
    let mut sim = Sim::new(idp, 23);
    sim.advance_to(UnixTime::from_secs(T0 + 100));
    let old_token = sim.idp.keys[0].sign(&claims_at(sim.now));
    assert!(sim.verify(&old_token).is_ok());
    // The IdP swaps the key material under the same kid.
    sim.idp.published = vec![vec![1]];
    let mut new_results = Vec::new();
    let mut forged = Vec::new();
    for second in 100..400u64 {
        sim.advance_to(UnixTime::from_secs(T0 + second));
        let token = sim.idp.keys[1].sign(&claims_at(sim.now));
        new_results.push(sim.verify(&token));
        // An attacker's token under the known kid: bad signature.
        let bad = Key::ed("k1", 99).sign(&claims_at(sim.now));
        forged.push(sim.verify(&bad));
    }
    let (fetches, on_miss) = sim.fetches();
    println!(
        "replaced kid: new-key tokens {:?}, forged {:?}, fetches {fetches} (on miss {on_miss})",
        codes(&new_results),
        codes(&forged)
    );
    assert!(new_results.iter().all(Result::is_ok));
    assert!(forged.iter().all(|r| r.as_ref().err().map(Rejection::code) == Some(RejectionCode::InvalidSignature)));
    // 300 s of forged tokens with a 30 s cooldown: at most 10 refetches, the first of them the useful one.
    assert!(on_miss <= 10, "{on_miss}");
    // The old key stays a candidate until two fetches agree it is gone.
    assert!(sim.verify(&old_token).is_err() || on_miss <= 10);
}

#[test]
fn wrong_issuer_and_disallowed_alg_floods_cause_zero_fetches() {
    let idp = Idp::new(vec![Key::ed("k1", 1)], vec![0]);
    let mut sim = Sim::new(idp, 29);
    sim.advance_to(UnixTime::from_secs(T0 + 10));
    let (before, _) = sim.fetches();
    let mut results = Vec::new();
    let mut rng = JitterRng::new(3);
    for i in 0..20_000u64 {
        let mut claims = claims_at(sim.now);
        let token = if i % 2 == 0 {
            claims["iss"] = json!(format!("https://evil{}.test", rng.next_u64()));
            Key::ed(&format!("x{i}"), 5).sign(&claims)
        } else {
            let header = json!({"alg": "HS256", "kid": format!("x{i}")});
            format!("{}.{}.AAAA", B64.encode(header.to_string()), B64.encode(claims.to_string()))
        };
        results.push(sim.verify(&token));
    }
    let (after, on_miss) = sim.fetches();
    println!("wrong-iss/alg flood: {:?}, fetches during it {}", codes(&results), after - before);
    assert_eq!(after, before);
    assert_eq!(on_miss, 0);
    let c = codes(&results);
    assert_eq!(c.get("wrong_issuer"), Some(&10_000));
    assert_eq!(c.get("alg_not_allowed"), Some(&10_000));
}

#[test]
fn duplicate_kid_with_two_algorithms_picks_the_candidate_matching_the_token_alg() {
    let idp = Idp::new(vec![Key::ed("dup", 1), Key::es("dup", 2)], vec![0, 1]);
    let mut sim = Sim::new(idp, 31);
    sim.advance_to(UnixTime::from_secs(T0 + 5));
    let ed = sim.idp.keys[0].sign(&claims_at(sim.now));
    let es = sim.idp.keys[1].sign(&claims_at(sim.now));
    assert_eq!(sim.verify(&ed), Ok(()));
    assert_eq!(sim.verify(&es), Ok(()));
    assert_eq!(sim.fetches().1, 0, "no refetch needed");
}

#[test]
fn conditional_requests_turn_refreshes_into_not_modified() {
    let idp = Idp::new(vec![Key::ed("k1", 1)], vec![0]);
    let mut sim = Sim::new(idp, 37);
    sim.advance_to(UnixTime::from_secs(T0 + 3600));
    let not_modified = sim.events.iter().filter(|e| matches!(e, JwksEvent::NotModified)).count();
    let refreshed = sim.events.iter().filter(|e| matches!(e, JwksEvent::Refreshed { .. })).count();
    println!("1 h: {refreshed} full fetch, {not_modified} not-modified");
    assert_eq!(refreshed, 1);
    // 3600 s / (0.8 x 300 s +- 10%): 14 or 15 refreshes.
    assert!((13..=16).contains(&not_modified), "{not_modified}");
}

/// 10,000 replicas, one IdP, 24 h of virtual time with a 1 h outage.
#[test]
fn ten_thousand_replicas_for_a_day_with_an_outage_keep_the_idp_load_flat() {
    const REPLICAS: usize = 10_000;
    const DAY: u64 = 24 * 3600;
    let outage = (T0 + 10 * 3600, T0 + 11 * 3600);
    let key = Key::ed("k1", 1);
    let body = json!({"keys": [key.jwk()]}).to_string();
    let mut per_second = vec![0u32; DAY as usize];
    let mut start_rng = JitterRng::new(2026);
    let mut caches: Vec<JwksCache> = Vec::with_capacity(REPLICAS);
    let mut heap = BinaryHeap::new();
    for i in 0..REPLICAS {
        // A rolling deploy: replicas start over the first half hour.
        let start = UnixTime::from_millis(T0 * 1000 + start_rng.up_to(1_800_000));
        let source = KeySource::jwks_url(format!("{ISSUER}/jwks")).expect("url");
        caches.push(JwksCache::new(source, CacheConfig::default(), i as u64 + 1, start));
        heap.push(Reverse((start, i)));
    }
    let end = UnixTime::from_secs(T0 + DAY);
    let mut total = 0u64;
    let mut failures: HashMap<&'static str, u64> = HashMap::new();
    while let Some(Reverse((t, i))) = heap.pop() {
        if t >= end {
            continue;
        }
        let cache = &mut caches[i];
        cache.handle_timeout(t);
        while let Some(req) = cache.poll_request() {
            total += 1;
            per_second[((t.as_millis() / 1000) - T0) as usize] += 1;
            let secs = t.as_secs();
            let outcome = if secs >= outage.0 && secs < outage.1 {
                *failures.entry("503").or_default() += 1;
                HttpOutcome::Response(HttpResponse::new(503, ""))
            } else if req.headers.iter().any(|(n, _)| n == "if-none-match") {
                HttpOutcome::Response(
                    HttpResponse::new(304, "")
                        .with_header("cache-control", "max-age=300")
                        .with_header("etag", "\"v1\""),
                )
            } else {
                HttpOutcome::Response(
                    HttpResponse::new(200, body.clone())
                        .with_header("cache-control", "max-age=300")
                        .with_header("etag", "\"v1\""),
                )
            };
            cache.handle_response(req.id, outcome, t);
        }
        while cache.poll_event().is_some() {}
        if !cache.is_ready(t) && t.as_secs() > T0 + 1900 {
            *failures.entry("replica without usable keys").or_default() += 1;
        }
        if let Some(next) = cache.poll_timeout() {
            heap.push(Reverse((next.max(t + Duration::from_millis(1)), i)));
        }
    }
    let mean = total as f64 / DAY as f64;
    let max = *per_second.iter().max().expect("seconds") as f64;
    let after = &per_second[(outage.1 - T0) as usize..(outage.1 - T0 + 3600) as usize];
    let after_mean = after.iter().map(|c| f64::from(*c)).sum::<f64>() / 3600.0;
    let after_max = f64::from(*after.iter().max().expect("seconds"));
    let during = &per_second[(outage.0 - T0) as usize..(outage.1 - T0) as usize];
    let during_mean = during.iter().map(|c| f64::from(*c)).sum::<f64>() / 3600.0;
    let refresh_period = 0.8 * 300.0;
    let argmax = per_second.iter().enumerate().max_by_key(|(_, c)| **c).map(|(i, _)| i).unwrap_or(0);
    let minute_means: Vec<u32> =
        (0..12).map(|m| per_second[argmax - 360 + m * 60..argmax - 300 + m * 60].iter().sum::<u32>() / 60).collect();
    println!("max at t+{argmax}s (outage ends t+{}s); per-minute means around it: {minute_means:?}", outage.1 - T0);
    println!(
        "fleet: {REPLICAS} replicas, 24 h, 1 h outage: {total} requests; mean {mean:.1}/s (replicas/TTL = {:.1}/s, \
         replicas/refresh period = {:.1}/s), max second {max}; during outage mean {during_mean:.1}/s; \
         hour after recovery mean {after_mean:.1}/s, max second {after_max}; failed requests {failures:?}",
        REPLICAS as f64 / 300.0,
        REPLICAS as f64 / refresh_period
    );
    assert!(mean <= 1.05 * REPLICAS as f64 / refresh_period, "mean {mean}");
    assert!(max <= 2.0 * mean, "max second {max} vs mean {mean}");
    assert!(after_max <= 2.0 * mean, "after recovery {after_max} vs mean {mean}");
    assert_eq!(failures.get("replica without usable keys"), None, "a 1 h outage fits the stale window");
}
