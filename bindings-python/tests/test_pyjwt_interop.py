"""Tokens minted by PyJWT (keys from `cryptography`) verify; tampered ones
fail with the right code."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Tuple

import jwt
import pytest
from conftest import issued, note
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

import tokenkeep

ISSUER = "https://pyjwt.example"


def keypair(alg: str) -> Tuple[Any, Dict[str, Any]]:
    private: Any
    if alg in ("RS256", "PS256"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        algorithm: Any = RSAAlgorithm if alg == "RS256" else RSAPSSAlgorithm
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        algorithm = ECAlgorithm
    else:
        private = ed25519.Ed25519PrivateKey.generate()
        algorithm = OKPAlgorithm
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    issued(pem.decode())
    jwk = json.loads(algorithm.to_jwk(private.public_key()))
    jwk.update({"kid": f"{alg.lower()}-1", "alg": alg, "use": "sig"})
    return private, jwk


@pytest.fixture(scope="module")
def keys() -> Dict[str, Tuple[Any, Dict[str, Any]]]:
    return {alg: keypair(alg) for alg in ("RS256", "PS256", "ES256", "EdDSA")}


@pytest.fixture(scope="module")
def verifier(keys: Dict[str, Tuple[Any, Dict[str, Any]]]) -> Any:
    jwks = {"keys": [jwk for _, jwk in keys.values()]}
    with tokenkeep.Verifier.from_jwks(jwks, issuer=ISSUER, audience="api") as v:
        yield v


def mint(keys: Dict[str, Tuple[Any, Dict[str, Any]]], alg: str, **claims: Any) -> str:
    private, jwk = keys[alg]
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "api", "sub": "bob", "iat": now, "exp": now + 300, **claims}
    return issued(jwt.encode(body, private, algorithm=alg, headers={"kid": jwk["kid"]}))


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_pyjwt_tokens_verify(keys: Any, verifier: tokenkeep.Verifier, alg: str) -> None:
    token = mint(keys, alg, roles=["admin"], n=1.5)
    claims = verifier.verify(token)
    assert claims["sub"] == "bob" and claims["roles"] == ["admin"] and claims["n"] == 1.5
    # PyJWT agrees on what the claims are.
    assert claims == jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_tampered_pyjwt_tokens_fail(keys: Any, verifier: tokenkeep.Verifier, alg: str) -> None:
    token = mint(keys, alg)
    head, body, signature = token.split(".")
    other_body = jwt.utils.base64url_encode(
        json.dumps({**jwt.decode(token, options={"verify_signature": False}), "sub": "root"}).encode()
    ).decode()
    for bad in (f"{head}.{other_body}.{signature}", f"{head}.{body}.{signature[::-1]}"):
        with pytest.raises(tokenkeep.Rejected) as info:
            verifier.verify(bad)
        note(info.value)
        assert info.value.code in ("invalid_signature", "malformed")
    with pytest.raises(tokenkeep.InvalidSignature):
        verifier.verify(f"{head}.{other_body}.{signature}")
    with pytest.raises(tokenkeep.WrongAudience):
        verifier.verify(mint(keys, alg, aud="other"))
    with pytest.raises(tokenkeep.Expired):
        verifier.verify(mint(keys, alg, exp=int(time.time()) - 3600))
    # Signed by another algorithm's key under this kid: never accepted.
    other = "ES256" if alg != "ES256" else "RS256"
    private, _ = keys[other]
    forged = jwt.encode({"iss": ISSUER, "aud": "api", "exp": int(time.time()) + 60}, private, algorithm=other,
                        headers={"kid": keys[alg][1]["kid"]})
    with pytest.raises(tokenkeep.Rejected):
        verifier.verify(issued(forged))


def test_hs256_only_with_an_explicit_secret() -> None:
    secret = issued("s3cret-s3cret-s3cret-s3cret-s3cret!")
    token = issued(jwt.encode({"iss": ISSUER, "exp": int(time.time()) + 60}, secret, algorithm="HS256"))
    k = issued(jwt.utils.base64url_encode(secret.encode()).decode())
    with tokenkeep.Verifier.from_jwks({"keys": []}, issuer=ISSUER, algorithms=["HS256"],
                                      hmac_keys=[{"kty": "oct", "alg": "HS256", "k": k}]) as v:
        assert v.verify(token)["iss"] == ISSUER
        note(v)
    with tokenkeep.Verifier.from_jwks({"keys": [{"kty": "oct", "alg": "HS256", "k": k}]}, issuer=ISSUER) as v:
        with pytest.raises(tokenkeep.Rejected):
            v.verify(token)
