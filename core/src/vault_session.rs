//! One Vault session: the token obtained by a JWT login and the KV secrets
//! and leases read with it, wired together once for every host (the runtime's
//! handles and the simulations drive this same code).
//!
//! The wiring the session owns:
//!
//! - every change of the token (a login, a renewal moving its expiry, its
//!   expiry) reaches each secret and lease as an input at once, with the
//!   token's exact expiry: a lease created under a token dies with it, so a
//!   re-login bounds the lease by the old token's expiry and re-reads it under
//!   the new one;
//! - a 403 on a read with the current token (a secret's or lease's
//!   [`Event::TokenRejected`]) asks the token machine for one re-login;
//! - closing: secrets stop, leases are revoked (when asked) while the token
//!   still works, and only then is the token revoked (when asked).
//!
//! Requests carry ids from one range per member, so an answer finds its
//! machine without a table: [`VaultSession::handle_response`] takes any id.
//!
//! A host loop:
//!
//! ```
//! use std::time::Duration;
//! use tokenkeep_core::UnixTime;
//! use tokenkeep_core::credential::CredentialConfig;
//! use tokenkeep_core::http::{HttpOutcome, TransportError};
//! use tokenkeep_core::vault::VaultConfig;
//! use tokenkeep_core::vault_session::{SessionAction, VaultSession};
//!
//! let now = UnixTime::from_secs(1_767_225_600);
//! let vault = VaultConfig::new("https://vault.example:8200").unwrap();
//! let mut session = VaultSession::new(vault, "jwt", "app", CredentialConfig::expiring(), 7, now).unwrap();
//! let db = session.add_lease("database/creds/app", CredentialConfig::expiring(), true, 8, now).unwrap();
//! session.handle_timeout(now);
//! while let Some(action) = session.poll_action() {
//!     match action {
//!         // read the JWT file (or ask the provider) and hand it over
//!         SessionAction::NeedJwt => session.handle_jwt("eyJ...", now),
//!         // send it; answer with the same id (here: Vault is unreachable)
//!         SessionAction::Send { request, .. } => {
//!             session.handle_response(request.id, HttpOutcome::Failed(TransportError::Connect), now)
//!         }
//!         _ => {}
//!     }
//! }
//! while let Some((_member, event)) = session.poll_event() {
//!     let _ = event.code(); // log, count
//! }
//! assert!(session.lease(db).unwrap().current(now).is_err());
//! let _sleep_until = session.poll_timeout();
//! ```

use crate::credential::{CredentialConfig, Event};
use crate::http::{HttpOutcome, HttpRequest, RequestId};
use crate::time::UnixTime;
use crate::vault::{
    KvSecretMachine, LeaseMachine, VaultAction, VaultConfig, VaultError, VaultToken, VaultTokenMachine,
};
use std::collections::VecDeque;
use std::fmt;

/// Identifies a secret or lease of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DependentId(pub u64);

/// Who in a session an action or event concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Member {
    /// The Vault token.
    Token,
    /// A KV secret or lease.
    Dependent(DependentId),
}

/// What a [`VaultSession`] asks of its host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionAction {
    /// Send this request; answer with [`VaultSession::handle_response`] and its id.
    Send {
        /// Whose request it is (for logs and metrics).
        from: Member,
        /// The request.
        request: HttpRequest,
    },
    /// A login is due and no usable JWT is held: read one and call
    /// [`VaultSession::handle_jwt`].
    NeedJwt,
}

enum Machine {
    Kv(KvSecretMachine),
    Lease { machine: LeaseMachine, revoke_on_close: bool },
}

struct Dependent {
    id: DependentId,
    machine: Machine,
    closing: bool,
}

impl Dependent {
    fn is_shut_down(&self) -> bool {
        match &self.machine {
            Machine::Kv(m) => m.is_shut_down(),
            Machine::Lease { machine, .. } => machine.is_shut_down(),
        }
    }
}

/// Ids of one member start at `member << ID_SHIFT`.
const ID_SHIFT: u32 = 40;

/// What the dependents were last told about the token.
#[derive(PartialEq, Eq)]
struct Told {
    token: Option<crate::credential::SecretString>,
    expires_at: Option<UnixTime>,
}

/// A Vault token and the secrets and leases read with it. See the module docs.
pub struct VaultSession {
    vault: VaultConfig,
    token: VaultTokenMachine,
    dependents: Vec<Dependent>,
    next_dependent: u64,
    actions: VecDeque<SessionAction>,
    events: VecDeque<(Member, Event)>,
    told: Told,
    /// `Some(revoke)` once closing the token was asked; it shuts down after every dependent.
    token_close: Option<bool>,
    token_closing: bool,
}

impl fmt::Debug for VaultSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultSession")
            .field("token", &self.token)
            .field("dependents", &self.dependents.iter().map(|d| d.id).collect::<Vec<_>>())
            .field("closing", &self.token_close.is_some())
            .finish()
    }
}

fn with_id_range(mut config: CredentialConfig, member: u64) -> CredentialConfig {
    config.first_request_id = (member << ID_SHIFT) | 1;
    config
}

impl VaultSession {
    /// A session logging in at `auth/<mount>/login` as `role`; the first
    /// login is due at `now`.
    pub fn new(
        vault: VaultConfig,
        mount: &str,
        role: &str,
        token_config: CredentialConfig,
        seed: u64,
        now: UnixTime,
    ) -> Result<VaultSession, VaultError> {
        let token = VaultTokenMachine::new(vault.clone(), mount, role, with_id_range(token_config, 0), seed, now)?;
        let mut s = VaultSession {
            vault,
            token,
            dependents: Vec::new(),
            next_dependent: 1,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            told: Told { token: None, expires_at: None },
            token_close: None,
            token_closing: false,
        };
        s.pump(now);
        Ok(s)
    }

    /// Where Vault is.
    pub fn vault(&self) -> &VaultConfig {
        &self.vault
    }

    fn alloc_dependent(&mut self) -> DependentId {
        let id = DependentId(self.next_dependent);
        self.next_dependent += 1;
        id
    }

    /// Follows the KV v2 secret `<mount>/data/<path>` (polled per `config`).
    pub fn add_kv(
        &mut self,
        mount: &str,
        path: &str,
        config: CredentialConfig,
        seed: u64,
        now: UnixTime,
    ) -> Result<DependentId, VaultError> {
        let id = self.alloc_dependent();
        let mut m = KvSecretMachine::new(self.vault.clone(), mount, path, with_id_range(config, id.0), seed, now)?;
        m.handle_token(self.token.current(now).ok(), now);
        self.dependents.push(Dependent { id, machine: Machine::Kv(m), closing: false });
        self.pump(now);
        Ok(id)
    }

    /// Holds a leased secret read at `path`; replaced leases are revoked
    /// after the grace window, and the ones held on close when `revoke_on_close`.
    pub fn add_lease(
        &mut self,
        path: &str,
        config: CredentialConfig,
        revoke_on_close: bool,
        seed: u64,
        now: UnixTime,
    ) -> Result<DependentId, VaultError> {
        let id = self.alloc_dependent();
        let mut m = LeaseMachine::new(self.vault.clone(), path, with_id_range(config, id.0), seed, now)?;
        let current = self.token.current(now).ok();
        m.handle_token(current, current.and(self.token.expires_at()), now);
        self.dependents.push(Dependent { id, machine: Machine::Lease { machine: m, revoke_on_close }, closing: false });
        self.pump(now);
        Ok(id)
    }

    // ----- outputs ---------------------------------------------------------

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<SessionAction> {
        self.actions.pop_front()
    }

    /// The next event, with the member it concerns.
    pub fn poll_event(&mut self) -> Option<(Member, Event)> {
        self.events.pop_front()
    }

    /// When to call [`VaultSession::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<UnixTime> {
        let deps = self.dependents.iter().filter_map(|d| match &d.machine {
            Machine::Kv(m) => m.poll_timeout(),
            Machine::Lease { machine, .. } => machine.poll_timeout(),
        });
        self.token.poll_timeout().into_iter().chain(deps).min()
    }

    // ----- reads -------------------------------------------------------------

    /// The token machine.
    pub fn token(&self) -> &VaultTokenMachine {
        &self.token
    }

    /// A KV secret's machine (`None` once it was closed and removed).
    pub fn kv(&self, id: DependentId) -> Option<&KvSecretMachine> {
        self.dependents.iter().find(|d| d.id == id).and_then(|d| match &d.machine {
            Machine::Kv(m) => Some(m),
            Machine::Lease { .. } => None,
        })
    }

    /// A lease's machine (`None` once it was closed and removed).
    pub fn lease(&self, id: DependentId) -> Option<&LeaseMachine> {
        self.dependents.iter().find(|d| d.id == id).and_then(|d| match &d.machine {
            Machine::Lease { machine, .. } => Some(machine),
            Machine::Kv(_) => None,
        })
    }

    /// Whether `member` finished closing (a dependent is then gone from the session).
    pub fn is_closed(&self, member: Member) -> bool {
        match member {
            Member::Token => self.token_closing && self.token.is_shut_down(),
            Member::Dependent(id) => !self.dependents.iter().any(|d| d.id == id),
        }
    }

    /// Whether closing was asked for `member`.
    pub fn is_closing(&self, member: Member) -> bool {
        match member {
            Member::Token => self.token_close.is_some(),
            Member::Dependent(id) => self.dependents.iter().find(|d| d.id == id).is_none_or(|d| d.closing),
        }
    }

    // ----- inputs ------------------------------------------------------------

    /// Time passed. Early or spurious calls change nothing.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.token.handle_timeout(now);
        for d in &mut self.dependents {
            match &mut d.machine {
                Machine::Kv(m) => m.handle_timeout(now),
                Machine::Lease { machine, .. } => machine.handle_timeout(now),
            }
        }
        self.pump(now);
    }

    /// A JWT to log in with (the freshest one the source has).
    pub fn handle_jwt(&mut self, jwt: &str, now: UnixTime) {
        self.token.handle_jwt(jwt, now);
        self.pump(now);
    }

    /// The host could not supply a JWT after [`SessionAction::NeedJwt`]: the
    /// waiting login counts as a failed attempt, so the next one follows the
    /// credential backoff and the token's health names `code`.
    pub fn handle_jwt_unavailable(&mut self, code: crate::vault::JwtErrorCode, now: UnixTime) {
        self.token.handle_jwt_unavailable(code, now);
        self.pump(now);
    }

    /// The answer to request `id`, whoever sent it; unknown ids (a closed
    /// member's) are ignored.
    pub fn handle_response(&mut self, id: RequestId, outcome: HttpOutcome, now: UnixTime) {
        let member = id.0 >> ID_SHIFT;
        if member == 0 {
            self.token.handle_response(id, outcome, now);
        } else if let Some(d) = self.dependents.iter_mut().find(|d| d.id.0 == member) {
            match &mut d.machine {
                Machine::Kv(m) => m.handle_response(id, outcome, now),
                Machine::Lease { machine, .. } => machine.handle_response(id, outcome, now),
            }
        }
        self.pump(now);
    }

    /// The service a member's value was presented to answered 401/403 with
    /// it: the token logs in again, a lease reads a new credential, a secret
    /// is read again (each rate-limited).
    pub fn handle_upstream_unauthorized(&mut self, member: Member, now: UnixTime) {
        match member {
            Member::Token => self.token.handle_upstream_unauthorized(now),
            Member::Dependent(id) => {
                if let Some(d) = self.dependents.iter_mut().find(|d| d.id == id) {
                    match &mut d.machine {
                        Machine::Kv(m) => m.handle_upstream_unauthorized(now),
                        Machine::Lease { machine, .. } => machine.handle_upstream_unauthorized(now),
                    }
                }
            }
        }
        self.pump(now);
    }

    /// Asks `member` for a refresh soon (rate-limited); `false` when it is
    /// closing or gone.
    pub fn refresh(&mut self, member: Member, now: UnixTime) -> bool {
        if self.is_closing(member) {
            return false;
        }
        match member {
            Member::Token => self.token.refresh(now),
            Member::Dependent(id) => {
                if let Some(d) = self.dependents.iter_mut().find(|d| d.id == id) {
                    match &mut d.machine {
                        Machine::Kv(m) => m.refresh(now),
                        Machine::Lease { machine, .. } => machine.refresh(now),
                    }
                }
            }
        }
        self.pump(now);
        true
    }

    /// Closes one secret or lease: a lease configured so is revoked first
    /// (with the token, which must still work). It leaves the session once
    /// shut down ([`VaultSession::is_closed`]).
    pub fn close_dependent(&mut self, id: DependentId, now: UnixTime) {
        if let Some(d) = self.dependents.iter_mut().find(|d| d.id == id) {
            if !d.closing {
                d.closing = true;
                match &mut d.machine {
                    Machine::Kv(m) => m.handle_shutdown(now),
                    Machine::Lease { machine, revoke_on_close } => machine.handle_shutdown(now, *revoke_on_close),
                }
            }
        }
        self.pump(now);
    }

    /// Drops one secret or lease at once, revoking nothing (its handle is
    /// gone; a lease then lives out its TTL). Answers still in flight for it
    /// are ignored.
    pub fn remove_dependent(&mut self, id: DependentId, now: UnixTime) {
        self.dependents.retain(|d| d.id != id);
        self.pump(now);
    }

    /// Closes everything: secrets and leases first (leases revoked as
    /// configured, with the token), then the token, revoked when `revoke_token`.
    pub fn close(&mut self, revoke_token: bool, now: UnixTime) {
        let ids: Vec<DependentId> = self.dependents.iter().map(|d| d.id).collect();
        for id in ids {
            self.close_dependent(id, now);
        }
        if self.token_close.is_none() {
            self.token_close = Some(revoke_token);
        }
        self.pump(now);
    }

    /// Whether everything finished closing.
    pub fn is_shut_down(&self) -> bool {
        self.dependents.is_empty() && self.is_closed(Member::Token)
    }

    /// Forgets every request in flight: their answers will never come (the
    /// process forked and the task that sent them is gone). Each machine
    /// makes its attempt again.
    pub fn forget_in_flight(&mut self, now: UnixTime) {
        self.token.forget_in_flight(now);
        for d in &mut self.dependents {
            match &mut d.machine {
                Machine::Kv(m) => m.forget_in_flight(now),
                Machine::Lease { machine, .. } => machine.forget_in_flight(now),
            }
        }
        self.pump(now);
    }

    // ----- wiring ------------------------------------------------------------

    fn pump(&mut self, now: UnixTime) {
        // Each pass can only add work the next one drains; a few suffice.
        for _ in 0..8 {
            let mut again = false;
            while let Some(a) = self.token.poll_action() {
                self.actions.push_back(match a {
                    VaultAction::Send(request) => SessionAction::Send { from: Member::Token, request },
                    VaultAction::NeedJwt => SessionAction::NeedJwt,
                });
            }
            while let Some(e) = self.token.poll_event() {
                self.events.push_back((Member::Token, e));
            }
            self.tell_dependents(now);
            let mut rejected = false;
            for d in &mut self.dependents {
                let member = Member::Dependent(d.id);
                let (requests, events): (Vec<HttpRequest>, Vec<Event>) = match &mut d.machine {
                    Machine::Kv(m) => (
                        std::iter::from_fn(|| m.poll_request()).collect(),
                        std::iter::from_fn(|| m.poll_event()).collect(),
                    ),
                    Machine::Lease { machine, .. } => (
                        std::iter::from_fn(|| machine.poll_request()).collect(),
                        std::iter::from_fn(|| machine.poll_event()).collect(),
                    ),
                };
                for request in requests {
                    self.actions.push_back(SessionAction::Send { from: member, request });
                }
                for e in events {
                    rejected |= matches!(e, Event::TokenRejected { .. });
                    self.events.push_back((member, e));
                }
            }
            if rejected && self.token_close.is_none() {
                self.token.handle_upstream_unauthorized(now);
                again = true;
            }
            self.dependents.retain(|d| !(d.closing && d.is_shut_down()));
            if let (Some(revoke), false) = (self.token_close, self.token_closing) {
                if self.dependents.is_empty() {
                    self.token_closing = true;
                    self.token.handle_shutdown(now, revoke);
                    again = true;
                }
            }
            if !again {
                return;
            }
        }
    }

    /// Hands the token (and its exact expiry) to every dependent when either changed.
    fn tell_dependents(&mut self, now: UnixTime) {
        let current: Option<&VaultToken> = self.token.current(now).ok();
        let told = Told {
            token: current.map(|t| crate::credential::SecretString::new(t.expose())),
            expires_at: current.and(self.token.expires_at()),
        };
        if told == self.told {
            return;
        }
        for d in &mut self.dependents {
            match &mut d.machine {
                Machine::Kv(m) => m.handle_token(current, now),
                Machine::Lease { machine, .. } => machine.handle_token(current, told.expires_at, now),
            }
        }
        self.told = told;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpResponse;
    use std::time::Duration;

    fn now() -> UnixTime {
        UnixTime::from_secs(1_767_225_600)
    }

    fn ok(body: serde_json::Value) -> HttpOutcome {
        HttpOutcome::Response(HttpResponse::new(200, serde_json::to_vec(&body).unwrap()))
    }

    fn jwt() -> String {
        use crate::jose::b64_encode;
        let exp = now().as_secs() + 600;
        format!("{}.{}.c2ln", b64_encode(br#"{"alg":"RS256"}"#), b64_encode(format!(r#"{{"exp":{exp}}}"#).as_bytes()))
    }

    fn sends(s: &mut VaultSession) -> Vec<(Member, HttpRequest)> {
        let mut out = Vec::new();
        while let Some(a) = s.poll_action() {
            match a {
                SessionAction::Send { from, request } => out.push((from, request)),
                SessionAction::NeedJwt => s.handle_jwt(&jwt(), now()),
            }
        }
        out
    }

    #[test]
    fn a_token_change_reaches_the_lease_with_its_exact_expiry_and_a_403_asks_for_a_login() {
        let vault = VaultConfig::new("http://127.0.0.1:8200").unwrap();
        let mut s = VaultSession::new(vault, "jwt", "app", CredentialConfig::expiring(), 1, now()).unwrap();
        let lease = s.add_lease("database/creds/app", CredentialConfig::expiring(), true, 2, now()).unwrap();
        let kv = s.add_kv("secret", "app/x", CredentialConfig::polled(Duration::from_secs(60)), 3, now()).unwrap();
        s.handle_timeout(now());
        let first = sends(&mut s);
        assert_eq!(first.len(), 1, "only the login: the others wait for a token");
        let (Member::Token, login) = &first[0] else { panic!("{first:?}") };
        let t1 = now() + Duration::from_millis(1234);
        s.handle_response(
            login.id,
            ok(serde_json::json!({"auth": {"client_token": "s.one", "lease_duration": 60, "renewable": true}})),
            t1,
        );
        let reads = sends(&mut s);
        assert_eq!(reads.len(), 2, "lease and KV read as soon as the token arrived: {reads:?}");
        let (_, lease_read) = reads.iter().find(|(m, _)| *m == Member::Dependent(lease)).unwrap();
        s.handle_response(
            lease_read.id,
            ok(serde_json::json!({"lease_id": "database/creds/app/x1", "lease_duration": 3600, "renewable": true,
                "data": {"username": "u", "password": "p"}})),
            t1,
        );
        assert_eq!(s.lease(lease).unwrap().expires_at(), Some(t1 + Duration::from_secs(3600)));
        let (_, kv_read) = reads.iter().find(|(m, _)| *m == Member::Dependent(kv)).unwrap();
        s.handle_response(kv_read.id, HttpOutcome::Response(HttpResponse::new(403, b"{}".to_vec())), t1);
        let events: Vec<(Member, &'static str)> =
            std::iter::from_fn(|| s.poll_event()).map(|(m, e)| (m, e.code())).collect();
        assert!(events.contains(&(Member::Dependent(kv), "token_rejected")), "{events:?}");
        // The 403 asked the token machine for a login, at once.
        let relogin = sends(&mut s);
        assert_eq!(relogin.len(), 1, "the login only: the KV read waits for the new token: {relogin:?}");
        assert!(relogin[0].0 == Member::Token && relogin[0].1.url.ends_with("/login"), "{relogin:?}");
        let t2 = t1 + Duration::from_millis(10);
        s.handle_response(
            relogin[0].1.id,
            ok(serde_json::json!({"auth": {"client_token": "s.two", "lease_duration": 60, "renewable": true}})),
            t2,
        );
        // The lease now dies with the old token, to the millisecond: re-read under the new one.
        assert_eq!(s.lease(lease).unwrap().expires_at(), Some(t1 + Duration::from_secs(60)));
        let after = sends(&mut s);
        assert!(after.iter().any(|(m, r)| *m == Member::Dependent(lease) && r.url.ends_with("database/creds/app")));
        assert!(after.iter().any(|(m, _)| *m == Member::Dependent(kv)), "the KV read is retried with the new token");
    }

    #[test]
    fn close_revokes_leases_before_the_token() {
        let vault = VaultConfig::new("http://127.0.0.1:8200").unwrap();
        let mut s = VaultSession::new(vault, "jwt", "app", CredentialConfig::expiring(), 1, now()).unwrap();
        let lease = s.add_lease("database/creds/app", CredentialConfig::expiring(), true, 2, now()).unwrap();
        let login = sends(&mut s).remove(0).1;
        s.handle_response(
            login.id,
            ok(serde_json::json!({"auth": {"client_token": "s.one", "lease_duration": 600, "renewable": true}})),
            now(),
        );
        let read = sends(&mut s).remove(0).1;
        s.handle_response(
            read.id,
            ok(serde_json::json!({"lease_id": "database/creds/app/x1", "lease_duration": 600, "renewable": true,
                "data": {}})),
            now(),
        );
        s.close(true, now());
        let revoke = sends(&mut s);
        assert_eq!(revoke.len(), 1, "the lease first: {revoke:?}");
        assert!(revoke[0].1.url.ends_with("sys/leases/revoke"));
        assert!(!s.is_closed(Member::Dependent(lease)));
        s.handle_response(revoke[0].1.id, HttpOutcome::Response(HttpResponse::new(204, Vec::new())), now());
        assert!(s.is_closed(Member::Dependent(lease)));
        let token_revoke = sends(&mut s);
        assert!(token_revoke[0].1.url.ends_with("revoke-self"), "{token_revoke:?}");
        s.handle_response(token_revoke[0].1.id, HttpOutcome::Response(HttpResponse::new(204, Vec::new())), now());
        assert!(s.is_shut_down());
    }
}
