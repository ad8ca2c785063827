"""The team layout on the providers that send tools first: the plan lists `rules` before
`repo_tools` (``plan backend = rules, repo_tools, backend, ...``) and the rules are above every
minimum. Anthropic, Bedrock and OpenAI hash tool definitions before any system text, so the shared
block on the wire is tools + rules. The second and third agents' first requests must READ it, and
what ``promptc show`` reports for each target must equal what the simulator (the oracle) measured.

The minimums are the real ones (nothing lowered): the rules alone are ~1,300 tokens.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

import promptc
from promptc.runtime.client import Client
from promptc.runtime.sim import Simulator
from tests.aws_sim import aws_sim_env
from promptc.show import plan_table

REPO = Path(__file__).resolve().parents[2]
AGENTS = ("backend", "frontend", "docs")
ANTHROPIC = "anthropic/claude-sonnet-4-5"
BEDROCK = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"
OPENAI = "openai/gpt-5.6"
TARGETS = (ANTHROPIC, BEDROCK, OPENAI)
RULES = "\n".join(f"{n}. Rule {n}: check the change against the team's review checklist item {n} before you "
                  "answer, and say which files you read." for n in range(6, 66))


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    root = tmp_path_factory.mktemp("team") / "team"
    shutil.copytree(REPO / "examples" / "team", root)
    (root / "promptc.lock").unlink(missing_ok=True)
    shared = (root / "shared.prompt").read_text()
    anchor = "5. When you are unsure, say what you would check and how.\n"
    assert anchor in shared
    (root / "shared.prompt").write_text(shared.replace(anchor, anchor + RULES + "\n"))
    (root / "pyproject.toml").write_text("[tool.promptc]\ntargets = [" + ", ".join(f'"{t}"' for t in TARGETS) + "]\n")
    return promptc.compile(root).plans


@pytest.fixture()
def aws_env(tmp_path):
    with aws_sim_env(tmp_path):
        yield


def shown_rows(plan, siblings) -> dict[str, list[str]]:
    """``promptc show``'s table as {segment id: cells}, and its header."""
    console = Console(width=400, record=True, color_system=None)
    console.print(plan_table(plan, siblings))
    rows: dict[str, list[str]] = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) > 2 and cells[1]:
            rows[cells[1]] = cells
    return rows


def test_the_plan_lists_rules_before_tools_and_every_target_sends_tools_first(plans):
    ids = [s.id for s in plans["backend"].segments]
    assert ids.index("rules") < ids.index("repo_tools")
    for t in TARGETS:
        assert plans["backend"].segment("rules").prefix_tokens[t] >= 1024  # over every minimum
        assert plans["backend"].segment("repo_tools").prefix_tokens[t] < 1024  # the tools alone are not


@pytest.mark.parametrize("target", TARGETS)
def test_second_and_third_agents_read_the_shared_tools_and_rules_prefix(plans, target, aws_env):
    kwargs = {"base_url_suffix": "/v1"} if target.startswith("openai/") else {}
    with Simulator() as sim:
        url = sim.url + kwargs.get("base_url_suffix", "")
        with Client(target, base_url=url, api_key="sk-test-0123456789", retention="short") as client:
            reads, writes, marks = {}, {}, {}
            for agent in AGENTS:
                req = plans[agent].bind().render(file="api/users.py", query=f"what should {agent} check first?")
                reply = client.complete(req, max_tokens=16)
                reads[agent], writes[agent] = reply.usage.cache_read, reply.usage.cache_write_total
                marks[agent] = [m.segment for m in reply.breakpoints]
                # the shared breakpoint sits where the wire prefix is shared: after `rules`, not the tools
                assert "rules" in [m.segment for m in reply.breakpoints]
                assert "repo_tools" not in [m.segment for m in reply.breakpoints]
    shared = {a: plans[a].segment("rules").prefix_tokens[target] for a in AGENTS}
    assert len(set(shared.values())) == 1
    shared_tokens = shared["backend"]
    # the first agent writes; the others read exactly the tools + rules prefix the compiler measured
    assert reads["backend"] == 0 and writes["backend"] > 0
    assert reads["frontend"] == shared_tokens
    assert reads["docs"] == shared_tokens
    # and they only write their own part (Bedrock: only where a checkpoint adds its own minimum)
    for agent in ("frontend", "docs"):
        own = plans[agent].static_tokens[target] - shared_tokens
        assert writes[agent] == (own if f"{agent}_memory" in marks[agent] else 0)


@pytest.mark.parametrize("target", TARGETS)
def test_show_marks_the_breakpoint_after_rules_and_its_numbers_are_the_wire_numbers(plans, target):
    plan = plans["frontend"]
    siblings = [plans[a] for a in AGENTS if a != "frontend"]
    rows = shown_rows(plan, siblings)
    provider = target.split("/")[0]
    assert provider in rows["rules"][-2] and provider not in rows["repo_tools"][-2]
    # the token columns (one per target, in plan.targets order) add up to the prefix the wire shares
    col = 6 + [t.name for t in plan.targets].index(target)
    assert int(rows["rules"][col]) + int(rows["repo_tools"][col]) == plan.segment("rules").prefix_tokens[target]
    assert set(rows["rules"][-1].split(", ")) == {"backend", "docs"}


@pytest.mark.parametrize("target", TARGETS)
def test_the_report_map_is_in_wire_order_and_shares_tools_and_rules(plans, target):
    from promptc.report.model import build_map

    prefix_map = build_map(plans, target)
    (root,) = prefix_map.roots  # every plan starts with the tools on the wire
    assert root.segment == "repo_tools" and root.plans == sorted(AGENTS)
    (rules,) = root.children
    assert rules.segment == "rules" and rules.plans == sorted(AGENTS)
    assert rules.offset + rules.tokens_for(target) == plans["backend"].segment("rules").prefix_tokens[target]


def test_show_claims_no_share_the_wire_does_not_have(tmp_path):
    """Two plans share `rules` in plan order, but each sends its own agent tools first on Anthropic:
    `show` must not say `rules` is shared, and the compiler says why (W313)."""
    (tmp_path / "main.prompt").write_text('''global rules @static role system """You work on the acme shop."""
agent a_tools @append_only tools {
    refund(order: string "An order id") "Refund an order."
}
agent b_tools @append_only tools {
    ship(order: string "An order id") "Ship an order."
}
task turn @turn role user {
    input q: string
    """{{ q }}"""
}
plan a = rules, a_tools, turn target "anthropic/claude-sonnet-4-5"
plan b = rules, b_tools, turn target "anthropic/claude-sonnet-4-5"
''')
    result = promptc.compile(tmp_path)
    a, b = result.plans["a"], result.plans["b"]
    assert a.segment("rules").prefix_hash == b.segment("rules").prefix_hash  # equal in plan order
    assert shown_rows(a, [b])["rules"][-1] == ""  # but not on the wire
    assert sorted(d.code for d in result.diagnostics if d.code == "W313") == ["W313", "W313"]
