"""Binding at run time (plan.py ``Session``): append-only checks for every kind, input errors that coach,
and the exception names the README promises (issue 8, defects 5 and 11)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import promptc
from promptc.core.errors import AppendOnlyError, InputError
from promptc.core.inputs import inputs_model
from promptc.core.vocab import MEMORY_ENTRY_TYPE
from promptc.plan import Plan

REPO = Path(__file__).resolve().parents[1]
CUSTOMER = {"name": "Ada", "plan": "pro", "open_tickets": 1}


@pytest.fixture(scope="module")
def support() -> Plan:
    return promptc.compile(REPO / "examples" / "support")["support"]


def with_turn_segment(support: Plan, kind: str) -> Plan:
    """The support plan with its history replaced by a turn-level append-only ``kind`` segment named `notes`."""
    data = json.loads(support.to_json())
    seg = next(s for s in data["segments"] if s["id"] == "history")
    if kind == "memory":
        seg.update(id="notes", kind="memory", role="system", inputs=["notes"])
        spec_type = MEMORY_ENTRY_TYPE
    else:  # append-only text: its content may only be extended
        seg.update(id="notes", kind="text", role="system", inputs=["notes"], template="{{ notes }}")
        spec_type = {"type": "string"}
    data["inputs"] = sorted([i for i in data["inputs"] if i["name"] != "history"] + [
        {"name": "notes", "type": spec_type, "stability": "turn", "has_default": True,
         "default": [] if kind == "memory" else "", "doc": None}], key=lambda i: i["name"])
    data["input_schema"]["turn"] = inputs_model("support_turn_inputs", [
        i for i in data["inputs"] if i["stability"] == "turn"]).model_json_schema()
    return Plan.model_validate(data)


def test_a_rewritten_memory_entry_is_refused_at_run_time(support, tmp_path):
    """Defect 5: the run-time append-only check used to skip memory segments."""
    path = tmp_path / "support.plan.json"
    path.write_text(with_turn_segment(support, "memory").to_json(), encoding="utf-8")
    session = promptc.load_plan(path).bind(customer=CUSTOMER)
    first = session.render(question="q", notes=["likes tea", "prefers email"])
    grown = session.render(question="q", notes=["likes tea", "prefers email", "vip"])
    assert first.segments[3].id == "notes" and first.segments[3].content == "likes tea\n\nprefers email\n"
    assert grown.segments[3].content.startswith(first.segments[3].content)
    with pytest.raises(AppendOnlyError, match=r"E402.*memory segment `notes`.*changed at entry 0"):
        session.render(question="q", notes=["likes coffee", "prefers email", "vip"])
    with pytest.raises(AppendOnlyError, match="changed at entry 2"):  # dropping an entry is not appending either
        session.render(question="q", notes=["likes tea", "prefers email"])


def test_an_append_only_text_segment_may_only_be_extended(support):
    session = with_turn_segment(support, "text").bind(customer=CUSTOMER)
    session.render(question="q", notes="one.")
    session.render(question="q", notes="one. two.")
    with pytest.raises(AppendOnlyError, match="changed at character 0"):
        session.render(question="q", notes="ONE. two. three.")


def test_sessions_are_independent(support):
    plan = with_turn_segment(support, "memory")
    plan.bind(customer=CUSTOMER).render(question="q", notes=["a"])
    plan.bind(customer=CUSTOMER).render(question="q", notes=["b"])  # a new conversation starts over


def test_an_unknown_session_input_lists_session_inputs_and_suggests(support):
    """Defect 11: the message listed turn inputs as "declared" and offered no suggestion."""
    with pytest.raises(InputError) as e:
        support.bind(customr=CUSTOMER)
    errors = dict(e.value.errors)
    assert set(errors) == {"customer", "customr"}  # the missing one and the unknown one
    msg = errors["customr"]
    assert "session inputs: `customer`" in msg and "did you mean `customer`?" in msg
    assert "question" not in msg and "history" not in msg
    assert e.value.code == "E401" and str(e.value).startswith("error[E401]")


def test_a_misspelt_turn_input_suggests_the_turn_input(support):
    with pytest.raises(InputError) as e:
        support.bind(customer=CUSTOMER).render(questoin="q")
    msg = dict(e.value.errors)["questoin"]
    assert "turn inputs: `history`, `question`" in msg and "did you mean `question`?" in msg


def test_a_suggestion_at_another_level_says_so(support):
    with pytest.raises(InputError) as e:
        support.bind(customer=CUSTOMER, questio="q")
    assert "did you mean `question` (a turn input)?" in dict(e.value.errors)["questio"]
    with pytest.raises(InputError, match="`question` is a turn input, not a session input"):
        support.bind(customer=CUSTOMER, question="q")


def test_no_suggestion_for_an_unrelated_name(support):
    with pytest.raises(InputError) as e:
        support.bind(customer=CUSTOMER, zzz=1)
    assert "did you mean" not in dict(e.value.errors)["zzz"]


def test_every_exception_the_readme_names_is_importable_from_promptc():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(r"\b(?:promptc\.)?([A-Z][A-Za-z]*Error)\b", text))
    assert {"InputError", "AppendOnlyError"} <= names
    for name in sorted(names):
        cls = getattr(promptc, name, None)
        assert isinstance(cls, type) and issubclass(cls, promptc.PromptcError), name
        assert name in promptc.__all__


def test_a_failed_turn_does_not_advance_the_append_only_state(support):
    """A turn that fails records nothing: the next turn is checked against the last turn that rendered."""
    data = json.loads(support.to_json())
    i = next(i for i, s in enumerate(data["segments"]) if s["id"] == "history")
    notes = dict(data["segments"][i], id="notes", kind="memory", role="system", inputs=["notes"])
    data["segments"].insert(i, notes)  # notes (memory), then history: two append-only segments in one turn
    data["inputs"] = sorted(data["inputs"] + [{"name": "notes", "type": MEMORY_ENTRY_TYPE, "stability": "turn",
                                               "has_default": True, "default": [], "doc": None}],
                            key=lambda x: x["name"])
    data["input_schema"]["turn"] = inputs_model("support_turn_inputs", [
        x for x in data["inputs"] if x["stability"] == "turn"]).model_json_schema()
    session = Plan.model_validate(data).bind(customer=CUSTOMER)
    h1 = {"role": "user", "content": "one"}
    session.render(question="q", notes=["a"], history=[h1])
    with pytest.raises(AppendOnlyError, match="history"):  # notes grew, but history was rewritten: the turn fails
        session.render(question="q", notes=["a", "b"], history=[{"role": "user", "content": "ONE"}])
    session.render(question="q", notes=["a"], history=[h1])  # so notes are still ["a"], not ["a", "b"]
