//! `tokenkeep demo`: the story in one terminal, on real HTTP over loopback:
//! an embedded dev issuer, and a long-running verifier that never restarts
//! while keys rotate, the issuer goes down, and an attacker floods it; then
//! the outbound side on a real OpenBao (`outbound`).

mod outbound;

use crate::output::{self, Failure, Output};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;
use tokenkeep::{CacheConfig, IssuerConfig, Rejection, Verifier};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, OutageMode, RunningIssuer};

/// Arguments of `tokenkeep demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

const AUDIENCE: &str = "api://demo";

pub fn run(_args: Args, out: &Output) -> Result<ExitCode, Failure> {
    let runtime = crate::cmd::async_runtime()?;
    runtime.block_on(story(out))
}

struct Demo<'a> {
    out: &'a Output,
    issuer: RunningIssuer,
    verifier: Verifier,
    failures: u32,
}

impl Demo<'_> {
    fn step(&self, n: u32, title: &str) {
        self.out.line("");
        self.out.line(output::heading(&format!("{n}. {title}")));
    }

    fn say(&self, text: impl std::fmt::Display) {
        self.out.line(format!("   {text}"));
    }

    fn mint(&self, claims: serde_json::Value) -> Result<String, Failure> {
        let mut claims = claims;
        claims["aud"] = json!(AUDIENCE);
        self.issuer
            .mint(claims, "ES256", Duration::from_secs(600))
            .map_err(|e| Failure::usage(e.code(), format!("minting failed: {e}")))
    }

    /// Verifies and prints the verdict; `expect` is the code that should come
    /// back (`None`: valid). A surprise is counted and shown in red.
    async fn check(&mut self, label: &str, token: &str, expect: Option<&str>) {
        let result = self.verifier.verify(token).await;
        let got = result.as_ref().err().map(|r: &Rejection| r.code().as_str());
        let text = match &result {
            Ok(v) => format!(
                "valid (sub {}, kid {})",
                v.claims.subject().unwrap_or("-"),
                v.header.kid.as_deref().unwrap_or("-")
            ),
            Err(r) => format!("{} ({r})", r.code()),
        };
        if got == expect {
            let painted = match got {
                None => output::good(&format!("✓ {text}")),
                Some(_) => output::good(&format!("✓ rejected as it should be: {text}")),
            };
            self.say(format!("{label:<38} {painted}"));
        } else {
            let painted = output::bad(&format!("✗ {text}"));
            self.failures += 1;
            self.say(format!(
                "{label:<38} {painted} {}",
                output::bad(&format!("expected {}", expect.unwrap_or("valid")))
            ));
        }
    }

    fn cache_line(&self) -> String {
        let h = &self.verifier.health()[0].cache;
        format!(
            "cache: {}, {} key(s), {} consecutive failed fetch(es){}",
            h.state.as_str(),
            h.key_count,
            h.consecutive_failures,
            h.last_error_code.map(|c| format!(", last error {c}")).unwrap_or_default()
        )
    }

    fn jwks_requests(&self) -> u64 {
        self.issuer.stats().jwks_requests()
    }
}

async fn story(out: &Output) -> Result<ExitCode, Failure> {
    // Rotated-out keys stay published for 10 min, as real IdPs keep them for
    // the lifetime of the tokens they signed.
    let config = DevIssuerConfig {
        jwks_max_age: Duration::from_secs(4),
        retire_after: Some(Duration::from_secs(600)),
        ..DevIssuerConfig::default()
    };
    let issuer =
        DevIssuer::start(config).await.map_err(|e| Failure::usage(e.code(), format!("dev issuer failed: {e}")))?;
    // Demo timings: a 4 s key TTL, a 20 s stale window and a 5 s cooldown, so
    // the whole story fits in half a minute. Production defaults are 5 min, 1 h, 30 s.
    let cache = CacheConfig {
        min_ttl: Duration::from_secs(1),
        stale_if_error: Duration::from_secs(20),
        miss_cooldown: Duration::from_secs(5),
        ..CacheConfig::default()
    };
    let verifier =
        Verifier::new(vec![IssuerConfig::discovery(issuer.issuer_url()).with_audience(AUDIENCE).with_cache(cache)])
            .map_err(|e| Failure::usage(e.code(), e.to_string()))?;
    let mut demo = Demo { out, issuer, verifier, failures: 0 };

    out.line(output::heading("tokenkeep demo: one verifier, never restarted, on real HTTP over 127.0.0.1"));
    demo.say(format!("dev issuer {} (JWKS max-age 4 s)", demo.issuer.issuer_url()));
    let ready = demo.verifier.ready(Duration::from_secs(5)).await;
    demo.say(format!("verifier ready: {ready}; {}", demo.cache_line()));

    demo.step(1, "A valid token verifies");
    let alice = demo.mint(json!({"sub": "alice"}))?;
    demo.check("token for alice", &alice, None).await;

    demo.step(2, "An expired token is rejected with a code, not a stack trace");
    let now = tokenkeep::clock::now().as_secs();
    let expired = demo.mint(json!({"sub": "bob", "iat": now - 3600, "exp": now - 120}))?;
    demo.check("token that expired 2 min ago", &expired, Some("expired")).await;

    demo.step(3, "Keys rotate: new tokens verify, old ones still do, no restart");
    let before = demo.jwks_requests();
    let kids = demo.issuer.rotate().map_err(|e| Failure::usage(e.code(), e.to_string()))?;
    demo.say(format!("issuer rotated to {}", kids.join(", ")));
    let carol = demo.mint(json!({"sub": "carol"}))?;
    demo.check("token signed with the new key", &carol, None).await;
    demo.check("alice's token, signed before rotation", &alice, None).await;
    demo.say(format!("JWKS requests for the rotation: {} (one refetch on the new kid)", demo.jwks_requests() - before));

    demo.step(4, "The issuer goes down: tokens keep verifying from the stale cache");
    demo.issuer.outage(Duration::from_secs(14), OutageMode::Status503);
    demo.say("issuer answers 503 for 14 s");
    for second in [3u64, 4, 4] {
        tokio::time::sleep(Duration::from_secs(second)).await;
        let dave = demo.mint(json!({"sub": "dave"}))?;
        demo.check("token during the outage", &dave, None).await;
        demo.say(output::dim(&demo.cache_line()));
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    demo.say(format!("issuer is back; {}", demo.cache_line()));

    demo.step(5, "1,000 tokens with random kids: at most one extra fetch");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = demo.jwks_requests();
    let mut unknown = 0;
    for i in 0..1000u32 {
        let token = demo
            .issuer
            .mint_with_kid(
                json!({"sub": "mallory", "aud": AUDIENCE}),
                "ES256",
                Duration::from_secs(600),
                &format!("forged-{i:04}"),
            )
            .map_err(|e| Failure::usage(e.code(), e.to_string()))?;
        if demo.verifier.verify(&token).await.is_err_and(|r| r.code().as_str() == "unknown_kid") {
            unknown += 1;
        }
    }
    let extra = demo.jwks_requests() - before;
    let verdict = if unknown == 1000 && extra <= 1 { output::good("✓") } else { output::bad("✗") };
    if !(unknown == 1000 && extra <= 1) {
        demo.failures += 1;
    }
    demo.say(format!("{verdict} {unknown}/1000 answered unknown_kid; the issuer saw {extra} extra JWKS request(s)"));
    demo.check("alice's token meanwhile", &alice, None).await;

    outbound::chapter(&mut demo, 6).await?;

    out.line("");
    let stats = demo.issuer.stats();
    out.line(output::heading(&format!(
        "issuer served {} requests ({} JWKS, {} of them 304 Not Modified); {} surprise(s)",
        stats.total,
        stats.jwks_requests(),
        stats.jwks_304s,
        demo.failures
    )));
    demo.verifier.shutdown().await;
    demo.issuer.shutdown().await;
    Ok(if demo.failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(output::EXIT_REJECTED) })
}
