//! Verifies every token of the shared vectors with tokenkeep-core and prints,
//! per token, the claims it proved or the rejection code and reason, next to
//! what the vector expects. `make demo` runs it.

#[path = "../tests/support/vectors.rs"]
#[allow(dead_code)]
mod support;

use serde_json::Value;
use std::io::IsTerminal as _;
use tokenkeep_core::{KeySet, Policy, PolicyConfig, UnixTime, verify};

fn main() {
    let colour = std::io::stdout().is_terminal();
    let paint = |code: &str, s: &str| if colour { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() };
    let mut agree = 0;
    let vectors = support::all_vectors();
    println!(
        "tokenkeep-core {} ({} backend): {} shared vectors\n",
        env!("CARGO_PKG_VERSION"),
        tokenkeep_core::CRYPTO_BACKEND,
        vectors.len()
    );
    let mut current_file = String::new();
    for (file, v) in &vectors {
        if *file != current_file {
            println!("{}", paint("1", file));
            current_file.clone_from(file);
        }
        let name = v["name"].as_str().unwrap_or("?");
        let outcome = run(v);
        let expected = v["expect"]["code"].as_str().unwrap_or("valid");
        let (got, detail) = match &outcome {
            Ok(claims) => ("valid".to_owned(), summarize(claims)),
            Err((code, reason)) => (code.clone(), reason.clone()),
        };
        let verdict = if got == expected {
            agree += 1;
            paint("32", "ok  ")
        } else {
            paint("31", "DIFF")
        };
        let got_painted = if got == "valid" { paint("32", &got) } else { paint("33", &got) };
        println!("  {verdict} {name:<48} {got_painted:<20} {detail}");
    }
    println!("\n{agree}/{} answers equal the vectors' expectations", vectors.len());
    if agree != vectors.len() {
        std::process::exit(1);
    }
}

fn run(v: &Value) -> Result<Value, (String, String)> {
    let mut keys = KeySet::from_jwks_value(&v["jwks"]).map_err(|e| (e.code().to_owned(), e.to_string()))?;
    for s in v.get("hmac_keys").and_then(Value::as_array).into_iter().flatten() {
        keys = keys.with_secret_jwk(s).map_err(|e| (e.code().to_owned(), e.to_string()))?;
    }
    let config: PolicyConfig =
        serde_json::from_value(v["policy"].clone()).map_err(|e| ("policy".into(), e.to_string()))?;
    let policy = Policy::from_config(&config).map_err(|e| (e.code().to_owned(), e.to_string()))?;
    let now = UnixTime::from_secs(v["now"].as_u64().unwrap_or(0));
    verify(v["token"].as_str().unwrap_or(""), &keys, &policy, now)
        .map(|ok| Value::Object(ok.claims.into_map()))
        .map_err(|r| (r.code().as_str().to_owned(), r.to_string()))
}

fn summarize(claims: &Value) -> String {
    let s = |k: &str| claims.get(k).map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    format!("sub={} aud={}", s("sub"), s("aud"))
}
