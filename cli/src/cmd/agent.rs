//! `tokenkeep agent`: keeps credentials fresh in files for software that
//! cannot link tokenkeep. The work is in [`crate::agent`]; this is the
//! command line and the process around it (logging, the async runtime).

use crate::agent;
use crate::output::{Failure, Output};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `tokenkeep agent`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  tokenkeep agent --vault-addr https://vault:8200 --role app --jwt-file /var/run/secrets/tokens/vault-jwt \\
      --token-sink /run/tokenkeep/vault-token --kv secret/app/config=/run/tokenkeep/app-config.json \\
      --health-listen 127.0.0.1:8787 --revoke-on-exit
  tokenkeep agent --config /etc/tokenkeep/agent.toml

Sinks are written atomically with mode 0600 when a value first arrives and again on every rotation.
One line goes to stdout when every sink has been written (with --json, a JSON line with the health URL).
SIGTERM or SIGINT stops the agent (leases first, then the token; revoked with --revoke-on-exit); exit 0.
Exit 2: a usage or configuration error.")]
pub struct Args {
    /// TOML file with every setting: several secrets, leases, token files, HMAC keyrings, commands run on rotation
    /// (the schema is in the README). Flags override its [vault] table; --kv adds to its [[kv]] tables.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Vault/OpenBao address (default: VAULT_ADDR, then BAO_ADDR).
    #[arg(long, value_name = "URL")]
    vault_addr: Option<String>,
    /// JWT auth role to log in as.
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,
    /// The JWT to log in with (read anew before every login: a projected token, a JWT-SVID).
    #[arg(long, value_name = "PATH")]
    jwt_file: Option<PathBuf>,
    /// Mount of the JWT auth method [default: jwt].
    #[arg(long, value_name = "MOUNT")]
    auth_mount: Option<String>,
    /// Vault Enterprise / OpenBao namespace (default: VAULT_NAMESPACE, then BAO_NAMESPACE).
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// CA bundle to trust for Vault (default: VAULT_CACERT, then BAO_CACERT, then the system roots).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Write the Vault token here, again after every new login (renewals keep the same token).
    #[arg(long, value_name = "PATH")]
    token_sink: Option<PathBuf>,
    /// A KV v2 secret written as a JSON object: `secret/app/config=/run/cfg.json` reads mount
    /// `secret`, path `app/config` (repeatable).
    #[arg(long, value_name = "MOUNT/PATH=SINK")]
    kv: Vec<String>,
    /// How often KV secrets are polled for a new version, 1s..24h [default: 60s]; written as
    /// in the options spec (`90s`, `5m`, seconds).
    #[arg(long, value_name = "DURATION", value_parser = tokenkeep::spec::parse_duration)]
    kv_interval: Option<Duration>,
    /// Serve GET /health and /metrics here (loopback only; port 0 picks a free one).
    #[arg(long, value_name = "ADDR:PORT")]
    health_listen: Option<String>,
    /// Allow --health-listen on a non-loopback address (the health JSON tells which credentials exist and when they expire).
    #[arg(long)]
    dangerous_health_listen_any: bool,
    /// On SIGTERM/SIGINT revoke the leases and the Vault token before exiting.
    #[arg(long)]
    revoke_on_exit: bool,
    /// Allow a plain-http Vault address on a non-loopback host (the JWT and the Vault token then cross the network
    /// in clear: a throwaway server only).
    #[arg(long)]
    dangerous_allow_http: bool,
    /// Debug logging on stderr, on_rotate commands' output included (the agent itself never logs
    /// a token or a secret value).
    #[arg(long, short)]
    verbose: bool,
}

impl Args {
    fn flags(&self) -> agent::config::Flags {
        agent::config::Flags {
            config: self.config.clone(),
            vault_addr: self.vault_addr.clone(),
            role: self.role.clone(),
            jwt_file: self.jwt_file.clone(),
            auth_mount: self.auth_mount.clone(),
            namespace: self.namespace.clone(),
            ca_file: self.ca_file.clone(),
            token_sink: self.token_sink.clone(),
            kv: self.kv.clone(),
            kv_interval: self.kv_interval,
            health_listen: self.health_listen.clone(),
            dangerous_health_listen_any: self.dangerous_health_listen_any,
            revoke_on_exit: self.revoke_on_exit,
            dangerous_allow_http: self.dangerous_allow_http,
        }
    }
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    // Every configuration mistake is found here, before a thread or a request.
    let config = agent::config::load(&args.flags()).map_err(|e| Failure::usage(e.code, e.message))?;
    // Rotations and sink writes at info, every attempt with `-v`.
    super::init_stderr_logging(if args.verbose { "warn,tokenkeep=debug" } else { "warn,tokenkeep=info" });
    let runtime = super::async_runtime()?;
    let result = runtime.block_on(agent::run(config, out));
    // Dropping a runtime waits for its blocking threads (a sink write stuck
    // on a hung file system): the agent has stopped, so it does not wait.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
