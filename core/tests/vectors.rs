//! Every shared vector, through `verify` and through `prepare` + `complete`.
//! With `--features ring-backend` the same vectors run on the wasm32 backend.

#[path = "support/vectors.rs"]
mod support;

use support::{Path, all_vectors, run_vector};

fn run_all(path: Path) {
    let vectors = all_vectors();
    assert!(vectors.len() >= 100, "only {} vectors", vectors.len());
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|(file, v)| {
            run_vector(v, path).err().map(|e| format!("{file} {}: {e}", v["name"].as_str().unwrap_or("?")))
        })
        .collect();
    println!("{} vectors on {} via {path:?}: {} failed", vectors.len(), tokenkeep_core::CRYPTO_BACKEND, failures.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_vector_passes_through_verify() {
    run_all(Path::OneShot);
}

#[test]
fn every_vector_passes_through_prepare_and_complete() {
    run_all(Path::TwoPhase);
}

#[test]
fn every_vector_passes_again_from_the_header_cache() {
    run_all(Path::HeaderCacheHit);
}

#[test]
fn every_vector_passes_again_on_the_edge_path_from_the_header_cache() {
    run_all(Path::PreparedCacheHit);
}

#[test]
fn every_rejection_code_has_a_vector() {
    let codes: std::collections::BTreeSet<String> =
        all_vectors().iter().filter_map(|(_, v)| v["expect"]["code"].as_str().map(str::to_owned)).collect();
    for code in tokenkeep_core::RejectionCode::ALL {
        assert!(codes.contains(code.as_str()), "no vector expects {code}");
    }
}

#[test]
fn vector_names_are_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for (file, v) in all_vectors() {
        let name = v["name"].as_str().unwrap_or_default().to_owned();
        assert!(seen.insert(name.clone()), "{file}: duplicate name {name}");
    }
}
