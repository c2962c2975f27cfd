//! # tokenkeep-core
//!
//! The sans-IO core of tokenkeep. It decides; hosts do. Nothing in this crate
//! reads a clock, sleeps, spawns, or touches a file or socket: time is an
//! argument ([`UnixTime`]), randomness for jitter is seeded by the host
//! ([`JitterRng`]), and HTTP is plain data ([`http`]).
//!
//! Inbound verification:
//!
//! ```
//! use tokenkeep_core::{KeySet, Policy, UnixTime, verify};
//! let keys = KeySet::from_jwks_json(br#"{"keys": []}"#).unwrap();
//! let policy = Policy::new("https://issuer.example").with_audience("api");
//! let err = verify("", &keys, &policy, UnixTime::from_secs(1_767_225_600)).unwrap_err();
//! assert_eq!(err.code().as_str(), "missing_token");
//! ```
//!
//! Hosts whose fastest signature check is asynchronous use [`prepare`] and
//! [`complete`] instead of [`verify`]; the rules are the same code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alg;
pub mod backoff;
pub mod bearer;
pub mod codes;
pub mod credential;
mod crypto;
mod ec_point;
pub mod header_cache;
pub mod hmac_keyring;
pub mod http;
pub mod jose;
pub mod jwk;
pub mod jwks;
pub mod policy;
pub mod rejection;
pub mod rng;
pub mod spec;
mod spec_de;
mod spec_outbound;
pub mod spiffe;
pub mod text;
pub mod time;
pub mod token_cache;
pub mod token_file;
pub mod vault;
pub mod vault_session;
pub mod verifier;
pub mod verify;

pub use alg::{AlgSet, Algorithm};
/// Name of the compiled-in crypto backend (`aws-lc` natively, `ring` on wasm32).
pub use crypto::BACKEND_NAME as CRYPTO_BACKEND;
pub use header_cache::HeaderCache;
pub use jose::{ClaimValue, DecodeError, Members, UnverifiedToken, decode_unverified};
pub use jwk::{JwksError, KeyKind, KeySet, SkipReason, SkippedKey, VerificationKey};
pub use jwks::{CacheConfig, CacheState, JwksCache, JwksEvent, KeySnapshot, KeySource};
pub use policy::{Policy, PolicyConfig, PolicyError, SpiffeRule, TypeRule};
pub use rejection::{AlgRefusal, Malformed, Rejection, RejectionCode};
pub use rng::JitterRng;
pub use spiffe::{SpiffeId, SpiffeIdError};
pub use time::UnixTime;
pub use verifier::{IssuerId, Verdict, Verifier};
pub use verify::{
    Claims, HeaderText, PendingCheck, TimeRules, TokenHeader, Verified, complete, complete_with, prepare, verify,
};
pub use verify::{ParsedToken, parse, parse_with_cache};
