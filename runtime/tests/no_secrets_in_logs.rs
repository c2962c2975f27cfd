//! Every log line tokenkeep (and the stack under it) writes at debug level,
//! captured while rotation, an unknown-kid flood, an outage and the axum layer
//! run: no token, no signature, no bearer secret appears.
//!
//! This binary installs a global subscriber, so it holds exactly one test.

mod common;

use common::*;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenkeep::http::HttpOptions;
use tokenkeep::{CacheConfig, Verifier};
use tokenkeep_dev_issuer::{DevIssuerConfig, OutageMode};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_signature_or_bearer_secret_in_any_debug_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    const BEARER: &str = "bearer-secret-3f9c1d27a4b8e6f0";
    let dir = tempfile::tempdir().unwrap();
    let bearer_file = dir.path().join("token");
    std::fs::write(&bearer_file, BEARER).unwrap();
    let issuer = start_issuer(DevIssuerConfig {
        jwks_max_age: Duration::from_secs(1),
        require_bearer_file: Some(bearer_file.clone()),
        algorithms: vec!["ES256".into(), "RS256".into(), "EdDSA".into()],
        ..DevIssuerConfig::default()
    })
    .await;
    let http = HttpOptions { bearer_token_file: Some(bearer_file), ..HttpOptions::default() };
    let cache = CacheConfig {
        stale_if_error: Duration::from_secs(2),
        miss_cooldown: Duration::from_millis(500),
        ..short_cache()
    };
    let verifier = ready_verifier(jwks_issuer(&issuer, cache).with_http(http)).await;
    let mut tokens = Vec::new();

    // Rotation.
    for alg in ["ES256", "RS256", "EdDSA"] {
        tokens.push(mint(&issuer, alg, "before"));
    }
    issuer.rotate().unwrap();
    for alg in ["ES256", "RS256", "EdDSA"] {
        let token = mint(&issuer, alg, "after");
        assert_eq!(code(&verifier.verify(&token).await), "ok");
        tokens.push(token);
    }
    // Unknown-kid flood, and tokens rejected for every other reason.
    for i in 0..300 {
        let kid = format!("flood-{i}");
        tokens.push(issuer.mint_with_kid(claims("attacker"), "ES256", Duration::from_secs(60), &kid).unwrap());
    }
    tokens
        .push(issuer.mint(serde_json::json!({"sub": "x", "aud": "other"}), "ES256", Duration::from_secs(60)).unwrap());
    tokens.push(
        issuer
            .mint(serde_json::json!({"sub": "x", "aud": AUD, "iss": "https://evil"}), "ES256", Duration::from_secs(60))
            .unwrap(),
    );
    let mut tampered = tokens[0].clone();
    tampered.truncate(tampered.len() - 4);
    tampered.push_str("AAAA");
    tokens.push(tampered);
    for token in &tokens {
        let _ = verifier.verify(token).await;
    }
    // The axum layer, over real HTTP.
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hi" }))
        .layer(tokenkeep::axum_layer::JwtAuthLayer::new(verifier.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    for token in tokens.iter().take(10).chain(tokens.iter().rev().take(3)) {
        let _ = client.get(&url).bearer_auth(token).send().await.unwrap();
    }
    // An outage through the stale window into keys_unavailable, then recovery.
    issuer.outage(Duration::from_secs(4), OutageMode::Status503);
    wait_until(Duration::from_secs(8), "keys expire", || {
        code(&verifier.verify_cached(&tokens[3])) == "keys_unavailable"
    })
    .await;
    let _ = verifier.verify(&tokens[4]).await;
    wait_until(Duration::from_secs(8), "recovery", || verifier.verify_cached(&tokens[3]).is_ok()).await;
    server.abort();
    verifier.shutdown().await;
    // A verifier with a wrong bearer token: failures are logged.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "wrong-secret-0a1b2c3d4e5f").unwrap();
    let http = HttpOptions { bearer_token_file: Some(wrong), ..HttpOptions::default() };
    let refused = Verifier::new(vec![jwks_issuer(&issuer, short_cache()).with_http(http)]).unwrap();
    wait_for_error(&refused, "http_4xx", Duration::from_secs(3)).await;
    let _ = refused.verify(&tokens[3]).await;
    refused.shutdown().await;
    issuer.shutdown().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture really saw the action.
    for expected in
        ["jwks_refreshed", "jwks_refresh_failed", "jwks_expired", "token rejected", "unknown_kid", "http_5xx"]
    {
        assert!(logs.contains(expected), "log capture lacks {expected:?}:\n{logs}");
    }
    let lines = logs.lines().count();
    assert!(lines > 50, "only {lines} log lines captured");
    for secret in [BEARER, "wrong-secret-0a1b2c3d4e5f"] {
        assert!(!logs.contains(secret), "a bearer secret appears in the logs");
    }
    for (i, token) in tokens.iter().enumerate() {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!logs.contains(token.as_str()), "token {i} appears in the logs");
        assert!(!logs.contains(parts[2]), "the signature of token {i} appears in the logs");
        assert!(!logs.contains(parts[1]), "the claims segment of token {i} appears in the logs");
        // Any 40-character window of the signature, in case of truncation.
        if parts[2].len() >= 40 {
            assert!(!logs.contains(&parts[2][..40]), "a signature prefix of token {i} appears in the logs");
        }
    }
    let mut targets: Vec<&str> = logs
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.ends_with(':') && w.contains("::")))
        .map(|w| w.split("::").next().unwrap_or(w))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    for target in ["tokenkeep", "tokenkeep_dev_issuer", "reqwest", "hyper_util"] {
        assert!(targets.contains(&target), "no log line from {target}: {targets:?}");
    }
    println!("checked {} tokens against {lines} captured log lines from {targets:?}", tokens.len());
}
