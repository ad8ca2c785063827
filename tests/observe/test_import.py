"""`promptc import`: recorded traffic of several shapes (SDK agents through the proxy) becomes a
project that compiles, and rendering it with the observed inputs reproduces the observed bytes."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner

import promptc
from promptc.cli import cli
from tests.observe.conftest import MODEL
from tests.observe.test_causes import RULES, TOOLS

TEAM_RULES = "Team rules: small reviewable changes, a test for every behaviour change, no secrets. " * 20


def _import(rig, tmp_path):
    out = tmp_path / "imported"
    r = CliRunner().invoke(cli, ["import", str(rig.trace), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, r


def _observed(recs, plan):
    """Per request of ``plan``: [(role, text)] of its system and message segments, in wire order."""
    return [[(d["role"], d["text"]) for d in r["observe"]["segment_detail"] if d["kind"] != "tool"]
            for r in recs if r["plan"] == plan]


def _rendered(project, plan, inputs):
    session = project[plan].bind()
    out = []
    for values in inputs[plan]:
        req = session.render(**values)
        out.append([("user" if s.role == "user" else s.role, s.content) for s in req.segments if s.kind != "tools"])
    return out


def _norm(seq):
    return [("system" if role == "system" else role, text) for role, text in seq]


def test_conversation_with_tools_and_a_clock_round_trips(recording_rig, tmp_path):
    """Shape 1: tools, a static system block, a clock block with the marker, a growing conversation."""
    c = recording_rig.anthropic()
    history = []
    for t in range(3):
        history.append({"role": "user", "content": f"Question {t}?"})
        r = c.messages.create(model=MODEL, max_tokens=16, tools=TOOLS, messages=history, system=[
            {"type": "text", "text": RULES},
            {"type": "text", "text": f"Now: 2026-12-06 10:0{t}:00", "cache_control": {"type": "ephemeral"}}])
        history.append({"role": "assistant", "content": r.content[0].text})
    recs = recording_rig.records(3)
    out, res = _import(recording_rig, tmp_path)
    assert "W560" in res.output and "2026-12-06 10:00:00" in res.output
    project = promptc.compile(out)
    inputs = json.loads((out / "inputs.json").read_text())
    plan = recs[0]["plan"]
    observed = [_norm(x) for x in _observed(recs, plan)]
    rendered = _rendered(project, plan, inputs)
    assert rendered == observed  # every byte of every text segment, in order (nothing had to move)
    # the static block is static, byte for byte; the tools are the append-only tools, in order
    segs = {s.id: s for s in project[plan].segments}
    assert any(s.is_static and s.content == RULES for s in segs.values())
    tools = next(s for s in segs.values() if s.kind == "tools")
    assert [t["name"] for t in tools.tools] == [t["name"] for t in TOOLS] and tools.append_only


def test_clock_at_offset_zero_moves_after_the_static_block(recording_rig, tmp_path):
    """Shape 2 (OpenAI chat): a clock value at the start of the system prompt, one-shot requests."""
    c = recording_rig.openai()
    for minute in (5, 6, 7):
        c.chat.completions.create(model="gpt-4.1", messages=[
            {"role": "system", "content": f"Current time: 09:{minute:02d}"},
            {"role": "system", "content": RULES}, {"role": "user", "content": f"Task {minute}"}])
    recs = recording_rig.records(3)
    out, res = _import(recording_rig, tmp_path)
    assert "W560" in res.output
    project = promptc.compile(out)
    inputs = json.loads((out / "inputs.json").read_text())
    plan = recs[0]["plan"]
    observed = _observed(recs, plan)
    rendered = _rendered(project, plan, inputs)
    for obs, ren in zip(observed, rendered, strict=True):
        assert Counter(obs) == Counter(ren)  # the same bytes, every one of them...
        assert ren[0] == ("system", RULES)  # ...with the static block first now: that is the fix
    first = project[plan].segments[0]
    assert first.is_static and first.content == RULES


def test_two_agents_share_a_global_block_by_hash(recording_rig, tmp_path):
    """Shape 3: two agents (labelled by path) send the same rules block, then their own."""
    import anthropic

    for agent, own in (("backend", "You own the backend."), ("frontend", "You own the frontend.")):
        c = anthropic.Anthropic(base_url=f"{recording_rig.proxy.url}/agent/{agent}", api_key="k", max_retries=0)
        for q in ("First?", "Second?"):
            c.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": q}], system=[
                {"type": "text", "text": TEAM_RULES, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": own}])
    recs = recording_rig.records(4)
    out, _ = _import(recording_rig, tmp_path)
    assert (out / "shared.prompt").exists()
    project = promptc.compile(out)
    inputs = json.loads((out / "inputs.json").read_text())
    b, f = project["backend"].segments[0], project["frontend"].segments[0]
    assert b.level == "global" and b.hash == f.hash and b.content == TEAM_RULES
    for plan in ("backend", "frontend"):
        assert _rendered(project, plan, inputs) == [_norm(x) for x in _observed(recs, plan)]


def test_a_block_that_changes_arbitrarily_becomes_a_turn_input(recording_rig, tmp_path):
    """Shape 4 (OpenAI Responses): instructions rewritten per request, not just a value in them."""
    c = recording_rig.openai()
    for text in ("Be brief.", "Explain every step in detail, with examples."):
        c.responses.create(model="gpt-4.1", input=[{"role": "system", "content": RULES},
                                                   {"role": "system", "content": text},
                                                   {"role": "user", "content": "Plan the release."}])
    recs = recording_rig.records(2)
    out, _ = _import(recording_rig, tmp_path)
    project = promptc.compile(out)
    inputs = json.loads((out / "inputs.json").read_text())
    plan = recs[0]["plan"]
    assert _rendered(project, plan, inputs) == [_norm(x) for x in _observed(recs, plan)]
    assert [s.stability for s in project[plan].segments][:2] == ["static", "turn"]


def test_import_never_overwrites_and_needs_bodies(recording_rig, rig, tmp_path):
    recording_rig.anthropic().messages.create(model=MODEL, max_tokens=8, system=RULES,
                                              messages=[{"role": "user", "content": "x"}])
    recording_rig.records(1)
    out = tmp_path / "p"
    out.mkdir()
    (out / "inputs.json").write_text("mine")
    r = CliRunner().invoke(cli, ["import", str(recording_rig.trace), "--out", str(out)])
    assert r.exit_code != 0 and "E970" in str(r.exception or r.output)
    assert (out / "inputs.json").read_text() == "mine" and not list(out.glob("*.prompt"))
    rig.anthropic().messages.create(model=MODEL, max_tokens=8, system=RULES, messages=[{"role": "user", "content": "x"}])
    rig.records(1)
    r = CliRunner().invoke(cli, ["import", str(rig.trace), "--out", str(tmp_path / "q")])
    assert r.exit_code != 0 and "E561" in str(r.exception or r.output)
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize("text", ["{{ x }} and {% if %} and {# c #}", 'quotes " and \\ and\nnew lines\t'])
def test_template_syntax_in_observed_text_is_kept_literally(recording_rig, tmp_path, text):
    recording_rig.anthropic().messages.create(model=MODEL, max_tokens=8, system=text,
                                              messages=[{"role": "user", "content": "x"}])
    recs = recording_rig.records(1)
    out, _ = _import(recording_rig, tmp_path)
    project = promptc.compile(out)
    assert project[recs[0]["plan"]].segments[0].content == text
