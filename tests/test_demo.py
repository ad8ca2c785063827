"""``promptc demo`` (issue 8 defect 10): works on projects with session inputs, takes inputs from a file
or flags, and writes nothing into the user's project or the current directory."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

import promptc
from promptc.core.errors import InputError
from promptc.demo import demo_inputs, run_demo

REPO = Path(__file__).resolve().parents[1]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def support(tmp_path) -> Path:
    dst = tmp_path / "support"
    shutil.copytree(REPO / "examples" / "support", dst)
    return dst


def quiet() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=120, color_system=None), buf


def test_demo_runs_a_project_with_session_inputs_and_writes_nothing(support, tmp_path, monkeypatch, engine):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = snapshot(support)
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"customer": {"name": "Ada", "plan": "enterprise", "open_tickets": 0}}))
    console, buf = quiet()
    summary = run_demo(support, turns=2, max_tokens=2, console=console, inputs_file=inputs,
                       pairs=("question=Why was I charged twice?",), engine=engine)
    assert summary["requests"] == 2
    assert summary["rows"][1]["cached"] > 0  # the second turn reuses the static and session prefix
    assert snapshot(support) == before  # no build/, no plans, the lock untouched
    assert list(cwd.iterdir()) == []
    assert "sample values" not in buf.getvalue()
    # not a terminal (a CI log): a line per request as it finishes, then the table
    text = buf.getvalue()
    rows = summary["rows"]
    assert f"request 2/2: support, {rows[1]['prompt']} prompt tokens, {rows[1]['cached']} cached" in text
    assert text.index("request 1/2: support") < text.index("request 2/2: support") < text.index("requests (interleaved agents)")


def test_missing_session_inputs_get_sample_values_and_the_demo_says_so(support, engine, tmp_path):
    console, buf = quiet()
    out = tmp_path / "plans"
    run_demo(support, turns=1, max_tokens=1, console=console, engine=engine, out=out)
    assert "support: sample values for session input(s) customer" in buf.getvalue()
    assert sorted(p.name for p in out.iterdir()) == ["support.plan.json"]  # --out gets plans, never a lock
    assert promptc.load_plan(out / "support.plan.json").name == "support"


def test_inputs_from_a_file_and_flags(tmp_path):
    plans = promptc.compile(REPO / "examples" / "team").plans
    f = tmp_path / "inputs.json"
    f.write_text(json.dumps({"file": "a.py", "query": "from the file"}))
    values = demo_inputs(plans, f, ("query=from a flag",))
    assert values["backend"] == {"file": "a.py", "query": "from a flag"}
    assert set(values) == {"backend", "docs", "frontend"}
    with pytest.raises(InputError) as e:
        demo_inputs(plans, None, ("qurey=x",))
    assert e.value.code == "E401" and "qurey" in str(e.value)
    f.write_text("[1, 2]")
    with pytest.raises(InputError, match="one JSON object"):
        demo_inputs(plans, f)
