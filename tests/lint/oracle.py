"""The oracle lint is held to: a replay of the wire through the provider simulator.

For a baseline project and a changed one, per plan and target, the baseline's requests are sent for
two turns (the second one reads what the cache holds in steady state: ``was_read``), then the change's
request for a third turn (``read``, ``write`` per TTL, as the reply's usage reports them). Each turn
asks a different question (:data:`QUESTIONS`, which differ from their first token on), as a real
session does: what a target caches across turns is the plan's static prefix, never a turn's text.
Nothing here uses lint's arithmetic: the numbers are what the simulator's cache model (promptc/runtime/
sim, the documented provider semantics) reports for the payload the adapter really sends — with its
``prompt_cache_key``, tool definitions and content parts.

Every simulated provider is reached the way ``promptc simulate`` reaches it (the simulator prefix of
:func:`promptc.runtime.simulate.rules.sim_prefixes` that serves the adapter's request path), with
every minimum lowered to :data:`MIN` on both sides where the simulator has the knob (the project's
``[tool.promptc.cache_limits]`` and the simulator's ``min_tokens``).

Cost: a wire that reports writes (a write fee) prices them at their TTL's multiplier, less the read
they replace; a wire that reports none (automatic caches whose writes are free or not reported) pays
``lost × input × (1 − read)``: the tokens no longer read, at the uncached price — or, where the price row
bills writes the usage cannot report (its write count is unknown, not 0: Kimi bills a Cache Write item at
1× for 5 minutes, 2× for an hour, promptc/core/providers/moonshot.py), ``lost × input × (write(ttl) −
read)`` at the TTL the request asked for (:attr:`Replay.ttl`).

Held to this oracle (tests/lint/test_oracle.py, tests/lint/test_oracle_providers.py and the property
test tests/lint/test_oracle_property.py, which draws every target of :func:`targets`): Anthropic,
OpenAI gpt-5.6 (breakpoints) and gpt-5 (automatic, keyed), Bedrock, DeepSeek, Kimi (kimi-k3), Z.ai,
MiniMax, Claude on Vertex AI, Gemini (as a plain client sends it: implicit caching of whole parts and
function declarations — the spec's ``PLAIN_REQUEST_MODE`` and ``tool_def``; lint follows a
[tool.promptc.cache_limits] ``mode`` where the project sets one), Qwen on DashScope (its spec's prices),
OpenRouter's Anthropic and Gemini upstreams and the self-hosted vLLM and SGLang servers (below), all ±0.
OpenRouter's Gemini upstream is its spec's ``MARKERS["google"]`` (OpenRouter's docs, read 2026-12-07): only
the last ``cache_control`` marker is used, one 5-minute entry that a hit does not refresh — the row's one
breakpoint, which lint prices.
Gemini's implicit cache may read more on top of it, with no guarantee; the simulator models the
explicit entry only.

Which targets: :data:`MODELS` names the models of every provider the simulator serves
(:func:`simulated_providers`, derived from ``promptc simulate``'s rows and the simulator's routes);
tests/lint/test_oracle_providers.py fails when a simulated provider has neither a row there nor a
reason in :data:`NOT_HELD`, and :func:`targets` draws a new provider even before it has one.

Held with a documented worst case (issue 21 report, 2026-12-07): the routed caches (:data:`ROUTED`: xAI,
Mistral, OpenRouter), whose cache key picks one of several servers by hash. Their docs promise a hit
only under the same key (the specs' ``keyed_cache`` sources), so lint prices a changed key as reading
nothing. The replay equals that whenever the new key lands on another server; where the simulator's
hash puts it on the baseline's server (:meth:`Replay.lucky`), the wire reads more than is guaranteed and
the test asserts lint's loss is the whole baseline read, ≥ the wire's.

Self-hosted servers (vLLM, SGLang; issue 21, 2026-12-07): the simulated server caches the token ids of
the chat-templated prompt, turn included, with no TTL or key — :func:`forget` replaces it with an empty
one — in 16-token blocks (vLLM) or single tokens (SGLang's radix tree at its default page size of 1);
lint renders the same template from the spec (promptc/core/providers/selfhosted.py) and is held ±0.
Their cost is 0 on both sides (local: a price row of 0).

Not held yet: the providers of :data:`NOT_HELD`, each with its reason (none at present).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import httpx

from promptc.core.prices import price_for
from promptc.core.providers import SPECS, ttl_name
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.layout import TokenCounter
from promptc.runtime.sim import Simulator
from promptc.runtime.sim.openrouter_api import replica_for
from promptc.runtime.sim.xai_api import server_for
from promptc.runtime.simulate.rules import rules_for, served, sim_prefixes
from tests.aws_sim import aws_sim_env  # noqa: F401 - the oracle tests take it from here

#: The cache minimum both sides use (the project's [tool.promptc.cache_limits] and the simulator).
MIN = 64
#: The targets of the main oracle test (tests/lint/test_oracle.py).
TARGETS = ("anthropic/claude-opus-4-8", "openai/gpt-5.6")
#: Claude on AWS Bedrock (Converse; the simulator checks SigV4 signatures: tests/lint/test_oracle_providers.py).
BEDROCK = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"
#: The cache minimum of every target whose simulator minimum :func:`simulator` lowers, as
#: [tool.promptc.cache_limits] and the runtime config name it.
LIMITS = {p: {"min_tokens": MIN} for p in ("anthropic/", "openai/", "bedrock/", "gemini/", "dashscope/", "minimax/",
                                            "vertex/", "openrouter/")}
#: Providers whose cache key picks one of several servers by hash, each with its own cache: the simulator's
#: server choice per key (xai_api.server_for, shared by Mistral; openrouter_api.replica_for). A changed key
#: may or may not land where the prefix is: no guaranteed hit (the specs' ``keyed_cache`` sources).
ROUTED = {"xai/": lambda key: server_for(key, 0), "mistral/": lambda key: server_for(key, 0),
          "openrouter/": replica_for}
#: The runtime settings a target needs to be called at all (a Vertex project).
PROVIDERS = {"vertex": {"project": "promptc-oracle", "region": "us-east5"}}
#: The oracle's models per provider with a simulator: one per cache model the provider has (OpenAI's
#: breakpoints from gpt-5.6 and automatic caching before; OpenRouter's Anthropic, Gemini and OpenAI upstreams).
MODELS: dict[str, tuple[str, ...]] = {
    "anthropic": ("anthropic/claude-opus-4-8",),
    "openai": ("openai/gpt-5.6", "openai/gpt-5"),
    "bedrock": (BEDROCK,),
    "deepseek": ("deepseek/deepseek-chat",),
    "moonshot": ("moonshot/kimi-k3",),
    "zai": ("zai/glm-5.3",),
    "minimax": ("minimax/MiniMax-M2.7",),
    "vertex": ("vertex/claude-sonnet-4-5@20250929",),
    "gemini": ("gemini/gemini-2.5-flash",),
    "dashscope": ("dashscope/qwen-max",),
    "openrouter": ("openrouter/anthropic/claude-sonnet-4.5", "openrouter/google/gemini-2.5-flash",
                   "openrouter/openai/gpt-5"),
    "xai": ("xai/grok-4",),
    "mistral": ("mistral/mistral-large-latest",),
    # self-hosted: SmolLM2 (its own tokenizer and chat template) and a model priced with the proxies
    "vllm": ("vllm/HuggingFaceTB/SmolLM2-135M-Instruct", "vllm/Qwen/Qwen2.5-7B-Instruct"),
    "sglang": ("sglang/Qwen/Qwen2.5-7B-Instruct",),
}
#: Providers with a simulator that lint is not held to yet, and why (none since issue 21's vLLM/SGLang work).
NOT_HELD: dict[str, str] = {}
#: The simulator's self-hosted servers (promptc/runtime/sim/selfhosted_api.py): caches with no TTL or key,
#: which :func:`forget` replaces with empty ones.
SELF_HOSTED = ("vllm", "sglang")


def simulated_providers() -> tuple[str, ...]:
    """Every provider ``promptc simulate`` serves from the simulator: a row of
    :data:`promptc.runtime.simulate.rules.RULES` (its own, or one derived from a
    ``promptc.runtime.sim.<provider>_api`` route module), in name order."""
    return tuple(p for p in sorted(SPECS) if not rules_for(p).generic)


def targets() -> tuple[str, ...]:
    """Every target the oracle holds lint to: the :data:`MODELS` of each simulated provider not in
    :data:`NOT_HELD`. A simulated provider without a row is drawn too, under a placeholder model (and the
    registry test in tests/lint/test_oracle_providers.py fails until it has a row)."""
    return tuple(t for p in simulated_providers() if p not in NOT_HELD for t in MODELS.get(p, (f"{p}/oracle",)))


PYPROJECT = "\n".join(f'[tool.promptc.cache_limits."{k}"]\n' + "".join(f"{n} = {v!r}\n".replace("'", '"')
                                                                        for n, v in lim.items())
                      for k, lim in LIMITS.items())
#: One question per turn: the baseline's two turns, then the change's.
QUESTIONS = ("What changed in the release?", "Why did the build fail?", "How do I run the tests?")


@dataclass(frozen=True)
class Replay:
    """One plan's next request on one target after a warm baseline, as the simulator billed it."""

    was_read: int  #: the baseline's steady-state read
    read: int
    write: dict[str, int]  #: per TTL
    key_before: str | None = None  #: the cache key (xAI's conversation id, ``prompt_cache_key``) the baseline sent
    key_after: str | None = None  #: the one the change sent
    ttl: str | None = None  #: the TTL the change's request asked for (its retention on the target's spec)
    unreported: bool = False  #: the change's usage has no write count (writes happen, unknown: not 0)

    @property
    def rerouted(self) -> bool:
        """The change went out under another cache key than the baseline's."""
        return self.key_before != self.key_after

    def same_server(self, target: str) -> bool:
        """On a :data:`ROUTED` target, whether the simulator's server choice (a hash of the key) put the new
        key where the old one is (False on any other target)."""
        pick = next((f for p, f in ROUTED.items() if target.startswith(p)), None)
        return pick is not None and None not in (self.key_before, self.key_after) \
            and pick(self.key_before) == pick(self.key_after)

    def lucky(self, target: str) -> bool:
        """A rerouted request that the simulator's hash happened to put on the baseline's server: the wire
        reads what the old key cached there, though the provider guarantees nothing (lint: the worst case)."""
        return self.rerouted and self.same_server(target)

    @property
    def written(self) -> int:
        return sum(self.write.values())

    @property
    def lost(self) -> int:
        return max(0, self.was_read - self.read)


def _retention(root: Path) -> str:
    table = tomllib.loads((root / "pyproject.toml").read_text()).get("tool", {}).get("promptc", {})
    return table.get("cacheRetention", "short")


#: the replays' shared token counters, by tokenizer id (test-session state: see :func:`_client`)
_COUNTERS: dict[str, TokenCounter] = {}


def _client(target: str, sim: Simulator, retention: str, plan) -> Client:
    """A client of ``target`` pointed at the simulator prefix that serves its adapter's request path, with
    the account (API key) of the current replay (:func:`forget`)."""
    config = RuntimeConfig.from_dict({"cache_limits": LIMITS, "providers": PROVIDERS})
    client = Client(target, base_url=sim.url, api_key=f"sk-sim-oracle-{int(sim.clock())}", retention=retention,
                    config=config)
    # one token counter per tokenizer for every replay of the session (loading o200k_base takes ~0.4 s and a
    # case builds a dozen clients); a counter maps segment bytes to a count, so sharing it changes no number
    client.counter = _COUNTERS.setdefault(client.counter.tokenizer_id, client.counter)
    prefix = simulator_prefix(client, sim, plan)
    assert prefix is not None, f"the simulator serves no {target}"
    client.base_url = sim.url + prefix
    return client


def simulator_prefix(client: Client, sim: Simulator, plan) -> str | None:
    """The simulator prefix that serves the request path ``client``'s adapter builds for ``plan`` (as
    ``promptc simulate`` finds it), or None when no route of the simulator answers it."""
    path = client.build(plan.bind().render(query=QUESTIONS[0])).path
    return next((p for p in sim_prefixes(client.target.provider, client.adapter.default_base_url)
                 if served(sim.sim.app.routes, p + path)), None)


def oracle_client(target: str, sim: Simulator) -> Client:
    """A client of ``target`` with the oracle's settings, not yet pointed anywhere."""
    config = RuntimeConfig.from_dict({"cache_limits": LIMITS, "providers": PROVIDERS})
    client = Client(target, base_url=sim.url, api_key="sk-sim-oracle-probe", config=config)
    client.counter = _COUNTERS.setdefault(client.counter.tokenizer_id, client.counter)  # as in _client
    return client


def simulator() -> Simulator:
    """One simulator for many replays: :func:`forget` between them (a module-scoped fixture)."""
    return Simulator(anthropic_min_tokens={"claude-opus-4-8": MIN, "claude-sonnet-4-5": MIN}, openai_min_tokens=MIN,
                     min_tokens=MIN)


def forget(sim: Simulator) -> None:
    """Start on an empty cache: move the fake clock past the longest TTL any route keeps (24h); the
    next replay's clients also use a new account (the API key is derived from the clock), for the
    routes whose caches have no lifetime (Z.ai, xAI, Mistral: kept until the simulator stops); the
    self-hosted servers, which have neither TTL nor account, are replaced with empty ones."""
    sim.advance(3 * 86400)
    for name in SELF_HOSTED:
        httpx.post(sim.url + "/_sim/fleet", json={"name": name}).raise_for_status()


def _send(client: Client, plan, turn: int) -> tuple[int, dict[str, int], bool]:
    """One turn: the tokens read, written per TTL, and whether the write count is unknown (not reported)."""
    u = client.complete(plan.bind().render(query=QUESTIONS[turn]), max_tokens=8).usage
    return u.cache_read or 0, dict(u.cache_write or {}), u.cache_write is None


def _key(client: Client, plan) -> str | None:
    """The cache key the adapter sends for ``plan`` (derived from its static prefix, not the turn)."""
    return client.build(plan.bind().render(query=QUESTIONS[0])).cache_key


def replay_plan(sim: Simulator, old_plan, new_plan, target: str, old_root: Path, new_root: Path) -> Replay:
    """One plan alone on an empty cache: the baseline for two turns, the change for a third."""
    forget(sim)
    with _client(target, sim, _retention(old_root), old_plan) as c:
        _send(c, old_plan, 0)
        was, _, _ = _send(c, old_plan, 1)
        before = _key(c, old_plan)
    with _client(target, sim, _retention(new_root), new_plan) as c:
        read, write, unknown = _send(c, new_plan, 2)
        return Replay(was, read, write, before, _key(c, new_plan), ttl_name(target, _retention(new_root)), unknown)


def replay_all(sim: Simulator, old_plans: dict, new_plans: dict, names: list[str], target: str, old_root: Path,
               new_root: Path) -> dict[str, Replay]:
    """Every plan on one cache (shared across plans, as a provider's is): every baseline plan warm for
    two turns, then each changed plan's next request in ``names`` order."""
    forget(sim)
    out = {}
    first = old_plans[min(old_plans)]
    with _client(target, sim, _retention(old_root), first) as c:
        was, keys = {}, {name: _key(c, plan) for name, plan in old_plans.items()}
        for name in sorted(old_plans):
            _send(c, old_plans[name], 0)
        for name in sorted(old_plans):
            was[name], _, _ = _send(c, old_plans[name], 1)
    with _client(target, sim, _retention(new_root), new_plans[names[0]]) as c:
        for name in names:
            read, write, unknown = _send(c, new_plans[name], 2)
            out[name] = Replay(was.get(name, 0), read, write, keys.get(name), _key(c, new_plans[name]),
                               ttl_name(target, _retention(new_root)), unknown)
    return out


def cost(target: str, r: Replay, overrides=None) -> float:
    """The extra cost of the next request: Σ write[ttl] × input × (write multiplier(ttl) − read) for
    the re-written tokens the wire reports; where it reports none, the tokens no longer read at the
    uncached price (lost × input × (1 − read)), or at the write price of the request's TTL where the row
    bills unreported writes — only when a cached prefix was lost."""
    row = price_for(target, overrides)
    if not r.lost or row is None:
        return 0.0
    if not r.written:
        paid = row.write_multiplier(r.ttl or "5m") if r.unreported and row.write else 1.0
        return r.lost * row.input / 1_000_000 * (paid - row.read)
    return sum(n * row.input / 1_000_000 * (row.write_multiplier(ttl) - row.read) for ttl, n in r.write.items())
