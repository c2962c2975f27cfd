//! `tokenkeep inspect TOKEN|-`: decode without verifying.

use crate::output::{self, Failure, Output};
use serde_json::{Map, Value, json};
use std::io::Read as _;
use std::process::ExitCode;
use tokenkeep_core::text::sanitize;

/// Arguments of `tokenkeep inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The token, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: String,
}

const BANNER: &str = "NOT VERIFIED: decoded only. The signature, issuer, audience and times were not checked.";

/// Reads the token argument (`-` means stdin). From stdin, at most `limit`
/// bytes of token (plus a line break) are read, never the whole of a larger
/// input: more is `token_too_large` (exit 1), as a verifier answers.
pub fn read_token(arg: &str, limit: usize) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut bytes = Vec::new();
    // Room for a trailing CR LF, and one byte to tell "over the limit".
    let bound = limit.saturating_add(3) as u64;
    std::io::stdin()
        .lock()
        .take(bound)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage("stdin_unreadable", format!("cannot read the token from stdin: {e}")))?;
    let token = String::from_utf8_lossy(&bytes).trim().to_owned();
    if token.len() > limit {
        return Err(Failure::rejected(
            "token_too_large",
            format!("the token on stdin is over {limit} bytes, the limit (read no further)"),
        ));
    }
    Ok(token)
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let token = read_token(&args.token, tokenkeep_core::policy::DEFAULT_MAX_TOKEN_BYTES)?;
    if token.is_empty() {
        return Err(Failure::usage("missing_token", "no token given"));
    }
    let decoded = tokenkeep_core::decode_unverified(&token)
        .map_err(|e| Failure::usage(e.code(), format!("not a JWT: {e} ({})", e.code())))?;

    if out.json() {
        out.print_json(&json!({ "verified": false, "header": decoded.header, "claims": decoded.claims }));
        return Ok(ExitCode::SUCCESS);
    }

    out.line(output::warn(&format!("⚠ {BANNER}")));
    out.line("");
    out.line(output::heading("Header"));
    print_members(out, &decoded.header);
    out.line("");
    out.line(output::heading("Claims"));
    print_members(out, &decoded.claims);

    let now = output::now_secs();
    let times: Vec<(&str, &Value)> =
        ["iat", "nbf", "exp"].iter().filter_map(|n| decoded.claims.get(*n).map(|v| (*n, v))).collect();
    if !times.is_empty() {
        out.line("");
        out.line(output::heading("Times"));
        for (name, value) in times {
            let text = match value.as_f64().and_then(|s| output::utc(s).map(|u| (s, u))) {
                Some((secs, utc)) => {
                    let rel = output::relative(secs, now);
                    let note = match name {
                        "exp" if secs <= now => format!(" {}", output::bad("expired")),
                        "nbf" if secs > now => format!(" {}", output::bad("not yet valid")),
                        "iat" if secs > now + 30.0 => format!(" {}", output::bad("issued in the future")),
                        _ => String::new(),
                    };
                    format!("{utc} ({rel}){note}")
                }
                None => output::bad(&format!("{} (not a NumericDate)", shown(value))),
            };
            out.line(format!("  {name}  {text}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_members(out: &Output, map: &Map<String, Value>) {
    // Names and values are the token author's: one line each, no escape sequence.
    let width = map.keys().map(|k| sanitize(k).chars().count()).max().unwrap_or(0);
    for (k, v) in map {
        out.line(format!("  {}  {}", output::dim(&format!("{:<width$}", sanitize(k))), shown(v)));
    }
}

/// A claim or header value for a terminal: a string as is, anything else as
/// compact JSON; either way through [`sanitize`].
pub fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => sanitize(s).into_owned(),
        other => sanitize(&output::json_text(other, false)).into_owned(),
    }
}
