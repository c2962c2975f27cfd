//! `valid.json`: tokens every conforming verifier accepts.

use serde_json::{Value, json};

use crate::common::{AUD, G, IAT, ISS, NOW, V, claims, del, file as vfile, header, set};

pub fn file(g: &G) -> Value {
    let mut v = Vec::new();

    // One per algorithm. The JWK carries the token's alg, as an IdP publishes it.
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        v.push(
            V::new(
                &format!("valid_{}", alg.to_lowercase()),
                &format!("A token signed with {alg} by the 2048-bit rsa-1 key verifies."),
            )
            .keys(vec![g.jwk_alg("rsa-1", Some(alg))])
            .token(g.std_tok(alg, "rsa-1"))
            .ok(),
        );
    }
    v.push(
        V::new("valid_rs256_rsa_3072", "An RS256 token signed by a 3072-bit RSA key verifies.")
            .keys(vec![g.jwk("rsa-3072")])
            .token(g.std_tok("RS256", "rsa-3072"))
            .ok(),
    );
    v.push(
        V::new("valid_es256", "An ES256 token (raw r||s signature) signed by the P-256 key verifies.")
            .keys(vec![g.jwk("ec-p256")])
            .token(g.std_tok("ES256", "ec-p256"))
            .ok(),
    );
    v.push(
        V::new("valid_es384", "An ES384 token (raw r||s signature) signed by the P-384 key verifies.")
            .keys(vec![g.jwk("ec-p384")])
            .token(g.std_tok("ES384", "ec-p384"))
            .ok(),
    );
    v.push(
        V::new("valid_eddsa", "An EdDSA token verifies against an Ed25519 OKP key whose JWK alg is \"EdDSA\".")
            .keys(vec![g.jwk_alg("ed-1", Some("EdDSA"))])
            .token(g.std_tok("EdDSA", "ed-1"))
            .ok(),
    );
    v.push(
        V::new(
            "valid_ed25519",
            "A token with the RFC 9864 alg \"Ed25519\" verifies against an OKP key whose JWK alg is \"Ed25519\".",
        )
        .keys(vec![g.jwk_alg("ed-1", Some("Ed25519"))])
        .token(g.std_tok("Ed25519", "ed-1"))
        .ok(),
    );
    v.push(
        V::new(
            "valid_ed25519_token_eddsa_jwk",
            "A token with alg \"Ed25519\" verifies against an Ed25519 key whose JWK alg is \"EdDSA\": the two names are one algorithm.",
        )
        .keys(vec![g.jwk_alg("ed-1", Some("EdDSA"))])
        .token(g.std_tok("Ed25519", "ed-1"))
        .ok(),
    );
    v.push(
        V::new(
            "valid_eddsa_jwk_without_alg",
            "An EdDSA token verifies against an Ed25519 OKP key with no alg member (the curve decides).",
        )
        .keys(vec![g.jwk_alg("ed-1", None)])
        .token(g.std_tok("EdDSA", "ed-1"))
        .ok(),
    );
    v.push(
        V::new(
            "valid_es256_jwk_without_alg",
            "An ES256 token verifies against a P-256 key with no alg member (the curve decides).",
        )
        .keys(vec![g.jwk_alg("ec-p256", None)])
        .token(g.std_tok("ES256", "ec-p256"))
        .ok(),
    );

    // HMAC, only through explicitly passed secrets and an explicit policy.
    for (alg, key) in [("HS256", "hs-1"), ("HS384", "hs-384"), ("HS512", "hs-512")] {
        v.push(
            V::new(
                &format!("valid_{}", alg.to_lowercase()),
                &format!("An {alg} token verifies with a caller-supplied secret when the policy allows {alg}."),
            )
            .keys(vec![g.jwk("rsa-1")])
            .hmac(vec![g.oct(key, alg)])
            .token(g.std_tok(alg, key))
            .pol("algorithms", json!(["RS256", alg]))
            .ok(),
        );
    }

    // Audience forms.
    v.push(
        V::new("valid_aud_string", "An aud given as a single string equal to an allowed audience verifies.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.std_tok("RS256", "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_aud_array", "An aud array containing one allowed audience among others verifies.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "aud", json!(["api://other", AUD])), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new(
            "valid_audience_not_checked_when_policy_has_none",
            "With no audiences in the policy, aud is not checked, whatever it says.",
        )
        .keys(vec![g.jwk("rsa-1")])
        .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "aud", "api://somebody-else"), "rsa-1"))
        .policy(json!({"issuers": [ISS]}))
        .ok(),
    );
    v.push(
        V::new("valid_no_aud_when_policy_has_none", "A token without aud verifies when the policy lists no audiences.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &del(claims(), "aud"), "rsa-1"))
            .policy(json!({"issuers": [ISS], "audiences": []}))
            .ok(),
    );
    v.push(
        V::new("valid_second_issuer", "The iss matches the second of two allowed issuers.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("issuers", json!(["https://other-issuer.tokenkeep.test", ISS]))
            .ok(),
    );

    // Key selection.
    v.push(
        V::new(
            "valid_no_kid_single_capable_key",
            "A token without kid verifies because exactly one key in the set (rsa-1) can verify RS256.",
        )
        .keys(vec![g.jwk("rsa-1"), g.jwk("ec-p256"), g.jwk("ed-1")])
        .token(g.tok(&header("RS256", None), &claims(), "rsa-1"))
        .ok(),
    );
    v.push(
        V::new(
            "valid_kid_selects_among_many",
            "In a set of six keys of every type, the kid selects rsa-2, which verifies.",
        )
        .keys(vec![
            g.jwk("rsa-1"),
            g.jwk("rsa-2"),
            g.jwk("rsa-3072"),
            g.jwk("ec-p256"),
            g.jwk("ec-p384"),
            g.jwk("ed-1"),
        ])
        .token(g.std_tok("RS256", "rsa-2"))
        .ok(),
    );
    v.push(
        V::new(
            "valid_rsa_jwk_without_alg_rs256",
            "An RS256 token verifies against an RSA key with no alg member (RSA keys allow RS* and PS*).",
        )
        .keys(vec![g.jwk_alg("rsa-1", None)])
        .token(g.std_tok("RS256", "rsa-1"))
        .ok(),
    );
    v.push(
        V::new(
            "valid_rsa_jwk_without_alg_ps256",
            "A PS256 token verifies against an RSA key with no alg member (RSA keys allow RS* and PS*).",
        )
        .keys(vec![g.jwk_alg("rsa-1", None)])
        .token(g.std_tok("PS256", "rsa-1"))
        .ok(),
    );
    v.push(
        V::new("valid_jwk_without_use", "A key with no use member at all is usable for signatures.")
            .keys(vec![del(g.jwk("rsa-1"), "use")])
            .token(g.std_tok("RS256", "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_jwk_key_ops_verify", "A key with key_ops [\"verify\"] (and no use) is usable for signatures.")
            .keys(vec![set(del(g.jwk("ec-p256"), "use"), "key_ops", json!(["verify"]))])
            .token(g.std_tok("ES256", "ec-p256"))
            .ok(),
    );

    // typ.
    let typ_cases: [(&str, Option<&str>, &str); 4] = [
        ("valid_typ_at_jwt", Some("at+jwt"), "A typ of \"at+jwt\" (RFC 9068) passes the default policy."),
        (
            "valid_typ_jwt_lowercase",
            Some("jwt"),
            "typ is compared case-insensitively: \"jwt\" passes the default policy.",
        ),
        (
            "valid_typ_application_at_jwt",
            Some("application/at+jwt"),
            "A typ of \"application/at+jwt\" passes the default policy (the application/ prefix is optional).",
        ),
        ("valid_typ_absent", None, "A header without typ passes the default policy."),
    ];
    for (name, typ, description) in typ_cases {
        let h = match typ {
            Some(t) => set(header("RS256", Some("rsa-1")), "typ", t),
            None => del(header("RS256", Some("rsa-1")), "typ"),
        };
        v.push(V::new(name, description).keys(vec![g.jwk("rsa-1")]).token(g.tok(&h, &claims(), "rsa-1")).ok());
    }
    v.push(
        V::new(
            "valid_policy_typ_at_jwt",
            "A policy requiring typ \"at+jwt\" accepts \"application/AT+JWT\" (prefix and case do not matter).",
        )
        .keys(vec![g.jwk("rsa-1")])
        .token(g.tok(&set(header("RS256", Some("rsa-1")), "typ", "application/AT+JWT"), &claims(), "rsa-1"))
        .pol("typ", "at+jwt")
        .ok(),
    );

    // Time.
    v.push(
        V::new("valid_nbf_within_leeway", "An nbf 20 s in the future is within the default 30 s leeway.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "nbf", NOW + 20), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_nbf_in_past", "An nbf in the past passes.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "nbf", IAT), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_exp_within_leeway", "An exp 10 s in the past is within the default 30 s leeway.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "exp", NOW - 10), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_iat_within_leeway", "An iat 20 s in the future is within the default 30 s leeway.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "iat", NOW + 20), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_custom_leeway", "With leeway_secs 120, an exp 100 s in the past still verifies.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "exp", NOW - 100), "rsa-1"))
            .pol("leeway_secs", 120)
            .ok(),
    );
    v.push(
        V::new("valid_fractional_exp", "A fractional exp (a JSON number with a fraction) in the future verifies.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "exp", json!(1_767_229_200.5)), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_no_iat", "A token without iat verifies: only exp is required by default.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &del(claims(), "iat"), "rsa-1"))
            .ok(),
    );
    v.push(
        V::new("valid_max_age", "With max_age_secs 600, a token issued 60 s ago verifies.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("max_age_secs", 600)
            .ok(),
    );

    // Claims the policy inspects.
    v.push(
        V::new("valid_required_claims_present", "required_claims [\"exp\", \"sub\", \"jti\"] are all present.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "jti", "id-0001"), "rsa-1"))
            .pol("required_claims", json!(["exp", "sub", "jti"]))
            .ok(),
    );
    v.push(
        V::new("valid_subjects_allowlist", "The sub is in the subjects allowlist.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("subjects", json!(["user-999", "user-123"]))
            .ok(),
    );
    v.push(
        V::new("valid_subject_prefix", "The sub starts with the required subject_prefix.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.std_tok("RS256", "rsa-1"))
            .pol("subject_prefix", "user-")
            .ok(),
    );
    v.push(
        V::new("valid_policy_algorithms", "The token's alg is one of the policy's allowed algorithms.")
            .keys(vec![g.jwk("ec-p256")])
            .token(g.std_tok("ES256", "ec-p256"))
            .pol("algorithms", json!(["RS256", "ES256"]))
            .ok(),
    );
    v.push(
        V::new(
            "valid_extra_claims",
            "Claims the verifier does not know (nested objects, arrays, non-ASCII text, null) are returned unchanged.",
        )
        .keys(vec![g.jwk("rsa-1")])
        .token(g.tok(
            &header("RS256", Some("rsa-1")),
            &set(
                set(
                    set(set(claims(), "scope", "read write"), "name", "Zoë Ångström ✓"),
                    "roles",
                    json!({"admin": false, "groups": ["a", "b"], "level": 3}),
                ),
                "nickname",
                Value::Null,
            ),
            "rsa-1",
        ))
        .ok(),
    );
    v.push(
        V::new(
            "valid_extra_header_members",
            "Unknown header members that are not listed in crit (cty, x-trace) are ignored.",
        )
        .keys(vec![g.jwk("rsa-1")])
        .token(g.tok(&set(set(header("RS256", Some("rsa-1")), "cty", "json"), "x-trace", "abc"), &claims(), "rsa-1"))
        .ok(),
    );
    v.push(
        V::new("valid_exp_far_future", "An exp in the far future (year 2286) verifies.")
            .keys(vec![g.jwk("rsa-1")])
            .token(g.tok(&header("RS256", Some("rsa-1")), &set(claims(), "exp", 9_999_999_999i64), "rsa-1"))
            .ok(),
    );

    vfile("Tokens every conforming verifier accepts, one fault-free case per algorithm and per accepted variation.", v)
}
