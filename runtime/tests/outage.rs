//! IdP outages: last good keys are served within the stale window, then
//! `keys_unavailable`, then recovery once the issuer is back.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokenkeep::{CacheConfig, CacheState};
use tokenkeep_dev_issuer::OutageMode;

/// Fresh for 2 s (the issuer's max-age), stale-if-error 4 s more.
fn outage_cache() -> CacheConfig {
    CacheConfig { stale_if_error: Duration::from_secs(4), ..short_cache() }
}

async fn sleep_until(start: Instant, at: Duration) {
    tokio::time::sleep_until((start + at).into()).await;
}

async fn outage_within_and_beyond_the_stale_window(mode: OutageMode, error: &str) {
    let issuer = issuer_with_max_age(2).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, outage_cache())).await;
    // Keys were loaded just now: fresh until ~t0+2 s, usable until ~t0+6 s.
    let t0 = Instant::now();
    let token = mint(&issuer, "ES256", "during-outage");
    issuer.outage(Duration::from_secs(8), mode);

    sleep_until(t0, Duration::from_millis(1000)).await;
    assert_eq!(code(&verifier.verify(&token).await), "ok", "fresh keys");

    // Past the fresh TTL: the refresh failed, stale keys are served.
    sleep_until(t0, Duration::from_millis(3000)).await;
    let h = health(&verifier);
    assert_eq!(h.state, CacheState::Stale, "{h:?}");
    assert_eq!(h.last_error_code, Some(error));
    assert!(h.consecutive_failures >= 1);
    for at in [3000, 4000, 5000] {
        sleep_until(t0, Duration::from_millis(at)).await;
        let started = Instant::now();
        assert_eq!(code(&verifier.verify(&token).await), "ok", "stale keys at +{at} ms");
        assert!(started.elapsed() < Duration::from_millis(200), "a known kid never waits for a fetch");
    }

    // Past the stale window: keys_unavailable, answered at once.
    sleep_until(t0, Duration::from_millis(6800)).await;
    assert_eq!(health(&verifier).state, CacheState::Expired);
    let started = Instant::now();
    assert_eq!(code(&verifier.verify(&token).await), "keys_unavailable");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(code(&verifier.verify_cached(&token)), "keys_unavailable");
    let failed_fetches = issuer.stats().jwks_requests() - 1;
    assert!(failed_fetches >= 3, "retried during the outage: {failed_fetches}");

    // The outage ends at t0+8 s: the next retry (backoff capped at 0.8 s here) recovers.
    sleep_until(t0, Duration::from_secs(8)).await;
    wait_until(Duration::from_secs(5), "recovery", || verifier.verify_cached(&token).is_ok()).await;
    let h = health(&verifier);
    assert_eq!((h.state, h.last_error_code, h.consecutive_failures), (CacheState::Fresh, None, 0), "{h:?}");
    assert_eq!(code(&verifier.verify(&mint(&issuer, "ES256", "after")).await), "ok");
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn outage_503_stale_keys_verify_within_window_then_keys_unavailable_then_recovery() {
    outage_within_and_beyond_the_stale_window(OutageMode::Status503, "http_5xx").await;
}

#[tokio::test]
async fn outage_connection_reset_stale_keys_verify_within_window_then_keys_unavailable_then_recovery() {
    outage_within_and_beyond_the_stale_window(OutageMode::Reset, "transport").await;
}

#[tokio::test]
async fn outage_retries_during_stale_window_follow_the_refresh_cadence_not_a_hot_loop() {
    let issuer = issuer_with_max_age(2).await;
    let verifier =
        ready_verifier(jwks_issuer(&issuer, CacheConfig { stale_if_error: Duration::from_secs(30), ..short_cache() }))
            .await;
    let token = mint(&issuer, "ES256", "u");
    issuer.outage(Duration::from_secs(30), OutageMode::Status503);
    // 100 verifications per 100 ms for 5 s: none of them causes a fetch.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        for _ in 0..100 {
            assert_eq!(code(&verifier.verify(&token).await), "ok");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fetch attempts happen on the ~1.6 s cadence (80% of 2 s, ±10%): 1 + at most 4 in 5 s.
    let requests = issuer.stats().jwks_requests();
    assert!((2..=5).contains(&requests), "jwks requests during a 5 s outage: {requests}");
    assert_eq!(health(&verifier).fetches_on_miss, 0);
    verifier.shutdown().await;
    issuer.shutdown().await;
}
