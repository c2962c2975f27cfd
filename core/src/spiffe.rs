//! SPIFFE IDs (`spiffe://<trust-domain>/<path>`), validated per the SPIFFE ID
//! specification: lowercase trust domain of `[a-z0-9.-_]`, path segments of
//! `[A-Za-z0-9.-_]`, no empty, `.` or `..` segment, no port, user info, query or
//! fragment, 2048 bytes at most.

use core::fmt;

/// A parsed SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    id: String,
    path_start: usize,
}

/// Why a string is not a SPIFFE ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// Does not start with `spiffe://`.
    WrongScheme,
    /// Empty trust domain.
    MissingTrustDomain,
    /// A character outside `[a-z0-9.-_]` in the trust domain (uppercase, `:`, `@` …).
    BadTrustDomainChar,
    /// No path: the ID names a trust domain, not a workload.
    MissingPath,
    /// An empty segment (`//` or a trailing `/`).
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A character outside `[A-Za-z0-9.-_]` in the path (`?`, `#`, `%` …).
    BadPathChar,
    /// Longer than 2048 bytes.
    TooLong,
}

impl SpiffeIdError {
    /// A short phrase for rejection messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SpiffeIdError::WrongScheme => "not a spiffe:// URI",
            SpiffeIdError::MissingTrustDomain => "empty trust domain",
            SpiffeIdError::BadTrustDomainChar => "invalid character in trust domain",
            SpiffeIdError::MissingPath => "no workload path",
            SpiffeIdError::EmptySegment => "empty path segment",
            SpiffeIdError::DotSegment => "dot path segment",
            SpiffeIdError::BadPathChar => "invalid character in path",
            SpiffeIdError::TooLong => "longer than 2048 bytes",
        }
    }
}

impl fmt::Display for SpiffeIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SpiffeIdError {}

const SCHEME: &str = "spiffe://";

impl SpiffeId {
    /// Parses a workload SPIFFE ID (a path is required).
    pub fn parse(s: &str) -> Result<SpiffeId, SpiffeIdError> {
        if s.len() > 2048 {
            return Err(SpiffeIdError::TooLong);
        }
        let rest = s.strip_prefix(SCHEME).ok_or(SpiffeIdError::WrongScheme)?;
        let td_end = rest.find('/').unwrap_or(rest.len());
        let td = &rest[..td_end];
        if td.is_empty() {
            return Err(SpiffeIdError::MissingTrustDomain);
        }
        if !td.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')) {
            return Err(SpiffeIdError::BadTrustDomainChar);
        }
        let path = &rest[td_end..];
        if path.is_empty() {
            return Err(SpiffeIdError::MissingPath);
        }
        for segment in path[1..].split('/') {
            if segment.is_empty() {
                return Err(SpiffeIdError::EmptySegment);
            }
            if segment == "." || segment == ".." {
                return Err(SpiffeIdError::DotSegment);
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
                return Err(SpiffeIdError::BadPathChar);
            }
        }
        Ok(SpiffeId { id: s.to_owned(), path_start: SCHEME.len() + td_end })
    }

    /// The trust domain name.
    pub fn trust_domain(&self) -> &str {
        &self.id[SCHEME.len()..self.path_start]
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        &self.id[self.path_start..]
    }

    /// The whole ID.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// Whether the path is `prefix` or lies below it, on a segment boundary
    /// (`/ns/a` matches `/ns/a` and `/ns/a/x`, not `/ns/ab`).
    pub fn path_is_under(&self, prefix: &str) -> bool {
        let path = self.path();
        let prefix_trimmed = prefix.trim_end_matches('/');
        path == prefix_trimmed || path.strip_prefix(prefix_trimmed).is_some_and(|rest| rest.starts_with('/'))
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_workload_ids_and_splits_them() {
        let id = SpiffeId::parse("spiffe://example.org/ns/prod/sa/api").unwrap();
        assert_eq!(id.trust_domain(), "example.org");
        assert_eq!(id.path(), "/ns/prod/sa/api");
        assert!(id.path_is_under("/ns/prod/"));
        assert!(id.path_is_under("/ns/prod"));
        assert!(!id.path_is_under("/ns/pro"));
    }

    #[test]
    fn rejects_what_the_spec_forbids() {
        use SpiffeIdError::*;
        for (s, e) in [
            ("https://example.org/a", WrongScheme),
            ("SPIFFE://example.org/a", WrongScheme),
            ("spiffe:///a", MissingTrustDomain),
            ("spiffe://Example.org/a", BadTrustDomainChar),
            ("spiffe://example.org:443/a", BadTrustDomainChar),
            ("spiffe://user@example.org/a", BadTrustDomainChar),
            ("spiffe://example.org", MissingPath),
            ("spiffe://example.org/", EmptySegment),
            ("spiffe://example.org/a//b", EmptySegment),
            ("spiffe://example.org/a/../b", DotSegment),
            ("spiffe://example.org/a?x=1", BadPathChar),
            ("spiffe://example.org/a#f", BadPathChar),
            ("spiffe://example.org/a%20b", BadPathChar),
        ] {
            assert_eq!(SpiffeId::parse(s), Err(e), "{s}");
        }
        let long = format!("spiffe://example.org/{}", "a".repeat(2048));
        assert_eq!(SpiffeId::parse(&long), Err(TooLong));
    }
}
