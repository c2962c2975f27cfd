"""tokenkeep's Python package against the Python JWT libraries people use
today, per algorithm, on the same token and key, in one run.

Every library checks the signature, iss, aud and exp (each is first shown
to reject a token with a wrong iss, a wrong aud and a past exp; a library
that cannot check iss/aud is left out, with the reason printed). The floor
is `cryptography`'s raw signature verify on the same bytes (no claims, no
JSON, no base64: the signature is decoded once, outside the loop).

Prints microseconds per verification: the best of ROUNDS rounds, each the
mean over OPS calls, in thread CPU time (so a busy machine counts less;
rounds interleaved across the libraries, so a busy spell hits all alike),
and each one's time divided by tokenkeep's `verify` with the verified-token
cache off (above 1: tokenkeep is faster). Then the throughput of 2 threads
verifying at once against 1 (wall time, the best of interleaved rounds;
2.0 would be perfect scaling on 2 idle cores).

    make bench-python                      (builds the wheel, installs the peers)
    python bench.py [--ops 2000] [--rounds 9] [--thread-rounds 7]
"""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import os
import platform
import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import tokenkeep

ISS = "https://bench.tokenkeep.test"
AUD = "api://bench"
ALGS = ("RS256", "ES256", "EdDSA")
BASE = "tokenkeep verify (cache off)"

Verify = Callable[[str], Any]


def b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def keypair(alg: str) -> Any:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(alg: str, public: Any, kid: str) -> Dict[str, Any]:
    algorithm = {"RS256": pyjwt.algorithms.RSAAlgorithm, "ES256": pyjwt.algorithms.ECAlgorithm}.get(
        alg, pyjwt.algorithms.OKPAlgorithm
    )
    jwk: Dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def raw_verifier(alg: str, public: Any, token: str) -> Verify:
    """The floor a Python user reaches by hand: cryptography on the same
    bytes with a loaded key (the signature decoded once, outside the loop)."""
    signing_input, _, sig = token.rpartition(".")
    data = signing_input.encode()
    signature = b64url(sig)
    if alg == "RS256":
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda _t: public.verify(signature, data, pkcs1, sha256)
    if alg == "ES256":
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda _t: public.verify(der, data, ecdsa)
    return lambda _t: public.verify(signature, data)


def peers(alg: str, public: Any, pem: str, jwk: Dict[str, Any]) -> Tuple[Dict[str, Verify], List[str]]:
    """Each library's fastest documented way to verify with a known key, iss
    and aud (keys parsed once where the API allows it)."""
    cases: Dict[str, Verify] = {}
    skipped: List[str] = []

    import ryjwt

    ry = ryjwt.PublicKey(pem, algorithms=[alg], audience=AUD, issuer=ISS)
    cases["ryjwt PublicKey.decode"] = ry.decode

    import oxyjwt

    ox_key = {"RS256": oxyjwt.DecodingKey.from_rsa_pem, "ES256": oxyjwt.DecodingKey.from_ec_pem}.get(
        alg, oxyjwt.DecodingKey.from_ed_pem
    )(pem)
    cases["oxyjwt decode"] = lambda t: oxyjwt.decode(t, ox_key, algorithms=[alg], audience=AUD, issuer=ISS)

    import jwt_rs  # pyjwt-rs

    # PEM text: its fastest form here (a cryptography key object or a PyJWK is
    # converted on every call, several times slower).
    cases["pyjwt-rs decode (PEM)"] = lambda t: jwt_rs.decode(t, pem, algorithms=[alg], audience=AUD, issuer=ISS)

    import webtoken

    # Takes only PEM text (a key object is a TypeError), parsed by each call.
    cases["webtoken decode (PEM)"] = lambda t: webtoken.decode(t, pem, algorithms=[alg], audience=AUD, issuer=ISS)

    cases["PyJWT decode"] = lambda t: pyjwt.decode(t, public, algorithms=[alg], audience=AUD, issuer=ISS)

    from joserfc import jwt as jose_jwt
    from joserfc.jwk import import_key

    jose_key = import_key(jwk)
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISS}, aud={"essential": True, "value": AUD}, exp={"essential": True}
    )

    def joserfc_verify(t: str) -> Any:
        claims = jose_jwt.decode(t, jose_key, algorithms=[alg]).claims
        registry.validate(claims)
        return claims

    cases["joserfc decode + validate"] = joserfc_verify

    import clasp

    signature = getattr(clasp.AsymmetricKey.verify, "__text_signature__", None)
    skipped.append(
        f"clasp-jwt {importlib.metadata.version('clasp-jwt')}: left out, cannot check iss/aud "
        f"(AsymmetricKey.verify{signature}: no issuer or audience anywhere in its API)"
    )
    return cases, skipped


def measure(cases: Dict[str, Verify], token: str, ops: int, rounds: int) -> Dict[str, float]:
    """Per case, the best of `rounds` rounds of the mean thread CPU time per
    call, in us. Rounds are interleaved (each round times every case once),
    so a busy spell of the machine hits every library alike."""
    for fn in cases.values():
        for _ in range(min(ops, 500)):
            fn(token)
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.thread_time_ns()
            for _ in range(ops):
                fn(token)
            best[name] = min(best[name], (time.thread_time_ns() - start) / 1e3 / ops)
    return best


def run_threads(fn: Verify, token: str, threads: int, ops: int) -> float:
    """Verifications per second of `threads` threads each making `ops` calls at once (wall time)."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(ops):
            fn(token)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    return threads * ops / (time.perf_counter() - start)


def scaling_2_vs_1(fn: Verify, token: str, ops: int, rounds: int) -> float:
    """Throughput of 2 threads at once over 1 thread's: the best of each over
    `rounds` rounds, one run of each per round (interleaved, so a busy spell
    of the machine hits both alike)."""
    one = two = 0.0
    for _ in range(rounds):
        one = max(one, run_threads(fn, token, 1, ops))
        two = max(two, run_threads(fn, token, 2, ops))
    return two / one


def rejects_bad_claims(name: str, fn: Verify, bad: Dict[str, str]) -> None:
    for what, token in bad.items():
        try:
            fn(token)
        except Exception:
            continue
        raise SystemExit(f"{name} accepted a token with {what}: it is not checking what the others check")


def crossing(ops: int, rounds: int) -> Dict[str, float]:
    """HS256, where the signature is cheap and what surrounds it shows:
    tokenkeep (cache off) against ryjwt and PyJWT, and an empty loop."""
    import ryjwt

    secret = os.urandom(32)
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "sub": "bench-user", "iat": now, "exp": now + 3600,
            "scope": "orders:read", "tenant": "acme"}
    token = pyjwt.encode(body, secret, algorithm="HS256", headers={"kid": "bench-hs256", "typ": "JWT"})
    jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode(), "kid": "bench-hs256", "alg": "HS256"}
    verifier = tokenkeep.Verifier(issuer=ISS, audience=AUD, jwks={"keys": []}, hmac_keys=[jwk],
                                  algorithms=["HS256"], cache={"verified_tokens": 0})
    ry = ryjwt.SecretKey(secret, algorithms=["HS256"], audience=AUD, issuer=ISS)
    cases: Dict[str, Verify] = {
        "tokenkeep verify (cache off)": verifier.verify,
        "ryjwt SecretKey.decode": ry.decode,
        "PyJWT decode": lambda t: pyjwt.decode(t, secret, algorithms=["HS256"], audience=AUD, issuer=ISS),
        "the loop alone (len(token))": len,
    }
    for name, fn in cases.items():
        if name.startswith("the loop"):
            continue
        assert fn(token)["sub"] == "bench-user", name
        bad = pyjwt.encode({**body, "aud": "api://other"}, secret, algorithm="HS256", headers={"kid": "bench-hs256"})
        rejects_bad_claims(name, fn, {"a wrong aud": bad})
    result = measure(cases, token, ops * 5, rounds)
    verifier.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--thread-rounds", type=int, default=7)
    args = parser.parse_args()
    # joserfc warns on every EdDSA verification (RFC 9864 deprecates the name).
    warnings.simplefilter("ignore")

    times: Dict[str, Dict[str, float]] = {}
    scaling: Dict[str, Dict[str, float]] = {}
    skipped: List[str] = []
    for alg in ALGS:
        private = keypair(alg)
        public = private.public_key()
        kid = f"bench-{alg.lower()}"
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        jwk = public_jwk(alg, public, kid)
        now = int(time.time())

        def mint(**claims: Any) -> str:
            body = {
                "iss": ISS, "aud": AUD, "sub": "bench-user", "iat": now, "exp": now + 3600,
                "scope": "orders:read", "tenant": "acme", **claims,
            }
            return pyjwt.encode(body, private, algorithm=alg, headers={"kid": kid, "typ": "JWT"})

        token = mint()
        bad = {"a wrong iss": mint(iss="https://other.test"), "a wrong aud": mint(aud="api://other"),
               "a past exp": mint(exp=now - 3600)}

        uncached = tokenkeep.Verifier.from_jwks({"keys": [jwk]}, issuer=ISS, audience=AUD, cache={"verified_tokens": 0})
        cached = tokenkeep.Verifier.from_jwks({"keys": [jwk]}, issuer=ISS, audience=AUD)
        cases: Dict[str, Verify] = {
            BASE: uncached.verify,
            "tokenkeep verify_cached (cache off)": uncached.verify_cached,
            "tokenkeep verify (cache hit)": cached.verify,
            "tokenkeep verify_cached (cache hit)": cached.verify_cached,
        }
        others, skipped = peers(alg, public, pem, jwk)
        cases.update(others)
        for name, fn in cases.items():
            assert fn(token)["sub"] == "bench-user", name
            rejects_bad_claims(name, fn, bad)
        raw = raw_verifier(alg, public, token)
        raw(token)
        cases["cryptography raw verify (signature only)"] = raw

        times[alg] = measure(cases, token, args.ops, args.rounds)

        scaling[alg] = {}
        for name in (BASE, "tokenkeep verify_cached (cache hit)", "ryjwt PublicKey.decode", "oxyjwt decode",
                     "PyJWT decode", "cryptography raw verify (signature only)"):
            # About 50 ms of work per thread and round.
            ops = max(200, int(50_000 / max(times[alg][name], 0.05)))
            scaling[alg][name] = scaling_2_vs_1(cases[name], token, ops, args.thread_rounds)
        uncached.close()
        cached.close()

    hs256 = crossing(args.ops, args.rounds)

    versions = ", ".join(
        f"{d} {importlib.metadata.version(d)}"
        for d in ("tokenkeep", "ryjwt", "oxyjwt", "pyjwt-rs", "webtoken", "PyJWT", "joserfc", "cryptography")
    )
    print(f"CPython {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; {versions}")
    print(f"{args.ops} calls x best of {args.rounds} interleaved rounds, thread CPU time; load {os.getloadavg()[0]:.2f}")
    for line in skipped:
        print(line)
    width = max(len(n) for n in times[ALGS[0]]) + 2
    print(f"\nus per verification (x = time / {BASE}; above 1: tokenkeep is faster)")
    print(" " * width + "".join(f"{a:<18}" for a in ALGS))
    for name in times[ALGS[0]]:
        cells = []
        for alg in ALGS:
            t, base = times[alg][name], times[alg][BASE]
            cells.append(f"{t:.2f} ({t / base:.2f}x)".ljust(18))
        print(f"{name:<{width}}" + "".join(cells))

    print("\n2 threads at once vs 1 (throughput ratio, wall time, best of "
          f"{args.thread_rounds} interleaved rounds; 2.00 = perfect on 2 idle cores; load {os.getloadavg()[0]:.2f})")
    for name in scaling[ALGS[0]]:
        print(f"{name:<{width}}" + "".join(f"{scaling[alg][name]:.2f}".ljust(18) for alg in ALGS))

    print("\nHS256 (the signature is cheap: what surrounds it shows), us per call:")
    for name, t in hs256.items():
        print(f"{name:<{width}}{t:.3f}")

    print("\nthe issue's goals:")
    for alg in ALGS:
        t = times[alg]
        print(
            f"{alg:<6} ryjwt / tokenkeep verify {t['ryjwt PublicKey.decode'] / t[BASE]:.2f}x; "
            f"PyJWT / tokenkeep verify {t['PyJWT decode'] / t[BASE]:.2f}x; "
            f"cache hit (verify_cached) {t['tokenkeep verify_cached (cache hit)']:.2f} us; "
            f"tokenkeep verify / raw cryptography {t[BASE] / t['cryptography raw verify (signature only)']:.2f}x; "
            f"2 threads / 1 {scaling[alg][BASE]:.2f}x"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
