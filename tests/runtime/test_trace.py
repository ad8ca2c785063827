"""The JSONL cache trace: what each record holds, invalidation reasons, and ``trace stats``."""

from __future__ import annotations

import json

import pytest

from promptc.core.errors import PromptcError
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.trace import Tracer, read_trace, stats


def run(client, session, **turn):
    return client.complete(session.render(**turn), max_tokens=16)


def test_records_and_invalidation_reasons(team, support, sim, low_min_config, tmp_path):
    path = tmp_path / "trace.jsonl"
    tracer = Tracer(path, clock=sim.sim.state.clock)  # the tracer and the simulator share a fake clock
    c = Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="short",
               config=low_min_config, trace=tracer)
    s = team["backend"].bind()
    run(c, s, file="a", query="1")  # cold: nothing expected
    run(c, s, file="a", query="2")  # hit
    sim.advance(400)
    run(c, s, file="a", query="3")  # the 5m entries expired
    recs = read_trace(path)
    assert [r["invalidation"] for r in recs[:2]] == [None, None]
    # the expectation is the client's estimate (o200k proxy), within the tolerance of the real read
    assert recs[1]["expected_hit_tokens"] == pytest.approx(recs[1]["usage"]["cache_read"], rel=0.1)
    assert recs[2]["invalidation"]["reason"] == "ttl_expired"
    first = recs[0]
    assert first["plan"] == "backend" and first["target"] == "anthropic/claude-sonnet-4-5"
    assert [b["segment"] for b in first["breakpoints"]] == ["rules", "backend_memory"]
    assert [x["id"] for x in first["segments"]] == ["rules", "repo_tools", "backend", "backend_memory", "turn"]
    assert first["usage"]["cache_write"] == {"5m": first["usage"]["cache_write_total"]} and first["latency_s"] > 0

    # a session segment that changes between two requests of the same plan
    hist = [{"role": "user", "content": "long question " * 200}, {"role": "assistant", "content": "ok " * 200}]
    a = support.bind(customer={"name": "Ada", "plan": "pro", "open_tickets": 1})
    b = support.bind(customer={"name": "Bob", "plan": "pro", "open_tickets": 1})
    run(c, a, question="q", history=hist)
    run(c, b, question="q", history=hist)
    last = read_trace(path)[-1]
    assert last["invalidation"] == {"reason": "segment_changed", "segment": "profile",
                                    "detail": "`profile` changed since the previous request"}


def test_model_change_is_named(team, sim, low_min_config, tmp_path):
    path = tmp_path / "t.jsonl"
    tracer = Tracer(path)
    s = team["docs"].bind()
    for model in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
        c = Client(f"anthropic/{model}", base_url=sim.url, api_key="k", config=low_min_config, trace=tracer)
        run(c, s, file="a", query="q")
    assert read_trace(path)[-1]["invalidation"]["reason"] == "model_changed"


def test_stats_per_plan_and_segment(team, sim, low_min_config, tmp_path):
    path = tmp_path / "t.jsonl"
    c = Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", config=low_min_config, trace=path)
    for agent in ("backend", "frontend"):
        s = team[agent].bind()
        for q in ("1", "2"):
            run(c, s, file="a", query=q)
    recs = read_trace(path)
    st = stats(recs)
    be = st["plans"]["backend @ anthropic/claude-sonnet-4-5"]
    read = sum(r["usage"]["cache_read"] for r in recs if r["plan"] == "backend")
    prompt = sum(r["usage"]["uncached"] + r["usage"]["cache_read"] + r["usage"]["cache_write_total"]
                 for r in recs if r["plan"] == "backend")
    assert be["requests"] == 2 and be["hit_rate"] == round(read / prompt, 4)
    assert be["cost"] == pytest.approx(sum(r["cost"]["total"] for r in recs if r["plan"] == "backend"))
    assert st["segments"]["backend:rules"]["requests"] == 2


def test_a_bad_trace_line_is_a_located_error(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps({"plan": "x"}) + "\nnot json\n")
    with pytest.raises(PromptcError, match=r"E508.*t\.jsonl:2"):
        read_trace(p)


def test_no_secret_reaches_the_trace(team, sim, low_min_config, tmp_path):
    path = tmp_path / "t.jsonl"
    key = "sk-ant-api03-very-secret-value"
    sim.inject(status=400, message=f"bad key {key}")
    c = Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key=key, config=RuntimeConfig(), trace=path)
    with pytest.raises(Exception):
        run(c, team["docs"].bind(), file="a", query="q")
    run(c, team["docs"].bind(), file="a", query="q")
    assert key not in path.read_text() and "***" in path.read_text()
