//! The axum layer through a real server and a real HTTP client.

mod common;

use axum::routing::get;
use axum::{Extension, Router};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokenkeep::axum_layer::JwtAuthLayer;
use tokenkeep::{Authenticated, VerifiedToken, Verifier};
use tokenkeep_dev_issuer::{DevIssuerConfig, OutageMode};

async fn me(Extension(verified): Extension<Arc<VerifiedToken>>) -> String {
    (json!({
        "sub": verified.claims.subject(),
        "iss": verified.claims.issuer(),
        "kid": verified.key.kid(),
    }))
    .to_string()
}

async fn scopes(Extension(authenticated): Extension<Authenticated>) -> String {
    authenticated.scopes.join(",")
}

/// Serves `/me` behind the layer on 127.0.0.1; returns the base URL.
async fn serve(verifier: Verifier) -> (String, tokio::task::JoinHandle<()>) {
    serve_with(JwtAuthLayer::new(verifier)).await
}

async fn serve_with(layer: JwtAuthLayer) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().route("/me", get(me)).route("/scopes", get(scopes)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn axum_layer_answers_200_with_claims_401_with_rfc6750_challenges_and_503_without_keys() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, tokenkeep::CacheConfig::default())).await;
    let (url, server) = serve(verifier.clone()).await;
    let client = reqwest::Client::new();
    let me_url = format!("{url}/me");

    // 200: the handler sees the verified claims through the extension.
    let token = mint(&issuer, "ES256", "alice");
    let response = client.get(&me_url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["iss"], issuer.issuer_url());
    assert_eq!(body["kid"], issuer.current_kid("ES256").unwrap());
    // The scheme is case-insensitive.
    let response = client.get(&me_url).header("authorization", format!("bEaReR {token}")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // No credentials, or not Bearer: invalid_request.
    for auth in [None, Some("Basic YWxpY2U6c2VjcmV0".to_owned()), Some("Bearer ".to_owned()), Some(token.clone())] {
        let mut request = client.get(&me_url);
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(header(&response, "www-authenticate").as_deref(), Some(r#"Bearer error="invalid_request""#));
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"], "missing_token");
    }

    // Bad tokens: invalid_token with the rejection code as description.
    let expired = issuer
        .mint(json!({"sub": "a", "aud": AUD, "exp": 1_000_000_000u64, "iat": 999_999_000u64}), "ES256", Duration::ZERO)
        .unwrap();
    let wrong_aud = issuer.mint(json!({"sub": "a", "aud": "api://other"}), "ES256", Duration::from_secs(60)).unwrap();
    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    let cases = [
        ("not-a-jwt", "malformed"),
        (expired.as_str(), "expired"),
        (wrong_aud.as_str(), "wrong_audience"),
        (tampered.as_str(), "invalid_signature"),
    ];
    for (bad, reason) in cases {
        let response = client.get(&me_url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(response.status(), 401, "{reason}");
        let challenge = format!(r#"Bearer error="invalid_token", error_description="{reason}""#);
        assert_eq!(header(&response, "www-authenticate"), Some(challenge), "{reason}");
    }
    server.abort();

    // Scopes the layer requires, and a realm in every challenge.
    let layer = JwtAuthLayer::new(verifier.clone()).require_scopes(["orders:read"]).realm("api");
    let (url, server) = serve_with(layer).await;
    let scoped = |scope: &str| {
        issuer.mint(json!({"sub": "a", "aud": AUD, "scope": scope}), "ES256", Duration::from_secs(60)).unwrap()
    };
    let response = client.get(format!("{url}/scopes")).bearer_auth(scoped("profile")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:read""#)
    );
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    let response = client.get(format!("{url}/scopes")).bearer_auth(scoped("profile orders:read")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "profile,orders:read");
    let response = client.get(format!("{url}/scopes")).send().await.unwrap();
    assert_eq!(
        header(&response, "www-authenticate").as_deref(),
        Some(r#"Bearer realm="api", error="invalid_request""#)
    );
    server.abort();
    verifier.shutdown().await;

    // No usable keys (the issuer is down since before start-up): 503, no challenge.
    issuer.outage(Duration::from_secs(30), OutageMode::Status503);
    let cold = Verifier::new(vec![jwks_issuer(&issuer, short_cache())]).unwrap();
    let (url, server) = serve(cold.clone()).await;
    let response = client.get(format!("{url}/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "www-authenticate"), None);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("5"));
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "keys_unavailable");
    server.abort();
    cold.shutdown().await;
    issuer.shutdown().await;
}
