//! Finds aws-lc's s2n-bignum Ed25519 arithmetic in the library aws-lc-sys
//! built, for checks on a public key decoded once (see `src/s2n_ed25519.rs`).
//!
//! aws-lc exports no Ed25519 check taking a decoded key, and its s2n-bignum
//! functions carry aws-lc-sys's symbol prefix (`aws_lc_0_47_0_` for 0.47.0),
//! which changes with every release. So the prefix is read from the `links`
//! name aws-lc-sys declares (cargo passes its metadata as
//! `DEP_<LINKS>_ROOT`), and the path is compiled only when every symbol is
//! in the library built there: any other target, an `AWS_LC_SYS_NO_ASM`
//! build or a future aws-lc without them falls back to `ED25519_verify`
//! instead of failing to link.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

/// The s2n-bignum functions the check calls, and their C signatures' Rust form.
const FUNCTIONS: [(&str, &str); 7] = [
    ("edwards25519_decode", "(z: *mut u64, c: *const u8) -> u64"),
    ("edwards25519_decode_alt", "(z: *mut u64, c: *const u8) -> u64"),
    ("edwards25519_encode", "(z: *mut u8, p: *const u64)"),
    ("bignum_mod_n25519", "(z: *mut u64, k: u64, x: *const u64)"),
    ("bignum_neg_p25519", "(z: *mut u64, x: *const u64)"),
    ("edwards25519_scalarmuldouble", "(res: *mut u64, scalar: *const u64, point: *const u64, bscalar: *const u64)"),
    ("edwards25519_scalarmuldouble_alt", "(res: *mut u64, scalar: *const u64, point: *const u64, bscalar: *const u64)"),
];

fn main() {
    println!("cargo:rustc-check-cfg=cfg(tokenkeep_s2n_ed25519)");
    println!("cargo:rerun-if-changed=build.rs");
    match s2n_symbol_prefix() {
        Ok(prefix) => {
            let mut externs = String::from("unsafe extern \"C\" {\n");
            for (name, signature) in FUNCTIONS {
                writeln!(externs, "    #[link_name = \"{prefix}{name}\"]\n    fn {name}{signature};").expect("string");
            }
            externs.push_str("}\n");
            let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
            fs::write(out.join("s2n_bignum.rs"), externs).expect("write OUT_DIR/s2n_bignum.rs");
            println!("cargo:rustc-cfg=tokenkeep_s2n_ed25519");
        }
        // Not an error: the portable check is the same check, a little slower.
        Err(why) => println!("cargo:warning=tokenkeep-awslc: Ed25519 through ED25519_verify ({why})"),
    }
}

/// The prefix of aws-lc's symbols, when the library aws-lc-sys built defines
/// every function in `FUNCTIONS` for a target where this crate calls them.
fn s2n_symbol_prefix() -> Result<String, String> {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // Where aws-lc itself takes s2n-bignum for Ed25519 on x86_64
    // (CURVE25519_S2N_BIGNUM_CAPABLE); the alt/ADX choice below is x86_64's.
    if arch != "x86_64" || !["linux", "macos", "freebsd", "openbsd", "netbsd"].contains(&os.as_str()) {
        return Err(format!("no s2n-bignum path for {arch}-{os}"));
    }
    let (var, root) = env::vars()
        .find(|(key, _)| key.starts_with("DEP_AWS_LC_") && key.ends_with("_ROOT"))
        .ok_or("aws-lc-sys passed no DEP_AWS_LC_*_ROOT")?;
    println!("cargo:rerun-if-env-changed={var}");
    for flag in ["AWS_LC_SYS_NO_PREFIX", "AWS_LC_SYS_NO_ASM"] {
        println!("cargo:rerun-if-env-changed={flag}");
    }
    let links = var["DEP_".len()..var.len() - "_ROOT".len()].to_ascii_lowercase();
    let libraries: Vec<Vec<u8>> = fs::read_dir(&root)
        .map_err(|e| format!("{root}: {e}"))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "a" || ext == "lib"))
        .filter(|path| path.file_name().is_some_and(|name| name.to_string_lossy().contains("crypto")))
        .filter_map(|path| fs::read(path).ok())
        .collect();
    // Symbol names sit NUL-terminated in the archive's string tables.
    let mut found = std::collections::HashSet::new();
    let wanted: Vec<String> = [format!("{links}_"), String::new()]
        .iter()
        .flat_map(|p| FUNCTIONS.map(|(name, _)| format!("{p}{name}")))
        .collect();
    for library in &libraries {
        for name in library.split(|&b| b == 0) {
            if let Some(w) = wanted.iter().find(|w| w.as_bytes() == name) {
                found.insert(w.clone());
            }
        }
    }
    for prefix in [format!("{links}_"), String::new()] {
        if FUNCTIONS.iter().all(|(name, _)| found.contains(&format!("{prefix}{name}"))) {
            return Ok(prefix);
        }
    }
    Err(format!("the s2n-bignum Ed25519 functions are not in the crypto library under {root}"))
}
