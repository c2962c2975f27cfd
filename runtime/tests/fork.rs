//! A verifier started before `fork()` keeps working in the child (gunicorn
//! `--preload` forks after the application built its verifier at import):
//! the child's token names a key the verifier has not seen, and the child's
//! own refresh task fetches it at once.
//!
//! One test in its own binary: the child of a multi-threaded process runs
//! only this test's code and leaves with `_exit`.

use serde_json::json;
use std::time::Duration;
use tokenkeep::Verifier;
use tokenkeep_dev_issuer::{DevIssuer, DevIssuerConfig};

#[test]
fn a_child_refetches_on_a_new_kid() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let issuer = rt.block_on(DevIssuer::start(DevIssuerConfig::default())).expect("dev issuer starts");
    let spec = tokenkeep::spec::from_value(json!({"issuer": issuer.issuer_url(), "audience": "api"})).unwrap();
    let verifier = Verifier::start(&spec).expect("verifier starts");
    assert!(verifier.ready_blocking(Duration::from_secs(10)), "{:?}", verifier.health());
    let mint = || issuer.mint(json!({"sub": "alice", "aud": "api"}), "ES256", Duration::from_secs(600)).unwrap();
    verifier.verify_blocking(&mint(), None).expect("the first key verifies");
    // A task waiting on its wake signal when the process forks, as in a service at rest.
    std::thread::sleep(Duration::from_millis(200));

    issuer.rotate().expect("rotates");
    let new_kid = mint();

    // SAFETY: the child calls only what this test needs and ends with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        tokenkeep::after_fork_in_child();
        let result = verifier.verify_blocking(&new_kid, None);
        let fetched_on_miss = verifier.health()[0].cache.fetches_on_miss;
        let code = match result {
            Ok(_) if fetched_on_miss == 1 => 0,
            Ok(_) => 2,
            Err(_) => 1,
        };
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child did not exit normally: {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "1: rejected in the child; 2: verified without a refetch");
    // The parent, which never saw the new kid, refetches too.
    verifier.verify_blocking(&new_kid, None).expect("the parent verifies after its own refetch");
    rt.block_on(issuer.shutdown());
}
