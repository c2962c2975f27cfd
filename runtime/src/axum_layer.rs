//! A tower layer for axum: Bearer token in, `Arc<`[`VerifiedToken`]`>` as a request extension
//! out; otherwise 401 with `WWW-Authenticate` per RFC 6750, or 503 when no
//! keys are usable (an IdP outage is not the caller's fault).

use crate::{VerifiedToken, Verifier};
use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokenkeep_core::{Rejection, RejectionCode};
use tower::{Layer, Service};

/// Verifies the Bearer token of every request with a [`Verifier`].
#[derive(Clone, Debug)]
pub struct JwtAuthLayer {
    verifier: Verifier,
}

impl JwtAuthLayer {
    /// A layer using `verifier`.
    pub fn new(verifier: Verifier) -> JwtAuthLayer {
        JwtAuthLayer { verifier }
    }
}

impl<S> Layer<S> for JwtAuthLayer {
    type Service = JwtAuth<S>;
    fn layer(&self, inner: S) -> JwtAuth<S> {
        JwtAuth { inner, verifier: self.verifier.clone() }
    }
}

/// The service [`JwtAuthLayer`] wraps around an inner service.
#[derive(Clone, Debug)]
pub struct JwtAuth<S> {
    inner: S,
    verifier: Verifier,
}

/// The Bearer token of a request: `Some` only for `Authorization: Bearer <token>`
/// (scheme case-insensitive, RFC 6750 §2.1).
pub fn bearer_token<B>(request: &Request<B>) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The response for a rejection: 401 with `error="invalid_token"` and the code
/// as `error_description`, or 503 for `keys_unavailable`.
pub fn rejection_response(rejection: &Rejection) -> Response<Body> {
    let code = rejection.code();
    let (status, challenge) = match code {
        RejectionCode::KeysUnavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
        RejectionCode::MissingToken => (StatusCode::UNAUTHORIZED, Some(r#"Bearer error="invalid_request""#.to_owned())),
        _ => (
            StatusCode::UNAUTHORIZED,
            Some(format!(r#"Bearer error="invalid_token", error_description="{}""#, code.as_str())),
        ),
    };
    let body = serde_json::json!({"error": code.as_str()}).to_string();
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default();
    if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(seconds) = code.retry_after_secs() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

impl<S> Service<Request<Body>> for JwtAuth<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone is the one that was polled ready; keep it, leave a fresh one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let Some(token) = bearer_token(&request).map(str::to_owned) else {
                return Ok(rejection_response(&Rejection::MissingToken));
            };
            match verifier.verify(&token).await {
                Ok(verified) => {
                    request.extensions_mut().insert::<Arc<VerifiedToken>>(verified);
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection_response(&rejection)),
            }
        })
    }
}
