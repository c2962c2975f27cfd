//! Every core event becomes a `tracing` event and a `metrics` update. Names
//! follow the JWKS-failure runbook, so dashboards and alerts carry over.
//! Nothing here ever sees a token or key material: events carry none.

use tokenkeep_core::RejectionCode;
use tokenkeep_core::jwks::{CacheHealth, JwksCache, JwksEvent};

/// Counter of rejected tokens, labelled `reason` (the rejection code).
pub const INVALID_TOTAL: &str = "auth_jwt_invalid_total";
/// Histogram of verification time in seconds, labelled `result` (`valid` or `invalid`).
pub const VALIDATION_DURATION: &str = "jwt_validation_duration_seconds";
/// Counter of JWKS fetch outcomes, labelled `issuer` and `result`
/// (`refreshed`, `not_modified`, `failed`).
pub const JWKS_REFRESH_TOTAL: &str = "jwks_refresh_total";
/// Gauge: seconds since the last successful JWKS fetch, labelled `issuer`.
pub const JWKS_CACHE_AGE: &str = "jwks_cache_age_seconds";
/// Gauge: usable keys, labelled `issuer`.
pub const JWKS_KEYS: &str = "jwks_keys";

pub(crate) fn record_verification(result: Result<(), RejectionCode>, seconds: f64) {
    match result {
        Ok(()) => metrics::histogram!(VALIDATION_DURATION, "result" => "valid").record(seconds),
        Err(code) => {
            metrics::histogram!(VALIDATION_DURATION, "result" => "invalid").record(seconds);
            metrics::counter!(INVALID_TOTAL, "reason" => code.as_str()).increment(1);
            tracing::debug!(target: "tokenkeep::verify", reason = code.as_str(), "token rejected");
        }
    }
}

pub(crate) fn drain_jwks_events(issuer: &str, cache: &mut JwksCache) {
    while let Some(event) = cache.poll_event() {
        emit(issuer, &event);
    }
}

pub(crate) fn record_cache_gauges(issuer: &str, health: &CacheHealth) {
    if let Some(age) = health.age_seconds {
        metrics::gauge!(JWKS_CACHE_AGE, "issuer" => issuer.to_owned()).set(age);
    }
    metrics::gauge!(JWKS_KEYS, "issuer" => issuer.to_owned()).set(health.key_count as f64);
}

fn emit(issuer: &str, event: &JwksEvent) {
    let code = event.code();
    match event {
        JwksEvent::Refreshed { key_count, added, removed, skipped } => {
            metrics::counter!(JWKS_REFRESH_TOTAL, "issuer" => issuer.to_owned(), "result" => "refreshed").increment(1);
            let skipped: Vec<String> =
                skipped.iter().map(|s| format!("{}:{}", s.kid.as_deref().unwrap_or("-"), s.reason.code())).collect();
            tracing::info!(target: "tokenkeep::jwks", issuer, event = code, key_count, ?added, ?removed, ?skipped, "key set refreshed");
        }
        JwksEvent::NotModified => {
            metrics::counter!(JWKS_REFRESH_TOTAL, "issuer" => issuer.to_owned(), "result" => "not_modified")
                .increment(1);
            tracing::debug!(target: "tokenkeep::jwks", issuer, event = code, "key set not modified");
        }
        JwksEvent::RefreshFailed { error, attempt, next_retry_in, serving_stale } => {
            metrics::counter!(JWKS_REFRESH_TOTAL, "issuer" => issuer.to_owned(), "result" => "failed").increment(1);
            tracing::warn!(
                target: "tokenkeep::jwks",
                issuer,
                event = code,
                error = error.code(),
                attempt,
                next_retry_in_s = next_retry_in.as_secs_f64(),
                serving_stale,
                "key set refresh failed"
            );
        }
        JwksEvent::BecameStale => {
            tracing::warn!(target: "tokenkeep::jwks", issuer, event = code, "serving stale keys while the issuer is unreachable");
        }
        JwksEvent::Expired => {
            tracing::error!(target: "tokenkeep::jwks", issuer, event = code, "no usable keys: answering keys_unavailable");
        }
        JwksEvent::Discovered { jwks_uri } => {
            tracing::info!(target: "tokenkeep::jwks", issuer, event = code, jwks_uri, "discovery loaded");
        }
        _ => tracing::info!(target: "tokenkeep::jwks", issuer, event = code),
    }
}
