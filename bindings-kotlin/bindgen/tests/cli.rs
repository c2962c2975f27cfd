//! The generator runs. Having an integration test also makes the workspace's
//! test build build the binary itself, with the workspace's features, so
//! `make test` gets it without building uniffi's dependencies a second time.

use std::process::Command;

#[test]
fn the_generator_offers_generate() {
    let out = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen")).arg("--help").output().expect("uniffi-bindgen runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("generate"), "{help}");
}
