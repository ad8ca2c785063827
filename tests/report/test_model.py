"""The prefix tree (promptc.report.model) against its invariants, the layout's aggregation, and the
terminal tree (`promptc show --tree`)."""

from __future__ import annotations

import random

import pytest

from promptc.report import prefix_map, render_html, render_tree
from promptc.report.layout import MAX_CHILDREN, layout
from promptc.report.model import build_map, default_target
from promptc.show import shared_with
from tests.report.conftest import EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES)
def test_nodes_are_shared_exactly_where_prefix_hashes_are_equal(example_plans, example):
    plans = example_plans[example]
    pm = build_map(plans)
    for name, plan in plans.items():
        path = pm.path(name)
        assert [n.segment for n in path] == [s.id for s in plan.segments]  # a plan is a root-to-leaf path
        assert not path[-1].children or all(name not in c.plans for c in path[-1].children)
        others = [p for n, p in plans.items() if n != name]
        for node, seg, shared in zip(path, plan.segments, shared_with(plan, others)):
            assert node.prefix_hash == seg.prefix_hash and node.hash == seg.hash
            if seg.prefix_hash:  # static: exactly the plans `promptc show` lists
                assert node.shared_with(name) == shared
        assert pm.static_tokens(name) == (plan.static_tokens or {}).get(pm.target, 0)


def test_team_tree_shape(example_plans):
    pm = build_map(example_plans["team"])
    assert [r.segment for r in pm.roots] == ["rules"]
    tools = pm.roots[0].children
    assert [n.segment for n in tools] == ["repo_tools"] and tools[0].plans == ["backend", "docs", "frontend"]
    assert [n.segment for n in tools[0].children] == ["backend", "docs", "frontend"]
    assert tools[0].append_only and tools[0].source == "shared.prompt:21:1"
    assert pm.lanes() == ["backend", "docs", "frontend"]


def test_same_plans_in_any_order_give_the_same_tree_and_bytes(example_plans, many):
    _, plans = many
    items = list(plans.items())
    random.Random(7).shuffle(items)
    a, b = build_map(plans), build_map(dict(items))
    assert [(n.id, n.segment, n.plans) for n in a.nodes()] == [(n.id, n.segment, n.plans) for n in b.nodes()]
    assert render_html(a) == render_html(b)
    assert render_tree(a, 120) == render_tree(b, 120)


def test_lanes_under_a_node_are_contiguous(many):
    _, plans = many
    pm = build_map(plans)
    lanes = pm.lanes()
    assert sorted(lanes) == sorted(plans)
    for n in pm.nodes():
        idx = sorted(lanes.index(p) for p in n.plans)
        assert idx == list(range(idx[0], idx[0] + len(idx)))


def test_aggregation_folds_beyond_max_children(many):
    _, plans = many
    lay = layout(build_map(plans, "engine/smollm2"))
    assert len(lay.lanes) == MAX_CHILDREN
    more = [b for b in lay.boxes if b.node is None]
    assert len(more) == 1 and len(more[0].folded) == 100 - (MAX_CHILDREN - 1)
    drawn = {p for label, ps in lay.lanes for p in ps}
    assert drawn == set(plans)  # folded, not dropped
    # a small project is not folded at all
    small = {n: plans[n] for n in sorted(plans)[:MAX_CHILDREN]}
    assert all(b.node is not None for b in layout(build_map(small)).boxes)


def test_widths_are_tokens_of_the_chosen_target(many):
    _, plans = many
    for target in ("engine/smollm2", "anthropic/claude-sonnet-5"):
        lay = layout(build_map(plans, target))
        for b in lay.boxes:
            if b.node is not None and not b.runtime:
                assert b.w == b.node.tokens[target]
                assert b.x == b.node.offset
    assert default_target(plans) == "anthropic/claude-sonnet-5"  # a tie between the two: the first by name


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_the_text_tree_fits_the_width(example_plans, width):
    for plans in example_plans.values():
        text = render_tree(build_map(plans), width)
        assert all(len(line) <= width for line in text.splitlines())


def test_the_text_tree_shows_tokens_breakpoints_and_totals(example_plans):
    plans = example_plans["support"]
    pm = prefix_map(plans, "anthropic/claude-sonnet-5")
    text = render_tree(pm, 160)
    for seg in plans["support"].segments:
        assert seg.id in text
        n = (seg.tokens or {}).get("anthropic/claude-sonnet-5")
        if n is not None:
            line = next(x for x in text.splitlines() if seg.id in x)
            assert f" {n} " in line
        if seg.breakpoint:
            line = next(x for x in text.splitlines() if x.lstrip("└─├│ ").startswith(seg.id))
            assert "▼" in line and all(b in line for b in seg.breakpoint)
    assert f"= plan support: static prefix {plans['support'].static_tokens['anthropic/claude-sonnet-5']} tokens" in text


def test_an_invalidated_plan_folded_into_more_is_still_marked(many):
    """The impact of a plan drawn inside a "+K more" lane is not lost in the fold."""
    from promptc.lint.model import LintReport, PlanSummary
    from promptc.report.impact import place

    _, plans = many
    pm = build_map(plans, "engine/smollm2")
    empty = LintReport.empty("HEAD", "git", "0")
    row = PlanSummary(plan="p050", from_segment="a050", tokens={"engine/smollm2": 12}, cost_per_request=0.0,
                      suppressed=False)
    impact = place(pm, empty.model_copy(update={"summary": empty.summary.model_copy(update={"plans": [row]})}))
    assert impact.invalidated == {pm.node_of("p050", "a050").id: ["p050"], pm.node_of("p050", "turn").id: ["p050"]}
    # the hatch covers lint's re-written tokens: the last 12 of the plan's static prefix
    assert impact.hatch_start[pm.node_of("p050", "a050").id] == pm.static_tokens("p050") - 12
    html = render_html(pm, impact)
    more = html.split('class="seg more inval"', 1)[1].split("</a>", 1)[0]
    assert "✗ 1 invalidated" in more and "p050" in more
    assert html.count('class="seg more') == 1
