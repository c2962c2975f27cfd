//! `tokenkeep agent`: the sidecar for software that cannot link tokenkeep
//! (the job of Vault Agent's auto-auth with file sinks, and of spiffe-helper).
//!
//! It wires the runtime's sources (a Vault token from a JWT login, KV v2
//! secrets, leases, token files, HMAC keyrings fed by a KV field) to files:
//! each value is written atomically with mode 0600 when it first arrives and
//! again on every rotation, then an optional command runs. `/health` and `/metrics` are served on a loopback
//! listener. It adds no credential logic of its own: refresh, renewal,
//! re-login and backoff are the runtime's.
//!
//! - [`config`]: the TOML model, the flags on top of it, validation.
//! - `sources`: starting sources, the rotation -> sink -> command loops.
//! - `sink`: atomic 0600 writes.
//! - `serve`: `/health` and `/metrics`.

pub mod config;
mod serve;
mod sink;
mod sources;

use crate::output::{Failure, Output};
use crate::stop_signal::StopSignal;
use config::AgentConfig;
use serde_json::json;
use sources::Source;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// While not ready, say every this often which sources are still missing.
const WAITING_LOG_EVERY: Duration = Duration::from_secs(15);
/// How long the shutdown waits for sink writes in progress.
const SINK_LOOPS_STOP_WAIT: Duration = Duration::from_secs(5);

/// Runs the agent until SIGTERM or SIGINT; exit 0 then. Configuration
/// problems found while starting (a sink directory that cannot be made, a
/// port in use, a source the runtime refuses) are exit 2.
pub async fn run(config: AgentConfig, out: &Output) -> Result<ExitCode, Failure> {
    // Before anything can announce readiness: a parent that reads the ready
    // line and sends SIGTERM at once gets a clean stop, not a signal death.
    let stop_signal = StopSignal::install();

    // The one start-up error the runtime would find only after side effects
    // (directories made, a port bound): say it before them.
    if config.vault.as_ref().is_some_and(|v| v.addr.is_none()) && !vault_addr_in_env() {
        return Err(Failure::usage(
            "missing_address",
            "vault: no Vault address: give --vault-addr URL or `addr` in [vault], or set VAULT_ADDR / BAO_ADDR",
        ));
    }
    let prometheus = match config.health_listen {
        Some(_) => Some(serve::install_recorder().map_err(|m| Failure::usage("metrics_failed", m))?),
        None => None,
    };
    // A sink that cannot be written is found now (exit 2), not as a warning
    // every few seconds from an agent that never becomes ready.
    for path in sink_paths(&config) {
        sink::prepare(&path).map_err(|e| {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            Failure::usage(
                "sink_unusable",
                format!("sink {}: its directory {} cannot be created or written: {e}", path.display(), dir.display()),
            )
        })?;
    }
    let listener = match config.health_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::usage("listen_failed", format!("--health-listen {addr}: cannot listen: {e}")))?,
        ),
        None => None,
    };
    let base_url = match &listener {
        Some(l) => {
            let addr = l.local_addr().map_err(|e| Failure::usage("listen_failed", e.to_string()))?;
            tracing::info!(target: "tokenkeep::agent", %addr, "serving /health and /metrics");
            Some(format!("http://{addr}"))
        }
        None => None,
    };

    let running = sources::start(&config)?;
    let list: Arc<[Arc<Source>]> = running.list.iter().cloned().collect();
    let server_stop = CancellationToken::new();
    let server = match (listener, prometheus) {
        (Some(listener), Some(prometheus)) => {
            Some(tokio::spawn(serve::serve(listener, list.clone(), prometheus, server_stop.clone())))
        }
        _ => None,
    };

    let loops_stop = CancellationToken::new();
    let (ready_tx, mut ready_rx) = watch::channel(0usize);
    let ready_tx = Arc::new(ready_tx);
    let mut loops = Vec::new();
    for source in list.iter() {
        loops.push(tokio::spawn(sources::follow(source.clone(), ready_tx.clone(), loops_stop.clone())));
        loops.push(tokio::spawn(sources::run_on_rotate(source.clone(), loops_stop.clone())));
    }

    let stop = stop_signal.wait();
    tokio::pin!(stop);
    let total = list.len();
    let mut waiting_log = tokio::time::interval_at(tokio::time::Instant::now() + WAITING_LOG_EVERY, WAITING_LOG_EVERY);
    let stopped_early = loop {
        tokio::select! {
            ready = ready_rx.wait_for(|n| *n >= total) => {
                if ready.is_ok() {
                    announce(out, total, base_url.as_deref());
                }
                break false;
            }
            _ = waiting_log.tick() => log_waiting(&list),
            () = &mut stop => break true,
        }
    };
    if !stopped_early {
        stop.await;
    }

    tracing::info!(target: "tokenkeep::agent", "stopping");
    // Sink loops first (a write in progress completes; a running on_rotate
    // command is killed), so no file changes while the sources shut down.
    loops_stop.cancel();
    // A write in progress normally completes in milliseconds; a sink on a
    // file system that hangs must not hold the shutdown (the revocations
    // after this matter more).
    let loops_done = async {
        for task in &mut loops {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(SINK_LOOPS_STOP_WAIT, loops_done).await.is_err() {
        tracing::warn!(target: "tokenkeep::agent", wait_s = SINK_LOOPS_STOP_WAIT.as_secs(), "a sink write did not finish; stopping without it");
        for task in &loops {
            task.abort();
        }
    }
    server_stop.cancel();
    running.shutdown().await;
    if let Some(server) = server {
        let _ = server.await;
    }
    tracing::info!(target: "tokenkeep::agent", "stopped");
    Ok(ExitCode::SUCCESS)
}

/// Whether the runtime will find an address in the environment (it reads
/// `VAULT_ADDR`, then `BAO_ADDR`, and ignores blank values).
fn vault_addr_in_env() -> bool {
    ["VAULT_ADDR", "BAO_ADDR"].iter().any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

fn sink_paths(config: &AgentConfig) -> Vec<PathBuf> {
    let token = config.vault.iter().filter_map(|v| v.token_sink.clone());
    let kv = config.kv.iter().map(|k| k.sink.clone());
    let leases = config.leases.iter().map(|l| l.sink.clone());
    let files = config.file_tokens.iter().filter_map(|f| f.sink.clone());
    let hmac = config.hmac.iter().map(|h| h.sink.clone());
    token.chain(kv).chain(leases).chain(files).chain(hmac).collect()
}

/// The one line on stdout that says every sink holds a value.
fn announce(out: &Output, sources: usize, base_url: Option<&str>) {
    let health = base_url.map(|b| format!("{b}/health"));
    if out.json() {
        let metrics = base_url.map(|b| format!("{b}/metrics"));
        out.print_json_line(&json!({ "event": "ready", "sources": sources, "health": health, "metrics": metrics }));
    } else {
        let plural = if sources == 1 { "" } else { "s" };
        match health {
            Some(h) => out.line(format!("tokenkeep agent: ready ({sources} source{plural}; health on {h})")),
            None => out.line(format!("tokenkeep agent: ready ({sources} source{plural})")),
        }
    }
    tracing::info!(target: "tokenkeep::agent", sources, "ready: every sink written");
}

fn log_waiting(list: &[Arc<Source>]) {
    for s in list {
        let done = match &s.sink {
            Some(_) => s.sink_status().written,
            None => s.handle.usable(),
        };
        if !done {
            let h = s.handle.health();
            tracing::warn!(target: "tokenkeep::agent", source = %s.name, kind = s.handle.kind(), state = h.state.as_str(), last_error = h.last_error_code, sink_error = s.sink_status().last_error, "still waiting for a first value");
        }
    }
}
