//! Writes (or checks) the shared JSON test vectors in `tests/vectors/`.
//!
//! ```text
//! tokenkeep-vectorgen --out tests/vectors      # write the files
//! tokenkeep-vectorgen --check tests/vectors    # exit 1 if any checked-in file differs
//! tokenkeep-vectorgen --generate-keys DIR      # one-time: create key files (never overwrites)
//! ```
//!
//! `--keys DIR` overrides where the key files are read from (default: the
//! `keys/` folder next to this crate's Cargo.toml).
//!
//! This is an independent implementation of JWS signing: it must not depend on
//! tokenkeep-core, which it is the reference peer for. Output is byte-identical
//! on every run: fixed keys, fixed clock, deterministic signatures, ordered JSON.

mod attacks;
mod b64;
mod common;
mod keys;
mod keysets;
mod rejections;
mod spiffe;
mod token;
mod valid;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use common::G;
use keys::Keys;

enum Mode {
    Out(PathBuf),
    Check(PathBuf),
    GenerateKeys(PathBuf),
}

const USAGE: &str = "usage: tokenkeep-vectorgen [--keys DIR] (--out DIR | --check DIR | --generate-keys DIR)";

fn parse_args() -> Result<(Mode, PathBuf), String> {
    let mut args = std::env::args().skip(1);
    let mut mode = None;
    let mut keys = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("keys");
    while let Some(arg) = args.next() {
        let mut value = || args.next().map(PathBuf::from).ok_or(format!("{arg} needs a directory"));
        let m = match arg.as_str() {
            "--out" => Mode::Out(value()?),
            "--check" => Mode::Check(value()?),
            "--generate-keys" => Mode::GenerateKeys(value()?),
            "--keys" => {
                keys = value()?;
                continue;
            }
            _ => return Err(format!("unknown argument {arg}")),
        };
        if mode.replace(m).is_some() {
            return Err("give exactly one of --out, --check, --generate-keys".into());
        }
    }
    Ok((mode.ok_or("give one of --out, --check, --generate-keys")?, keys))
}

/// Every vector file: name and rendered text.
fn render(keys: &Keys) -> Vec<(&'static str, String)> {
    let g = G { k: keys };
    let files: Vec<(&'static str, Value)> = vec![
        ("valid.json", valid::file(&g)),
        ("rejections.json", rejections::file(&g)),
        ("attacks.json", attacks::file(&g)),
        ("keysets.json", keysets::file(&g)),
        ("spiffe.json", spiffe::file(&g)),
    ];

    let mut names = BTreeSet::new();
    for (file, v) in &files {
        for vector in v["vectors"].as_array().unwrap() {
            let name = vector["name"].as_str().unwrap();
            assert!(names.insert(name.to_string()), "{file}: duplicate vector name {name}");
        }
    }

    files
        .into_iter()
        .map(|(file, v)| {
            let mut text = serde_json::to_string_pretty(&v).expect("json");
            text.push('\n');
            (file, text)
        })
        .collect()
}

fn run() -> Result<ExitCode, String> {
    let (mode, keys_dir) = parse_args()?;
    if let Mode::GenerateKeys(dir) = &mode {
        keys::generate(dir)?;
        println!("wrote keys to {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let keys = Keys::load(&keys_dir)?;
    let files = render(&keys);
    match mode {
        Mode::Out(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (file, text) in &files {
                let path = dir.join(file);
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                let count = serde_json::from_str::<Value>(text).unwrap()["vectors"].as_array().unwrap().len();
                println!("wrote {} ({count} vectors)", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Mode::Check(dir) => {
            let mut differ = false;
            for (file, text) in &files {
                let path = dir.join(file);
                match std::fs::read(&path) {
                    Ok(bytes) if bytes == text.as_bytes() => {}
                    Ok(_) => {
                        eprintln!("{} differs from the generator's output", path.display());
                        differ = true;
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        differ = true;
                    }
                }
            }
            if differ {
                eprintln!("regenerate with: cargo run -p tokenkeep-vectorgen --release -- --out tests/vectors");
                Ok(ExitCode::from(1))
            } else {
                println!("all {} vector files are up to date", files.len());
                Ok(ExitCode::SUCCESS)
            }
        }
        Mode::GenerateKeys(_) => unreachable!(),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tokenkeep-vectorgen: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `make test` runs this rather than a release build of the generator:
    /// the workspace's test build already compiles everything it needs.
    #[test]
    fn checked_in_vectors_are_the_generators_output() {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let keys = Keys::load(&crate_dir.join("keys")).expect("keys");
        let vectors = crate_dir.parent().expect("tests/vectors");
        for (file, text) in render(&keys) {
            let checked_in = std::fs::read_to_string(vectors.join(file)).expect("vector file");
            assert!(checked_in == text, "{file} differs from the generator's output; run `make vectors` and commit it");
        }
    }
}
