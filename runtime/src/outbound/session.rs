//! The task that drives one core [`VaultSession`]: the Vault token and every
//! secret and lease read with it. The wiring between them (a new token
//! reaching each dependent with its exact expiry, a 403 asking for one
//! login, leases revoked before the token on close) is the core's; this task
//! only sends requests (several at once), reads JWTs, and publishes what the
//! session holds for lock-free readers.

use super::slot::{Published, Slot};
use super::telemetry;
use super::vault_token::JwtSource;
use super::{CredentialKind, SecretToken};
use crate::clock;
use crate::host::{self, Place, Task};
use crate::http::{HttpClient, HttpOptions};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{Event, SecretString};
use tokenkeep_core::http::{HttpOutcome, RequestId};
use tokenkeep_core::vault::{JwtErrorCode, KvSecret, LeasedSecret};
use tokenkeep_core::vault_session::{DependentId, Member, SessionAction, VaultSession};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where a dependent's values are published.
#[derive(Clone)]
pub(crate) enum DepSlot {
    Kv(Arc<Slot<Arc<KvSecret>>>),
    Lease(Arc<Slot<Arc<LeasedSecret>>>),
}

impl DepSlot {
    fn listeners_and_name(&self) -> (&crate::events::Listeners, &str, CredentialKind) {
        match self {
            DepSlot::Kv(s) => (&s.listeners, &s.name, s.kind),
            DepSlot::Lease(s) => (&s.listeners, &s.name, s.kind),
        }
    }

    fn rotations(&self) -> &crate::signal::Rotations {
        match self {
            DepSlot::Kv(s) => &s.rotations,
            DepSlot::Lease(s) => &s.rotations,
        }
    }

    pub(crate) fn mark_closed(&self) {
        match self {
            DepSlot::Kv(s) => s.mark_closed(),
            DepSlot::Lease(s) => s.mark_closed(),
        };
    }
}

/// One session and what its task needs.
pub(crate) struct SessionHost {
    pub(crate) session: Mutex<VaultSession>,
    pub(crate) token: Arc<Slot<SecretToken>>,
    deps: Mutex<Vec<(DependentId, DepSlot)>>,
    jwt: JwtSource,
    http: HttpOptions,
    /// The Vault address: the one origin the transport's credentials may go to.
    origin: String,
    first_client: Mutex<Option<HttpClient>>,
    wake: host::TaskWake,
    pub(crate) cancel: CancellationToken,
    task: OnceLock<Arc<Task>>,
}

impl SessionHost {
    /// Starts the session's task at `place`.
    pub(crate) fn start(
        session: VaultSession,
        token: Arc<Slot<SecretToken>>,
        jwt: JwtSource,
        http: HttpOptions,
        origin: String,
        client: HttpClient,
        place: Place,
    ) -> Arc<SessionHost> {
        let host = Arc::new(SessionHost {
            session: Mutex::new(session),
            token,
            deps: Mutex::new(Vec::new()),
            jwt,
            http,
            origin,
            first_client: Mutex::new(Some(client)),
            wake: host::TaskWake::new(),
            cancel: CancellationToken::new(),
            task: OnceLock::new(),
        });
        let weak: Weak<SessionHost> = Arc::downgrade(&host);
        let task = Task::start(place, move || {
            let host = weak.upgrade();
            // Before the task runs: after a fork, the wake-up and the
            // requests in flight are the parent's (see `client_for_run`).
            let client = host.as_ref().map(|h| h.client_for_run());
            async move {
                if let (Some(host), Some(client)) = (host, client) {
                    run(host, client).await;
                }
            }
        });
        let _ = host.task.set(task);
        host
    }

    /// The place handles of this session run (dependents join it).
    pub(crate) fn ensure_task(&self) {
        if let Some(task) = self.task.get() {
            host::Respawn::respawn_if_forked(task.as_ref());
        }
    }

    /// Changes the session (from any thread) and lets the task act on it.
    pub(crate) fn with_session<R>(&self, f: impl FnOnce(&mut VaultSession, UnixTime) -> R) -> R {
        self.ensure_task();
        let r = f(&mut host::lock(&self.session), clock::now());
        self.wake.notify();
        r
    }

    /// Reads the session (from any thread).
    pub(crate) fn peek<R>(&self, f: impl FnOnce(&VaultSession, UnixTime) -> R) -> R {
        self.ensure_task();
        f(&host::lock(&self.session), clock::now())
    }

    pub(crate) fn register(&self, id: DependentId, slot: DepSlot) {
        host::lock(&self.deps).push((id, slot));
        self.wake.notify();
    }

    pub(crate) fn unregister(&self, id: DependentId) {
        host::lock(&self.deps).retain(|(d, _)| *d != id);
    }

    /// The client for this run of the task: the one built (and checked) at
    /// start, or after a fork a new one (pooled connections belong to the
    /// parent) with every request of the parent forgotten.
    fn client_for_run(&self) -> HttpClient {
        if let Some(c) = host::lock(&self.first_client).take() {
            return c;
        }
        self.wake.renew();
        host::lock(&self.session).forget_in_flight(clock::now());
        HttpClient::for_origin(&self.http, &self.origin).unwrap_or_else(|_| HttpClient::fallback())
    }
}

/// What a step of the session produced, applied once its lock is released
/// (callbacks may call back into the handles).
struct Effects {
    events: Vec<(Member, Event)>,
    token: Published<SecretToken>,
    deps: Vec<(DepSlot, Option<DepValue>)>,
    now: UnixTime,
}

enum DepValue {
    Kv(Published<Arc<KvSecret>>),
    Lease(Published<Arc<LeasedSecret>>),
}

fn collect(host: &SessionHost, s: &mut VaultSession, now: UnixTime) -> Effects {
    let events: Vec<(Member, Event)> = std::iter::from_fn(|| s.poll_event()).collect();
    let due_at = s.poll_timeout();
    let t = s.token();
    let health = t.health(now);
    let old = host.token.load();
    let value = t.current(now).map(|tok| {
        let same = old.value.as_ref().filter(|v| v.expose() == tok.expose()).cloned();
        (same.unwrap_or_else(|| SecretToken::new(tok.expose())), t.expires_at())
    });
    let token = Published::of(value, health.state, health.last_error_code, due_at);
    let deps = host::lock(&host.deps)
        .iter()
        .map(|(id, slot)| {
            let value = match slot {
                DepSlot::Kv(kv_slot) => s.kv(*id).map(|m| {
                    let h = m.health(now);
                    let old = kv_slot.load();
                    let value = m.current(now).map(|secret| {
                        let same =
                            old.value.as_ref().filter(|v| v.version == secret.version && ***v == *secret).cloned();
                        (same.unwrap_or_else(|| Arc::new(secret.clone())), None)
                    });
                    DepValue::Kv(Published::of(value, h.state, h.last_error_code, due_at))
                }),
                DepSlot::Lease(lease_slot) => s.lease(*id).map(|m| {
                    let h = m.health(now);
                    let old = lease_slot.load();
                    let value = m.current(now).map(|lease| {
                        let same =
                            old.value.as_ref().filter(|v| v.lease_id() == lease.lease_id() && ***v == *lease).cloned();
                        (same.unwrap_or_else(|| Arc::new(lease.clone())), m.expires_at())
                    });
                    DepValue::Lease(Published::of(value, h.state, h.last_error_code, due_at))
                }),
            };
            (slot.clone(), value)
        })
        .collect();
    Effects { events, token, deps, now }
}

fn apply(host: &SessionHost, effects: Effects) {
    let Effects { events, token, deps, now } = effects;
    host.token.publish(token);
    for (slot, value) in &deps {
        match (slot, value) {
            (DepSlot::Kv(s), Some(DepValue::Kv(p))) => s.publish(clone_published(p)),
            (DepSlot::Lease(s), Some(DepValue::Lease(p))) => s.publish(clone_published(p)),
            // Gone from the session: it finished closing.
            (slot, None) => slot.mark_closed(),
            _ => {}
        }
    }
    let mut rotated: Vec<Member> = Vec::new();
    let deps_now = host::lock(&host.deps).clone();
    for (member, event) in &events {
        let new_value = matches!(event, Event::Obtained { .. } | Event::Expired);
        match member {
            Member::Token => {
                telemetry::emit(CredentialKind::VaultToken, &host.token.name, event, now, &host.token.listeners);
            }
            Member::Dependent(id) => {
                let Some((_, slot)) = deps_now.iter().find(|(d, _)| d == id) else { continue };
                let (listeners, name, kind) = slot.listeners_and_name();
                telemetry::emit(kind, name, event, now, listeners);
                // A KV secret has no expiry: only a new version is a rotation.
                if kind == CredentialKind::VaultSecret && !matches!(event, Event::Obtained { .. }) {
                    continue;
                }
            }
        }
        if new_value && !rotated.contains(member) {
            rotated.push(*member);
        }
    }
    for member in rotated {
        match member {
            Member::Token => {
                host.token.rotations.bump();
            }
            Member::Dependent(id) => {
                if let Some((_, slot)) = deps_now.iter().find(|(d, _)| *d == id) {
                    slot.rotations().bump();
                }
            }
        }
    }
    let closed: Vec<DependentId> =
        deps.iter().filter(|(_, v)| v.is_none()).filter_map(|(slot, _)| find_id(&deps_now, slot)).collect();
    if !closed.is_empty() {
        host::lock(&host.deps).retain(|(id, _)| !closed.contains(id));
    }
}

fn find_id(deps: &[(DependentId, DepSlot)], slot: &DepSlot) -> Option<DependentId> {
    deps.iter()
        .find(|(_, s)| match (s, slot) {
            (DepSlot::Kv(a), DepSlot::Kv(b)) => Arc::ptr_eq(a, b),
            (DepSlot::Lease(a), DepSlot::Lease(b)) => Arc::ptr_eq(a, b),
            _ => false,
        })
        .map(|(id, _)| *id)
}

fn clone_published<T: Clone>(p: &Published<T>) -> Published<T> {
    Published { value: p.value.clone(), expires_at: p.expires_at, error: p.error, fatal: p.fatal, due_at: p.due_at }
}

/// Reads a JWT for a login: the freshest the source has, checked by the core's rule.
/// Sends one Vault request. When Vault refuses it, the reason it gave
/// (`errors[]`, any secret of the request redacted: see
/// [`tokenkeep_core::vault::error_reason`]) goes to the log beside the
/// machine's code, so `invalid_request` says which claim or role was wrong.
async fn send_to_vault(client: &HttpClient, request: tokenkeep_core::http::HttpRequest) -> HttpOutcome {
    let sent = request.clone();
    let outcome = client.execute(request).await;
    if let HttpOutcome::Response(r) = &outcome {
        if let Some(reason) = tokenkeep_core::vault::error_reason(r, &sent) {
            tracing::warn!(target: "tokenkeep::outbound", status = r.status, url = %sent.url, reason = %reason, "Vault refused the request");
        }
    }
    outcome
}

async fn read_jwt(source: JwtSource, now: UnixTime) -> Result<SecretString, JwtErrorCode> {
    source.read(now).await
}

async fn run(host: Arc<SessionHost>, client: HttpClient) {
    let mut requests: JoinSet<(RequestId, HttpOutcome)> = JoinSet::new();
    let mut jwt_reads: JoinSet<Result<SecretString, JwtErrorCode>> = JoinSet::new();
    let mut want_jwt = false;
    loop {
        let now = clock::now();
        // Cheap sources (a file, a token-file handle) are read before every
        // due attempt, so each login uses the freshest JWT.
        let due = host.jwt.is_cheap() && jwt_reads.is_empty() && {
            let s = host::lock(&host.session);
            !s.is_closing(Member::Token) && s.token().machine().next_attempt_at().is_some_and(|t| t <= now)
        };
        if due {
            if let Ok(jwt) = host.jwt.read(now).await {
                want_jwt = false;
                host::lock(&host.session).handle_jwt(jwt.expose(), clock::now());
            }
        }
        let (actions, effects, sleep_for, finished) = {
            let mut s = host::lock(&host.session);
            let now = clock::now();
            s.handle_timeout(now);
            let actions: Vec<SessionAction> = std::iter::from_fn(|| s.poll_action()).collect();
            let effects = collect(&host, &mut s, now);
            let sleep_for = s.poll_timeout().map_or(Duration::from_secs(3600), clock::until);
            if s.is_closing(Member::Token) {
                want_jwt = false;
            }
            (actions, effects, sleep_for, s.is_shut_down())
        };
        apply(&host, effects);
        if finished {
            for (_, slot) in host::lock(&host.deps).drain(..) {
                slot.mark_closed();
            }
            host.token.mark_closed();
            return;
        }
        for action in actions {
            match action {
                SessionAction::Send { request, .. } => {
                    let client = client.clone();
                    requests.spawn(async move {
                        let id = request.id;
                        (id, send_to_vault(&client, request).await)
                    });
                }
                SessionAction::NeedJwt => want_jwt = true,
                _ => {}
            }
        }
        if want_jwt && jwt_reads.is_empty() {
            jwt_reads.spawn(read_jwt(host.jwt.clone(), clock::now()));
        }
        let wake_at = tokio::time::Instant::now() + sleep_for;
        tokio::select! {
            Some(done) = requests.join_next(), if !requests.is_empty() => {
                if let Ok((id, outcome)) = done {
                    host::lock(&host.session).handle_response(id, outcome, clock::now());
                }
            }
            Some(done) = jwt_reads.join_next(), if !jwt_reads.is_empty() => {
                match done {
                    Ok(Ok(jwt)) => {
                        want_jwt = false;
                        host::lock(&host.session).handle_jwt(jwt.expose(), clock::now());
                    }
                    Ok(Err(code)) => {
                        // A failed attempt: the next one follows the credential backoff.
                        want_jwt = false;
                        tracing::warn!(target: "tokenkeep::outbound", source = "vault_token", name = %host.token.name, event = "jwt_unavailable", error = code.as_str(), "no usable JWT for the login");
                        host::lock(&host.session).handle_jwt_unavailable(code, clock::now());
                    }
                    Err(_) => {
                        want_jwt = false;
                        host::lock(&host.session).handle_jwt_unavailable(JwtErrorCode::ProviderFailed, clock::now());
                    }
                }
            }
            () = tokio::time::sleep_until(wake_at) => {}
            () = host.wake.notified() => {}
            () = host.cancel.cancelled() => {
                requests.abort_all();
                return;
            }
        }
    }
}
