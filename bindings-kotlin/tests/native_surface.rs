//! The JVM binding's native surface, called from Rust: every bad options
//! document of the shared vectors gives the typed config error naming its
//! field, and a rejected token the typed rejection, without the token in it.
//!
//! Being an integration test also makes the workspace's test build build the
//! crate's cdylib (with the workspace's features, sharing every dependency),
//! which `make test` hands to the JVM suite instead of building it again.

use std::path::Path;
use tokenkeep_kotlin::{NativeError, NativeVerifier};

fn bad_options() -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/bad_options.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let document: serde_json::Value = serde_json::from_str(&text).expect("bad_options.json is JSON");
    document["cases"].as_array().expect("a cases array").clone()
}

#[test]
fn every_bad_options_case_is_a_config_error_naming_its_field() {
    let cases = bad_options();
    assert!(cases.len() > 40, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let options = serde_json::to_string(&case["options"]).expect("options serialize");
        match NativeVerifier::new(options) {
            Err(NativeError::Config { code, path, .. }) => {
                assert_eq!(code, case["code"].as_str().expect("code"), "{name}");
                assert_eq!(path, case["path"].as_str().expect("path"), "{name}");
            }
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
}

#[test]
fn a_malformed_token_is_a_typed_rejection_without_the_token() {
    let options = r#"{"issuer": "https://issuer.example", "audience": "api", "jwks": {"keys": []}}"#;
    let verifier = NativeVerifier::new(options.to_owned()).expect("static keys start");
    let token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.not-a-signature-at-all";
    match verifier.verify_cached(token.to_owned(), None) {
        Err(error @ NativeError::Rejected { .. }) => {
            let NativeError::Rejected { ref code, http_status, .. } = error else { unreachable!() };
            assert_eq!((code.as_str(), http_status), ("malformed", 401), "{error}");
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("c2VjcmV0") && !shown.contains("not-a-signature"), "{shown}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a malformed token verified"),
    }
    verifier.close_blocking().expect("closes");
}
