//! Any bytes as a JWKS document: no panic; every key that parses can be asked
//! to verify junk without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenkeep_core::{Algorithm, KeySet};

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_jwks_json(data) {
        for key in set.keys() {
            for alg in Algorithm::ALL {
                let _ = key.verify_signature(alg, data, data);
            }
            let _ = format!("{key:?}");
            let _ = key.public_jwk();
        }
        for skipped in set.skipped() {
            let _ = skipped.reason.code();
        }
    }
});
