"""Lint against the wire on every simulated provider target (issue 21).

The same oracle as tests/lint/test_oracle.py — every plan's impact lint reports equals a replay of
the baseline's then the change's requests through the in-process simulator — on projects whose plans
target the other providers:

- Claude on AWS Bedrock (Converse; the simulator accepts only SigV4-signed requests, so the module runs
  with the simulator's dummy AWS credentials in the environment, as tests/providers/test_bedrock.py),
  alone and next to Anthropic's own API (one cache per provider: never summed);
- the automatic caches, which report no writes: OpenAI before gpt-5.6 (token prefixes in 128-token
  steps, scoped by ``prompt_cache_key``), DeepSeek (64-token units per account), Kimi (256-token
  blocks per ``prompt_cache_key``) and Z.ai (whole messages and tool definitions);
- the Anthropic-style breakpoint caches of MiniMax and Claude on Vertex AI (a project id in the
  runtime settings: tests/lint/oracle.py ``PROVIDERS``);
- Gemini as the runtime sends it without a ``cachedContents`` manager: implicit caching of whole parts
  and function declarations (the spec's ``PLAIN_REQUEST_MODE`` and ``tool_def``);
- Qwen on DashScope (explicit markers; the spec's own prices) and OpenRouter's Anthropic and Gemini upstreams
  (routed, below; Gemini's: only the last marker is used, the spec's ``MARKERS``);
- the self-hosted servers (vLLM, SGLang), which cache the token ids of the chat-templated prompt, turn included,
  in 16-token blocks (vLLM) or single tokens (SGLang's radix cache): SmolLM2 with its own tokenizer and template,
  a model priced with the ChatML and ``o200k_base`` proxies, cost 0 (local);
- the routed caches (tests/lint/oracle.py ``ROUTED``: xAI, Mistral, OpenRouter's OpenAI upstream), whose
  cache key picks one of several servers: lint prices a changed key as reading nothing (no guaranteed
  hit, the specs' ``keyed_cache`` sources) and equals the replay exactly, except where the simulator's
  hash happened to put the new key on the baseline's server — there the wire reads more than the
  guarantee, and lint must report the documented worst case: everything the baseline read is lost.

Which targets: every target of tests/lint/oracle.py ``targets()`` is in one set here, and every provider the
simulator serves is in the oracle (``MODELS``) or named with a reason (``NOT_HELD``).
"""

from __future__ import annotations

import shutil

import pytest

from promptc.compiler.build import compile_project
from promptc.core.providers import SPECS
from promptc.lint import lint
from promptc.runtime.providers import ADAPTERS
from promptc.runtime.simulate.rules import rules_for
from tests.lint.oracle import (BEDROCK, MODELS, NOT_HELD, ROUTED, TARGETS, aws_sim_env, cost, oracle_client, replay_all,
                               replay_plan, simulated_providers, simulator, simulator_prefix, targets)
from tests.lint.test_oracle import EDITS, _check, project

#: Bedrock alone, and next to Anthropic's own API (one cache per provider: never summed); the automatic
#: token-prefix caches; the Anthropic-style caches of other providers. One project per set: every target
#: of a set is replayed for each edit (compiled and linted once).
TARGET_SETS = {"bedrock": (BEDROCK,), "bedrock+anthropic": (BEDROCK, "anthropic/claude-opus-4-8"),
               "automatic": ("openai/gpt-5", "deepseek/deepseek-chat", "moonshot/kimi-k3", "zai/glm-5.3"),
               "anthropic-style": ("minimax/MiniMax-M2.7", "vertex/claude-sonnet-4-5@20250929"),
               "gemini": ("gemini/gemini-2.5-flash",),
               "markers": ("dashscope/qwen-max", "openrouter/anthropic/claude-sonnet-4.5",
                           "openrouter/google/gemini-2.5-flash"),
               "routed": ("xai/grok-4", "mistral/mistral-large-latest", "openrouter/openai/gpt-5"),
               "self-hosted": ("vllm/HuggingFaceTB/SmolLM2-135M-Instruct", "vllm/Qwen/Qwen2.5-7B-Instruct",
                               "sglang/Qwen/Qwen2.5-7B-Instruct")}
#: The edits whose wire differs most between providers: tools first, memory, minimum, retention.
#: (byte-identical, rename and rewrite edits lose the same on every breakpoint cache: tests/lint/test_oracle.py)
PROVIDER_EDITS = ("agent text", "tool append", "tool insert", "memory append", "retention long",
                  "shrink below minimum", "rules text")


@pytest.fixture(scope="module", autouse=True)
def aws_env(tmp_path_factory):
    """The simulator's credentials in the environment, and nothing else of the machine's AWS setup."""
    with aws_sim_env(tmp_path_factory.mktemp("aws")):
        yield


@pytest.fixture(scope="module")
def sim():
    with simulator() as s:
        yield s


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle-providers")
    return {name: project(root / name, targets=ts) for name, ts in TARGET_SETS.items()}


#: With Anthropic's API beside it, the edits whose numbers differ between the two wires.
BOTH_EDITS = ("rules text", "tool insert", "memory append", "shrink below minimum")
#: On the automatic caches, the edits whose wire differs from a breakpoint cache's: a cache key that
#: moves with the shared block, tokens of a changed segment still matched, steps, free writes.
AUTOMATIC_EDITS = ("rules text", "rules whitespace", "tool append", "tool insert", "agent text", "memory append",
                   "shrink below minimum")
#: On Anthropic-style caches of other providers: the edits whose wire differs most (tools first, minimum).
STYLE_EDITS = ("rules text", "tool append", "agent text", "memory append", "shrink below minimum", "retention long")
#: Gemini's implicit cache: every tool edit (one block per function declaration), text, memory, minimum.
GEMINI_EDITS = ("rules text", "tool append", "tool insert", "tool parameter", "memory append", "shrink below minimum")
#: Routed caches: edits that move the key (shared block) and ones that keep it (the plan's own segments).
ROUTED_EDITS = ("rules text", "rules whitespace", "tool append", "agent text", "memory append", "shrink below minimum")
#: Self-hosted (chat-templated token prefixes, turn included): shared-block text, tools (rendered by the proxy
#: template, dropped by SmolLM2's), the plan's own text and memory, the turn's text, the minimum. (Not "rules
#: whitespace": the compiler rejects its token boundary on SmolLM2's exact tokenizer, E601.)
SELF_HOSTED_EDITS = ("rules text", "tool append", "tool insert", "agent text", "memory append",
                     "memory rewrite", "turn text", "shrink below minimum")
CASES = [("bedrock", e) for e in PROVIDER_EDITS] + [("bedrock+anthropic", e) for e in BOTH_EDITS] \
    + [("automatic", e) for e in AUTOMATIC_EDITS] + [("anthropic-style", e) for e in STYLE_EDITS] \
    + [("gemini", e) for e in GEMINI_EDITS] + [("markers", e) for e in STYLE_EDITS] \
    + [("self-hosted", e) for e in SELF_HOSTED_EDITS]


@pytest.mark.parametrize(("targets", "edit"), CASES, ids=[f"{t}-{e}" for t, e in CASES])
def test_lint_equals_the_simulator_on_every_provider(targets, edit, bases, sim, tmp_path):
    base = bases[targets]
    new = shutil.copytree(base, tmp_path / "new", ignore=shutil.ignore_patterns(".promptc"))
    EDITS[edit](new)
    ts = TARGET_SETS[targets]
    if any(t.startswith(tuple(ROUTED)) for t in ts):  # OpenRouter's Anthropic upstream: routed by session_id
        _check_routed(sim, base, new, ts)
    else:
        _check(sim, base, new, targets=ts)


def _check_routed(sim, old_root, new_root, targets) -> None:
    """tests/lint/test_oracle.py's check on routed caches: lint equals the replay, except on a lucky replay
    (:meth:`tests.lint.oracle.Replay.lucky`), where lint reports the worst case and the wire loses less."""
    old = compile_project([old_root], cache_dir=old_root.parent / "cache").raise_on_error().plans
    new = compile_project([new_root], cache_dir=new_root.parent / "cache").raise_on_error().plans
    report = lint([new_root], str(old_root), cache_dir=new_root.parent / "cache", display_root=new_root)
    summary = {p.plan: p for p in report.summary.plans}
    lint_broken = {p.plan for p in report.summary.plans if any(p.lost.values())}
    oracle_broken, lucky = set(), set()
    for name in sorted(set(new) & set(old)):
        got = summary.get(name)
        for target in targets:
            r = replay_plan(sim, old[name], new[name], target, old_root, new_root)
            tokens, lost = (got.tokens[target], got.lost[target]) if got else (0, 0)
            where = f"{name} on {target}"
            if r.lucky(target):
                lucky.add((name, target))
                assert lost == r.was_read >= r.lost and tokens >= r.written, where
                oracle_broken |= {name} if r.was_read else set()
                continue
            oracle_broken |= {name} if r.lost else set()
            assert (tokens, lost) == (r.written, r.lost), where
            assert (got.cost.get(target, 0.0) if got else 0.0) == pytest.approx(cost(target, r), abs=2e-6), where
    assert lint_broken == oracle_broken
    failing = {p for f in report.failing("error") for p in f.plans}
    assert failing <= oracle_broken, [(f.code, f.message) for f in report.failing("error")]
    for target in targets if lint_broken else ():
        rs = replay_all(sim, old, new, sorted(lint_broken), target, old_root, new_root)
        wire = sum(cost(target, r) for r in rs.values())
        if any(r.lucky(target) for r in rs.values()):
            assert report.summary.cost.get(target, 0.0) >= wire - 5e-6, target
        else:
            assert report.summary.cost.get(target, 0.0) == pytest.approx(wire, abs=5e-6), target


@pytest.mark.parametrize("edit", ROUTED_EDITS)
def test_lint_reports_the_worst_case_on_routed_caches(edit, bases, sim, tmp_path):
    new = shutil.copytree(bases["routed"], tmp_path / "new", ignore=shutil.ignore_patterns(".promptc"))
    EDITS[edit](new)
    _check_routed(sim, bases["routed"], new, TARGET_SETS["routed"])


def test_the_simulators_minimum_reaches_every_openrouter_upstream(bases, sim, tmp_path):
    """Regression (issue 21): the simulator's ``min_tokens`` lowered the minimum of OpenRouter's Claude upstreams
    only (its "" key was read as no match), so a Gemini upstream kept its 2,048-token minimum: the replay
    cached nothing while lint, given the lowered minimum, priced a lost prefix. Every marker upstream now
    writes and reads the prefix through its marker at the oracle's minimum."""
    base = bases["markers"]
    plan = compile_project([base], cache_dir=base.parent / "cache").raise_on_error().plans["backend"]
    for target in ("openrouter/google/gemini-2.5-flash", "openrouter/qwen/qwen3-max"):
        r = replay_plan(sim, plan, plan, target, base, base)
        assert r.was_read > 0 and r.read == r.was_read and r.written == 0, (target, r)


def test_every_provider_with_a_simulator_is_held_by_the_oracle(bases, sim):
    """The oracle's targets come from the simulator, not a list that can go stale: every provider whose
    requests the simulator serves (its ``promptc simulate`` row, and a route answering its adapter's
    request path under the provider's simulator prefix) has models in ``MODELS`` or a reason in
    ``NOT_HELD``; every target the property test draws is in a set of this file; and no row names a
    provider the simulator does not serve."""
    serving = set()
    plan = compile_project([bases["bedrock"]], cache_dir=bases["bedrock"].parent / "cache").plans["backend"]
    for name in sorted(SPECS):
        target = (MODELS.get(name) or (f"{name}/oracle",))[0]
        if name in ADAPTERS and not rules_for(name).generic and \
                simulator_prefix(oracle_client(target, sim), sim, plan) is not None:
            serving.add(name)
    assert serving == set(simulated_providers()), "a promptc simulate row without a simulator route"
    assert serving == set(MODELS) | set(NOT_HELD), "a provider with a simulator is missing from the oracle"
    assert not set(MODELS) & set(NOT_HELD)
    assert {t for ts in TARGET_SETS.values() for t in ts} | set(TARGETS) == set(targets())
    assert {t.split("/", 1)[0] for t in targets()} == serving - set(NOT_HELD)


def test_kimi_bills_the_rewritten_prefix_at_its_ttls_write_price(sim, tmp_path):
    """Issue 21 (H-lintrules): Kimi's automatic cache bills every write as a Cache Write — 1× the miss price at
    5m, 2× at 1h — though its usage reports no write count. Sources, read 2026-12-07: Moonshot's announcement
    https://forum.moonshot.ai/t/context-caching-upgrade-5-min-1-hour-ttl-options/613 ("Cache Write is now billed
    as a separate item"; without prompt_cache_options "prefixes ... are automatically written to the cache ...
    and Cache Write charges apply") and https://platform.moonshot.ai/docs/pricing/chat (kimi-k3: miss ¥20/M,
    5m write ¥20/M, 1h write ¥40/M, hit ¥2/M). Replayed per retention: the wire reports no write and the tokens
    it no longer reads; lint reports 0 written, the same loss, priced as a write at the TTL the retention buys."""
    from promptc.core.prices import price_for
    from tests.lint.oracle import replay_plan

    target = "moonshot/kimi-k3"
    documented = {"short": 20 / 20, "long": 40 / 20}  # Cache Write ÷ miss price (5m, 1h), from the sources above
    row = price_for(target)  # input and read prices: genai-prices
    for retention, write in documented.items():
        base = project(tmp_path / retention / "base", plans=("backend",), targets=(target,), retention=retention)
        new = shutil.copytree(base, tmp_path / retention / "new", ignore=shutil.ignore_patterns(".promptc"))
        EDITS["rules text"](new)
        old_p = compile_project([base], cache_dir=tmp_path / "cache").raise_on_error().plans["backend"]
        new_p = compile_project([new], cache_dir=tmp_path / "cache").raise_on_error().plans["backend"]
        report = lint([new], str(base), cache_dir=tmp_path / "cache", display_root=new)
        r = replay_plan(sim, old_p, new_p, target, base, new)
        assert r.written == 0 and r.lost > 0, retention  # the wire reports no write count, only what it reads
        (got,) = report.summary.plans
        assert (got.tokens[target], got.lost[target]) == (0, r.lost), retention
        expected = r.lost * row.input / 1_000_000 * (write - row.read)
        assert got.cost[target] == pytest.approx(expected, abs=2e-6), retention
        assert report.summary.cost[target] == pytest.approx(expected, abs=2e-6), retention
