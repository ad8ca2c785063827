"""Breakpoint placement rules, on synthetic inputs (provider-neutral part of every adapter)."""

from __future__ import annotations

from promptc.plan import Request, RequestSegment
from promptc.runtime.layout import Candidate, candidates, in_render_order, place


def seg(i, stability, kind="text", level="agent", role="system", bp=None):
    return RequestSegment(id=f"s{i}", role=role, kind=kind, stability=stability, content=f"text {i}",
                          hash=f"h{i}", prefix_hash=f"p{i}", level=level, breakpoint=bp)


def test_derived_candidates_and_the_history_slot():
    segs = [seg(0, "static", level="global"), seg(1, "static"), seg(2, "session"),
            seg(3, "turn", kind="history", role="user"), seg(4, "turn", kind="history", role="assistant"),
            seg(5, "turn", role="user")]
    got = candidates(Request(plan="p", targets=[], segments=segs), "anthropic/x")
    assert [(c.index, c.reason, c.stable) for c in got] == [(1, "static", True), (0, "global", True),
                                                            (2, "session", True), (4, "history", False)]


def test_plan_breakpoints_win_when_the_plan_was_compiled_for_the_target():
    segs = [seg(0, "static", bp=["anthropic/x"]), seg(1, "static"), seg(2, "turn", role="user")]
    got = candidates(Request(plan="p", targets=[], segments=segs), "anthropic/x")
    assert [(c.index, c.reason) for c in got] == [(0, "plan")]
    other = candidates(Request(plan="p", targets=[], segments=segs), "anthropic/y")
    assert [(c.index, c.reason) for c in other] == [(1, "static")]


def test_minimum_maximum_and_1h_before_5m():
    order = [0, 1, 2, 3, 4, 5]
    counts = [100, 100, 100, 100, 100, 100]
    wanted = [Candidate(i, "x", stable=i != 3) for i in (0, 1, 2, 3, 4, 5)]
    marks = place(order, counts, wanted, min_tokens=150, max_breakpoints=4, long_ttl=True)
    assert [m.index for m in marks] == [1, 2, 3, 4]  # s0 is below the minimum; at most 4
    assert [m.long for m in marks] == [True, True, False, False]  # nothing long after a short one
    assert [m.prefix_tokens for m in marks] == [200, 300, 400, 500]
    assert place(order, counts, wanted, min_tokens=None, max_breakpoints=0, long_ttl=True) == []


def test_anchors_follow_the_providers_render_order():
    segs = [seg(0, "static", level="global"), seg(1, "static", kind="tools", level="global"), seg(2, "static")]
    wanted = [Candidate(1, "global", True), Candidate(2, "static", True)]
    tools_first = [1, 0, 2]
    assert [c.index for c in in_render_order(wanted, tools_first, segs)] == [0, 2]
    no_tools = in_render_order(wanted, [0, 1, 2], segs, markable=lambda i: segs[i].kind != "tools")
    assert [c.index for c in no_tools] == [0, 2]
