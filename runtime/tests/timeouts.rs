//! A server that accepts and never answers: the request timeout bounds every
//! wait, `verify()` never hangs.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokenkeep::{CacheConfig, CacheState, Verifier};
use tokenkeep_dev_issuer::OutageMode;

fn one_second_timeout() -> CacheConfig {
    CacheConfig { request_timeout: Duration::from_secs(1), ..short_cache() }
}

#[tokio::test]
async fn timeout_hanging_server_without_keys_answers_keys_unavailable_within_2s() {
    let issuer = issuer_with_max_age(2).await;
    issuer.outage(Duration::from_secs(20), OutageMode::Hang);
    let verifier = Verifier::new(vec![jwks_issuer(&issuer, one_second_timeout())]).unwrap();
    let token = mint(&issuer, "ES256", "user");
    let started = Instant::now();
    let result = verifier.verify(&token).await;
    let took = started.elapsed();
    assert_eq!(code(&result), "keys_unavailable");
    assert!(took < Duration::from_millis(2500), "verify returned after {took:?}");
    assert!(took >= Duration::from_millis(500), "it did wait for the first fetch: {took:?}");
    wait_for_error(&verifier, "timeout", Duration::from_secs(2)).await;
    assert!(!verifier.ready(Duration::from_millis(200)).await);
    // Later calls either are answered at once (retry backing off) or wait for
    // the retry in flight, never longer than its timeout.
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(code(&verifier.verify(&token).await), "keys_unavailable");
        assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
    }
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn timeout_hanging_server_with_stale_keys_verifies_at_once_and_unknown_kid_waits_at_most_2s() {
    let issuer = issuer_with_max_age(1).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, one_second_timeout())).await;
    let token = mint(&issuer, "ES256", "user");
    issuer.outage(Duration::from_secs(20), OutageMode::Hang);
    // Past the 1 s TTL, the refresh hangs and times out: stale keys are served.
    wait_for_error(&verifier, "timeout", Duration::from_secs(4)).await;
    let started = Instant::now();
    assert_eq!(code(&verifier.verify(&token).await), "ok");
    assert!(started.elapsed() < Duration::from_millis(200));
    assert!(matches!(health(&verifier).state, CacheState::Stale | CacheState::Fresh));

    let forged = issuer.mint_with_kid(claims("x"), "ES256", Duration::from_secs(60), "not-there").unwrap();
    let started = Instant::now();
    assert_eq!(code(&verifier.verify(&forged).await), "unknown_kid");
    assert!(started.elapsed() < Duration::from_millis(2500), "{:?}", started.elapsed());
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn timeout_verifier_shutdown_is_prompt_while_a_request_hangs() {
    let issuer = issuer_with_max_age(2).await;
    issuer.outage(Duration::from_secs(20), OutageMode::Hang);
    let cache = CacheConfig { request_timeout: Duration::from_secs(10), ..short_cache() };
    let verifier = Verifier::new(vec![jwks_issuer(&issuer, cache)]).unwrap();
    wait_until(Duration::from_secs(2), "the request reached the issuer", || issuer.stats().jwks_requests() == 1).await;
    let started = Instant::now();
    verifier.shutdown().await;
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    issuer.shutdown().await;
}
