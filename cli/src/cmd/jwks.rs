//! `tokenkeep jwks URL|PATH`: what a key set holds, what a verifier would skip
//! and why, and how the server says to cache it.

use crate::cmd::net::{self, TransportArgs};
use crate::output::{self, Failure, Output};
use serde_json::{Value, json};
use std::process::ExitCode;
use tokenkeep_core::KeySet;
use tokenkeep_core::text::sanitize;

/// Arguments of `tokenkeep jwks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A JWKS URL or file.
    #[arg(value_name = "URL|PATH")]
    source: String,
    #[command(flatten)]
    transport: TransportArgs,
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let (body, headers) = if net::is_url(&args.source) {
        // The same client and transport rule as `verify --jwks URL` (https,
        // or plain http to loopback only, unless --dangerous-allow-http).
        let client = args.transport.client_for(&args.source)?;
        let outcome = net::runtime()?.block_on(net::get(&client, &args.source, args.transport.timeout));
        let response = net::response(outcome)
            .map_err(|code| Failure::rejected(code, format!("fetching {} failed: {code}", sanitize(&args.source))))?;
        if response.status != 200 {
            return Err(Failure::rejected(
                "http_status",
                format!("{} answered HTTP {}", sanitize(&args.source), response.status),
            ));
        }
        let pick = |n: &str| response.header(n).map(str::to_owned);
        let headers = (pick("cache-control"), pick("etag"));
        (response.body, headers)
    } else {
        let bytes = std::fs::read(&args.source)
            .map_err(|e| Failure::usage("file_unreadable", format!("cannot read {}: {e}", args.source)))?;
        (bytes, (None, None))
    };
    let set = KeySet::from_jwks_json(&body)
        .map_err(|e| Failure::rejected(e.code(), format!("{}: {e}", sanitize(&args.source))))?;
    let raw: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let entries = raw["keys"].as_array().cloned().unwrap_or_default();
    let usable: Vec<Value> = set
        .keys()
        .iter()
        .map(|k| {
            let entry =
                entries.iter().find(|e| e["kid"].as_str() == k.kid() && e["kty"].as_str() == Some(k.kind().kty()));
            json!({
                "kid": k.kid(),
                "kty": k.kind().kty(),
                "alg": k.declared_alg().map(|a| a.name()),
                "use": entry.and_then(|e| e["use"].as_str()),
                "size": k.kind().describe(),
                "algorithms": k.algorithms().iter().map(|a| a.name()).collect::<Vec<_>>(),
                "thumbprint": k.handle(),
            })
        })
        .collect();
    let skipped: Vec<Value> =
        set.skipped().iter().map(|s| json!({"index": s.index, "kid": s.kid, "reason": s.reason.code()})).collect();
    let (cache_control, etag) = headers;
    if out.json() {
        out.print_json(&json!({
            "source": args.source, "cache_control": cache_control, "etag": etag,
            "keys": usable, "skipped": skipped,
        }));
    } else {
        out.line(output::heading(&format!(
            "{}: {} usable key(s), {} skipped",
            sanitize(&args.source),
            usable.len(),
            skipped.len()
        )));
        for k in &usable {
            out.line(format!(
                "  {} {:<24} kty={:<4} alg={:<7} use={:<4} {}",
                output::good("✓"),
                sanitize(k["kid"].as_str().unwrap_or("(no kid)")),
                k["kty"].as_str().unwrap_or("?"),
                k["alg"].as_str().unwrap_or("-"),
                k["use"].as_str().unwrap_or("-"),
                k["size"].as_str().unwrap_or("")
            ));
        }
        for s in &skipped {
            out.line(format!(
                "  {} {:<24} skipped: {}",
                output::bad("✗"),
                sanitize(s["kid"].as_str().unwrap_or("(no kid)")),
                s["reason"].as_str().unwrap_or("?")
            ));
        }
        if net::is_url(&args.source) {
            out.line(format!("  Cache-Control: {}", sanitize(cache_control.as_deref().unwrap_or("(none)"))));
            out.line(format!("  ETag: {}", sanitize(etag.as_deref().unwrap_or("(none)"))));
        }
    }
    // A set a verifier can use nothing of is a failed check (exit 1), as in `doctor`.
    if usable.is_empty() {
        if !out.json() {
            let why = if skipped.is_empty() { "the set is empty" } else { "every key was skipped" };
            out.line(output::bad(&format!("✗ no usable key: {why}")));
        }
        return Ok(ExitCode::from(output::EXIT_REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}
