"""The oracle lint is held to: a replay of the wire through the provider simulator.

For a baseline project and a changed one, per plan and target, the baseline's request is sent twice
(the second one reads what the cache holds in steady state: ``was_read``), then the change's request
once (``read``, ``write`` per TTL). Nothing here uses lint's arithmetic: the numbers are what the
simulator's cache model (promptc/runtime/sim/cache.py, the documented provider semantics) reports in
each reply's usage, for the payload the adapter really sends.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from promptc.core.prices import price_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator

#: The cache minimum both sides use (the project's [tool.promptc.cache_limits] and the simulator).
MIN = 64
#: Provider targets whose simulator route models explicit (breakpoint) caching. OpenAI before gpt-5.6
#: (automatic caching, 128-token steps) is NOT held to the oracle yet: replayed on openai/gpt-5, lint's
#: numbers differ from the wire's (issue 21 report, 2026-12-07): the wire reports no writes (they are
#: free) while lint reports the re-cached tokens as written; a change to the last static global segment
#: moves the request to a new ``prompt_cache_key`` (promptc.runtime.providers.openai.cache_key), so the
#: wire reads nothing where lint reads the unchanged 64+128k-token prefix before it; a tool append reads
#: nothing on the wire where lint keeps 64 tokens; and shrinking below the minimum is priced 0 by lint.
TARGETS = ("anthropic/claude-opus-4-8", "openai/gpt-5.6")
#: Claude on AWS Bedrock (Converse; the simulator checks SigV4 signatures: tests/lint/test_oracle_providers.py).
BEDROCK = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"
#: The cache minimum of every target, as [tool.promptc.cache_limits] and the runtime config name it.
LIMITS = {"anthropic/": {"min_tokens": MIN}, "openai/gpt-5.6": {"min_tokens": MIN}, "bedrock/": {"min_tokens": MIN}}

PYPROJECT = "\n".join(f'[tool.promptc.cache_limits."{k}"]\nmin_tokens = {v["min_tokens"]}\n' for k, v in LIMITS.items())


@dataclass(frozen=True)
class Replay:
    """One plan's next request on one target after a warm baseline, as the simulator billed it."""

    was_read: int  #: the baseline's steady-state read
    read: int
    write: dict[str, int]  #: per TTL

    @property
    def written(self) -> int:
        return sum(self.write.values())

    @property
    def lost(self) -> int:
        return max(0, self.was_read - self.read)


def _retention(root: Path) -> str:
    table = tomllib.loads((root / "pyproject.toml").read_text()).get("tool", {}).get("promptc", {})
    return table.get("cacheRetention", "short")


def _client(target: str, sim: Simulator, retention: str) -> Client:
    base = sim.url + "/v1" if target.startswith("openai/") else sim.url
    config = RuntimeConfig.from_dict({"cache_limits": LIMITS})
    return Client(target, base_url=base, api_key="sk-sim-oracle", retention=retention, config=config)


def simulator() -> Simulator:
    """One simulator for many replays: :func:`forget` between them (a module-scoped fixture)."""
    return Simulator(anthropic_min_tokens={"claude-opus-4-8": MIN, "claude-sonnet-4-5": MIN}, openai_min_tokens=MIN)


def forget(sim: Simulator) -> None:
    """Expire every cache entry: move the fake clock past the longest TTL any route keeps (24h)."""
    sim.advance(3 * 86400)


def _send(client: Client, plan) -> tuple[int, dict[str, int]]:
    u = client.complete(plan.bind().render(query="What changed?"), max_tokens=8).usage
    return u.cache_read, dict(u.cache_write or {})


def replay_plan(sim: Simulator, old_plan, new_plan, target: str, old_root: Path, new_root: Path) -> Replay:
    """One plan alone on an empty cache: the baseline twice, the change once."""
    forget(sim)
    with _client(target, sim, _retention(old_root)) as c:
        _send(c, old_plan)
        was, _ = _send(c, old_plan)
    with _client(target, sim, _retention(new_root)) as c:
        read, write = _send(c, new_plan)
    return Replay(was, read, write)


def replay_all(sim: Simulator, old_plans: dict, new_plans: dict, names: list[str], target: str, old_root: Path,
               new_root: Path) -> dict[str, Replay]:
    """Every plan on one cache (shared across plans, as a provider's is): every baseline plan warm,
    then each changed plan's next request in ``names`` order."""
    forget(sim)
    out = {}
    with _client(target, sim, _retention(old_root)) as c:
        was = {}
        for name in sorted(old_plans):
            _send(c, old_plans[name])
        for name in sorted(old_plans):
            was[name], _ = _send(c, old_plans[name])
    with _client(target, sim, _retention(new_root)) as c:
        for name in names:
            read, write = _send(c, new_plans[name])
            out[name] = Replay(was.get(name, 0), read, write)
    return out


def cost(target: str, r: Replay, overrides=None) -> float:
    """The extra cost of the re-written tokens at the TTLs the wire reports: Σ write[ttl] × input ×
    (write multiplier(ttl) − read multiplier) — only when a cached prefix was lost."""
    row = price_for(target, overrides)
    if not r.lost or row is None:
        return 0.0
    if not r.written:  # nothing cached any more: every request pays the full price of what it read
        return r.lost * row.input / 1_000_000 * (1 - row.read)
    return sum(n * row.input / 1_000_000 * (row.write_multiplier(ttl) - row.read) for ttl, n in r.write.items())
