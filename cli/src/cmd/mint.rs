//! `tokenkeep mint --key FILE`: sign a token with a local private key.

use crate::output::{self, Failure, Output};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokenkeep_core::Algorithm;
use tokenkeep_dev_issuer::SigningKey;

/// Arguments of `tokenkeep mint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Private key: PKCS#8 PEM (RSA, EC P-256/P-384, Ed25519), PKCS#1/SEC1 PEM,
    /// or a private JWK (a JWKS holding exactly one key also works).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Signing algorithm; by default from the key (RS256, ES256, ES384, EdDSA,
    /// or the JWK's `alg`).
    #[arg(long, value_name = "ALG")]
    alg: Option<String>,
    /// Claims as a JSON object; `iat` and `exp` are added unless present.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    claims: String,
    /// Lifetime: `exp` = now + this (e.g. `5m`, `1h`, `90s`).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = output::parse_duration)]
    ttl: Duration,
    /// Header `kid`; by default the JWK's `kid`, else the key's RFC 7638
    /// thumbprint.
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
}

fn load_key(path: &PathBuf) -> Result<SigningKey, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::usage("key_unreadable", format!("cannot read {}: {e}", path.display())))?;
    let bad_key = |e: tokenkeep_dev_issuer::DevIssuerError| {
        // A key verifiers would refuse keeps its own code; anything else could not be read as a key.
        let code = if e.code() == "key_refused" { "key_refused" } else { "bad_key" };
        Failure::usage(code, format!("{}: {e}", path.display()))
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with('{') {
        let mut jwk: Value = serde_json::from_str(&text)
            .map_err(|_| Failure::usage("bad_key", format!("{}: not valid JSON", path.display())))?;
        if let Some(keys) = jwk.get("keys").and_then(Value::as_array) {
            if keys.len() != 1 {
                return Err(Failure::usage(
                    "bad_key",
                    format!("{}: a JWKS with {} keys; give exactly one", path.display(), keys.len()),
                ));
            }
            jwk = keys[0].clone();
        }
        SigningKey::from_jwk(&jwk).map_err(bad_key)
    } else {
        SigningKey::from_pem(&bytes).map_err(bad_key)
    }
}

pub fn run(args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let mut key = load_key(&args.key)?;
    if let Some(name) = &args.alg {
        let alg = Algorithm::from_name(name)
            .ok_or_else(|| Failure::usage("unsupported_alg", format!("unknown algorithm `{name}`")))?;
        key = key.with_alg(alg).map_err(|e| Failure::usage(e.code(), e.to_string()))?;
    }
    let kid = args.kid.clone().or_else(|| key.kid().map(str::to_owned)).or_else(|| key.thumbprint());
    let key = key.with_kid(kid);

    let mut claims: Map<String, Value> = match serde_json::from_str(&args.claims) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(Failure::usage("bad_claims", "--claims must be a JSON object")),
        Err(e) => return Err(Failure::usage("bad_claims", format!("--claims is not valid JSON: {e}"))),
    };
    let now = output::now_secs() as u64;
    let exp = now.saturating_add(args.ttl.as_secs());
    claims.entry("iat").or_insert_with(|| now.into());
    claims.entry("exp").or_insert_with(|| exp.into());
    let expires_at = claims.get("exp").cloned().unwrap_or(Value::Null);

    let token = key.sign_jwt(&claims, None).map_err(|e| Failure::usage(e.code(), e.to_string()))?;
    if out.json() {
        out.print_json(&json!({
            "token": token,
            "alg": key.alg().name(),
            "kid": key.kid(),
            "expires_at": expires_at,
        }));
    } else {
        // The token alone on stdout, so `$(tokenkeep mint ...)` works.
        out.line(&token);
    }
    Ok(ExitCode::SUCCESS)
}
