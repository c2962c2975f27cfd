//! `resolve`: connect to an address of our choosing while SNI and the
//! certificate check use the URL's host name.

mod common;

use common::*;
use std::time::Duration;
use tokenkeep::http::HttpOptions;
use tokenkeep::{CacheConfig, IssuerConfig, Verifier};
use tokenkeep_dev_issuer::DevIssuerConfig;

const HOST: &str = "idp.tokenkeep.test";

#[tokio::test]
async fn resolve_override_connects_to_loopback_and_checks_the_certificate_against_the_host_name() {
    let issuer = start_issuer(DevIssuerConfig::default()).await;
    let pki = test_pki(&[HOST]);
    let server = tls_jwks_server(&pki, issuer.jwks()).await;
    let port = server.addr.port();
    let token = mint(&issuer, "ES256", "user");

    let config = |host: &str| {
        let http = HttpOptions {
            ca_file: Some(pki.ca_file.to_path_buf()),
            resolve: vec![(host.to_owned(), server.addr)],
            ..HttpOptions::default()
        };
        IssuerConfig::jwks_url(issuer.issuer_url(), format!("https://{host}:{port}/jwks"))
            .with_audience(AUD)
            .with_cache(CacheConfig { request_timeout: Duration::from_secs(2), ..short_cache() })
            .with_http(http)
    };

    // `.test` names never resolve: only the override can have connected.
    let verifier = ready_verifier(config(HOST)).await;
    assert_eq!(code(&verifier.verify(&token).await), "ok");
    assert_eq!(server.requests(), 1);

    // The port connected to is the URL's: an address with another port still reaches the server.
    let mut other_port = config(HOST);
    other_port.http.resolve = vec![(HOST.to_owned(), std::net::SocketAddr::from(([127, 0, 0, 1], 1)))];
    let via_url_port = ready_verifier(other_port).await;
    assert_eq!(code(&via_url_port.verify(&token).await), "ok");
    assert_eq!(server.requests(), 2);
    via_url_port.shutdown().await;

    // Same address, a name the certificate does not carry: refused by the TLS check.
    let other = Verifier::new(vec![config("other.tokenkeep.test")]).unwrap();
    assert_eq!(code(&other.verify(&token).await), "keys_unavailable");
    wait_for_error(&other, "tls", Duration::from_secs(3)).await;
    assert_eq!(server.requests(), 2, "no request went over a connection with the wrong certificate");

    // The dev issuer's own certificate (for localhost) behind the override is refused too.
    let tls_issuer = start_issuer(DevIssuerConfig { tls: true, ..DevIssuerConfig::default() }).await;
    let http = HttpOptions {
        ca_file: tls_issuer.ca_pem_path().map(|p| p.to_path_buf()),
        resolve: vec![(HOST.to_owned(), tls_issuer.local_addr())],
        ..HttpOptions::default()
    };
    let jwks_url = format!("https://{HOST}:{}/jwks", tls_issuer.local_addr().port());
    let mismatched =
        Verifier::new(vec![IssuerConfig::jwks_url(tls_issuer.issuer_url(), jwks_url).with_http(http)]).unwrap();
    wait_for_error(&mismatched, "tls", Duration::from_secs(3)).await;
    assert_eq!(tls_issuer.stats().jwks_requests(), 0);

    // With `localhost` in the URL and the override, the dev issuer's certificate matches.
    let http = HttpOptions {
        ca_file: tls_issuer.ca_pem_path().map(|p| p.to_path_buf()),
        resolve: vec![("localhost".to_owned(), tls_issuer.local_addr())],
        ..HttpOptions::default()
    };
    let jwks_url = format!("https://localhost:{}/jwks", tls_issuer.local_addr().port());
    let localhost =
        ready_verifier(IssuerConfig::jwks_url(tls_issuer.issuer_url(), jwks_url).with_audience(AUD).with_http(http))
            .await;
    assert_eq!(code(&localhost.verify(&mint(&tls_issuer, "ES256", "u")).await), "ok");
    for v in [verifier, other, mismatched, localhost] {
        v.shutdown().await;
    }
    tls_issuer.shutdown().await;
    issuer.shutdown().await;
}
