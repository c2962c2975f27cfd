//! The shared bad-options cases (tests/vectors/bad_options.json): each
//! document is refused by `Verifier::start` with the field path and code a
//! person expects. Every binding runs the same file through its constructor.

use serde_json::Value;
use tokenkeep::Verifier;
use tokenkeep::spec::VerifierSpec;

#[test]
fn every_bad_options_document_names_its_field_and_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/bad_options.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut wrong = Vec::new();
    for case in cases {
        let result = tokenkeep::spec::from_value::<VerifierSpec>(case["options"].clone())
            .and_then(|spec| Verifier::start(&spec).map(|_| ()));
        match result {
            Ok(()) => wrong.push(format!("{}: accepted", case["name"])),
            Err(e) if e.path() != case["path"] || e.code().as_str() != case["code"] => wrong.push(format!(
                "{}: got {} / {} ({e}), want {} / {}",
                case["name"],
                e.path(),
                e.code().as_str(),
                case["path"],
                case["code"]
            )),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The options examples in the README parse and validate as they are shown.
#[test]
fn readme_options_examples_are_valid() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("## Options: one spec for every host").nth(1).expect("the options section");
    let section = section.split("\n## ").next().unwrap();
    let blocks: Vec<&str> = section.split("```json\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert!(!blocks.is_empty());
    for block in blocks {
        let spec = VerifierSpec::from_json(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        spec.validate().unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
}
