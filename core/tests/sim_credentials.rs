//! Deterministic simulations of the credential machines on a virtual clock.
//!
//! `SimVault` is a tiny simulator of Vault/OpenBao *semantics* (token TTL and
//! max TTL, renew-self capping with a warning, KV v2 versions, leases that die
//! with their creating token): pure data, answering the `HttpRequest`s the
//! machines emit. No network, no real time. Run with `--nocapture` to see the
//! per-scenario figures.

use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{
    AttemptKind, CredentialConfig, CredentialError, CredentialMachine, CredentialState, Event, Obtained, Outcome,
};
use tokenkeep_core::hmac_keyring::{HmacError, HmacKeyring, HmacKeyringConfig};
use tokenkeep_core::http::{HttpOutcome, HttpRequest, HttpResponse, Method, RequestId, TransportError};
use tokenkeep_core::rng::JitterRng;
use tokenkeep_core::token_file::{TokenFileAction, TokenFileConfig, TokenFileError, TokenFileMachine};
use tokenkeep_core::vault::{KvSecretMachine, LeaseMachine, VaultAction, VaultConfig, VaultTokenMachine};
use tokenkeep_core::vault_session::{DependentId, Member, SessionAction, VaultSession};

const T0: u64 = 1_767_225_600;
const LATENCY: Duration = Duration::from_millis(50);
const FLOOR: Duration = Duration::from_millis(250);

fn t0() -> UnixTime {
    UnixTime::from_secs(T0)
}

fn secs(d: Duration) -> Duration {
    d
}

fn at(s: f64) -> UnixTime {
    UnixTime::from_millis(T0 * 1000 + (s * 1000.0) as u64)
}

fn rel(t: UnixTime) -> f64 {
    t.saturating_since(t0()).as_secs_f64()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt(iat: u64, exp: u64, sub: &str) -> String {
    format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#),
        b64(format!(r#"{{"iss":"https://issuer.example","sub":"{sub}","aud":"vault","iat":{iat},"exp":{exp}}}"#)
            .as_bytes()),
        b64(b"not-a-real-signature")
    )
}

// ---------------------------------------------------------------------------
// The simulated Vault
// ---------------------------------------------------------------------------

struct SimToken {
    expires: UnixTime,
    max_expires: UnixTime,
}

struct SimLease {
    creator: String,
    expires: UnixTime,
    max_expires: UnixTime,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LoginMode {
    Ok,
    Status(u16),
}

#[derive(Default, Debug, Clone)]
struct Counts {
    logins: u32,
    login_failures: u32,
    renewals: u32,
    capped_renewals: u32,
    kv_reads: u32,
    lease_reads: u32,
    lease_renewals: u32,
    lease_revokes: u32,
    token_revokes: u32,
    transport_failures: u32,
}

struct SimVault {
    token_ttl: u64,
    token_max_ttl: u64,
    login_mode: LoginMode,
    down: Vec<(UnixTime, UnixTime)>,
    tokens: BTreeMap<String, SimToken>,
    next_serial: u64,
    kv_version: u64,
    kv_data: Value,
    kv_forbidden: bool,
    lease_ttl: u64,
    lease_max_ttl: u64,
    leases: BTreeMap<String, SimLease>,
    counts: Counts,
    log: Vec<(UnixTime, &'static str)>,
}

fn json_resp(status: u16, v: Value) -> HttpOutcome {
    HttpOutcome::Response(HttpResponse::new(status, serde_json::to_vec(&v).unwrap()))
}

fn errors(status: u16, msg: &str) -> HttpOutcome {
    json_resp(status, json!({"errors": [msg]}))
}

impl SimVault {
    fn new(token_ttl: u64, token_max_ttl: u64) -> Self {
        SimVault {
            token_ttl,
            token_max_ttl,
            login_mode: LoginMode::Ok,
            down: Vec::new(),
            tokens: BTreeMap::new(),
            next_serial: 0,
            kv_version: 1,
            kv_data: json!({"hmac_key": "kv-secret-version-0001-abcdefghij"}),
            kv_forbidden: false,
            lease_ttl: 600,
            lease_max_ttl: 1800,
            leases: BTreeMap::new(),
            counts: Counts::default(),
            log: Vec::new(),
        }
    }

    fn is_down(&self, now: UnixTime) -> bool {
        self.down.iter().any(|(a, b)| now >= *a && now < *b)
    }

    fn token_alive(&self, tok: &str, now: UnixTime) -> bool {
        self.tokens.get(tok).is_some_and(|t| now < t.expires)
    }

    fn lease_alive(&self, id: &str, now: UnixTime) -> bool {
        self.leases.get(id).is_some_and(|l| now < l.expires && self.token_alive(&l.creator, now))
    }

    fn write_kv(&mut self, data: Value) {
        self.kv_version += 1;
        self.kv_data = data;
    }

    fn handle(&mut self, req: &HttpRequest, now: UnixTime) -> HttpOutcome {
        if self.is_down(now) {
            self.counts.transport_failures += 1;
            return HttpOutcome::Failed(TransportError::Connect);
        }
        let path = req.url.split("/v1/").nth(1).unwrap_or("").to_string();
        let token = req.headers.iter().find(|(n, _)| n == "X-Vault-Token").map(|(_, v)| v.expose().to_string());
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let authed = token.as_deref().is_some_and(|t| self.token_alive(t, now));
        match (req.method, path.as_str()) {
            (Method::Post, "auth/jwt/login") => {
                assert!(body["jwt"].as_str().is_some_and(|j| j.split('.').count() == 3), "login without a JWT");
                match self.login_mode {
                    LoginMode::Ok => {}
                    LoginMode::Status(s) => {
                        self.counts.login_failures += 1;
                        self.log.push((now, "login_failed"));
                        return errors(s, "permission denied");
                    }
                }
                self.counts.logins += 1;
                self.log.push((now, "login"));
                self.next_serial += 1;
                let tok = format!("s.simtoken{:04}", self.next_serial);
                self.tokens.insert(
                    tok.clone(),
                    SimToken {
                        expires: now + Duration::from_secs(self.token_ttl),
                        max_expires: now + Duration::from_secs(self.token_max_ttl),
                    },
                );
                json_resp(
                    200,
                    json!({"auth": {"client_token": tok, "accessor": "acc", "lease_duration": self.token_ttl,
                        "renewable": true, "policies": ["default", "app"]}}),
                )
            }
            (Method::Post, "auth/token/renew-self") => {
                if !authed {
                    return errors(403, "permission denied");
                }
                let t = self.tokens.get_mut(token.as_deref().unwrap_or("")).unwrap();
                let wanted = now + Duration::from_secs(self.token_ttl);
                let new = wanted.min(t.max_expires);
                t.expires = new;
                self.counts.renewals += 1;
                self.log.push((now, "renew"));
                let mut resp = json!({"auth": {"client_token": token, "lease_duration": new.saturating_since(now).as_secs(), "renewable": true}});
                if new < wanted {
                    self.counts.capped_renewals += 1;
                    resp["warnings"] =
                        json!(["TTL of \"1h\" exceeded the effective max_ttl; TTL value is capped accordingly"]);
                }
                json_resp(200, resp)
            }
            (Method::Post, "auth/token/revoke-self") => {
                if !authed {
                    return errors(403, "permission denied");
                }
                self.tokens.remove(token.as_deref().unwrap_or(""));
                self.counts.token_revokes += 1;
                HttpOutcome::Response(HttpResponse::new(204, Vec::new()))
            }
            (Method::Get, "secret/data/app/hmac") => {
                if !authed || self.kv_forbidden {
                    return errors(403, "permission denied");
                }
                self.counts.kv_reads += 1;
                json_resp(
                    200,
                    json!({"data": {"data": self.kv_data, "metadata": {"version": self.kv_version,
                        "created_time": "2026-01-01T00:00:00Z"}}}),
                )
            }
            (Method::Get, "database/creds/app") => {
                if !authed {
                    return errors(403, "permission denied");
                }
                self.counts.lease_reads += 1;
                self.log.push((now, "lease_read"));
                self.next_serial += 1;
                let id = format!("database/creds/app/lease{:04}", self.next_serial);
                let username = format!("v-app-{:04}", self.next_serial);
                self.leases.insert(
                    id.clone(),
                    SimLease {
                        creator: token.clone().unwrap_or_default(),
                        expires: now + Duration::from_secs(self.lease_ttl),
                        max_expires: now + Duration::from_secs(self.lease_max_ttl),
                    },
                );
                json_resp(
                    200,
                    json!({"lease_id": id, "lease_duration": self.lease_ttl, "renewable": true,
                        "data": {"username": username, "password": "db-password-secret"}}),
                )
            }
            (Method::Put, "sys/leases/renew") => {
                if !authed {
                    return errors(403, "permission denied");
                }
                let id = body["lease_id"].as_str().unwrap_or("").to_string();
                if !self.lease_alive(&id, now) {
                    return errors(400, "lease not found");
                }
                let inc = body["increment"].as_u64().unwrap_or(self.lease_ttl);
                let l = self.leases.get_mut(&id).unwrap();
                let new = (now + Duration::from_secs(inc)).min(l.max_expires);
                l.expires = new;
                self.counts.lease_renewals += 1;
                self.log.push((now, "lease_renew"));
                json_resp(
                    200,
                    json!({"lease_id": id, "lease_duration": new.saturating_since(now).as_secs(), "renewable": true}),
                )
            }
            (Method::Put, "sys/leases/revoke") => {
                if !authed {
                    return errors(403, "permission denied");
                }
                let id = body["lease_id"].as_str().unwrap_or("").to_string();
                self.leases.remove(&id);
                self.counts.lease_revokes += 1;
                self.log.push((now, "lease_revoke"));
                HttpOutcome::Response(HttpResponse::new(204, Vec::new()))
            }
            _ => errors(404, "unsupported path"),
        }
    }
}

// ---------------------------------------------------------------------------
// The world: the core's Vault session (the wiring the runtime runs too), a
// virtual clock, a delivery queue
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Token,
    Kv,
    Lease,
}

#[derive(Default)]
struct Trace {
    events: Vec<(UnixTime, Event)>,
    starts: Vec<(UnixTime, AttemptKind)>,
}

impl Trace {
    fn count(&self, code: &str) -> usize {
        self.events.iter().filter(|(_, e)| e.code() == code).count()
    }

    fn min_gap(&self) -> Option<Duration> {
        self.gaps().into_iter().min()
    }

    fn gaps(&self) -> Vec<Duration> {
        self.starts.windows(2).map(|w| w[1].0.saturating_since(w[0].0)).collect()
    }
}

struct World {
    now: UnixTime,
    vault: SimVault,
    session: VaultSession,
    kv: Option<DependentId>,
    lease: Option<DependentId>,
    deliveries: VecDeque<(UnixTime, Who, RequestId, HttpOutcome)>,
    in_flight: BTreeMap<&'static str, u32>,
    traces: BTreeMap<&'static str, Trace>,
    steps: u64,
}

fn name(w: Who) -> &'static str {
    match w {
        Who::Token => "token",
        Who::Kv => "kv",
        Who::Lease => "lease",
    }
}

fn vault_cfg() -> VaultConfig {
    VaultConfig::new("http://127.0.0.1:8200/").unwrap()
}

impl World {
    fn new(vault: SimVault, token_cfg: CredentialConfig, seed: u64) -> World {
        let now = t0();
        let session = VaultSession::new(vault_cfg(), "jwt", "app", token_cfg, seed, now).unwrap();
        World {
            now,
            vault,
            session,
            kv: None,
            lease: None,
            deliveries: VecDeque::new(),
            in_flight: BTreeMap::new(),
            traces: BTreeMap::new(),
            steps: 0,
        }
    }

    /// Follows the KV secret `secret/app/hmac`.
    fn add_kv(&mut self, config: CredentialConfig, seed: u64) {
        self.kv = Some(self.session.add_kv("secret", "app/hmac", config, seed, self.now).unwrap());
    }

    /// Holds a lease on `database/creds/app`, revoked on close.
    fn add_lease(&mut self, config: CredentialConfig, seed: u64) {
        self.lease = Some(self.session.add_lease("database/creds/app", config, true, seed, self.now).unwrap());
    }

    fn token(&self) -> &VaultTokenMachine {
        self.session.token()
    }

    fn kv(&self) -> &KvSecretMachine {
        self.session.kv(self.kv.expect("a KV secret")).expect("not closed")
    }

    fn lease(&self) -> &LeaseMachine {
        self.session.lease(self.lease.expect("a lease")).expect("not closed")
    }

    fn who(&self, member: Member) -> Who {
        match member {
            Member::Token => Who::Token,
            Member::Dependent(id) if Some(id) == self.kv => Who::Kv,
            Member::Dependent(_) => Who::Lease,
        }
    }

    fn trace(&self, w: &str) -> &Trace {
        self.traces.get(w).expect("trace")
    }

    fn send(&mut self, who: Who, req: HttpRequest) {
        let n = self.in_flight.entry(name(who)).or_default();
        *n += 1;
        assert!(*n <= 1, "{who:?}: more than one request in flight");
        let out = self.vault.handle(&req, self.now);
        self.deliveries.push_back((self.now + LATENCY, who, req.id, out));
    }

    /// Carries out what the session asks (the JWT at once) and records its events.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(action) = self.session.poll_action() {
            match action {
                SessionAction::Send { from, request } => {
                    let who = self.who(from);
                    self.send(who, request);
                }
                SessionAction::NeedJwt => {
                    let s = now.as_secs();
                    self.session.handle_jwt(&jwt(s, s + 600, "spiffe://example.org/app"), now);
                }
                _ => unreachable!(),
            }
        }
        while let Some((member, e)) = self.session.poll_event() {
            let who = self.who(member);
            self.record(who, e);
        }
    }

    fn record(&mut self, who: Who, e: Event) {
        let tr = self.traces.entry(name(who)).or_default();
        if let Event::AttemptStarted { kind, .. } = e {
            tr.starts.push((self.now, kind));
        }
        tr.events.push((self.now, e));
    }

    fn next_wake(&self) -> Option<UnixTime> {
        let deliveries = self.deliveries.iter().map(|d| d.0);
        self.session.poll_timeout().into_iter().chain(deliveries).min()
    }

    /// Runs until `end`, calling `tick` after every step. `max_step` bounds
    /// how far the clock jumps (so per-step checks sample often enough).
    fn run_until(&mut self, end: UnixTime, max_step: Duration, tick: &mut dyn FnMut(&mut World)) {
        self.pump();
        loop {
            let wake = self.next_wake().map_or(end, |w| w.min(end));
            let next = wake.max(self.now).min(self.now + max_step);
            if next >= end {
                self.now = end;
                tick(self);
                return;
            }
            assert!(next >= self.now, "time went backwards");
            self.now = next;
            self.steps += 1;
            assert!(self.steps < 5_000_000, "runaway simulation");
            // deliver due answers
            let now = self.now;
            let due: Vec<_> = {
                let (d, keep): (Vec<_>, Vec<_>) = self.deliveries.drain(..).partition(|d| d.0 <= now);
                self.deliveries = keep.into();
                d
            };
            for (_, who, id, out) in due {
                if let Some(n) = self.in_flight.get_mut(name(who)) {
                    *n = n.saturating_sub(1);
                }
                self.session.handle_response(id, out, now);
                self.pump();
            }
            self.session.handle_timeout(now);
            self.pump();
            tick(self);
        }
    }
}

/// Renew times as fractions of the lifetime granted by the answer before them.
fn renew_fractions(tr: &Trace) -> Vec<f64> {
    let mut out = Vec::new();
    let mut last: Option<(UnixTime, UnixTime)> = None; // (answer time, expiry)
    for (t, e) in &tr.events {
        match e {
            Event::Obtained { expires_at: Some(x), .. } | Event::Renewed { expires_at: x } => last = Some((*t, *x)),
            Event::AttemptStarted { kind: AttemptKind::Renew, .. } => {
                if let Some((s, x)) = last {
                    let life = x.saturating_since(s).as_secs_f64();
                    out.push(t.saturating_since(s).as_secs_f64() / life);
                }
            }
            _ => {}
        }
    }
    out
}

const LO: f64 = 2.0 / 3.0 * 0.92;
const HI: f64 = 2.0 / 3.0 * 1.08;

// ---------------------------------------------------------------------------
// (a) 1 h renewable token, max TTL 4 h, over 8 h
// ---------------------------------------------------------------------------

#[test]
fn a_hour_token_renews_at_two_thirds_and_relogs_at_max_ttl() {
    let mut w = World::new(SimVault::new(3600, 4 * 3600), CredentialConfig::expiring(), 11);
    let mut served_ok = 0u64;
    w.run_until(at(8.0 * 3600.0), Duration::from_secs(60), &mut |w| {
        if w.now < at(1.0) {
            return;
        }
        assert!(w.token().current(w.now).is_ok(), "token not served at {}", rel(w.now));
        served_ok += 1;
    });
    let tr = w.trace("token");
    let fr = renew_fractions(tr);
    let c = &w.vault.counts;
    println!(
        "(a) 8h: logins={} renewals={} (capped {}) no_progress={} renew fractions min={:.4} max={:.4} served_checks={served_ok}",
        c.logins,
        c.renewals,
        c.capped_renewals,
        tr.count("no_progress"),
        fr.iter().cloned().fold(f64::MAX, f64::min),
        fr.iter().cloned().fold(0.0, f64::max),
    );
    for f in &fr {
        assert!((LO..=HI).contains(f), "renewal at {f} of the lifetime");
    }
    assert_eq!(c.logins, 3, "login at 0, then one re-login per max_ttl window");
    // The renewal that max_ttl caps still extends the token; it also tells
    // that no later renewal can, so the next attempt is the re-login: no
    // renewal is spent just to learn that it makes no progress.
    assert_eq!(tr.count("no_progress"), 0, "no wasted renewal");
    assert_eq!(c.renewals as usize, fr.len());
    assert_eq!(c.renewals, 10);
    assert_eq!(c.capped_renewals, 2, "one capped renewal per token that reached max_ttl");
    // every re-login happened before the old token hit max_ttl
    let logins: Vec<f64> = w.vault.log.iter().filter(|(_, k)| *k == "login").map(|(t, _)| rel(*t)).collect();
    for pair in logins.windows(2) {
        assert!(pair[1] - pair[0] < 4.0 * 3600.0, "re-login too late: {pair:?}");
    }
    assert!(tr.min_gap().unwrap() >= FLOOR);
}

// ---------------------------------------------------------------------------
// (b) login refused -> Fatal, an event, slow retry only
// ---------------------------------------------------------------------------

#[test]
fn b_refused_login_is_fatal_and_retries_only_slowly() {
    for status in [403u16, 400] {
        let mut vault = SimVault::new(3600, 4 * 3600);
        vault.login_mode = LoginMode::Status(status);
        let mut w = World::new(vault, CredentialConfig::expiring(), 5);
        w.run_until(at(3600.0), Duration::from_secs(600), &mut |_| {});
        let tr = w.trace("token");
        let attempts = w.vault.counts.login_failures;
        let min_gap = tr.min_gap().unwrap();
        println!(
            "(b) login {status}: attempts in 1h={attempts} fatal_events={} min_gap={:.1}s state={}",
            tr.count("fatal"),
            min_gap.as_secs_f64(),
            w.token().state()
        );
        assert_eq!(w.token().state(), CredentialState::Fatal);
        assert_eq!(tr.count("fatal"), 1, "one Fatal event, not one per retry");
        // A 403 is final at once; a 400 is retried with backoff for
        // TRANSIENT_LOGIN_400_WINDOW first (OpenBao also says 400 when it could
        // not fetch the JWKS), then the same slow retry.
        let window = if status == 400 { tokenkeep_core::vault::TRANSIENT_LOGIN_400_WINDOW } else { Duration::ZERO };
        let first = tr.starts[0].0;
        let quick = tr.starts.iter().filter(|(t, _)| t.saturating_since(first) < window).count().saturating_sub(1);
        // (The attempt that ends the window still follows a backoff gap.)
        let skip = if status == 400 { quick + 1 } else { 0 };
        let slow_gaps: Vec<Duration> = tr.gaps().into_iter().skip(skip).collect();
        assert!(min_gap >= Duration::from_millis(250), "floor: {min_gap:?}");
        assert!(quick <= 8, "{quick} quick retries");
        if status == 400 {
            let deciding = tr.starts[quick + 1].0.saturating_since(first);
            assert!(deciding <= window + Duration::from_secs(1), "deciding retry {deciding:?} after the first 400");
        }
        assert!(slow_gaps.iter().all(|g| *g >= Duration::from_secs(270)), "retry every 5 min ±10 %: {slow_gaps:?}");
        assert!((12..=14 + quick as u32).contains(&attempts), "{attempts} attempts in 1 h");
        assert_eq!(w.token().current(w.now).unwrap_err().code(), "fatal");
        assert_eq!(
            w.token().health(w.now).last_error_code,
            Some(if status == 403 { "permission_denied" } else { "invalid_request" })
        );
    }
}

#[test]
fn b_login_400_that_passes_is_retried_with_backoff_and_never_goes_fatal() {
    // OpenBao answers 400 while it cannot fetch the JWKS; it recovers 10 s later.
    let mut vault = SimVault::new(3600, 4 * 3600);
    vault.login_mode = LoginMode::Status(400);
    let mut w = World::new(vault, CredentialConfig::expiring(), 9);
    w.run_until(at(10.0), Duration::from_secs(1), &mut |_| {});
    w.vault.login_mode = LoginMode::Ok;
    w.run_until(at(60.0), Duration::from_secs(1), &mut |_| {});
    let tr = w.trace("token");
    println!(
        "(b) transient login 400: failures={} logins={} fatal events={} state={}",
        w.vault.counts.login_failures,
        w.vault.counts.logins,
        tr.count("fatal"),
        w.token().state()
    );
    assert!((1..=8).contains(&w.vault.counts.login_failures), "{}", w.vault.counts.login_failures);
    assert_eq!(w.vault.counts.logins, 1);
    assert_eq!(tr.count("fatal"), 0);
    assert!(w.token().current(w.now).is_ok());
}

#[test]
fn b_kv_403_asks_for_one_relogin_then_goes_fatal() {
    let mut vault = SimVault::new(3600, 4 * 3600);
    vault.kv_forbidden = true;
    let mut w = World::new(vault, CredentialConfig::expiring(), 6);
    w.add_kv(CredentialConfig::polled(Duration::from_secs(60)), 7);
    w.run_until(at(3600.0), Duration::from_secs(600), &mut |_| {});
    let kv = w.trace("kv");
    println!(
        "(b) kv 403: logins={} token_rejected_events={} kv_fatal={} kv_attempts={}",
        w.vault.counts.logins,
        kv.count("token_rejected"),
        kv.count("fatal"),
        kv.starts.len()
    );
    assert_eq!(w.vault.counts.logins, 2, "exactly one re-login for the rejection");
    assert_eq!(kv.count("token_rejected"), 1);
    assert_eq!(kv.count("fatal"), 1);
    assert_eq!(w.kv().state(), CredentialState::Fatal);
    assert!(kv.starts.len() <= 2 + 13, "slow retry once fatal: {}", kv.starts.len());
}

// ---------------------------------------------------------------------------
// (c) Vault down for 2 h starting at a random time
// ---------------------------------------------------------------------------

#[test]
fn c_outage_serves_until_expiry_then_expired_error_and_recovers() {
    let mut rng = JitterRng::new(2026);
    let start = 600.0 + rng.unit() * 3000.0; // somewhere in the first hour
    let outage = (at(start), at(start + 7200.0));
    let mut vault = SimVault::new(3600, 24 * 3600);
    vault.down.push(outage);
    let mut w = World::new(vault, CredentialConfig::expiring(), 99);
    let mut expiry_seen: Option<UnixTime> = None;
    let mut served = 0u32;
    let mut expired_errors = 0u32;
    let mut recovered_at: Option<UnixTime> = None;
    w.run_until(at(4.0 * 3600.0), Duration::from_secs(5), &mut |w| {
        let now = w.now;
        if now < at(1.0) {
            return;
        }
        match w.token().current(now) {
            Ok(_) => {
                served += 1;
                let e = w.token().expires_at().unwrap();
                assert!(now < e);
                if now >= outage.1 && recovered_at.is_none() && w.token().state() == CredentialState::Fresh {
                    recovered_at = Some(now);
                }
            }
            Err(CredentialError::Expired) => {
                expired_errors += 1;
                assert!(now >= outage.0 && now < outage.1 + Duration::from_secs(300), "expired outside the outage");
                expiry_seen.get_or_insert(now);
            }
            Err(e) => panic!("unexpected {e:?} at {}", rel(now)),
        }
    });
    let tr = w.trace("token");
    let in_outage: Vec<UnixTime> = tr.starts.iter().map(|s| s.0).filter(|t| *t >= outage.0 && *t < outage.1).collect();
    let gaps: Vec<f64> = in_outage.windows(2).map(|p| p[1].saturating_since(p[0]).as_secs_f64()).collect();
    let first_ok_after =
        w.vault.log.iter().find(|(t, k)| *t >= outage.1 && (*k == "login" || *k == "renew")).map(|(t, _)| *t).unwrap();
    let recovery_delay = first_ok_after.saturating_since(outage.1).as_secs_f64();
    let late_mean = {
        let late: Vec<f64> = gaps.iter().rev().take(10).cloned().collect();
        late.iter().sum::<f64>() / late.len() as f64
    };
    println!(
        "(c) outage {:.0}s..{:.0}s: attempts during outage={} first gaps={:?} mean of last 10 gaps={:.0}s max gap={:.0}s \
         expired at {:.0}s, expired checks={expired_errors}, served checks={served}, first success {:.1}s after return, \
         transport failures={}",
        start,
        start + 7200.0,
        in_outage.len(),
        gaps.iter().take(5).map(|g| (g * 10.0).round() / 10.0).collect::<Vec<_>>(),
        late_mean,
        gaps.iter().cloned().fold(0.0, f64::max),
        expiry_seen.map(rel).unwrap_or(-1.0),
        recovery_delay,
        w.vault.counts.transport_failures
    );
    assert!(expiry_seen.is_some(), "a 2 h outage outlives a 1 h token");
    assert!(tr.min_gap().unwrap() >= FLOOR, "250 ms floor");
    assert!(gaps.iter().all(|g| *g <= 300.0 + 0.1), "backoff cap 5 min");
    assert!(late_mean >= 60.0, "windows grew: late mean gap {late_mean}");
    assert!(gaps[0] <= 1.1, "first window 1 s: {}", gaps[0]);
    assert!(recovery_delay <= 300.0, "recovered on the first attempt after Vault returned");
    assert!(recovered_at.is_some());
    // the first attempt after the outage is the one that succeeds
    let first_attempt_after = tr.starts.iter().map(|s| s.0).find(|t| *t >= outage.1).unwrap();
    assert_eq!(first_attempt_after, first_ok_after);
    assert_eq!(w.token().state(), CredentialState::Fresh);
}

// ---------------------------------------------------------------------------
// (d) KV v2 rotation + HMAC keyring
// ---------------------------------------------------------------------------

#[test]
fn d_kv_version_change_rotates_within_one_poll_and_previous_verifies_in_grace_only() {
    let poll = Duration::from_secs(60);
    let kv_cfg = CredentialConfig::polled(poll);
    let grace = kv_cfg.grace_window();
    let mut w = World::new(SimVault::new(3600, 24 * 3600), CredentialConfig::expiring(), 3);
    w.add_kv(kv_cfg, 4);
    let mut ring = HmacKeyring::new(HmacKeyringConfig { grace, ..HmacKeyringConfig::default() });
    let mut rotated_at: Option<UnixTime> = None;
    let write_at = at(600.0);
    let mut written = false;
    let mut old_sig = None;
    let mut checks: Vec<(f64, Result<u64, HmacError>)> = Vec::new();
    w.run_until(at(1200.0), Duration::from_secs(1), &mut |w| {
        let now = w.now;
        if let Ok(s) = w.kv().current(now) {
            let secret = s.get_str("hmac_key").unwrap().as_bytes().to_vec();
            let v = s.version;
            if ring.current_version() != Some(v) {
                ring.rotate(&secret, v, now).unwrap();
                if v == 2 {
                    rotated_at = Some(now);
                }
            }
        }
        if !written && now >= write_at {
            // a request signed with version 1 just before the write
            old_sig = Some(ring.sign("POST", "/v1/orders", b"{\"id\":1}", now).unwrap());
            w.vault.write_kv(json!({"hmac_key": "kv-secret-version-0002-klmnopqrst"}));
            written = true;
        }
        if let (Some(sig), Some(r)) = (&old_sig, rotated_at) {
            let since = now.saturating_since(r).as_secs_f64();
            if since > 0.0 && (since < 3.0 || (grace.as_secs_f64() - 2.0..grace.as_secs_f64() + 2.0).contains(&since)) {
                // re-sign at the original timestamp: verify as of `now`
                checks.push((since, ring.verify(sig, "POST", "/v1/orders", b"{\"id\":1}", now)));
            }
        }
    });
    let kv = w.trace("kv");
    let r = rotated_at.expect("rotation seen");
    let delay = r.saturating_since(write_at).as_secs_f64();
    println!(
        "(d) kv: reads={} rotated {:.1}s after the write (poll {}s), rotated events={}, grace={}s, checks={}",
        w.vault.counts.kv_reads,
        delay,
        poll.as_secs(),
        kv.count("rotated"),
        grace.as_secs(),
        checks.len()
    );
    assert!(delay <= 66.0, "new version current within one poll interval (+10 %)");
    assert_eq!(kv.count("rotated"), 1);
    assert_eq!(w.kv().current(w.now).unwrap().version, 2);
    let in_grace: Vec<_> = checks.iter().filter(|(s, _)| *s < grace.as_secs_f64()).collect();
    let after: Vec<_> = checks.iter().filter(|(s, _)| *s >= grace.as_secs_f64()).collect();
    assert!(!in_grace.is_empty() && !after.is_empty());
    assert!(in_grace.iter().all(|(_, r)| *r == Ok(1)), "{in_grace:?}");
    assert!(after.iter().all(|(_, r)| *r == Err(HmacError::KeyRetired)), "{after:?}");
    // the machine's own previous follows the same window
    assert!(w.kv().previous(w.now).is_none());
    assert!(kv.count("previous_retired") == 1);
}

// ---------------------------------------------------------------------------
// (e) 20 s token renews near 13 s, not in a loop
// ---------------------------------------------------------------------------

#[test]
fn e_twenty_second_token_renews_near_thirteen_seconds() {
    let mut w = World::new(SimVault::new(20, 3600), CredentialConfig::expiring(), 8);
    w.run_until(at(300.0), Duration::from_secs(1), &mut |w| {
        if w.now < at(1.0) {
            return;
        }
        assert!(w.token().current(w.now).is_ok());
    });
    let tr = w.trace("token");
    let fr = renew_fractions(tr);
    let offsets: Vec<f64> = fr.iter().map(|f| f * 20.0).collect();
    let (lo, hi) = (offsets.iter().cloned().fold(f64::MAX, f64::min), offsets.iter().cloned().fold(0.0, f64::max));
    println!(
        "(e) 20s TTL over 300s: logins={} renewals={} renew offsets {:.2}s..{:.2}s min gap between attempts {:.2}s",
        w.vault.counts.logins,
        w.vault.counts.renewals,
        lo,
        hi,
        tr.min_gap().unwrap().as_secs_f64()
    );
    assert_eq!(w.vault.counts.logins, 1);
    assert!(offsets.iter().all(|o| (12.2..=13.34).contains(o)), "{offsets:?}");
    assert!((22..=25).contains(&w.vault.counts.renewals), "{}", w.vault.counts.renewals);
    assert!(tr.min_gap().unwrap() >= Duration::from_secs(12));
}

// ---------------------------------------------------------------------------
// (f) leases
// ---------------------------------------------------------------------------

#[test]
fn f_lease_renews_replaces_before_max_ttl_and_creator_expiry_and_revokes_after_grace() {
    // token: 1 h TTL, 2 h max -> re-login near 1 h 47 min, old token dies at 2 h
    let mut vault = SimVault::new(3600, 7200);
    vault.lease_ttl = 600;
    vault.lease_max_ttl = 1800;
    let mut w = World::new(vault, CredentialConfig::expiring(), 21);
    let lease_cfg = CredentialConfig { grace: Some(Duration::from_secs(60)), ..CredentialConfig::expiring() };
    w.add_lease(lease_cfg, 22);
    let forget_at = at(2.0 * 3600.0 + 1000.0);
    let mut forgotten: Option<String> = None; // the lease revoked behind our back
    let mut served = 0u32;
    w.run_until(at(2.5 * 3600.0), Duration::from_secs(2), &mut |w| {
        let now = w.now;
        if let Ok(l) = w.lease().current(now) {
            served += 1;
            // never serve a lease the server no longer honours (outside the
            // operator-revocation window below, which the client cannot know)
            if forgotten.as_deref() != Some(l.lease_id()) {
                assert!(w.vault.lease_alive(l.lease_id(), now), "dead lease served at {}", rel(now));
            }
        }
        if forgotten.is_none() && now >= forget_at {
            // an operator revokes the current lease behind our back
            let id = w.lease().current(now).unwrap().lease_id().to_string();
            w.vault.leases.remove(&id);
            forgotten = Some(id);
        }
    });
    let tr = w.trace("lease");
    let c = &w.vault.counts;
    let reads: Vec<f64> = w.vault.log.iter().filter(|(_, k)| *k == "lease_read").map(|(t, _)| rel(*t)).collect();
    let revokes: Vec<f64> = w.vault.log.iter().filter(|(_, k)| *k == "lease_revoke").map(|(t, _)| rel(*t)).collect();
    let logins: Vec<f64> = w.vault.log.iter().filter(|(_, k)| *k == "login").map(|(t, _)| rel(*t)).collect();
    println!(
        "(f) lease over 2.5h: reads={} at {:?}; renewals={}; revokes={} at {:?}; logins at {:?}; gone events={}; served checks={served}",
        c.lease_reads,
        reads.iter().map(|r| r.round()).collect::<Vec<_>>(),
        c.lease_renewals,
        c.lease_revokes,
        revokes.iter().map(|r| r.round()).collect::<Vec<_>>(),
        logins.iter().map(|r| r.round()).collect::<Vec<_>>(),
        tr.count("gone"),
    );
    // max TTL 30 min: a new lease every < 30 min; each replaced lease revoked ~60 s later
    for pair in reads.windows(2) {
        assert!(pair[1] - pair[0] < 1800.0, "lease outlived max TTL: {pair:?}");
    }
    // (or earlier, when the old lease's own end came first: it is never kept past it)
    for (i, r) in revokes.iter().enumerate() {
        let replaced = reads[i + 1];
        assert!(*r > replaced && *r <= replaced + 60.5, "revoke {i} at {r}, replaced at {replaced}");
    }
    assert_eq!(revokes.len(), reads.len() - 1, "every replaced lease revoked");
    // the re-login near 1 h 47 min is followed by a re-read under the new token before 2 h
    let relogin = logins[1];
    assert!(relogin < 7200.0);
    assert!(reads.iter().any(|r| *r > relogin && *r < relogin + 5.0), "re-read right after the re-login");
    // lease-not-found on renew -> Gone -> re-read
    assert_eq!(tr.count("gone"), 1);
    assert!(reads.iter().any(|r| *r > rel(forget_at) && *r < rel(forget_at) + 600.0));
    assert!(c.lease_renewals >= 8);
    assert!(tr.min_gap().unwrap() >= FLOOR);
}

#[test]
fn f_lease_shutdown_revokes_current_and_token_revoke_self() {
    let mut w = World::new(SimVault::new(3600, 7200), CredentialConfig::expiring(), 31);
    w.add_lease(CredentialConfig::expiring(), 32);
    w.run_until(at(120.0), Duration::from_secs(10), &mut |_| {});
    assert_eq!(w.vault.leases.len(), 1);
    let now = w.now;
    let lease = w.lease.unwrap();
    w.session.close_dependent(lease, now);
    w.run_until(at(130.0), Duration::from_secs(1), &mut |_| {});
    assert!(w.session.is_closed(Member::Dependent(lease)));
    let now = w.now;
    w.session.close(true, now);
    w.run_until(at(140.0), Duration::from_secs(1), &mut |_| {});
    println!(
        "(f) shutdown: lease revokes={} token revokes={} leases left={} tokens alive={}",
        w.vault.counts.lease_revokes,
        w.vault.counts.token_revokes,
        w.vault.leases.len(),
        w.vault.tokens.len()
    );
    assert_eq!(w.vault.counts.lease_revokes, 1);
    assert!(w.vault.leases.is_empty());
    assert_eq!(w.vault.counts.token_revokes, 1);
    assert!(w.session.is_shut_down());
}

// ---------------------------------------------------------------------------
// (g) token file
// ---------------------------------------------------------------------------

#[test]
fn g_token_file_rotation_is_picked_up_and_garbage_keeps_last_good() {
    // A kubelet-like writer: 1 h tokens, rewritten at 80 % of their life.
    let life = 3600u64;
    let mut m = TokenFileMachine::new(TokenFileConfig::default(), 17, t0());
    let mut now = t0();
    let mut file_iat = T0;
    let mut file = jwt(file_iat, file_iat + life, "system:serviceaccount:ns:app");
    let mut reads = 0u32;
    let mut rotations_seen: Vec<f64> = Vec::new();
    let mut rotations_written: Vec<f64> = Vec::new();
    let mut errors_seen: Vec<&'static str> = Vec::new();
    let mut last_read: Option<UnixTime> = None;
    let mut min_gap = Duration::MAX;
    let glitch_empty = at(1000.0);
    let glitch_garbage = at(1500.0);
    let end = at(4.0 * 3600.0);
    loop {
        while let Some(a) = m.poll_action() {
            let TokenFileAction::Read { .. } = a else { unreachable!() };
            reads += 1;
            if let Some(l) = last_read {
                min_gap = min_gap.min(now.saturating_since(l));
            }
            last_read = Some(now);
            let before = m.current(now).ok().map(|t| t.exp);
            let contents: Vec<u8> = if now >= glitch_empty && now < glitch_empty + Duration::from_secs(2) {
                Vec::new()
            } else if now >= glitch_garbage && now < glitch_garbage + Duration::from_secs(2) {
                b"\x00\x01garbage".to_vec()
            } else {
                file.clone().into_bytes()
            };
            match m.handle_contents(&contents, now) {
                Ok(()) => {
                    if before.is_some_and(|b| b != m.current(now).unwrap().exp) {
                        rotations_seen.push(rel(now));
                    }
                }
                Err(e) => {
                    errors_seen.push(e.code());
                    assert_eq!(m.current(now).unwrap().exp, before.unwrap(), "last good kept");
                }
            }
        }
        while m.poll_event().is_some() {}
        assert!(m.current(now).is_ok(), "a token is always served at {}", rel(now));
        // the writer rotates at 80 %, and we signal the empty/garbage moments as file changes
        // (at 85 %, after the reader's 80 % point: it must keep looking)
        let rotate_at = UnixTime::from_secs(file_iat + life * 85 / 100);
        let mut next = m.poll_timeout().unwrap().min(end);
        for s in [rotate_at, glitch_empty, glitch_garbage] {
            if s > now && s < next {
                next = s;
            }
        }
        if next >= end {
            break;
        }
        now = next.max(now);
        if now == rotate_at {
            file_iat = now.as_secs();
            file = jwt(file_iat, file_iat + life, "system:serviceaccount:ns:app");
            rotations_written.push(rel(now));
            // no file-change signal for rotations: the machine must find them itself
        }
        if now == glitch_empty || now == glitch_garbage {
            m.handle_file_changed(now);
        }
        m.handle_timeout(now);
    }
    let delays: Vec<f64> = rotations_seen.iter().zip(&rotations_written).map(|(s, w)| s - w).collect();
    println!(
        "(g) token file over 4h: reads={reads} rotations written={:?} seen after {:?}s, errors={errors_seen:?}, min gap {:.2}s",
        rotations_written.iter().map(|r| r.round()).collect::<Vec<_>>(),
        delays.iter().map(|d| (d * 10.0).round() / 10.0).collect::<Vec<_>>(),
        min_gap.as_secs_f64()
    );
    assert_eq!(rotations_seen.len(), rotations_written.len());
    assert!(delays.iter().all(|d| *d <= 66.0 && *d >= 0.0), "{delays:?}");
    errors_seen.dedup();
    assert_eq!(errors_seen, vec!["empty", "not_a_jwt"]);
    assert!(min_gap >= FLOOR);
    // an old token written back is refused
    let old = jwt(now.as_secs() - 10, now.as_secs() + 60, "x");
    assert_eq!(m.handle_contents(old.as_bytes(), now), Err(TokenFileError::OlderThanCurrent));
    assert_eq!(m.handle_contents(b"a.b", now), Err(TokenFileError::NotAJwt));
    let no_exp = format!("{}.{}.{}", b64(b"{}"), b64(br#"{"sub":"x"}"#), b64(b"s"));
    assert_eq!(m.handle_contents(no_exp.as_bytes(), now), Err(TokenFileError::NoExp));
    assert!(!format!("{m:?}").contains(&file));
}

// ---------------------------------------------------------------------------
// (h) properties of the generic machine under arbitrary inputs
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Input {
    Obtain { life_s: u32, renewable: bool },
    Renew { ext_s: i32 },
    Retryable { retry_after_s: Option<u8> },
    Permanent,
    Gone,
    Rejected,
    Transport,
    DependencyChanged,
    RequestRefresh,
    Wait { ms: u32 },
    Stale,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        (1u32..20_000, any::<bool>()).prop_map(|(life_s, renewable)| Input::Obtain { life_s, renewable }),
        (-100i32..20_000).prop_map(|ext_s| Input::Renew { ext_s }),
        proptest::option::of(0u8..120).prop_map(|retry_after_s| Input::Retryable { retry_after_s }),
        Just(Input::Permanent),
        Just(Input::Gone),
        Just(Input::Rejected),
        Just(Input::Transport),
        Just(Input::DependencyChanged),
        Just(Input::RequestRefresh),
        (0u32..4_000_000).prop_map(|ms| Input::Wait { ms }),
        Just(Input::Stale),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha, rng_seed: proptest::test_runner::RngSeed::Fixed(2026), ..ProptestConfig::default() })]

    #[test]
    fn h_no_attempt_in_the_past_floor_holds_single_flight(
        seed in any::<u64>(),
        inputs in proptest::collection::vec(input(), 1..120),
    ) {
        let mut now = t0();
        let mut m: CredentialMachine<String> = CredentialMachine::new(CredentialConfig::expiring(), seed, now);
        let mut in_flight: Option<RequestId> = None;
        let mut last_start: Option<UnixTime> = None;
        let mut old_ids: Vec<RequestId> = Vec::new();
        let check = |m: &mut CredentialMachine<String>, now: UnixTime, in_flight: &mut Option<RequestId>,
                         last_start: &mut Option<UnixTime>| -> Result<(), TestCaseError> {
            if let Some(a) = m.poll_attempt() {
                prop_assert!(in_flight.is_none() || m.in_flight() == Some(a.id), "second attempt while one in flight");
                if let Some(l) = *last_start {
                    prop_assert!(now.saturating_since(l) >= FLOOR, "floor broken: {:?}", now.saturating_since(l));
                }
                *last_start = Some(now);
                *in_flight = Some(a.id);
            }
            prop_assert!(m.poll_attempt().is_none(), "two attempts at once");
            if let Some(n) = m.next_attempt_at() {
                prop_assert!(n >= now, "attempt scheduled in the past");
                if let Some(l) = *last_start {
                    prop_assert!(n.saturating_since(l) >= FLOOR || n < l, "scheduled within the floor");
                }
            }
            if let Some(t) = m.poll_timeout() {
                prop_assert!(t > now || m.in_flight().is_some() && t >= now, "deadline not in the future");
            }
            // abandoned attempts free the slot
            if in_flight.is_some() && m.in_flight() != *in_flight {
                *in_flight = None;
            }
            if let Ok(v) = m.current(now) {
                prop_assert_eq!(v.as_str(), "value");
            }
            Ok(())
        };
        m.handle_timeout(now);
        check(&mut m, now, &mut in_flight, &mut last_start)?;
        for inp in inputs {
            let outcome: Option<Outcome<String>> = match &inp {
                Input::Obtain { life_s, renewable } => Some(Outcome::Obtained(Obtained {
                    value: "value".to_string(),
                    expires_at: Some(now + Duration::from_secs(u64::from(*life_s))),
                    renewable: *renewable,
                    version: None,
                })),
                Input::Renew { ext_s } => Some(Outcome::Renewed {
                    expires_at: if *ext_s < 0 { now.saturating_sub(Duration::from_secs(ext_s.unsigned_abs() as u64)) }
                        else { now + Duration::from_secs(*ext_s as u64) },
                }),
                Input::Retryable { retry_after_s } => Some(Outcome::Retryable {
                    code: "server_error",
                    retry_after: retry_after_s.map(|s| Duration::from_secs(u64::from(s))),
                }),
                Input::Permanent => Some(Outcome::Permanent { code: "permission_denied" }),
                Input::Gone => Some(Outcome::Gone { code: "lease_not_found" }),
                Input::Rejected => Some(Outcome::Rejected { code: "permission_denied" }),
                Input::Transport => Some(Outcome::Retryable { code: "transport", retry_after: None }),
                _ => None,
            };
            match (inp, outcome) {
                (_, Some(o)) => {
                    now = now + LATENCY;
                    if let Some(id) = in_flight.take() {
                        old_ids.push(id);
                        m.handle_outcome(id, o, now);
                    } else {
                        // a late or duplicate answer: ignored (its time still counts)
                        let id = old_ids.last().copied().unwrap_or(RequestId(u64::MAX - 1));
                        prop_assert!(!m.handle_outcome(id, o, now), "stale answer accepted");
                    }
                }
                (Input::DependencyChanged, _) => m.handle_dependency_changed(now),
                (Input::RequestRefresh, _) => m.request_refresh(true, now),
                (Input::Wait { ms }, _) => {
                    // the host sleeps until the machine's deadline (or less)
                    let target = now + Duration::from_millis(u64::from(ms));
                    now = match m.poll_timeout() { Some(t) if t < target => t.max(now), _ => target };
                    m.handle_timeout(now);
                }
                (Input::Stale, _) => {
                    let accepted = m.handle_outcome(RequestId(u64::MAX), Outcome::Gone { code: "x" }, now);
                    prop_assert!(!accepted, "unknown id accepted");
                }
                _ => {}
            }
            check(&mut m, now, &mut in_flight, &mut last_start)?;
            let h = m.health(now);
            prop_assert_eq!(h.in_flight, m.in_flight().is_some());
            if m.state() == CredentialState::Expired {
                prop_assert_eq!(m.current(now).unwrap_err(), CredentialError::Expired);
            }
            while let Some(e) = m.poll_event() {
                let _ = e.code();
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Reply {
    Login { ttl: u16, renewable: bool },
    Renew { ttl: u16 },
    Status { status: u16, retry_after: Option<u8> },
    Transport,
    Garbage,
    Late { ms: u32 },
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        (0u16..5000, any::<bool>()).prop_map(|(ttl, renewable)| Reply::Login { ttl, renewable }),
        (0u16..5000).prop_map(|ttl| Reply::Renew { ttl }),
        (
            prop_oneof![Just(400u16), Just(403), Just(404), Just(412), Just(429), Just(500), Just(503), Just(307)],
            proptest::option::of(0u8..200)
        )
            .prop_map(|(status, retry_after)| Reply::Status { status, retry_after }),
        Just(Reply::Transport),
        Just(Reply::Garbage),
        (0u32..200_000).prop_map(|ms| Reply::Late { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha, rng_seed: proptest::test_runner::RngSeed::Fixed(2026), ..ProptestConfig::default() })]

    /// The same invariants through the Vault token machine, fed arbitrary HTTP answers.
    #[test]
    fn h_vault_token_machine_single_flight_and_floor_under_arbitrary_answers(
        seed in any::<u64>(),
        replies in proptest::collection::vec(reply(), 1..80),
        gaps in proptest::collection::vec(0u32..3_000_000, 80),
    ) {
        let mut now = t0();
        let mut m = VaultTokenMachine::new(vault_cfg(), "jwt", "app", CredentialConfig::expiring(), seed, now).unwrap();
        let mut outstanding: Option<RequestId> = None;
        let mut last_send: Option<UnixTime> = None;
        let mut sends = 0u32;
        for (i, r) in replies.into_iter().enumerate() {
            // drain actions
            while let Some(a) = m.poll_action() {
                match a {
                    VaultAction::Send(req) => {
                        prop_assert!(outstanding.is_none(), "two requests in flight");
                        let is_revoke = req.url.ends_with("revoke-self");
                        if let (Some(l), false) = (last_send, is_revoke) {
                            prop_assert!(now.saturating_since(l) >= FLOOR, "floor broken");
                        }
                        last_send = Some(now);
                        outstanding = Some(req.id);
                        sends += 1;
                    }
                    VaultAction::NeedJwt => {
                        let s = now.as_secs();
                        m.handle_jwt(&jwt(s, s + 600, "app"), now);
                    }
                    _ => {}
                }
            }
            if let Some(n) = m.machine().next_attempt_at() {
                prop_assert!(n >= now, "attempt scheduled in the past");
            }
            if let Ok(tok) = m.current(now) {
                prop_assert!(m.expires_at().is_none_or(|e| now < e));
                prop_assert!(tok.expose().starts_with("s."));
            }
            // answer (or let time pass)
            let answer = |status: u16, body: Value| HttpOutcome::Response(HttpResponse::new(status, serde_json::to_vec(&body).unwrap()));
            let outcome = match r {
                Reply::Login { ttl, renewable } => Some(answer(200, json!({"auth": {"client_token": "s.tok", "lease_duration": ttl, "renewable": renewable}}))),
                Reply::Renew { ttl } => Some(answer(200, json!({"auth": {"client_token": "s.tok", "lease_duration": ttl, "renewable": true}}))),
                Reply::Status { status, retry_after } => {
                    let mut resp = HttpResponse::new(status, b"{\"errors\":[\"x\"]}".to_vec());
                    if let Some(ra) = retry_after {
                        resp = resp.with_header("Retry-After", ra.to_string());
                    }
                    Some(HttpOutcome::Response(resp))
                }
                Reply::Transport => Some(HttpOutcome::Failed(TransportError::Timeout)),
                Reply::Garbage => Some(HttpOutcome::Response(HttpResponse::new(200, b"\x00not json".to_vec()))),
                Reply::Late { ms } => {
                    now = now + Duration::from_millis(u64::from(ms));
                    m.handle_timeout(now);
                    // Past its deadline the machine abandons the attempt (the
                    // host has timed it out by then) and may start another.
                    if outstanding.is_some() && m.machine().in_flight() != outstanding {
                        outstanding = None;
                    }
                    None
                }
            };
            if let Some(o) = outcome {
                now = now + LATENCY;
                match outstanding.take() {
                    Some(id) => m.handle_response(id, o, now),
                    None => m.handle_response(RequestId(u64::MAX), o, now),
                }
            }
            // the host sleeps until the deadline
            let gap = Duration::from_millis(u64::from(gaps[i % gaps.len()]));
            if let Some(t) = m.poll_timeout() {
                let wake = t.min(now + gap).max(now);
                if outstanding.is_some() && m.machine().in_flight() != outstanding {
                    outstanding = None; // abandoned: a late answer will be ignored
                }
                now = wake;
                m.handle_timeout(now);
                if outstanding.is_some() && m.machine().in_flight() != outstanding {
                    outstanding = None;
                }
            }
            while m.poll_event().is_some() {}
        }
        prop_assert!(sends >= 1);
    }
}

#[test]
fn debug_of_every_secret_holding_type_is_redacted() {
    let mut w = World::new(SimVault::new(3600, 7200), CredentialConfig::expiring(), 41);
    w.add_kv(CredentialConfig::polled(Duration::from_secs(60)), 42);
    w.add_lease(CredentialConfig::expiring(), 43);
    w.run_until(at(30.0), Duration::from_secs(1), &mut |_| {});
    let now = w.now;
    let tok = w.token().current(now).unwrap();
    let kv = w.kv().current(now).unwrap();
    let lease = w.lease().current(now).unwrap();
    let mut ring = HmacKeyring::new(HmacKeyringConfig::default());
    ring.rotate(kv.get_str("hmac_key").unwrap().as_bytes(), kv.version, now).unwrap();
    let mut tf = TokenFileMachine::new(TokenFileConfig::default(), 1, now);
    let file_jwt = jwt(now.as_secs(), now.as_secs() + 600, "sa");
    tf.handle_contents(file_jwt.as_bytes(), now).unwrap();
    let dbg = format!(
        "{tok:?} {kv:?} {lease:?} {:?} {:?} {:?} {:?} {ring:?} {tf:?} {:?} {:?}",
        w.session,
        w.kv(),
        w.lease(),
        tf.current(now).unwrap(),
        w.token().machine(),
        w.token().health(now),
    );
    let secrets = [
        tok.expose().to_string(),
        kv.get_str("hmac_key").unwrap().to_string(),
        lease.get_str("password").unwrap().to_string(),
        lease.lease_id().to_string(),
        file_jwt.clone(),
        "db-password-secret".to_string(),
    ];
    for s in &secrets {
        assert!(!dbg.contains(s.as_str()), "secret {s} in Debug output");
    }
    // Display of every error code too
    for e in [
        CredentialError::Expired,
        CredentialError::NotYetObtained,
        CredentialError::Fatal { cause: "permission_denied" },
    ] {
        assert!(!e.to_string().contains("s.simtoken"));
    }
    let _ = secs(LATENCY);
    let _ = Method::Get;
}
