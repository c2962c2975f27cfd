//! `tokenkeep inspect TOKEN|-`: decode without verifying.

use crate::output::{self, Failure, Output};
use serde_json::{Map, Value, json};
use std::io::Read as _;
use std::process::ExitCode;

/// Arguments of `tokenkeep inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The token, or `-` to read it from stdin.
    #[arg(value_name = "TOKEN")]
    token: String,
}

const BANNER: &str = "NOT VERIFIED: decoded only. The signature, issuer, audience and times were not checked.";

/// Reads the token argument (`-` means stdin).
pub fn read_token(arg: &str) -> Result<String, Failure> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::usage("stdin_unreadable", format!("cannot read the token from stdin: {e}")))?;
        Ok(s.trim().to_owned())
    } else {
        Ok(arg.trim().to_owned())
    }
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let token = read_token(&args.token)?;
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
                None => output::bad(&format!("{value} (not a NumericDate)")),
            };
            out.line(format!("  {name}  {text}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_members(out: &Output, map: &Map<String, Value>) {
    let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    for (k, v) in map {
        let shown = match v {
            Value::String(s) => s.clone(),
            other => serde_json::to_string(other).expect("JSON serialises"),
        };
        out.line(format!("  {}  {shown}", output::dim(&format!("{k:<width$}"))));
    }
}
