//! Outbound credential events to `tracing` and `metrics`. Events carry codes,
//! versions and times, never a token or a secret value.

use tokenkeep_core::UnixTime;
use tokenkeep_core::credential::{AttemptKind, Event};

/// Counter of Vault logins, labelled `result` (`ok` or an error code).
pub const VAULT_LOGIN_TOTAL: &str = "vault_login_total";
/// Counter of Vault token renewals, labelled `result` (`ok`, `no_progress` or an error code).
pub const VAULT_RENEW_TOTAL: &str = "vault_renew_total";
/// Counter of KV v2 reads, labelled `secret` and `result` (`ok` or an error code).
pub const VAULT_SECRET_READ_TOTAL: &str = "vault_secret_read_total";
/// Counter of token file reads, labelled `result` (`ok` or an error code).
pub const TOKEN_FILE_READ_TOTAL: &str = "token_file_read_total";

/// Which kind of source an event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    VaultToken,
    VaultSecret,
    FileToken,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::VaultToken => "vault_token",
            Source::VaultSecret => "vault_secret",
            Source::FileToken => "file_token",
        }
    }
}

fn secs_until(t: Option<UnixTime>, now: UnixTime) -> Option<f64> {
    t.map(|t| t.saturating_since(now).as_secs_f64())
}

/// One core event: a `tracing` event and the matching counters.
pub(crate) fn emit(source: Source, name: &str, event: &Event, now: UnixTime) {
    let src = source.as_str();
    let code = event.code();
    match event {
        Event::StateChanged { from, to } => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, from = from.as_str(), to = to.as_str(), "credential state changed");
        }
        Event::AttemptStarted { id, kind } => {
            tracing::debug!(target: "tokenkeep::outbound", source = src, name, event = code, id = id.0, kind = kind.as_str(), "attempt started");
        }
        Event::Obtained { version, expires_at } => {
            match source {
                Source::VaultToken => metrics::counter!(VAULT_LOGIN_TOTAL, "result" => "ok").increment(1),
                Source::VaultSecret => {
                    metrics::counter!(VAULT_SECRET_READ_TOTAL, "secret" => name.to_owned(), "result" => "ok")
                        .increment(1)
                }
                Source::FileToken => metrics::counter!(TOKEN_FILE_READ_TOTAL, "result" => "ok").increment(1),
            }
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, version, expires_in_s = secs_until(*expires_at, now), "credential obtained");
        }
        Event::Rotated { previous_version, version } => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, previous_version, version, "credential rotated");
        }
        Event::Renewed { expires_at } => {
            if source == Source::VaultToken {
                metrics::counter!(VAULT_RENEW_TOTAL, "result" => "ok").increment(1);
            }
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, expires_in_s = secs_until(Some(*expires_at), now), "credential renewed");
        }
        Event::NoProgress { expires_at } => {
            if source == Source::VaultToken {
                metrics::counter!(VAULT_RENEW_TOTAL, "result" => "no_progress").increment(1);
            }
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, expires_in_s = secs_until(Some(*expires_at), now), "renewal did not extend the credential (max TTL): acquiring a new one");
        }
        Event::AttemptFailed { kind, code: cause, next_attempt_at } => {
            match (source, kind) {
                (Source::VaultToken, AttemptKind::Acquire) => {
                    metrics::counter!(VAULT_LOGIN_TOTAL, "result" => *cause).increment(1)
                }
                (Source::VaultToken, AttemptKind::Renew) => {
                    metrics::counter!(VAULT_RENEW_TOTAL, "result" => *cause).increment(1)
                }
                (Source::VaultSecret, _) => {
                    metrics::counter!(VAULT_SECRET_READ_TOTAL, "secret" => name.to_owned(), "result" => *cause)
                        .increment(1)
                }
                (Source::FileToken, _) => metrics::counter!(TOKEN_FILE_READ_TOTAL, "result" => *cause).increment(1),
            }
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, kind = kind.as_str(), error = *cause, next_attempt_in_s = secs_until(*next_attempt_at, now), "credential refresh failed");
        }
        Event::Gone { code: cause } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, "credential is gone on the server: acquiring a new one");
        }
        Event::Fatal { code: cause } => {
            tracing::error!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, "permanent error: retrying slowly");
        }
        Event::TokenRejected { code: cause } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, "Vault token rejected: asking for a new login");
        }
        Event::Expired => {
            tracing::error!(target: "tokenkeep::outbound", source = src, name, event = code, "credential expired without replacement: answering expired");
        }
        Event::PreviousRetired { version } => {
            tracing::debug!(target: "tokenkeep::outbound", source = src, name, event = code, version, "previous value retired");
        }
        Event::Abandoned { id } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, id = id.0, "request abandoned (no answer in time)");
        }
        Event::Revoked => {
            tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code, "revoked");
        }
        Event::RevokeFailed { code: cause, will_retry } => {
            tracing::warn!(target: "tokenkeep::outbound", source = src, name, event = code, error = *cause, will_retry, "revocation failed");
        }
        _ => tracing::info!(target: "tokenkeep::outbound", source = src, name, event = code),
    }
}
