//! Why a token was rejected: one enum, each variant with a stable snake_case
//! code that bindings map 1:1 to exception classes and metric label values.

use core::fmt;

/// The stable code of a [`Rejection`]; also a metric label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RejectionCode {
    /// No token was presented.
    MissingToken,
    /// The token is not a well-formed compact JWS under RFC 8725 rules.
    Malformed,
    /// The token names an algorithm tokenkeep does not implement.
    UnsupportedAlg,
    /// The algorithm is known but not allowed by the policy or the key.
    AlgNotAllowed,
    /// No key in the set matches the token's `kid` and algorithm.
    UnknownKid,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` has passed (beyond leeway).
    Expired,
    /// `nbf` is in the future (beyond leeway).
    NotYetValid,
    /// `iat` is in the future (beyond leeway).
    IssuedInFuture,
    /// `iat` is older than the policy's maximum token age.
    TooOld,
    /// `iss` is not an accepted issuer.
    WrongIssuer,
    /// `aud` names none of the accepted audiences.
    WrongAudience,
    /// A required claim is absent.
    MissingClaim,
    /// `sub` is not allowed by the policy.
    SubjectNotAllowed,
    /// The `typ` header is not an accepted type.
    WrongType,
    /// No usable key is available (IdP outage beyond the stale window, or an
    /// empty key set): the service's problem, answered 503, never 401.
    KeysUnavailable,
    /// The token exceeds the size limit.
    TokenTooLarge,
}

impl RejectionCode {
    /// Every code, in a stable order. Bindings' lists are tested against this.
    pub const ALL: [RejectionCode; 17] = [
        RejectionCode::MissingToken,
        RejectionCode::Malformed,
        RejectionCode::UnsupportedAlg,
        RejectionCode::AlgNotAllowed,
        RejectionCode::UnknownKid,
        RejectionCode::InvalidSignature,
        RejectionCode::Expired,
        RejectionCode::NotYetValid,
        RejectionCode::IssuedInFuture,
        RejectionCode::TooOld,
        RejectionCode::WrongIssuer,
        RejectionCode::WrongAudience,
        RejectionCode::MissingClaim,
        RejectionCode::SubjectNotAllowed,
        RejectionCode::WrongType,
        RejectionCode::KeysUnavailable,
        RejectionCode::TokenTooLarge,
    ];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionCode::MissingToken => "missing_token",
            RejectionCode::Malformed => "malformed",
            RejectionCode::UnsupportedAlg => "unsupported_alg",
            RejectionCode::AlgNotAllowed => "alg_not_allowed",
            RejectionCode::UnknownKid => "unknown_kid",
            RejectionCode::InvalidSignature => "invalid_signature",
            RejectionCode::Expired => "expired",
            RejectionCode::NotYetValid => "not_yet_valid",
            RejectionCode::IssuedInFuture => "issued_in_future",
            RejectionCode::TooOld => "too_old",
            RejectionCode::WrongIssuer => "wrong_issuer",
            RejectionCode::WrongAudience => "wrong_audience",
            RejectionCode::MissingClaim => "missing_claim",
            RejectionCode::SubjectNotAllowed => "subject_not_allowed",
            RejectionCode::WrongType => "wrong_type",
            RejectionCode::KeysUnavailable => "keys_unavailable",
            RejectionCode::TokenTooLarge => "token_too_large",
        }
    }

    /// Parses a snake_case code.
    pub fn from_code(code: &str) -> Option<RejectionCode> {
        RejectionCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The HTTP status a server should answer with: 503 when the fault is the
    /// service's (no usable keys), 401 otherwise.
    pub fn http_status(self) -> u16 {
        match self {
            RejectionCode::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`) when
    /// the fault is the service's (503), so every host answers alike: a key
    /// fetch is retried within seconds, and a client hammering sooner only
    /// adds load. `None` for the caller's own faults (401).
    pub fn retry_after_secs(self) -> Option<u32> {
        match self {
            RejectionCode::KeysUnavailable => Some(5),
            _ => None,
        }
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What exactly was malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not three dot-separated parts.
    NotCompactJws,
    /// Five parts: an encrypted JWT (JWE), which tokenkeep does not decrypt.
    Jwe,
    /// A part is not canonical unpadded base64url.
    Base64,
    /// The header is not a JSON object.
    HeaderJson,
    /// The claims are not a JSON object.
    ClaimsJson,
    /// A JSON member name appears twice.
    DuplicateMember,
    /// `crit` names an extension tokenkeep does not understand, or is empty.
    UnknownCritical,
    /// `b64: false` (unencoded payload, RFC 7797) is not supported.
    UnencodedPayload,
    /// The `alg` header is missing or not a string.
    MissingAlg,
    /// A header member has the wrong JSON type (e.g. `kid` not a string).
    HeaderMemberType,
    /// A registered claim has the wrong JSON type (e.g. `exp` not a number).
    ClaimType,
}

impl Malformed {
    /// Stable snake_case detail code.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::NotCompactJws => "not_compact_jws",
            Malformed::Jwe => "jwe_not_supported",
            Malformed::Base64 => "bad_base64url",
            Malformed::HeaderJson => "bad_header_json",
            Malformed::ClaimsJson => "bad_claims_json",
            Malformed::DuplicateMember => "duplicate_member",
            Malformed::UnknownCritical => "unknown_critical_header",
            Malformed::UnencodedPayload => "unencoded_payload",
            Malformed::MissingAlg => "missing_alg",
            Malformed::HeaderMemberType => "bad_header_member_type",
            Malformed::ClaimType => "bad_claim_type",
        }
    }
}

/// Why a known algorithm was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlgRefusal {
    /// `none` never verifies.
    None,
    /// The policy does not list the algorithm.
    Policy,
    /// The key with the token's `kid` is bound to another algorithm.
    Key,
}

/// Why a token was rejected, with context that is safe to log: never the
/// token, a key, or a secret. Attacker-chosen strings (kid, iss, typ) are
/// truncated and stripped of control characters in `Display`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Rejection {
    /// No token was presented.
    MissingToken,
    /// The token is not a well-formed compact JWS.
    Malformed(Malformed),
    /// An algorithm tokenkeep does not implement.
    UnsupportedAlg {
        /// The `alg` header value (truncated).
        alg: String,
    },
    /// A known algorithm that is not allowed here.
    AlgNotAllowed {
        /// The `alg` header value.
        alg: String,
        /// Who refused it.
        by: AlgRefusal,
    },
    /// No key matches the token's `kid` and algorithm.
    UnknownKid {
        /// The token's `kid`, when it had one (truncated).
        kid: Option<String>,
    },
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` has passed.
    Expired {
        /// `exp`, seconds.
        exp: f64,
        /// Verification time, seconds.
        now: u64,
    },
    /// `nbf` is in the future.
    NotYetValid {
        /// `nbf`, seconds.
        nbf: f64,
        /// Verification time, seconds.
        now: u64,
    },
    /// `iat` is in the future.
    IssuedInFuture {
        /// `iat`, seconds.
        iat: f64,
        /// Verification time, seconds.
        now: u64,
    },
    /// The token is older than the policy allows.
    TooOld {
        /// `iat`, seconds.
        iat: f64,
        /// The policy's maximum age, seconds.
        max_age: u64,
        /// Verification time, seconds.
        now: u64,
    },
    /// `iss` is not accepted.
    WrongIssuer {
        /// The token's `iss` when it is a string (truncated).
        iss: Option<String>,
    },
    /// `aud` names no accepted audience.
    WrongAudience,
    /// A required claim is absent.
    MissingClaim {
        /// The claim's name.
        claim: String,
    },
    /// `sub` is not allowed.
    SubjectNotAllowed {
        /// Why, as a short phrase (no claim value).
        why: &'static str,
    },
    /// `typ` is not accepted.
    WrongType {
        /// The token's `typ` (truncated), when present.
        typ: Option<String>,
    },
    /// No usable key is available.
    KeysUnavailable,
    /// The token exceeds the size limit.
    TokenTooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl Rejection {
    /// The stable code.
    pub fn code(&self) -> RejectionCode {
        match self {
            Rejection::MissingToken => RejectionCode::MissingToken,
            Rejection::Malformed(_) => RejectionCode::Malformed,
            Rejection::UnsupportedAlg { .. } => RejectionCode::UnsupportedAlg,
            Rejection::AlgNotAllowed { .. } => RejectionCode::AlgNotAllowed,
            Rejection::UnknownKid { .. } => RejectionCode::UnknownKid,
            Rejection::InvalidSignature => RejectionCode::InvalidSignature,
            Rejection::Expired { .. } => RejectionCode::Expired,
            Rejection::NotYetValid { .. } => RejectionCode::NotYetValid,
            Rejection::IssuedInFuture { .. } => RejectionCode::IssuedInFuture,
            Rejection::TooOld { .. } => RejectionCode::TooOld,
            Rejection::WrongIssuer { .. } => RejectionCode::WrongIssuer,
            Rejection::WrongAudience => RejectionCode::WrongAudience,
            Rejection::MissingClaim { .. } => RejectionCode::MissingClaim,
            Rejection::SubjectNotAllowed { .. } => RejectionCode::SubjectNotAllowed,
            Rejection::WrongType { .. } => RejectionCode::WrongType,
            Rejection::KeysUnavailable => RejectionCode::KeysUnavailable,
            Rejection::TokenTooLarge { .. } => RejectionCode::TokenTooLarge,
        }
    }
}

/// Makes an attacker-chosen string safe for a terminal or a log line, as
/// context in a message: at most 64 characters (then `…`), control and bidi
/// characters replaced ([`crate::text::sanitize`], the one rule).
pub fn sanitize(s: &str) -> String {
    crate::text::sanitize_clipped(s, 64)
}

/// A NumericDate as written in a message: whole seconds as an integer, an
/// absurd value (`1e300`) in exponent form rather than 301 digits.
struct Secs(f64);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() && self.0.abs() < 1e15 { write!(f, "{}", self.0) } else { write!(f, "{:e}", self.0) }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::MissingToken => f.write_str("no token was presented"),
            Rejection::Malformed(m) => write!(f, "malformed token ({})", m.as_str()),
            Rejection::UnsupportedAlg { alg } => write!(f, "unsupported algorithm {alg:?}"),
            Rejection::AlgNotAllowed { alg, by } => match by {
                AlgRefusal::None => f.write_str("algorithm \"none\" never verifies"),
                AlgRefusal::Policy => write!(f, "algorithm {alg} is not allowed by the policy"),
                AlgRefusal::Key => write!(f, "the key with this kid does not allow algorithm {alg}"),
            },
            Rejection::UnknownKid { kid: Some(kid) } => write!(f, "no key with kid {kid:?} for this algorithm"),
            Rejection::UnknownKid { kid: None } => {
                f.write_str("token has no kid and the key set has no single key for its algorithm")
            }
            Rejection::InvalidSignature => f.write_str("signature does not verify"),
            Rejection::Expired { exp, now } => write!(f, "expired at {}, now {now}", Secs(*exp)),
            Rejection::NotYetValid { nbf, now } => write!(f, "not valid before {}, now {now}", Secs(*nbf)),
            Rejection::IssuedInFuture { iat, now } => write!(f, "issued in the future at {}, now {now}", Secs(*iat)),
            Rejection::TooOld { iat, max_age, now } => {
                write!(f, "issued at {}, older than the maximum age of {max_age} s at {now}", Secs(*iat))
            }
            Rejection::WrongIssuer { iss: Some(iss) } => write!(f, "issuer {iss:?} is not accepted"),
            Rejection::WrongIssuer { iss: None } => f.write_str("iss is not a string naming an accepted issuer"),
            Rejection::WrongAudience => f.write_str("aud names no accepted audience"),
            Rejection::MissingClaim { claim } => write!(f, "required claim {claim:?} is missing"),
            Rejection::SubjectNotAllowed { why } => write!(f, "subject not allowed: {why}"),
            Rejection::WrongType { typ: Some(t) } => write!(f, "token type {t:?} is not accepted"),
            Rejection::WrongType { typ: None } => f.write_str("token has no typ and the policy requires one"),
            Rejection::KeysUnavailable => f.write_str("no usable verification key is available"),
            Rejection::TokenTooLarge { len, limit } => write!(f, "token is {len} bytes, limit {limit}"),
        }
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in RejectionCode::ALL {
            let s = c.as_str();
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{s}");
            assert!(seen.insert(s), "duplicate {s}");
            assert_eq!(RejectionCode::from_code(s), Some(c));
        }
    }

    #[test]
    fn only_the_services_fault_is_503_with_retry_after() {
        for c in RejectionCode::ALL {
            let ours = c == RejectionCode::KeysUnavailable;
            assert_eq!(c.http_status(), if ours { 503 } else { 401 }, "{c}");
            assert_eq!(c.retry_after_secs().is_some(), ours, "{c}");
        }
    }

    #[test]
    fn sanitize_truncates_and_strips_controls() {
        assert_eq!(sanitize("a\nb"), "a\u{fffd}b");
        assert_eq!(sanitize(&"x".repeat(100)).chars().count(), 65);
        assert_eq!(sanitize("kid\u{202e}fdp"), "kid\u{fffd}fdp");
    }

    #[test]
    fn absurd_times_print_short() {
        let r = Rejection::NotYetValid { nbf: 1e300, now: 1_767_225_600 };
        assert_eq!(r.to_string(), "not valid before 1e300, now 1767225600");
        let r = Rejection::Expired { exp: 1_767_225_000.0, now: 1_767_225_600 };
        assert_eq!(r.to_string(), "expired at 1767225000, now 1767225600");
    }
}
