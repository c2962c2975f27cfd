//! tokenkeep-core `verify` against the physical limit and the peers, per
//! algorithm, on the same token in one run. Prints per-op times (best of
//! `ROUNDS` interleaved rounds of `ITERS`, thread CPU time) and each one's ratio to the fastest
//! raw check of the same bytes; asserts nothing about speed.
//!
//! - raw: the signature check alone, key pre-parsed: aws-lc called directly
//!   as the core calls it (tokenkeep-awslc) and through aws-lc-rs for every
//!   algorithm, and ed25519-dalek (`verify` and `verify_strict`) for Ed25519;
//! - tokenkeep `verify`, header cache hit: the key set has verified a token
//!   with this header before (every token after an IdP's first);
//! - tokenkeep `verify`, first sight of a header: the key set's header cache
//!   is full of other headers, so the header is decoded and checked in full;
//! - raw ring (what most Rust JWT stacks use underneath), key as components;
//! - jsonwebtoken 11 with its aws_lc_rs backend, `DecodingKey` built once,
//!   full `decode` with iss/aud/exp validation (what Rust users pick today).

use serde_json::Value;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};
use tokenkeep_benches::{AUDIENCE, Case, Contender, ISSUER, best_us, fill_header_cache};
use tokenkeep_core::{KeySet, Policy, UnixTime};

const ROUNDS: usize = 9;
const ITERS: usize = 3000;

fn main() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    println!(
        "tokenkeep-core verify ({} backend) against the raw signature check and the peers",
        tokenkeep_core::CRYPTO_BACKEND
    );
    println!(
        "per op (thread CPU time), best of {ROUNDS} interleaved rounds x {ITERS}; ratio = time / fastest raw check in this run\n"
    );
    for case in Case::all(now) {
        let keys = KeySet::from_jwks_value(&case.jwks()).expect("jwks");
        let first_sight_keys = KeySet::from_jwks_value(&case.jwks()).expect("jwks");
        let policy = Policy::new(ISSUER).with_audience(AUDIENCE);
        let first_sight = fill_header_cache(&case, &first_sight_keys, &policy, now);
        let t_now = UnixTime::from_secs(now);
        let mut validation = jsonwebtoken::Validation::new(case.jsonwebtoken_alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let (input, signature) = (&case.signing_input, &case.signature);
        let mut contenders: Vec<Contender<'_>> = case
            .raw
            .iter()
            .map(|raw| -> Contender<'_> {
                let check = &raw.check;
                (
                    format!("raw {} (key pre-parsed)", raw.name),
                    Box::new(move |n| (0..n).all(|_| check(black_box(input), signature))),
                )
            })
            .collect();
        let raw_count = contenders.len();
        contenders.push((
            "tokenkeep verify, header cache hit".into(),
            Box::new(|n| (0..n).all(|_| tokenkeep_core::verify(black_box(&case.token), &keys, &policy, t_now).is_ok())),
        ));
        contenders.push((
            "tokenkeep verify, first sight of a header".into(),
            Box::new(|n| {
                (0..n)
                    .all(|_| tokenkeep_core::verify(black_box(&first_sight), &first_sight_keys, &policy, t_now).is_ok())
            }),
        ));
        contenders.push((
            "raw ring (key as components)".into(),
            Box::new(|n| (0..n).all(|_| (case.raw_ring)(black_box(input), signature))),
        ));
        contenders.push((
            "jsonwebtoken 11 aws_lc_rs decode".into(),
            Box::new(|n| {
                (0..n).all(|_| {
                    jsonwebtoken::decode::<Value>(black_box(&case.token), &case.jsonwebtoken_key, &validation).is_ok()
                })
            }),
        ));
        let times = best_us(&mut contenders, ROUNDS, ITERS);
        let floor = times[..raw_count].iter().copied().fold(f64::MAX, f64::min);
        println!("{}", case.alg);
        for ((name, _), t) in contenders.iter().zip(&times) {
            println!("  {name:<44} {t:>8.2}us {:>6.3}x", t / floor);
        }
        println!();
    }
}
