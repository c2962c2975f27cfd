//! HTTP bearer authentication in one call: [`Verifier::authenticate`] takes
//! an `Authorization` header and the scopes a route needs, and returns the
//! verified token or the [`Denial`] to send. The rules (RFC 6750 parsing,
//! granted scopes, status and challenge per outcome) are the core's
//! [`tokenkeep_core::bearer`]; every host's HTTP layer calls this.

use crate::{VerifiedToken, Verifier};
use std::sync::Arc;
use tokenkeep_core::Rejection;
use tokenkeep_core::bearer::missing_scopes;
pub use tokenkeep_core::bearer::{Denial, DenialCode, bearer_token, granted_scopes};

/// A request [`Verifier::authenticate`] let through.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The verified token.
    pub token: Arc<VerifiedToken>,
    /// The scopes it grants (`scope`, then `scp`), each once.
    pub scopes: Vec<String>,
}

impl Verifier {
    /// Verifies the token of `authorization` (an `Authorization` header
    /// value, `None` when the request has none) as [`Verifier::verify`] does,
    /// then checks that it grants every scope in `required`. A refusal is the
    /// answer to send: 401 with its challenge (`invalid_request` for a missing
    /// or non-Bearer header, counted as `missing_token`), 403
    /// `insufficient_scope`, or 503 with `Retry-After` when no key is usable.
    /// `realm`, when given, is named in every challenge.
    pub async fn authenticate<S: AsRef<str>>(
        &self,
        authorization: Option<&str>,
        required: &[S],
        realm: Option<&str>,
    ) -> Result<Authenticated, Denial> {
        let token = authorization.and_then(bearer_token).unwrap_or("");
        admit(self.verify(token).await, required, realm)
    }

    /// The blocking twin of [`Verifier::authenticate`], for plain threads.
    pub fn authenticate_blocking<S: AsRef<str>>(
        &self,
        authorization: Option<&str>,
        required: &[S],
        realm: Option<&str>,
    ) -> Result<Authenticated, Denial> {
        let token = authorization.and_then(bearer_token).unwrap_or("");
        admit(self.verify_blocking(token, None), required, realm)
    }
}

fn admit<S: AsRef<str>>(
    verified: Result<Arc<VerifiedToken>, Rejection>,
    required: &[S],
    realm: Option<&str>,
) -> Result<Authenticated, Denial> {
    let token = verified.map_err(|rejection| Denial::rejected(rejection.code(), realm))?;
    let scopes = token.claims.scopes();
    match missing_scopes(required, &scopes, realm) {
        Some(denial) => Err(denial),
        None => Ok(Authenticated { token, scopes }),
    }
}
