"""Keep-warm (promptc/runtime/keepwarm.py) under a simulated clock: the cost model against numbers
computed by hand, refreshes only while they pay, stopping when the plan goes idle; and the
TTL-aware history pruning (promptc/runtime/pruning.py), which never breaks a live cache."""

from __future__ import annotations

import pytest

import promptc
from promptc.core.prices import Price
from promptc.runtime.keepwarm import (KeepWarm, KeepWarmClient, KeepWarmConfigError, KeepWarmPolicy, decide,
                                      miss_penalty, refresh_cost, ttl_seconds, use_probability)
from promptc.runtime.pruning import PLACEHOLDER, cache_expiry, prune_history
from promptc.runtime.sim.server import FakeClock
from promptc.runtime.trace import Tracer, read_trace, stats

SONNET = Price("anthropic/claude-sonnet-4", 3.0, 15.0, 0.1, {"5m": 1.25, "1h": 2.0})


def test_cost_model_matches_hand_computed_numbers():
    # a ping reads 10,000 prefix tokens at 0.1 × $3/MTok and sends 8 uncached tokens at $3/MTok
    assert refresh_cost(SONNET, 10_000, 300, 8) == pytest.approx((1000 + 8) * 3e-6)  # $0.003024
    # a use after expiry writes (1.25×) instead of reading (0.1×): 10,000 × 1.15 × $3/MTok
    assert miss_penalty(SONNET, 10_000, "5m") == pytest.approx(0.0345)
    assert miss_penalty(SONNET, 10_000, "1h") == pytest.approx(10_000 * 1.9 * 3e-6)
    gemini_like = Price("x/y", 1.0, 4.0, 0.1, {"create": 1.0}, storage=4.5)
    # storage: 10,000 tokens for one hour at $4.50 per MTok·h = $0.045 on top of the read
    assert refresh_cost(gemini_like, 10_000, 3600, 0) == pytest.approx(1000 * 1e-6 + 0.045)


def test_idle_time_probability_by_hand():
    assert use_probability([400, 400, 400], 270, 300) == 1.0  # every pause longer than 270 s ended by 570 s
    assert use_probability([100, 400, 1000, 5000], 270, 300) == pytest.approx(1 / 3)
    assert use_probability([100, 200], 270, 300) == 0.0  # never paused this long: idle
    assert use_probability([], 0, 300) == 0.0


def test_refresh_only_when_the_saving_beats_the_cost():
    policy = KeepWarmPolicy()
    # break-even p* = 0.003024 / 0.0345 = 0.0877: p = 1/3 refreshes, p = 1/13 = 0.0769 does not
    yes = decide(SONNET, 10_000, "5m", 300, [100, 400, 1000, 5000], 270, policy)
    assert yes.refresh and yes.saving == pytest.approx(0.0345 / 3) and yes.cost == pytest.approx(0.003024)
    no = decide(SONNET, 10_000, "5m", 300, [400] + [5000] * 12, 270, policy)
    assert not no.refresh and no.p == pytest.approx(1 / 13)
    # the margin is configurable: demanding 4× the cost turns the p = 1/3 case down (0.0115 < 4 × 0.003024)
    assert not decide(SONNET, 10_000, "5m", 300, [100, 400, 1000, 5000], 270, KeepWarmPolicy(margin=4)).refresh
    # too few observations: no refresh
    assert not decide(SONNET, 10_000, "5m", 300, [400], 270, policy).refresh


def test_policy_values_are_checked():
    with pytest.raises(KeepWarmConfigError) as err:
        KeepWarmPolicy(window=0, margin=-1)
    assert err.value.code == "E533" and "window=0" in str(err.value) and "margin=-1" in str(err.value)


def test_ttl_follows_the_retention():
    assert ttl_seconds("anthropic/claude-sonnet-4-5", "short") == 300
    assert ttl_seconds("anthropic/claude-sonnet-4-5", "long") == 3600
    assert ttl_seconds("openai/gpt-5.6", "short") == 1800
    assert ttl_seconds("anthropic/claude-sonnet-4-5", "none") is None
    assert ttl_seconds("engine/smollm2", "short") is None


def test_heartbeat_refreshes_while_in_use_and_stops_when_idle():
    clock = FakeClock(0.0)
    events, pings = [], []
    kw = KeepWarm(clock=clock, emit=events.append)

    def set_time(t):
        clock.now = t

    def use(t):
        kw.run_until(t, set_time)
        set_time(t)
        kw.used(plan="backend", target="anthropic/claude-sonnet-4-5", prefix_hash="sha256:p", prefix_tokens=10_000,
                ttl_s=300, ttl="5m", price=SONNET, ping=lambda: pings.append(clock()) or 0.003)

    for t in (0, 400, 800, 1200):  # a use every 400 s: longer than the 5-minute TTL
        use(t)
    kw.run_until(100_000, set_time)  # then the plan goes idle
    # decisions at expiry - 30 s: 270 and 670 have < 2 observed gaps; 1070 and 1470 refresh (p = 1);
    # 1740 (idle 540 s, longer than any pause seen) stops for good
    assert pings == [1070, 1470]
    assert [(e["action"], clock_ts) for e, clock_ts in zip(events, (270, 670, 1070, 1470, 1740))] == \
        [("stop", 270), ("stop", 670), ("refresh", 1070), ("refresh", 1470), ("stop", 1740)]
    assert kw.next_due() is None and kw.tracked == {}
    assert events[2]["cost"] == 0.003 and events[2]["expires_at"] == 1370


def test_heartbeat_does_not_refresh_a_plan_used_within_its_ttl():
    clock = FakeClock(0.0)
    kw = KeepWarm(clock=clock)
    pings = []
    for t in range(0, 2000, 200):  # every 200 s: each use refreshes the cache for free
        kw.run_until(t, lambda x: setattr(clock, "now", x))
        clock.now = t
        kw.used(plan="p", target="anthropic/x", prefix_hash="h", prefix_tokens=5000, ttl_s=300, ttl="5m",
                price=SONNET, ping=lambda: pings.append(clock()))
    kw.run_until(10_000, lambda x: setattr(clock, "now", x))
    assert pings == []


def test_keep_warm_client_against_the_simulator(sim, team, low_min_config, tmp_path):
    """Pauses longer than the TTL: the heartbeat's pings keep the prefix, so each use after a pause
    reads it; after the plan goes idle the pings stop."""
    tracer = Tracer(tmp_path / "t.jsonl", clock=sim.clock)
    client = promptc.Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="sim", config=low_min_config,
                            clock=sim.clock, trace=tracer)
    kwc = KeepWarmClient(client)
    session = team["backend"].bind()
    replies = []

    def set_time(t):
        sim.advance(t - sim.clock())

    start = sim.clock()
    for n in range(5):
        kwc.keepwarm.run_until(start + 400 * n, set_time)
        set_time(start + 400 * n)
        replies.append(kwc.complete(session.render(file="a.py", query=f"q{n}"), max_tokens=20))
    kwc.keepwarm.run_until(start + 36_000, set_time)
    pings = [r for r in sim.requests if r["payload"]["max_tokens"] == 0]
    assert len(pings) == 3  # before the uses at 1200 and 1600, and once after the last use; then it stops
    assert all(p["payload"]["messages"][-1]["content"][-1]["text"] == "." for p in pings)
    static = replies[0].usage.cache_write_total
    assert static > 0
    assert [r.usage.cache_read >= static for r in replies] == [False, False, False, True, True]
    recs = read_trace(tmp_path / "t.jsonl")
    kw = stats(recs)["cache_objects"]["anthropic/claude-sonnet-4-5"]
    assert kw["keepwarm_pings"] == 3 and kw["keepwarm_stops"] >= 1
    ping_costs = [r["cost"]["total"] for r in recs if "event" not in r and r["usage"] and r["usage"]["output"] == 0]
    assert kw["keepwarm_cost"] == pytest.approx(sum(ping_costs))


# -- pruning ---------------------------------------------------------------------------------------
def history(n_results: int, size: int = 400) -> list[dict]:
    out = []
    for i in range(n_results):
        out.append({"role": "assistant", "content": f"Let me run tool {i}."})
        out.append({"role": "user", "content": f"<tool_result id={i}>" + "x" * size + "</tool_result>"})
    return out


def test_prune_waits_for_the_cache_to_expire():
    h = history(4)
    alive = prune_history(h, cache_expires_at=cache_expiry(1000, 300), now=1299)
    assert alive.reason == "cache_alive" and alive.history == h and not alive.changed
    gone = prune_history(h, cache_expires_at=cache_expiry(1000, 300), now=1300, keep_last=2)
    assert gone.pruned == [1, 3] and [e["content"] for e in gone.history[1:4:2]] == [PLACEHOLDER] * 2
    assert gone.history[5] == h[5] and gone.history[7] == h[7] and gone.history[0] == h[0]
    assert prune_history(h, cache_expires_at=None, now=0).changed  # unknown expiry: treated as expired
    assert prune_history(history(1), cache_expires_at=None, now=0).reason == "nothing_old"


def test_pruning_never_breaks_a_live_cache(sim, support, low_min_config):
    client = promptc.Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="sim", config=low_min_config,
                            clock=sim.clock)
    kwc = KeepWarmClient(client)
    inputs = {"customer": {"name": "Ada", "plan": "pro", "open_tickets": 1}}
    session = support.bind(**inputs)
    h = history(3, size=2000)
    first = kwc.complete(session.render(history=h, question="Why?"), max_tokens=10)
    assert first.usage.cache_write_total > 0
    sim.advance(60)
    h += [{"role": "assistant", "content": "Done."}]
    expires = kwc.expires_at("support")
    kept = prune_history(h, cache_expires_at=expires, now=sim.clock())
    assert kept.reason == "cache_alive"
    session = kept.apply(support, session, inputs)
    second = kwc.complete(session.render(history=kept.history, question="And now?"), max_tokens=10)
    # the whole previous prefix, old tool results included, came from the cache
    assert second.usage.cache_read >= first.usage.cache_write_total
    sim.advance(400)  # the cache expired: now pruning is free
    expires = kwc.expires_at("support")
    pruned = prune_history(h, cache_expires_at=expires, now=sim.clock())
    assert pruned.changed
    session = pruned.apply(support, session, inputs)
    third = kwc.complete(session.render(history=pruned.history, question="Later?"), max_tokens=10)
    assert third.usage.cache_read == 0  # nothing was live to lose
    assert third.usage.prompt < second.usage.prompt
