"""`promptc trace stats` accounts cache-object events: creates, refreshes, recreations, deletes,
coalesced waits, keep-warm pings and their cost, and storage fees (tokens × hours alive × $/MTok·h)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from promptc import cli as cli_mod
from promptc.runtime.trace import Tracer, cache_object_stats, format_stats, read_trace, stats
from promptc.runtime.sim.server import FakeClock

GEMINI = "gemini/gemini-3-flash-preview"
PRICES = {"gemini/": {"input": 0.5, "output": 3.0, "read": 0.1, "storage": 1.0}}


def trace(tmp_path):
    clock = FakeClock(0.0)
    t = Tracer(tmp_path / "t.jsonl", clock=clock)
    t.event(event="create", target=GEMINI, remote_id="cachedContents/a", tokens=200_000, cost=0.1,
            expires_at=3600.0)
    clock.advance(1800)
    t.event(event="refresh", target=GEMINI, remote_id="cachedContents/a", cost=0.0, expires_at=9000.0)
    t.event(event="coalesced", target=GEMINI, remote_id="cachedContents/a", tokens=200_000)
    t.event(event="create", target=GEMINI, remote_id="cachedContents/b", tokens=100_000, cost=0.05,
            expires_at=1800.0 + 7200)
    clock.advance(1800)  # t = 3600: b is deleted after one hour
    t.event(event="delete", target=GEMINI, remote_id="cachedContents/b", reason="superseded")
    t.event(event="recreate", target=GEMINI, remote_id="cachedContents/c", tokens=50_000, cost=0.025)
    t.event(event="keepwarm", action="refresh", target="anthropic/claude-sonnet-4-5", cost=0.003, tokens=10_000)
    t.event(event="keepwarm", action="refresh", target="anthropic/claude-sonnet-4-5", cost=0.004, tokens=10_000)
    clock.advance(3600)  # t = 7200: the trace ends; c (no expiry known) counts until here
    t.event(event="keepwarm", action="stop", target="anthropic/claude-sonnet-4-5", cost=0.0)
    return tmp_path / "t.jsonl"


def test_storage_fees_and_counts_by_hand(tmp_path):
    s = cache_object_stats(read_trace(trace(tmp_path)), PRICES)
    g = s[GEMINI]
    assert (g["create"], g["refresh"], g["recreate"], g["delete"], g["coalesced"]) == (2, 1, 1, 1, 1)
    # a: 0 → 9000 s (its last refresh) = 2.5 h × 0.2 MTok; b: 1800 → 3600 s = 0.5 h × 0.1 MTok;
    # c: 3600 → 7200 s (end of trace) = 1 h × 0.05 MTok  →  0.5 + 0.05 + 0.05 = 0.6 MTok·h at $1
    assert g["storage_token_hours"] == pytest.approx(600_000)
    assert g["storage_cost"] == pytest.approx(0.6)
    assert g["object_cost"] == pytest.approx(0.175)
    assert g["total_cost"] == pytest.approx(0.775)
    a = s["anthropic/claude-sonnet-4-5"]
    assert (a["keepwarm_pings"], a["keepwarm_stops"]) == (2, 1)
    assert a["keepwarm_cost"] == pytest.approx(0.007) and a["storage_cost"] == 0.0


def test_trace_stats_cli_prints_the_cache_object_section(tmp_path):
    path = trace(tmp_path)
    s = stats(read_trace(path))
    assert s["plans"] == {} and set(s["cache_objects"]) == {GEMINI, "anthropic/claude-sonnet-4-5"}
    assert "cache objects @ target" in format_stats(s)
    r = CliRunner().invoke(cli_mod.cli, ["trace", "stats", str(path), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cache_objects"]["anthropic/claude-sonnet-4-5"]["keepwarm_pings"] == 2
    text = CliRunner().invoke(cli_mod.cli, ["trace", "stats", str(path)])
    assert "cache objects @ target" in text.stdout and GEMINI in text.stdout


def test_registry_events_reach_the_trace(tmp_path):
    from promptc.runtime.registry import CacheEntry, CacheKey, CacheRegistry

    clock = FakeClock(0.0)
    tracer = Tracer(tmp_path / "r.jsonl", clock=clock)
    deleted = []
    reg = CacheRegistry(clock=clock, max_entries=1, emit=lambda e: tracer.event(**e),
                        deleters={"gemini": lambda e: deleted.append(e.remote_id)})
    for n in range(2):
        k = CacheKey("gemini", "acme", "gemini-3-flash-preview", f"sha256:{n}")
        reg.acquire(k, lambda k=k, n=n: CacheEntry(k, f"cachedContents/{n}", 3600, 1000, 0, 0))
    recs = read_trace(tmp_path / "r.jsonl")
    assert [(r["event"], r["reason"], r["remote_id"]) for r in recs] == [("delete", "evicted", "cachedContents/0")]
    assert deleted == ["cachedContents/0"]
    assert cache_object_stats(recs)["gemini/gemini-3-flash-preview"]["delete"] == 1
