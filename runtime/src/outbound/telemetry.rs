//! Outbound credential events to `tracing`, the `metrics` facade, the
//! process-wide metrics snapshot, and each handle's event listeners (as
//! plain [`crate::Event`]s named `credential_*`). Events carry codes,
//! versions and times, never a token or a secret value.

use super::{CredentialHealth, CredentialKind};
use crate::events::{Event as HostEvent, Level, Listeners};
use crate::metrics_registry::{self, GaugeRow, GaugeSource};
use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{AttemptKind, Event};

/// Counter of Vault logins, labelled `result` (`ok` or an error code).
pub const VAULT_LOGIN_TOTAL: &str = "vault_login_total";
/// Counter of Vault token renewals, labelled `result` (`ok`, `no_progress` or an error code).
pub const VAULT_RENEW_TOTAL: &str = "vault_renew_total";
/// Counter of KV v2 and lease reads, labelled `secret` and `result` (`ok` or an error code).
pub const VAULT_SECRET_READ_TOTAL: &str = "vault_secret_read_total";
/// Counter of token file reads, labelled `result` (`ok` or an error code).
pub const TOKEN_FILE_READ_TOTAL: &str = "token_file_read_total";

fn secs_until(t: Option<UnixTime>, now: UnixTime) -> Option<f64> {
    t.map(|t| t.saturating_since(now).as_secs_f64())
}

/// Counts one outcome in the facade and in the snapshot registry.
fn count(kind: CredentialKind, name: &str, attempt: AttemptKind, result: &'static str) {
    match (kind, attempt) {
        (CredentialKind::VaultToken, AttemptKind::Acquire) => {
            metrics::counter!(VAULT_LOGIN_TOTAL, "result" => result).increment(1);
            metrics_registry::count(VAULT_LOGIN_TOTAL, vec![("result", result.to_owned())]);
        }
        (CredentialKind::VaultToken, AttemptKind::Renew) => {
            metrics::counter!(VAULT_RENEW_TOTAL, "result" => result).increment(1);
            metrics_registry::count(VAULT_RENEW_TOTAL, vec![("result", result.to_owned())]);
        }
        (CredentialKind::VaultSecret | CredentialKind::VaultLease, _) => {
            metrics::counter!(VAULT_SECRET_READ_TOTAL, "secret" => name.to_owned(), "result" => result).increment(1);
            metrics_registry::count(
                VAULT_SECRET_READ_TOTAL,
                vec![("secret", name.to_owned()), ("result", result.to_owned())],
            );
        }
        (CredentialKind::FileToken, _) => {
            metrics::counter!(TOKEN_FILE_READ_TOTAL, "result" => result).increment(1);
            metrics_registry::count(TOKEN_FILE_READ_TOTAL, vec![("result", result.to_owned())]);
        }
        _ => {}
    }
}

/// One core event: a `tracing` event, the matching counters, and (when
/// anyone listens) the plain-data event.
pub(crate) fn emit(kind: CredentialKind, name: &str, event: &Event, now: UnixTime, listeners: &Listeners) {
    let src = kind.as_str();
    let code = event.code();
    let host = |level: Level, message: &str| HostEvent::new(&format!("credential_{code}"), level, src, name, message);
    let plain = match event {
        Event::StateChanged { from, to } => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, from = from.as_str(), to = to.as_str(), "credential state changed");
            host(Level::Info, "credential state changed").with("from", from.as_str()).with("to", to.as_str())
        }
        Event::AttemptStarted { id, kind: attempt } => {
            tracing::debug!(target: "tokenkeep::outbound", source = src, name, event = code, id = id.0, kind = attempt.as_str(), "attempt started");
            host(Level::Debug, "attempt started").with("kind", attempt.as_str())
        }
        Event::Obtained { version, expires_at } => {
            count(kind, name, AttemptKind::Acquire, "ok");
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, version, expires_in_s = secs_until(*expires_at, now), "credential obtained");
            host(Level::Info, "credential obtained")
                .with_opt("version", *version)
                .with_opt("expires_in_s", secs_until(*expires_at, now))
        }
        Event::Rotated { previous_version, version } => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, previous_version, version, "credential rotated");
            host(Level::Info, "credential rotated")
                .with_opt("previous_version", *previous_version)
                .with_opt("version", *version)
        }
        Event::Renewed { expires_at } => {
            if kind == CredentialKind::VaultToken {
                count(kind, name, AttemptKind::Renew, "ok");
            }
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, expires_in_s = secs_until(Some(*expires_at), now), "credential renewed");
            host(Level::Info, "credential renewed").with_opt("expires_in_s", secs_until(Some(*expires_at), now))
        }
        Event::NoProgress { expires_at } => {
            if kind == CredentialKind::VaultToken {
                count(kind, name, AttemptKind::Renew, "no_progress");
            }
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, expires_in_s = secs_until(Some(*expires_at), now), "renewal did not extend the credential (max TTL): acquiring a new one");
            host(Level::Info, "renewal did not extend the credential: acquiring a new one")
                .with_opt("expires_in_s", secs_until(Some(*expires_at), now))
        }
        Event::AttemptFailed { kind: attempt, code: cause, next_attempt_at } => {
            count(kind, name, *attempt, cause);
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, kind = attempt.as_str(), error = *cause, next_attempt_in_s = secs_until(*next_attempt_at, now), "credential refresh failed");
            host(Level::Warn, "credential refresh failed")
                .with("kind", attempt.as_str())
                .with("error", *cause)
                .with_opt("next_attempt_in_s", secs_until(*next_attempt_at, now))
        }
        Event::Gone { code: cause } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, "credential is gone on the server: acquiring a new one");
            host(Level::Warn, "credential is gone on the server: acquiring a new one").with("error", *cause)
        }
        Event::Fatal { code: cause } => {
            tracing::error!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, "permanent error: retrying slowly");
            host(Level::Error, "permanent error: retrying slowly").with("error", *cause)
        }
        Event::TokenRejected { code: cause } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, "Vault token rejected: asking for a new login");
            host(Level::Warn, "Vault token rejected: asking for a new login").with("error", *cause)
        }
        Event::Expired => {
            tracing::error!(target: "tokenkeep::outbound", source = src, name, event = code, "credential expired without replacement: answering expired");
            host(Level::Error, "credential expired without replacement")
        }
        Event::PreviousRetired { version } => {
            tracing::debug!(target: "tokenkeep::outbound", source = src, name, event = code, version, "previous value retired");
            host(Level::Debug, "previous value retired").with_opt("version", *version)
        }
        Event::Abandoned { id } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, id = id.0, "request abandoned (no answer in time)");
            host(Level::Warn, "request abandoned (no answer in time)")
        }
        Event::Revoked => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, "revoked");
            host(Level::Info, "revoked")
        }
        Event::RevokeFailed { code: cause, will_retry } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, will_retry, "revocation failed");
            host(Level::Warn, "revocation failed").with("error", *cause).with("will_retry", *will_retry)
        }
        _ => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code);
            host(Level::Info, code)
        }
    };
    if listeners.any() {
        listeners.emit(&plain);
    }
}

/// The `credential_*{kind,name}` gauges of one handle.
pub(crate) fn gauges(
    kind: CredentialKind,
    name: &str,
    usable: bool,
    health: &CredentialHealth,
    out: &mut Vec<GaugeRow>,
) {
    let labels = vec![("kind".to_owned(), kind.as_str().to_owned()), ("name".to_owned(), name.to_owned())];
    out.push(("credential_up", labels.clone(), if usable { 1.0 } else { 0.0 }));
    if let Some(s) = health.expires_in_seconds {
        out.push(("credential_expires_in_seconds", labels.clone(), s as f64));
    }
    if let Some(s) = health.token_age_seconds {
        out.push(("credential_age_seconds", labels.clone(), s as f64));
    }
    out.push(("credential_consecutive_failures", labels, f64::from(health.consecutive_failures)));
}

/// Registers a handle's gauges with the process-wide snapshot.
pub(crate) fn register<T: GaugeSource + 'static>(source: &std::sync::Arc<T>) {
    let weak: std::sync::Weak<dyn GaugeSource> =
        std::sync::Arc::downgrade(&(source.clone() as std::sync::Arc<dyn GaugeSource>));
    metrics_registry::register_source(weak);
}
