//! What a token must satisfy beyond a good signature.

use crate::alg::{AlgSet, Algorithm};
use core::fmt;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default largest token accepted, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Which `typ` header values pass.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeRule {
    /// Absent, `JWT` or `at+jwt` (RFC 9068 access tokens, what real OPs issue).
    Default,
    /// Exactly this type (compared case-insensitively, `application/` optional).
    Exact(String),
    /// JWT-SVID: absent, `JWT` or `JOSE`.
    Spiffe,
}

impl TypeRule {
    #[cfg(test)]
    fn accepts(&self, typ: Option<&str>) -> bool {
        self.accepts_bytes(typ.map(str::as_bytes))
    }

    /// Whether a token's `typ` passes, compared as bytes (every accepted
    /// value is ASCII), so a header's text need not be re-read as a `str`.
    pub(crate) fn accepts_bytes(&self, typ: Option<&[u8]>) -> bool {
        let normalized = typ.map(normalize_typ);
        match (self, normalized) {
            (TypeRule::Default, None) | (TypeRule::Spiffe, None) => true,
            (TypeRule::Default, Some(t)) => t.eq_ignore_ascii_case(b"jwt") || t.eq_ignore_ascii_case(b"at+jwt"),
            (TypeRule::Spiffe, Some(t)) => t.eq_ignore_ascii_case(b"jwt") || t.eq_ignore_ascii_case(b"jose"),
            (TypeRule::Exact(want), Some(t)) => t.eq_ignore_ascii_case(normalize_typ(want.as_bytes())),
            (TypeRule::Exact(_), None) => false,
        }
    }
}

fn normalize_typ(t: &[u8]) -> &[u8] {
    match t.split_at_checked(12) {
        Some((p, rest)) if p.eq_ignore_ascii_case(b"application/") => rest,
        _ => t,
    }
}

/// Which subjects pass (outside SPIFFE mode).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubjectRule {
    /// Any subject.
    #[default]
    Any,
    /// Only these exact subjects.
    OneOf(Vec<String>),
    /// Subjects starting with this prefix.
    Prefix(String),
}

/// The JWT-SVID preset: `sub` must be a SPIFFE ID in an allowed trust domain.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SpiffeRule {
    /// Trust domains whose workloads are accepted (at least one).
    pub trust_domains: Vec<String>,
    /// When non-empty, only these exact SPIFFE IDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ids: Vec<String>,
    /// When non-empty, only IDs whose path lies under one of these prefixes
    /// (on a segment boundary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_prefixes: Vec<String>,
}

/// Verification policy. Build with [`Policy::new`] and the `with_*` methods, or
/// from a [`PolicyConfig`] (the serialisable form bindings and files use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) required_claims: Vec<String>,
    pub(crate) algorithms: AlgSet,
    pub(crate) typ: TypeRule,
    pub(crate) max_age: Option<Duration>,
    pub(crate) subjects: SubjectRule,
    pub(crate) spiffe: Option<SpiffeRule>,
    pub(crate) max_token_bytes: usize,
}

impl Policy {
    /// A policy accepting tokens from `issuer` (exact match, no normalisation),
    /// with the defaults: 30 s leeway, `exp` required, every asymmetric
    /// algorithm, `typ` absent/`JWT`/`at+jwt`, 16 KiB size limit, audience not
    /// checked until [`Policy::with_audience`] is called.
    pub fn new(issuer: impl Into<String>) -> Policy {
        Policy {
            issuers: vec![issuer.into()],
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            required_claims: vec!["exp".to_owned()],
            algorithms: AlgSet::asymmetric(),
            typ: TypeRule::Default,
            max_age: None,
            subjects: SubjectRule::Any,
            spiffe: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// The SPIFFE JWT-SVID preset for `issuer`: `sub` a SPIFFE ID in one of
    /// `trust_domains`, `aud` required (call [`Policy::with_audience`]), `typ`
    /// absent, `JWT` or `JOSE`.
    pub fn spiffe(issuer: impl Into<String>, trust_domains: Vec<String>) -> Policy {
        let mut p = Policy::new(issuer);
        p.spiffe = Some(SpiffeRule { trust_domains, ..SpiffeRule::default() });
        p.typ = TypeRule::Spiffe;
        p
    }

    /// Also accept tokens from `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Policy {
        self.issuers.push(issuer.into());
        self
    }

    /// Require `aud` to contain `audience` (or any other audience added).
    pub fn with_audience(mut self, audience: impl Into<String>) -> Policy {
        self.audiences.push(audience.into());
        self
    }

    /// Clock-skew allowance.
    pub fn with_leeway(mut self, leeway: Duration) -> Policy {
        self.leeway = leeway;
        self
    }

    /// Replace the required claims (default: `exp`).
    pub fn with_required_claims<I: IntoIterator<Item = S>, S: Into<String>>(mut self, claims: I) -> Policy {
        self.required_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Replace the allowed algorithms. HMAC algorithms are allowed only when
    /// listed here, and still need a secret passed to the key set.
    pub fn with_algorithms(mut self, algorithms: AlgSet) -> Policy {
        self.algorithms = algorithms;
        self
    }

    /// Demand exactly this `typ`.
    pub fn with_type(mut self, typ: impl Into<String>) -> Policy {
        self.typ = TypeRule::Exact(typ.into());
        self
    }

    /// Reject tokens whose `iat` is older than this (makes `iat` required).
    pub fn with_max_age(mut self, max_age: Duration) -> Policy {
        self.max_age = Some(max_age);
        self
    }

    /// Only these subjects.
    pub fn with_subjects<I: IntoIterator<Item = S>, S: Into<String>>(mut self, subjects: I) -> Policy {
        self.subjects = SubjectRule::OneOf(subjects.into_iter().map(Into::into).collect());
        self
    }

    /// Only subjects starting with `prefix`.
    pub fn with_subject_prefix(mut self, prefix: impl Into<String>) -> Policy {
        self.subjects = SubjectRule::Prefix(prefix.into());
        self
    }

    /// SPIFFE ID rules (also switches the type rule to the JWT-SVID one).
    pub fn with_spiffe(mut self, rule: SpiffeRule) -> Policy {
        self.spiffe = Some(rule);
        self.typ = TypeRule::Spiffe;
        self
    }

    /// Largest token accepted.
    pub fn with_max_token_bytes(mut self, limit: usize) -> Policy {
        self.max_token_bytes = limit;
        self
    }

    /// Accepted issuers.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// Accepted audiences (empty: not checked, unless SPIFFE mode).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Allowed algorithms.
    pub fn algorithms(&self) -> AlgSet {
        self.algorithms
    }

    /// Clock-skew allowance.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Largest token accepted, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Whether `iss` names an accepted issuer.
    pub fn accepts_issuer(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i == iss)
    }

    /// Builds a policy from its serialisable form, checking it.
    pub fn from_config(config: &PolicyConfig) -> Result<Policy, PolicyError> {
        if config.issuers.is_empty() || config.issuers.iter().any(String::is_empty) {
            return Err(PolicyError::NoIssuer);
        }
        let mut p = Policy::new(config.issuers[0].clone());
        p.issuers = config.issuers.clone();
        p.audiences = config.audiences.clone();
        if let Some(l) = config.leeway_secs {
            p.leeway = Duration::from_secs(l);
        }
        if let Some(r) = &config.required_claims {
            p.required_claims = r.clone();
        }
        if let Some(algs) = &config.algorithms {
            let mut set = AlgSet::EMPTY;
            for name in algs {
                set.insert(Algorithm::from_name(name).ok_or_else(|| PolicyError::UnknownAlgorithm(name.clone()))?);
            }
            if set.is_empty() {
                return Err(PolicyError::NoAlgorithm);
            }
            p.algorithms = set;
        }
        if let Some(max_age) = config.max_age_secs {
            p.max_age = Some(Duration::from_secs(max_age));
        }
        match (&config.subjects, &config.subject_prefix) {
            (Some(_), Some(_)) => return Err(PolicyError::ConflictingSubjectRules),
            (Some(list), None) => p.subjects = SubjectRule::OneOf(list.clone()),
            (None, Some(prefix)) => p.subjects = SubjectRule::Prefix(prefix.clone()),
            (None, None) => {}
        }
        if let Some(rule) = &config.spiffe {
            if rule.trust_domains.is_empty() {
                return Err(PolicyError::NoTrustDomain);
            }
            p = p.with_spiffe(rule.clone());
        }
        if let Some(t) = &config.typ {
            p.typ = TypeRule::Exact(t.clone());
        }
        if let Some(limit) = config.max_token_bytes {
            p.max_token_bytes = limit;
        }
        Ok(p)
    }
}

/// The serialisable form of a [`Policy`] (JSON in the shared vectors, dicts in
/// Python, objects in JS, TOML in the agent).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Accepted issuers (at least one, here or in the options' `issuer`).
    #[serde(default)]
    pub issuers: Vec<String>,
    /// Accepted audiences; empty means not checked (except in SPIFFE mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Leeway in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway_secs: Option<u64>,
    /// Required claims (default `["exp"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_claims: Option<Vec<String>>,
    /// Allowed algorithms (default: every asymmetric one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// Exact `typ` required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Maximum token age in seconds, from `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    /// Subject allowlist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<String>>,
    /// Subject prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_prefix: Option<String>,
    /// SPIFFE JWT-SVID rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<SpiffeRule>,
    /// Token size limit in bytes (default 16384).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_bytes: Option<usize>,
}

/// A policy that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// No issuer (or an empty one): every policy names whom it trusts.
    NoIssuer,
    /// An algorithm name tokenkeep does not know.
    UnknownAlgorithm(String),
    /// The algorithm list is empty.
    NoAlgorithm,
    /// Both a subject list and a subject prefix.
    ConflictingSubjectRules,
    /// SPIFFE mode without a trust domain.
    NoTrustDomain,
}

impl PolicyError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::NoIssuer => "policy_no_issuer",
            PolicyError::UnknownAlgorithm(_) => "policy_unknown_algorithm",
            PolicyError::NoAlgorithm => "policy_no_algorithm",
            PolicyError::ConflictingSubjectRules => "policy_conflicting_subject_rules",
            PolicyError::NoTrustDomain => "policy_no_trust_domain",
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::NoIssuer => f.write_str("a policy needs at least one non-empty issuer"),
            PolicyError::UnknownAlgorithm(a) => {
                write!(f, "unknown algorithm {:?}", crate::rejection::sanitize(a))
            }
            PolicyError::NoAlgorithm => f.write_str("the algorithm list is empty"),
            PolicyError::ConflictingSubjectRules => f.write_str("give either subjects or subject_prefix, not both"),
            PolicyError::NoTrustDomain => f.write_str("SPIFFE mode needs at least one trust domain"),
        }
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_rules() {
        let d = TypeRule::Default;
        for ok in [None, Some("JWT"), Some("jwt"), Some("at+jwt"), Some("application/AT+JWT")] {
            assert!(d.accepts(ok), "{ok:?}");
        }
        assert!(!d.accepts(Some("JOSE")));
        let e = TypeRule::Exact("at+jwt".into());
        assert!(e.accepts(Some("application/at+jwt")));
        assert!(!e.accepts(Some("JWT")));
        assert!(!e.accepts(None));
        assert!(TypeRule::Spiffe.accepts(Some("JOSE")));
        assert!(!TypeRule::Spiffe.accepts(Some("at+jwt")));
    }

    #[test]
    fn config_errors_are_typed() {
        assert_eq!(Policy::from_config(&PolicyConfig::default()), Err(PolicyError::NoIssuer));
        let c = PolicyConfig { issuers: vec!["i".into()], algorithms: Some(vec!["XS1".into()]), ..Default::default() };
        assert_eq!(Policy::from_config(&c).unwrap_err().code(), "policy_unknown_algorithm");
    }
}
