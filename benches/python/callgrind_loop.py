"""One library's verification in a loop, for scripts/python-callgrind.sh:
`python callgrind_loop.py tokenkeep|ryjwt ALG CALLS FIXTURE` (ALG: HS256,
RS256, ES256, EdDSA). The token and key come from FIXTURE, written once by
`python callgrind_loop.py --fixture FIXTURE` (keys made by `cryptography`,
tokens by PyJWT, exp in 2036), so two runs differ only in CALLS and the
difference of their instruction counts is the loop's."""

from __future__ import annotations

import json
import sys

ISS = "https://bench.tokenkeep.test"
AUD = "api://bench"
SECRET = b"callgrind-loop-hs256-secret-0123"
CLAIMS = {"iss": ISS, "aud": AUD, "sub": "bench-user", "iat": 1796000000, "exp": 2082758400,
          "scope": "orders:read", "tenant": "acme"}


def write_fixture(path: str) -> None:
    """Per algorithm: the token, the public key as PEM (ryjwt) and as a JWK (tokenkeep)."""
    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    fixture = {"HS256": {"token": pyjwt.encode(CLAIMS, SECRET, algorithm="HS256",
                                               headers={"kid": "bench-hs256", "typ": "JWT"})}}
    makers = {"RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
              "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
              "EdDSA": ed25519.Ed25519PrivateKey.generate}
    to_jwk = {"RS256": pyjwt.algorithms.RSAAlgorithm, "ES256": pyjwt.algorithms.ECAlgorithm,
              "EdDSA": pyjwt.algorithms.OKPAlgorithm}
    for alg, make in makers.items():
        private = make()
        public = private.public_key()
        kid = f"bench-{alg.lower()}"
        jwk = {**to_jwk[alg].to_jwk(public, as_dict=True), "kid": kid, "alg": alg, "use": "sig"}
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = pyjwt.encode(CLAIMS, private, algorithm=alg, headers={"kid": kid, "typ": "JWT"})
        fixture[alg] = {"token": token, "pem": pem.decode(), "jwk": jwk}
    with open(path, "w") as f:
        json.dump(fixture, f)


def main() -> None:
    if sys.argv[1] == "--fixture":
        write_fixture(sys.argv[2])
        return
    library, alg, calls, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(path) as f:
        case = json.load(f)[alg]
    token = case["token"]
    if library == "tokenkeep":
        import base64

        import tokenkeep

        if alg == "HS256":
            jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(SECRET).rstrip(b"=").decode(), "kid": "bench-hs256",
                   "alg": "HS256"}
            verifier = tokenkeep.Verifier(issuer=ISS, audience=AUD, jwks={"keys": []}, hmac_keys=[jwk],
                                          algorithms=["HS256"], cache={"verified_tokens": 0})
        else:
            verifier = tokenkeep.Verifier.from_jwks({"keys": [case["jwk"]]}, issuer=ISS, audience=AUD,
                                                    cache={"verified_tokens": 0})
        verify = verifier.verify
    elif library == "ryjwt":
        import ryjwt

        if alg == "HS256":
            verify = ryjwt.SecretKey(SECRET, algorithms=["HS256"], audience=AUD, issuer=ISS).decode
        else:
            verify = ryjwt.PublicKey(case["pem"], algorithms=[alg], audience=AUD, issuer=ISS).decode
    else:
        raise SystemExit(f"unknown library {library}")
    assert verify(token)["sub"] == "bench-user"
    for _ in range(calls):
        verify(token)


if __name__ == "__main__":
    main()
