"""Replay a workload of plan requests through a simulated fleet (:mod:`promptc.runtime.sim.fleet`).

Each request is built by the real ``vllm/`` adapter (:class:`~promptc.runtime.providers.selfhosted.VLLMAdapter`,
so the routing header and ``cache_salt`` are exactly what a client sends), tokenized with the
fleet's chat template and served in-process — no HTTP, so a long stretch of turns replays in well
under a second. :func:`team_workload` is the team example's stretch of turns: three agents
interleaved, plus a second tenant running the same plans.

The **theoretical minimum** of prompt tokens computed (:attr:`ReplayResult.minimum_computed`) is
what one replica with unbounded memory computes for the same request sequence: every distinct
salted block prefix computed once in the whole fleet, plus each prompt's tail that no cache can
hold (its last partial block, and at least one token per request). No routing over any number of
replicas can compute less, since a replica can only read blocks that some replica computed before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from promptc.core.providers import limits_for
from promptc.plan import Request
from promptc.runtime.layout import TokenCounter
from promptc.runtime.providers.base import BuildContext, CallOptions
from promptc.runtime.providers.selfhosted import VLLMAdapter
from promptc.runtime.sim.fleet import ROUTING_HEADER, Fleet, chat_pieces

#: The questions of the simulated stretch, cycled (lengths differ, as real turns do).
QUERIES = (
    "Why does GET /users return 500 after the last deploy?",
    "Add a test for the pagination edge case.",
    "Summarize what changed in this file since yesterday and whether the docs need an update.",
    "Rename the helper and update its callers.",
    "Is this safe to merge?",
    "Explain the error in the CI log and propose the smallest fix.",
)


@dataclass(frozen=True)
class Turn:
    """One request of a workload: who sends it, for which plan, on which turn."""

    tenant: str | None
    plan: str
    turn: int
    request: Request


def team_workload(plans: Mapping[str, Any], turns: int, *, tenants: Sequence[str] = ("acme", "globex"),
                  second_tenant_plans: Sequence[str] = ("backend",)) -> list[Turn]:
    """The team example over ``turns`` turns: on each turn every plan of ``tenants[0]`` and
    ``second_tenant_plans`` for ``tenants[1]`` — the same plans and questions, so only the tenant (and
    its ``cache_salt``) tells them apart — in an order that rotates by one sender per turn (turn 0:
    the plans in ``plans`` order, then the second tenant's). ``plans`` maps names to loaded plans."""
    sessions = {(tenants[0], name): plans[name].bind() for name in plans}
    if len(tenants) > 1:
        sessions.update({(tenants[1], name): plans[name].bind() for name in second_tenant_plans})
    senders = list(sessions.items())
    out = []
    for t in range(turns):
        k = t % len(senders)  # interleaved: the speaking order rotates by one sender each turn
        for (tenant, name), session in senders[k:] + senders[:k]:
            req = session.render(file=f"src/{name}/module_{t % 3}.py", query=f"Turn {t}: {QUERIES[t % len(QUERIES)]}")
            out.append(Turn(tenant, name, t, req))
    return out


@dataclass(frozen=True)
class Served:
    """One replayed request: where it ran, its prompt size and the tokens it read from the cache."""

    tenant: str | None
    plan: str
    turn: int
    replica: int
    prompt: int
    cached: int


@dataclass
class ReplayResult:
    """Totals of a replay, the per-request record, and the theoretical minimum (module docstring)."""

    label: str
    served: list[Served] = field(default_factory=list)
    minimum_computed: int = 0
    replicas: int = 4

    @property
    def prompt(self) -> int:
        return sum(s.prompt for s in self.served)

    @property
    def cached(self) -> int:
        return sum(s.cached for s in self.served)

    @property
    def computed(self) -> int:
        return self.prompt - self.cached

    @property
    def hit_rate(self) -> float:
        return self.cached / self.prompt if self.prompt else 0.0

    @property
    def busiest_share(self) -> float:
        """The busiest replica's share of the requests (1/replicas is perfectly balanced)."""
        counts = [sum(1 for s in self.served if s.replica == r) for r in range(self.replicas)]
        return max(counts) / len(self.served) if self.served else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "requests": len(self.served), "prompt_tokens": self.prompt,
                "cached_tokens": self.cached, "computed_tokens": self.computed, "hit_rate": self.hit_rate,
                "minimum_computed_tokens": self.minimum_computed,
                "computed_over_minimum": self.computed / self.minimum_computed if self.minimum_computed else None,
                "busiest_replica_share": self.busiest_share}


def replay(workload: Sequence[Turn], encode: Callable[[str], list[int]], *, label: str = "", replicas: int = 4,
           policy: str = "routing_key", routing_header: str = ROUTING_HEADER, routing_scope: str = "plan",
           cache_salt: str = "tenant", block_size: int = 16, capacity_blocks: int | None = None,
           model: str = "sim") -> ReplayResult:
    """Replay ``workload`` through a fresh fleet; ``encode`` tokenizes (the simulator uses ``o200k_base``).

    ``routing_header=""`` sends no routing key (the router then falls back to round robin for the
    ``routing_key`` policy); ``cache_salt`` is the adapter setting (``tenant``, ``always``, ``none``).
    """
    adapter = VLLMAdapter().configured({"routing_header": routing_header, "routing_scope": routing_scope,
                                        "cache_salt": cache_salt})
    target = f"vllm/{model}"
    ctx = BuildContext(limits_for(target), TokenCounter())
    fleet = Fleet(replicas, policy, block_size=block_size, capacity_blocks=capacity_blocks)
    ideal = Fleet(1, "round_robin", block_size=block_size)
    pieces: dict[str, list[int]] = {}  # this replay's tokenization cache (identical pieces recur every turn)
    result = ReplayResult(label or policy, replicas=replicas)
    for w in workload:
        call = adapter.build(w.request, CallOptions(model=model, target=target, max_tokens=64, tenant=w.tenant), ctx)
        ids = [t for p in chat_pieces(call.payload) for t in pieces.setdefault(p, encode(p))]
        salt = call.payload.get("cache_salt")
        got = fleet.serve(ids, call.headers, salt)
        ideal.serve(ids, {}, salt)
        result.served.append(Served(w.tenant, w.plan, w.turn, got.replica, got.prompt_tokens, got.cached_tokens))
    result.minimum_computed = ideal.stats()["computed_tokens"]
    return result


__all__ = ["QUERIES", "ReplayResult", "Served", "Turn", "replay", "team_workload"]
