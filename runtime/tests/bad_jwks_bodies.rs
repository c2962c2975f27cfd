//! Oversized, malformed and empty key sets are typed refresh failures; the
//! last good keys stay in service.

mod common;

use common::*;
use std::time::Duration;
use tokenkeep::CacheState;

#[tokio::test]
async fn bad_jwks_bodies_are_typed_failures_and_the_last_good_keys_are_kept() {
    let issuer = issuer_with_max_age(1).await;
    let verifier = ready_verifier(jwks_issuer(&issuer, short_cache())).await;
    let token = mint(&issuer, "ES256", "user");
    let keys_before = health(&verifier).key_count;

    let cases: [(&str, Vec<u8>); 4] = [
        ("body_too_large", vec![b' '; 2 * 1024 * 1024]),
        ("jwks_not_json", b"not json".to_vec()),
        ("jwks_no_usable_keys", br#"{"keys":[]}"#.to_vec()),
        ("jwks_not_a_key_set", br#"{"kids":[]}"#.to_vec()),
    ];
    for (expected, body) in cases {
        issuer.set_jwks_override(Some((200, body)));
        wait_for_error(&verifier, expected, Duration::from_secs(5)).await;
        let h = health(&verifier);
        assert_eq!(h.key_count, keys_before, "{expected}: last good keys kept");
        assert_eq!(code(&verifier.verify(&token).await), "ok", "{expected}: still verifies");
    }
    issuer.set_jwks_override(None);
    wait_until(Duration::from_secs(5), "recovery", || health(&verifier).last_error_code.is_none()).await;
    let h = health(&verifier);
    assert!(matches!(h.state, CacheState::Fresh | CacheState::RefreshingAhead), "{h:?}");
    assert_eq!(h.consecutive_failures, 0);
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn bad_jwks_body_on_first_fetch_means_keys_unavailable_not_a_crash() {
    let issuer = issuer_with_max_age(1).await;
    issuer.set_jwks_override(Some((200, b"not json".to_vec())));
    let verifier = tokenkeep::Verifier::new(vec![jwks_issuer(&issuer, short_cache())]).unwrap();
    let token = mint(&issuer, "ES256", "user");
    assert_eq!(code(&verifier.verify(&token).await), "keys_unavailable");
    wait_for_error(&verifier, "jwks_not_json", Duration::from_secs(2)).await;
    issuer.set_jwks_override(Some((500, b"{}".to_vec())));
    wait_for_error(&verifier, "http_5xx", Duration::from_secs(3)).await;
    issuer.set_jwks_override(None);
    assert!(verifier.ready(Duration::from_secs(5)).await);
    assert_eq!(code(&verifier.verify(&token).await), "ok");
    verifier.shutdown().await;
    issuer.shutdown().await;
}

#[tokio::test]
async fn bad_jwks_body_without_content_length_is_cut_off_while_reading() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A raw HTTP/1.1 server that streams an endless body until the client hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let server = tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                continue;
            }
            let chunk = vec![b' '; 64 * 1024];
            // Stop at 64 MiB in any case; the client must give up long before.
            for _ in 0..1024 {
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
                counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let verifier = tokenkeep::Verifier::new(vec![
        tokenkeep::IssuerConfig::jwks_url("https://issuer.example", url).with_cache(short_cache()),
    ])
    .unwrap();
    wait_for_error(&verifier, "body_too_large", Duration::from_secs(5)).await;
    let streamed = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(streamed < 16 * 1024 * 1024, "the client kept reading: {streamed} bytes");
    verifier.shutdown().await;
    server.abort();
}
