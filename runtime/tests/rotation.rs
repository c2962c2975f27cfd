//! Key rotation at a real issuer: new tokens verify at once, old ones keep
//! verifying while their key is published, with no restart and no 401.

mod common;

use common::*;
use std::time::Duration;
use tokenkeep::CacheConfig;
use tokenkeep_dev_issuer::DevIssuerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_new_tokens_verify_after_exactly_one_refetch_and_old_tokens_still_verify() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, CacheConfig::default())).await;
    let old_kid = issuer.current_kid("ES256").unwrap();
    let old_token = mint(&issuer, "ES256", "before-rotation");
    assert_eq!(verifier.verify(&old_token).await.unwrap().claims.subject(), Some("before-rotation"));
    assert_eq!(issuer.stats().jwks_requests(), 1);

    let new_kids = issuer.rotate().unwrap();
    assert_eq!(new_kids.len(), 1);
    assert_ne!(new_kids[0], old_kid);

    // 50 callers present tokens of the new key at the same moment.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..50 {
        let token = mint(&issuer, "ES256", &format!("after-{i}"));
        let verifier = verifier.clone();
        calls.spawn(async move { verifier.verify(&token).await.map(|v| v.key.kid().map(str::to_owned)) });
    }
    while let Some(result) = calls.join_next().await {
        assert_eq!(result.unwrap().unwrap().as_deref(), Some(new_kids[0].as_str()), "no rejection after rotation");
    }
    // The old key stays published (retire_after = 2 x max-age): old tokens still verify.
    let verified = verifier.verify(&old_token).await.unwrap();
    assert_eq!(verified.key.kid(), Some(old_kid.as_str()));

    let stats = issuer.stats();
    assert_eq!(stats.jwks_requests(), 2, "exactly one refetch for 50 concurrent new-kid tokens: {stats:?}");
    let h = health(&verifier);
    assert_eq!((h.fetches, h.fetches_on_miss, h.key_count), (2, 1, 2));
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn rotation_is_picked_up_by_the_background_refresh_without_any_key_miss() {
    let issuer = issuer_with_max_age(1).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, short_cache())).await;
    let old_token = mint(&issuer, "ES256", "old");
    issuer.rotate().unwrap();
    let new_token = mint(&issuer, "ES256", "new");
    // verify_cached never fetches: the refresh-ahead task alone brings the new key.
    wait_until(Duration::from_secs(5), "background refresh brings the new key", || {
        verifier.verify_cached(&new_token).is_ok()
    })
    .await;
    assert_eq!(code(&verifier.verify_cached(&old_token)), "ok");
    let h = health(&verifier);
    assert_eq!(h.fetches_on_miss, 0, "no miss-triggered fetch: {h:?}");
    assert!(issuer.stats().jwks_requests() >= 2);
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn rotation_every_algorithm_rotates_and_each_new_key_verifies() {
    let issuer = start_issuer(DevIssuerConfig {
        algorithms: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
        ..DevIssuerConfig::default()
    })
    .await;
    let cache = CacheConfig { miss_cooldown: Duration::from_millis(300), ..CacheConfig::default() };
    let verifier = ready_verifier(jwks_issuer(&issuer, cache)).await;
    let old: Vec<String> = ["RS256", "ES256", "EdDSA"].iter().map(|a| mint(&issuer, a, "old")).collect();
    for round in 0..2 {
        issuer.rotate().unwrap();
        for alg in ["RS256", "ES256", "EdDSA"] {
            let token = mint(&issuer, alg, "new");
            let verified = verifier.verify(&token).await.unwrap_or_else(|e| panic!("{alg} round {round}: {e:?}"));
            assert_eq!(verified.key.kid(), Some(issuer.current_kid(alg).unwrap().as_str()));
        }
        // Second round: the rotation came within the miss cooldown of the first.
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    for token in &old {
        assert_eq!(code(&verifier.verify(token).await), "ok");
    }
    // One refetch per rotation, not one per algorithm.
    assert_eq!(issuer.stats().jwks_requests(), 3);
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn rotation_retired_key_is_dropped_only_after_two_fetches_agree() {
    let issuer = start_issuer(DevIssuerConfig {
        jwks_max_age: Duration::from_secs(1),
        retire_after: Some(Duration::from_millis(500)),
        ..DevIssuerConfig::default()
    })
    .await;
    let verifier = ready_verifier(jwks_issuer(&issuer, short_cache())).await;
    let old_token = mint(&issuer, "ES256", "old");
    issuer.rotate().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(issuer.jwks()["keys"].as_array().unwrap().len() == 1, "old key retired at the issuer");
    let fetches_at_retirement = issuer.stats().jwks_requests();
    wait_until(Duration::from_secs(8), "old key dropped", || {
        code(&verifier.verify_cached(&old_token)) == "unknown_kid"
    })
    .await;
    assert!(
        issuer.stats().jwks_requests() >= fetches_at_retirement + 2,
        "the key went only after two fetches without it"
    );
    verifier.shutdown().await;
    issuer.shutdown().await;
}
