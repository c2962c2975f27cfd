//! Several issuers in one verifier: the token's `iss` picks the keys and the
//! policy; an unknown `iss` costs nothing.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;
use tokenkeep::{CacheConfig, IssuerConfig, Verifier};
use tokenkeep_dev_issuer::DevIssuerConfig;

#[tokio::test]
async fn multi_issuer_tokens_of_each_verify_and_an_unknown_iss_is_wrong_issuer_with_zero_requests() {
    let a = start_issuer(DevIssuerConfig::default()).await;
    let b = start_issuer(DevIssuerConfig { algorithms: vec!["RS256".into()], ..DevIssuerConfig::default() }).await;
    let verifier = Verifier::new(vec![
        jwks_issuer(&a, CacheConfig::default()),
        IssuerConfig::discovery(b.issuer_url()).with_audience("api://b"),
    ])
    .unwrap();
    assert!(verifier.ready(Duration::from_secs(10)).await, "{:?}", verifier.health());
    assert_eq!(verifier.issuers(), vec![a.issuer_url().to_owned(), b.issuer_url().to_owned()]);
    let (a_before, b_before) = (a.stats(), b.stats());
    assert_eq!((a_before.jwks_requests(), a_before.discovery_requests()), (1, 0));
    assert_eq!((b_before.jwks_requests(), b_before.discovery_requests()), (1, 1));

    let token_a = mint(&a, "ES256", "alice");
    let token_b = b.mint(json!({"sub": "bob", "aud": "api://b"}), "RS256", Duration::from_secs(600)).unwrap();
    let verified = verifier.verify(&token_a).await.unwrap();
    assert_eq!((verified.claims.subject(), verified.claims.issuer()), (Some("alice"), Some(a.issuer_url())));
    let verified = verifier.verify(&token_b).await.unwrap();
    assert_eq!((verified.claims.subject(), verified.claims.issuer()), (Some("bob"), Some(b.issuer_url())));

    // Each issuer's policy applies to its own tokens only.
    let b_with_a_audience = b.mint(claims("eve"), "RS256", Duration::from_secs(600)).unwrap();
    assert_eq!(code(&verifier.verify(&b_with_a_audience).await), "wrong_audience");

    // A token signed by A but claiming to be B's: B's keys do not know A's kid.
    let forged_iss = a
        .mint(json!({"sub": "eve", "aud": "api://b", "iss": b.issuer_url()}), "ES256", Duration::from_secs(600))
        .unwrap();
    assert_eq!(code(&verifier.verify(&forged_iss).await), "unknown_kid");
    let b_after_forgery = b.stats().jwks_requests();

    // An iss nobody is configured for: rejected before any key lookup.
    let strangers = [
        a.mint(json!({"sub": "x", "aud": AUD, "iss": "https://stranger.example"}), "ES256", Duration::from_secs(600))
            .unwrap(),
        a.mint(
            json!({"sub": "x", "aud": AUD, "iss": format!("{}/", a.issuer_url())}),
            "ES256",
            Duration::from_secs(600),
        )
        .unwrap(),
        a.mint_with_kid(
            json!({"sub": "x", "aud": AUD, "iss": "https://stranger.example"}),
            "ES256",
            Duration::from_secs(600),
            "fresh-kid",
        )
        .unwrap(),
    ];
    for token in &strangers {
        for _ in 0..50 {
            assert_eq!(code(&verifier.verify(token).await), "wrong_issuer");
        }
    }
    let (a_after, b_after) = (a.stats(), b.stats());
    assert_eq!(a_after.jwks_requests() + a_after.discovery_requests(), 1, "zero requests at A: {a_after:?}");
    assert_eq!(b_after.jwks_requests(), b_after_forgery, "zero requests at B: {b_after:?}");
    let healths = verifier.health();
    assert_eq!(healths[0].cache.fetches_on_miss, 0);
    verifier.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn multi_issuer_ready_waits_for_all_issuers_within_one_timeout() {
    let a = start_issuer(DevIssuerConfig::default()).await;
    let b = start_issuer(DevIssuerConfig::default()).await;
    let c = start_issuer(DevIssuerConfig::default()).await;
    for issuer in [&b, &c] {
        issuer.set_jwks_override(Some((503, b"{}".to_vec())));
    }
    let verifier = Verifier::new(vec![
        jwks_issuer(&a, short_cache()),
        jwks_issuer(&b, short_cache()),
        jwks_issuer(&c, short_cache()),
    ])
    .unwrap();
    let started = std::time::Instant::now();
    assert!(!verifier.ready(Duration::from_secs(1)).await);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "ready(1 s) took {took:?} with two unreachable issuers");
    for issuer in [&b, &c] {
        issuer.set_jwks_override(None);
    }
    assert!(verifier.ready(Duration::from_secs(5)).await);
    verifier.shutdown().await;
}
