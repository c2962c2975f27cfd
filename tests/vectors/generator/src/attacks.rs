//! `attacks.json`: RFC 8725 and the history of JWT library CVEs.

use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::b64;
use crate::common::{G, NOW, V, claims, file as vfile, header, set, text};
use crate::token::{Parts, Sha, Signer, jws};

/// The order n of P-256, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn alphabet_index(c: u8) -> usize {
    b64::ALPHABET.iter().position(|&a| a == c).expect("base64url character")
}

pub fn file(g: &G) -> Value {
    let rsa1 = || vec![g.jwk("rsa-1")];
    let h = || header("RS256", Some("rsa-1"));
    let rs1 = || g.signer("rsa-1", "RS256");
    let rs_text = |header: &str, payload: &str| jws(header, payload, &rs1());
    let mut v = Vec::new();

    // --- alg "none" and its spellings (CVE-2015-9235 and friends).
    let none_h = json!({"alg": "none", "typ": "JWT"});
    v.push(
        V::new("alg_none_empty_signature", "An unsecured token (alg \"none\", empty signature) is never accepted.")
            .keys(rsa1())
            .token(Parts::new(&text(&none_h), &text(&claims()), &Signer::Fixed(vec![])).compact())
            .code("alg_not_allowed"),
    );
    v.push(
        V::new("alg_none_with_signature", "alg \"none\" is refused even when a (valid RS256) signature is attached.")
            .keys(rsa1())
            .token(Parts::new(&text(&none_h), &text(&claims()), &rs1()).compact())
            .code("alg_not_allowed"),
    );
    for (name, alg) in [("alg_none_capitalized", "None"), ("alg_none_uppercase", "NONE")] {
        v.push(
            V::new(
                name,
                &format!("alg \"{alg}\" is not \"none\" (names are case-sensitive) and is no supported algorithm."),
            )
            .keys(rsa1())
            .token(
                Parts::new(&text(&json!({"alg": alg, "typ": "JWT"})), &text(&claims()), &Signer::Fixed(vec![]))
                    .compact(),
            )
            .code("unsupported_alg"),
        );
    }

    // --- HMAC/RSA key confusion (CVE-2016-10555 and many since).
    let spki_pem = g.k.rsa1.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let pkcs1_pem = g.k.rsa1.to_public_key().to_pkcs1_pem(LineEnding::LF).unwrap();
    v.push(
        V::new(
            "hs256_key_confusion_spki_pem",
            "An HS256 token MACed with rsa-1's public key PEM (SPKI) as the secret is refused: kid rsa-1 is an RSA key, and no HMAC secret was supplied.",
        )
        .keys(rsa1())
        .token(jws(
            &text(&header("HS256", Some("rsa-1"))),
            &text(&claims()),
            &Signer::Hmac(spki_pem.as_bytes(), Sha::S256),
        ))
        .pol("algorithms", json!(["RS256", "HS256"]))
        .code("alg_not_allowed"),
    );
    v.push(
        V::new(
            "hs256_key_confusion_pkcs1_pem_jwk_without_alg",
            "An HS256 token MACed with rsa-1's PKCS#1 public key PEM is refused even though the RSA JWK has no alg: RSA keys never verify HS*.",
        )
        .keys(vec![g.jwk_alg("rsa-1", None)])
        .token(jws(
            &text(&header("HS256", Some("rsa-1"))),
            &text(&claims()),
            &Signer::Hmac(pkcs1_pem.as_bytes(), Sha::S256),
        ))
        .pol("algorithms", json!(["RS256", "HS256"]))
        .code("alg_not_allowed"),
    );
    let jwk_text = text(&g.jwk("rsa-1"));
    v.push(
        V::new(
            "hs256_key_confusion_jwk_json",
            "An HS256 token MACed with the JSON text of rsa-1's JWK as the secret is refused: kid rsa-1 is an RSA key.",
        )
        .keys(rsa1())
        .token(jws(
            &text(&header("HS256", Some("rsa-1"))),
            &text(&claims()),
            &Signer::Hmac(jwk_text.as_bytes(), Sha::S256),
        ))
        .pol("algorithms", json!(["RS256", "HS256"]))
        .code("alg_not_allowed"),
    );
    v.push(
        V::new(
            "oct_key_in_public_jwks_ignored",
            "An HS256 token MACed with an oct key published inside the public jwks is not verified with it: that key is skipped, so its kid is unknown.",
        )
        .keys(vec![g.jwk("rsa-1"), set(g.oct("hs-1", "HS256"), "use", "sig")])
        .token(g.std_tok("HS256", "hs-1"))
        .pol("algorithms", json!(["RS256", "HS256"]))
        .skip("hs-1", "symmetric_key_not_trusted")
        .code("unknown_kid"),
    );

    // --- Algorithm bound to the key.
    v.push(
        V::new(
            "eddsa_token_with_rsa_kid",
            "An EdDSA token (signed by ed-1) naming the RSA key rsa-1 is refused: the key's algorithm is RS256.",
        )
        .keys(vec![g.jwk("rsa-1"), g.jwk("ed-1")])
        .token(g.tok(&header("EdDSA", Some("rsa-1")), &claims(), "ed-1"))
        .code("alg_not_allowed"),
    );
    v.push(
        V::new(
            "es256_token_with_p384_kid",
            "An ES256 token (signed by ec-p256) naming the P-384 key is refused: that key verifies only ES384.",
        )
        .keys(vec![g.jwk("ec-p256"), g.jwk("ec-p384")])
        .token(g.tok(&header("ES256", Some("ec-p384")), &claims(), "ec-p256"))
        .code("alg_not_allowed"),
    );
    v.push(
        V::new(
            "rs256_token_with_ps256_key",
            "A correctly signed RS256 token is refused when its key's JWK alg is PS256.",
        )
        .keys(vec![g.jwk_alg("rsa-1", Some("PS256"))])
        .token(g.std_tok("RS256", "rsa-1"))
        .code("alg_not_allowed"),
    );

    // --- ECDSA signature encodings (CVE-2022-21449 "psychic signatures" and DER confusion).
    let es = |sig: Vec<u8>| {
        Parts::new(&text(&header("ES256", Some("ec-p256"))), &text(&claims()), &Signer::Fixed(sig)).compact()
    };
    let good_es = Signer::Es256(&g.k.p256).sign(
        format!(
            "{}.{}",
            b64::encode(text(&header("ES256", Some("ec-p256"))).as_bytes()),
            b64::encode(text(&claims()).as_bytes())
        )
        .as_bytes(),
    );
    let p256 = || vec![g.jwk("ec-p256")];
    v.push(
        V::new("es256_zero_signature", "An ES256 signature with r = 0 and s = 0 (64 zero bytes) never verifies.")
            .keys(p256())
            .token(es(vec![0; 64]))
            .code("invalid_signature"),
    );
    v.push(
        V::new(
            "es256_der_signature",
            "A valid ES256 signature DER-encoded (as X.509 uses) instead of the raw r||s JWS requires is rejected.",
        )
        .keys(p256())
        .token(jws(&text(&header("ES256", Some("ec-p256"))), &text(&claims()), &Signer::Es256Der(&g.k.p256)))
        .code("invalid_signature"),
    );
    v.push(
        V::new(
            "es256_signature_too_short",
            "A valid ES256 signature with its last byte cut off (63 bytes) is rejected.",
        )
        .keys(p256())
        .token(es(good_es[..63].to_vec()))
        .code("invalid_signature"),
    );
    v.push(
        V::new("es256_signature_too_long", "A valid ES256 signature with a zero byte appended (65 bytes) is rejected.")
            .keys(p256())
            .token(es([good_es.as_slice(), &[0]].concat()))
            .code("invalid_signature"),
    );
    v.push(
        V::new("es256_r_equals_order", "An ES256 signature whose r is the group order n (out of range) is rejected.")
            .keys(p256())
            .token(es([P256_ORDER.as_slice(), &good_es[32..]].concat()))
            .code("invalid_signature"),
    );

    // --- crit and b64 (RFC 7515 §4.1.11, RFC 7797).
    let crit_cases: [(&str, &str, Value); 4] = [
        (
            "crit_unknown_extension",
            "A header listing an unknown extension in crit (with that member present) must be rejected.",
            set(set(h(), "crit", json!(["exp-foo"])), "exp-foo", 1),
        ),
        ("crit_empty_array", "A crit member that is an empty array is invalid.", set(h(), "crit", json!([]))),
        (
            "crit_not_array",
            "A crit member that is a string, not an array, is invalid.",
            set(set(h(), "crit", "exp-foo"), "exp-foo", 1),
        ),
        (
            "b64_false_unencoded_payload",
            "b64 false with crit [\"b64\"] (RFC 7797 unencoded payload) is not supported and must be rejected.",
            set(set(h(), "b64", false), "crit", json!(["b64"])),
        ),
    ];
    for (name, description, header) in crit_cases {
        v.push(V::new(name, description).keys(rsa1()).token(g.tok(&header, &claims(), "rsa-1")).code("malformed"));
    }

    // --- Duplicate member names (parser differentials).
    let claims_text = text(&claims());
    let body = &claims_text[1..claims_text.len() - 1];
    v.push(
        V::new(
            "duplicate_header_alg_rs256_then_none",
            "A signed header with alg twice (\"RS256\", then \"none\") is malformed.",
        )
        .keys(rsa1())
        .token(rs_text(r#"{"alg":"RS256","alg":"none","kid":"rsa-1","typ":"JWT"}"#, &claims_text))
        .code("malformed"),
    );
    v.push(
        V::new(
            "duplicate_header_alg_none_then_rs256",
            "A signed header with alg twice (\"none\", then \"RS256\") is malformed, whichever occurrence a parser keeps.",
        )
        .keys(rsa1())
        .token(rs_text(r#"{"alg":"none","alg":"RS256","kid":"rsa-1","typ":"JWT"}"#, &claims_text))
        .code("malformed"),
    );
    v.push(
        V::new("duplicate_header_kid", "A signed header with kid twice is malformed.")
            .keys(vec![g.jwk("rsa-1"), g.jwk("rsa-2")])
            .token(rs_text(r#"{"alg":"RS256","kid":"rsa-2","kid":"rsa-1","typ":"JWT"}"#, &claims_text))
            .code("malformed"),
    );
    v.push(
        V::new("duplicate_payload_sub", "A signed payload with sub twice (\"user-123\", then \"admin\") is malformed.")
            .keys(rsa1())
            .token(rs_text(&text(&h()), &format!(r#"{{{body},"sub":"admin"}}"#)))
            .code("malformed"),
    );
    v.push(
        V::new("duplicate_payload_exp", "A signed payload with exp twice (valid, then long past) is malformed.")
            .keys(rsa1())
            .token(rs_text(&text(&h()), &format!(r#"{{{body},"exp":{}}}"#, NOW - 86400)))
            .code("malformed"),
    );

    // --- Non-canonical base64url. Each token is signed over its parts exactly as
    // they appear, so only a lenient decoder would accept it.
    let header_text = text(&h());
    assert_ne!(header_text.len() % 3, 0, "header needs padding");
    assert_ne!(claims_text.len() % 3, 0, "payload needs padding");
    let canon_h = b64::encode(header_text.as_bytes());
    let canon_p = b64::encode(claims_text.as_bytes());
    let signed = |hp: &str, pp: &str| Parts::from_encoded(hp.into(), pp.into(), &rs1());
    v.push(
        V::new("base64_padding_header", "The header part carries '=' padding.")
            .keys(rsa1())
            .token(signed(&b64::encode_padded(header_text.as_bytes()), &canon_p).compact())
            .code("malformed"),
    );
    v.push(
        V::new("base64_padding_payload", "The payload part carries '=' padding.")
            .keys(rsa1())
            .token(signed(&canon_h, &b64::encode_padded(claims_text.as_bytes())).compact())
            .code("malformed"),
    );
    let good = signed(&canon_h, &canon_p);
    let sig_bytes = b64::decode(&good.signature).unwrap();
    assert_eq!(sig_bytes.len(), 256);
    v.push(
        V::new("base64_padding_signature", "The signature part carries '==' padding.")
            .keys(rsa1())
            .token(Parts { signature: b64::encode_padded(&sig_bytes), ..good.clone() }.compact())
            .code("malformed"),
    );
    let std_sig = good.signature.replace('-', "+").replace('_', "/");
    assert_ne!(std_sig, good.signature, "signature has no - or _");
    v.push(
        V::new(
            "base64_standard_alphabet_signature",
            "The signature is encoded with the standard alphabet ('+' and '/' instead of '-' and '_').",
        )
        .keys(rsa1())
        .token(Parts { signature: std_sig, ..good.clone() }.compact())
        .code("malformed"),
    );
    // A payload whose encoding contains '-' or '_'. In ASCII text only '>', '?',
    // '~' and DEL can produce those, and only as the third byte of a group, so
    // the jti carries "?>~" and is shifted until one lands there.
    let std_payload = (0..3)
        .map(|i| b64::encode(text(&set(claims(), "jti", format!("{}?>~", "x".repeat(i)))).as_bytes()))
        .find(|e| e.contains('-') || e.contains('_'))
        .expect("a payload encoding with - or _");
    v.push(
        V::new(
            "base64_standard_alphabet_payload",
            "The payload is encoded with the standard alphabet ('+' or '/' instead of '-' or '_').",
        )
        .keys(rsa1())
        .token(signed(&canon_h, &std_payload.replace('-', "+").replace('_', "/")).compact())
        .code("malformed"),
    );
    let mid = canon_p.len() / 2;
    v.push(
        V::new("base64_space_in_payload", "The payload part has a space in the middle.")
            .keys(rsa1())
            .token(signed(&canon_h, &format!("{} {}", &canon_p[..mid], &canon_p[mid..])).compact())
            .code("malformed"),
    );
    v.push(
        V::new(
            "base64_newline_in_signature",
            "The signature part is line-wrapped after 64 characters, as MIME base64 would be.",
        )
        .keys(rsa1())
        .token(
            Parts { signature: format!("{}\n{}", &good.signature[..64], &good.signature[64..]), ..good.clone() }
                .compact(),
        )
        .code("malformed"),
    );
    // 256 bytes = 85 groups of 3 + 1 byte: the last of 342 characters holds 2 data
    // bits and 4 bits that must be zero. Set the lowest of them.
    let last = *good.signature.as_bytes().last().unwrap();
    let idx = alphabet_index(last);
    assert_eq!(idx & 0x0f, 0);
    let mut sig = good.signature.clone();
    sig.pop();
    sig.push(b64::ALPHABET[idx | 1] as char);
    v.push(
        V::new(
            "base64_nonzero_trailing_bits_signature",
            "The signature's last character has non-zero unused low bits: it decodes to the same bytes but is not canonical.",
        )
        .keys(rsa1())
        .token(Parts { signature: sig, ..good.clone() }.compact())
        .code("malformed"),
    );

    // --- JWE instead of JWS.
    let jwe_h = b64::encode(br#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa-1"}"#);
    v.push(
        V::new("jwe_compact_five_parts", "A compact JWE (five parts) is not a signed token.")
            .keys(rsa1())
            .token(format!(
                "{jwe_h}.{}.{}.{}.{}",
                b64::encode(&[0x11; 256]),
                b64::encode(&[0x22; 12]),
                b64::encode(claims_text.as_bytes()),
                b64::encode(&[0x33; 16])
            ))
            .code("malformed"),
    );

    // --- Key-location headers are ignored (jku, x5u, jwk).
    let attacker = g.jwk_as("rsa-2", "attacker-1", Some("RS256"));
    let att_h = || header("RS256", Some("attacker-1"));
    let by_attacker = |header: &Value| g.tok(header, &claims(), "rsa-2");
    v.push(
        V::new(
            "jku_header_ignored",
            "A jku header pointing at the attacker's key set is ignored, so the attacker's kid is unknown.",
        )
        .keys(rsa1())
        .token(by_attacker(&set(att_h(), "jku", "https://attacker.tokenkeep.test/jwks.json")))
        .code("unknown_kid"),
    );
    v.push(
        V::new(
            "x5u_header_ignored",
            "An x5u header pointing at the attacker's certificate is ignored, so the attacker's kid is unknown.",
        )
        .keys(rsa1())
        .token(by_attacker(&set(att_h(), "x5u", "https://attacker.tokenkeep.test/cert.pem")))
        .code("unknown_kid"),
    );
    v.push(
        V::new(
            "jwk_header_attacker_key_ignored",
            "A jwk header embedding the attacker's key (CVE-2018-0114) is ignored, so the attacker's kid is unknown.",
        )
        .keys(rsa1())
        .token(by_attacker(&set(att_h(), "jwk", attacker.clone())))
        .code("unknown_kid"),
    );
    v.push(
        V::new(
            "jwk_header_legit_key_attacker_signature",
            "A token naming rsa-1 and embedding rsa-1's public JWK, but signed by the attacker, fails verification with the trusted rsa-1.",
        )
        .keys(rsa1())
        .token(by_attacker(&set(h(), "jwk", g.jwk("rsa-1"))))
        .code("invalid_signature"),
    );
    v.push(
        V::new(
            "jwk_header_without_kid",
            "A token without kid embedding the attacker's key is checked against the set's only RS256 key and fails.",
        )
        .keys(rsa1())
        .token(by_attacker(&set(header("RS256", None), "jwk", del_kid(attacker))))
        .code("invalid_signature"),
    );

    // --- Claim types.
    let type_cases: [(&str, &str, &str, Value); 4] = [
        ("exp_as_string", "exp is the string \"9999999999\", not a number.", "exp", json!("9999999999")),
        ("nbf_as_string", "nbf is a numeric string, not a number.", "nbf", json!((NOW - 60).to_string())),
        ("exp_as_boolean", "exp is the boolean true, not a number.", "exp", json!(true)),
        ("iat_as_string", "iat is a numeric string, not a number.", "iat", json!((NOW - 60).to_string())),
    ];
    for (name, description, claim, value) in type_cases {
        v.push(
            V::new(name, description)
                .keys(rsa1())
                .token(g.tok(&h(), &set(claims(), claim, value), "rsa-1"))
                .code("malformed"),
        );
    }
    v.push(
        V::new("iss_as_array", "iss is an array containing the trusted issuer, which is not a trusted issuer string.")
            .keys(rsa1())
            .token(g.tok(&h(), &set(claims(), "iss", json!([crate::common::ISS])), "rsa-1"))
            .code("wrong_issuer"),
    );
    v.push(
        V::new("kid_as_number", "A kid that is a JSON number, not a string, is malformed.")
            .keys(rsa1())
            .token(g.tok(&set(h(), "kid", 1), &claims(), "rsa-1"))
            .code("malformed"),
    );

    // --- kid lookups.
    v.push(
        V::new("kid_matches_no_key", "A correctly signed token whose kid matches no key is rejected.")
            .keys(vec![g.jwk("rsa-2")])
            .token(g.std_tok("RS256", "rsa-1"))
            .code("unknown_kid"),
    );
    v.push(
        V::new("kid_path_traversal", "A kid like \"../../../dev/null\" is only ever compared, never used as a path.")
            .keys(rsa1())
            .token(g.tok(&header("RS256", Some("../../../dev/null")), &claims(), "rsa-1"))
            .code("unknown_kid"),
    );
    v.push(
        V::new("kid_sql_injection", "A kid like \"x' OR '1'='1\" is only ever compared, never interpolated.")
            .keys(rsa1())
            .token(g.tok(&header("RS256", Some("x' OR '1'='1")), &claims(), "rsa-1"))
            .code("unknown_kid"),
    );
    v.push(
        V::new(
            "no_kid_ambiguous_keys",
            "A token without kid is rejected when two keys in the set (rsa-1 and rsa-2) could verify RS256.",
        )
        .keys(vec![g.jwk("rsa-1"), g.jwk("rsa-2")])
        .token(g.tok(&header("RS256", None), &claims(), "rsa-1"))
        .code("unknown_kid"),
    );
    v.push(
        V::new("signature_stripped", "An RS256 token with its signature removed (empty third part) does not verify.")
            .keys(rsa1())
            .token(format!("{canon_h}.{canon_p}."))
            .code("invalid_signature"),
    );

    // --- Weak and unsupported keys are skipped, not used.
    v.push(
        V::new(
            "rsa_1024_only_key",
            "A token signed by a 1024-bit RSA key is refused: the set's only key is too small and skipped.",
        )
        .keys(vec![g.jwk("rsa-1024")])
        .token(g.std_tok("RS256", "rsa-1024"))
        .skip("rsa-1024", "rsa_key_too_small")
        .code("keys_unavailable"),
    );
    v.push(
        V::new(
            "rsa_1024_next_to_rsa_1",
            "A token signed by a 1024-bit RSA key is refused: that key is skipped, so its kid is unknown among the usable keys.",
        )
        .keys(vec![g.jwk("rsa-1024"), g.jwk("rsa-1")])
        .token(g.std_tok("RS256", "rsa-1024"))
        .skip("rsa-1024", "rsa_key_too_small")
        .code("unknown_kid"),
    );
    v.push(
        V::new(
            "ed448_kid_with_eddsa_token",
            "An EdDSA token naming the Ed448 key is refused: Ed448 keys are skipped, so the kid is unknown.",
        )
        .keys(vec![g.ed448(), g.jwk("ed-1")])
        .token(g.tok(&header("EdDSA", Some("ed448-1")), &claims(), "ed-1"))
        .skip("ed448-1", "unsupported_curve")
        .code("unknown_kid"),
    );
    v.push(
        V::new(
            "ed25519_next_to_ed448",
            "An EdDSA token from ed-1 verifies in a set that also holds a (skipped) Ed448 key.",
        )
        .keys(vec![g.ed448(), g.jwk("ed-1")])
        .token(g.std_tok("EdDSA", "ed-1"))
        .skip("ed448-1", "unsupported_curve")
        .ok(),
    );

    vfile(
        "Attacks from RFC 8725 and the history of JWT library CVEs; each must be rejected (or, where stated, safely verified).",
        v,
    )
}

fn del_kid(jwk: Value) -> Value {
    crate::common::del(jwk, "kid")
}
