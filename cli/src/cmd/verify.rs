//! `tokenkeep verify TOKEN`: the verdict a service would give, with the rule
//! that decided it.

use crate::cmd::inspect::{read_token, shown};
use crate::cmd::net::{self, KeysError, TransportArgs};
use crate::output::{self, EXIT_REJECTED, Failure, Output};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use tokenkeep_core::text::sanitize;
use tokenkeep_core::{Policy, PolicyConfig, SpiffeRule, UnixTime};

/// Arguments of `tokenkeep verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The token, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: String,
    /// The required `iss`; without --jwks, keys come from its OIDC discovery.
    #[arg(long, value_name = "ISS", required_unless_present = "policy")]
    issuer: Option<String>,
    /// Keys from this JWKS file or URL instead of discovery.
    #[arg(long, value_name = "PATH|URL")]
    jwks: Option<String>,
    /// Accepted audience (repeatable); without it `aud` is not checked.
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// Clock-skew allowance in seconds.
    #[arg(long, value_name = "SECONDS")]
    leeway: Option<u64>,
    /// Verify as of this Unix time instead of now.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// JWT-SVID mode: `sub` must be a SPIFFE ID in this trust domain (repeatable).
    #[arg(long = "spiffe", value_name = "TRUST_DOMAIN")]
    spiffe: Vec<String>,
    /// The whole policy as JSON (a file path or inline), as the shared vectors
    /// and the bindings write it; flags given as well override its fields.
    #[arg(long, value_name = "FILE|JSON")]
    policy: Option<String>,
    /// HMAC secrets as a JSON array of `oct` JWKs (file): only with this are
    /// HS256/384/512 tokens verifiable.
    #[arg(long, value_name = "FILE")]
    hmac_keys: Option<PathBuf>,
    #[command(flatten)]
    transport: TransportArgs,
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let policy = policy(&args)?;
    let token = match read_token(&args.token, policy.max_token_bytes()) {
        Ok(token) => token,
        // The verdict a service would give, in verify's own shape.
        Err(too_large) if too_large.code == "token_too_large" => {
            return Ok(report_rejection(out, too_large.code, &too_large.message));
        }
        Err(failure) => return Err(failure),
    };
    let issuer = policy.issuers().first().cloned().unwrap_or_default();
    let now = args.now.map(UnixTime::from_secs).unwrap_or_else(tokenkeep::clock::now);
    let runtime = net::runtime()?;
    let keys = runtime.block_on(net::load_keys(args.jwks.as_deref(), &issuer, &args.transport));
    let mut keys = match keys {
        Ok(keys) => keys,
        Err(KeysError::Config(failure)) => return Err(failure),
        Err(KeysError::Unavailable { detail, .. }) => {
            return Ok(report_rejection(out, "keys_unavailable", &format!("no usable keys: {detail}")));
        }
    };
    if let Some(path) = &args.hmac_keys {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage("hmac_keys_unreadable", format!("cannot read {}: {e}", path.display())))?;
        let secrets: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| Failure::usage("hmac_keys_invalid", format!("{}: not a JSON array: {e}", path.display())))?;
        for secret in &secrets {
            keys = keys.with_secret_jwk(secret).map_err(|e| Failure::usage(e.code(), format!("HMAC key: {e}")))?;
        }
    }
    match tokenkeep_core::verify(&token, &keys, &policy, now) {
        Ok(verified) => {
            let claims = Value::Object(verified.claims.as_map().clone());
            if out.json() {
                out.print_json(&json!({"valid": true, "claims": claims}));
            } else {
                // A valid signature says who wrote the claims, not that they are
                // safe to print: names and values go through `sanitize` too.
                out.line(output::good(&format!(
                    "✓ valid: {} token from {}, key {}",
                    verified.header.alg,
                    sanitize(verified.claims.issuer().unwrap_or("?")),
                    sanitize(verified.header.kid.as_deref().unwrap_or("(no kid)"))
                )));
                for (k, v) in verified.claims.as_map() {
                    out.line(format!("  {}  {}", output::dim(&sanitize(k)), shown(v)));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(rejection) => Ok(report_rejection(out, rejection.code().as_str(), &rejection.to_string())),
    }
}

fn report_rejection(out: &Output, code: &str, reason: &str) -> ExitCode {
    if out.json() {
        out.print_json(&json!({"valid": false, "code": code, "reason": reason}));
    } else {
        out.line(format!("{} {reason}", output::bad(&format!("✗ rejected: {code} —"))));
    }
    ExitCode::from(EXIT_REJECTED)
}

fn policy(args: &Args) -> Result<Policy, Failure> {
    let mut config = match &args.policy {
        Some(p) => {
            let text = if p.trim_start().starts_with('{') {
                p.clone()
            } else {
                std::fs::read_to_string(p)
                    .map_err(|e| Failure::usage("policy_unreadable", format!("cannot read {p}: {e}")))?
            };
            serde_json::from_str::<PolicyConfig>(&text)
                .map_err(|e| Failure::usage("policy_invalid", format!("policy: {e}")))?
        }
        None => PolicyConfig::default(),
    };
    if let Some(issuer) = &args.issuer {
        config.issuers = vec![issuer.clone()];
    }
    if !args.audiences.is_empty() {
        config.audiences = args.audiences.clone();
    }
    if args.leeway.is_some() {
        config.leeway_secs = args.leeway;
    }
    if !args.spiffe.is_empty() {
        config.spiffe = Some(SpiffeRule { trust_domains: args.spiffe.clone(), ..SpiffeRule::default() });
    }
    Policy::from_config(&config).map_err(|e| Failure::usage(e.code(), e.to_string()))
}
