//! Arbitrary server answers and timings fed to the JWKS cache: no panic, never
//! two requests in flight, never a timer in the past.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenkeep_core::UnixTime;
use tokenkeep_core::http::{HttpOutcome, HttpResponse, TransportError};
use tokenkeep_core::jwks::{CacheConfig, JwksCache, KeySource};

fuzz_target!(|data: &[u8]| {
    let mut now = UnixTime::from_secs(1_767_225_600);
    let source = KeySource::oidc_issuer("https://idp.fuzz.test").expect("url");
    let mut cache = JwksCache::new(source, CacheConfig::default(), 1, now);
    let mut chunks = data.split(|b| *b == 0xff);
    for _ in 0..64 {
        let Some(chunk) = chunks.next() else { break };
        let step = u64::from(chunk.first().copied().unwrap_or(0)) * 997;
        now = now.saturating_add(std::time::Duration::from_millis(step));
        cache.handle_timeout(now);
        while let Some(req) = cache.poll_request() {
            // Single flight: nothing more to send until this one is answered
            // (the next request, e.g. the JWKS after discovery, comes after).
            assert!(cache.poll_request().is_none(), "two requests in flight");
            let status = match chunk.get(1) {
                Some(0) => 304,
                Some(1) => 503,
                Some(2) => 404,
                _ => 200,
            };
            let body = chunk.get(2..).unwrap_or_default().to_vec();
            let outcome = if chunk.get(1) == Some(&3) {
                HttpOutcome::Failed(TransportError::Timeout)
            } else {
                let issuer_doc =
                    format!(r#"{{"issuer":"https://idp.fuzz.test","jwks_uri":"https://idp.fuzz.test/jwks"}}"#);
                let body = if req.url.ends_with("openid-configuration") && chunk.get(1) == Some(&4) {
                    issuer_doc.into_bytes()
                } else {
                    body
                };
                HttpOutcome::Response(
                    HttpResponse::new(status, body)
                        .with_header("cache-control", "max-age=7")
                        .with_header("etag", "\"e\""),
                )
            };
            cache.handle_response(req.id, outcome, now);
        }
        while cache.poll_event().is_some() {}
        if let Some(t) = cache.poll_timeout() {
            assert!(t + std::time::Duration::from_secs(3600) >= now || cache.poll_request().is_none());
        }
        let _ = cache.health(now);
    }
});
