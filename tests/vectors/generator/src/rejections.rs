//! `rejections.json`: at least one vector per rejection code, each with one fault.

use serde_json::{Value, json};

use crate::b64;
use crate::common::{G, ISS, NOW, V, claims, del, file as vfile, header, set, text};
use crate::token::{Parts, Signer, jws};

/// A token of exactly `len` bytes: RS256 by rsa-1 with a `pad` claim of 'x's.
/// Not every length is reachable by padding the payload alone (a base64url
/// length is never 1 mod 4), so the header may get an ignored `x-pad` member.
fn token_of_len(g: &G, len: usize) -> String {
    for extra in ["", "a", "ab"] {
        let h = header("RS256", Some("rsa-1"));
        let h = if extra.is_empty() { h } else { set(h, "x-pad", extra) };
        for n in 0..len {
            let payload = set(claims(), "pad", "x".repeat(n));
            let encoded =
                b64::encode(text(&h).as_bytes()).len() + 1 + b64::encode(text(&payload).as_bytes()).len() + 1 + 342;
            if encoded == len {
                let t = g.tok(&h, &payload, "rsa-1");
                assert_eq!(t.len(), len);
                return t;
            }
            if encoded > len {
                break;
            }
        }
    }
    panic!("no pad length gives a {len}-byte token");
}

pub fn file(g: &G) -> Value {
    let rsa1 = || vec![g.jwk("rsa-1")];
    let h = || header("RS256", Some("rsa-1"));
    let rs = |payload: &Value| g.tok(&h(), payload, "rsa-1");
    let rs_text = |header: &str, payload: &str| jws(header, payload, &g.signer("rsa-1", "RS256"));
    let mut v = Vec::new();

    // missing_token
    v.push(
        V::new("missing_token_empty", "An empty string is not a token.").keys(rsa1()).token("").code("missing_token"),
    );

    // malformed
    let good = g.std_tok("RS256", "rsa-1");
    let two_parts = good.rsplit_once('.').unwrap().0.to_string();
    v.push(
        V::new("malformed_two_parts", "A token with only header and payload (no signature part) is malformed.")
            .keys(rsa1())
            .token(two_parts)
            .code("malformed"),
    );
    v.push(
        V::new("malformed_four_parts", "A token with a fourth, empty part after the signature is malformed.")
            .keys(rsa1())
            .token(format!("{good}."))
            .code("malformed"),
    );
    v.push(
        V::new("malformed_all_parts_empty", "The token \"..\" (three empty parts) is malformed.")
            .keys(rsa1())
            .token("..")
            .code("malformed"),
    );
    v.push(
        V::new("malformed_header_not_json", "A correctly signed token whose header is not JSON is malformed.")
            .keys(rsa1())
            .token(rs_text("{alg: RS256, kid: rsa-1}", &text(&claims())))
            .code("malformed"),
    );
    v.push(
        V::new(
            "malformed_header_json_array",
            "A correctly signed token whose header is a JSON array, not an object, is malformed.",
        )
        .keys(rsa1())
        .token(rs_text("[\"RS256\",\"rsa-1\"]", &text(&claims())))
        .code("malformed"),
    );
    v.push(
        V::new("malformed_header_without_alg", "A correctly signed token whose header has no alg is malformed.")
            .keys(rsa1())
            .token(rs_text(&text(&del(h(), "alg")), &text(&claims())))
            .code("malformed"),
    );
    v.push(
        V::new("malformed_payload_not_json", "A correctly signed token whose payload is not JSON is malformed.")
            .keys(rsa1())
            .token(rs_text(&text(&h()), "this is not json"))
            .code("malformed"),
    );
    v.push(
        V::new(
            "malformed_payload_json_array",
            "A correctly signed token whose payload is a JSON array, not an object, is malformed.",
        )
        .keys(rsa1())
        .token(rs_text(&text(&h()), "[\"iss\",\"https://issuer.tokenkeep.test\"]"))
        .code("malformed"),
    );
    v.push(
        V::new(
            "malformed_payload_trailing_data",
            "A correctly signed token whose payload is a JSON object followed by more text is malformed.",
        )
        .keys(rsa1())
        .token(rs_text(&text(&h()), &format!("{}{{}}", text(&claims()))))
        .code("malformed"),
    );
    v.push(
        V::new("malformed_header_not_base64url", "A header part with characters outside base64url is malformed.")
            .keys(rsa1())
            .token(format!("eyJhbGciOi*JSUzI1NiJ9{}", &good[good.find('.').unwrap()..]))
            .code("malformed"),
    );

    // unsupported_alg
    v.push(
        V::new("unsupported_alg_es512", "A token with alg ES512 (P-521, not supported) is rejected as unsupported.")
            .keys(vec![g.jwk("ec-p256")])
            .token(
                Parts::new(&text(&header("ES512", Some("ec-p256"))), &text(&claims()), &Signer::Fixed(vec![0x5a; 132]))
                    .compact(),
            )
            .code("unsupported_alg"),
    );
    v.push(
        V::new("unsupported_alg_foo", "A token with the made-up alg \"foo\" is rejected as unsupported.")
            .keys(rsa1())
            .token(
                Parts::new(&text(&header("foo", Some("rsa-1"))), &text(&claims()), &Signer::Fixed(vec![1; 32]))
                    .compact(),
            )
            .code("unsupported_alg"),
    );
    v.push(
        V::new("unsupported_alg_lowercase", "alg names are case-sensitive: \"rs256\" is not RS256.")
            .keys(rsa1())
            .token(rs_text(&text(&header("rs256", Some("rsa-1"))), &text(&claims())))
            .code("unsupported_alg"),
    );

    // alg_not_allowed
    v.push(
        V::new(
            "alg_not_allowed_rs256_policy_es256",
            "A valid RS256 token is refused when the policy allows only ES256.",
        )
        .keys(rsa1())
        .token(g.std_tok("RS256", "rsa-1"))
        .pol("algorithms", json!(["ES256"]))
        .code("alg_not_allowed"),
    );
    v.push(
        V::new(
            "alg_not_allowed_hs256_default_policy",
            "An HS256 token with a matching caller-supplied secret is refused because the policy lists no algorithms, and HS* is never allowed by default.",
        )
        .keys(rsa1())
        .hmac(vec![g.oct("hs-1", "HS256")])
        .token(g.std_tok("HS256", "hs-1"))
        .code("alg_not_allowed"),
    );
    v.push(
        V::new(
            "alg_not_allowed_hs256_not_listed",
            "An HS256 token with a matching caller-supplied secret is refused when the policy algorithms list only RS256.",
        )
        .keys(rsa1())
        .hmac(vec![g.oct("hs-1", "HS256")])
        .token(g.std_tok("HS256", "hs-1"))
        .pol("algorithms", json!(["RS256"]))
        .code("alg_not_allowed"),
    );

    // unknown_kid
    v.push(
        V::new("unknown_kid", "A token whose kid names no key in the set is rejected.")
            .keys(vec![g.jwk("rsa-1"), g.jwk("ec-p256")])
            .token(g.tok(&header("RS256", Some("rsa-9")), &claims(), "rsa-1"))
            .code("unknown_kid"),
    );
    v.push(
        V::new("unknown_kid_case_differs", "kids are compared exactly: \"RSA-1\" does not name \"rsa-1\".")
            .keys(rsa1())
            .token(g.tok(&header("RS256", Some("RSA-1")), &claims(), "rsa-1"))
            .code("unknown_kid"),
    );

    // invalid_signature
    let parts = Parts::new(&text(&h()), &text(&claims()), &g.signer("rsa-1", "RS256"));
    let altered = Parts { payload: b64::encode(text(&set(claims(), "sub", "admin")).as_bytes()), ..parts.clone() };
    v.push(
        V::new("invalid_signature_payload_changed", "The payload was changed (sub user-123 to admin) after signing.")
            .keys(rsa1())
            .token(altered.compact())
            .code("invalid_signature"),
    );
    v.push(
        V::new("invalid_signature_wrong_key", "The token names rsa-1 but was signed by rsa-2.")
            .keys(vec![g.jwk("rsa-1"), g.jwk("rsa-2")])
            .token(g.tok(&h(), &claims(), "rsa-2"))
            .code("invalid_signature"),
    );
    let flip = |token: String| -> String {
        let (rest, sig) = token.rsplit_once('.').unwrap();
        let mut bytes = b64::decode(sig).unwrap();
        bytes[5] ^= 0x01;
        format!("{rest}.{}", b64::encode(&bytes))
    };
    v.push(
        V::new("invalid_signature_es256_bit_flip", "One bit of an ES256 signature (in r) is flipped.")
            .keys(vec![g.jwk("ec-p256")])
            .token(flip(g.std_tok("ES256", "ec-p256")))
            .code("invalid_signature"),
    );
    v.push(
        V::new("invalid_signature_eddsa_bit_flip", "One bit of an EdDSA signature (in R) is flipped.")
            .keys(vec![g.jwk("ed-1")])
            .token(flip(g.std_tok("EdDSA", "ed-1")))
            .code("invalid_signature"),
    );
    v.push(
        V::new("invalid_signature_ps256_bit_flip", "One bit of a PS256 signature is flipped.")
            .keys(vec![g.jwk_alg("rsa-1", Some("PS256"))])
            .token(flip(g.std_tok("PS256", "rsa-1")))
            .code("invalid_signature"),
    );
    v.push(
        V::new(
            "invalid_signature_hs256_wrong_secret",
            "An HS256 token signed with a different secret than the caller-supplied hs-1.",
        )
        .keys(rsa1())
        .hmac(vec![g.oct("hs-1", "HS256")])
        .token(jws(
            &text(&header("HS256", Some("hs-1"))),
            &text(&claims()),
            &Signer::Hmac(b"not-the-configured-secret-0123456789", crate::token::Sha::S256),
        ))
        .pol("algorithms", json!(["HS256"]))
        .code("invalid_signature"),
    );
    v.push(
        V::new(
            "invalid_signature_rs256_as_ps256",
            "An RS256 (PKCS#1 v1.5) signature relabelled PS256 does not verify as PSS.",
        )
        .keys(vec![g.jwk_alg("rsa-1", None)])
        .token(jws(&text(&header("PS256", Some("rsa-1"))), &text(&claims()), &g.signer("rsa-1", "RS256")))
        .code("invalid_signature"),
    );

    // Time.
    v.push(
        V::new("expired", "exp is 31 s in the past, beyond the default 30 s leeway.")
            .keys(rsa1())
            .token(rs(&set(claims(), "exp", NOW - 31)))
            .code("expired"),
    );
    v.push(
        V::new("expired_zero_leeway", "With leeway_secs 0, an exp 1 s in the past is expired.")
            .keys(rsa1())
            .token(rs(&set(claims(), "exp", NOW - 1)))
            .pol("leeway_secs", 0)
            .code("expired"),
    );
    v.push(
        V::new("not_yet_valid", "nbf is 31 s in the future, beyond the default 30 s leeway.")
            .keys(rsa1())
            .token(rs(&set(claims(), "nbf", NOW + 31)))
            .code("not_yet_valid"),
    );
    v.push(
        V::new("issued_in_future", "iat is 31 s in the future, beyond the default 30 s leeway.")
            .keys(rsa1())
            .token(rs(&set(claims(), "iat", NOW + 31)))
            .code("issued_in_future"),
    );
    v.push(
        V::new("too_old", "With max_age_secs 600 and leeway_secs 0, a token issued 601 s ago is too old.")
            .keys(rsa1())
            .token(rs(&set(claims(), "iat", NOW - 601)))
            .pol("leeway_secs", 0)
            .pol("max_age_secs", 600)
            .code("too_old"),
    );
    v.push(
        V::new(
            "too_old_beyond_leeway",
            "With max_age_secs 600 and the default leeway, a token issued 700 s ago is too old (whether or not leeway extends the age limit).",
        )
        .keys(rsa1())
        .token(rs(&set(claims(), "iat", NOW - 700)))
        .pol("max_age_secs", 600)
        .code("too_old"),
    );

    // Issuer and audience.
    v.push(
        V::new("wrong_issuer", "iss is an issuer the policy does not trust.")
            .keys(rsa1())
            .token(rs(&set(claims(), "iss", "https://evil.tokenkeep.test")))
            .code("wrong_issuer"),
    );
    v.push(
        V::new(
            "wrong_issuer_trailing_slash",
            "Issuers are compared exactly: a trailing slash makes a different issuer.",
        )
        .keys(rsa1())
        .token(rs(&set(claims(), "iss", format!("{ISS}/"))))
        .code("wrong_issuer"),
    );
    v.push(
        V::new("wrong_audience_string", "aud is a single string naming another audience.")
            .keys(rsa1())
            .token(rs(&set(claims(), "aud", "api://other")))
            .code("wrong_audience"),
    );
    v.push(
        V::new("wrong_audience_array", "aud is an array none of whose members is an allowed audience.")
            .keys(rsa1())
            .token(rs(&set(claims(), "aud", json!(["api://other", "api://third"]))))
            .code("wrong_audience"),
    );

    // Required claims.
    v.push(
        V::new("missing_claim_exp", "A token without exp is rejected: exp is required by default.")
            .keys(rsa1())
            .token(rs(&del(claims(), "exp")))
            .code("missing_claim"),
    );
    v.push(
        V::new("missing_claim_sub", "With required_claims [\"exp\", \"sub\"], a token without sub is rejected.")
            .keys(rsa1())
            .token(rs(&del(claims(), "sub")))
            .pol("required_claims", json!(["exp", "sub"]))
            .code("missing_claim"),
    );

    // Subject.
    v.push(
        V::new("subject_not_allowed_allowlist", "sub is not in the subjects allowlist.")
            .keys(rsa1())
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("subjects", json!(["user-999", "user-1234"]))
            .code("subject_not_allowed"),
    );
    v.push(
        V::new("subject_not_allowed_prefix", "sub does not start with the required subject_prefix.")
            .keys(rsa1())
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("subject_prefix", "service-")
            .code("subject_not_allowed"),
    );

    // typ.
    v.push(
        V::new("wrong_type_jose_json", "typ \"JOSE+JSON\" is not accepted by the default policy.")
            .keys(rsa1())
            .token(g.tok(&set(h(), "typ", "JOSE+JSON"), &claims(), "rsa-1"))
            .code("wrong_type"),
    );
    v.push(
        V::new("wrong_type_jwt_when_at_jwt_required", "typ \"JWT\" is refused when the policy requires \"at+jwt\".")
            .keys(rsa1())
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("typ", "at+jwt")
            .code("wrong_type"),
    );
    v.push(
        V::new(
            "wrong_type_absent_when_at_jwt_required",
            "A token without typ is refused when the policy requires \"at+jwt\".",
        )
        .keys(rsa1())
        .token(g.tok(&del(h(), "typ"), &claims(), "rsa-1"))
        .pol("typ", "at+jwt")
        .code("wrong_type"),
    );

    // keys_unavailable
    v.push(
        V::new("keys_unavailable_empty_set", "The key set is empty, so no key can verify anything.")
            .keys(vec![])
            .token(g.std_tok("RS256", "rsa-1"))
            .code("keys_unavailable"),
    );
    v.push(
        V::new(
            "keys_unavailable_only_skipped_key",
            "The key set's only key is an Ed448 key, which is skipped, so no usable key remains.",
        )
        .keys(vec![g.ed448()])
        .token(g.std_tok("EdDSA", "ed-1"))
        .skip("ed448-1", "unsupported_curve")
        .code("keys_unavailable"),
    );

    // token_too_large
    v.push(
        V::new(
            "token_too_large_default",
            "A correctly signed 17000-byte token exceeds the default max_token_bytes of 16384.",
        )
        .keys(rsa1())
        .token(token_of_len(g, 17000))
        .code("token_too_large"),
    );
    v.push(
        V::new("token_too_large_policy_limit", "A normal 549-byte token exceeds a policy max_token_bytes of 512.")
            .keys(rsa1())
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("max_token_bytes", 512)
            .code("token_too_large"),
    );

    vfile("Tokens rejected with each rejection code; every vector has exactly one fault.", v)
}
