//! The shared bearer cases (tests/vectors/bearer.json) through
//! `Verifier::authenticate` and `authenticate_blocking`, with tokens from the
//! dev issuer over loopback: every host's HTTP layer answers these the same.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokenkeep::{Authenticated, Denial};
use tokenkeep_dev_issuer::DevIssuerConfig;

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/bearer.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["cases"].as_array().unwrap().clone()
}

/// What a case expects, in the vectors' form.
fn answer(outcome: &Result<Authenticated, Denial>) -> Value {
    match outcome {
        Ok(ok) => json!({"status": 200, "scopes": ok.scopes}),
        Err(d) => json!({
            "status": d.status, "error": d.error, "www_authenticate": d.www_authenticate, "retry_after": d.retry_after,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bearer_case_gets_its_answer_async_and_blocking() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, tokenkeep::CacheConfig::default())).await;
    let cases = cases();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut claims = json!({"sub": "alice", "aud": AUD});
        for (k, v) in case["claims"].as_object().unwrap() {
            claims[k] = v.clone();
        }
        let token = issuer.mint(claims, "ES256", Duration::from_secs(600)).unwrap();
        let authorization = case["authorization"].as_str().map(|a| a.replace("{token}", &token));
        let required: Vec<String> =
            case["required"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
        let realm = case["realm"].as_str();

        let outcome = verifier.authenticate(authorization.as_deref(), &required, realm).await;
        assert_eq!(answer(&outcome), case["expect"], "{name}");
        if let Ok(ok) = &outcome {
            assert_eq!(ok.token.claims.subject(), Some("alice"), "{name}");
        }
        let (v, a, r) = (verifier.clone(), authorization.clone(), required.clone());
        let realm_owned = realm.map(str::to_owned);
        let blocking = tokio::task::spawn_blocking(move || {
            answer(&v.authenticate_blocking(a.as_deref(), &r, realm_owned.as_deref()))
        })
        .await
        .unwrap();
        assert_eq!(blocking, case["expect"], "{name} (blocking)");
    }
    verifier.shutdown().await;
    issuer.shutdown().await;
}
