//! JWS algorithms tokenkeep verifies, and sets of them.

use core::fmt;

/// A JWS signature algorithm tokenkeep can verify.
///
/// `none` is deliberately absent: it never verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 under its RFC 8037 name.
    EdDSA,
    /// Ed25519 under its RFC 9864 name.
    Ed25519,
    /// HMAC with SHA-256 (only with an explicitly configured secret).
    HS256,
    /// HMAC with SHA-384 (only with an explicitly configured secret).
    HS384,
    /// HMAC with SHA-512 (only with an explicitly configured secret).
    HS512,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The JOSE name (`"RS256"` …).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// Parses a JOSE name, case-sensitively as RFC 7515 requires.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Whether this is an HMAC algorithm (needs a shared secret).
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of algorithms, as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AlgSet(u16);

impl AlgSet {
    /// No algorithm.
    pub const EMPTY: AlgSet = AlgSet(0);

    /// Every asymmetric algorithm: the default a policy allows.
    pub fn asymmetric() -> AlgSet {
        Algorithm::ALL.iter().filter(|a| !a.is_symmetric()).copied().collect()
    }

    /// The RSA algorithms (PKCS#1 v1.5 and PSS).
    pub fn rsa() -> AlgSet {
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512]
            .into_iter()
            .collect()
    }

    /// Both names of Ed25519.
    pub fn ed25519() -> AlgSet {
        [Algorithm::EdDSA, Algorithm::Ed25519].into_iter().collect()
    }

    /// A set with one algorithm.
    pub fn only(alg: Algorithm) -> AlgSet {
        AlgSet(alg.bit())
    }

    /// Whether `alg` is in the set.
    pub fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Adds `alg`.
    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in [`Algorithm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL.into_iter().filter(move |a| self.contains(*a))
    }
}

impl FromIterator<Algorithm> for AlgSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgSet::EMPTY;
        for a in iter {
            set.insert(a);
        }
        set
    }
}

impl fmt::Debug for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(Algorithm::name)).finish()
    }
}
