//! # tokenkeep
//!
//! JWT verification that survives key rotation and IdP outages, for tokio
//! services. The decisions live in [`tokenkeep_core`] (sans-IO, shared with the
//! Python, Node and WASM hosts); this crate does the I/O: one background task
//! per key source, lock-free reads of the current keys, `tracing` events and
//! `metrics` for every cache event, and an axum layer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenkeep::{IssuerConfig, Verifier};
//! let verifier = Verifier::new(vec![
//!     IssuerConfig::discovery("https://accounts.example.com").with_audience("api://orders"),
//! ])?;
//! verifier.ready(std::time::Duration::from_secs(5)).await;
//! match verifier.verify("eyJ...").await {
//!     Ok(token) => println!("hello {:?}", token.claims.subject()),
//!     Err(rejection) => println!("401: {}", rejection.code()),
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum_layer;
pub mod bearer;
pub mod clock;
pub mod codes;
pub mod events;
pub mod host;
pub mod http;
mod keys;
pub mod metrics_registry;
pub mod outbound;
mod signal;
pub mod spec;
pub mod telemetry;
mod verifier;

pub use bearer::{Authenticated, Denial};
pub use events::{Event, EventListenerId, FieldValue, Level, Listeners};
pub use host::{Runtime, after_fork_in_child};
pub use metrics_registry::{MetricFamily, MetricKind, MetricSample, MetricsSnapshot, snapshot as metrics_snapshot};
pub use signal::{ListenerId, Rotations};
pub use tokenkeep_core as core;
pub use tokenkeep_core::UnixTime;
pub use tokenkeep_core::jwks::{CacheConfig, CacheHealth, CacheState};
pub use tokenkeep_core::{
    Algorithm, ClaimValue, Claims, KeySet, Policy, PolicyConfig, Rejection, RejectionCode, SpiffeRule, Verified,
};
pub use verifier::{ConfigError, IssuerConfig, IssuerHealth, Keys, VerifiedToken, Verifier};

/// Verified tokens a verifier remembers unless its spec says otherwise.
pub const DEFAULT_VERIFIED_TOKENS: usize = tokenkeep_core::token_cache::DEFAULT_CAPACITY;

/// The README's Rust examples, compiled as doc tests so they stay true to the code.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
