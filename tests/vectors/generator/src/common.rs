//! What every vector file shares: the fixed clock and claims, a key-name
//! context, and the vector builder.

use serde_json::{Map, Value, json};

use crate::b64;
use crate::keys::{self, Keys};
use crate::token::{self, Sha, Signer};

pub const ISS: &str = "https://issuer.tokenkeep.test";
pub const AUD: &str = "api://default";
pub const SUB: &str = "user-123";
/// 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;
pub const IAT: i64 = NOW - 60;
pub const EXP: i64 = NOW + 3600;

pub const REJECTION_CODES: [&str; 17] = [
    "missing_token",
    "malformed",
    "unsupported_alg",
    "alg_not_allowed",
    "unknown_kid",
    "invalid_signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "too_old",
    "wrong_issuer",
    "wrong_audience",
    "missing_claim",
    "subject_not_allowed",
    "wrong_type",
    "keys_unavailable",
    "token_too_large",
];

pub const SKIP_CODES: [&str; 9] = [
    "unsupported_kty",
    "unsupported_curve",
    "rsa_key_too_small",
    "not_for_signing",
    "key_ops_without_verify",
    "symmetric_key_not_trusted",
    "unsupported_alg",
    "alg_kty_mismatch",
    "invalid_key_material",
];

/// The claims of a valid token: iss, sub, aud, iat, exp.
pub fn claims() -> Value {
    json!({"iss": ISS, "sub": SUB, "aud": AUD, "iat": IAT, "exp": EXP})
}

/// `{"alg", "kid", "typ": "JWT"}` (kid omitted when `None`).
pub fn header(alg: &str, kid: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("alg".into(), alg.into());
    if let Some(kid) = kid {
        m.insert("kid".into(), kid.into());
    }
    m.insert("typ".into(), "JWT".into());
    Value::Object(m)
}

/// `{"issuers": [ISS], "audiences": [AUD]}`.
pub fn policy() -> Value {
    json!({"issuers": [ISS], "audiences": [AUD]})
}

/// Sets (or replaces in place) member `key` of a JSON object.
pub fn set(mut v: Value, key: &str, x: impl Into<Value>) -> Value {
    v.as_object_mut().expect("object").insert(key.into(), x.into());
    v
}

/// Removes member `key` of a JSON object, keeping the order of the rest.
pub fn del(mut v: Value, key: &str) -> Value {
    v.as_object_mut().expect("object").shift_remove(key);
    v
}

/// Compact JSON text.
pub fn text(v: &Value) -> String {
    serde_json::to_string(v).expect("json")
}

/// The keys, looked up by the names the vectors use (which are also their kids).
pub struct G<'a> {
    pub k: &'a Keys,
}

impl G<'_> {
    /// The signer for `alg` with the private key `key`.
    pub fn signer(&self, key: &str, alg: &str) -> Signer<'_> {
        match alg {
            "RS256" | "RS384" | "RS512" => Signer::Rsa(self.k.rsa(key), Sha::of_alg(alg)),
            "PS256" | "PS384" | "PS512" => Signer::Pss(self.k.rsa(key), Sha::of_alg(alg)),
            "ES256" => {
                assert_eq!(key, "ec-p256");
                Signer::Es256(&self.k.p256)
            }
            "ES384" => {
                assert_eq!(key, "ec-p384");
                Signer::Es384(&self.k.p384)
            }
            "EdDSA" | "Ed25519" => {
                assert_eq!(key, "ed-1");
                Signer::Ed25519(&self.k.ed1)
            }
            "HS256" | "HS384" | "HS512" => Signer::Hmac(self.k.hmac(key), Sha::of_alg(alg)),
            _ => panic!("no signer for {alg}"),
        }
    }

    /// A canonical token: `header` and `payload` serialized compactly, signed by
    /// `key` with the algorithm the header names.
    pub fn tok(&self, header: &Value, payload: &Value, key: &str) -> String {
        let alg = header["alg"].as_str().expect("alg");
        token::jws(&text(header), &text(payload), &self.signer(key, alg))
    }

    /// The usual valid token for `alg` signed by `key`, with kid = `key`.
    pub fn std_tok(&self, alg: &str, key: &str) -> String {
        self.tok(&header(alg, Some(key)), &claims(), key)
    }

    /// The default algorithm a JWK for `key` carries.
    fn default_alg(key: &str) -> &'static str {
        match key {
            "ec-p256" => "ES256",
            "ec-p384" => "ES384",
            "ed-1" => "EdDSA",
            k if k.starts_with("rsa-") => "RS256",
            _ => panic!("no public key {key}"),
        }
    }

    /// The public JWK of `key` with kid = `key` and its default alg.
    pub fn jwk(&self, key: &str) -> Value {
        self.jwk_as(key, key, Some(Self::default_alg(key)))
    }

    /// The public JWK of `key` with the given alg (or none).
    pub fn jwk_alg(&self, key: &str, alg: Option<&str>) -> Value {
        self.jwk_as(key, key, alg)
    }

    /// The public JWK of `key` under another kid.
    pub fn jwk_as(&self, key: &str, kid: &str, alg: Option<&str>) -> Value {
        match key {
            "ec-p256" => keys::p256_jwk(&self.k.p256, kid, alg),
            "ec-p384" => keys::p384_jwk(&self.k.p384, kid, alg),
            "ed-1" => keys::ed25519_jwk(&self.k.ed1, kid, alg),
            k if k.starts_with("rsa-") => keys::rsa_jwk(self.k.rsa(k), kid, alg),
            _ => panic!("no public key {key}"),
        }
    }

    /// The Ed448 public JWK (`ed448-1`).
    pub fn ed448(&self) -> Value {
        self.k.ed448.clone()
    }

    /// An `hmac_keys` entry for the secret `key`.
    pub fn oct(&self, key: &str, alg: &str) -> Value {
        keys::oct_jwk(self.k.hmac(key), key, alg)
    }
}

/// Builds one vector object with members in schema order.
pub struct V {
    name: String,
    description: String,
    jwks: Option<Value>,
    hmac_keys: Option<Value>,
    token: Option<String>,
    policy: Value,
    now: i64,
    expect: Option<Value>,
    skipped: Vec<(String, String)>,
}

impl V {
    pub fn new(name: &str, description: &str) -> V {
        V {
            name: name.into(),
            description: description.into(),
            jwks: None,
            hmac_keys: None,
            token: None,
            policy: policy(),
            now: NOW,
            expect: None,
            skipped: Vec::new(),
        }
    }

    /// `"jwks": {"keys": keys}`.
    pub fn keys(mut self, keys: Vec<Value>) -> V {
        self.jwks = Some(json!({ "keys": keys }));
        self
    }

    pub fn hmac(mut self, keys: Vec<Value>) -> V {
        self.hmac_keys = Some(Value::Array(keys));
        self
    }

    pub fn token(mut self, token: impl Into<String>) -> V {
        self.token = Some(token.into());
        self
    }

    pub fn policy(mut self, policy: Value) -> V {
        self.policy = policy;
        self
    }

    /// Adds one member to the (default) policy.
    pub fn pol(mut self, key: &str, value: impl Into<Value>) -> V {
        self.policy = set(self.policy, key, value);
        self
    }

    /// The token verifies: expect its own header fields and full payload.
    pub fn ok(mut self) -> V {
        let token = self.token.as_deref().expect("token before ok()");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{}: not a compact JWS", self.name);
        let decode = |p: &str| -> Value {
            let bytes = b64::decode(p).expect("canonical base64url");
            serde_json::from_slice(&bytes).expect("JSON")
        };
        let h = decode(parts[0]);
        let claims = decode(parts[1]);
        assert!(claims.is_object(), "{}: payload is not an object", self.name);
        let field = |k: &str| h.get(k).cloned().unwrap_or(Value::Null);
        self.expect = Some(json!({
            "claims": claims,
            "header": {"alg": field("alg"), "kid": field("kid"), "typ": field("typ")},
        }));
        self
    }

    /// The token is rejected with `code`.
    pub fn code(mut self, code: &str) -> V {
        assert!(REJECTION_CODES.contains(&code), "unknown rejection code {code}");
        self.expect = Some(json!({ "code": code }));
        self
    }

    /// A key of `jwks` the verifier must skip, and why.
    pub fn skip(mut self, kid: &str, reason: &str) -> V {
        assert!(SKIP_CODES.contains(&reason), "unknown skip code {reason}");
        self.skipped.push((kid.into(), reason.into()));
        self
    }

    pub fn build(self) -> Value {
        let name = &self.name;
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}: not snake_case"
        );
        let jwks = self.jwks.unwrap_or_else(|| panic!("{name}: no jwks"));
        for (kid, _) in &self.skipped {
            let listed = jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == **kid);
            assert!(listed, "{name}: skipped kid {kid} is not in jwks");
        }
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("description".into(), self.description.into());
        m.insert("jwks".into(), jwks);
        if let Some(h) = self.hmac_keys {
            m.insert("hmac_keys".into(), h);
        }
        m.insert("token".into(), self.token.unwrap_or_else(|| panic!("{name}: no token")).into());
        m.insert("policy".into(), self.policy);
        m.insert("now".into(), self.now.into());
        m.insert("expect".into(), self.expect.unwrap_or_else(|| panic!("{name}: no expectation")));
        if !self.skipped.is_empty() {
            let list: Vec<Value> =
                self.skipped.into_iter().map(|(kid, reason)| json!({"kid": kid, "reason": reason})).collect();
            m.insert("expect_skipped".into(), list.into());
        }
        Value::Object(m)
    }
}

/// A vector file: `{"schema": 1, "description", "vectors"}`.
pub fn file(description: &str, vectors: Vec<V>) -> Value {
    let vectors: Vec<Value> = vectors.into_iter().map(V::build).collect();
    json!({"schema": 1, "description": description, "vectors": vectors})
}
