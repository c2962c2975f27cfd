//! `tokenkeep dev-issuer`: a real OIDC/JWKS issuer on 127.0.0.1 until SIGINT
//! or SIGTERM.

use crate::output::{self, Failure, Output};
use crate::stop_signal::StopSignal;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, RunningIssuer};

/// Arguments of `tokenkeep dev-issuer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Loopback port (0 picks a free one).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    port: u16,
    /// Rotate the signing keys on this period (e.g. `10m`).
    #[arg(long, value_name = "DURATION", value_parser = output::parse_duration)]
    rotate_every: Option<Duration>,
    /// How long a rotated-out key stays published (default: 2 × jwks-max-age).
    #[arg(long, value_name = "DURATION", value_parser = output::parse_duration)]
    retire_after: Option<Duration>,
    /// Serve HTTPS with a freshly generated CA (certificate for localhost and 127.0.0.1).
    #[arg(long)]
    tls: bool,
    /// Write the CA certificate (PEM) here (implies --tls); default: a temporary file.
    #[arg(long, value_name = "FILE")]
    ca_out: Option<PathBuf>,
    /// Demand `Authorization: Bearer <contents of FILE>` for discovery and JWKS
    /// (the file is re-read on every request).
    #[arg(long, value_name = "FILE")]
    require_bearer: Option<PathBuf>,
    /// `Cache-Control: max-age` of the JWKS.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = output::parse_duration)]
    jwks_max_age: Duration,
    /// Override the `iss` announced and put into tokens.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Algorithms whose keys exist from the start (repeatable; more are made on first use).
    #[arg(long = "alg", value_name = "ALG", default_values_t = vec!["ES256".to_owned()])]
    algorithms: Vec<String>,
    /// Log every request (method, path, status) to stderr.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    super::init_stderr_logging(if args.verbose { "warn,tokenkeep_dev_issuer=debug" } else { "warn" });
    let runtime = super::async_runtime()?;
    runtime.block_on(serve(args, out))
}

async fn serve(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let config = DevIssuerConfig {
        port: args.port,
        tls: args.tls || args.ca_out.is_some(),
        ca_path: args.ca_out,
        require_bearer_file: args.require_bearer,
        jwks_max_age: args.jwks_max_age,
        rotate_every: args.rotate_every,
        retire_after: args.retire_after,
        issuer: args.issuer,
        algorithms: args.algorithms,
    };
    // Handlers go in before the announcement: a parent that reads the URLs and sends
    // SIGTERM at once must get a clean stop, not the default signal death.
    let stop = StopSignal::install();
    let issuer = DevIssuer::start(config).await.map_err(|e| Failure::usage(e.code(), e.to_string()))?;
    announce(&issuer, out);
    stop.wait().await;
    if !out.json() {
        out.line(output::dim("stopping"));
    }
    issuer.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn announce(issuer: &RunningIssuer, out: &Output) {
    let ca = issuer.ca_pem_path().map(|p| p.display().to_string());
    if out.json() {
        // One line, so a parent process can read it as soon as it appears.
        out.print_json_line(&json!({
            "issuer": issuer.issuer_url(),
            "jwks_uri": issuer.jwks_url(),
            "discovery": issuer.discovery_url(),
            "token_endpoint": issuer.token_url(),
            "ca_file": ca,
        }));
        return;
    }
    out.line(output::heading("tokenkeep dev issuer (loopback only, for development and tests)"));
    out.line(format!("  issuer     {}", issuer.issuer_url()));
    out.line(format!("  jwks       {}", issuer.jwks_url()));
    out.line(format!("  discovery  {}", issuer.discovery_url()));
    if let Some(ca) = &ca {
        out.line(format!("  CA file    {ca}"));
    }
    out.line("");
    out.line("Mint a token:");
    let cacert = ca.as_ref().map(|c| format!(" --cacert {c}")).unwrap_or_default();
    out.line(format!(
        "  curl -s{cacert} -XPOST {} -d '{{\"claims\":{{\"sub\":\"me\",\"aud\":\"api\"}}}}'",
        issuer.token_url()
    ));
    out.line(output::dim(
        "  (optional: \"alg\": RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA, \"ttl\": seconds)",
    ));
    out.line(output::dim("Press Ctrl-C to stop."));
}
