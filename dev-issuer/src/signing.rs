//! Signing keys and compact JWS creation, shared by the dev issuer and
//! `tokenkeep mint`.
//!
//! A [`SigningKey`] is generated ([`SigningKey::generate`]) or loaded from a
//! PEM private key ([`SigningKey::from_pem`]: PKCS#8, PKCS#1 RSA or SEC1 EC)
//! or a private JWK ([`SigningKey::from_jwk`]). Its `Debug` output never shows
//! key material.

use crate::DevIssuerError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Map, Value, json};
use std::fmt;
use tokenkeep_core::Algorithm;

/// The algorithms the dev issuer publishes keys for (its `/token` endpoint and
/// discovery document). HMAC is signable with [`SigningKey::from_jwk`] but
/// never published.
pub const ISSUER_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

enum Material {
    Rsa(rsa::KeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Hmac { key: Box<hmac::Key>, len: usize, alg: Algorithm },
}

/// A private signing key with the algorithm it signs with and its `kid`.
pub struct SigningKey {
    material: Material,
    alg: Algorithm,
    kid: Option<String>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kind", &self.kind_name())
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str) -> DevIssuerError {
    DevIssuerError::Key(what.to_owned())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_field(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, DevIssuerError> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| key_error(&format!("JWK member `{name}` missing or not a string")))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| key_error(&format!("JWK member `{name}` is not base64url")))
}

impl SigningKey {
    /// Generates a fresh key for `alg` (RSA 2048 for RS*/PS*, P-256, P-384,
    /// Ed25519, or a 32/48/64-byte HMAC secret).
    pub fn generate(alg: Algorithm, kid: Option<String>) -> Result<SigningKey, DevIssuerError> {
        let material = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Material::Rsa(
                rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| key_error("RSA key generation failed"))?,
            ),
            Algorithm::ES256 => Material::P256(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| key_error("P-256 key generation failed"))?,
            ),
            Algorithm::ES384 => Material::P384(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .map_err(|_| key_error("P-384 key generation failed"))?,
            ),
            Algorithm::EdDSA | Algorithm::Ed25519 => {
                Material::Ed25519(Ed25519KeyPair::generate().map_err(|_| key_error("Ed25519 key generation failed"))?)
            }
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let len = hmac_len(alg);
                let mut secret = vec![0u8; len];
                aws_lc_rs::rand::fill(&mut secret).map_err(|_| key_error("random source failed"))?;
                Material::Hmac { key: Box::new(hmac::Key::new(hmac_alg(alg), &secret)), len, alg }
            }
            other => return Err(DevIssuerError::UnsupportedAlg(other.name().to_owned())),
        };
        Ok(SigningKey { material, alg, kid })
    }

    /// Loads a PEM private key: PKCS#8 (`PRIVATE KEY`: RSA, EC P-256/P-384,
    /// Ed25519), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). The
    /// algorithm defaults from the key: RS256, ES256, ES384 or EdDSA.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, DevIssuerError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| key_error("no PEM private key found"))?;
        let material = match &der {
            PrivateKeyDer::Pkcs1(k) => Material::Rsa(
                rsa::KeyPair::from_der(k.secret_pkcs1_der()).map_err(|e| rsa_error(e, "unusable PKCS#1 RSA key"))?,
            ),
            PrivateKeyDer::Sec1(k) => ec_from_der(k.secret_sec1_der())?,
            PrivateKeyDer::Pkcs8(k) => {
                let bytes = k.secret_pkcs8_der();
                match rsa::KeyPair::from_pkcs8(bytes) {
                    Ok(kp) => Material::Rsa(kp),
                    // An RSA key, refused for its size: say so, not "unsupported".
                    Err(e) if is_too_small(&e) => return Err(rsa_error(e, "")),
                    Err(_) => pkcs8_other(bytes)?,
                }
            }
            _ => return Err(key_error("unsupported PEM private key type")),
        };
        let alg = default_alg(&material);
        let key = SigningKey { material, alg, kid: None };
        key.check_verifiable(None)?;
        Ok(key)
    }
}

/// A PKCS#8 key that is not RSA: Ed25519 or EC.
fn pkcs8_other(bytes: &[u8]) -> Result<Material, DevIssuerError> {
    if let Ok(kp) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes) {
        return Ok(Material::Ed25519(kp));
    }
    ec_from_der(bytes).map_err(|_| key_error("unsupported PKCS#8 key (expected RSA, EC P-256/P-384 or Ed25519)"))
}

impl SigningKey {
    /// Loads a private JWK (`RSA` with all CRT members, `EC` P-256/P-384 with
    /// `d`, `OKP` Ed25519 with `d`, or `oct` with `k`). `alg` and `kid` are
    /// taken from the JWK when present.
    pub fn from_jwk(jwk: &Value) -> Result<SigningKey, DevIssuerError> {
        let obj = jwk.as_object().ok_or_else(|| key_error("JWK is not a JSON object"))?;
        let kty = obj.get("kty").and_then(Value::as_str).ok_or_else(|| key_error("JWK has no `kty`"))?;
        let material = match kty {
            "RSA" => {
                let n = b64_field(obj, "n")?;
                let e = b64_field(obj, "e")?;
                let d = b64_field(obj, "d")?;
                let p = b64_field(obj, "p")?;
                let q = b64_field(obj, "q")?;
                let dp = b64_field(obj, "dp")?;
                let dq = b64_field(obj, "dq")?;
                let qi = b64_field(obj, "qi")?;
                let components = rsa::KeyPairComponents {
                    public_key: rsa::PublicKeyComponents { n: n.as_slice(), e: e.as_slice() },
                    d: d.as_slice(),
                    p: p.as_slice(),
                    q: q.as_slice(),
                    dP: dp.as_slice(),
                    dQ: dq.as_slice(),
                    qInv: qi.as_slice(),
                };
                Material::Rsa(rsa::KeyPair::from_components(&components).map_err(|e| rsa_error(e, "unusable RSA JWK"))?)
            }
            "EC" => {
                let crv = obj.get("crv").and_then(Value::as_str).unwrap_or_default();
                let (alg, p256) = match crv {
                    "P-256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, true),
                    "P-384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, false),
                    _ => return Err(key_error("unsupported EC curve (expected P-256 or P-384)")),
                };
                let d = b64_field(obj, "d")?;
                let mut point = vec![4u8];
                point.extend(b64_field(obj, "x")?);
                point.extend(b64_field(obj, "y")?);
                let kp = EcdsaKeyPair::from_private_key_and_public_key(alg, &d, &point)
                    .map_err(|_| key_error("unusable EC JWK"))?;
                if p256 { Material::P256(kp) } else { Material::P384(kp) }
            }
            "OKP" => {
                if obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                    return Err(key_error("unsupported OKP curve (expected Ed25519)"));
                }
                let d = b64_field(obj, "d")?;
                let x = b64_field(obj, "x")?;
                Material::Ed25519(
                    Ed25519KeyPair::from_seed_and_public_key(&d, &x).map_err(|_| key_error("unusable Ed25519 JWK"))?,
                )
            }
            "oct" => {
                let k = b64_field(obj, "k")?;
                if k.is_empty() {
                    return Err(key_error("empty HMAC secret"));
                }
                let alg = match obj.get("alg").and_then(Value::as_str) {
                    Some("HS384") => Algorithm::HS384,
                    Some("HS512") => Algorithm::HS512,
                    _ => Algorithm::HS256,
                };
                Material::Hmac { key: Box::new(hmac::Key::new(hmac_alg(alg), &k)), len: k.len(), alg }
            }
            other => return Err(key_error(&format!("unsupported JWK kty `{other}`"))),
        };
        let mut key = SigningKey { alg: default_alg(&material), material, kid: None };
        if let Some(alg) = obj.get("alg").and_then(Value::as_str).filter(|_| kty != "oct") {
            let alg = Algorithm::from_name(alg).ok_or_else(|| DevIssuerError::UnsupportedAlg(alg.to_owned()))?;
            key = key.with_alg(alg)?;
        }
        key.kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
        let secret = if kty == "oct" { Some(b64_field(obj, "k")?) } else { None };
        key.check_verifiable(secret.as_deref())?;
        Ok(key)
    }

    /// Refuses a key that a verifier would skip (the core's rules, not a
    /// copy of them): an HMAC secret shorter than its hash, an RSA modulus
    /// under 2048 bits. A token signed with it would never verify.
    fn check_verifiable(&self, secret: Option<&[u8]>) -> Result<(), DevIssuerError> {
        let refused = |reason: tokenkeep_core::SkipReason| DevIssuerError::KeyRefused {
            key: self.kind_name(),
            alg: self.alg.name().to_owned(),
            reason: reason.code(),
        };
        match (&self.material, secret) {
            (Material::Hmac { .. }, Some(secret)) => {
                let jwk = json!({"kty": "oct", "alg": self.alg.name(), "k": b64(secret)});
                tokenkeep_core::KeySet::empty().with_secret_jwk(&jwk).map(drop).map_err(refused)
            }
            (Material::Hmac { .. }, None) => Ok(()),
            _ => {
                let jwk = self.public_jwk().ok_or_else(|| key_error("no public key"))?;
                let set = tokenkeep_core::KeySet::from_jwks_value(&json!({"keys": [jwk]}))
                    .map_err(|e| key_error(&e.to_string()))?;
                match set.skipped().first() {
                    Some(skipped) => Err(refused(skipped.reason)),
                    None => Ok(()),
                }
            }
        }
    }

    /// The same key signing with `alg`, if the key type allows it (an RSA key
    /// signs RS*/PS*, P-256 only ES256, P-384 only ES384, Ed25519 EdDSA or
    /// Ed25519, an HMAC secret HS256/384/512).
    pub fn with_alg(mut self, alg: Algorithm) -> Result<SigningKey, DevIssuerError> {
        let ok = match &self.material {
            Material::Rsa(_) => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            Material::P256(_) => alg == Algorithm::ES256,
            Material::P384(_) => alg == Algorithm::ES384,
            Material::Ed25519(_) => matches!(alg, Algorithm::EdDSA | Algorithm::Ed25519),
            Material::Hmac { .. } => alg.is_symmetric(),
        };
        if !ok {
            return Err(DevIssuerError::AlgMismatch { alg: alg.name().to_owned(), key: self.kind_name().to_owned() });
        }
        if let Material::Hmac { alg: keyed, .. } = &self.material {
            if *keyed != alg {
                // An HMAC key is bound to its digest and the secret is not
                // kept around to re-key it: the JWK's `alg` decides.
                return Err(DevIssuerError::AlgMismatch {
                    alg: alg.name().to_owned(),
                    key: format!("HMAC secret keyed for {}", keyed.name()),
                });
            }
        }
        self.alg = alg;
        Ok(self)
    }

    /// The same key with `kid`.
    pub fn with_kid(mut self, kid: Option<String>) -> SigningKey {
        self.kid = kid;
        self
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id put into token headers and the public JWK.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A short description of the key type: `RSA-2048`, `EC P-256`, …
    pub fn kind_name(&self) -> String {
        match &self.material {
            Material::Rsa(kp) => format!("RSA-{}", kp.public_modulus_len() * 8),
            Material::P256(_) => "EC P-256".to_owned(),
            Material::P384(_) => "EC P-384".to_owned(),
            Material::Ed25519(_) => "Ed25519".to_owned(),
            Material::Hmac { len, .. } => format!("HMAC secret ({len} bytes)"),
        }
    }

    /// The public JWK (`kid`, `alg`, `use: "sig"`), or `None` for an HMAC
    /// secret, which has no public half.
    pub fn public_jwk(&self) -> Option<Value> {
        let mut jwk = match &self.material {
            Material::Rsa(kp) => {
                let pk = kp.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64(pk.exponent().big_endian_without_leading_zero()),
                })
            }
            Material::P256(kp) | Material::P384(kp) => {
                let point = kp.public_key().as_ref();
                let coord = (point.len() - 1) / 2;
                let crv = if matches!(self.material, Material::P256(_)) { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64(&point[1..1 + coord]),
                    "y": b64(&point[1 + coord..]),
                })
            }
            Material::Ed25519(kp) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(kp.public_key().as_ref()),
            }),
            Material::Hmac { .. } => return None,
        };
        let obj = jwk.as_object_mut().expect("object literal");
        if let Some(kid) = &self.kid {
            obj.insert("kid".into(), kid.clone().into());
        }
        obj.insert("alg".into(), self.alg.name().into());
        obj.insert("use".into(), "sig".into());
        Some(jwk)
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key, a
    /// stable kid for a key that has none; `None` for an HMAC secret.
    pub fn thumbprint(&self) -> Option<String> {
        let jwk = self.public_jwk()?;
        let members: &[&str] = match jwk["kty"].as_str() {
            Some("RSA") => &["e", "kty", "n"],
            Some("EC") => &["crv", "kty", "x", "y"],
            _ => &["crv", "kty", "x"],
        };
        // Inserted in lexicographic order, as RFC 7638 wants, whether or not
        // serde_json's `preserve_order` is on.
        let canonical: Map<String, Value> = members.iter().map(|m| ((*m).to_owned(), jwk[*m].clone())).collect();
        let bytes = serde_json::to_vec(&canonical).expect("JSON serialises");
        Some(b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes).as_ref()))
    }

    /// Signs `message` with this key's algorithm.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DevIssuerError> {
        let rng = SystemRandom::new();
        let fail = || DevIssuerError::Key("signing failed".to_owned());
        match &self.material {
            Material::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(padding, &rng, message, &mut sig).map_err(|_| fail())?;
                Ok(sig)
            }
            Material::P256(kp) | Material::P384(kp) => {
                Ok(kp.sign(&rng, message).map_err(|_| fail())?.as_ref().to_vec())
            }
            Material::Ed25519(kp) => Ok(kp.sign(message).as_ref().to_vec()),
            Material::Hmac { key, .. } => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }

    /// Builds and signs a compact JWS: header `{"alg", "typ": "JWT", "kid"}`
    /// (the kid of this key, or `kid_override`) over `claims`.
    pub fn sign_jwt(&self, claims: &Map<String, Value>, kid_override: Option<&str>) -> Result<String, DevIssuerError> {
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.name().into());
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = kid_override.or(self.kid.as_deref()) {
            header.insert("kid".into(), kid.into());
        }
        let header = serde_json::to_vec(&header).expect("JSON map serialises");
        let claims = serde_json::to_vec(claims).expect("JSON map serialises");
        let mut token = format!("{}.{}", b64(&header), b64(&claims));
        let sig = self.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64(&sig));
        Ok(token)
    }
}

fn is_too_small(e: &aws_lc_rs::error::KeyRejected) -> bool {
    e.description_() == "TooSmall"
}

fn rsa_error(e: aws_lc_rs::error::KeyRejected, otherwise: &str) -> DevIssuerError {
    if is_too_small(&e) {
        let min = tokenkeep_core::jwk::MIN_RSA_BITS;
        return key_error(&format!(
            "the RSA key is too small: verifiers (tokenkeep's included) refuse RSA keys under {min} bits; generate one \
             of {min} bits or more (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:{min})"
        ));
    }
    key_error(otherwise)
}

fn ec_from_der(der: &[u8]) -> Result<Material, DevIssuerError> {
    if let Ok(kp) = EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(Material::P256(kp));
    }
    if let Ok(kp) = EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der) {
        return Ok(Material::P384(kp));
    }
    Err(key_error("unusable EC key (expected P-256 or P-384)"))
}

fn default_alg(material: &Material) -> Algorithm {
    match material {
        Material::Rsa(_) => Algorithm::RS256,
        Material::P256(_) => Algorithm::ES256,
        Material::P384(_) => Algorithm::ES384,
        Material::Ed25519(_) => Algorithm::EdDSA,
        Material::Hmac { alg, .. } => *alg,
    }
}

fn hmac_alg(alg: Algorithm) -> hmac::Algorithm {
    match alg {
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

fn hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}
