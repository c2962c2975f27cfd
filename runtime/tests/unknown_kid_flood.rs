//! Attacker-chosen kids cost the issuer at most one request per cooldown.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokenkeep::CacheConfig;
use tokenkeep_dev_issuer::DevIssuerConfig;

const FLOOD: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_of_2000_costs_at_most_one_jwks_request_and_known_kids_keep_verifying() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, CacheConfig::default())).await;
    assert_eq!(issuer.stats().jwks_requests(), 1);

    let salt = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
    let forged: Vec<String> = (0..FLOOD)
        .map(|i| {
            issuer
                .mint_with_kid(claims("attacker"), "ES256", Duration::from_secs(600), &format!("rnd-{salt:x}-{i}"))
                .unwrap()
        })
        .collect();
    let good: Vec<String> = (0..100).map(|i| mint(&issuer, "ES256", &format!("user-{i}"))).collect();

    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for (i, token) in forged.iter().enumerate() {
        let (v, token) = (verifier.clone(), token.clone());
        calls.spawn(async move { (false, v.verify(&token).await.map(|_| ()).map_err(|r| r.code())) });
        if i % 20 == 0 {
            let (v, token) = (verifier.clone(), good[i / 20].clone());
            calls.spawn(async move { (true, v.verify(&token).await.map(|_| ()).map_err(|r| r.code())) });
        }
    }
    let (mut unknown, mut verified) = (0, 0);
    while let Some(joined) = calls.join_next().await {
        match joined.unwrap() {
            (false, Err(c)) if c.as_str() == "unknown_kid" => unknown += 1,
            (true, Ok(())) => verified += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((unknown, verified), (FLOOD, 100));
    assert!(started.elapsed() < Duration::from_secs(10), "flood answered in {:?}", started.elapsed());

    let stats = issuer.stats();
    assert_eq!(stats.jwks_requests(), 2, "one initial fetch + at most one for the flood: {stats:?}");
    let h = health(&verifier);
    assert_eq!((h.fetches, h.fetches_on_miss), (2, 1));

    // The same flood again: negative cache and cooldown, zero requests.
    for token in &forged {
        assert_eq!(code(&verifier.verify(token).await), "unknown_kid");
    }
    assert_eq!(issuer.stats().jwks_requests(), 2);
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn unknown_kid_floods_in_consecutive_cooldowns_cost_one_request_each() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let cache = CacheConfig { miss_cooldown: Duration::from_secs(1), ..CacheConfig::default() };
    let verifier = ready_verifier(jwks_issuer(&issuer, cache)).await;
    let good = mint(&issuer, "ES256", "user");
    for wave in 0..3u64 {
        for i in 0..300 {
            let kid = format!("wave-{wave}-{i}");
            let token = issuer.mint_with_kid(claims("attacker"), "ES256", Duration::from_secs(600), &kid).unwrap();
            assert_eq!(code(&verifier.verify(&token).await), "unknown_kid");
            assert_eq!(code(&verifier.verify(&good).await), "ok");
        }
        assert_eq!(issuer.stats().jwks_requests(), 2 + wave, "wave {wave}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn unknown_kid_with_wrong_issuer_or_disallowed_alg_causes_no_request() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let policy = tokenkeep::Policy::new(issuer.issuer_url())
        .with_audience(AUD)
        .with_algorithms(tokenkeep::core::AlgSet::only(tokenkeep::Algorithm::ES256));
    let config = jwks_issuer(&issuer, CacheConfig::default()).with_policy(policy);
    let verifier = ready_verifier(config).await;
    let wrong_iss = issuer
        .mint_with_kid(
            serde_json::json!({"sub": "x", "aud": AUD, "iss": "https://evil.example"}),
            "ES256",
            Duration::from_secs(600),
            "nope",
        )
        .unwrap();
    let rsa = issuer.mint_with_kid(claims("x"), "RS256", Duration::from_secs(600), "nope-rsa").unwrap();
    for _ in 0..100 {
        assert_eq!(code(&verifier.verify(&wrong_iss).await), "wrong_issuer");
        assert_eq!(code(&verifier.verify(&rsa).await), "alg_not_allowed");
    }
    // iss and alg are checked before any fetch is triggered.
    assert_eq!(issuer.stats().jwks_requests(), 1);
    assert_eq!(health(&verifier).fetches_on_miss, 0);
    verifier.shutdown().await;
    issuer.shutdown().await;
}
