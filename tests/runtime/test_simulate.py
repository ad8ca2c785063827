"""`promptc simulate`: the four strategies against numbers computed here from the parts (segment
texts counted with o200k_base, the simulator's tokenizer; the documented cache rules; the price
table), the theoretical best's formula, and determinism."""

from __future__ import annotations

import json
import math

import pytest

from tests.price_oracle import genai_cost
from promptc.core.prices import price_for
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.simulate import replay, simulate
from promptc.runtime.simulate.best import CacheMode, entries, theoretical_best
from promptc.runtime.simulate.report import format_text, to_json
from promptc.runtime.simulate.workload import DAY, Turn, day_turns, render_requests, working_day
from promptc.runtime.layout import TokenCounter
from promptc.runtime.usage import Usage
from promptc.tokenizers import load_tokenizer

from tests.providers.conftest import LOW_MIN, canon

#: backend at 0 s, frontend at 60 s, backend again at 120 s, docs at 400 s: the shared prefix
#: (tools + rules) was last *read* at 60 s (frontend) but last *used* at 120 s (backend).
TIMES = (0.0, 60.0, 120.0, 400.0)
AGENTS = ("backend", "frontend", "backend", "docs")


@pytest.fixture(scope="module")
def small(team):
    turns = [Turn(t, a, {"file": "api/users.py", "query": f"question {i} for {a}"})
             for i, (t, a) in enumerate(zip(TIMES, AGENTS))]
    return render_requests("small", team.plans, turns, {})


@pytest.fixture(scope="module")
def anthropic_small(small):
    return simulate(small, ["anthropic/claude-sonnet-4-5"], min_tokens=LOW_MIN, config=RuntimeConfig())


def parts(team, ntok, tools_tokens):
    """(shared prefix G, per-agent stable tail A[agent], turn tokens per request) from the parts."""
    rules = ntok(team["backend"].segment("rules").content)
    g = tools_tokens + rules
    a = {x: ntok(team[x].segment(x).content) + ntok(team[x].segment(f"{x}_memory").content)
         for x in ("backend", "frontend", "docs")}
    return g, a


def anthropic_tools(team, ntok):
    seg = team["backend"].segment("repo_tools")
    return sum(ntok(canon({"name": t["name"], "input_schema": t["parameters"], "description": t["description"]}))
               for t in seg.tools)


def openai_tools(team, ntok):
    seg = team["backend"].segment("repo_tools")
    return sum(ntok(canon({"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")}}))
               for t in seg.tools)


def reply_tokens(ntok, provider, total):
    return ntok(f"Simulated {provider} reply to a {total}-token prompt.")


def cost(price, uncached, read, write, output, ttl):
    """The price source's own price of these counters (genai-prices via tests/price_oracle.py, not promptc)."""
    return genai_cost(price.key, uncached=uncached, cache_read=read, cache_write={ttl: write}, output=output)


def test_anthropic_four_strategies_match_hand_computed_numbers(team, small, ntok, anthropic_small):
    (res,) = anthropic_small
    g, a = parts(team, ntok, anthropic_tools(team, ntok))
    turn = [ntok(r.segments[-1].content) for r in small.requests]
    prompts = [g + a[x] + t for x, t in zip(AGENTS, turn)]
    out = sum(reply_tokens(ntok, "anthropic", p) for p in prompts)
    price = price_for("anthropic/claude-sonnet-4-5")
    t = res.tallies
    # no caching: every prompt token uncached
    assert (t["none"].uncached, t["none"].cache_read, t["none"].cache_write) == (sum(prompts), 0, 0)
    assert t["none"].cost == pytest.approx(cost(price, sum(prompts), 0, 0, out, "5m"), rel=1e-12)
    # promptc: breakpoints after rules (shared) and after the agent's memory, 5m.
    #  1 backend writes G+A_b; 2 frontend reads G (looked back), writes A_f; 3 backend reads G+A_b;
    #  4 docs at 400 s: the rules entry was refreshed at 60 s (its last read) and expired at 360 s,
    #    so docs writes G+A_d.
    read = g + (g + a["backend"])
    write = (g + a["backend"]) + a["frontend"] + (g + a["docs"])
    assert (t["promptc"].uncached, t["promptc"].cache_read, t["promptc"].cache_write) == (sum(turn), read, write)
    assert t["promptc"].output == out
    assert t["promptc"].cost == pytest.approx(cost(price, sum(turn), read, write, out, "5m"), rel=1e-12)
    # naive: one breakpoint on the last system block: no agent reuses another's prefix
    read_n = g + a["backend"]
    write_n = (g + a["backend"]) + (g + a["frontend"]) + (g + a["docs"])
    assert (t["naive"].uncached, t["naive"].cache_read, t["naive"].cache_write) == (sum(turn), read_n, write_n)
    assert t["naive"].cost == pytest.approx(cost(price, sum(turn), read_n, write_n, out, "5m"), rel=1e-12)
    # best: G was last *used* at 120 s (by backend), so docs at 400 s reads it
    read_b = g + (g + a["backend"]) + g
    write_b = (g + a["backend"]) + a["frontend"] + a["docs"]
    assert (t["best"].uncached, t["best"].cache_read, t["best"].cache_write) == (sum(turn), read_b, write_b)
    assert t["best"].cost == pytest.approx(cost(price, sum(turn), read_b, write_b, out, "5m"), rel=1e-12)
    none, best = t["none"].cost, t["best"].cost
    assert res.share_of_best("promptc") == pytest.approx((none - t["promptc"].cost) / (none - best))
    assert res.share_of_best("naive") < res.share_of_best("promptc") < 1.0
    assert t["promptc"].hit_rate == pytest.approx(read / sum(prompts))
    assert any("real minimum of 1024" in n and "--min-tokens 256" in n for n in res.notes)


def test_openai_gpt56_four_strategies_match_hand_computed_numbers(team, small, ntok):
    (res,) = simulate(small, ["openai/gpt-5.6"], min_tokens=LOW_MIN, config=RuntimeConfig())
    g, a = parts(team, ntok, openai_tools(team, ntok))
    turn = [ntok(r.segments[-1].content) for r in small.requests]
    prompts = [g + a[x] + t for x, t in zip(AGENTS, turn)]
    out = sum(reply_tokens(ntok, "openai", p) for p in prompts)
    price = price_for("openai/gpt-5.6")
    t = res.tallies
    # promptc: one prompt_cache_key for the agents sharing the global block, explicit mode (no history)
    # with breakpoints after the shared block (tools + rules) and the memory: the first request writes
    # G+A_b, the others read G (and backend's second turn G+A_b) and write their own agent block; turns
    # are never written -- exactly the theoretical best here
    read = g + (g + a["backend"]) + g
    write = (g + a["backend"]) + a["frontend"] + a["docs"]
    assert (t["promptc"].uncached, t["promptc"].cache_read, t["promptc"].cache_write) == (sum(turn), read, write)
    assert t["promptc"].cost == pytest.approx(cost(price, sum(turn), read, write, out, "30m"), rel=1e-12)
    # naive (implicit mode only, no key): the only breakpoint ends with the turn, which never repeats
    assert (t["naive"].uncached, t["naive"].cache_read, t["naive"].cache_write) == (0, 0, sum(prompts))
    assert t["naive"].cost > t["none"].cost  # every token written at 1.25x and never read
    # best: 30-minute TTL, turns uncached
    read_b = g + (g + a["backend"]) + g
    write_b = (g + a["backend"]) + a["frontend"] + a["docs"]
    assert (t["best"].uncached, t["best"].cache_read, t["best"].cache_write) == (sum(turn), read_b, write_b)
    assert t["best"].cost == pytest.approx(cost(price, sum(turn), read_b, write_b, out, "30m"), rel=1e-12)


def test_openai_before_56_reads_in_128_token_steps_and_writes_nothing(team, small, ntok):
    counter = TokenCounter("o200k_base", load_tokenizer("o200k_base"))
    ours = replay(small, "openai/gpt-5.4", "promptc", min_tokens=LOW_MIN, config=RuntimeConfig(), counter=counter)
    naive = replay(small, "openai/gpt-5.4", "naive", min_tokens=LOW_MIN, config=RuntimeConfig(), counter=counter)
    for reply in ours + naive:
        assert reply.usage.cache_write_total == 0
        assert reply.usage.cache_read == 0 or (reply.usage.cache_read - LOW_MIN) % 128 == 0
    # promptc's key is the shared global prefix's, so the agents share one scope as without a key
    # (naive): frontend and docs read the shared tools + rules, backend's second turn its whole prefix
    assert [r.usage.cache_read > 0 for r in ours] == [False, True, True, True]
    assert [r.usage.cache_read > 0 for r in naive] == [False, True, True, True]
    g, a = parts(team, ntok, openai_tools(team, ntok))
    assert g + a["backend"] - 128 < ours[2].usage.cache_read < ours[2].usage.prompt
    for r in (ours[1], naive[1]):
        assert g - 128 < r.usage.cache_read <= g + ntok(team["frontend"].segment("frontend").content)


def test_best_formula_windows_minimum_and_free_writes(team, ntok):
    req = team.plans["backend"].bind().render(file="a.py", query="q")
    g_rules = ntok(req.segments[0].content)
    body = sum(ntok(s.content) for s in req.segments if s.kind != "tools")
    prompt = body + 100  # 100 tokens of tool definitions, as a provider would count them
    es, uncached = entries(req, prompt, ntok, min_tokens=1)
    assert [e.tokens for e in es] == [100, g_rules, ntok(req.segments[2].content), ntok(req.segments[3].content)]
    assert uncached == ntok(req.segments[4].content)
    # a minimum groups segments until the cumulative prefix reaches it; a short tail stays uncached
    es, uncached = entries(req, prompt, ntok, min_tokens=100 + g_rules + 1)
    assert es[0].tokens == 100 + g_rules + ntok(req.segments[2].content)
    es, uncached = entries(req, prompt, ntok, min_tokens=10 ** 6)
    assert es == [] and uncached == prompt
    # TTL windows: written at 0, read at 200 (refreshes), read at 450, written again at 800
    reqs, times = [req] * 4, [0.0, 200.0, 450.0, 800.0]
    stable = prompt - ntok(req.segments[4].content)
    price = price_for("anthropic/claude-sonnet-4-5")
    usages = theoretical_best(reqs, times, [prompt] * 4, [5] * 4, count=ntok, min_tokens=1, ttl_label="5m",
                              ttl_s=300, price=price)
    assert [u.cache_write_total for u in usages] == [stable, 0, 0, stable]
    assert [u.cache_read for u in usages] == [0, stable, stable, 0]
    # a provider without a write charge bills a write as plain input, and caches the prompt as sent:
    # the repeated turn is read with its prefix
    free = price_for("openai/gpt-5.4")
    usages = theoretical_best(reqs, times, [prompt] * 4, [5] * 4, count=ntok, min_tokens=1, ttl_label="in_memory",
                              ttl_s=600, price=free)
    assert usages[0] == Usage(prompt, 0, {}, 5) and [u.cache_read for u in usages[1:]] == [prompt] * 3
    # an implicit cache (free writes) caches the prompt as sent: a repeated turn is read with its prefix
    implicit = CacheMode("implicit", 1, "implicit", math.inf, write_fee=False)
    usages = theoretical_best(reqs, times, [prompt] * 4, [5] * 4, count=ntok, price=free, modes=[implicit])
    assert usages[0] == Usage(prompt, 0, {}, 5) and [u.cache_read for u in usages[1:]] == [prompt] * 3
    # two modes (an explicit cache whose minimum the prefix misses, an implicit one): the cheaper per request
    explicit = CacheMode("explicit", 10 ** 6, "5m", 300, write_fee=True)
    both = theoretical_best(reqs, times, [prompt] * 4, [5] * 4, count=ntok, price=price, modes=[explicit, implicit])
    assert [u.cache_read for u in both] == [0, prompt, prompt, prompt]


def test_built_in_day_is_deterministic_and_shaped_as_documented(team):
    day = working_day(team.plans)
    assert len(day.turns) == sum(n for _, n, _ in DAY) == 240
    assert [t.plan for t in day.turns[:4]] == ["backend", "docs", "frontend", "backend"]
    gaps = [b.at - a.at for a, b in zip(day.turns, day.turns[1:])]
    assert max(gaps) == 65 * 60  # lunch
    assert sorted(g for g in gaps if g > 300)[:1] == [360.0]  # the shortest break outlives a 5m entry
    assert day_turns(["backend", "docs", "frontend"]) == day_turns(["backend", "docs", "frontend"])
    assert [r.segments[-1].hash for r in day.requests] == [r.segments[-1].hash for r in working_day(team.plans).requests]


def test_same_output_twice(team, small, anthropic_small):
    first = anthropic_small
    second = simulate(small, ["anthropic/claude-sonnet-4-5"], min_tokens=LOW_MIN, config=RuntimeConfig())
    assert to_json(small, first) == to_json(small, second)
    assert format_text(small, first) == format_text(small, second)
    assert json.loads(to_json(small, first))["targets"][0]["strategies"]["promptc"]["requests"] == 4


def test_real_minimum_caches_nothing_and_says_so(small):
    (res,) = simulate(small, ["anthropic/claude-sonnet-4-5"], config=RuntimeConfig())
    assert all(res.tallies[s].cache_read == res.tallies[s].cache_write == 0 for s in ("naive", "promptc", "best"))
    assert res.share_of_best("promptc") is None
    assert any("never cached" in n for n in res.notes)
