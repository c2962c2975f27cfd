"""One library's HS256 verification in a loop, for scripts/python-callgrind.sh:
`python callgrind_loop.py tokenkeep|ryjwt CALLS`. The token, key, iss and aud
are fixed (the token expires in 2036), so two runs differ only in CALLS and
the difference of their instruction counts is the loop's."""

from __future__ import annotations

import sys

ISS = "https://bench.tokenkeep.test"
AUD = "api://bench"
SECRET = b"callgrind-loop-hs256-secret-0123"


def make_token() -> str:
    """The bench's claims (iss, aud, sub, iat, exp in 2036, scope, tenant) as HS256."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS256", "kid": "bench-hs256", "typ": "JWT"}
    claims = {"iss": ISS, "aud": AUD, "sub": "bench-user", "iat": 1796000000, "exp": 2082758400,
              "scope": "orders:read", "tenant": "acme"}
    signing_input = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def main() -> None:
    library, calls = sys.argv[1], int(sys.argv[2])
    token = make_token()
    if library == "tokenkeep":
        import base64

        import tokenkeep

        jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(SECRET).rstrip(b"=").decode(), "kid": "bench-hs256",
               "alg": "HS256"}
        verifier = tokenkeep.Verifier(issuer=ISS, audience=AUD, jwks={"keys": []}, hmac_keys=[jwk],
                                      algorithms=["HS256"], cache={"verified_tokens": 0})
        verify = verifier.verify
    elif library == "ryjwt":
        import ryjwt

        verify = ryjwt.SecretKey(SECRET, algorithms=["HS256"], audience=AUD, issuer=ISS).decode
    else:
        raise SystemExit(f"unknown library {library}")
    assert verify(token)["sub"] == "bench-user"
    for _ in range(calls):
        verify(token)


if __name__ == "__main__":
    main()
