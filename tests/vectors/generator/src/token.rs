//! A small compact-JWS builder working on strings, so that hand-written
//! (duplicate-key, non-canonical) headers and payloads are as easy as normal ones.

use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::RsaPrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer as _};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::b64;

#[derive(Clone, Copy, Debug)]
pub enum Sha {
    S256,
    S384,
    S512,
}

impl Sha {
    /// The hash named by the last three characters of a JWS alg (`RS256` → SHA-256).
    pub fn of_alg(alg: &str) -> Sha {
        match &alg[alg.len() - 3..] {
            "256" => Sha::S256,
            "384" => Sha::S384,
            "512" => Sha::S512,
            _ => panic!("no hash in alg {alg}"),
        }
    }
}

/// How the third part of a token is made from its signing input.
pub enum Signer<'a> {
    /// RSASSA-PKCS1-v1_5 (deterministic).
    Rsa(&'a RsaPrivateKey, Sha),
    /// RSASSA-PSS, salt length = hash length, salt drawn from a ChaCha20Rng
    /// seeded with SHA-256 of the signing input (deterministic per vector).
    Pss(&'a RsaPrivateKey, Sha),
    /// ECDSA P-256/SHA-256 (RFC 6979), raw r||s.
    Es256(&'a p256::ecdsa::SigningKey),
    /// ECDSA P-256/SHA-256 (RFC 6979), DER-encoded (wrong for JWS).
    Es256Der(&'a p256::ecdsa::SigningKey),
    /// ECDSA P-384/SHA-384 (RFC 6979), raw r||s.
    Es384(&'a p384::ecdsa::SigningKey),
    /// Ed25519 (deterministic).
    Ed25519(&'a ed25519_dalek::SigningKey),
    /// HMAC with the given secret.
    Hmac(&'a [u8], Sha),
    /// These bytes, whatever the input.
    Fixed(Vec<u8>),
}

impl Signer<'_> {
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Signer::Rsa(key, sha) => {
                let key = (*key).clone();
                match sha {
                    Sha::S256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(key).sign(input).to_vec(),
                    Sha::S384 => rsa::pkcs1v15::SigningKey::<Sha384>::new(key).sign(input).to_vec(),
                    Sha::S512 => rsa::pkcs1v15::SigningKey::<Sha512>::new(key).sign(input).to_vec(),
                }
            }
            Signer::Pss(key, sha) => {
                let key = (*key).clone();
                let mut rng = ChaCha20Rng::from_seed(Sha256::digest(input).into());
                match sha {
                    Sha::S256 => rsa::pss::SigningKey::<Sha256>::new(key).sign_with_rng(&mut rng, input).to_vec(),
                    Sha::S384 => rsa::pss::SigningKey::<Sha384>::new(key).sign_with_rng(&mut rng, input).to_vec(),
                    Sha::S512 => rsa::pss::SigningKey::<Sha512>::new(key).sign_with_rng(&mut rng, input).to_vec(),
                }
            }
            Signer::Es256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(input);
                sig.to_bytes().to_vec()
            }
            Signer::Es256Der(key) => {
                let sig: p256::ecdsa::Signature = key.sign(input);
                sig.to_der().as_bytes().to_vec()
            }
            Signer::Es384(key) => {
                let sig: p384::ecdsa::Signature = key.sign(input);
                sig.to_bytes().to_vec()
            }
            Signer::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(input).to_bytes().to_vec()
            }
            Signer::Hmac(secret, sha) => match sha {
                Sha::S256 => hmac::<Hmac<Sha256>>(secret, input),
                Sha::S384 => hmac::<Hmac<Sha384>>(secret, input),
                Sha::S512 => hmac::<Hmac<Sha512>>(secret, input),
            },
            Signer::Fixed(bytes) => bytes.clone(),
        }
    }
}

fn hmac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

/// The three parts of a compact JWS, as text.
#[derive(Clone, Debug)]
pub struct Parts {
    pub header: String,
    pub payload: String,
    pub signature: String,
}

impl Parts {
    /// Encodes `header` and `payload` (JSON text, used byte for byte) canonically and signs.
    pub fn new(header: &str, payload: &str, signer: &Signer) -> Parts {
        Parts::from_encoded(b64::encode(header.as_bytes()), b64::encode(payload.as_bytes()), signer)
    }

    /// Signs the already-encoded (possibly non-canonical) first two parts as they stand.
    pub fn from_encoded(header: String, payload: String, signer: &Signer) -> Parts {
        let input = format!("{header}.{payload}");
        let signature = b64::encode(&signer.sign(input.as_bytes()));
        Parts { header, payload, signature }
    }

    pub fn compact(&self) -> String {
        format!("{}.{}.{}", self.header, self.payload, self.signature)
    }
}

/// A canonical compact JWS over the given header and payload JSON text.
pub fn jws(header: &str, payload: &str, signer: &Signer) -> String {
    Parts::new(header, payload, signer).compact()
}
