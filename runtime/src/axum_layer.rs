//! A tower layer for axum: Bearer token in, `Arc<`[`VerifiedToken`]`>` and
//! [`Authenticated`] (with the granted scopes) as request extensions out;
//! otherwise the [`Denial`] of [`Verifier::authenticate`]: 401 with
//! `WWW-Authenticate` per RFC 6750, 403 for missing scopes, or 503 when no
//! keys are usable (an IdP outage is not the caller's fault).

use crate::bearer::{Authenticated, Denial};
use crate::{VerifiedToken, Verifier};
use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Verifies the Bearer token of every request with a [`Verifier`] and,
/// when given, checks the scopes every route behind it needs.
#[derive(Clone, Debug)]
pub struct JwtAuthLayer {
    verifier: Verifier,
    scopes: Arc<[String]>,
    realm: Option<Arc<str>>,
}

impl JwtAuthLayer {
    /// A layer using `verifier`.
    pub fn new(verifier: Verifier) -> JwtAuthLayer {
        JwtAuthLayer { verifier, scopes: Arc::from([]), realm: None }
    }

    /// Requests also need a token granting every one of `scopes` (else 403
    /// `insufficient_scope`).
    pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> JwtAuthLayer {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Names `realm` in every `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: &str) -> JwtAuthLayer {
        self.realm = Some(Arc::from(realm));
        self
    }
}

impl<S> Layer<S> for JwtAuthLayer {
    type Service = JwtAuth<S>;
    fn layer(&self, inner: S) -> JwtAuth<S> {
        JwtAuth { inner, layer: self.clone() }
    }
}

/// The service [`JwtAuthLayer`] wraps around an inner service.
#[derive(Clone, Debug)]
pub struct JwtAuth<S> {
    inner: S,
    layer: JwtAuthLayer,
}

/// The response for a [`Denial`]: its status, `{"error": "<code>"}`, and its
/// `WWW-Authenticate` and `Retry-After` headers.
pub fn denial_response(denial: &Denial) -> Response<Body> {
    let body = serde_json::json!({"error": denial.error}).to_string();
    let mut response = Response::builder()
        .status(StatusCode::from_u16(denial.status).unwrap_or(StatusCode::UNAUTHORIZED))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default();
    if let Some(challenge) = denial.www_authenticate.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    if let Some(seconds) = denial.retry_after {
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
        let layer = self.layer.clone();
        Box::pin(async move {
            // A header that is not text cannot hold a Bearer token: `missing_token`.
            let authorization =
                request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let outcome = layer.verifier.authenticate(authorization.as_deref(), &layer.scopes, layer.realm.as_deref());
            match outcome.await {
                Ok(authenticated) => {
                    request.extensions_mut().insert::<Arc<VerifiedToken>>(authenticated.token.clone());
                    request.extensions_mut().insert::<Authenticated>(authenticated);
                    inner.call(request).await
                }
                Err(denial) => Ok(denial_response(&denial)),
            }
        })
    }
}
