//! Every core event becomes a `tracing` event and a `metrics` update. Names
//! follow the JWKS-failure runbook, so dashboards and alerts carry over.
//! Nothing here ever sees a token or key material: events carry none.

use crate::events::{Event, Level, Listeners};
use tokenkeep_core::RejectionCode;
use tokenkeep_core::jwks::{CacheHealth, JwksCache, JwksEvent};
use tokenkeep_core::rejection::sanitize;

/// Counter of rejected tokens, labelled `reason` (the rejection code).
pub const INVALID_TOTAL: &str = "auth_jwt_invalid_total";
/// Histogram of verification time in seconds, labelled `result` (`valid` or `invalid`).
pub const VALIDATION_DURATION: &str = "jwt_validation_duration_seconds";
// `record_verification` writes the name out as a literal (see there): the same text.
const _: () = assert!(same_text(VALIDATION_DURATION, "jwt_validation_duration_seconds"));

const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
/// Counter of JWKS fetch outcomes, labelled `issuer` and `result`
/// (`refreshed`, `not_modified`, `failed`).
pub const JWKS_REFRESH_TOTAL: &str = "jwks_refresh_total";
/// Gauge: seconds since the last successful JWKS fetch, labelled `issuer`.
pub const JWKS_CACHE_AGE: &str = "jwks_cache_age_seconds";
/// Gauge: usable keys, labelled `issuer`.
pub const JWKS_KEYS: &str = "jwks_keys";

pub(crate) fn record_verification(result: Result<(), RejectionCode>, seconds: f64) {
    crate::metrics_registry::record_verification(result, seconds);
    // The name is written out (it is VALIDATION_DURATION): with a literal
    // name and labels the macro's key is a static hashed at compile time,
    // where a named constant makes it build and hash the key on every call.
    match result {
        Ok(()) => metrics::histogram!("jwt_validation_duration_seconds", "result" => "valid").record(seconds),
        Err(code) => {
            metrics::histogram!("jwt_validation_duration_seconds", "result" => "invalid").record(seconds);
            metrics::counter!(INVALID_TOTAL, "reason" => code.as_str()).increment(1);
            tracing::debug!(target: "tokenkeep::verify", reason = code.as_str(), "token rejected");
        }
    }
}

pub(crate) fn drain_jwks_events(issuer: &str, cache: &mut JwksCache, listeners: &Listeners) {
    while let Some(event) = cache.poll_event() {
        emit(issuer, &event);
        if listeners.any() {
            listeners.emit(&host_event(issuer, &event));
        }
    }
}

/// The plain-data form of a cache event, for host loggers.
fn host_event(issuer: &str, event: &JwksEvent) -> Event {
    let name = event.code();
    match event {
        JwksEvent::Refreshed { key_count, added, removed, skipped } => {
            let skipped: Vec<String> = skipped
                .iter()
                .map(|s| format!("{}:{}", s.kid.as_deref().map_or("-".into(), sanitize), s.reason.code()))
                .collect();
            Event::new(name, Level::Info, "jwks", issuer, "key set refreshed")
                .with("key_count", *key_count)
                .with("added", added.iter().map(|k| sanitize(k)).collect::<Vec<_>>())
                .with("removed", removed.iter().map(|k| sanitize(k)).collect::<Vec<_>>())
                .with("skipped", skipped)
        }
        JwksEvent::NotModified => Event::new(name, Level::Debug, "jwks", issuer, "key set not modified"),
        JwksEvent::RefreshFailed { error, attempt, next_retry_in, serving_stale } => {
            Event::new(name, Level::Warn, "jwks", issuer, "key set refresh failed")
                .with("error", error.code())
                .with("attempt", *attempt)
                .with("next_retry_in_s", next_retry_in.as_secs_f64())
                .with("serving_stale", *serving_stale)
        }
        JwksEvent::BecameStale => {
            Event::new(name, Level::Warn, "jwks", issuer, "serving stale keys while the issuer is unreachable")
        }
        JwksEvent::Expired => {
            Event::new(name, Level::Error, "jwks", issuer, "no usable keys: answering keys_unavailable")
        }
        JwksEvent::Discovered { jwks_uri } => {
            Event::new(name, Level::Info, "jwks", issuer, "discovery loaded").with("jwks_uri", sanitize(jwks_uri))
        }
        _ => Event::new(name, Level::Info, "jwks", issuer, name),
    }
}

pub(crate) fn record_cache_gauges(issuer: &str, health: &CacheHealth) {
    if let Some(age) = health.age_seconds {
        metrics::gauge!(JWKS_CACHE_AGE, "issuer" => issuer.to_owned()).set(age);
    }
    metrics::gauge!(JWKS_KEYS, "issuer" => issuer.to_owned()).set(health.key_count as f64);
}

fn emit(issuer: &str, event: &JwksEvent) {
    use tokenkeep_core::text::sanitize;
    let code = event.code();
    match event {
        JwksEvent::Refreshed { key_count, added, removed, skipped } => {
            count_refresh(issuer, "refreshed");
            // Kids and the jwks_uri are the IdP's strings: through `sanitize` before a log line.
            let skipped: Vec<String> = skipped
                .iter()
                .map(|s| format!("{}:{}", sanitize(s.kid.as_deref().unwrap_or("-")), s.reason.code()))
                .collect();
            let added: Vec<_> = added.iter().map(|k| sanitize(k)).collect();
            let removed: Vec<_> = removed.iter().map(|k| sanitize(k)).collect();
            tracing::info!(target: "tokenkeep::jwks", issuer, event = code, key_count, ?added, ?removed, ?skipped, "key set refreshed");
        }
        JwksEvent::NotModified => {
            count_refresh(issuer, "not_modified");
            tracing::debug!(target: "tokenkeep::jwks", issuer, event = code, "key set not modified");
        }
        JwksEvent::RefreshFailed { error, attempt, next_retry_in, serving_stale } => {
            count_refresh(issuer, "failed");
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
            let jwks_uri = sanitize(jwks_uri);
            tracing::info!(target: "tokenkeep::jwks", issuer, event = code, jwks_uri = %jwks_uri, "discovery loaded");
        }
        _ => tracing::info!(target: "tokenkeep::jwks", issuer, event = code),
    }
}

fn count_refresh(issuer: &str, result: &'static str) {
    metrics::counter!(JWKS_REFRESH_TOTAL, "issuer" => issuer.to_owned(), "result" => result).increment(1);
    crate::metrics_registry::count(
        JWKS_REFRESH_TOTAL,
        vec![("issuer", issuer.to_owned()), ("result", result.to_owned())],
    );
}
