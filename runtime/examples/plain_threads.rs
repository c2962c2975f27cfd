//! Every tokenkeep handle from a plain `fn main`: no async code, no tokio in
//! sight. This is what a Python, Node or JVM binding does underneath: start
//! each handle from its options (a dict, a JS object, a Kotlin record, here
//! JSON), wait for it with the blocking calls, read it without waiting,
//! follow its rotations, close it. The handles' tasks run on tokenkeep's own
//! runtime, started by the first handle.
//!
//! It expects a dev issuer and an OpenBao with PostgreSQL behind it, as
//! `tokenkeep dev-stack --postgres` starts them (runtime/tests/plain_threads.rs
//! starts the same and runs this):
//!
//! ```text
//! VAULT_ADDR=http://127.0.0.1:8200          where OpenBao is (the spec reads it like the Vault CLI)
//! TOKENKEEP_ISSUER=http://127.0.0.1:9000    the issuer whose tokens are verified (OIDC discovery there)
//! TOKENKEEP_AUDIENCE=api://example          the audience they must carry
//! TOKENKEEP_TOKEN=eyJ...                    a token to verify
//! TOKENKEEP_JWT_FILE=/run/jwt               the JWT OpenBao's role `app` accepts, a file rewritten as it rotates
//! ```

use serde_json::json;
use std::time::Duration;
use tokenkeep::Verifier;
use tokenkeep::outbound::{FileToken, HmacKeyring, JwtSource, VaultLease, VaultSecret, VaultToken};
use tokenkeep::spec::from_value;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name} (see the top of examples/plain_threads.rs)"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let patience = Duration::from_secs(30);

    // Inbound: a verifier from its options; discovery at the issuer finds the keys.
    let verifier = Verifier::start(&from_value(json!({
        "issuer": var("TOKENKEEP_ISSUER")?,
        "audience": var("TOKENKEEP_AUDIENCE")?,
    }))?)?;
    if !verifier.ready_blocking(patience) {
        return Err(format!("no keys: {:?}", verifier.health()).into());
    }
    let verified = verifier.verify_blocking(&var("TOKENKEEP_TOKEN")?, None)?;
    println!("verified a token of {}", verified.claims.subject().unwrap_or("?"));

    // Outbound: the JWT for the Vault login is a rotating file; VAULT_ADDR says where Vault is.
    let jwt = FileToken::start(&from_value(json!({"path": var("TOKENKEEP_JWT_FILE")?}))?)?;
    let vault = VaultToken::start_with_jwt(
        &from_value(json!({"role": "app", "revokeOnClose": true}))?,
        JwtSource::FileToken(jwt.clone()),
    )?;
    let config =
        VaultSecret::start(&vault, &from_value(json!({"mount": "secret", "path": "app/config", "interval": "1s"}))?)?;
    let database = VaultLease::start(&vault, &from_value(json!({"path": "database/creds/app", "grace": "2s"}))?)?;
    let keyring = HmacKeyring::start_on_secret(&config, &from_value(json!({"field": "hmac_key", "grace": "10s"}))?)?;

    vault.ready_blocking(patience)?;
    println!("vault token obtained ({})", vault.health().state);
    let secret = config.ready_blocking(patience)?;
    println!("kv secret app/config, version {}", secret.version);
    let lease = database.ready_blocking(patience)?;
    println!(
        "database credential for {}, lease of {} s",
        lease.get_str("username").unwrap_or("?"),
        lease.lease_duration.as_secs()
    );
    keyring.ready_blocking(patience)?;
    let signature = keyring.sign("POST", "/orders", b"{}")?;
    let version = keyring.verify(&signature, "POST", "/orders", b"{}")?;
    println!("request signed and verified with HMAC key version {version}");

    // Rotations: the role's tokens live seconds, so a new login comes soon,
    // and a lease dies with the token that read it, so a new credential
    // follows. A callback sees each on tokenkeep's thread; this thread waits.
    let (tokens, credentials) = (vault.rotations(), database.rotations());
    tokens.on_rotation(|n| println!("(callback) vault token rotation {n}"));
    let (tokens_seen, credentials_seen) = (tokens.count(), credentials.count());
    let rotation =
        tokens.wait_blocking(tokens_seen, Duration::from_secs(60)).ok_or("no new Vault token within 60 s")?;
    println!("vault token rotated (rotation {rotation})");
    credentials.wait_blocking(credentials_seen, patience).ok_or("no new database credential")?;
    // The count also moves when the old credential expires with its token
    // before the new one is read: `ready` waits for the new one then.
    let user = database.ready_blocking(patience)?.get_str("username").unwrap_or("?").to_owned();
    println!("database credential replaced under the new token: {user}");

    // Close: the keyring and the secret stop, the lease is revoked, then the token.
    keyring.close_blocking();
    database.close_blocking();
    config.close_blocking();
    vault.close_blocking();
    jwt.close_blocking();
    verifier.close_blocking();
    println!("closed: lease and token revoked");
    Ok(())
}
