"""The provider registry (issue 20): one spec per provider ties its adapter, its simulator route and
its `promptc simulate` row together; the simulator's TTLs and minimums are the spec's; no TTL or
minimum literal is written outside the specs; every fact has a source and a date.
"""

from __future__ import annotations

import io
import re
import tokenize
import warnings
from pathlib import Path

import pytest

from promptc.core.providers import SPECS, limits_for, parse_target, ttl_lifetime, ttl_seconds
from promptc.core.wire import tool_texts, wire_order
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import UnpricedWarning
from promptc.runtime.providers import ADAPTERS
from promptc.runtime.sim import SimApp
from promptc.runtime.sim import cache as sim_cache
from promptc.runtime.sim import deepseek_api, gemini_api, moonshot_api, openai_api
from promptc.runtime.simulate.replay import simulation_config
from promptc.runtime.simulate.rules import RULES, served, sim_prefixes

PACKAGE = Path(__file__).resolve().parents[2] / "promptc"
#: Providers that run without an HTTP adapter of their own: raw completion endpoints go through the
#: engine client (`promptc run --engine`).
NO_ADAPTER = {"raw"}
#: promptc's own engine is simulated by itself (the embedded engine), not by the provider simulator.
NOT_SIMULATED = {"raw", "engine"}


@pytest.fixture(scope="module")
def app():
    return SimApp()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_fact_has_a_source_and_a_date(name):
    spec = SPECS[name]
    assert spec.name == name
    for key in ("render", "limits", "tokenizer"):
        assert key in spec.sources, f"{name}: no source for `{key}`"
    for source in list(spec.sources.values()) + [row.source for row in spec.models]:
        assert source.ref and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", source.date), (name, source)
    assert spec.models and all(row.key.startswith(f"{name}/") for row in spec.models)
    assert spec.limits(f"{name}/") is not None, f"{name}: no default row"


@pytest.mark.parametrize("name", sorted(set(SPECS) - NO_ADAPTER))
def test_every_spec_has_an_adapter_that_reads_it(name):
    spec, adapter = SPECS[name], ADAPTERS[name]()
    assert adapter.provider == name
    assert adapter.env_key == spec.env_key and adapter.base_url_env == spec.base_url_env
    if name != "bedrock":  # Bedrock's URL is per region: the spec keeps the template
        assert adapter.default_base_url == spec.default_base_url


def built_path(name: str, team) -> str:
    """The path ``name``'s own adapter sends a request to (the spec's first named model, in simulation)."""
    model = next((m for r in SPECS[name].models if (m := r.key.split("/", 1)[1])), "")
    target = f"{name}/{model}m" if model.endswith("/") or not model else f"{name}/{model}"  # a prefix row: a model under it
    config = simulation_config(parse_target(target), RuntimeConfig())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnpricedWarning)  # the path is asked for, not the price
        client = Client(target, api_key="sim", base_url="http://127.0.0.1:9", config=config)
    try:
        return client.build(team.plans["backend"].bind().render(file="a.py", query="q")).path
    finally:
        client.close()


@pytest.mark.parametrize("name", sorted(set(SPECS) - NOT_SIMULATED))
def test_every_spec_has_a_simulator_route_and_a_simulate_row(name, app, team):
    assert name in RULES, f"{name}: no row in promptc.runtime.simulate.rules.RULES"
    adapter = ADAPTERS[name]()
    #: the older providers whose request path is not the wire's base URL + the built path
    paths = {"anthropic": "/v1/messages", "bedrock": "/model/m/converse", "gemini": "/v1beta/models/m:generateContent"}
    path = paths.get(name) or built_path(name, team)
    assert any(served(app.app.routes, p + path) for p in sim_prefixes(name, adapter.default_base_url)), (name, path)


def test_every_adapter_has_a_spec():
    assert {k.split(":")[0] for k in ADAPTERS} <= set(SPECS)


def test_the_simulators_ttls_are_the_specs():
    for name in ("anthropic", "openai"):
        for ttl, seconds in SPECS[name].ttls.items():
            assert sim_cache.TTL_S[ttl] == seconds, (name, ttl)
    assert set(sim_cache.TTL_S) == set(SPECS["anthropic"].ttls) | set(SPECS["openai"].ttls)
    assert moonshot_api.TTL_S == dict(SPECS["moonshot"].ttls)
    assert moonshot_api.LEGACY_MAX_TTL_S == ttl_seconds("moonshot/moonshot-v1", "long")
    assert deepseek_api.DeepSeekCache.__dataclass_fields__["ttl_s"].default == SPECS["deepseek"].ttls["implicit"]
    assert gemini_api.IMPLICIT_TTL_S == SPECS["gemini"].ttls["implicit"]
    assert gemini_api.DEFAULT_CACHE_TTL_S == ttl_lifetime("gemini/x", "1h")
    assert sim_cache.LOOKBACK == limits_for("anthropic/claude-sonnet-4-5").lookback
    # which OpenAI models have explicit breakpoints, and which have 24h retention only
    for row in SPECS["openai"].models:
        model = row.key.split("/", 1)[1]
        if model:
            assert model.startswith(openai_api.EXPLICIT_OPENAI) == (row.mode == "explicit"), model
            assert model.startswith(openai_api.ONLY_24H) == (row.ttls == ("24h",)), model


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-6", "claude-fable-5", "claude-opus-4-7",
                                   "claude-haiku-4-5"])
def test_the_simulators_minimums_are_the_specs(app, model):
    assert app.anthropic.min_tokens(model) == limits_for(f"anthropic/{model}").min_tokens
    assert app.openai.minimum == limits_for("openai/gpt-5.6").min_tokens
    for gm in ("gemini-3-flash", "gemini-3.1-pro", "gemini-2.5-pro"):
        assert app.gemini_minimum(gm) == limits_for(f"gemini/{gm}").min_tokens


def test_simulate_ttls_are_the_specs():
    assert RULES["anthropic"].ttl("claude-sonnet-4-5", "long") == ("1h", SPECS["anthropic"].ttls["1h"])
    assert RULES["openai"].ttl("gpt-5.6", "short") == ("30m", SPECS["openai"].ttls["30m"])
    assert RULES["openai"].ttl("gpt-5.5", "short") == ("24h", SPECS["openai"].ttls["24h"])
    assert RULES["openrouter"].ttl("openai/gpt-5.4", "long") == ("24h", SPECS["openai"].ttls["24h"])
    assert RULES["deepseek"].ttl("deepseek-v4", "short")[1] == SPECS["deepseek"].ttls["implicit"]


@pytest.mark.parametrize("target", ["anthropic/claude-sonnet-4-5", "bedrock/anthropic.claude-sonnet-4-5",
                                    "openai/gpt-5.6", "gemini/gemini-3-flash", "engine/smollm2", "raw/smollm2"])
def test_wire_order_follows_the_render_order(target):
    class Seg:
        def __init__(self, kind, role="system"):
            self.kind, self.role = kind, role

    segs = [Seg("text"), Seg("tools"), Seg("text"), Seg("history", "user"), Seg("tools")]
    order = wire_order(target, segs)
    assert sorted(order) == list(range(len(segs)))
    if SPECS[parse_target(target).provider].tools_first:
        assert order == [1, 4, 0, 2, 3]
    else:
        assert order == [0, 1, 2, 3, 4]


def test_tool_texts_are_what_the_adapter_sends():
    """The compiler counts a tools segment as the adapter serializes it (the simulator counts the same)."""
    tool = {"name": "read_file", "description": "Read a file.", "parameters": {"type": "object"}}
    assert tool_texts("anthropic/x", [tool]) == [
        '{"description":"Read a file.","input_schema":{"type":"object"},"name":"read_file"}']
    assert tool_texts("openai/gpt-5.6", [tool]) == [
        '{"function":{"description":"Read a file.","name":"read_file","parameters":{"type":"object"}},'
        '"type":"function"}']
    assert tool_texts("engine/smollm2", [tool]) is None


# -- no provider fact written twice ----------------------------------------------------------------
TTL_SECONDS = {300, 600, 1800, 3600, 14400, 43200, 86400}
MINIMUMS = {512, 1024, 2048, 4096}
#: (file, why) the literal scan leaves alone: not provider facts.
NOT_FACTS: dict[str, str] = {}


def _code_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line, number, line text) for every number token outside strings and comments."""
    src = path.read_text(encoding="utf-8")
    lines = src.splitlines()
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NUMBER:
            out.append((tok.start[0], tok.string, lines[tok.start[0] - 1]))
    return out


def test_no_ttl_or_minimum_literal_outside_the_specs():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("core/providers/") or rel in NOT_FACTS or rel.startswith("engine/"):
            continue
        for line, number, text in _code_lines(path):
            low = text.lower()
            try:
                value = float(number)
            except ValueError:
                continue
            if re.search(r"/\s*" + re.escape(number), text):  # a unit conversion (s → h), not a fact
                continue
            if "ttl" in low and value in TTL_SECONDS:
                found.append(f"{rel}:{line}: {text.strip()}")
            if re.search(r"min_tokens|minimum", low) and value in MINIMUMS:
                found.append(f"{rel}:{line}: {text.strip()}")
    assert not found, "provider facts outside promptc/core/providers/:\n" + "\n".join(found)


def test_the_literal_scan_finds_a_planted_ttl(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text('TTL_S = {"5m": 300.0}\n# ttl 3600 in a comment is fine\n')
    assert [n for _, n, _ in _code_lines(planted)] == ["300.0"]


#: `provider == ...` sites outside the provider modules that other helpers own (issue 20 asks to move
#: them into the specs); a new one fails this test.
KNOWN_PROVIDER_COMPARISONS = {
    "compiler/align.py": 1,  # raw targets: one concatenated text (compiler alignment)
    "runtime/commands.py": 3,  # `sim serve --provider`: which export lines to print
    "observe/explain.py": 2,  # OpenAI's 128-token read granularity, and a second added by the observe work
    "core/providers/__init__.py": 1,  # parse_target: `raw/<tokenizer>` validation
}


def test_no_provider_comparison_outside_provider_modules():
    """`if provider == "x"` belongs in x's own modules (its spec, adapter, simulator route)."""
    pattern = re.compile(r"""provider\s*(==|!=|in)\s*[("']""")
    allowed_dirs = ("runtime/providers/", "runtime/sim/")
    found: dict[str, int] = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        rel = p.relative_to(PACKAGE).as_posix()
        if rel.startswith(allowed_dirs) or (rel.startswith("core/providers/") and rel != "core/providers/__init__.py"):
            continue
        n = sum(1 for line in p.read_text(encoding="utf-8").splitlines() if pattern.search(line))
        if n:
            found[rel] = n
    assert {k: v for k, v in found.items() if v > KNOWN_PROVIDER_COMPARISONS.get(k, 0)} == {}
