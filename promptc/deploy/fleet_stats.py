"""Fleet-wide ``GET /metrics`` and ``GET /v1/cache/stats``: every replica's answer, merged (no Ray here).

The ingress asks every engine replica the caller's own request (same headers, so each replica applies
the same scope: the operator sees every tenant, a tenant key only its own series) and merges:

- ``/metrics`` (Prometheus text 0.0.4): every series of every replica, with a ``replica`` label added,
  and for every counter and histogram a fleet total under the same name with the ``promptc_fleet_``
  prefix (``promptc_prompt_tokens_computed_total`` → ``promptc_fleet_prompt_tokens_computed_total``),
  summed over the replicas by its other labels, plus ``promptc_fleet_replicas`` (the replicas that
  answered). Gauges are not summed: a maximum or a limit summed over replicas means nothing; the
  per-replica series are there for ``sum by`` in PromQL. The totals live in their own families, so a
  query over the per-replica series never counts them twice.
- ``/v1/cache/stats`` (JSON): the numeric fields summed (``budget_bytes`` becomes the fleet's), the
  tenant, and ``replicas``: each replica's own answer by replica id.

Parsing and writing use prometheus_client, the reference implementation of the format (its parser and
its exposition writer), rather than hand-written text handling.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

FLEET_PREFIX = "promptc_fleet_"
_SUMMED = ("counter", "histogram")


class _Collected:
    """A registry-shaped object for prometheus_client's writer: yields the given families."""

    def __init__(self, families: Sequence[Metric]):
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self.families)


def _fleet_name(name: str) -> str:
    return FLEET_PREFIX + name.removeprefix("promptc_")


def merge_metrics(answers: Sequence[tuple[str, str]]) -> str:
    """``answers``: (replica id, that replica's /metrics text). The merged exposition (module docstring)."""
    families: dict[str, Metric] = {}
    totals: dict[str, Metric] = {}
    sums: dict[str, dict[tuple[str, tuple], float]] = defaultdict(lambda: defaultdict(float))
    for replica, text in sorted(answers):
        for fam in text_string_to_metric_families(text):
            out = families.get(fam.name)
            if out is None:
                out = families[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
            for s in fam.samples:
                out.add_sample(s.name, {**s.labels, "replica": replica}, s.value)
                if fam.type in _SUMMED:
                    sums[fam.name][(s.name, tuple(sorted(s.labels.items())))] += s.value
            if fam.type in _SUMMED and fam.name not in totals:
                totals[fam.name] = Metric(_fleet_name(fam.name), f"{fam.documentation} (all replicas)", fam.type,
                                          fam.unit)
    for name, total in totals.items():
        for (sample, labels), value in sums[name].items():  # in the replicas' own order (first seen)
            total.add_sample(_fleet_name(sample), dict(labels), value)
    count = Metric(FLEET_PREFIX + "replicas", "Engine replicas whose metrics are merged here", "gauge")
    count.add_sample(FLEET_PREFIX + "replicas", {}, len(answers))
    return generate_latest(_Collected([*families.values(), *totals.values(), count])).decode()


def merge_stats(answers: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """``answers``: (replica id, that replica's /v1/cache/stats JSON). Numeric fields summed, the rest
    (the tenant) kept from the first, and ``replicas``: each answer by replica id."""
    out: dict[str, Any] = {}
    for _, stats in sorted(answers, key=lambda a: a[0]):
        for k, v in stats.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
            else:
                out.setdefault(k, v)
    out["replicas"] = {replica: stats for replica, stats in sorted(answers, key=lambda a: a[0])}
    return out


__all__ = ["FLEET_PREFIX", "merge_metrics", "merge_stats"]
