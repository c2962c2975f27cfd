//! Built as a wasm32 cdylib, this runs every shared vector inside a
//! WebAssembly engine (`scripts/check-wasm.mjs` drives it with Node), proving the
//! ring backend and the whole verification path work in wasm32 with no import
//! from the host. On native targets it is an ordinary example doing the same.

#[path = "../tests/support/vectors.rs"]
#[allow(dead_code)]
mod support;

fn failures() -> (u32, u32) {
    let vectors = support::all_vectors();
    let mut failed = 0;
    for (_, v) in &vectors {
        if support::run_vector(v, support::Path::OneShot).is_err()
            || support::run_vector(v, support::Path::TwoPhase).is_err()
            || support::run_vector(v, support::Path::PreparedCacheHit).is_err()
        {
            failed += 1;
        }
    }
    (vectors.len() as u32, failed)
}

/// Number of shared vectors.
#[unsafe(no_mangle)]
pub extern "C" fn tokenkeep_selfcheck_total() -> u32 {
    failures().0
}

/// Number of shared vectors whose answer differs from the expectation.
#[unsafe(no_mangle)]
pub extern "C" fn tokenkeep_selfcheck_failures() -> u32 {
    failures().1
}

#[allow(dead_code)]
fn main() {
    let (total, failed) = failures();
    println!("{total} vectors, {failed} failed");
}
