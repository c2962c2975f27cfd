//! Several issuers in one verifier: the token's `iss`, read before any
//! signature check, picks which issuer's policy and keys apply, nothing more.
//! An `iss` no issuer accepts is `wrong_issuer` without any fetch.

use crate::jwks::{self, Check, JwksCache, MissDecision};
use crate::policy::Policy;
use crate::rejection::{Rejection, sanitize};
use crate::time::UnixTime;
use crate::verify::{self, ParsedToken, Verified};

/// Index of an issuer in a [`Verifier`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IssuerId(pub usize);

/// The answer of [`Verifier::verify`].
#[derive(Clone, Debug, PartialEq)]
// Moved once per verification and matched at once: a box would cost an allocation on every success.
#[allow(clippy::large_enum_variant)]
pub enum Verdict {
    /// Verified.
    Verified(Verified),
    /// Rejected.
    Rejected(Rejection),
    /// The issuer's cache is fetching keys that may verify this token: drive
    /// that cache until its snapshot generation exceeds `after_generation` (or
    /// its request timeout passes), then call [`Verifier::verify_final`].
    NeedKeys {
        /// Whose cache.
        issuer: IssuerId,
        /// The generation to wait past.
        after_generation: u64,
    },
}

/// Picks the policy that accepts the token's `iss` among `policies`.
pub fn route<'p>(parsed: &ParsedToken<'_>, policies: impl IntoIterator<Item = &'p Policy>) -> Result<usize, Rejection> {
    let Some(iss) = parsed.issuer() else {
        return Err(Rejection::WrongIssuer { iss: None });
    };
    policies
        .into_iter()
        .position(|p| p.accepts_issuer(iss))
        .ok_or_else(|| Rejection::WrongIssuer { iss: Some(sanitize(iss)) })
}

struct Issuer {
    policy: Policy,
    cache: JwksCache,
}

/// Policies and key caches of several issuers, for single-threaded hosts and
/// simulations. (The tokio runtime keeps the same pieces behind lock-free
/// snapshots and calls [`route`] and [`jwks::check_parsed`] itself.)
#[derive(Default)]
pub struct Verifier {
    issuers: Vec<Issuer>,
}

impl Verifier {
    /// A verifier without issuers.
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Adds an issuer: tokens whose `iss` its policy accepts use its keys.
    pub fn add_issuer(&mut self, policy: Policy, cache: JwksCache) -> IssuerId {
        self.issuers.push(Issuer { policy, cache });
        IssuerId(self.issuers.len() - 1)
    }

    /// The cache of an issuer, to drive its I/O.
    pub fn cache_mut(&mut self, id: IssuerId) -> Option<&mut JwksCache> {
        self.issuers.get_mut(id.0).map(|i| &mut i.cache)
    }

    /// The cache of an issuer.
    pub fn cache(&self, id: IssuerId) -> Option<&JwksCache> {
        self.issuers.get(id.0).map(|i| &i.cache)
    }

    /// How many issuers.
    pub fn len(&self) -> usize {
        self.issuers.len()
    }

    /// Whether there is no issuer.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    fn parse_and_route<'t>(&self, token: &'t str) -> Result<(ParsedToken<'t>, usize), Rejection> {
        let limit = self.issuers.iter().map(|i| i.policy.max_token_bytes).max().unwrap_or(0);
        let parsed = verify::parse(token, limit)?;
        let index = route(&parsed, self.issuers.iter().map(|i| &i.policy))?;
        Ok((parsed, index))
    }

    /// Verifies with the keys at hand; asks for a refetch only when one may
    /// help and the cache allows it (cooldown, negative kid cache).
    pub fn verify(&mut self, token: &str, now: UnixTime) -> Verdict {
        let (parsed, index) = match self.parse_and_route(token) {
            Ok(x) => x,
            Err(r) => return Verdict::Rejected(r),
        };
        let issuer = &mut self.issuers[index];
        let snapshot = issuer.cache.snapshot();
        match jwks::check_parsed(&snapshot, parsed, &issuer.policy, now) {
            Check::Verified(v) => Verdict::Verified(v),
            Check::Rejected(r) => Verdict::Rejected(r),
            Check::Miss(miss) => match issuer.cache.handle_key_miss(&miss, now) {
                MissDecision::Reject(r) => Verdict::Rejected(r),
                MissDecision::WaitForGeneration(g) => {
                    Verdict::NeedKeys { issuer: IssuerId(index), after_generation: g }
                }
            },
        }
    }

    /// The answer after a refetch (or after waiting gave up): a miss now is final.
    pub fn verify_final(&mut self, token: &str, now: UnixTime) -> Result<Verified, Rejection> {
        let (parsed, index) = self.parse_and_route(token)?;
        let issuer = &self.issuers[index];
        match jwks::check_parsed(&issuer.cache.snapshot(), parsed, &issuer.policy, now) {
            Check::Verified(v) => Ok(v),
            Check::Rejected(r) => Err(r),
            Check::Miss(miss) => Err(miss.rejection),
        }
    }
}
