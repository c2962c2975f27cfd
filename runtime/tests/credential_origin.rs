//! Credentials stay at the origin they were configured for, every request
//! obeys one transport rule, and a failed handshake says why: against real
//! servers on loopback (two HTTP servers that record what reaches them, and
//! TLS servers with certificates of our choice).

mod common;

use common::*;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokenkeep::core::http::{HeaderValue, HttpOutcome, HttpRequest, Method, RequestId, TransportError};
use tokenkeep::http::{HttpClient, HttpOptions, TlsFailure};
use tokenkeep::{CacheConfig, IssuerConfig, Verifier};
use tokenkeep_dev_issuer::{SigningKey, StaticRoute, StaticServer};

/// Discovery (naming `jwks_uri`) and nothing else.
async fn discovery_server(jwks_uri: String) -> StaticServer {
    StaticServer::start(|me| {
        let doc = json!({"issuer": me, "jwks_uri": jwks_uri});
        vec![StaticRoute::new("/.well-known/openid-configuration", doc.to_string())]
    })
    .await
    .unwrap()
}

async fn jwks_server() -> StaticServer {
    StaticServer::start(|_| vec![StaticRoute::new("/jwks", public_jwks().to_string())]).await.unwrap()
}

fn public_jwks() -> Value {
    let key = SigningKey::generate(tokenkeep::Algorithm::ES256, Some("k1".into())).unwrap();
    json!({"keys": [key.public_jwk().unwrap()]})
}

fn get_request(url: &str) -> HttpRequest {
    HttpRequest {
        id: RequestId(1),
        method: Method::Get,
        url: url.to_owned(),
        headers: vec![("accept".to_owned(), HeaderValue::plain("application/json"))],
        body: Vec::new(),
        timeout: Duration::from_secs(5),
        max_body_bytes: 1 << 20,
    }
}

#[tokio::test]
async fn the_bearer_token_never_follows_a_jwks_uri_to_another_origin() {
    let dir = tempfile::tempdir().unwrap();
    let bearer = dir.path().join("sa-token");
    std::fs::write(&bearer, "sa-token-secret\n").unwrap();
    // The JWKS on one loopback port, discovery on another naming it.
    let jwks_server = jwks_server().await;
    let api_server = discovery_server(format!("{}/jwks", jwks_server.url())).await;

    let http = HttpOptions {
        bearer_token_file: Some(bearer.clone()),
        headers: vec![("x-api-key".into(), "api-key-secret".into())],
        ..HttpOptions::default()
    };
    let verifier = Verifier::new(vec![
        IssuerConfig::discovery(api_server.url()).with_http(http.clone()).with_cache(short_cache()),
    ])
    .unwrap();
    assert!(verifier.ready(Duration::from_secs(5)).await, "keys loaded");
    let discovery = &api_server.requests()[0];
    assert_eq!(discovery.path, "/.well-known/openid-configuration");
    assert_eq!(discovery.header("authorization"), Some("Bearer sa-token-secret"), "the configured origin gets it");
    assert_eq!(discovery.header("x-api-key"), Some("api-key-secret"));
    let jwks = jwks_server.requests();
    assert!(!jwks.is_empty());
    for request in &jwks {
        assert_eq!(request.path, "/jwks");
        assert_eq!(request.header("authorization"), None, "another port is another origin");
        assert_eq!(request.header("x-api-key"), None);
    }
    verifier.shutdown().await;

    // An explicit allow-list widens it.
    let widened = HttpOptions { credential_origins: vec![jwks_server.url()], ..http };
    let verifier =
        Verifier::new(vec![IssuerConfig::discovery(api_server.url()).with_http(widened).with_cache(short_cache())])
            .unwrap();
    assert!(verifier.ready(Duration::from_secs(5)).await);
    let last = jwks_server.requests().pop().unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer sa-token-secret"));
    verifier.shutdown().await;
}

#[tokio::test]
async fn credentials_need_an_origin_and_a_readable_file_when_the_client_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let bearer = dir.path().join("token");
    std::fs::write(&bearer, "t").unwrap();
    let with_bearer = HttpOptions { bearer_token_file: Some(bearer.clone()), ..HttpOptions::default() };
    assert_eq!(HttpClient::new(&with_bearer).unwrap_err().code(), "credentials_without_origin");
    assert!(HttpClient::for_origin(&with_bearer, "https://issuer.example").is_ok());

    let missing = HttpOptions { bearer_token_file: Some(dir.path().join("absent")), ..HttpOptions::default() };
    let err = HttpClient::for_origin(&missing, "https://issuer.example").unwrap_err();
    assert_eq!(err.code(), "bearer_file_unreadable");
    assert!(err.to_string().contains("absent"), "{err}");
    let err = Verifier::new(vec![IssuerConfig::discovery("https://issuer.example").with_http(missing)]).unwrap_err();
    assert_eq!(err.code(), "bearer_file_unreadable");

    let bad_origin = HttpOptions { credential_origins: vec!["not a url".into()], ..with_bearer };
    assert_eq!(HttpClient::for_origin(&bad_origin, "https://issuer.example").unwrap_err().code(), "invalid_origin");
}

#[tokio::test]
async fn plain_http_goes_to_loopback_only_whoever_builds_the_request() {
    let server = jwks_server().await;
    let port = server.addr().port();
    // A non-loopback name, resolved to our loopback server: refused before any connection.
    let resolve = vec![("jwks.example.invalid".to_owned(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))];
    let url = format!("http://jwks.example.invalid:{port}/jwks");
    let options = HttpOptions { resolve: resolve.clone(), ..HttpOptions::default() };
    assert_eq!(HttpClient::for_origin(&options, &url).unwrap_err().code(), "insecure_url");
    let client = HttpClient::new(&options).unwrap();
    match client.execute(get_request(&url)).await {
        HttpOutcome::Failed(e) => assert_eq!(e, TransportError::InsecureUrl),
        other => panic!("sent: {other:?}"),
    }
    assert!(server.requests().is_empty(), "nothing reached the server");

    let dangerous = HttpOptions { resolve, dangerous_allow_http: true, ..HttpOptions::default() };
    let client = HttpClient::for_origin(&dangerous, &url).unwrap();
    assert!(matches!(client.execute(get_request(&url)).await, HttpOutcome::Response(r) if r.status == 200));
    assert_eq!(server.requests().len(), 1);

    // The verifier takes the same switch from either place.
    let cache = CacheConfig { dangerous_allow_http: true, ..short_cache() };
    let http = HttpOptions {
        resolve: vec![("jwks.example.invalid".to_owned(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))],
        ..HttpOptions::default()
    };
    let verifier = Verifier::new(vec![
        IssuerConfig::jwks_url("https://issuer.example", url.clone()).with_cache(cache).with_http(http),
    ])
    .unwrap();
    assert!(verifier.ready(Duration::from_secs(5)).await);
    verifier.shutdown().await;
}

async fn handshake(pki: &TestPki, host: &str, ca: bool) -> (HttpOutcome, Option<TlsFailure>) {
    let server = tls_jwks_server(pki, public_jwks()).await;
    let options = HttpOptions {
        ca_file: ca.then(|| pki.ca_file.to_path_buf()),
        resolve: vec![(host.to_owned(), server.addr)],
        ..HttpOptions::default()
    };
    let url = format!("https://{host}:{}/jwks", server.addr.port());
    HttpClient::for_origin(&options, &url).unwrap().execute_explained(get_request(&url)).await
}

#[tokio::test]
async fn a_failed_handshake_says_which_certificate_check_failed() {
    let good = test_pki(&["localhost"]);
    let (outcome, tls) = handshake(&good, "localhost", true).await;
    assert!(matches!(outcome, HttpOutcome::Response(_)), "{outcome:?}");
    assert_eq!(tls, None);

    let (outcome, tls) = handshake(&good, "localhost", false).await;
    assert_eq!(outcome, HttpOutcome::Failed(TransportError::Tls), "the code stays `tls`");
    assert_eq!(tls, Some(TlsFailure::UnknownIssuer));

    let (_, tls) = handshake(&good, "other.localhost", true).await;
    assert_eq!(tls, Some(TlsFailure::NameMismatch));

    let expired = test_pki_expired(&["localhost"], true);
    let (_, tls) = handshake(&expired, "localhost", true).await;
    assert_eq!(tls, Some(TlsFailure::Expired));
    assert_eq!(TlsFailure::Expired.code(), "tls_certificate_expired");
}
