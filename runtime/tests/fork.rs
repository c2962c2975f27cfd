//! Handles started before `fork()` keep working in the child (gunicorn
//! `--preload` forks after import; tokio's threads do not survive a fork).
//! A verifier and a Vault token (real OpenBao, 6 s tokens) are started, then
//! the process forks. The issuer rotates its key after the fork: the child
//! verifies a token signed with the new key (its kid needs a refetch, made
//! on the child's fresh runtime with a new HTTP client) and sees its Vault
//! token renewed; the parent does the same. Both exit cleanly.
//!
//! The servers run on the parent's own runtime thread, as services
//! elsewhere would; the child reaches them over loopback like any client.
//! One test in this binary: a fork copies only the forking thread.

#![allow(unsafe_code)]

use serde_json::json;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};
use tokenkeep::Verifier;
use tokenkeep::outbound::VaultToken;
use tokenkeep::spec::{VaultTokenSpec, VerifierSpec};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig};
use tokenkeep_dev_openbao::{DevOpenBao, JwtRole};

const AUD: &str = "api://fork";
const SUB: &str = "spiffe://example.org/app";
const VAULT_AUD: &str = "vault";
const TOKEN_TTL: u64 = 6;

/// What the child checks; its exit code says which failed (0: none).
fn child_checks(verifier: &Verifier, token: &VaultToken, new_token: &str) -> i32 {
    tokenkeep::after_fork_in_child();
    match verifier.verify_blocking(new_token, None) {
        Ok(v) if v.claims.subject() == Some(SUB) => {}
        Ok(_) => return 10,
        Err(e) => {
            eprintln!("child: {e} {:?}", verifier.health());
            return 11;
        }
    }
    if renewed_within(token, Duration::from_secs(2 * TOKEN_TTL)).is_none() {
        return 12;
    }
    if token.current().is_err() {
        return 13;
    }
    0
}

/// Waits until the token's expiry moves later (a renewal or a new login);
/// how long that took.
fn renewed_within(token: &VaultToken, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    let before = token.expires_at()?;
    while started.elapsed() < timeout {
        if token.expires_at().is_some_and(|e| e > before) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn verifier_and_vault_token_resume_in_a_forked_child_and_in_the_parent() {
    assert!(tokio::runtime::Handle::try_current().is_err(), "handles start from a plain thread here");
    let servers = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let issuer = servers
        .block_on(DevIssuer::start(DevIssuerConfig {
            jwks_max_age: Duration::from_secs(60),
            ..DevIssuerConfig::default()
        }))
        .expect("dev issuer");
    let bao = servers
        .block_on(DevOpenBao::start(None))
        .unwrap_or_else(|e| panic!("{e}. This test needs a real OpenBao (scripts/openbao.sh) and is never skipped."));
    servers.block_on(async {
        bao.enable_jwt_auth(issuer.issuer_url(), &issuer.jwks_url()).await.unwrap();
        bao.put_policy("app", "path \"secret/data/app/*\" { capabilities = [\"read\"] }").await.unwrap();
        bao.put_jwt_role(&JwtRole {
            name: "app".into(),
            bound_audience: VAULT_AUD.into(),
            bound_subject: SUB.into(),
            token_ttl: TOKEN_TTL,
            token_max_ttl: 600,
            policies: vec!["app".into()],
        })
        .await
        .unwrap();
    });
    let jwt_file = bao.dir().join("jwt");
    std::fs::write(
        &jwt_file,
        issuer.mint(json!({"sub": SUB, "aud": VAULT_AUD}), "ES256", Duration::from_secs(600)).unwrap(),
    )
    .unwrap();

    let spec: VerifierSpec = tokenkeep::spec::from_value(json!({
        "issuer": issuer.issuer_url(),
        "audience": AUD,
        "jwksUrl": issuer.jwks_url(),
        "cache": {"min_ttl": "1s", "miss_cooldown": "1s"},
    }))
    .unwrap();
    let verifier = Verifier::start(&spec).expect("verifier starts");
    assert!(verifier.ready_blocking(Duration::from_secs(10)), "{:?}", verifier.health());
    let token = VaultToken::start(&VaultTokenSpec {
        addr: Some(bao.addr().to_owned()),
        jwt_file: Some(jwt_file.display().to_string()),
        ..VaultTokenSpec::new("app")
    })
    .expect("vault token starts");
    token.ready_blocking(Duration::from_secs(10)).expect("first login");
    let before = issuer.mint(json!({"sub": SUB, "aud": AUD}), "ES256", Duration::from_secs(600)).unwrap();
    verifier.verify_blocking(&before, None).expect("verifies before the fork");
    // Fork while the background tasks wait (renewal in ~4 s, keys fresh for 60 s).
    std::thread::sleep(Duration::from_millis(300));

    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2); both descriptors are owned right after.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the descriptors were just returned by pipe(2) and are owned once each.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fork(2). The child touches only what this test set up (no lock
    // held across the fork: every task is asleep) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(write_end);
        let mut new_token = String::new();
        let code = match std::fs::File::from(read_end).read_to_string(&mut new_token) {
            Ok(_) => child_checks(&verifier, &token, &new_token),
            Err(_) => 20,
        };
        // SAFETY: ends the child without running the parent's destructors or the test harness.
        unsafe { libc::_exit(code) };
    }
    drop(read_end);

    // After the fork: the issuer publishes a new key; a token signed with it
    // names a kid neither process has.
    let rotated = issuer.rotate().expect("rotate");
    let after = issuer.mint(json!({"sub": SUB, "aud": AUD}), "ES256", Duration::from_secs(600)).unwrap();
    let mut pipe = std::fs::File::from(write_end);
    pipe.write_all(after.as_bytes()).unwrap();
    drop(pipe);

    let verified = verifier.verify_blocking(&after, None).expect("the parent verifies the new kid after a refetch");
    assert_eq!(verified.claims.subject(), Some(SUB));
    let renewed = renewed_within(&token, Duration::from_secs(2 * TOKEN_TTL)).expect("the parent's token renewed");

    let mut status = 0;
    // SAFETY: waits for the child this test forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let exited = libc::WIFEXITED(status);
    let code = libc::WEXITSTATUS(status);
    let renewals = bao.audit_counts().get("auth/token/renew-self").map_or(0, |c| c.total);
    println!(
        "fork: rotated to {rotated:?}; parent verified the new kid and saw its token renewed after {:.1} s; child exit \
         {code} (0: it verified the new kid and saw its token renewed); renew-self requests: {renewals}; JWKS requests: {}",
        renewed.as_secs_f64(),
        issuer.stats().jwks_requests()
    );
    assert!(exited && code == 0, "child failed check {code} (10/11: verify, 12: no renewal, 13: no token, 20: pipe)");
    assert!(renewals >= 2, "parent and child each renewed: {renewals}");
    verifier.close_blocking();
    token.close_blocking();
}
