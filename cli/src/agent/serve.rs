//! `GET /health` and `GET /metrics` on the agent's loopback listener.
//!
//! `/health` answers 200 while every source holds a usable value and 503
//! otherwise, with a JSON body:
//!
//! ```json
//! {"status": "ok" | "degraded" | "failing",
//!  "sources": [{"name": "app@jwt", "kind": "vault_token" | "kv" | "lease" | "file_token" | "hmac_keyring",
//!               "state": "fresh", "usable": true, "token_age_seconds": 4, "expires_in_seconds": 6,
//!               "next_refresh_in_seconds": 2, "last_refresh_ok": true, "consecutive_failures": 0,
//!               "last_error_code": null, "version": null,
//!               "sink": "/run/tokenkeep/vault-token", "sink_written": true, "sink_error": null}]}
//! ```
//!
//! `degraded`: every value is usable but a refresh is failing, or a sink
//! could not be written (`sink_error`: `write_failed`, `field_missing`, or
//! the runtime's refusal of an HMAC secret, `secret_too_short` or
//! `missing_field`; the sink keeps the
//! last good keyring, and `usable` stays false until one was accepted).
//!
//! `/metrics` is the Prometheus text of everything recorded through the
//! `metrics` facade: the runtime's `vault_login_total{result}`,
//! `vault_renew_total{result}`, `vault_secret_read_total{secret,result}`
//! (KV reads and leases), `token_file_read_total{result}`, and the agent's:
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `tokenkeep_agent_source_up` | gauge | source, kind | 1 while the source holds a usable value |
//! | `tokenkeep_agent_source_expires_in_seconds` | gauge | source, kind | seconds until the value expires (0 when none; absent for KV, which has no expiry) |
//! | `tokenkeep_agent_source_age_seconds` | gauge | source, kind | seconds since the value held was obtained |
//! | `tokenkeep_agent_source_consecutive_failures` | gauge | source, kind | failed refreshes since the last success |
//! | `tokenkeep_agent_sink_writes_total` | counter | source, result (`ok`, `error`) | sink writes |
//! | `tokenkeep_agent_on_rotate_total` | counter | source, result (`ok`, `failed`, `timeout`) | `on_rotate` runs |
//!
//! The gauges are computed from each source's health at scrape time.

use super::sources::Source;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use std::sync::Arc;
use tokenkeep::outbound::CredentialState;
use tokio_util::sync::CancellationToken;

pub const SOURCE_UP: &str = "tokenkeep_agent_source_up";
pub const SOURCE_EXPIRES_IN: &str = "tokenkeep_agent_source_expires_in_seconds";
pub const SOURCE_AGE: &str = "tokenkeep_agent_source_age_seconds";
pub const SOURCE_FAILURES: &str = "tokenkeep_agent_source_consecutive_failures";
pub const SINK_WRITES_TOTAL: &str = "tokenkeep_agent_sink_writes_total";
pub const ON_ROTATE_TOTAL: &str = "tokenkeep_agent_on_rotate_total";

/// Installs the Prometheus recorder (before any source starts, so no count
/// is lost) and describes the agent's own metrics. No listener of its own:
/// [`serve`] renders it.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    metrics::describe_gauge!(SOURCE_UP, "1 while the source holds a usable value");
    metrics::describe_gauge!(SOURCE_EXPIRES_IN, "Seconds until the source's value expires");
    metrics::describe_gauge!(SOURCE_AGE, "Seconds since the source's value was obtained");
    metrics::describe_gauge!(SOURCE_FAILURES, "Failed refreshes since the last success");
    metrics::describe_counter!(SINK_WRITES_TOTAL, "Sink file writes, by result");
    metrics::describe_counter!(ON_ROTATE_TOTAL, "on_rotate command runs, by result");
    Ok(handle)
}

#[derive(Clone)]
struct AppState {
    sources: Arc<[Arc<Source>]>,
    prometheus: PrometheusHandle,
}

/// Serves `/health` and `/metrics` on `listener` until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sources: Arc<[Arc<Source>]>,
    prometheus: PrometheusHandle,
    stop: CancellationToken,
) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { sources, prometheus });
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await {
        tracing::warn!(target: "tokenkeep::agent", error = %e, "the health listener stopped");
    }
}

/// The `/health` body and whether every source is usable.
pub fn report(sources: &[Arc<Source>]) -> (bool, Value) {
    let mut all_usable = true;
    let mut degraded = false;
    let mut entries = Vec::with_capacity(sources.len());
    for s in sources {
        let h = s.handle.health();
        let usable = s.handle.usable();
        let sink = s.sink_status();
        all_usable &= usable;
        degraded |=
            h.state == CredentialState::Degraded || sink.last_error.is_some() || (s.sink.is_some() && !sink.written);
        entries.push(json!({
            "name": s.name,
            "kind": s.handle.kind(),
            "state": h.state.as_str(),
            "usable": usable,
            "token_age_seconds": h.token_age_seconds,
            "expires_in_seconds": h.expires_in_seconds,
            "next_refresh_in_seconds": h.next_refresh_in_seconds,
            "last_refresh_ok": h.last_refresh_ok,
            "consecutive_failures": h.consecutive_failures,
            "last_error_code": h.last_error_code,
            "version": h.version,
            "sink": s.sink.as_ref().map(|p| p.display().to_string()),
            "sink_written": sink.written,
            "sink_error": sink.last_error,
        }));
    }
    let status = match (all_usable, degraded) {
        (false, _) => "failing",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    (all_usable, json!({ "status": status, "sources": entries }))
}

async fn health(State(state): State<AppState>) -> Response {
    let (ok, body) = report(&state.sources);
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.to_string())
        .into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    for s in state.sources.iter() {
        let h = s.handle.health();
        let usable = s.handle.usable();
        let (name, kind) = (s.name.clone(), s.handle.kind());
        metrics::gauge!(SOURCE_UP, "source" => name.clone(), "kind" => kind).set(if usable { 1.0 } else { 0.0 });
        match h.expires_in_seconds {
            Some(secs) => metrics::gauge!(SOURCE_EXPIRES_IN, "source" => name.clone(), "kind" => kind).set(secs as f64),
            // No usable value: nothing left of its life. A usable KV secret has no expiry: no gauge.
            None if !usable => metrics::gauge!(SOURCE_EXPIRES_IN, "source" => name.clone(), "kind" => kind).set(0.0),
            None => {}
        }
        if let Some(age) = h.token_age_seconds {
            metrics::gauge!(SOURCE_AGE, "source" => name.clone(), "kind" => kind).set(age as f64);
        }
        metrics::gauge!(SOURCE_FAILURES, "source" => name, "kind" => kind).set(f64::from(h.consecutive_failures));
    }
    state.prometheus.run_upkeep();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        state.prometheus.render(),
    )
        .into_response()
}
