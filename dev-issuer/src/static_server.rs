//! [`StaticServer`]: fixed documents on loopback, and a record of what every
//! request carried. For tests of what a client sends where (credentials
//! across origins, the transport rule) and of what it does with hostile
//! answers (escape sequences in a kid or a header), where the dev issuer's
//! own well-formed documents will not do.

use crate::DevIssuerError;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// One fixed answer: `200` with `body` and `headers`.
#[derive(Clone, Debug)]
pub struct StaticRoute {
    /// The path it answers (`/jwks`); other paths get 404.
    pub path: String,
    /// The body.
    pub body: String,
    /// Extra response headers (`content-type: application/json` is always sent).
    pub headers: Vec<(String, String)>,
}

impl StaticRoute {
    /// `body` at `path`, no extra headers.
    pub fn new(path: impl Into<String>, body: impl Into<String>) -> StaticRoute {
        StaticRoute { path: path.into(), body: body.into(), headers: Vec::new() }
    }

    /// With one more response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> StaticRoute {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What one request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// Its path.
    pub path: String,
    /// Its headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A plain-HTTP server on `127.0.0.1` with fixed answers; stops when dropped.
pub struct StaticServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StaticServer {
    /// Binds an ephemeral loopback port, then serves the routes `routes`
    /// makes from the server's own base URL (so a discovery document can
    /// name its own or another server's endpoints).
    pub async fn start(routes: impl FnOnce(&str) -> Vec<StaticRoute>) -> Result<StaticServer, DevIssuerError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| DevIssuerError::Bind { port: 0, source })?;
        let addr = listener.local_addr().map_err(|source| DevIssuerError::Bind { port: 0, source })?;
        let routes: Arc<HashMap<String, StaticRoute>> = Arc::new(
            routes(&format!("http://127.0.0.1:{}", addr.port())).into_iter().map(|r| (r.path.clone(), r)).collect(),
        );
        let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (routes, record) = (routes.clone(), record.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let path = req.uri().path().to_owned();
                        let headers = req
                            .headers()
                            .iter()
                            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
                            .collect();
                        record
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(SeenRequest { path: path.clone(), headers });
                        let mut response = hyper::Response::builder().header("content-type", "application/json");
                        let body = match routes.get(&path) {
                            Some(route) => {
                                for (n, v) in &route.headers {
                                    response = response.header(n.as_str(), v.as_str());
                                }
                                route.body.clone()
                            }
                            None => {
                                response = response.status(404);
                                String::new()
                            }
                        };
                        let response = response
                            .body(axum::body::Body::from(body))
                            .unwrap_or_else(|_| hyper::Response::new(axum::body::Body::empty()));
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(StaticServer { addr, seen, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
