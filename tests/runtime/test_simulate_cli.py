"""`promptc simulate` on the command line (in process, with click's CliRunner)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptc import cli as cli_mod
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.errors import RuntimeConfigError
from promptc.runtime.simulate import WorkloadError, load_workload, simulate
from promptc.runtime.simulate.report import to_json

REPO = Path(__file__).resolve().parents[2]
TEAM = str(REPO / "examples" / "team")

WORKLOAD = {"name": "three turns", "turns": [
    {"plan": "backend", "at": "09:00", "inputs": {"file": "api/users.py", "query": "Why 500?"}},
    {"plan": "frontend", "after": "1m", "inputs": {"file": "web/App.tsx", "query": "Add a spinner."}},
    {"plan": "backend", "after": "2m", "inputs": {"file": "api/users.py", "query": "And now?"}}]}


@pytest.fixture()
def workload_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no pyproject.toml here: default prices and limits
    path = tmp_path / "three.json"
    path.write_text(json.dumps(WORKLOAD), encoding="utf-8")
    return path


def invoke(*args):
    return CliRunner().invoke(cli_mod.cli, ["simulate", *args], catch_exceptions=True)


def test_json_output_is_the_library_result(workload_file, team):
    r = invoke(TEAM, "-t", "anthropic/claude-sonnet-4-5", "--workload", str(workload_file), "--min-tokens", "256",
               "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    w = load_workload(workload_file, plans=team.plans)
    expected = json.loads(to_json(w, simulate(w, ["anthropic/claude-sonnet-4-5"], min_tokens=256,
                                              config=RuntimeConfig())))
    assert out == expected
    s = out["targets"][0]["strategies"]
    assert set(s) == {"none", "naive", "promptc", "best"}
    assert s["promptc"]["cache_read"] > s["naive"]["cache_read"] > 0  # frontend reads the shared prefix
    assert out["workload"] == {"name": "three turns", "turns": 3, "plans": ["backend", "frontend"],
                               "duration_s": 180.0, "note": None}


def test_text_table_and_same_output_twice(workload_file):
    args = (TEAM, "-t", "anthropic/claude-sonnet-4-5", "-t", "openai/gpt-5.6", "--workload", str(workload_file),
            "--min-tokens", "256")
    first, second = invoke(*args), invoke(*args)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    lines = first.stdout.splitlines()
    assert lines[0] == "workload: three turns: 3 turns of 2 plans (backend, frontend) over 3m"
    header = [i for i, line in enumerate(lines) if line.split()[:2] == ["strategy", "hit"]]
    assert len(header) == 2
    for i in header:
        assert [lines[i + k].split()[0] for k in range(1, 5)] == ["no", "naive", "promptc", "theoretical"]
        assert lines[i + 1].split()[-1] == "0.0%" and lines[i + 4].split()[-1] == "100.0%"
    assert "simulated with --min-tokens 256" in first.stdout


def test_built_in_day_needs_plans_and_options_are_checked(tmp_path, workload_file):
    r = invoke("-t", "anthropic/claude-sonnet-4-5")
    assert r.exit_code == 2 and "give the plans to simulate" in r.output
    r = invoke(TEAM, "-t", "anthropic/claude-sonnet-4-5", "--workload", str(workload_file), "--from-trace", "t.jsonl")
    assert r.exit_code == 2 and "not both" in r.output
    r = invoke("-t", "anthropic/claude-sonnet-4-5", "--from-trace", str(workload_file))
    assert r.exit_code == 2 and "--from-trace needs the plans" in r.output
    r = invoke(TEAM, "-t", "nosuch/model")
    assert isinstance(r.exception, RuntimeConfigError) and "E507" in str(r.exception)
    r = invoke(TEAM, "-t", "anthropic/claude-sonnet-4-5", "--min-tokens", "0")
    assert r.exit_code == 2


def test_workload_mistakes_exit_2_with_the_coded_message(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[turns]]\nplan = "backend"\nafter = "soon"\n', encoding="utf-8")
    r = invoke(TEAM, "-t", "anthropic/claude-sonnet-4-5", "--workload", str(bad))
    assert isinstance(r.exception, WorkloadError) and r.exception.code == "E543"
    monkeypatch.setattr(sys, "argv", ["promptc", "simulate", TEAM, "-t", "anthropic/claude-sonnet-4-5", "--workload",
                                      str(bad)])
    with pytest.raises(SystemExit) as done:
        cli_mod.main()
    assert done.value.code == 2
    assert "error[E543]:" in capsys.readouterr().err and "turns[0].after" in str(r.exception)


def test_from_trace_on_the_command_line(tmp_path, team, workload_file):
    trace = tmp_path / "t.jsonl"
    rec = {"plan": "docs", "status": "ok", "usage": {"uncached": 500, "cache_read": 0, "cache_write_total": 0}}
    trace.write_text("\n".join(json.dumps({**rec, "ts": ts}) for ts in (100.0, 130.0)) + "\n", encoding="utf-8")
    r = invoke(TEAM, "-t", "anthropic/claude-sonnet-4-5", "--from-trace", str(trace), "--min-tokens", "256",
               "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["workload"]["turns"] == 2 and out["workload"]["duration_s"] == 30.0
    assert "synthesized" in out["workload"]["note"]
    # the synthesized turn brings each prompt to about the traced 500 tokens
    prompt = out["targets"][0]["strategies"]["none"]["prompt"]
    assert abs(prompt - 1000) <= 40
