"""A prometheus_client collector over the runtime's metrics snapshot.

>>> from prometheus_client import REGISTRY
>>> tokenkeep.prometheus.register(REGISTRY)

Families map 1:1 (same names, labels and help as every other host and the
agent's ``/metrics``): ``auth_jwt_invalid_total{reason}``,
``jwt_validation_duration_seconds{result}``, ``jwks_refresh_total{issuer,result}``,
``jwks_cache_age_seconds{issuer}``, ``jwks_keys{issuer}``, and the outbound
``vault_*``, ``token_file_read_total`` and ``credential_*`` families.
"""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Tuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from . import _native

__all__ = ["TokenkeepCollector", "register"]


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


class TokenkeepCollector(Collector):
    """Reads ``tokenkeep.metrics_snapshot()`` on every scrape."""

    def collect(self) -> Iterable[Metric]:
        for name, help_text, kind, samples in _native.metrics_snapshot():
            label_names: List[str] = sorted({k for labels, *_ in samples for k in labels})
            family: Metric
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=label_names)
            elif kind == "histogram":
                family = HistogramMetricFamily(name, help_text, labels=label_names)
            else:
                family = GaugeMetricFamily(name, help_text, labels=label_names)
            for labels, value, _count, buckets in samples:
                values = [labels.get(k, "") for k in label_names]
                if isinstance(family, HistogramMetricFamily):
                    points: List[Tuple[str, float]] = [(_le(le), float(n)) for le, n in buckets]
                    family.add_metric(values, points, sum_value=value)
                elif isinstance(family, CounterMetricFamily):
                    family.add_metric(values, value)
                else:
                    family.add_metric(values, value)
            yield family

    def describe(self) -> Iterable[Metric]:
        # Names only (for the registry's duplicate check); values come at scrape time.
        for metric in self.collect():
            metric.samples = []
            yield metric


def register(registry: Optional[CollectorRegistry] = None) -> TokenkeepCollector:
    """Registers a collector with ``registry`` (prometheus_client's default
    registry when None) and returns it."""
    collector = TokenkeepCollector()
    (REGISTRY if registry is None else registry).register(collector)
    return collector
