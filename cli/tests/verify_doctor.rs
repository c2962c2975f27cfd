//! `verify`, `jwks` and `doctor` run as a script would, against the shared
//! vectors and against dev issuers started here (real HTTP on 127.0.0.1).

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tokenkeep_dev_issuer::{
    DevIssuer, DevIssuerConfig, OutageMode, RunningIssuer, SigningKey, StaticRoute, StaticServer,
};

const BIN: &str = env!("CARGO_BIN_EXE_tokenkeep");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").stdin(Stdio::null()).output().expect("runs")
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

#[test]
fn verify_answers_every_shared_vector_as_the_vector_expects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vectors_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for file in ["valid.json", "rejections.json", "attacks.json", "keysets.json", "spiffe.json"] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(vectors_dir.join(file)).expect("read")).expect("json");
        for v in doc["vectors"].as_array().expect("vectors") {
            let name = v["name"].as_str().expect("name");
            let jwks = dir.path().join(format!("{name}.jwks.json"));
            let policy = dir.path().join(format!("{name}.policy.json"));
            std::fs::write(&jwks, v["jwks"].to_string()).expect("write");
            std::fs::write(&policy, v["policy"].to_string()).expect("write");
            let now = v["now"].as_u64().expect("now").to_string();
            let token = v["token"].as_str().expect("token");
            let mut args = vec!["verify", "--json", "--jwks", jwks.to_str().expect("path")];
            args.extend(["--policy", policy.to_str().expect("path"), "--now", &now]);
            let hmac = dir.path().join(format!("{name}.hmac.json"));
            if let Some(keys) = v.get("hmac_keys") {
                std::fs::write(&hmac, keys.to_string()).expect("write");
                args.extend(["--hmac-keys", hmac.to_str().expect("path")]);
            }
            // An empty token cannot travel as an argument: it goes through stdin.
            let out = if token.is_empty() {
                args.push("-");
                Command::new(BIN).args(&args).stdin(Stdio::null()).output().expect("runs")
            } else {
                args.push(token);
                run(&args)
            };
            let answer = json_of(&out);
            let expected_code = v["expect"]["code"].as_str();
            let ok = match expected_code {
                Some(c) => code(&out) == 1 && answer["valid"] == false && answer["code"] == c,
                None => code(&out) == 0 && answer["valid"] == true && answer["claims"] == v["expect"]["claims"],
            };
            if !ok {
                mismatches.push(format!("{file} {name}: expected {expected_code:?}, got exit {} {answer}", code(&out)));
            }
            checked += 1;
        }
    }
    println!("{checked} vectors through the CLI, {} mismatches", mismatches.len());
    assert!(checked >= 200);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn start(rt: &tokio::runtime::Runtime, config: DevIssuerConfig) -> RunningIssuer {
    rt.block_on(DevIssuer::start(config)).expect("dev issuer starts")
}

fn token(issuer: &RunningIssuer, aud: &str) -> String {
    issuer.mint(json!({"sub": "cli-test", "aud": aud}), "ES256", Duration::from_secs(300)).expect("mint")
}

#[test]
fn verify_against_a_live_issuer_by_discovery_and_by_jwks_url_with_json_schema() {
    let rt = runtime();
    let issuer = start(&rt, DevIssuerConfig::default());
    let tok = token(&issuer, "api");
    let iss = issuer.issuer_url().to_owned();

    let ok = run(&["verify", &tok, "--issuer", &iss, "--audience", "api", "--json"]);
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stderr));
    let body = json_of(&ok);
    assert_eq!(body["valid"], true);
    assert_eq!(body["claims"]["sub"], "cli-test");
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "exactly valid + claims: {body}");

    let wrong = run(&["verify", &tok, "--issuer", &iss, "--audience", "other", "--json", "--jwks", &issuer.jwks_url()]);
    assert_eq!(code(&wrong), 1);
    let body = json_of(&wrong);
    assert_eq!(body["code"], "wrong_audience");
    assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "exactly valid + code + reason: {body}");

    let human = run(&["verify", &tok, "--issuer", &iss]);
    assert_eq!(code(&human), 0);
    assert!(String::from_utf8_lossy(&human.stdout).contains("valid"));

    // The issuer down and nothing cached: keys_unavailable, a rejection (exit 1).
    issuer.outage(Duration::from_secs(30), OutageMode::Status503);
    let down = run(&["verify", &tok, "--issuer", &iss, "--json"]);
    assert_eq!(code(&down), 1);
    assert_eq!(json_of(&down)["code"], "keys_unavailable");

    // Usage errors exit 2.
    assert_eq!(code(&run(&["verify", &tok])), 2, "no --issuer");
    assert_eq!(code(&run(&["verify", &tok, "--issuer", "ftp://x"])), 2, "bad issuer URL");
}

#[test]
fn jwks_lists_keys_skips_and_cache_headers() {
    let rt = runtime();
    let issuer = start(&rt, DevIssuerConfig::default());
    let out = run(&["jwks", &issuer.jwks_url(), "--json"]);
    assert_eq!(code(&out), 0);
    let body = json_of(&out);
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["keys"][0]["kty"], "EC");
    assert_eq!(body["keys"][0]["size"], "P-256");
    assert!(body["cache_control"].as_str().is_some_and(|c| c.contains("max-age=300")));
    assert!(body["etag"].as_str().is_some());

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("set.json");
    let set = json!({"keys": [
        {"kty": "OKP", "crv": "Ed448", "kid": "ed448", "x": "AAAA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}
    ]});
    std::fs::write(&file, set.to_string()).expect("write");
    let out = run(&["jwks", file.to_str().expect("path"), "--json"]);
    let body = json_of(&out);
    let reasons: Vec<&str> =
        body["skipped"].as_array().expect("skipped").iter().filter_map(|s| s["reason"].as_str()).collect();
    assert_eq!(reasons, ["unsupported_curve", "not_for_signing"]);
    let human = run(&["jwks", file.to_str().expect("path")]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("skipped: unsupported_curve"));
}

fn doctor(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    (code(&out), json_of(&out))
}

fn verdict(report: &Value, check: &str) -> String {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|x| x["check"] == check))
        .map(|x| x["verdict"].as_str().unwrap_or("").to_owned())
        .unwrap_or_else(|| "absent".to_owned())
}

#[test]
fn doctor_on_healthy_down_misconfigured_and_bearer_protected_issuers() {
    let rt = runtime();

    let healthy = start(&rt, DevIssuerConfig::default());
    let tok = token(&healthy, "api");
    let (exit, report) = doctor(&["--issuer", healthy.issuer_url(), "--token", &tok]);
    assert_eq!(exit, 0, "{report}");
    for check in [
        "discovery reachable",
        "issuer matches",
        "jwks reachable",
        "jwks parseable",
        "key count",
        "cache-control",
        "clock skew",
        "token kid published",
        "token verifies",
    ] {
        assert_eq!(verdict(&report, check), "ok", "{check}: {report}");
    }
    let foreign =
        healthy.mint_with_kid(json!({"aud": "api"}), "ES256", Duration::from_secs(60), "not-published").expect("mint");
    let (exit, report) = doctor(&["--issuer", healthy.issuer_url(), "--token", &foreign]);
    assert_eq!(exit, 1);
    assert_eq!(verdict(&report, "token kid published"), "fail");

    let down = start(&rt, DevIssuerConfig::default());
    down.outage(Duration::from_secs(60), OutageMode::Status503);
    let (exit, report) = doctor(&["--issuer", down.issuer_url()]);
    assert_eq!(exit, 1);
    assert_eq!(verdict(&report, "discovery reachable"), "fail");

    let wrong = start(
        &rt,
        DevIssuerConfig { issuer: Some("https://someone-else.example".into()), ..DevIssuerConfig::default() },
    );
    let (exit, report) = doctor(&["--issuer", wrong.base_url()]);
    assert_eq!(exit, 1, "{report}");
    assert_eq!(verdict(&report, "issuer matches"), "fail");

    let dir = tempfile::tempdir().expect("tempdir");
    let bearer = dir.path().join("token");
    std::fs::write(&bearer, "sa-token-1\n").expect("write");
    let guarded =
        start(&rt, DevIssuerConfig { require_bearer_file: Some(bearer.clone()), ..DevIssuerConfig::default() });
    let (exit, report) = doctor(&["--issuer", guarded.issuer_url()]);
    assert_eq!(exit, 1);
    assert_eq!(verdict(&report, "discovery reachable"), "fail");
    let (exit, report) = doctor(&["--issuer", guarded.issuer_url(), "--bearer-file", bearer.to_str().expect("path")]);
    assert_eq!(exit, 0, "{report}");
}

// ----- hardening: credentials per origin, one transport rule, exit codes, TLS -------

/// Discovery on one loopback port naming a JWKS on another (both record the
/// requests they get), and a token for that issuer signed with the published key.
fn split_issuer(rt: &tokio::runtime::Runtime) -> (StaticServer, StaticServer, String) {
    let key = SigningKey::generate(tokenkeep_core::Algorithm::ES256, Some("k1".to_owned())).expect("key");
    let jwks = json!({"keys": [key.public_jwk().expect("public")]});
    let keys =
        rt.block_on(StaticServer::start(|_| vec![StaticRoute::new("/jwks", jwks.to_string())])).expect("jwks server");
    let jwks_uri = format!("{}/jwks", keys.url());
    let mut token = String::new();
    let api = rt
        .block_on(StaticServer::start(|me| {
            let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs() + 600;
            let claims = json!({"iss": me, "exp": exp});
            token = key.sign_jwt(claims.as_object().expect("object"), None).expect("sign");
            let doc = json!({"issuer": me, "jwks_uri": jwks_uri});
            vec![StaticRoute::new("/.well-known/openid-configuration", doc.to_string())]
        }))
        .expect("discovery server");
    (api, keys, token)
}

fn bearers(server: &StaticServer) -> Vec<Option<String>> {
    server.requests().iter().map(|r| r.header("authorization").map(str::to_owned)).collect()
}

#[test]
fn the_bearer_file_goes_only_to_the_issuers_origin() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let bearer = dir.path().join("sa-token");
    std::fs::write(&bearer, "sa-secret\n").expect("write");
    let bearer = bearer.to_str().expect("path");

    let (api, keys, token) = split_issuer(&rt);
    let out = run(&["verify", &token, "--issuer", &api.url(), "--bearer-file", bearer]);
    assert_eq!(code(&out), 0, "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(bearers(&api), [Some("Bearer sa-secret".to_owned())], "the issuer's origin gets it");
    assert_eq!(bearers(&keys), [None], "the JWKS on another port does not");

    let (exit, report) = doctor(&["--issuer", &api.url(), "--bearer-file", bearer]);
    assert_eq!(exit, 0, "{report}");
    assert!(bearers(&keys).iter().all(Option::is_none), "doctor neither");

    // Named explicitly, the JWKS origin gets it.
    let out =
        run(&["verify", &token, "--issuer", &api.url(), "--bearer-file", bearer, "--credential-origin", &keys.url()]);
    assert_eq!(code(&out), 0);
    assert_eq!(bearers(&keys).last().cloned().flatten().as_deref(), Some("Bearer sa-secret"));
}

#[test]
fn a_bearer_file_that_cannot_be_read_is_a_usage_error_naming_it() {
    let rt = runtime();
    let (api, _keys, token) = split_issuer(&rt);
    let missing = "/nonexistent/sa-token";
    for args in [
        vec!["verify", &token, "--issuer", &api.url(), "--bearer-file", missing, "--json"],
        vec!["doctor", "--issuer", &api.url(), "--bearer-file", missing, "--json"],
        vec!["jwks", "http://127.0.0.1:1/jwks", "--bearer-file", missing, "--json"],
    ] {
        let out = run(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        let err = json_of(&out);
        assert_eq!(err["error"]["code"], "bearer_file_unreadable", "{args:?}: {err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("--bearer-file") && message.contains(missing), "{args:?}: {message}");
    }
    assert!(api.requests().is_empty(), "nothing was sent");
}

#[test]
fn jwks_verify_and_doctor_share_one_transport_rule() {
    let rt = runtime();
    let (api, keys, token) = split_issuer(&rt);
    // A non-loopback name resolved to our loopback server: plain http is refused before connecting.
    let port = keys.addr().port();
    let url = format!("http://jwks.example.invalid:{port}/jwks");
    let resolve = "jwks.example.invalid:127.0.0.1";
    for args in [
        vec!["jwks", &url, "--resolve", resolve, "--json"],
        vec!["verify", &token, "--issuer", &api.url(), "--jwks", &url, "--resolve", resolve, "--json"],
    ] {
        let out = run(&args);
        assert_eq!(code(&out), 2, "{args:?}");
        assert_eq!(json_of(&out)["error"]["code"], "insecure_url", "{args:?}");
    }
    let issuer = format!("http://issuer.example.invalid:{}", api.addr().port());
    let (exit, _) = doctor(&["--issuer", &issuer, "--resolve", "issuer.example.invalid:127.0.0.1"]);
    assert_eq!(exit, 2);
    assert!(keys.requests().is_empty() && api.requests().is_empty(), "nothing was contacted");

    let out = run(&["jwks", &url, "--resolve", resolve, "--dangerous-allow-http", "--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(keys.requests().len(), 1, "asked for: fetched");
}

#[test]
fn exit_codes_mean_the_same_in_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("path").to_owned()
    };
    let not_json = write("not.json", "<html>nope</html>");
    let empty = write("empty.json", r#"{"keys": []}"#);
    let all_skipped = write("skipped.json", r#"{"keys": [{"kty": "OKP", "crv": "Ed448", "x": "AAAA"}]}"#);
    let (token, _) = {
        let key = SigningKey::generate(tokenkeep_core::Algorithm::ES256, None).expect("key");
        (key.sign_jwt(json!({"iss": "https://i.example"}).as_object().expect("object"), None).expect("sign"), ())
    };
    // 1: what was examined (a token, a key set, an issuer) failed.
    for args in [
        vec!["jwks", not_json.as_str()],
        vec!["jwks", empty.as_str()],
        vec!["jwks", all_skipped.as_str()],
        vec!["verify", &token, "--issuer", "https://i.example", "--jwks", not_json.as_str()],
        vec!["verify", &token, "--issuer", "https://i.example", "--jwks", empty.as_str()],
    ] {
        assert_eq!(code(&run(&args)), 1, "{args:?}");
    }
    let out = run(&["verify", &token, "--issuer", "https://i.example", "--jwks", not_json.as_str(), "--json"]);
    assert_eq!(json_of(&out)["code"], "keys_unavailable");
    // 2: what was typed cannot be acted upon (a missing file, a bad flag).
    for args in [
        vec!["jwks", "/nonexistent/keys.json"],
        vec!["verify", &token, "--issuer", "https://i.example", "--jwks", "/nonexistent/keys.json"],
        vec!["verify", &token, "--issuer", "not a url"],
    ] {
        assert_eq!(code(&run(&args)), 2, "{args:?}");
    }
}

#[test]
fn doctor_tells_an_unknown_ca_from_a_name_mismatch_and_escapes_what_servers_say() {
    let rt = runtime();
    let issuer = start(&rt, DevIssuerConfig { tls: true, ..DevIssuerConfig::default() });
    let ca = issuer.ca_pem_path().expect("CA file").to_str().expect("path").to_owned();
    let tls_detail = |report: &Value| {
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|x| x["check"] == "tls"))
            .map(|x| x["detail"].to_string())
    };
    let (exit, report) = doctor(&["--issuer", issuer.issuer_url()]);
    assert_eq!(exit, 1);
    assert!(tls_detail(&report).is_some_and(|d| d.contains("tls_unknown_issuer")), "{report}");
    let port = issuer.issuer_url().rsplit(':').next().expect("port").to_owned();
    let other = format!("https://other.example.invalid:{port}");
    let (exit, report) = doctor(&["--issuer", &other, "--ca", &ca, "--resolve", "other.example.invalid:127.0.0.1"]);
    assert_eq!(exit, 1);
    assert!(tls_detail(&report).is_some_and(|d| d.contains("tls_name_mismatch")), "{report}");

    // A hostile server: its issuer, jwks_uri and kids carry escape sequences.
    let hostile = "\u{1b}]0;owned\u{7}\r\nFAKE\u{202e}";
    let keys = rt
        .block_on(StaticServer::start(|_| {
            let set = json!({"keys": [{"kty": "OKP", "crv": "Ed448", "kid": format!("kid{hostile}"), "x": "AAAA"}]});
            vec![StaticRoute::new("/jwks", set.to_string())]
        }))
        .expect("server");
    let jwks_uri = format!("{}/jwks", keys.url());
    let api = rt
        .block_on(StaticServer::start(|_| {
            let doc = json!({"issuer": format!("evil{hostile}"), "jwks_uri": jwks_uri});
            vec![StaticRoute::new("/.well-known/openid-configuration", doc.to_string())]
        }))
        .expect("server");
    let api_url = api.url();
    for json_flag in [false, true] {
        let mut args = vec!["doctor", "--issuer", api_url.as_str()];
        if json_flag {
            args.push("--json");
        }
        let out = run(&args);
        assert_eq!(code(&out), 1);
        let text = String::from_utf8_lossy(&out.stdout);
        for bad in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
            assert!(!text.contains(bad), "raw {bad:?} in doctor output:\n{text:?}");
        }
        assert!(!text.contains("\nFAKE"), "{text}");
    }
    let out = run(&["jwks", &jwks_uri]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\u{1b}') && !text.contains("\nFAKE"), "{text:?}");
}
