//! Refreshes after the TTL are conditional GETs answered 304, which extend
//! freshness without re-parsing keys.

mod common;

use common::*;
use std::time::Duration;
use tokenkeep::CacheState;

#[tokio::test]
async fn conditional_get_refreshes_come_back_304_and_verification_continues() {
    let issuer = issuer_with_max_age(1).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, short_cache())).await;
    let token = mint(&issuer, "ES256", "user");
    // TTL 1 s, refresh ahead at ~0.8 s: a few refreshes in 3.5 s.
    let until = tokio::time::Instant::now() + Duration::from_millis(3500);
    while tokio::time::Instant::now() < until {
        assert_eq!(code(&verifier.verify_cached(&token)), "ok");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = issuer.stats();
    assert!(stats.jwks_304s >= 2, "{stats:?}");
    // Exactly one full body: every later fetch carried If-None-Match and got 304.
    assert_eq!(stats.status(200), 1, "{stats:?}");
    assert_eq!(stats.jwks_requests(), 1 + stats.jwks_304s, "{stats:?}");
    let h = health(&verifier);
    assert!(matches!(h.state, CacheState::Fresh | CacheState::RefreshingAhead), "{h:?}");
    assert_eq!(h.last_error_code, None);
    assert_eq!(h.fetches, stats.jwks_requests());
    assert!(h.age_seconds.unwrap() < 1.5, "a 304 counts as a successful fetch: {h:?}");
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn conditional_get_after_rotation_returns_200_with_the_new_set() {
    let issuer = issuer_with_max_age(1).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, short_cache())).await;
    wait_until(Duration::from_secs(4), "a first 304", || issuer.stats().jwks_304s >= 1).await;
    issuer.rotate().unwrap();
    let token = mint(&issuer, "ES256", "after-rotation");
    wait_until(Duration::from_secs(4), "refresh with the new set", || verifier.verify_cached(&token).is_ok()).await;
    let stats = issuer.stats();
    assert_eq!(stats.status(200), 2, "the changed set came back as a full 200: {stats:?}");
    assert_eq!(health(&verifier).fetches_on_miss, 0);
    verifier.shutdown().await;
    issuer.shutdown().await;
}
