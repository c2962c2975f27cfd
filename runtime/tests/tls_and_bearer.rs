//! Transport options against real TLS servers: a custom CA file, a bearer
//! token file re-read on every request.

mod common;

use common::*;
use std::time::Duration;
use tokenkeep::http::HttpOptions;
use tokenkeep::{CacheConfig, Verifier};
use tokenkeep_dev_issuer::DevIssuerConfig;

#[tokio::test]
async fn tls_custom_ca_file_is_trusted_and_without_it_the_fetch_fails_with_tls() {
    let issuer = start_issuer(DevIssuerConfig { tls: true, ..DevIssuerConfig::default() }).await;
    assert!(issuer.jwks_url().starts_with("https://127.0.0.1:"));
    let token = mint(&issuer, "ES256", "user");

    let ca_file = issuer.ca_pem_path().unwrap().to_path_buf();
    let http = HttpOptions { ca_file: Some(ca_file), ..HttpOptions::default() };
    let trusted = ready_verifier(jwks_issuer(&issuer, CacheConfig::default()).with_http(http)).await;
    assert_eq!(code(&trusted.verify(&token).await), "ok");

    // The system roots do not know the dev issuer's CA.
    let untrusted = Verifier::new(vec![jwks_issuer(&issuer, short_cache())]).unwrap();
    assert_eq!(code(&untrusted.verify(&token).await), "keys_unavailable");
    wait_for_error(&untrusted, "tls", Duration::from_secs(3)).await;
    // A handshake that fails never reaches the HTTP layer.
    assert_eq!(issuer.stats().jwks_requests(), 1);

    // A CA that is not the issuer's is no better.
    let other = test_pki(&["localhost"]);
    let http = HttpOptions { ca_file: Some(other.ca_file.to_path_buf()), ..HttpOptions::default() };
    let wrong_ca = Verifier::new(vec![jwks_issuer(&issuer, short_cache()).with_http(http)]).unwrap();
    wait_for_error(&wrong_ca, "tls", Duration::from_secs(3)).await;
    assert_eq!(issuer.stats().jwks_requests(), 1);
    for v in [trusted, untrusted, wrong_ca] {
        v.shutdown().await;
    }
    issuer.shutdown().await;
}

#[tokio::test]
async fn tls_unreadable_or_empty_ca_file_is_a_config_error_at_build_time() {
    let issuer = start_issuer(DevIssuerConfig { tls: true, ..DevIssuerConfig::default() }).await;
    let missing = HttpOptions { ca_file: Some("/nonexistent/ca.pem".into()), ..HttpOptions::default() };
    let err = Verifier::new(vec![jwks_issuer(&issuer, CacheConfig::default()).with_http(missing)]).unwrap_err();
    assert_eq!(err.code(), "ca_file_unreadable");
    let empty = tempfile::NamedTempFile::new().unwrap();
    let http = HttpOptions { ca_file: Some(empty.path().to_path_buf()), ..HttpOptions::default() };
    let err = Verifier::new(vec![jwks_issuer(&issuer, CacheConfig::default()).with_http(http)]).unwrap_err();
    assert_eq!(err.code(), "ca_file_invalid");
    issuer.shutdown().await;
}

#[tokio::test]
async fn bearer_token_file_is_reread_on_every_request_and_a_wrong_token_fails_with_http_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer_side, client_side) = (dir.path().join("expected"), dir.path().join("token"));
    std::fs::write(&issuer_side, "sa-token-one\n").unwrap();
    std::fs::write(&client_side, "sa-token-one\n").unwrap();
    let issuer = start_issuer(DevIssuerConfig {
        jwks_max_age: Duration::from_secs(1),
        require_bearer_file: Some(issuer_side.clone()),
        ..DevIssuerConfig::default()
    })
    .await;
    let http = HttpOptions { bearer_token_file: Some(client_side.clone()), ..HttpOptions::default() };
    let verifier = ready_verifier(jwks_issuer(&issuer, short_cache()).with_http(http)).await;
    let token = mint(&issuer, "ES256", "user");
    assert_eq!(code(&verifier.verify(&token).await), "ok");

    // Both sides rotate the token: refreshes keep succeeding with the new one.
    std::fs::write(&issuer_side, "sa-token-two").unwrap();
    std::fs::write(&client_side, "sa-token-two").unwrap();
    let before = issuer.stats().jwks_requests();
    wait_until(Duration::from_secs(4), "two refreshes with the new token", || {
        issuer.stats().jwks_requests() >= before + 2
    })
    .await;
    let stats = issuer.stats();
    assert_eq!(stats.status(401), 0, "{stats:?}");
    assert_eq!(health(&verifier).last_error_code, None);

    // The client's token goes wrong: the next refresh is refused, stale keys still verify.
    std::fs::write(&client_side, "not-the-token").unwrap();
    wait_for_error(&verifier, "http_4xx", Duration::from_secs(4)).await;
    assert!(issuer.stats().status(401) >= 1);
    assert_eq!(code(&verifier.verify(&token).await), "ok");

    // Fixed again: recovery without a restart.
    std::fs::write(&client_side, "sa-token-two").unwrap();
    wait_until(Duration::from_secs(4), "recovery", || health(&verifier).last_error_code.is_none()).await;

    // A missing file fails the request without sending it.
    std::fs::remove_file(&client_side).unwrap();
    let sent = issuer.stats().jwks_requests();
    wait_for_error(&verifier, "transport", Duration::from_secs(4)).await;
    assert_eq!(issuer.stats().jwks_requests(), sent);
    verifier.shutdown().await;
    issuer.shutdown().await;
}
