//! One verification path in a loop, for instruction counts and profiles:
//!
//! ```sh
//! cargo build --profile bench -p tokenkeep-benches --example verify_loop
//! valgrind --tool=callgrind --toggle-collect='verify_loop::run*' \
//!     target/release/examples/verify_loop RS256 core 1000
//! ```
//!
//! Paths: `core` (tokenkeep-core `verify`, header cache hit), `core-first`
//! (a header the key set's cache does not hold), `raw` (the fastest raw check
//! measured for the algorithm), `raw-<library>`, `jsonwebtoken`. Keys are
//! generated and tokens minted before the loop, outside the counted functions.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};
use tokenkeep_benches::{AUDIENCE, Case, ISSUER};
use tokenkeep_core::{KeySet, Policy, UnixTime};

#[inline(never)]
fn run(n: usize, f: &mut dyn FnMut() -> bool) -> usize {
    (0..n).filter(|_| f()).count()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: verify_loop RS256|ES256|EdDSA core|core-first|raw|raw-<library>|jsonwebtoken [iterations]";
    let (Some(alg), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let case = Case::named(alg, now).unwrap_or_else(|| panic!("{usage}"));
    let keys = KeySet::from_jwks_value(&case.jwks()).expect("jwks");
    let policy = Policy::new(ISSUER).with_audience(AUDIENCE);
    let t_now = UnixTime::from_secs(now);
    let ok = match path.as_str() {
        "core" => run(n, &mut || tokenkeep_core::verify(black_box(&case.token), &keys, &policy, t_now).is_ok()),
        "core-first" => {
            let token = tokenkeep_benches::fill_header_cache(&case, &keys, &policy, now);
            run(n, &mut || tokenkeep_core::verify(black_box(&token), &keys, &policy, t_now).is_ok())
        }
        "jsonwebtoken" => {
            let mut validation = jsonwebtoken::Validation::new(case.jsonwebtoken_alg);
            validation.set_issuer(&[ISSUER]);
            validation.set_audience(&[AUDIENCE]);
            run(n, &mut || {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&case.token), &case.jsonwebtoken_key, &validation)
                    .is_ok()
            })
        }
        raw => {
            let check = match raw.strip_prefix("raw-") {
                Some(name) => case.raw_named(name).unwrap_or_else(|| panic!("no raw check {name} for {alg}")),
                None if raw == "raw" => &case.raw[0],
                None => panic!("{usage}"),
            };
            run(n, &mut || (check.check)(black_box(&case.signing_input), black_box(&case.signature)))
        }
    };
    assert_eq!(ok, n, "every call verifies");
    println!("{alg} {path}: {n} verifications");
}
