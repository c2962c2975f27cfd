//! The issuer's key ring: one current key per algorithm in use, rotated-out
//! keys kept published until they retire, and the JWKS document built from
//! them.

use crate::DevIssuerError;
use crate::signing::SigningKey;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenkeep_core::Algorithm;

/// The published JWKS: body bytes and their strong ETag.
#[derive(Debug)]
pub(crate) struct JwksDoc {
    pub body: Vec<u8>,
    pub etag: String,
}

pub(crate) struct KeyRing {
    current: BTreeMap<Algorithm, Arc<SigningKey>>,
    retiring: Vec<(Arc<SigningKey>, Instant)>,
    counter: u64,
    jwks: Arc<JwksDoc>,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KeyRing {
    pub fn new(algorithms: &[Algorithm]) -> Result<KeyRing, DevIssuerError> {
        let mut ring =
            KeyRing { current: BTreeMap::new(), retiring: Vec::new(), counter: 0, jwks: Arc::new(build(&[])) };
        for &alg in algorithms {
            ring.current_for(alg)?;
        }
        Ok(ring)
    }

    fn new_key(&mut self, alg: Algorithm) -> Result<Arc<SigningKey>, DevIssuerError> {
        self.counter += 1;
        let mut random = [0u8; 4];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| DevIssuerError::Key("random source failed".into()))?;
        let kid = format!("{}-{}-{}", alg.name().to_ascii_lowercase(), self.counter, hex(&random));
        Ok(Arc::new(SigningKey::generate(alg, Some(kid))?))
    }

    /// The current key for `alg`, generated (and published) on first use.
    pub fn current_for(&mut self, alg: Algorithm) -> Result<Arc<SigningKey>, DevIssuerError> {
        if let Some(k) = self.current.get(&alg) {
            return Ok(k.clone());
        }
        let key = self.new_key(alg)?;
        self.current.insert(alg, key.clone());
        self.rebuild();
        Ok(key)
    }

    /// Any key still held (current or retiring) with this kid.
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.current.values().chain(self.retiring.iter().map(|(k, _)| k)).find(|k| k.kid() == Some(kid)).cloned()
    }

    /// A new current key for every algorithm in use; the previous ones stay
    /// published until `now() + retire_after`, `now()` read once the new keys
    /// exist (an RSA key can take seconds to generate on a busy machine, and
    /// the window is the time clients have to see both).
    pub fn rotate(
        &mut self,
        now: impl FnOnce() -> Instant,
        retire_after: Duration,
    ) -> Result<Vec<String>, DevIssuerError> {
        let algs: Vec<Algorithm> = self.current.keys().copied().collect();
        let mut fresh = Vec::with_capacity(algs.len());
        for alg in &algs {
            fresh.push((*alg, self.new_key(*alg)?));
        }
        let now = now();
        let mut kids = Vec::new();
        for (alg, key) in fresh {
            kids.extend(key.kid().map(str::to_owned));
            if let Some(old) = self.current.insert(alg, key) {
                self.retiring.push((old, now + retire_after));
            }
        }
        self.rebuild();
        Ok(kids)
    }

    /// Drops retired keys; true when the JWKS changed.
    pub fn prune(&mut self, now: Instant) -> bool {
        let before = self.retiring.len();
        self.retiring.retain(|(_, until)| *until > now);
        if self.retiring.len() != before {
            self.rebuild();
            true
        } else {
            false
        }
    }

    pub fn jwks(&self) -> Arc<JwksDoc> {
        self.jwks.clone()
    }

    pub fn algorithms_in_use(&self) -> Vec<Algorithm> {
        self.current.keys().copied().collect()
    }

    fn rebuild(&mut self) {
        let keys: Vec<Value> =
            self.current.values().chain(self.retiring.iter().map(|(k, _)| k)).filter_map(|k| k.public_jwk()).collect();
        self.jwks = Arc::new(build(&keys));
    }
}

fn build(keys: &[Value]) -> JwksDoc {
    let body = serde_json::to_vec(&json!({ "keys": keys })).expect("JSON serialises");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
    let etag = format!("\"{}\"", hex(&digest.as_ref()[..16]));
    JwksDoc { body, etag }
}
