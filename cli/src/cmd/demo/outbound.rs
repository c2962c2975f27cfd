//! The outbound half of `tokenkeep demo`: a real OpenBao dev server whose JWT
//! auth trusts the dev issuer's JWKS (OpenBao fetches the keys itself); a
//! Vault token obtained with a JWT file, renewed, obtained again at its max
//! TTL; a KV v2 secret rotated and followed; and a client reading that secret
//! every 250 ms with whatever token is current, which must never fail. This
//! is the incident tokenkeep exists for, shortened from hours to seconds.

use super::Demo;
use crate::output::{self, Failure};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokenkeep::outbound::{SecretToken, VaultSecret, VaultToken};
use tokenkeep::spec::{Seconds, VaultSecretSpec, VaultTokenSpec};
use tokenkeep_dev_openbao::{DevOpenBao, DevOpenBaoError, JwtRole};

const SUBJECT: &str = "spiffe://demo.example/app";
const AUDIENCE: &str = "openbao";
/// Short lifetimes so renewal and re-login happen within half a minute:
/// the token renews near 2/3 of 9 s and must be obtained again at 27 s.
const TOKEN_TTL: u64 = 9;
const TOKEN_MAX_TTL: u64 = 27;
const WATCH_FOR: Duration = Duration::from_secs(32);
const KV_POLL: Duration = Duration::from_secs(2);
const KV_GRACE: Duration = Duration::from_secs(6);
const KV_PATH: &str = "app/db";
/// The JWT file is rewritten this often, as spiffe-helper does.
const JWT_REWRITE: Duration = Duration::from_secs(20);
const JWT_TTL: Duration = Duration::from_secs(60);

fn setup_failed(e: DevOpenBaoError) -> Failure {
    Failure::usage("openbao_failed", format!("OpenBao dev server: {e}"))
}

fn mint_failed(e: tokenkeep_dev_issuer::DevIssuerError) -> Failure {
    Failure::usage(e.code(), format!("minting failed: {e}"))
}

fn write_jwt(demo: &Demo<'_>, path: &Path) -> Result<(), Failure> {
    let jwt = demo.issuer.mint(json!({"sub": SUBJECT, "aud": AUDIENCE}), "ES256", JWT_TTL).map_err(mint_failed)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, jwt)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::usage("io_failed", format!("writing the JWT file: {e}")))
}

async fn configure(bao: &DevOpenBao, demo: &Demo<'_>) -> Result<(), DevOpenBaoError> {
    bao.enable_jwt_auth(demo.issuer.issuer_url(), &demo.issuer.jwks_url()).await?;
    bao.put_policy("app", "path \"secret/data/app/*\" { capabilities = [\"read\"] }").await?;
    bao.put_jwt_role(&JwtRole {
        name: "app".into(),
        bound_audience: AUDIENCE.into(),
        bound_subject: SUBJECT.into(),
        token_ttl: TOKEN_TTL,
        token_max_ttl: TOKEN_MAX_TTL,
        policies: vec!["app".into()],
    })
    .await?;
    bao.kv_put(KV_PATH, json!({"password": "first-password"})).await?;
    Ok(())
}

/// A client of the secret, as the application would be: every 250 ms, read
/// it with the token tokenkeep holds now. Counts successes and failures.
#[derive(Default)]
struct ClientReads {
    ok: AtomicU64,
    failed: AtomicU64,
}

pub(super) async fn chapter(demo: &mut Demo<'_>, first_step: u32) -> Result<(), Failure> {
    demo.step(first_step, "Outbound: a Vault token from a JWT, on a real OpenBao");
    let bao = Arc::new(DevOpenBao::start(None).await.map_err(setup_failed)?);
    configure(&bao, demo).await.map_err(setup_failed)?;
    demo.say(format!("OpenBao dev server {} (JWT auth trusts the dev issuer's JWKS)", bao.addr()));
    demo.say(format!(
        "role app: token_ttl {TOKEN_TTL} s, token_max_ttl {TOKEN_MAX_TTL} s; the JWT file is rewritten every {} s",
        JWT_REWRITE.as_secs()
    ));
    let jwt_file = bao.dir().join("jwt-svid");
    write_jwt(demo, &jwt_file)?;
    let spec = VaultTokenSpec {
        addr: Some(bao.addr().to_owned()),
        jwt_file: Some(jwt_file.display().to_string()),
        revoke_on_close: true,
        ..VaultTokenSpec::new("app")
    };
    let token = VaultToken::start(&spec).map_err(|e| Failure::usage("vault_token_failed", e.to_string()))?;
    let first = match token.ready(Duration::from_secs(15)).await {
        Ok(t) => t,
        Err(e) => {
            demo.failures += 1;
            demo.say(output::bad(&format!("✗ no token: {}", e.code())));
            return Ok(());
        }
    };
    demo.say(output::good("✓ logged in with the JWT; token held by tokenkeep, never printed"));

    let kv_spec = VaultSecretSpec {
        interval: Some(Seconds(KV_POLL)),
        grace: Some(Seconds(KV_GRACE)),
        ..VaultSecretSpec::new("secret", KV_PATH)
    };
    let secret =
        VaultSecret::start(&token, &kv_spec).map_err(|e| Failure::usage("vault_secret_failed", e.to_string()))?;
    let v1 = secret.ready(Duration::from_secs(10)).await.map(|s| s.version).unwrap_or(0);
    demo.say(format!("KV secret secret/{KV_PATH} version {v1}, polled every {} s", KV_POLL.as_secs()));

    let reads = Arc::new(ClientReads::default());
    let client = tokio::spawn(read_forever(bao.clone(), token.clone(), reads.clone()));

    demo.step(first_step + 1, "Renewed, rotated, obtained again at max TTL; the client never fails");
    let started = Instant::now();
    let at = |started: Instant| format!("t={:>4.1} s", started.elapsed().as_secs_f64());
    let mut held = first;
    let mut expires_in = token.health().expires_in_seconds.unwrap_or(0);
    let mut next_rewrite = JWT_REWRITE;
    let mut put_at: Option<Instant> = None;
    let mut followed: Option<Duration> = None;
    let mut previous_seen = false;
    let mut previous_gone_after_grace = false;
    let mut relogins = 0u32;
    let mut renewals_seen = 0u32;
    while started.elapsed() < WATCH_FOR {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if started.elapsed() >= next_rewrite {
            write_jwt(demo, &jwt_file)?;
            next_rewrite += JWT_REWRITE;
            demo.say(output::dim(&format!("{}  JWT file rewritten (spiffe-helper style)", at(started))));
        }
        if put_at.is_none() && started.elapsed() >= Duration::from_secs(8) {
            let v = bao.kv_put(KV_PATH, json!({"password": "second-password"})).await.map_err(setup_failed)?;
            put_at = Some(Instant::now());
            demo.say(format!("{}  bao kv put secret/{KV_PATH}: version {v}", at(started)));
        }
        if let (Some(put), None) = (put_at, followed) {
            if secret.current().is_ok_and(|s| s.version > v1) {
                let took = put.elapsed();
                followed = Some(took);
                previous_seen = secret.previous().is_some_and(|p| p.version == v1);
                demo.say(format!(
                    "{}  {} followed in {:.1} s; version {v1} stays available as previous for {} s",
                    at(started),
                    output::good("✓ new version"),
                    took.as_secs_f64(),
                    KV_GRACE.as_secs()
                ));
            }
        }
        if let Some(put) = put_at {
            if followed.is_some()
                && !previous_gone_after_grace
                && put.elapsed() > KV_GRACE + KV_POLL + Duration::from_secs(1)
            {
                previous_gone_after_grace = secret.previous().is_none();
                demo.say(format!("{}  previous version dropped after its grace window", at(started)));
            }
        }
        let Ok(now_held) = token.current() else { continue };
        let health = token.health();
        let left = health.expires_in_seconds.unwrap_or(0);
        if now_held != held {
            relogins += 1;
            held = now_held;
            demo.say(format!(
                "{}  {} with a fresh JWT: renewal could not go past token_max_ttl",
                at(started),
                output::good("✓ logged in again")
            ));
        } else if left > expires_in + 1 {
            renewals_seen += 1;
            demo.say(output::dim(&format!("{}  token renewed (expires in {left} s)", at(started))));
        }
        expires_in = left;
    }
    client.abort();

    demo.step(first_step + 2, "Health, as a readiness probe or the agent's /health would show it");
    for (name, h) in [("vault token", token.health()), ("kv secret", secret.health())] {
        demo.say(format!(
            "{name:<12} {} age {} s, expires in {}, next refresh in {} s, failures {}, last error {}",
            h.state,
            h.token_age_seconds.unwrap_or(0),
            h.expires_in_seconds.map_or("never".to_owned(), |s| format!("{s} s")),
            h.next_refresh_in_seconds.unwrap_or(0),
            h.consecutive_failures,
            h.last_error_code.as_deref().unwrap_or("none")
        ));
    }

    secret.close().await;
    let last = token.current().ok();
    token.close().await;
    let revoked = match &last {
        Some(t) => lookup_status(&bao, t).await == Some(403),
        None => false,
    };

    let audit = bao.audit_counts();
    let count = |p: &str| audit.get(p).map_or((0, 0), |c| (c.total, c.failed));
    let (logins, logins_failed) = count("auth/jwt/login");
    let (renewals, renewals_failed) = count("auth/token/renew-self");
    let (kv_reads, kv_failed) = count(&format!("secret/data/{KV_PATH}"));
    let (ok, failed) = (reads.ok.load(Ordering::Relaxed), reads.failed.load(Ordering::Relaxed));
    let mut check = |pass: bool, text: String| {
        if pass {
            demo.say(format!("{} {text}", output::good("✓")));
        } else {
            demo.failures += 1;
            demo.say(format!("{} {text}", output::bad("✗")));
        }
    };
    check(
        failed == 0 && ok > 0,
        format!("the client read the secret {ok} times with the current token, {failed} failed"),
    );
    check(
        relogins >= 1 && renewals_seen >= 1,
        format!("{renewals_seen} renewal(s) and {relogins} re-login(s) seen by the application, no restart"),
    );
    check(
        followed.is_some_and(|d| d <= KV_POLL + Duration::from_secs(2)) && previous_seen && previous_gone_after_grace,
        "the rotated secret was followed within one poll, the previous kept for its grace only".to_owned(),
    );
    check(revoked, "shutdown revoked the token: lookup-self now answers 403".to_owned());
    check(
        logins_failed + renewals_failed + kv_failed == 0 && logins == u64::from(relogins) + 1,
        format!(
            "OpenBao's audit log: {logins} logins, {renewals} renewals, {kv_reads} KV reads ({} by tokenkeep), {} failed",
            kv_reads.saturating_sub(ok + failed),
            logins_failed + renewals_failed + kv_failed
        ),
    );
    Ok(())
}

async fn read_forever(bao: Arc<DevOpenBao>, token: VaultToken, reads: Arc<ClientReads>) {
    let path = format!("secret/data/{KV_PATH}");
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let ok = match token.current() {
            Ok(t) => matches!(bao.api_with(t.expose(), "GET", &path, None).await, Ok((200, _))),
            Err(_) => false,
        };
        let counter = if ok { &reads.ok } else { &reads.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

async fn lookup_status(bao: &DevOpenBao, token: &SecretToken) -> Option<u16> {
    bao.api_with(token.expose(), "GET", "auth/token/lookup-self", None).await.ok().map(|(status, _)| status)
}
