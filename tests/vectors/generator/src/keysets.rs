//! `keysets.json`: key sets with keys a verifier must skip, and duplicate kids.

use serde_json::{Value, json};

use crate::b64;
use crate::common::{G, V, del, file as vfile, set};

/// One key a verifier must skip: vector name suffix, what is wrong, the JWK, the reason.
struct Bad {
    name: &'static str,
    what: &'static str,
    jwk: Value,
    reason: &'static str,
}

fn bad_keys(g: &G) -> Vec<Bad> {
    let p256 = g.jwk_alg("ec-p256", Some("ES256"));
    let coord = |field: &str| b64::decode(p256[field].as_str().unwrap()).unwrap();
    let mut y = coord("y");
    *y.last_mut().unwrap() ^= 1;
    let x = coord("x");
    let rsa2_n = g.jwk("rsa-2")["n"].as_str().unwrap().to_string();
    let bad_n = format!("{}!{}", &rsa2_n[..100], &rsa2_n[101..]);
    vec![
        Bad {
            name: "unknown_kty",
            what: "a key of the unknown kty \"XYZ\"",
            jwk: json!({"kty": "XYZ", "kid": "xyz-1", "use": "sig", "x": "AQAB"}),
            reason: "unsupported_kty",
        },
        Bad {
            name: "oct_key",
            what: "a symmetric (oct) key published in the public set",
            jwk: set(g.oct("hs-1", "HS256"), "use", "sig"),
            reason: "symmetric_key_not_trusted",
        },
        Bad {
            name: "use_enc",
            what: "an RSA key with use \"enc\"",
            jwk: set(g.jwk_as("rsa-2", "rsa-2-enc", None), "use", "enc"),
            reason: "not_for_signing",
        },
        Bad {
            name: "key_ops_encrypt",
            what: "an RSA key with key_ops [\"encrypt\"] (and no use)",
            jwk: set(del(g.jwk_as("rsa-2", "rsa-2-encrypt", None), "use"), "key_ops", json!(["encrypt"])),
            reason: "key_ops_without_verify",
        },
        Bad {
            name: "alg_rsa_oaep",
            what: "an RSA key whose alg is the encryption algorithm \"RSA-OAEP\"",
            jwk: del(g.jwk_as("rsa-2", "rsa-2-oaep", Some("RSA-OAEP")), "use"),
            reason: "unsupported_alg",
        },
        Bad {
            name: "alg_rs256_on_ec_key",
            what: "a P-384 EC key whose alg is RS256",
            jwk: g.jwk_as("ec-p384", "ec-p384-rs256", Some("RS256")),
            reason: "alg_kty_mismatch",
        },
        Bad {
            name: "alg_es384_on_p256_key",
            what: "a P-256 EC key whose alg is ES384 (the P-384 algorithm)",
            jwk: g.jwk_as("ec-p256", "ec-p256-es384", Some("ES384")),
            reason: "alg_kty_mismatch",
        },
        Bad {
            name: "ec_point_not_on_curve",
            what: "a P-256 key whose point is not on the curve (y changed by one bit)",
            jwk: set(g.jwk_as("ec-p256", "ec-bad-point", Some("ES256")), "y", b64::encode(&y)),
            reason: "invalid_key_material",
        },
        Bad {
            name: "ec_short_x",
            what: "a P-256 key whose x is 31 bytes long",
            jwk: set(g.jwk_as("ec-p256", "ec-short-x", Some("ES256")), "x", b64::encode(&x[1..])),
            reason: "invalid_key_material",
        },
        Bad {
            name: "rsa_bad_base64_n",
            what: "an RSA key whose n contains a character outside base64url",
            jwk: set(g.jwk_as("rsa-2", "rsa-bad-n", Some("RS256")), "n", bad_n),
            reason: "invalid_key_material",
        },
        Bad {
            name: "rsa_missing_e",
            what: "an RSA key without e",
            jwk: del(g.jwk_as("rsa-2", "rsa-no-e", Some("RS256")), "e"),
            reason: "invalid_key_material",
        },
        Bad { name: "rsa_1024", what: "a 1024-bit RSA key", jwk: g.jwk("rsa-1024"), reason: "rsa_key_too_small" },
        Bad {
            name: "ec_p521",
            what: "a P-521 EC key",
            jwk: json!({
                "kty": "EC", "kid": "ec-p521", "use": "sig", "crv": "P-521",
                "x": b64::encode(&[0x01; 66]), "y": b64::encode(&[0x01; 66]),
            }),
            reason: "unsupported_curve",
        },
        Bad {
            name: "okp_x25519",
            what: "an OKP key on X25519, a key-agreement curve",
            jwk: json!({"kty": "OKP", "kid": "x25519-1", "use": "sig", "crv": "X25519", "x": g.jwk("ed-1")["x"]}),
            reason: "unsupported_curve",
        },
        Bad { name: "okp_ed448", what: "an OKP key on Ed448", jwk: g.ed448(), reason: "unsupported_curve" },
    ]
}

pub fn file(g: &G) -> Value {
    let good = || vec![g.jwk("rsa-1"), g.jwk("ec-p256"), g.jwk("ed-1")];
    let tokens = [("RS256", "rsa-1"), ("ES256", "ec-p256"), ("EdDSA", "ed-1")];
    let mut v = Vec::new();

    // One bad key first in an otherwise good set: a good token still verifies.
    let bad = bad_keys(g);
    for (i, b) in bad.iter().enumerate() {
        let (alg, key) = tokens[i % tokens.len()];
        let mut keys = vec![b.jwk.clone()];
        keys.extend(good());
        let kid = b.jwk["kid"].as_str().unwrap();
        v.push(
            V::new(
                &format!("keyset_skips_{}", b.name),
                &format!(
                    "A set holding {} next to good keys: that key is skipped and an {alg} token from {key} verifies.",
                    b.what
                ),
            )
            .keys(keys)
            .token(g.std_tok(alg, key))
            .skip(kid, b.reason)
            .ok(),
        );
    }

    // All of them at once.
    let mut keys = Vec::new();
    let mut all = V::new(
        "keyset_skips_every_bad_key",
        "A set holding every kind of bad key interleaved with the good ones: all bad keys are skipped and an ES256 token verifies.",
    );
    for (i, b) in bad.iter().enumerate() {
        keys.push(b.jwk.clone());
        all = all.skip(b.jwk["kid"].as_str().unwrap(), b.reason);
        if i % 5 == 4 {
            keys.push(good()[i / 5].clone());
        }
    }
    v.push(all.keys(keys).token(g.std_tok("ES256", "ec-p256")).ok());

    // A token naming a skipped key never verifies with it.
    let enc = &bad[2];
    v.push(
        V::new(
            "keyset_token_names_enc_key",
            "A token signed by rsa-2 and naming rsa-2's use \"enc\" entry is refused: that entry is skipped, so its kid is unknown.",
        )
        .keys([vec![enc.jwk.clone()], good()].concat())
        .token(g.tok(&crate::common::header("RS256", Some("rsa-2-enc")), &crate::common::claims(), "rsa-2"))
        .skip("rsa-2-enc", enc.reason)
        .code("unknown_kid"),
    );
    let oaep = &bad[4];
    v.push(
        V::new(
            "keyset_token_names_rsa_oaep_key",
            "A token signed by rsa-2 and naming rsa-2's RSA-OAEP entry is refused: that entry is skipped, so its kid is unknown.",
        )
        .keys([vec![oaep.jwk.clone()], good()].concat())
        .token(g.tok(&crate::common::header("RS256", Some("rsa-2-oaep")), &crate::common::claims(), "rsa-2"))
        .skip("rsa-2-oaep", oaep.reason)
        .code("unknown_kid"),
    );

    // key_ops that include verify are fine.
    v.push(
        V::new("keyset_key_ops_sign_verify", "A key with use \"sig\" and key_ops [\"sign\", \"verify\"] is usable.")
            .keys(vec![set(g.jwk("rsa-1"), "key_ops", json!(["sign", "verify"]))])
            .token(g.std_tok("RS256", "rsa-1"))
            .ok(),
    );

    // Duplicate kid across key types: the alg picks the key.
    let dup = || vec![g.jwk_as("rsa-1", "dup", Some("RS256")), g.jwk_as("ec-p256", "dup", Some("ES256"))];
    let hdr = |alg: &str| crate::common::header(alg, Some("dup"));
    v.push(
        V::new(
            "keyset_duplicate_kid_es256",
            "An RSA key and an EC key share kid \"dup\": an ES256 token with kid \"dup\" verifies with the EC key.",
        )
        .keys(dup())
        .token(g.tok(&hdr("ES256"), &crate::common::claims(), "ec-p256"))
        .ok(),
    );
    v.push(
        V::new(
            "keyset_duplicate_kid_rs256",
            "An RSA key and an EC key share kid \"dup\": an RS256 token with kid \"dup\" verifies with the RSA key.",
        )
        .keys(dup())
        .token(g.tok(&hdr("RS256"), &crate::common::claims(), "rsa-1"))
        .ok(),
    );

    vfile("Key sets with keys a verifier must skip (each listed with its reason) and kids shared across key types.", v)
}
