//! The host surface as a binding sees it: handles started from plain threads
//! with no tokio runtime around them, from the options spec; blocking and
//! executor-agnostic async calls; the verified-token cache; rotations,
//! events, metrics and close. The dev issuer runs on a runtime of its own,
//! as an IdP would run elsewhere.

use serde_json::json;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tokenkeep::spec::{SpecErrorCode, VerifierSpec};
use tokenkeep::{Event, RejectionCode, UnixTime, Verifier};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, RunningIssuer};

const AUD: &str = "api://host-surface";

/// An IdP on its own runtime thread, like one running elsewhere.
struct Idp {
    issuer: RunningIssuer,
    _rt: tokio::runtime::Runtime,
}

fn idp(max_age: u64) -> Idp {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let issuer = rt
        .block_on(DevIssuer::start(DevIssuerConfig {
            jwks_max_age: Duration::from_secs(max_age),
            ..DevIssuerConfig::default()
        }))
        .expect("dev issuer starts");
    Idp { issuer, _rt: rt }
}

fn spec(idp: &Idp, extra: serde_json::Value) -> VerifierSpec {
    let mut doc = json!({
        "issuer": idp.issuer.issuer_url(),
        "audience": AUD,
        "jwksUrl": idp.issuer.jwks_url(),
        "cache": {"min_ttl": "1s", "miss_cooldown": "1s"},
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    tokenkeep::spec::from_value(doc).expect("spec parses")
}

fn mint(idp: &Idp, sub: &str) -> String {
    idp.issuer.mint(json!({"sub": sub, "aud": AUD}), "ES256", Duration::from_secs(600)).unwrap()
}

/// A minimal executor that is not tokio: the futures of the host surface
/// must run under any executor a binding brings (asyncio bridges, uniffi).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn plain_thread_start_verify_and_cache_hits() {
    assert!(tokio::runtime::Handle::try_current().is_err(), "this test runs outside tokio");
    let idp = idp(60);
    let verifier = Verifier::start(&spec(&idp, json!({}))).expect("verifier starts");
    assert!(verifier.ready_blocking(Duration::from_secs(10)), "{:?}", verifier.health());
    let token = mint(&idp, "alice");

    let first = verifier.verify_blocking(&token, None).expect("verifies");
    assert_eq!(first.claims.subject(), Some("alice"));
    // The exact token again: the same verified token, from the cache.
    let again = verifier.verify_cached(&token).expect("cached");
    assert!(Arc::ptr_eq(&first, &again), "a cache hit returns the token verified before");
    // A memo built once is reused on hits.
    let built = AtomicUsize::new(0);
    for _ in 0..3 {
        let hit = verifier.verify_cached(&token).unwrap();
        let memo = hit.memo(|v| {
            built.fetch_add(1, Ordering::SeqCst);
            v.claims.subject().unwrap_or_default().to_owned()
        });
        assert_eq!(memo.map(String::as_str), Some("alice"));
    }
    assert_eq!(built.load(Ordering::SeqCst), 1);
    // Read without building: the stored value, or nothing on a fresh token.
    assert_eq!(verifier.verify_cached(&token).unwrap().memoized::<String>().map(String::as_str), Some("alice"));
    assert!(verifier.verify_cached(&token).unwrap().memoized::<u32>().is_none(), "another type is not the memo");

    // `now` moves the token's time checks only: an hour later it is expired,
    // from the cache exactly as without it.
    let later = UnixTime::from_secs(UnixTime::from_millis(now_ms()).as_secs() + 3600);
    assert_eq!(verifier.verify_cached_at(&token, Some(later)).unwrap_err().code(), RejectionCode::Expired);
    assert_eq!(verifier.verify_blocking(&token, Some(later)).unwrap_err().code(), RejectionCode::Expired);
    // And valid again at the real time (a rejection is never cached).
    let current = verifier.verify_cached(&token).expect("valid now");

    // A tampered token never matches the cached one. (The last character of
    // a 64-byte signature carries 2 bits: A, Q, g and w are its canonical
    // forms; any other would be `malformed`.)
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'Q' } else { 'A' });
    assert_eq!(verifier.verify_cached(&tampered).unwrap_err().code(), RejectionCode::InvalidSignature);

    // The async twin under an executor that is not tokio.
    let v = block_on(verifier.verify(&token)).expect("verifies under any executor");
    assert!(Arc::ptr_eq(&v, &current));
    block_on(verifier.close());
    block_on(verifier.close());
    verifier.close_blocking();
    assert!(verifier.is_closed());
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn rotation_refetch_rotations_and_events() {
    let idp = idp(60);
    let verifier = Verifier::start(&spec(&idp, json!({}))).unwrap();
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = events.clone();
    verifier.events().add(move |e| sink.lock().unwrap().push(e.clone()));
    assert!(verifier.ready_blocking(Duration::from_secs(10)));
    let rotations = verifier.rotations();
    let seen = rotations.count();
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    rotations.on_rotation(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });

    idp.issuer.rotate().unwrap();
    // A token of the new key: unknown kid, one refetch, waited for on this thread.
    let token = mint(&idp, "bob");
    let verified = verifier.verify_blocking(&token, None).expect("verifies after one refetch");
    assert_eq!(verified.claims.subject(), Some("bob"));
    assert!(rotations.wait_blocking(seen, Duration::from_secs(5)).is_some(), "the key set changed");
    assert!(called.load(Ordering::SeqCst) >= 1, "rotation callback called");

    // A rejection reaches listeners as jwt_validation_failed with reason and kid, never the token.
    let forged = idp.issuer.mint_with_kid(
        json!({"sub": "eve", "aud": AUD}),
        "ES256",
        Duration::from_secs(60),
        "no-such-kid\u{1b}[31m",
    );
    let forged = forged.expect("mint");
    assert_eq!(verifier.verify_cached(&forged).unwrap_err().code(), RejectionCode::UnknownKid);
    let events = events.lock().unwrap().clone();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert!(names.contains(&"jwks_refreshed"), "{names:?}");
    let failed = events.iter().find(|e| e.name == "jwt_validation_failed").expect("rejection event");
    assert_eq!(failed.fields.get("reason"), Some(&tokenkeep::FieldValue::Str("unknown_kid".into())));
    match failed.fields.get("kid") {
        Some(tokenkeep::FieldValue::Str(kid)) => {
            assert!(kid.starts_with("no-such-kid") && !kid.contains('\u{1b}'), "{kid:?}")
        }
        other => panic!("kid field: {other:?}"),
    }
    let everything = format!("{events:?}");
    assert!(!everything.contains(&token) && !everything.contains(&forged), "no token in any event");

    // Metrics as plain data.
    let metrics = tokenkeep::metrics_snapshot();
    let invalid = metrics.family("auth_jwt_invalid_total").unwrap();
    assert!(
        invalid.samples.iter().any(|s| s.labels == [("reason".to_owned(), "unknown_kid".to_owned())] && s.value >= 1.0)
    );
    let keys = metrics.family("jwks_keys").unwrap();
    assert!(keys.samples.iter().any(|s| s.labels[0].1 == idp.issuer.issuer_url() && s.value >= 2.0), "{keys:?}");
    assert!(
        metrics.to_prometheus_text().contains("jwt_validation_duration_seconds_bucket{result=\"valid\",le=\"+Inf\"}")
    );

    // refresh(): one fetch now, then the cooldown (1 s here) holds the next.
    let before = idp.issuer.stats().jwks_requests();
    std::thread::sleep(Duration::from_millis(1100));
    assert!(verifier.refresh(), "a refresh after the cooldown starts a fetch");
    let deadline = Instant::now() + Duration::from_secs(5);
    while idp.issuer.stats().jwks_requests() == before {
        assert!(Instant::now() < deadline, "refresh fetched");
        std::thread::sleep(Duration::from_millis(20));
    }
    while verifier.health()[0].cache.state != tokenkeep::CacheState::Fresh {
        assert!(Instant::now() < deadline, "refresh answered");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!verifier.refresh(), "a second one within the cooldown does not");
    verifier.close_blocking();
    assert_eq!(rotations.wait_blocking(u64::MAX - 1, Duration::from_secs(5)), None, "close ends waits at once");
}

#[test]
fn bad_specs_name_the_field() {
    let cases = [
        (json!({"issuer": "https://i.example", "audiance": "x"}), "audiance", SpecErrorCode::UnknownField),
        (
            json!({"issuer": "https://i.example", "http": {"ca_file": "/nonexistent/ca.pem"}}),
            "http.ca_file",
            SpecErrorCode::FileUnreadable,
        ),
        (
            json!({"issuers": [{"issuer": "https://i.example"}, {"issuer": "https://j.example", "jwks_url": "ftp://j.example/k"}]}),
            "issuers[1].jwks_url",
            SpecErrorCode::InvalidUrl,
        ),
    ];
    for (doc, path, code) in cases {
        let err = tokenkeep::spec::from_value::<VerifierSpec>(doc.clone())
            .and_then(|s| Verifier::start(&s).map(|_| ()))
            .unwrap_err();
        assert_eq!((err.path(), err.code()), (path, code), "{doc}: {err}");
    }
}

/// A host that forwards every event (Python's logging bridge) registers its
/// callbacks at start: the first `credential_obtained` of an outbound handle
/// reaches them even when the first read completes before `start` returns.
#[test]
fn outbound_listeners_given_at_start_see_the_first_event() {
    use tokenkeep::Listeners;
    use tokenkeep::outbound::{FileToken, HmacKeyring};
    let idp = idp(300);
    let dir = tempfile::tempdir().unwrap();
    let jwt_path = dir.path().join("jwt");
    std::fs::write(&jwt_path, mint(&idp, "file-token")).unwrap();
    let key_path = dir.path().join("hmac");
    std::fs::write(&key_path, "k".repeat(48)).unwrap();
    let runtime = tokenkeep::Runtime::global();

    let recording = || {
        let seen = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let listeners = Listeners::default();
        let to = seen.clone();
        listeners.add(move |e: &Event| to.lock().unwrap().push((e.name.clone(), e.source_kind.clone())));
        (listeners, seen)
    };

    let (listeners, file_seen) = recording();
    let spec = tokenkeep::spec::from_value(json!({"path": jwt_path.display().to_string()})).unwrap();
    let file = FileToken::start_on_with_listeners(&runtime, &spec, listeners).unwrap();
    file.ready_blocking(Duration::from_secs(10)).expect("the token file is read");

    let (listeners, ring_seen) = recording();
    let spec = tokenkeep::spec::from_value(json!({"file": key_path.display().to_string()})).unwrap();
    let ring = HmacKeyring::start_on_with_listeners(&runtime, &spec, None, listeners).unwrap();
    ring.ready_blocking(Duration::from_secs(10)).expect("the key file is read");

    // The events are emitted before `ready` is released, so they are recorded
    // by now, from the very first one (the file read's attempt).
    for (seen, kind, first) in
        [(&file_seen, "file_token", "credential_attempt_started"), (&ring_seen, "hmac_keyring", "credential_obtained")]
    {
        let seen = seen.lock().unwrap().clone();
        assert!(seen.first().is_some_and(|(name, k)| name == first && k == kind), "{kind}: events seen {seen:?}");
        assert!(seen.iter().any(|(name, _)| name == "credential_obtained"), "{kind}: events seen {seen:?}");
    }
    file.close_blocking();
    ring.close_blocking();
}
