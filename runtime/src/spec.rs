//! The runtime's side of the options spec: what needs files or sockets to
//! check (CA files, resolve addresses) and the environment Vault users have.

use crate::http::{HttpConfigError, HttpOptions};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
pub use tokenkeep_core::spec::*;

/// The runtime's transport options from their spec (already validated by
/// the core: this only converts; files are read when the client is built).
pub(crate) fn http_options(spec: &HttpSpec, path: &str) -> Result<HttpOptions, SpecError> {
    let mut resolve = Vec::new();
    for (host, addr) in &spec.resolve {
        let socket = addr
            .parse::<SocketAddr>()
            .or_else(|_| addr.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
            .map_err(|_| SpecError::new(format!("{path}.resolve"), SpecErrorCode::InvalidValue, "not an IP address"))?;
        resolve.push((host.clone(), socket));
    }
    Ok(HttpOptions {
        ca_file: spec.ca_file.as_ref().map(PathBuf::from),
        bearer_token_file: spec.bearer_token_file.as_ref().map(PathBuf::from),
        resolve,
        headers: spec.headers.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
        credential_origins: spec.credential_origins.clone(),
        // The verifier-level switch, set by the caller.
        dangerous_allow_http: false,
        timeout: spec.timeout.map(Seconds::get),
        dangerous_accept_invalid_certs: spec.dangerous_accept_invalid_certs,
    })
}

/// A client-building failure as a spec error naming the option at fault.
pub(crate) fn http_error(e: &HttpConfigError, path: &str) -> SpecError {
    let (field, code) = match e {
        HttpConfigError::CaFileUnreadable(_) => ("ca_file", SpecErrorCode::FileUnreadable),
        HttpConfigError::CaFileInvalid(_) => ("ca_file", SpecErrorCode::InvalidFile),
        HttpConfigError::InvalidHeader(_) => ("headers", SpecErrorCode::InvalidValue),
        HttpConfigError::BearerFileUnreadable(_) => ("bearer_token_file", SpecErrorCode::FileUnreadable),
        HttpConfigError::InvalidOrigin(_) => ("credential_origins", SpecErrorCode::InvalidUrl),
        HttpConfigError::CredentialsWithoutOrigin => ("bearer_token_file", SpecErrorCode::Conflict),
        HttpConfigError::Url(_, tokenkeep_core::jwks::SourceError::InsecureUrl) => ("", SpecErrorCode::InsecureUrl),
        HttpConfigError::Url(_, _) => ("", SpecErrorCode::InvalidUrl),
        _ => ("", SpecErrorCode::InvalidValue),
    };
    let at = if field.is_empty() { path.to_owned() } else { format!("{path}.{field}") };
    SpecError::new(at, code, e.to_string())
}
