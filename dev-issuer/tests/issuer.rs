//! The dev issuer over real loopback HTTP(S), checked with tokenkeep-core.

use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokenkeep_core::{KeySet, Policy, UnixTime, verify};
use tokenkeep_dev_issuer::signing::ISSUER_ALGORITHMS;
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig, OutageMode, RunningIssuer};

fn now() -> UnixTime {
    UnixTime::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

async fn start(config: DevIssuerConfig) -> RunningIssuer {
    DevIssuer::start(config).await.expect("dev issuer starts")
}

async fn fetch_keys(client: &reqwest::Client, issuer: &RunningIssuer) -> KeySet {
    let body = client.get(issuer.jwks_url()).send().await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
    KeySet::from_jwks_json(&body).expect("JWKS parses")
}

fn policy(issuer: &RunningIssuer) -> Policy {
    Policy::new(issuer.issuer_url()).with_audience("api")
}

#[tokio::test]
async fn discovery_jwks_and_every_algorithm_verifies() {
    let issuer = start(DevIssuerConfig::default()).await;
    let client = client();
    let disc: Value = client.get(issuer.discovery_url()).send().await.unwrap().json().await.unwrap();
    assert_eq!(disc["issuer"], issuer.issuer_url());
    assert_eq!(disc["jwks_uri"], issuer.jwks_url());
    assert_eq!(disc["token_endpoint"], issuer.token_url());
    assert!(issuer.issuer_url().starts_with("http://127.0.0.1:"));
    let algs = disc["id_token_signing_alg_values_supported"].as_array().unwrap();
    assert_eq!(algs.len(), ISSUER_ALGORITHMS.len());

    let mut tokens = Vec::new();
    for alg in ISSUER_ALGORITHMS {
        let token = issuer
            .mint(json!({"sub": format!("user-{alg}"), "aud": "api"}), alg.name(), Duration::from_secs(60))
            .unwrap();
        tokens.push((alg, token));
    }
    let keys = fetch_keys(&client, &issuer).await;
    assert_eq!(keys.len(), ISSUER_ALGORITHMS.len(), "one published key per algorithm: {:?}", keys.skipped());
    let jwks: Value = client.get(issuer.jwks_url()).send().await.unwrap().json().await.unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].is_string() && key["alg"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "private member {private} published");
        }
    }
    for (alg, token) in &tokens {
        let verified = verify(token, &keys, &policy(&issuer), now()).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(verified.header.alg, *alg);
        assert_eq!(verified.claims.subject(), Some(format!("user-{alg}").as_str()));
        assert_eq!(verified.claims.issuer(), Some(issuer.issuer_url()));
        let exp = verified.claims.expires_at().unwrap().as_secs();
        assert!(exp > now().as_secs() + 50 && exp <= now().as_secs() + 61);
    }
    issuer.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_mints_verifiable_tokens() {
    let issuer = start(DevIssuerConfig::default()).await;
    let client = client();
    // curl -d sends a form content type; the endpoint must not care.
    let resp = client
        .post(issuer.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"claims":{"sub":"me","aud":"api"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let token = answer["token"].as_str().unwrap();
    assert!(answer["kid"].as_str().unwrap().starts_with("es256-"));
    assert!(answer["expires_at"].as_u64().unwrap() > now().as_secs() + 250);
    let keys = fetch_keys(&client, &issuer).await;
    let verified = verify(token, &keys, &policy(&issuer), now()).unwrap();
    assert_eq!(verified.header.kid.as_deref(), answer["kid"].as_str());

    let answer: Value = client
        .post(issuer.token_url())
        .body(r#"{"claims":{"sub":"me","aud":"api","exp":4102444800},"alg":"PS384","ttl":5}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["expires_at"], 4102444800u64, "an explicit exp wins");
    let keys = fetch_keys(&client, &issuer).await;
    let verified = verify(answer["token"].as_str().unwrap(), &keys, &policy(&issuer), now()).unwrap();
    assert_eq!(verified.header.alg.name(), "PS384");

    for bad in [r#"{"alg":"HS256"}"#, r#"{"alg":"none"}"#, "not json", r#"{"claims":[1]}"#] {
        let resp = client.post(issuer.token_url()).body(bad).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
    let resp = client.get(issuer.token_url()).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    issuer.shutdown().await;
}

#[tokio::test]
async fn jwks_etag_cache_control_and_304() {
    let issuer = start(DevIssuerConfig { jwks_max_age: Duration::from_secs(120), ..Default::default() }).await;
    let client = client();
    let resp = client.get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=120");
    assert!(resp.headers().contains_key("date"));
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"), "strong ETag: {etag}");

    let resp = client.get(issuer.jwks_url()).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=120");
    assert!(resp.headers().contains_key("date"));
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp =
        client.get(issuer.jwks_url()).header("if-none-match", "\"other\", W/".to_owned() + &etag).send().await.unwrap();
    assert_eq!(resp.status(), 304, "a list and a weak form match too");

    // A new key (first use of an algorithm) changes the set and its ETag.
    issuer.mint(json!({}), "EdDSA", Duration::from_secs(60)).unwrap();
    let resp = client.get(issuer.jwks_url()).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let etag2 = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag, etag2);
    let stats = issuer.stats();
    assert_eq!(stats.jwks_304s, 2);
    assert_eq!(stats.jwks_requests(), 4);
    assert_eq!(stats.status(304), 2);
    issuer.shutdown().await;
}

#[tokio::test]
async fn rotation_keeps_the_old_key_until_retire_after() {
    let issuer = start(DevIssuerConfig {
        retire_after: Some(Duration::from_millis(1500)),
        algorithms: vec!["ES256".into(), "RS256".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(issuer.algorithms_in_use(), vec!["RS256".to_owned(), "ES256".to_owned()]);
    let client = client();
    let old_kid = issuer.current_kid("ES256").unwrap();
    let old = issuer.mint(json!({"aud": "api"}), "ES256", Duration::from_secs(60)).unwrap();
    let etag = client.get(issuer.jwks_url()).send().await.unwrap().headers()["etag"].clone();

    let new_kids = issuer.rotate().unwrap();
    assert_eq!(new_kids.len(), 2, "one new key per algorithm in use");
    let new_kid = issuer.current_kid("ES256").unwrap();
    assert_ne!(old_kid, new_kid);
    assert!(new_kids.contains(&new_kid));
    let resp = client.get(issuer.jwks_url()).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(resp.status(), 200, "rotation changes the ETag");
    let keys = KeySet::from_jwks_json(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(keys.len(), 4);
    assert!(keys.contains_kid(&old_kid) && keys.contains_kid(&new_kid));
    verify(&old, &keys, &policy(&issuer), now()).expect("old token still verifies");
    let new = issuer.mint(json!({"aud": "api"}), "ES256", Duration::from_secs(60)).unwrap();
    let verified = verify(&new, &keys, &policy(&issuer), now()).unwrap();
    assert_eq!(verified.header.kid.as_deref(), Some(new_kid.as_str()));
    // The retiring key can still sign on request.
    let by_old = issuer.mint_with_kid(json!({"aud": "api"}), "ES256", Duration::from_secs(60), &old_kid).unwrap();
    verify(&by_old, &keys, &policy(&issuer), now()).unwrap();

    tokio::time::sleep(Duration::from_millis(1700)).await;
    let keys = fetch_keys(&client, &issuer).await;
    assert_eq!(keys.len(), 2);
    assert!(!keys.contains_kid(&old_kid) && keys.contains_kid(&new_kid));
    let err = verify(&old, &keys, &policy(&issuer), now()).unwrap_err();
    assert_eq!(err.code().as_str(), "unknown_kid");

    // An unpublished kid.
    let foreign = issuer.mint_with_kid(json!({"aud": "api"}), "ES256", Duration::from_secs(60), "nobody").unwrap();
    assert_eq!(verify(&foreign, &keys, &policy(&issuer), now()).unwrap_err().code().as_str(), "unknown_kid");

    // POST /rotate does the same over HTTP.
    let answer: Value =
        client.post(format!("{}/rotate", issuer.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["kids"].as_array().unwrap().len(), 2);
    assert_eq!(fetch_keys(&client, &issuer).await.len(), 4);
    issuer.shutdown().await;
}

#[tokio::test]
async fn rotate_every_rotates_in_the_background() {
    let issuer = start(DevIssuerConfig {
        rotate_every: Some(Duration::from_millis(300)),
        retire_after: Some(Duration::from_secs(60)),
        ..Default::default()
    })
    .await;
    let first = issuer.current_kid("ES256").unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_ne!(issuer.current_kid("ES256").unwrap(), first);
    let keys = fetch_keys(&client(), &issuer).await;
    assert!(keys.len() >= 3 && keys.contains_kid(&first));
    issuer.shutdown().await;
}

#[tokio::test]
async fn outage_503_for_n_seconds_and_control_endpoints_stay_up() {
    let issuer = start(DevIssuerConfig::default()).await;
    let client = client();
    issuer.outage(Duration::from_millis(800), OutageMode::Status503);
    assert_eq!(client.get(issuer.jwks_url()).send().await.unwrap().status(), 503);
    assert_eq!(client.get(issuer.discovery_url()).send().await.unwrap().status(), 503);
    let stats: Value = client.get(format!("{}/stats", issuer.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["by_status"]["503"], 2);
    assert_eq!(stats["by_endpoint"]["/jwks"], 1);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(client.get(issuer.jwks_url()).send().await.unwrap().status(), 200);

    // The same through POST /outage, ended early with seconds = 0.
    let resp = client
        .post(format!("{}/outage", issuer.base_url()))
        .body(r#"{"seconds": 30, "mode": "503"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(client.get(issuer.jwks_url()).send().await.unwrap().status(), 503);
    client.post(format!("{}/outage", issuer.base_url())).body(r#"{"seconds": 0}"#).send().await.unwrap();
    assert_eq!(client.get(issuer.jwks_url()).send().await.unwrap().status(), 200);
    let resp = client
        .post(format!("{}/outage", issuer.base_url()))
        .body(r#"{"seconds": 1, "mode": "flaky"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    issuer.shutdown().await;
}

#[tokio::test]
async fn outage_hang_and_reset() {
    let issuer = start(DevIssuerConfig::default()).await;
    let quick = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    issuer.outage(Duration::from_secs(2), OutageMode::Hang);
    let err = quick.get(issuer.jwks_url()).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Control endpoints answer during the hang.
    assert_eq!(quick.get(format!("{}/stats", issuer.base_url())).send().await.unwrap().status(), 200);

    issuer.outage(Duration::from_secs(2), OutageMode::Reset);
    let err = quick.get(issuer.jwks_url()).send().await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err}");
    assert_eq!(issuer.stats().resets, 1);
    issuer.outage(Duration::ZERO, OutageMode::Reset);
    assert_eq!(client().get(issuer.jwks_url()).send().await.unwrap().status(), 200);
    issuer.shutdown().await;
}

#[tokio::test]
async fn jwks_override_serves_any_body() {
    let issuer = start(DevIssuerConfig::default()).await;
    let client = client();
    issuer.set_jwks_override(Some((200, b"{\"keys\": [".to_vec())));
    let resp = client.get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"{\"keys\": [");
    let big = vec![b' '; 2 * 1024 * 1024];
    issuer.set_jwks_override(Some((500, big.clone())));
    let resp = client.get(issuer.jwks_url()).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.bytes().await.unwrap().len(), big.len());
    issuer.set_jwks_override(None);
    assert_eq!(fetch_keys(&client, &issuer).await.len(), 1);
    issuer.shutdown().await;
}

#[tokio::test]
async fn tls_with_the_generated_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let ca_out = dir.path().join("ca.pem");
    let issuer = start(DevIssuerConfig { tls: true, ca_path: Some(ca_out.clone()), ..Default::default() }).await;
    assert!(issuer.is_tls());
    assert!(issuer.issuer_url().starts_with("https://127.0.0.1:"));
    assert_eq!(issuer.ca_pem_path(), Some(ca_out.as_path()));
    let pem = std::fs::read(&ca_out).unwrap();
    let ca = reqwest::Certificate::from_pem(&pem).unwrap();
    let trusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let disc: Value = trusting.get(issuer.discovery_url()).send().await.unwrap().json().await.unwrap();
    assert_eq!(disc["jwks_uri"], issuer.jwks_url());
    let keys = fetch_keys(&trusting, &issuer).await;
    let token = issuer.mint(json!({"aud": "api"}), "ES256", Duration::from_secs(60)).unwrap();
    verify(&token, &keys, &policy(&issuer), now()).unwrap();
    let by_name = format!("https://localhost:{}/jwks", issuer.local_addr().port());
    assert_eq!(trusting.get(by_name).send().await.unwrap().status(), 200);

    let untrusting = reqwest::Client::builder().tls_built_in_root_certs(false).build().unwrap();
    assert!(untrusting.get(issuer.jwks_url()).send().await.is_err());
    issuer.shutdown().await;

    // Without ca_path, a temporary file that goes away on shutdown.
    let issuer = start(DevIssuerConfig { tls: true, ..Default::default() }).await;
    let temp = issuer.ca_pem_path().unwrap().to_path_buf();
    assert!(std::fs::read_to_string(&temp).unwrap().contains("BEGIN CERTIFICATE"));
    issuer.shutdown().await;
    assert!(!temp.exists());
}

#[tokio::test]
async fn require_bearer_rereads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "first-token\n").unwrap();
    let issuer = start(DevIssuerConfig { require_bearer_file: Some(file.clone()), ..Default::default() }).await;
    let client = client();
    for url in [issuer.jwks_url(), issuer.discovery_url()] {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert_eq!(client.get(&url).bearer_auth("wrong").send().await.unwrap().status(), 401);
        assert_eq!(client.get(&url).bearer_auth("first-token").send().await.unwrap().status(), 200);
    }
    std::fs::write(&file, "second-token").unwrap();
    assert_eq!(client.get(issuer.jwks_url()).bearer_auth("first-token").send().await.unwrap().status(), 401);
    assert_eq!(client.get(issuer.jwks_url()).bearer_auth("second-token").send().await.unwrap().status(), 200);
    // Minting is a control endpoint: no bearer needed.
    assert_eq!(client.post(issuer.token_url()).body("{}").send().await.unwrap().status(), 200);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(client.get(issuer.jwks_url()).bearer_auth("second-token").send().await.unwrap().status(), 401);
    issuer.shutdown().await;
}

#[tokio::test]
async fn issuer_override_and_bad_config() {
    let issuer = start(DevIssuerConfig { issuer: Some("https://issuer.example".into()), ..Default::default() }).await;
    let disc: Value = client().get(issuer.discovery_url()).send().await.unwrap().json().await.unwrap();
    assert_eq!(disc["issuer"], "https://issuer.example");
    assert!(disc["jwks_uri"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    let token = issuer.mint(json!({}), "ES256", Duration::from_secs(60)).unwrap();
    let decoded = tokenkeep_core::decode_unverified(&token).unwrap();
    assert_eq!(decoded.claims["iss"], "https://issuer.example");
    assert_eq!(decoded.header["typ"], "JWT");
    assert_eq!(issuer.mint(json!([1]), "ES256", Duration::from_secs(1)).unwrap_err().code(), "invalid_claims");
    assert_eq!(issuer.mint(json!({}), "HS256", Duration::from_secs(1)).unwrap_err().code(), "unsupported_alg");
    issuer.shutdown().await;

    let err =
        DevIssuer::start(DevIssuerConfig { algorithms: vec!["XX1".into()], ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), "unsupported_alg");
}
