//! `tokenkeep dev-stack`: the one launcher every host's tests share. A dev
//! issuer, a real OpenBao whose JWT auth trusts it (KV v2, a file audit
//! device) and, with `--postgres`, a real PostgreSQL behind OpenBao's
//! database engine; one JSON line describes them, then it runs until SIGINT,
//! SIGTERM or (with `--stop-on-stdin-eof`) the parent closing its stdin.
//!
//! Python, Node and JVM suites start this instead of writing launchers of
//! their own; the Rust suites use the same crates (`dev-issuer`,
//! `dev-openbao`, `dev-postgres`) directly.

use crate::output::{self, Failure, Output};
use crate::stop_signal::StopSignal;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig};
use tokenkeep_dev_openbao::{DevOpenBao, JwtRole, random_hex};
use tokenkeep_dev_postgres::DevPostgres;

/// The JWT role tests log in as, and what its JWTs must carry.
const ROLE: &str = "app";
const SUBJECT: &str = "app";
const AUDIENCE: &str = "openbao";
/// What the role's tokens may do: read KV, read database credentials, renew
/// and revoke their leases (token self-service comes with the default policy).
const POLICY: &str = r#"
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;

/// Arguments of `tokenkeep dev-stack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also start PostgreSQL and OpenBao's database engine (`database/creds/app`).
    #[arg(long)]
    postgres: bool,
    /// `token_ttl` of the role's Vault tokens.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = output::parse_duration)]
    token_ttl: Duration,
    /// `token_max_ttl` of the role's Vault tokens.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = output::parse_duration)]
    token_max_ttl: Duration,
    /// `default_ttl` of database credentials.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = output::parse_duration)]
    lease_ttl: Duration,
    /// `max_ttl` of database credentials.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = output::parse_duration)]
    lease_max_ttl: Duration,
    /// `Cache-Control: max-age` of the issuer's JWKS.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = output::parse_duration)]
    jwks_max_age: Duration,
    /// Stop when standard input reaches end of file (start it with a pipe as
    /// stdin, so the stack dies with the test process that started it).
    #[arg(long)]
    stop_on_stdin_eof: bool,
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    super::init_stderr_logging("warn");
    let runtime = super::async_runtime()?;
    runtime.block_on(serve(args, out))
}

fn failed(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::usage("dev_stack_failed", format!("{what}: {e}"))
}

async fn serve(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let stop = StopSignal::install();
    let issuer = DevIssuer::start(DevIssuerConfig { jwks_max_age: args.jwks_max_age, ..DevIssuerConfig::default() })
        .await
        .map_err(|e| failed("dev issuer", e))?;
    let bao = DevOpenBao::start(None).await.map_err(|e| failed("OpenBao", e))?;
    bao.enable_jwt_auth(issuer.issuer_url(), &issuer.jwks_url()).await.map_err(|e| failed("OpenBao JWT auth", e))?;
    bao.put_policy(ROLE, POLICY).await.map_err(|e| failed("OpenBao policy", e))?;
    bao.put_jwt_role(&JwtRole {
        name: ROLE.into(),
        bound_audience: AUDIENCE.into(),
        bound_subject: SUBJECT.into(),
        token_ttl: args.token_ttl.as_secs().max(1),
        token_max_ttl: args.token_max_ttl.as_secs().max(1),
        policies: vec![ROLE.into()],
    })
    .await
    .map_err(|e| failed("OpenBao JWT role", e))?;

    let mut postgres_info = Value::Null;
    let postgres = if args.postgres {
        let password = random_hex();
        let cluster = tokio::task::spawn_blocking(move || DevPostgres::start(&password))
            .await
            .map_err(|e| failed("PostgreSQL", e))?
            .map_err(|e| failed("PostgreSQL", e))?;
        bao.enable_postgres_role(
            &cluster.openbao_connection_url(),
            ("postgres", cluster.password()),
            ROLE,
            args.lease_ttl.as_secs().max(1),
            args.lease_max_ttl.as_secs().max(1),
        )
        .await
        .map_err(|e| failed("OpenBao database engine", e))?;
        postgres_info = json!({
            "host": "127.0.0.1",
            "port": cluster.port(),
            "database": "postgres",
            "admin_user": "postgres",
            "admin_password": cluster.password(),
            "lease_path": "database/creds/app",
        });
        Some(cluster)
    } else {
        None
    };

    // One line, so a parent process can read it as soon as it appears.
    // Through Output: a parent that closed the pipe ends it quietly, never a panic.
    out.print_json_line(&json!({
        "issuer": {
            "url": issuer.issuer_url(),
            "jwks_url": issuer.jwks_url(),
            "discovery_url": issuer.discovery_url(),
            "token_url": issuer.token_url(),
        },
        "openbao": {
            "addr": bao.addr(),
            "root_token": bao.root_token(),
            "auth_mount": "jwt",
            "role": ROLE,
            "jwt_subject": SUBJECT,
            "jwt_audience": AUDIENCE,
            "kv_mount": "secret",
            "audit_log": bao.audit_log().display().to_string(),
        },
        "postgres": postgres_info,
    }));

    if args.stop_on_stdin_eof {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            // Whatever a parent writes is read and dropped; only the end matters.
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin().lock();
            while matches!(std::io::Read::read(&mut stdin, &mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
        tokio::select! {
            () = stop.wait() => {}
            _ = rx => {}
        }
    } else {
        stop.wait().await;
    }
    drop(postgres);
    drop(bao);
    issuer.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
