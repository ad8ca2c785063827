"""The Python API for agents: compile, load_plan, bind, render, to_messages, typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import promptc
from promptc.core.errors import AppendOnlyError, InputError, PlanFormatError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def support():
    return promptc.compile(REPO / "examples" / "support")["support"]


CUSTOMER = {"name": "Ada", "plan": "enterprise", "open_tickets": 2}


def test_bind_render_gives_ordered_hashed_segments(support):
    req = support.bind(customer=CUSTOMER).render(question="Why was I charged twice?", history=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}])
    assert [s.id for s in req.segments] == ["honesty", "policy", "profile", "history[0]", "history[1]", "question"]
    assert req.segments[0].hash == support.segments[0].hash
    assert req.segments[1].prefix_hash == support.segments[1].prefix_hash
    assert "Ada (enterprise plan, 2 open tickets)" in req.segments[2].content
    msgs = req.to_messages()
    assert msgs[-1] == {"role": "user", "content": "Why was I charged twice?"}
    # consecutive same-role segments merge into one message, their texts joined as they are
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[0]["content"] == "".join(s.content for s in req.segments[:3])


def test_session_prefix_is_stable_across_turns(support):
    session = support.bind(customer=CUSTOMER)
    a = session.render(question="one")
    b = session.render(question="two", history=[{"role": "user", "content": "one"},
                                                {"role": "assistant", "content": "answer"}])
    assert a.segments[2].prefix_hash == b.segments[2].prefix_hash
    assert a.segments[-1].hash != b.segments[-1].hash


def test_wrong_or_missing_inputs_name_the_field(support):
    with pytest.raises(InputError) as e:
        support.bind(customer={"name": "Ada", "plan": "gold"})
    fields = dict(e.value.errors)
    assert "customer.plan" in fields and "customer.open_tickets" in fields
    session = support.bind(customer=CUSTOMER)
    with pytest.raises(InputError, match="question"):
        session.render()
    with pytest.raises(InputError, match="`customer` is a session input, not a turn input"):
        session.render(question="q", customer=CUSTOMER)


def test_history_is_append_only_at_run_time(support):
    session = support.bind(customer=CUSTOMER)
    h = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}]
    session.render(question="q", history=h)
    session.render(question="q", history=h + [{"role": "user", "content": "three"}])
    with pytest.raises(AppendOnlyError, match="changed at entry 0"):
        session.render(question="q", history=[{"role": "user", "content": "edited"}])


def test_static_content_comes_from_the_plan(tmp_path, support):
    """The runtime never re-renders static segments: it sends what the plan says, and the plan's hash vouches
    for it — content changed after the build is refused on load (E409), not sent under the old hash."""
    req = support.bind(customer=CUSTOMER).render(question="q")
    assert req.segments[1].content == support.segments[1].content
    assert req.segments[1].hash == support.segments[1].hash
    data = json.loads(support.to_json())
    data["segments"][1]["content"] = "TAMPERED"
    path = tmp_path / "support.plan.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFormatError) as e:
        promptc.load_plan(path)
    assert e.value.code == "E409" and e.value.where == "segments[1].content"


def test_load_plan_rejects_bad_files(tmp_path):
    p = tmp_path / "x.plan.json"
    p.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(PlanFormatError, match="format_version"):
        promptc.load_plan(p)
    p.write_text(json.dumps({"format_version": 1, "name": "x"}))
    with pytest.raises(PlanFormatError, match="not a valid plan"):
        promptc.load_plan(p)


def test_compile_raises_compile_error_with_all_diagnostics(tmp_path):
    (tmp_path / "a.prompt").write_text('global a @static """{{ x }} {{ y }}"""\nplan p = a\n')
    with pytest.raises(promptc.CompileError) as e:
        promptc.compile(tmp_path)
    assert [d.code for d in e.value.diagnostics] == ["E102", "E102"]
