//! Transport failures get the right typed code, whatever the URL looks like.

mod common;

use common::*;
use std::time::Duration;
use tokenkeep::{IssuerConfig, Verifier};

/// A loopback port nobody listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn transport_refused_connection_is_connect_even_when_the_url_mentions_tls_or_certificates() {
    let port = closed_port().await;
    for url in
        [format!("http://127.0.0.1:{port}/jwks"), format!("http://127.0.0.1:{port}/tls/certificate/handshake/jwks")]
    {
        let verifier =
            Verifier::new(vec![IssuerConfig::jwks_url("https://issuer.example", &url).with_cache(short_cache())])
                .unwrap();
        wait_until(Duration::from_secs(3), "a failed fetch", || health(&verifier).consecutive_failures >= 1).await;
        assert_eq!(health(&verifier).last_error_code, Some("connect"), "{url}");
        verifier.shutdown().await;
    }
}

#[tokio::test]
async fn transport_redirects_are_never_followed() {
    let issuer = issuer_with_max_age(1).await;
    issuer.set_jwks_override(Some((302, b"{}".to_vec())));
    let verifier = Verifier::new(vec![jwks_issuer(&issuer, short_cache())]).unwrap();
    wait_for_error(&verifier, "redirect", Duration::from_secs(3)).await;
    issuer.set_jwks_override(Some((429, b"{}".to_vec())));
    wait_for_error(&verifier, "http_429", Duration::from_secs(3)).await;
    verifier.shutdown().await;
    issuer.shutdown().await;
}
