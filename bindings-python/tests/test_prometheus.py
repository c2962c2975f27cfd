"""tokenkeep.prometheus: the runtime's metrics snapshot through a
prometheus_client collector, scraped over HTTP."""

from __future__ import annotations

from typing import Dict

import httpx
import pytest
from conftest import DevIssuer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import tokenkeep
import tokenkeep.prometheus


def scrape(url: str) -> Dict[str, Dict[str, float]]:
    text = httpx.get(url, timeout=10).text
    out: Dict[str, Dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[key] = sample.value
    return out


def test_scraped_over_http(issuer: DevIssuer) -> None:
    registry = CollectorRegistry()
    tokenkeep.prometheus.register(registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        verifier = tokenkeep.Verifier(issuer=issuer.url, audience="api")
        assert verifier.ready(10)
        before = scrape(url)
        verifier.verify(issuer.mint())
        with pytest.raises(tokenkeep.Expired):
            verifier.verify(issuer.mint({"exp": 1_000_000_000}))
        after = scrape(url)

        def delta(name: str, labels: str) -> float:
            return after[name][labels] - before.get(name, {}).get(labels, 0.0)

        assert delta("auth_jwt_invalid_total", "reason=expired") == 1
        assert delta("jwt_validation_duration_seconds_count", "result=valid") >= 1
        assert after["jwt_validation_duration_seconds_bucket"]["le=+Inf,result=valid"] >= 1
        assert after["jwks_keys"][f"issuer={issuer.url}"] >= 3
        assert f"issuer={issuer.url}" in after["jwks_cache_age_seconds"]
        assert any(k.startswith(f"issuer={issuer.url}") for k in after["jwks_refresh_total"])
        verifier.close()
    finally:
        server.shutdown()
        thread.join()


def test_same_families_as_the_runtime() -> None:
    registry = CollectorRegistry()
    tokenkeep.prometheus.register(registry)
    names = {m.name for m in registry.collect()}
    runtime = {name for name, *_ in tokenkeep.metrics_snapshot()}
    # prometheus_client names counters without their _total suffix.
    assert names == {n[: -len("_total")] if n.endswith("_total") else n for n in runtime}
    with pytest.raises(ValueError):
        tokenkeep.prometheus.register(registry)  # the registry refuses a duplicate
