//! HTTP bearer authentication (RFC 6750): the token of an `Authorization`
//! header, the scopes a verified token grants, and how a service says no.
//!
//! Every host's HTTP layer (the runtime's axum layer, FastAPI's `JWTBearer`,
//! Express/Fastify/Hono, Next.js middleware on the edge build, Ktor) answers
//! from these, so a client gets the same status, `WWW-Authenticate` and
//! `Retry-After` whichever of them it calls.
//!
//! ```
//! use tokenkeep_core::bearer::{Denial, bearer_token, missing_scopes};
//! use tokenkeep_core::RejectionCode;
//! assert_eq!(bearer_token("bearer eyJ.e30.sig"), Some("eyJ.e30.sig"));
//! assert_eq!(bearer_token("Basic dXNlcg=="), None);
//!
//! let denial = Denial::rejected(RejectionCode::Expired, None);
//! assert_eq!((denial.status, denial.error), (401, "expired"));
//! assert_eq!(denial.www_authenticate.as_deref(), Some(r#"Bearer error="invalid_token", error_description="expired""#));
//!
//! let denial = missing_scopes(&["orders:read"], &["profile"], Some("api")).unwrap();
//! assert_eq!(denial.status, 403);
//! assert_eq!(denial.www_authenticate.as_deref(), Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:read""#));
//! ```

use crate::rejection::RejectionCode;
use serde_json::{Map, Value};

crate::codes::code_enum! {
    /// The `error` of a refusal that is not a [`RejectionCode`]: the token
    /// verified, but the request needs more (RFC 6750 §3.1).
    pub enum DenialCode {
        /// A required scope is not granted (403).
        InsufficientScope => "insufficient_scope",
    }
}

/// The token of an `Authorization` header value `Bearer <token>` (the scheme
/// case-insensitive, RFC 6750 §2.1 and RFC 9110 §11.1); `None` for another
/// scheme or an empty token. The runtime then answers `missing_token`.
#[must_use]
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The scopes a token grants, in order of appearance, each once: `scope`
/// (space-separated, RFC 8693 §4.2 and RFC 9068 §2.2.3) and then `scp` (a
/// list of strings or one space-separated string, as Azure AD and Okta
/// write it). Values of any other type grant nothing.
#[must_use]
pub fn granted_scopes(claims: &Map<String, Value>) -> Vec<String> {
    scopes_of(claims.get("scope"), claims.get("scp"))
}

/// [`granted_scopes`] from the two claims' values.
pub(crate) fn scopes_of(scope: Option<&Value>, scp: Option<&Value>) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    let mut grant = |scope: &str| {
        if !scope.is_empty() && !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    };
    for value in [scope, scp] {
        match value {
            Some(Value::String(text)) => text.split(' ').for_each(&mut grant),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut grant),
            _ => {}
        }
    }
    granted
}

/// How a service refuses a request: the status, the `error` of the JSON
/// body, and the `WWW-Authenticate` and `Retry-After` headers to send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Denial {
    /// 401 (the token's fault), 403 (missing scopes) or 503 (no usable keys:
    /// an IdP outage is not the caller's fault).
    pub status: u16,
    /// The [`RejectionCode`], or a [`DenialCode`].
    pub error: &'static str,
    /// The challenge for 401 and 403; none for 503.
    pub www_authenticate: Option<String>,
    /// Seconds before a retry is worth it (503 only).
    pub retry_after: Option<u32>,
}

impl Denial {
    /// The answer to a rejected token (or to none: `missing_token`):
    /// `invalid_request` for a missing or non-Bearer header, `invalid_token`
    /// with the code as `error_description` for a token that failed, and no
    /// challenge but `Retry-After` for `keys_unavailable`.
    pub fn rejected(code: RejectionCode, realm: Option<&str>) -> Denial {
        let status = code.http_status();
        let www_authenticate = (status == 401).then(|| match code {
            RejectionCode::MissingToken => challenge(realm, "invalid_request", None),
            _ => challenge(realm, "invalid_token", Some(("error_description", code.as_str()))),
        });
        Denial { status, error: code.as_str(), www_authenticate, retry_after: code.retry_after_secs() }
    }

    /// The 403 for a token without every scope in `required`; the challenge
    /// names all of them (RFC 6750 §3: `scope` is what the resource needs).
    pub fn insufficient_scope<S: AsRef<str>>(required: &[S], realm: Option<&str>) -> Denial {
        let scope = required.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ");
        Denial {
            status: 403,
            error: DenialCode::InsufficientScope.as_str(),
            www_authenticate: Some(challenge(realm, DenialCode::InsufficientScope.as_str(), Some(("scope", &scope)))),
            retry_after: None,
        }
    }
}

/// `Some(403)` when a required scope is not granted, else `None`.
#[must_use]
pub fn missing_scopes<R: AsRef<str>, G: AsRef<str>>(
    required: &[R],
    granted: &[G],
    realm: Option<&str>,
) -> Option<Denial> {
    let lacking = required.iter().any(|r| !granted.iter().any(|g| g.as_ref() == r.as_ref()));
    lacking.then(|| Denial::insufficient_scope(required, realm))
}

/// `Bearer realm="…", error="…"[, name="…"]`. Parameter values are written
/// as quoted strings: `"` and `\` escaped, control characters dropped, so a
/// realm or scope from configuration cannot break the header.
fn challenge(realm: Option<&str>, error: &str, param: Option<(&str, &str)>) -> String {
    let mut out = String::from("Bearer ");
    if let Some(realm) = realm {
        out.push_str("realm=");
        quoted(&mut out, realm);
        out.push_str(", ");
    }
    out.push_str("error=");
    quoted(&mut out, error);
    if let Some((name, value)) = param {
        out.push_str(", ");
        out.push_str(name);
        out.push('=');
        quoted(&mut out, value);
    }
    out
}

fn quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_nonempty_bearer_credential_is_a_token() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc  "), Some("abc"));
        assert_eq!(bearer_token("  bearer abc"), Some("abc"));
        for refused in ["", "Bearer", "Bearer ", "Bearer    ", "Basic abc", "Bearerabc", "Token abc"] {
            assert_eq!(bearer_token(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn scopes_come_from_scope_then_scp_each_once() {
        let claims = |json: &str| -> Map<String, Value> { serde_json::from_str(json).unwrap() };
        assert_eq!(granted_scopes(&claims(r#"{"scope": "a b  a", "scp": ["c", "b", 1]}"#)), ["a", "b", "c"]);
        assert_eq!(granted_scopes(&claims(r#"{"scp": "x y"}"#)), ["x", "y"]);
        assert!(granted_scopes(&claims(r#"{"scope": 5, "scp": {"a": 1}}"#)).is_empty());
    }

    #[test]
    fn every_code_has_one_answer() {
        for code in RejectionCode::ALL {
            let d = Denial::rejected(code, None);
            assert_eq!(d.status, code.http_status());
            assert_eq!(d.retry_after, code.retry_after_secs());
            assert_eq!(d.www_authenticate.is_some(), d.status == 401, "{code}");
        }
        let missing = Denial::rejected(RejectionCode::MissingToken, Some("api"));
        assert_eq!(missing.www_authenticate.as_deref(), Some(r#"Bearer realm="api", error="invalid_request""#));
        let outage = Denial::rejected(RejectionCode::KeysUnavailable, None);
        assert_eq!((outage.status, outage.retry_after, outage.www_authenticate), (503, Some(5), None));
    }

    #[test]
    fn scopes_are_checked_and_quoted() {
        assert_eq!(missing_scopes(&["a", "b"], &["b", "a", "c"], None), None);
        assert_eq!(missing_scopes::<&str, &str>(&[], &[], None), None);
        let d = missing_scopes(&["a", "b"], &["a"], Some("my \"api\"\n")).unwrap();
        assert_eq!(
            d.www_authenticate.as_deref(),
            Some(r#"Bearer realm="my \"api\"", error="insufficient_scope", scope="a b""#)
        );
    }
}
