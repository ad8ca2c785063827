"""Issue 22 item 11: hostile trace and workload files are coded errors with their location
(E508 for traces with the line number, E540–E544 for workloads), never an internal error, in
every reader: ``trace stats``, ``report --trace``, ``simulate --from-trace`` and ``--workload``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptc.report.runtime import load as load_run_view
from promptc.runtime.errors import TraceError
from promptc.runtime.simulate.workload import WorkloadError, from_trace, load_workload
from promptc.runtime.trace import read_trace, stats
from tests.security.test_cache_robustness import run_cli

REPO = Path(__file__).resolve().parents[2]
GOOD = json.dumps({"ts": 1.0, "plan": "docs", "target": "anthropic/claude-sonnet-4-5", "status": "ok",
                   "usage": {"uncached": 5, "cache_read": 0, "cache_write_total": 0, "output": 1},
                   "cost": {"total": 0.001}, "segments": [{"id": "rules", "hash": "sha256:ab"}]})
HOSTILE = {
    "usage is a list": '{"ts": 2, "status": "ok", "usage": [1, 2]}',
    "ts is a word": '{"ts": "yesterday", "status": "ok"}',
    "cost total is text": '{"ts": 2, "status": "ok", "cost": {"total": "x"}}',
    "segments is a string": '{"ts": 2, "segments": "abc"}',
    "ts is NaN": '{"ts": NaN, "status": "ok"}',
    "cache_read is 10**400": '{"ts": 2, "status": "ok", "usage": {"cache_read": 1' + "0" * 400 + "}}",
    "tokens negative": '{"ts": 2, "event": "create", "remote_id": "c1", "tokens": -5}',
    "expires_at infinite": '{"ts": 2, "event": "refresh", "remote_id": "c1", "expires_at": Infinity}',
    "invalidation segment is a list": '{"ts": 2, "status": "ok", "invalidation": {"segment": [1]}}',
    "deeply nested": '{"ts": 2, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "a digit string over Python's limit": '{"ts": 1' + "0" * 5000 + "}",
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile_trace(request, tmp_path) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text(GOOD + "\n" + HOSTILE[request.param] + "\n", encoding="utf-8")
    return path


def test_read_trace_refuses_the_record_with_its_line(hostile_trace):
    with pytest.raises(TraceError) as exc:
        read_trace(hostile_trace)
    assert exc.value.code == "E508" and f"{hostile_trace}:2:" in str(exc.value)


def test_every_reader_gives_e508(hostile_trace, monkeypatch, capsys):
    code, text = run_cli(monkeypatch, capsys, "trace", "stats", str(hostile_trace))
    assert code == 2 and "error[E508]" in text and f"{hostile_trace}:2:" in text
    with pytest.raises(TraceError):
        load_run_view(hostile_trace)  # report --trace
    with pytest.raises(TraceError):
        from_trace(hostile_trace, {}, len)  # simulate --from-trace


def test_the_good_record_alone_is_read(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(GOOD + "\n" + json.dumps({"ts": 3, "event": "create", "future_field": {"x": [1]}}) + "\n")
    s = stats(read_trace(path))  # unknown fields are kept: a newer writer never breaks an older reader
    assert s["plans"]["docs @ anthropic/claude-sonnet-4-5"]["requests"] == 1


def test_report_and_simulate_from_trace_on_the_command_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "t.jsonl"
    path.write_text(GOOD + "\n" + HOSTILE["usage is a list"] + "\n")
    team = str(REPO / "examples" / "team")
    code, text = run_cli(monkeypatch, capsys, "simulate", team, "-t", "anthropic/claude-sonnet-4-5",
                         "--from-trace", str(path))
    assert code == 2 and "error[E508]" in text and f"{path}:2:" in text
    code, text = run_cli(monkeypatch, capsys, "report", team, "--trace", str(path), "-o", str(tmp_path / "r.html"))
    assert code == 2 and "error[E508]" in text


def test_a_traced_prompt_larger_than_any_context_is_e544(tmp_path):
    import promptc

    path = tmp_path / "t.jsonl"
    rec = {"ts": 1.0, "plan": "docs", "status": "ok", "usage": {"uncached": 900_000_000}}
    path.write_text(json.dumps(rec) + "\n")
    plans = promptc.compile(str(REPO / "examples" / "team")).plans
    with pytest.raises(WorkloadError) as exc:
        from_trace(path, plans, len)
    assert exc.value.code == "E544"


@pytest.mark.parametrize(("body", "code"), [
    ('[[turns]]\nplan = "backend"\nat = 09:00:00\n', "E543"),  # a TOML time, not a string
    ('[[turns]]\nplan = "backend"\nat = 1979-05-27T07:32:00Z\n', "E543"),  # a TOML datetime
    ('[[turns]]\nplan = "backend"\nat = nan\n', "E543"),
    ('[[turns]]\nplan = "backend"\nat = 0\n[[turns]]\nplan = "backend"\nafter = inf\n', "E543"),
    ('[[turns]]\nplan = "backend"\nafter = "1' + " " * 50_000 + 'x"\n', "E543"),
])
def test_hostile_workload_fields_are_coded(tmp_path, body, code):
    path = tmp_path / "w.toml"
    path.write_text(body)
    plans = {"backend": object()}  # the times are checked before any plan is bound
    with pytest.raises(WorkloadError) as exc:
        load_workload(path, plans=plans)
    assert exc.value.code == code and "turns[" in str(exc.value)


def test_a_json_workload_with_a_huge_integer_is_e540(tmp_path):
    path = tmp_path / "w.json"
    path.write_text('{"turns": [{"plan": "backend", "at": 1' + "0" * 5000 + "}]}")
    with pytest.raises(WorkloadError) as exc:
        load_workload(path, plans={"backend": object()})
    assert exc.value.code == "E540"
