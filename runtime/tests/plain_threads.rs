//! Runs `examples/plain_threads.rs` (every handle from plain threads, no
//! async code) against servers this test starts: the dev issuer, a real
//! OpenBao whose JWT auth trusts it, and a real PostgreSQL behind OpenBao's
//! database engine. The example must verify, read every credential, see a
//! rotation and close; OpenBao's audit log must show the lease and the token
//! revoked; its output must hold no secret.

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig};
use tokenkeep_dev_openbao::{DevOpenBao, JwtRole, random_hex};
use tokenkeep_dev_postgres::DevPostgres;

const SUB: &str = "spiffe://example.org/app";
const VAULT_AUD: &str = "vault";
const API_AUD: &str = "api://example";

/// The example's binary, built by `cargo test` next to the test binaries
/// (built here when a run skipped it).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_path_buf();
    let binary = profile_dir.join("examples").join("plain_threads");
    if !binary.is_file() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "tokenkeep", "--example", "plain_threads"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the example failed");
    }
    binary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_threads_example_runs_every_handle_on_real_servers() {
    let issuer = DevIssuer::start(DevIssuerConfig::default()).await.expect("dev issuer");
    let pg = tokio::task::spawn_blocking(|| DevPostgres::start(&format!("pg-{}", random_hex())))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}. This test needs a real PostgreSQL and is never skipped."));
    let bao = DevOpenBao::start(None)
        .await
        .unwrap_or_else(|e| panic!("{e}. This test needs a real OpenBao (scripts/openbao.sh) and is never skipped."));
    bao.enable_jwt_auth(issuer.issuer_url(), &issuer.jwks_url()).await.unwrap();
    bao.put_policy(
        "app",
        "path \"secret/data/app/*\" { capabilities = [\"read\"] }\n\
         path \"database/creds/app\" { capabilities = [\"read\"] }\n\
         path \"sys/leases/renew\" { capabilities = [\"update\"] }\n\
         path \"sys/leases/revoke\" { capabilities = [\"update\"] }",
    )
    .await
    .unwrap();
    // Tokens of seconds: a new login (a rotation) comes within the example's run.
    bao.put_jwt_role(&JwtRole {
        name: "app".into(),
        bound_audience: VAULT_AUD.into(),
        bound_subject: SUB.into(),
        token_ttl: 3,
        token_max_ttl: 6,
        policies: vec!["app".into()],
    })
    .await
    .unwrap();
    bao.enable_postgres_role(&pg.openbao_connection_url(), ("postgres", pg.password()), "app", 10, 30).await.unwrap();
    let (password, hmac_key) = (format!("pw-{}", random_hex()), format!("hmac-{}", random_hex()));
    bao.kv_put("app/config", json!({"password": password, "hmac_key": hmac_key})).await.unwrap();

    let jwt_file = bao.dir().join("jwt");
    let jwt = issuer.mint(json!({"sub": SUB, "aud": VAULT_AUD}), "ES256", Duration::from_secs(600)).unwrap();
    std::fs::write(&jwt_file, &jwt).unwrap();
    let token = issuer.mint(json!({"sub": SUB, "aud": API_AUD}), "ES256", Duration::from_secs(600)).unwrap();

    let run = tokio::process::Command::new(example_binary())
        .env("VAULT_ADDR", bao.addr())
        .env_remove("VAULT_NAMESPACE")
        .env_remove("VAULT_CACERT")
        .env("TOKENKEEP_ISSUER", issuer.issuer_url())
        .env("TOKENKEEP_AUDIENCE", API_AUD)
        .env("TOKENKEEP_TOKEN", &token)
        .env("TOKENKEEP_JWT_FILE", &jwt_file)
        .kill_on_drop(true)
        .output();
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await.expect("the example finished").unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("plain_threads example ({:.1} s):\n{stdout}{stderr}", took.as_secs_f64());
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status);
    for line in [
        format!("verified a token of {SUB}"),
        "vault token obtained (fresh)".to_owned(),
        "kv secret app/config, version 1".to_owned(),
        "request signed and verified with HMAC key version 1".to_owned(),
        "(callback) vault token rotation".to_owned(),
        "database credential replaced under the new token".to_owned(),
        "closed: lease and token revoked".to_owned(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
    for secret in [&password, &hmac_key, &jwt, &token] {
        assert!(!stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()), "a secret in the output");
    }

    let audit = bao.audit_counts();
    let count = |p: &str| audit.get(p).map_or((0, 0), |c| (c.total, c.failed));
    let (logins, _) = count("auth/jwt/login");
    let (lease_reads, _) = count("database/creds/app");
    let (lease_revokes, revoke_failures) = count("sys/leases/revoke");
    let (token_revokes, token_revoke_failures) = count("auth/token/revoke-self");
    println!(
        "audit: logins={logins}, lease reads={lease_reads}, lease revokes={lease_revokes} (failed {revoke_failures}), \
         token revokes={token_revokes} (failed {token_revoke_failures})"
    );
    assert!(logins >= 2, "a new login during the run");
    assert!(lease_reads >= 2 && lease_revokes >= lease_reads - 1, "every lease read revoked in the end or replaced");
    assert_eq!((revoke_failures, token_revoke_failures), (0, 0));
    assert!(token_revokes >= 1, "the token revoked on close");
}
