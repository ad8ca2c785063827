"""Serving metrics: per-tenant latency histograms and request outcomes, and the Prometheus text format.

:class:`EngineMetrics` belongs to one :class:`~promptc.engine.runner.Engine` (no module state); the
scheduler records time to first token, the gaps between a request's tokens and each request's
outcome, the server records the requests it refuses. :func:`render` writes the Prometheus text
exposition format (version 0.0.4) for ``GET /metrics``.

Scopes (docs/engine.md, "Metrics"): the *operator* scope sees every tenant's series plus the
process-wide ones (queue depth, batch size, tree totals); a *tenant* scope sees only the series
labelled with its own tenant — no process-wide series either, since queue depth and tree totals
would reveal other tenants' activity.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # the protocol of what is read of an engine, not the runner: no import cycle back to it
    from promptc.engine.steps import EngineCore

# TTFT on a CPU spans tens of milliseconds (a cache hit) to a minute (a cold 8k prompt under load)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# one decode step: ~5 ms (GPU, int4 on an idle CPU) to seconds (a large batch on a loaded CPU)
ITL_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.5, 5.0)
# request outcomes (the ``status`` label of promptc_requests_total)
STATUSES = ("ok", "cancelled", "deadline_exceeded", "queue_full", "invalid", "error")


class Histogram:
    """A Prometheus histogram: ``le``-inclusive buckets, a sum and a count. Not locked (see EngineMetrics)."""

    def __init__(self, buckets: Iterable[float]):
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count of observations <= le)`` for every bucket and ``+Inf``."""
        out, running = [], 0
        for le, n in zip(self.buckets + (math.inf,), self.counts):
            running += n
            out.append(("+Inf" if le == math.inf else _num(le), running))
        return out

    def copy(self) -> "Histogram":
        h = Histogram(self.buckets)
        h.counts, h.sum, h.count = list(self.counts), self.sum, self.count
        return h


@dataclass
class TenantMetrics:
    ttft: Histogram = field(default_factory=lambda: Histogram(TTFT_BUCKETS))
    inter_token: Histogram = field(default_factory=lambda: Histogram(ITL_BUCKETS))
    requests: dict[str, int] = field(default_factory=dict)  # status → count
    generated_tokens: int = 0

    def copy(self) -> "TenantMetrics":
        return TenantMetrics(self.ttft.copy(), self.inter_token.copy(), dict(self.requests), self.generated_tokens)


class EngineMetrics:
    """Per-tenant latency histograms, generated tokens and request outcomes; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, TenantMetrics] = {}
        self.last_batch = 0  # requests in the most recent decode step

    def _t(self, tenant: str) -> TenantMetrics:
        m = self._tenants.get(tenant)
        if m is None:
            m = self._tenants[tenant] = TenantMetrics()
        return m

    def token(self, tenant: str, first: bool, seconds: float, emitted: bool = True) -> None:
        """A request sampled a token: ``seconds`` since it arrived (first) or since its previous token.
        ``emitted`` is False for the end-of-sequence token (timed, but not a completion token)."""
        with self._lock:
            m = self._t(tenant)
            (m.ttft if first else m.inter_token).observe(seconds)
            m.generated_tokens += int(emitted)

    def request_done(self, tenant: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown request status {status!r}")
        with self._lock:
            r = self._t(tenant).requests
            r[status] = r.get(status, 0) + 1

    def snapshot(self) -> dict[str, TenantMetrics]:
        """A consistent copy of every tenant's metrics."""
        with self._lock:
            return {t: m.copy() for t, m in self._tenants.items()}


# -- the text exposition format --------------------------------------------------------------------
def _num(v: float | int) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, type_: str, help_: str) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {type_}")

    def sample(self, name: str, labels: dict[str, str], value: float | int) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def histogram(self, name: str, labels: dict[str, str], h: Histogram) -> None:
        for le, n in h.cumulative():
            self.sample(name + "_bucket", {**labels, "le": le}, n)
        self.sample(name + "_sum", labels, float(h.sum))
        self.sample(name + "_count", labels, h.count)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# (metric, TenantStats field, type, help) for the tree's per-tenant accounting
_TREE_SERIES = (
    ("promptc_prompt_tokens_computed_total", "computed_tokens", "counter",
     "Prompt tokens computed (not from the KV tree)"),
    ("promptc_prompt_tokens_cached_total", "cached_tokens", "counter", "Prompt tokens taken from the KV tree"),
    ("promptc_cache_segment_hits_total", "hits", "counter", "Segments found in the KV tree"),
    ("promptc_cache_segment_misses_total", "misses", "counter", "Segments computed because the KV tree lacked them"),
    ("promptc_kv_tree_bytes", "bytes", "gauge", "Bytes of KV state stored in the tree"),
    ("promptc_kv_tree_nodes", "nodes", "gauge", "Segment nodes stored in the tree"),
    ("promptc_kv_tree_evictions_total", "evictions", "counter", "Nodes evicted to stay within the memory budget"),
    ("promptc_kv_tree_expirations_total", "expirations", "counter", "Nodes dropped after their TTL"),
)


def render(engine: "EngineCore", tenant: str | None = None, queue_limit: int | None = None) -> str:
    """The Prometheus text exposition of ``engine``'s metrics.

    ``tenant=None`` is the operator scope (every tenant, and the process-wide series); a tenant name
    limits the output to the series labelled with that tenant.
    """
    tree_stats = engine.tree.tenant_snapshot()
    served = engine.metrics.snapshot()
    tenants = sorted(set(tree_stats) | set(served)) if tenant is None else [tenant]
    out = _Exposition()
    if tenant is None:
        sched = engine.scheduler
        waiting, prefilling, decoding = sched.counts()
        s = sched.stats
        out.family("promptc_queue_depth", "gauge", "Requests waiting to join the batch")
        out.sample("promptc_queue_depth", {}, waiting)
        if queue_limit is not None:
            out.family("promptc_queue_limit", "gauge", "Waiting requests beyond which new ones get 429")
            out.sample("promptc_queue_limit", {}, queue_limit)
        out.family("promptc_running_requests", "gauge", "Requests admitted to the batch, by phase")
        out.sample("promptc_running_requests", {"phase": "prefill"}, prefilling)
        out.sample("promptc_running_requests", {"phase": "decode"}, decoding)
        out.family("promptc_batch_size", "gauge", "Requests in the most recent decode step")
        out.sample("promptc_batch_size", {}, engine.metrics.last_batch)
        out.family("promptc_batch_size_max", "gauge", "Largest decode batch since the engine started")
        out.sample("promptc_batch_size_max", {}, s.max_batch)
        out.family("promptc_decode_steps_total", "counter", "Batched decode forward passes")
        out.sample("promptc_decode_steps_total", {}, s.decode_steps)
        out.family("promptc_decode_batched_tokens_total", "counter",
                   "Tokens computed by decode steps (sum of batch sizes; / steps = mean batch size)")
        out.sample("promptc_decode_batched_tokens_total", {}, s.batched_tokens)
        out.family("promptc_prefill_chunks_total", "counter", "Prompt chunks computed between decode steps")
        out.sample("promptc_prefill_chunks_total", {}, s.prefill_chunks)
        out.family("promptc_kv_tree_bytes_used", "gauge", "Bytes stored in the KV tree, all tenants")
        out.sample("promptc_kv_tree_bytes_used", {}, engine.tree.bytes_used)
        out.family("promptc_kv_tree_budget_bytes", "gauge", "The KV tree's memory budget")
        out.sample("promptc_kv_tree_budget_bytes", {}, engine.tree.budget_bytes)
    for name, attr, type_, help_ in _TREE_SERIES:
        out.family(name, type_, help_)
        for t in tenants:
            st = tree_stats.get(t)
            out.sample(name, {"tenant": t}, getattr(st, attr) if st is not None else 0)
    out.family("promptc_generated_tokens_total", "counter", "Completion tokens generated")
    for t in tenants:
        m = served.get(t)
        out.sample("promptc_generated_tokens_total", {"tenant": t}, m.generated_tokens if m else 0)
    out.family("promptc_requests_total", "counter", "Requests by outcome")
    for t in tenants:
        m = served.get(t)
        for status in STATUSES:
            out.sample("promptc_requests_total", {"tenant": t, "status": status}, m.requests.get(status, 0) if m else 0)
    for name, attr, help_, buckets in (
            ("promptc_time_to_first_token_seconds", "ttft", "From arrival to the first sampled token", TTFT_BUCKETS),
            ("promptc_inter_token_latency_seconds", "inter_token", "Between consecutive tokens of a request",
             ITL_BUCKETS)):
        out.family(name, "histogram", help_)
        for t in tenants:
            m = served.get(t)
            out.histogram(name, {"tenant": t}, getattr(m, attr) if m else Histogram(buckets))
    return out.text()
