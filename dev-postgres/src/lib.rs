//! A throwaway PostgreSQL cluster for the tests: Debian's server binaries
//! (`scripts/postgres.sh` installs them), `initdb` with scram-sha-256
//! password authentication, listening on a free loopback port only, stopped
//! and deleted on drop. Real authentication matters: a credential whose
//! lease was revoked must really fail to connect.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Why the cluster could not be created or started.
#[derive(Debug, thiserror::Error)]
pub enum DevPostgresError {
    /// No `initdb`/`pg_ctl` where they are looked for.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $TOKENKEEP_PG_BIN or /usr/lib/postgresql/*/bin: \
         run scripts/postgres.sh (apt-get install postgresql)"
    )]
    BinariesNotFound,
    /// A step (`chown`, `initdb`, `pg_ctl start`) failed; what it printed.
    #[error("{step}: {detail}")]
    Step {
        /// The step.
        step: &'static str,
        /// Its output.
        detail: String,
    },
    /// A file in the cluster's directory could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The directory holding `initdb` and `pg_ctl`: `$TOKENKEEP_PG_BIN`, else
/// the newest `/usr/lib/postgresql/<version>/bin`.
pub fn server_binaries() -> Result<PathBuf, DevPostgresError> {
    if let Some(p) = std::env::var_os("TOKENKEEP_PG_BIN") {
        let p = PathBuf::from(p);
        return if p.join("initdb").is_file() { Ok(p) } else { Err(DevPostgresError::BinariesNotFound) };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).ok_or(DevPostgresError::BinariesNotFound)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `program` as the `postgres` user (initdb refuses to run as root).
fn as_postgres(program: &Path, args: &[&str]) -> std::io::Result<Output> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "-u", "postgres", "--"]);
        c
    };
    cmd.arg(program).args(args).current_dir("/").output()
}

fn step(step: &'static str, out: &Output) -> Result<(), DevPostgresError> {
    if out.status.success() {
        return Ok(());
    }
    let detail = format!("{} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Err(DevPostgresError::Step { step, detail: detail.trim().to_owned() })
}

fn free_port() -> Result<u16, DevPostgresError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running cluster. `Debug` hides the superuser password.
pub struct DevPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    password: String,
}

impl fmt::Debug for DevPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevPostgres").field("port", &self.port).field("password", &"<redacted>").finish()
    }
}

impl DevPostgres {
    /// Creates a cluster whose superuser `postgres` has `password`, and
    /// starts it on a free loopback port (another process may take a probed
    /// port first: then it tries another, 5 times).
    pub fn start(password: &str) -> Result<DevPostgres, DevPostgresError> {
        let bin = server_binaries()?;
        let dir = tempfile::Builder::new().prefix("tokenkeep-postgres-").tempdir()?;
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{password}\n"))?;
        let mut chown = if is_root() {
            Command::new("chown")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "chown"]);
            c
        };
        step("chown", &chown.args(["-R", "postgres:postgres"]).arg(dir.path()).output()?)?;
        let data = dir.path().join("data");
        let data_arg = data.to_string_lossy().into_owned();
        let pwfile_arg = format!("--pwfile={}", pwfile.display());
        let initdb = as_postgres(
            &bin.join("initdb"),
            &["-D", &data_arg, "-U", "postgres", "-A", "scram-sha-256", &pwfile_arg, "--no-sync"],
        )?;
        step("initdb", &initdb)?;
        let mut last = None;
        for attempt in 1..=5 {
            let port = free_port()?;
            let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {}", dir.path().display());
            let log = dir.path().join(format!("postgres-{attempt}.log")).to_string_lossy().into_owned();
            let start = as_postgres(
                &bin.join("pg_ctl"),
                &["-D", &data_arg, "-l", &log, "-w", "-t", "30", "-o", &options, "start"],
            )?;
            match step("pg_ctl start", &start) {
                Ok(()) => return Ok(DevPostgres { bin, dir, port, password: password.to_owned() }),
                Err(e) => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    last = Some(DevPostgresError::Step { step: "pg_ctl start", detail: format!("{e}; {tail}") });
                }
            }
        }
        Err(last.unwrap_or(DevPostgresError::BinariesNotFound))
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password (a secret: never print it).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Logs in as `user` with `password` over TCP, as an application would,
    /// and runs `SELECT 1`. A refusal comes back as the server's SQLSTATE and
    /// message (`28P01: password authentication failed …`). Needs a tokio runtime.
    pub async fn login(&self, user: &str, password: &str) -> Result<(), String> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("postgres")
            .connect_timeout(std::time::Duration::from_secs(5));
        let explain = |e: tokio_postgres::Error| {
            e.as_db_error().map_or_else(|| e.to_string(), |d| format!("{}: {}", d.code().code(), d.message()))
        };
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(explain)?;
        let task = tokio::spawn(connection);
        let answer = client.simple_query("SELECT 1").await.map(|_| ()).map_err(explain);
        drop(client);
        let _ = task.await;
        answer
    }

    /// `postgresql://{{username}}:{{password}}@127.0.0.1:<port>/postgres?sslmode=disable`,
    /// the template OpenBao's database secrets engine fills in.
    pub fn openbao_connection_url(&self) -> String {
        format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", self.port)
    }
}

impl Drop for DevPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let _ = as_postgres(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}
