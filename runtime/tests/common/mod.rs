//! Shared helpers for the runtime's loopback tests: dev issuers, short cache
//! settings, polling, and a tiny TLS server with a certificate of our choice.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokenkeep::core::backoff::Backoff;
use tokenkeep::{CacheConfig, CacheHealth, IssuerConfig, Verifier};
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, RunningIssuer};

/// The audience every test token carries and every test policy requires.
pub const AUD: &str = "api://tests";

pub async fn start_issuer(config: DevIssuerConfig) -> RunningIssuer {
    DevIssuer::start(config).await.expect("dev issuer starts")
}

/// A dev issuer whose JWKS says `max-age=<secs>`.
pub async fn issuer_with_max_age(secs: u64) -> RunningIssuer {
    start_issuer(DevIssuerConfig { jwks_max_age: Duration::from_secs(secs), ..DevIssuerConfig::default() }).await
}

/// Cache settings for tests on a seconds scale: TTL taken from the issuer's
/// max-age down to 1 s, quick retries.
pub fn short_cache() -> CacheConfig {
    CacheConfig {
        min_ttl: Duration::from_secs(1),
        default_ttl: Duration::from_secs(2),
        backoff: Backoff {
            base: Duration::from_millis(200),
            cap: Duration::from_millis(800),
            floor: Duration::from_millis(100),
        },
        ..CacheConfig::default()
    }
}

/// Tokens of `issuer`, keys from its JWKS URL, audience [`AUD`].
pub fn jwks_issuer(issuer: &RunningIssuer, cache: CacheConfig) -> IssuerConfig {
    IssuerConfig::jwks_url(issuer.issuer_url(), issuer.jwks_url()).with_audience(AUD).with_cache(cache)
}

/// A ready verifier for one issuer.
pub async fn ready_verifier(config: IssuerConfig) -> Verifier {
    let verifier = Verifier::new(vec![config]).expect("verifier builds");
    assert!(verifier.ready(Duration::from_secs(10)).await, "keys load: {:?}", verifier.health());
    verifier
}

pub fn claims(sub: &str) -> Value {
    json!({"sub": sub, "aud": AUD})
}

/// A token of `issuer` for `sub`, valid for 10 minutes.
pub fn mint(issuer: &RunningIssuer, alg: &str, sub: &str) -> String {
    issuer.mint(claims(sub), alg, Duration::from_secs(600)).expect("mint")
}

pub fn health(verifier: &Verifier) -> CacheHealth {
    verifier.health().remove(0).cache
}

/// Polls `cond` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the cache reports `code` as its last fetch error.
pub async fn wait_for_error(verifier: &Verifier, code: &str, timeout: Duration) {
    wait_until(timeout, &format!("last_error_code {code}"), || health(verifier).last_error_code == Some(code)).await;
}

/// The rejection code of a result, for terse assertions.
pub fn code<T>(result: &Result<T, tokenkeep::Rejection>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(r) => r.code().as_str(),
    }
}

/// A throwaway CA and a leaf certificate for `names`, as PEM files and a
/// rustls server config.
pub struct TestPki {
    pub ca_file: tempfile::TempPath,
    pub server_config: Arc<tokio_rustls::rustls::ServerConfig>,
}

pub fn test_pki(names: &[&str]) -> TestPki {
    test_pki_expired(names, false)
}

/// [`test_pki`], the leaf certificate expired (in 2000) when `expired`.
pub fn test_pki_expired(names: &[&str], expired: bool) -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.distinguished_name.push(DnType::CommonName, "tokenkeep test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let ca = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().expect("server key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).expect("server params");
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if expired {
        params.not_before = rcgen::date_time_ymd(1999, 1, 1);
        params.not_after = rcgen::date_time_ymd(2000, 1, 1);
    }
    let cert = params.signed_by(&key, &ca).expect("server cert");

    let mut ca_file = tempfile::Builder::new().suffix(".pem").tempfile().expect("temp file");
    std::io::Write::write_all(&mut ca_file, ca_cert.pem().as_bytes()).expect("write CA");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TestPki { ca_file: ca_file.into_temp_path(), server_config: Arc::new(config) }
}

/// An HTTPS server on 127.0.0.1 answering every request with a fixed JWKS.
pub struct TlsJwksServer {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsJwksServer {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TlsJwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn tls_jwks_server(pki: &TestPki, jwks: Value) -> TlsJwksServer {
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
    let body = jwks.to_string();
    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            let body = body.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                // A failed handshake (the client refusing our certificate) just ends the connection.
                let Ok(stream) = acceptor.accept(stream).await else { return };
                let service = hyper::service::service_fn(move |_req| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let response = http::Response::builder()
                        .header("content-type", "application/json")
                        .header("cache-control", "max-age=300")
                        .body(axum::body::Body::from(body.clone()))
                        .expect("response");
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    TlsJwksServer { addr, requests, task }
}
