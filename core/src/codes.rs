//! Every stable code tokenkeep gives, by concern.
//!
//! Each concern is a typed enum with `ALL`, `as_str()` and `from_code()`;
//! [`concerns`] lists them all, and the generator writes that list to
//! `tests/vectors/codes.json`, which every binding's tests compare with their
//! own exception classes and string unions.

/// Declares a fieldless code enum with `ALL`, `as_str`, `from_code` and `Display`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every code, in a stable order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The snake_case code.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $code, )+
                }
            }

            /// Parses a snake_case code.
            pub fn from_code(code: &str) -> Option<$name> {
                match code {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
pub(crate) use code_enum;

/// One concern's codes, for the generated list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concern {
    /// The concern's name in `codes.json`.
    pub name: &'static str,
    /// What it covers.
    pub description: &'static str,
    /// Its codes, in the enum's order.
    pub codes: Vec<&'static str>,
}

fn concern<T: Copy>(name: &'static str, description: &'static str, all: &[T], f: fn(T) -> &'static str) -> Concern {
    Concern { name, description, codes: all.iter().map(|c| f(*c)).collect() }
}

/// Every concern the core defines. Hosts append their own (the runtime's
/// transport and handle errors) before writing the list.
pub fn concerns() -> Vec<Concern> {
    use crate::credential::{AttemptFailure, CredentialErrorCode, CredentialState};
    use crate::hmac_keyring::{HmacError, HmacSourceError};
    use crate::http::TransportError;
    use crate::jwk::SkipReason;
    use crate::jwks::{CacheState, FetchError};
    use crate::rejection::RejectionCode;
    use crate::spec::SpecErrorCode;
    use crate::token_file::TokenFileError;
    use crate::vault::{JwtErrorCode, VaultErrorCode};
    vec![
        concern(
            "rejection",
            "Why a token was rejected (metric label `reason`).",
            &RejectionCode::ALL,
            RejectionCode::as_str,
        ),
        concern("spec", "Why options were refused (with the field path).", SpecErrorCode::ALL, SpecErrorCode::as_str),
        concern(
            "denial",
            "The `error` of an HTTP refusal (`authenticate`) that is not a rejection code: the token verified but lacks a required scope (403).",
            crate::bearer::DenialCode::ALL,
            crate::bearer::DenialCode::as_str,
        ),
        concern(
            "skip_reason",
            "Why one key of a JWKS was skipped (the rest of the set works).",
            SkipReason::ALL,
            SkipReason::code,
        ),
        Concern {
            name: "transport",
            description: "Why a request got no response.",
            codes: TransportError::ALL.iter().map(TransportError::code).collect(),
        },
        Concern {
            name: "jwks_fetch",
            description: "Why a key fetch produced no keys (`jwks_refresh_failed` `error`, `last_error_code`).",
            codes: FetchError::CODES.to_vec(),
        },
        concern("cache_state", "States of a key cache (`health()`).", CacheState::ALL, CacheState::as_str),
        concern(
            "credential_state",
            "States of an outbound credential (`health().state`, `credential_state_changed`).",
            CredentialState::ALL,
            CredentialState::as_str,
        ),
        concern(
            "credential_error",
            "Why an outbound handle has no value to give (`current()`).",
            CredentialErrorCode::ALL,
            CredentialErrorCode::as_str,
        ),
        concern(
            "credential_attempt",
            "Why a refresh attempt failed on the client's side (`last_error_code`, `credential_attempt_failed` `error`).",
            AttemptFailure::ALL,
            AttemptFailure::as_str,
        ),
        concern(
            "vault",
            "Why a request to Vault/OpenBao failed (`last_error_code`, `credential_attempt_failed` `error`).",
            VaultErrorCode::ALL,
            VaultErrorCode::as_str,
        ),
        concern(
            "jwt_source",
            "Why no JWT could be had for a Vault login (a file, a token-file handle, a provider).",
            JwtErrorCode::ALL,
            JwtErrorCode::as_str,
        ),
        concern(
            "token_file",
            "Why token file contents were refused (`last_error_code` of a token file; the last good token is kept).",
            TokenFileError::ALL,
            TokenFileError::as_str,
        ),
        concern(
            "hmac_source",
            "Why a secret offered to an HMAC keyring was not installed (the keys held stay).",
            HmacSourceError::ALL,
            HmacSourceError::as_str,
        ),
        concern("hmac", "Why HMAC signing or verification failed.", HmacError::ALL, HmacError::as_str),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::TransportError;
    use crate::jwk::JwksError;
    use crate::jwks::FetchError;

    #[test]
    fn every_fetch_error_code_is_listed() {
        let mut errors: Vec<FetchError> = TransportError::ALL.iter().cloned().map(FetchError::Transport).collect();
        errors.extend([500, 503, 429, 302, 404, 401].map(FetchError::Status));
        errors.extend([JwksError::NotJson, JwksError::NotAKeySet].map(FetchError::Document));
        errors.extend([
            FetchError::NoUsableKeys,
            FetchError::BadDiscovery,
            FetchError::IssuerMismatch,
            FetchError::InsecureJwksUri,
        ]);
        for e in errors {
            assert!(FetchError::CODES.contains(&e.code()), "{} not listed", e.code());
        }
    }

    #[test]
    fn codes_are_unique_snake_case_within_a_concern() {
        for c in concerns() {
            let mut seen = std::collections::HashSet::new();
            for code in &c.codes {
                assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{code}");
                assert!(seen.insert(code), "{} twice in {}", code, c.name);
            }
        }
    }
}
