//! Headers already seen on a verified token, by their exact base64url bytes.
//!
//! An IdP signs every token of a key with the same header, so after the first
//! token the header's base64url, JSON and rules are known work: a hit is one
//! byte comparison. Only headers of tokens that verified are remembered (an
//! attacker cannot fill the slots without a valid signature), a hit still runs
//! every policy rule that reads the header (`alg` allowed, `typ`), and key
//! selection runs on each token, so nothing about keys is cached here.
//!
//! Slots are filled once and never replaced: readers take no lock and write
//! nothing shared. A [`crate::KeySet`] holds one, so a new key set (every JWKS
//! fetch) starts empty; a host that parses before it knows the key set holds its
//! own and passes it to [`crate::verify::parse_with_cache`].

use crate::verify::TokenHeader;
use std::fmt;
use std::sync::OnceLock;

/// How many distinct header segments one cache remembers.
pub const HEADER_CACHE_SLOTS: usize = 16;

/// Longest header segment remembered, in bytes (headers carrying certificate
/// chains are rare and take the ordinary path).
pub const HEADER_CACHE_MAX_SEGMENT: usize = 2048;

/// Exact header segment → its validated header fields. See the module docs.
pub struct HeaderCache {
    slots: [OnceLock<Entry>; HEADER_CACHE_SLOTS],
}

struct Entry {
    segment: Box<str>,
    header: TokenHeader,
}

impl HeaderCache {
    /// An empty cache.
    pub fn new() -> HeaderCache {
        HeaderCache { slots: std::array::from_fn(|_| OnceLock::new()) }
    }

    /// How many header segments are remembered.
    pub fn len(&self) -> usize {
        self.slots.iter().take_while(|s| s.get().is_some()).count()
    }

    /// Whether no header is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.slots[0].get().is_none()
    }

    /// The header fields of `segment`, when a verified token had exactly it.
    pub(crate) fn get(&self, segment: &str) -> Option<&TokenHeader> {
        for slot in &self.slots {
            match slot.get() {
                Some(entry) if *entry.segment == *segment => return Some(&entry.header),
                Some(_) => continue,
                // Slots fill in order: the first empty one ends the search.
                None => return None,
            }
        }
        None
    }

    /// Remembers the header of a token that verified, while a slot is free.
    pub(crate) fn remember(&self, segment: &str, header: &TokenHeader) {
        if segment.len() > HEADER_CACHE_MAX_SEGMENT {
            return;
        }
        let mut entry = None;
        for slot in &self.slots {
            if let Some(existing) = slot.get() {
                if *existing.segment == *segment {
                    return;
                }
                continue;
            }
            let new = entry.take().unwrap_or_else(|| Entry { segment: segment.into(), header: header.clone() });
            match slot.set(new) {
                Ok(()) => return,
                // Another thread took this slot first; it may hold the same header.
                Err(new) if *new.segment == *segment => return,
                Err(new) => entry = Some(new),
            }
        }
    }
}

impl Default for HeaderCache {
    fn default() -> Self {
        HeaderCache::new()
    }
}

/// Header segments are token bytes: only the count is shown.
impl fmt::Debug for HeaderCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderCache").field("remembered", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;

    fn header(kid: &str) -> TokenHeader {
        TokenHeader { alg: Algorithm::ES256, kid: Some(kid.into()), typ: None }
    }

    #[test]
    fn remembers_each_segment_once_until_full() {
        let cache = HeaderCache::new();
        assert!(cache.get("a").is_none());
        cache.remember("a", &header("1"));
        cache.remember("a", &header("1"));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("a"), Some(&header("1")));
        for i in 0..HEADER_CACHE_SLOTS + 4 {
            cache.remember(&format!("s{i}"), &header(&i.to_string()));
        }
        assert_eq!(cache.len(), HEADER_CACHE_SLOTS);
        assert_eq!(cache.get("s0"), Some(&header("0")));
        assert!(cache.get(&format!("s{}", HEADER_CACHE_SLOTS)).is_none(), "no slot was replaced");
        assert!(cache.get("a.").is_none() && cache.get("").is_none());
    }

    #[test]
    fn long_segments_are_not_remembered() {
        let cache = HeaderCache::new();
        cache.remember(&"x".repeat(HEADER_CACHE_MAX_SEGMENT + 1), &header("1"));
        assert!(cache.is_empty());
    }

    #[test]
    fn debug_shows_no_segment() {
        let cache = HeaderCache::new();
        cache.remember("eyJhbGciOiJFUzI1NiJ9", &header("1"));
        assert_eq!(format!("{cache:?}"), "HeaderCache { remembered: 1 }");
    }
}
