//! HTTP as plain data: the core builds requests and reads responses; hosts
//! move the bytes. Nothing here opens a socket.

use std::time::Duration;

/// HTTP method of a request the core asks its host to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Identifies one outgoing request; its answer is handed back with the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request header value that may be a secret (a Vault token, a bearer token).
///
/// `Debug` never shows a sensitive value.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderValue {
    value: String,
    sensitive: bool,
}

impl HeaderValue {
    /// A value that may be logged.
    pub fn plain(value: impl Into<String>) -> Self {
        HeaderValue { value: value.into(), sensitive: false }
    }

    /// A value that must never be logged.
    pub fn sensitive(value: impl Into<String>) -> Self {
        HeaderValue { value: value.into(), sensitive: true }
    }

    /// The value to put on the wire.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether the value is a secret.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }
}

impl core::fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.sensitive { f.write_str("<redacted>") } else { core::fmt::Debug::fmt(&self.value, f) }
    }
}

/// A request the core wants sent. The body may hold a secret (a JWT for a
/// login), so `Debug` leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Correlates the answer with this request.
    pub id: RequestId,
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers to send, in order.
    pub headers: Vec<(String, HeaderValue)>,
    /// Body bytes, empty for none.
    pub body: Vec<u8>,
    /// The whole exchange must finish within this budget; the host enforces it.
    pub timeout: Duration,
    /// Largest body the host may read before giving up (enforced while reading).
    pub max_body_bytes: usize,
}

impl core::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("id", &self.id)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What came back for a request, or why nothing did.
#[derive(Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// The server answered.
    Response(HttpResponse),
    /// No answer: connection refused, DNS, TLS, timeout, body too large.
    Failed(TransportError),
}

impl core::fmt::Debug for HttpOutcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HttpOutcome::Response(r) => f.debug_tuple("Response").field(r).finish(),
            HttpOutcome::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

/// A server's answer. The body may hold secrets (a Vault token, a KV value), so
/// `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers as received; names compared case-insensitively by [`HttpResponse::header`].
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// First value of header `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `Retry-After` in seconds, when the server sent the delta-seconds form.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
    }
}

impl core::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpResponse").field("status", &self.status).field("body_len", &self.body.len()).finish()
    }
}

/// Why a request produced no response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The budget in [`HttpRequest::timeout`] ran out.
    Timeout,
    /// Could not connect (refused, unreachable, DNS).
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The body exceeded [`HttpRequest::max_body_bytes`].
    BodyTooLarge,
    /// The server answered with a redirect, which is never followed.
    Redirect,
    /// Plain http to a host other than loopback, which the host refused to
    /// send without its `dangerous_allow_http` switch.
    InsecureUrl,
    /// Anything else the host could not classify.
    Other,
}

impl TransportError {
    /// Every kind, in a stable order.
    pub const ALL: &'static [TransportError] = &[
        TransportError::Timeout,
        TransportError::Connect,
        TransportError::Tls,
        TransportError::BodyTooLarge,
        TransportError::Redirect,
        TransportError::InsecureUrl,
        TransportError::Other,
    ];

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Connect => "connect",
            TransportError::Tls => "tls",
            TransportError::BodyTooLarge => "body_too_large",
            TransportError::Redirect => "redirect",
            TransportError::InsecureUrl => "insecure_url",
            TransportError::Other => "transport",
        }
    }
}
