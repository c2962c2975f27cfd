//! `spiffe.json`: JWT-SVIDs checked in SPIFFE mode.

use serde_json::{Value, json};

use crate::common::{EXP, G, IAT, ISS, V, del, file as vfile, header, set};

const SVID_SUB: &str = "spiffe://example.org/ns/prod/sa/api";
const SVID_AUD: &str = "spiffe://example.org/ns/prod/sa/db";

fn svid_claims() -> Value {
    json!({"iss": ISS, "sub": SVID_SUB, "aud": [SVID_AUD], "iat": IAT, "exp": EXP})
}

fn svid_policy() -> Value {
    json!({"issuers": [ISS], "audiences": [SVID_AUD], "spiffe": {"trust_domains": ["example.org"]}})
}

pub fn file(g: &G) -> Value {
    let keys = || vec![g.jwk("ec-p256")];
    let h = || header("ES256", Some("ec-p256"));
    let svid = |header: &Value, claims: &Value| g.tok(header, claims, "ec-p256");
    let with_sub = |sub: &str| svid(&h(), &set(svid_claims(), "sub", sub));
    let spiffe = |extra: Value| {
        let mut s = json!({"trust_domains": ["example.org"]});
        for (k, x) in extra.as_object().unwrap() {
            s = set(s, k, x.clone());
        }
        set(svid_policy(), "spiffe", s)
    };
    let mut v = Vec::new();

    // Valid.
    v.push(
        V::new("spiffe_valid_jwt_svid", "A JWT-SVID (ES256, typ JWT) for a workload in the trusted domain verifies.")
            .keys(keys())
            .token(svid(&h(), &svid_claims()))
            .policy(svid_policy())
            .ok(),
    );
    v.push(
        V::new("spiffe_valid_typ_jose", "A JWT-SVID with typ \"JOSE\" verifies in SPIFFE mode.")
            .keys(keys())
            .token(svid(&set(h(), "typ", "JOSE"), &svid_claims()))
            .policy(svid_policy())
            .ok(),
    );
    v.push(
        V::new("spiffe_valid_typ_absent", "A JWT-SVID without typ verifies in SPIFFE mode.")
            .keys(keys())
            .token(svid(&del(h(), "typ"), &svid_claims()))
            .policy(svid_policy())
            .ok(),
    );
    v.push(
        V::new("spiffe_valid_aud_string", "A JWT-SVID whose aud is a single string verifies.")
            .keys(keys())
            .token(svid(&h(), &set(svid_claims(), "aud", SVID_AUD)))
            .policy(svid_policy())
            .ok(),
    );
    v.push(
        V::new("spiffe_valid_allowed_ids", "The sub is one of the policy's allowed SPIFFE IDs.")
            .keys(keys())
            .token(svid(&h(), &svid_claims()))
            .policy(spiffe(json!({"allowed_ids": ["spiffe://example.org/ns/prod/sa/web", SVID_SUB]})))
            .ok(),
    );
    v.push(
        V::new("spiffe_valid_path_prefix", "The sub's path starts with an allowed path prefix.")
            .keys(keys())
            .token(svid(&h(), &svid_claims()))
            .policy(spiffe(json!({"path_prefixes": ["/ns/staging/", "/ns/prod/"]})))
            .ok(),
    );
    v.push(
        V::new(
            "spiffe_valid_second_trust_domain",
            "The sub is in the second of two trusted domains, whose name uses every allowed character class.",
        )
        .keys(keys())
        .token(with_sub("spiffe://prod-1.example_org.test/ns/x/sa/y"))
        .policy(spiffe(json!({"trust_domains": ["example.org", "prod-1.example_org.test"]})))
        .ok(),
    );
    v.push(
        V::new(
            "spiffe_valid_path_characters",
            "A path using every allowed character class (letters of both cases, digits, '.', '-', '_') is valid.",
        )
        .keys(keys())
        .token(with_sub("spiffe://example.org/Ns-1/sa_2/api.v3"))
        .policy(svid_policy())
        .ok(),
    );
    v.push(
        V::new(
            "spiffe_valid_rs256",
            "A JWT-SVID signed with RS256 verifies: SPIFFE mode does not restrict the algorithm.",
        )
        .keys(vec![g.jwk("rsa-1")])
        .token(g.tok(&header("RS256", Some("rsa-1")), &svid_claims(), "rsa-1"))
        .policy(svid_policy())
        .ok(),
    );

    // sub is not an acceptable SPIFFE ID.
    let bad_subs: [(&str, &str, &str); 16] = [
        ("spiffe_wrong_trust_domain", "spiffe://other.org/ns/prod/sa/api", "The sub's trust domain is not trusted."),
        ("spiffe_sub_not_spiffe_id", "user-1", "A sub that is not a SPIFFE ID is refused in SPIFFE mode."),
        (
            "spiffe_uppercase_trust_domain",
            "spiffe://Example.org/x",
            "A trust domain with an uppercase letter is not a valid SPIFFE ID.",
        ),
        (
            "spiffe_uppercase_scheme",
            "SPIFFE://example.org/ns/prod/sa/api",
            "The scheme must be written \"spiffe\" in lowercase.",
        ),
        ("spiffe_wrong_scheme", "https://example.org/ns/prod/sa/api", "A URI with another scheme is not a SPIFFE ID."),
        (
            "spiffe_dot_dot_segment",
            "spiffe://example.org/ns/../sa/api",
            "A path with a \"..\" segment is not a valid SPIFFE ID.",
        ),
        (
            "spiffe_dot_segment",
            "spiffe://example.org/ns/./sa/api",
            "A path with a \".\" segment is not a valid SPIFFE ID.",
        ),
        (
            "spiffe_empty_segment",
            "spiffe://example.org/ns//sa/api",
            "A path with an empty segment is not a valid SPIFFE ID.",
        ),
        (
            "spiffe_trailing_slash",
            "spiffe://example.org/ns/prod/sa/api/",
            "A path with a trailing slash is not a valid SPIFFE ID.",
        ),
        ("spiffe_query", "spiffe://example.org/ns/prod/sa/api?a=1", "A SPIFFE ID may not have a query."),
        ("spiffe_fragment", "spiffe://example.org/ns/prod/sa/api#frag", "A SPIFFE ID may not have a fragment."),
        ("spiffe_port", "spiffe://example.org:443/ns/prod/sa/api", "A SPIFFE ID may not have a port."),
        ("spiffe_userinfo", "spiffe://admin@example.org/ns/prod/sa/api", "A SPIFFE ID may not have userinfo."),
        (
            "spiffe_empty_path",
            "spiffe://example.org",
            "A SPIFFE ID without a path (the trust domain's own ID) is not a workload.",
        ),
        ("spiffe_root_path", "spiffe://example.org/", "A SPIFFE ID whose path is only \"/\" is not a workload."),
        (
            "spiffe_percent_encoded_path",
            "spiffe://example.org/ns/prod/sa/api%20x",
            "'%' is not an allowed path character.",
        ),
    ];
    for (name, sub, description) in bad_subs {
        v.push(
            V::new(name, description)
                .keys(keys())
                .token(with_sub(sub))
                .policy(svid_policy())
                .code("subject_not_allowed"),
        );
    }
    v.push(
        V::new("spiffe_not_in_allowed_ids", "The sub is a valid SPIFFE ID but not one of the allowed IDs.")
            .keys(keys())
            .token(svid(&h(), &svid_claims()))
            .policy(spiffe(json!({"allowed_ids": ["spiffe://example.org/ns/prod/sa/web"]})))
            .code("subject_not_allowed"),
    );
    v.push(
        V::new("spiffe_path_prefix_mismatch", "The sub's path does not start with any allowed path prefix.")
            .keys(keys())
            .token(svid(&h(), &svid_claims()))
            .policy(spiffe(json!({"path_prefixes": ["/ns/staging/"]})))
            .code("subject_not_allowed"),
    );

    // Other SPIFFE-mode rules.
    v.push(
        V::new("spiffe_missing_aud", "A JWT-SVID without aud is refused: SPIFFE mode requires aud.")
            .keys(keys())
            .token(svid(&h(), &del(svid_claims(), "aud")))
            .policy(svid_policy())
            .code("missing_claim"),
    );
    v.push(
        V::new("spiffe_wrong_audience", "A JWT-SVID for another audience is refused.")
            .keys(keys())
            .token(svid(&h(), &set(svid_claims(), "aud", json!(["spiffe://example.org/ns/prod/sa/cache"]))))
            .policy(svid_policy())
            .code("wrong_audience"),
    );
    v.push(
        V::new("spiffe_typ_at_jwt", "typ \"at+jwt\" is refused in SPIFFE mode (only JWT or JOSE, or none).")
            .keys(keys())
            .token(svid(&set(h(), "typ", "at+jwt"), &svid_claims()))
            .policy(svid_policy())
            .code("wrong_type"),
    );
    v.push(
        V::new("spiffe_missing_sub", "A JWT-SVID without sub is refused.")
            .keys(keys())
            .token(svid(&h(), &del(svid_claims(), "sub")))
            .policy(svid_policy())
            .code("missing_claim"),
    );

    vfile(
        "JWT-SVIDs verified in SPIFFE mode: SPIFFE ID syntax, trust domains, allowed IDs and path prefixes, aud and typ.",
        v,
    )
}
