"""Every shared vector (tests/vectors/, the one copy) through verify,
verify_cached and verify_async, with the vector's keys, policy and time."""

from __future__ import annotations

import asyncio
from typing import Any, Dict

import pytest
from conftest import issued, load_vectors, note

import tokenkeep

VECTORS = load_vectors()


def verifier_for(vector: Dict[str, Any]) -> tokenkeep.Verifier:
    spec: Dict[str, Any] = {"jwks": vector["jwks"], "policy": vector["policy"]}
    if "hmac_keys" in vector:
        spec["hmac_keys"] = vector["hmac_keys"]
        for key in vector["hmac_keys"]:
            issued(key["k"])
    return tokenkeep.Verifier(**spec)


def test_there_are_vectors_for_every_code() -> None:
    assert len(VECTORS) >= 100
    codes = {v["expect"]["code"] for v in VECTORS if "code" in v["expect"]}
    assert codes == set(tokenkeep.REJECTION_CLASSES)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: Dict[str, Any]) -> None:
    issued(vector["token"])
    with verifier_for(vector) as verifier:
        for verify in (verifier.verify, verifier.verify_cached):
            if "code" in vector["expect"]:
                code = vector["expect"]["code"]
                with pytest.raises(tokenkeep.Rejected) as info:
                    verify(vector["token"], now=vector["now"])
                note(info.value)
                assert info.value.code == code
                assert type(info.value) is tokenkeep.REJECTION_CLASSES[code]
            else:
                assert verify(vector["token"], now=vector["now"]) == vector["expect"]["claims"]


def test_every_vector_through_verify_async() -> None:
    async def run() -> None:
        for vector in VECTORS:
            with verifier_for(vector) as verifier:
                try:
                    claims = await verifier.verify_async(vector["token"], now=vector["now"])
                except tokenkeep.Rejected as rejected:
                    assert rejected.code == vector["expect"].get("code"), vector["name"]
                else:
                    assert claims == vector["expect"]["claims"], vector["name"]

    asyncio.run(run())
