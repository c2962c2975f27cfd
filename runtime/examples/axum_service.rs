//! A small axum service protected by tokenkeep.
//!
//! ```text
//! ISSUER=https://accounts.example.com AUDIENCE=api://orders \
//!     cargo run -p tokenkeep --example axum_service
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/me
//! ```
//!
//! Environment: `ISSUER` (required; keys come from its OIDC discovery
//! document), `AUDIENCE` (required), `JWKS_URL` (optional: skip discovery),
//! `LISTEN` (default `127.0.0.1:8080`). `/healthz` is public and reports the
//! key cache; `/me` answers the verified subject and claims; `/orders` also
//! needs the `orders:read` scope (else 403 `insufficient_scope`).

use axum::routing::get;
use axum::{Extension, Router};
use std::sync::Arc;
use std::time::Duration;
use tokenkeep::axum_layer::JwtAuthLayer;
use tokenkeep::{Authenticated, IssuerConfig, VerifiedToken, Verifier};

async fn me(Extension(token): Extension<Arc<VerifiedToken>>) -> String {
    serde_json::json!({
        "sub": token.claims.subject(),
        "claims": token.claims.as_map(),
    })
    .to_string()
}

async fn orders(Extension(caller): Extension<Authenticated>) -> String {
    serde_json::json!({"sub": caller.token.claims.subject(), "scopes": caller.scopes}).to_string()
}

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("set {name} (ISSUER and AUDIENCE are required)");
        std::process::exit(2)
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).init();
    let issuer = required("ISSUER");
    let audience = required("AUDIENCE");
    let config = match std::env::var("JWKS_URL") {
        Ok(jwks_url) => IssuerConfig::jwks_url(issuer, jwks_url),
        Err(_) => IssuerConfig::discovery(issuer),
    }
    .with_audience(audience);
    let verifier = Verifier::new(vec![config])?;
    // Load keys before taking traffic, so the first requests are not 503s.
    if !verifier.ready(Duration::from_secs(10)).await {
        tracing::warn!(health = ?verifier.health(), "keys not loaded yet; serving anyway (503 until they are)");
    }

    let health_verifier = verifier.clone();
    let scoped = Router::new()
        .route("/orders", get(orders))
        .layer(JwtAuthLayer::new(verifier.clone()).require_scopes(["orders:read"]).realm("orders"));
    let app = Router::new()
        .route("/me", get(me))
        .layer(JwtAuthLayer::new(verifier.clone()))
        .merge(scoped)
        // Routes added after the layer are not protected.
        .route(
            "/healthz",
            get(move || {
                let verifier = health_verifier.clone();
                async move {
                    let issuers: Vec<_> = verifier
                        .health()
                        .into_iter()
                        .map(|h| {
                            serde_json::json!({
                                "issuer": h.issuer,
                                "state": h.cache.state.as_str(),
                                "keys": h.cache.key_count,
                                "last_error": h.cache.last_error_code,
                            })
                        })
                        .collect();
                    serde_json::json!({ "issuers": issuers }).to_string()
                }
            }),
        );
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    verifier.shutdown().await;
    Ok(())
}
