//! The fixed key material checked in under `keys/`, and its public JWK forms.
//!
//! Nothing here generates a key at run time except [`generate`], which is only
//! reached through `--generate-keys` and was run once to create `keys/`.

use std::fs;
use std::path::Path;

use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rsa::RsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::b64;

/// Every private key and secret the vectors are made with.
pub struct Keys {
    pub rsa1: RsaPrivateKey,
    pub rsa2: RsaPrivateKey,
    pub rsa3072: RsaPrivateKey,
    pub rsa1024: RsaPrivateKey,
    pub p256: p256::ecdsa::SigningKey,
    pub p384: p384::ecdsa::SigningKey,
    pub ed1: ed25519_dalek::SigningKey,
    /// 32 bytes, HS256 (`hs-1`).
    pub hs256: Vec<u8>,
    /// 48 bytes, HS384 (`hs-384`): RFC 7518 §3.2 wants a key at least as long as the hash.
    pub hs384: Vec<u8>,
    /// 64 bytes, HS512 (`hs-512`).
    pub hs512: Vec<u8>,
    /// A public Ed448 JWK (only ever skipped).
    pub ed448: Value,
}

const RSA_FILES: [(&str, usize, u64); 4] = [
    ("rsa-1", 2048, 0x746b_0001),
    ("rsa-2", 2048, 0x746b_0002),
    ("rsa-3072", 3072, 0x746b_0003),
    ("rsa-1024", 1024, 0x746b_0004),
];

fn read(dir: &Path, file: &str) -> Result<String, String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn read_json(dir: &Path, file: &str) -> Result<Value, String> {
    serde_json::from_str(&read(dir, file)?).map_err(|e| format!("parsing {file}: {e}"))
}

fn b64_field(v: &Value, field: &str, file: &str) -> Result<Vec<u8>, String> {
    let s = v[field].as_str().ok_or_else(|| format!("{file}: missing \"{field}\""))?;
    b64::decode(s).ok_or_else(|| format!("{file}: bad base64url in \"{field}\""))
}

fn rsa(dir: &Path, name: &str, bits: usize) -> Result<RsaPrivateKey, String> {
    let file = format!("{name}.pem");
    let key = RsaPrivateKey::from_pkcs8_pem(&read(dir, &file)?).map_err(|e| format!("{file}: {e}"))?;
    if key.n().bits() != bits {
        return Err(format!("{file}: expected a {bits}-bit modulus"));
    }
    Ok(key)
}

impl Keys {
    /// Loads the checked-in keys from `dir`.
    pub fn load(dir: &Path) -> Result<Keys, String> {
        let p256 =
            p256::SecretKey::from_pkcs8_pem(&read(dir, "ec-p256.pem")?).map_err(|e| format!("ec-p256.pem: {e}"))?;
        let p384 =
            p384::SecretKey::from_pkcs8_pem(&read(dir, "ec-p384.pem")?).map_err(|e| format!("ec-p384.pem: {e}"))?;

        let ed = read_json(dir, "ed-1.jwk.json")?;
        let d: [u8; 32] = b64_field(&ed, "d", "ed-1.jwk.json")?
            .try_into()
            .map_err(|_| "ed-1.jwk.json: d must be 32 bytes".to_string())?;
        let ed1 = ed25519_dalek::SigningKey::from_bytes(&d);
        if b64_field(&ed, "x", "ed-1.jwk.json")? != ed1.verifying_key().to_bytes() {
            return Err("ed-1.jwk.json: x does not match d".into());
        }

        let hmac = read_json(dir, "hmac.jwks.json")?;
        let secret = |kid: &str, len: usize| -> Result<Vec<u8>, String> {
            let k = hmac["keys"]
                .as_array()
                .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
                .ok_or_else(|| format!("hmac.jwks.json: no key {kid}"))?;
            let bytes = b64_field(k, "k", "hmac.jwks.json")?;
            if bytes.len() != len {
                return Err(format!("hmac.jwks.json: {kid} must be {len} bytes"));
            }
            Ok(bytes)
        };

        let ed448 = read_json(dir, "ed448-public.jwk.json")?;
        if b64_field(&ed448, "x", "ed448-public.jwk.json")?.len() != 57 {
            return Err("ed448-public.jwk.json: x must be 57 bytes".into());
        }

        Ok(Keys {
            rsa1: rsa(dir, "rsa-1", 2048)?,
            rsa2: rsa(dir, "rsa-2", 2048)?,
            rsa3072: rsa(dir, "rsa-3072", 3072)?,
            rsa1024: rsa(dir, "rsa-1024", 1024)?,
            p256: p256::ecdsa::SigningKey::from(&p256),
            p384: p384::ecdsa::SigningKey::from(&p384),
            ed1,
            hs256: secret("hs-1", 32)?,
            hs384: secret("hs-384", 48)?,
            hs512: secret("hs-512", 64)?,
            ed448,
        })
    }

    /// The RSA key called `name` (`rsa-1`, `rsa-2`, `rsa-3072`, `rsa-1024`).
    pub fn rsa(&self, name: &str) -> &RsaPrivateKey {
        match name {
            "rsa-1" => &self.rsa1,
            "rsa-2" => &self.rsa2,
            "rsa-3072" => &self.rsa3072,
            "rsa-1024" => &self.rsa1024,
            _ => panic!("no RSA key {name}"),
        }
    }

    /// The HMAC secret called `name` (`hs-1`, `hs-384`, `hs-512`).
    pub fn hmac(&self, name: &str) -> &[u8] {
        match name {
            "hs-1" => &self.hs256,
            "hs-384" => &self.hs384,
            "hs-512" => &self.hs512,
            _ => panic!("no HMAC secret {name}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Public JWKs. Member order is fixed: kty, kid, use, alg, then the key material.

fn uint(bytes: Vec<u8>) -> String {
    // BigUint::to_bytes_be is already minimal; guard against a stray zero anyway.
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
    b64::encode(&bytes[first..])
}

fn head(kty: &str, kid: &str, alg: Option<&str>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("kty".into(), kty.into());
    m.insert("kid".into(), kid.into());
    m.insert("use".into(), "sig".into());
    if let Some(alg) = alg {
        m.insert("alg".into(), alg.into());
    }
    m
}

/// `{"kty":"RSA","kid","use":"sig","alg","n","e"}` (alg omitted when `None`).
pub fn rsa_jwk(key: &RsaPrivateKey, kid: &str, alg: Option<&str>) -> Value {
    let mut m = head("RSA", kid, alg);
    m.insert("n".into(), uint(key.n().to_bytes_be()).into());
    m.insert("e".into(), uint(key.e().to_bytes_be()).into());
    Value::Object(m)
}

/// `{"kty":"EC","kid","use":"sig","alg","crv":"P-256","x","y"}`.
pub fn p256_jwk(key: &p256::ecdsa::SigningKey, kid: &str, alg: Option<&str>) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let mut m = head("EC", kid, alg);
    m.insert("crv".into(), "P-256".into());
    m.insert("x".into(), b64::encode(point.x().unwrap()).into());
    m.insert("y".into(), b64::encode(point.y().unwrap()).into());
    Value::Object(m)
}

/// `{"kty":"EC","kid","use":"sig","alg","crv":"P-384","x","y"}`.
pub fn p384_jwk(key: &p384::ecdsa::SigningKey, kid: &str, alg: Option<&str>) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let mut m = head("EC", kid, alg);
    m.insert("crv".into(), "P-384".into());
    m.insert("x".into(), b64::encode(point.x().unwrap()).into());
    m.insert("y".into(), b64::encode(point.y().unwrap()).into());
    Value::Object(m)
}

/// `{"kty":"OKP","kid","use":"sig","alg","crv":"Ed25519","x"}`.
pub fn ed25519_jwk(key: &ed25519_dalek::SigningKey, kid: &str, alg: Option<&str>) -> Value {
    let mut m = head("OKP", kid, alg);
    m.insert("crv".into(), "Ed25519".into());
    m.insert("x".into(), b64::encode(&key.verifying_key().to_bytes()).into());
    Value::Object(m)
}

/// `{"kty":"oct","kid","alg","k"}`: the form `hmac_keys` entries take.
pub fn oct_jwk(secret: &[u8], kid: &str, alg: &str) -> Value {
    json!({"kty": "oct", "kid": kid, "alg": alg, "k": b64::encode(secret)})
}

// ---------------------------------------------------------------------------
// One-time key generation (`--generate-keys DIR`). Kept for the record; the
// vectors never call it.

fn write_new(dir: &Path, file: &str, text: &str) -> Result<(), String> {
    let path = dir.join(file);
    if path.exists() {
        return Err(format!("{} exists; refusing to overwrite", path.display()));
    }
    fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("json");
    s.push('\n');
    s
}

pub fn generate(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for (name, bits, seed) in RSA_FILES {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let key = RsaPrivateKey::new(&mut rng, bits).map_err(|e| e.to_string())?;
        let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, LineEnding::LF).map_err(|e| e.to_string())?;
        write_new(dir, &format!("{name}.pem"), &pem)?;
    }

    let mut rng = ChaCha20Rng::seed_from_u64(0x746b_0010);
    let p256 = p256::SecretKey::random(&mut rng);
    let pem = p256.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    write_new(dir, "ec-p256.pem", &pem)?;

    let mut rng = ChaCha20Rng::seed_from_u64(0x746b_0011);
    let p384 = p384::SecretKey::random(&mut rng);
    let pem = p384.to_pkcs8_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    write_new(dir, "ec-p384.pem", &pem)?;

    let mut rng = ChaCha20Rng::seed_from_u64(0x746b_0012);
    let ed = ed25519_dalek::SigningKey::generate(&mut rng);
    let jwk = json!({
        "kty": "OKP", "kid": "ed-1", "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
        "x": b64::encode(&ed.verifying_key().to_bytes()),
        "d": b64::encode(&ed.to_bytes()),
    });
    write_new(dir, "ed-1.jwk.json", &pretty(&jwk))?;

    let mut rng = ChaCha20Rng::seed_from_u64(0x746b_0013);
    let mut bytes = |n: usize| {
        let mut b = vec![0u8; n];
        rng.fill_bytes(&mut b);
        b
    };
    let hmac = json!({"keys": [
        oct_jwk(&bytes(32), "hs-1", "HS256"),
        oct_jwk(&bytes(48), "hs-384", "HS384"),
        oct_jwk(&bytes(64), "hs-512", "HS512"),
    ]});
    write_new(dir, "hmac.jwks.json", &pretty(&hmac))?;

    let ed448 = json!({
        "kty": "OKP", "kid": "ed448-1", "use": "sig", "crv": "Ed448", "x": b64::encode(&bytes(57)),
    });
    write_new(dir, "ed448-public.jwk.json", &pretty(&ed448))?;
    Ok(())
}
