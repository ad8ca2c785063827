"""Inputs and plan selection for one run (promptc/runtime/inputs.py, plans.py): what `promptc run` calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import promptc
from promptc.cli import cli
from promptc.core.errors import InputError
from promptc.runtime.engine_client import RunResult
from promptc.runtime.inputs import gather_inputs, parse_pairs, read_inputs_file, split_inputs
from promptc.runtime.plans import PlanChoiceError, open_plan

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "examples" / "support"
TEAM = REPO / "examples" / "team"


@pytest.fixture(scope="module")
def support():
    return promptc.compile(SUPPORT)["support"]


def test_pairs_take_text_for_strings_and_json_for_the_rest(support, tmp_path):
    q = tmp_path / "q.txt"
    q.write_text("from a file\n", encoding="utf-8")
    values = parse_pairs(support, ['customer={"name": "Ada", "plan": "pro", "open_tickets": 2}', "question=@q.txt",
                                   'history=[{"role": "user", "content": "hi"}]'], base=tmp_path)
    assert values == {"customer": {"name": "Ada", "plan": "pro", "open_tickets": 2}, "question": "from a file\n",
                      "history": [{"role": "user", "content": "hi"}]}
    assert parse_pairs(support, ["question=3"]) == {"question": "3"}  # a string stays text
    session, turn = split_inputs(support, values)
    assert set(session) == {"customer"} and set(turn) == {"question", "history"}
    assert support.bind(**session).render(**turn).segments[-1].content == "from a file\n"


@pytest.mark.parametrize("pair,field,message", [
    ("question", "question", "expected KEY=VALUE"),
    ("=x", "=x", "expected KEY=VALUE"),
    ("questoin=x", "questoin", "did you mean `question`?"),
    ("customer={name: Ada}", "customer", "written as JSON"),
    ("question=@missing.txt", "question", "cannot read missing.txt"),
])
def test_every_input_mistake_is_e401_naming_the_input(support, tmp_path, pair, field, message):
    with pytest.raises(InputError) as e:
        parse_pairs(support, [pair], base=tmp_path)
    assert e.value.code == "E401"
    assert dict(e.value.errors)[field].find(message) >= 0, e.value.errors


def test_an_inputs_file(support, tmp_path):
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"question": "q", "customer": {"name": "A", "plan": "free", "open_tickets": 0}}))
    assert read_inputs_file(support, f)["question"] == "q"
    for text, message in (("{", "not JSON"), ("[]", "one JSON object")):
        f.write_text(text)
        with pytest.raises(InputError, match=message):
            read_inputs_file(support, f)
    with pytest.raises(InputError, match="cannot read"):
        read_inputs_file(support, tmp_path / "nope.json")
    with pytest.raises(InputError, match="unknown input"):
        split_inputs(support, {"nope": 1})
    f.write_text(json.dumps({"question": "from the file", "customer": {"name": "A", "plan": "free", "open_tickets": 0}}))
    session, turn = gather_inputs(support, ["question=from a flag"], f)
    assert session == {"customer": {"name": "A", "plan": "free", "open_tickets": 0}}
    assert turn == {"question": "from a flag"}


def _compile(path):
    result = promptc.compile(path)
    return result.root, result.plans


def test_open_plan_takes_a_plan_file_a_prompt_file_or_a_project(support, tmp_path):
    f = tmp_path / "support.plan.json"
    f.write_text(support.to_json(), encoding="utf-8")
    assert open_plan(f) == support
    assert open_plan(SUPPORT / "support.prompt", compile_sources=_compile) == support
    assert open_plan(TEAM, "docs", compile_sources=_compile).name == "docs"
    assert open_plan(TEAM / "backend.prompt", compile_sources=_compile).name == "backend"
    with pytest.raises(PlanChoiceError, match="declares 3 plans"):
        open_plan(TEAM, compile_sources=_compile)
    with pytest.raises(PlanChoiceError, match="no plan `nope`"):
        open_plan(TEAM, "nope", compile_sources=_compile)
    with pytest.raises(PlanChoiceError, match="not a compiled .plan.json"):
        open_plan(TEAM)  # without a compiler the runtime takes compiled plans only


class FakeEngine:
    loaded = 0

    def __init__(self, *a, **kw):
        FakeEngine.loaded += 1


class FakeClient:
    def __init__(self, engine):
        self.engine = engine

    def run(self, request, **kw):
        assert request.segments[-1].content.endswith("why?\n")
        return RunResult(text="an answer", usage={"prompt_tokens": 10, "completion_tokens": 2}, segments=[],
                         finish_reason="stop")


def test_run_embedded_shows_progress_while_the_model_loads(monkeypatch, tmp_path):
    """Defect 14: the model loads for ~27 s; stderr says so while it does (a spinner with elapsed time)."""
    monkeypatch.setattr("promptc.engine.Engine", FakeEngine, raising=False)
    monkeypatch.setattr("promptc.runtime.engine_client.EmbeddedClient", FakeClient)
    r = CliRunner().invoke(cli, ["run", str(TEAM / "backend.prompt"), "-i", "file=a.py", "-i", "query=why?",
                                 "--embedded"])
    assert r.exit_code == 0, r.output
    assert "loading the embedded model" in r.stderr and "done" in r.stderr
    assert r.stdout.startswith("an answer") and FakeEngine.loaded == 1


def test_run_reports_input_mistakes_as_coded_usage_errors(monkeypatch, capsys):
    from promptc.cli import main

    monkeypatch.setattr("sys.argv", ["promptc", "run", str(TEAM / "backend.prompt"), "-i", "fiel=a.py", "--embedded"])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "error[E401]" in err and "did you mean `file`?" in err and "Traceback" not in err
