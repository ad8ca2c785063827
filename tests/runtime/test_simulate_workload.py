"""Workloads for `promptc simulate`: files (JSON, TOML, YAML) with coded, located errors, and the
derivation from a cache trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptc.compiler.build import compile_project
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator
from promptc.runtime.simulate import WorkloadError, from_trace, load_workload
from promptc.runtime.simulate.workload import parse_seconds
from promptc.runtime.trace import Tracer

from tests.providers.conftest import LOW_MIN

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def plan_files(team, tmp_path):
    for name in ("backend", "frontend", "docs"):
        (tmp_path / f"{name}.plan.json").write_text(team.plans[name].to_json(), encoding="utf-8")
    return tmp_path


def compile_sources(path: Path):
    result = compile_project([path]).raise_on_error()
    return result.root, result.plans


TOML = """
name = "two agents"
plans = ["backend.plan.json", "frontend.plan.json"]
[[turns]]
plan = "backend"
at = "09:00"
inputs = { file = "api/users.py", query = "Why 500?" }
[[turns]]
plan = "frontend"
after = "90s"
inputs = { file = "web/App.tsx", query = "Add a spinner." }
[[turns]]
plan = "backend"
at = "09:10:30"
inputs = { file = "api/users.py", query = "And now?" }
[[turns]]
plan = "backend"
after = 2.5
inputs = { file = "api/users.py", query = "Thanks." }
"""


def test_toml_workload_times_plans_and_requests(plan_files):
    (plan_files / "day.toml").write_text(TOML, encoding="utf-8")
    w = load_workload(plan_files / "day.toml")
    assert w.name == "two agents"
    assert [(t.at, t.plan) for t in w.turns] == [(0.0, "backend"), (90.0, "frontend"), (630.0, "backend"),
                                                 (632.5, "backend")]
    assert [r.plan for r in w.requests] == ["backend", "frontend", "backend", "backend"]
    assert w.requests[1].segments[-1].content == "Current file: web/App.tsx\n\nAdd a spinner.\n"


def test_json_and_yaml_workloads_read_the_same(plan_files):
    import tomllib

    data = tomllib.loads(TOML)
    (plan_files / "day.json").write_text(json.dumps(data), encoding="utf-8")
    yaml = pytest.importorskip("yaml")
    (plan_files / "day.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (plan_files / "day.toml").write_text(TOML, encoding="utf-8")
    loaded = [load_workload(plan_files / f"day.{ext}") for ext in ("toml", "json", "yaml")]
    assert loaded[0].turns == loaded[1].turns == loaded[2].turns


def test_sources_compile_through_the_callers_compiler_and_command_line_plans_win(team, tmp_path):
    wl = tmp_path / "w.json"
    wl.write_text(json.dumps({"plans": str(REPO / "examples" / "team"),
                              "turns": [{"plan": "docs", "inputs": {"file": "a.md", "query": "q"}}]}))
    assert load_workload(wl, compile_sources=compile_sources).requests[0].plan == "docs"
    with pytest.raises(WorkloadError) as err:  # sources without a compiler: a coded error, not a crash
        load_workload(wl)
    assert err.value.code == "E542" and "plan.json" in str(err.value)
    wl.write_text(json.dumps({"turns": [{"plan": "docs", "inputs": {"file": "a.md", "query": "q"}}]}))
    assert load_workload(wl, plans=team.plans).turns[0].plan == "docs"


BAD = [
    # (file name, content, code, location in the message)
    ("w.json", '{"plans": ["backend.plan.json"],\n "turns": [,]}', "E540", "w.json:2:12"),
    ("w.toml", 'plans = ["backend.plan.json"]\nturns = [\n', "E540", "w.toml:3:1"),
    ("w.yaml", "plans: [backend.plan.json\nturns: x\n", "E540", "w.yaml:"),
    ("w.txt", "plans = 1", "E540", "w.txt"),
    ("w.json", "[1, 2]", "E541", "w.json"),
    ("w.json", '{"plans": ["backend.plan.json"], "turn": []}', "E541", "w.json: turn"),
    ("w.json", '{"plans": ["backend.plan.json"]}', "E541", "w.json: turns"),
    ("w.json", '{"plans": 3, "turns": [{"plan": "backend"}]}', "E541", "w.json: plans"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"at": 0}]}', "E541", "turns[0].plan"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend", "inputs": "x"}]}', "E541",
     "turns[0].inputs"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend", "inputs": {"file": "a"}}]}',
     "E541", "turns[0].inputs"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend", "when": 1}]}', "E541",
     "turns[0].when"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "qa"}]}', "E542", "turns[0].plan"),
    ("w.json", '{"plans": ["nope.plan.json"], "turns": [{"plan": "backend"}]}', "E542", "w.json: plans"),
    ("w.json", '{"plans": ["backend.plan.json"], "session": {"qa": {}}, "turns": [{"plan": "backend"}]}', "E542",
     "session.qa"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend", "at": 0, "after": 1}]}', "E543",
     "turns[0]"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend", "at": "10:00"}, '
               '{"plan": "backend", "at": "09:00"}]}', "E543", "turns[1].at"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend"}, {"plan": "backend", '
               '"after": "5 parsecs"}]}', "E543", "turns[1].after"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend"}, {"plan": "backend"}]}', "E543",
     "turns[1]"),
    ("w.json", '{"plans": ["backend.plan.json"], "turns": [{"plan": "backend", "after": -3}]}', "E543",
     "turns[0].after"),
]


@pytest.mark.parametrize(("name", "content", "code", "where"), BAD, ids=[f"{c}-{i}" for i, (_, _, c, _) in
                                                                          enumerate(BAD)])
def test_malformed_workloads_are_coded_and_located(plan_files, name, content, code, where):
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    (plan_files / name).write_text(content, encoding="utf-8")
    with pytest.raises(WorkloadError) as err:
        load_workload(plan_files / name)
    assert err.value.code == code
    assert str(err.value).startswith(f"error[{code}]: ")
    assert where in str(err.value)


def test_missing_workload_file_is_e540(tmp_path):
    with pytest.raises(WorkloadError) as err:
        load_workload(tmp_path / "absent.json")
    assert err.value.code == "E540" and "absent.json" in str(err.value)


@pytest.mark.parametrize(("value", "clock", "seconds"), [(90, False, 90.0), ("90s", False, 90.0),
                                                          ("5m", False, 300.0), ("1.5h", False, 5400.0),
                                                          ("250ms", False, 0.25), ("09:30", True, 34200.0),
                                                          ("09:30:15", True, 34215.0)])
def test_durations_and_clock_times(value, clock, seconds):
    assert parse_seconds(value, "x", clock=clock) == seconds


def test_from_trace_replays_plans_and_times_with_turns_of_about_the_same_size(team, tmp_path, ntok):
    trace = tmp_path / "trace.jsonl"
    queries = {"backend": "Why does GET /users return 500 when the cart is empty? " * 6,
               "docs": "Document the refunds endpoint.", "frontend": "Add a spinner " * 20}
    with Simulator(anthropic_min_tokens={"claude-sonnet-4-5": LOW_MIN}) as sim:
        tracer = Tracer(trace, clock=sim.clock)
        client = Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="sim", trace=tracer,
                        config=RuntimeConfig())
        prompts = []
        for gap, agent in ((0, "backend"), (60, "frontend"), (400, "docs")):
            sim.advance(gap)
            reply = client.complete(team.plans[agent].bind().render(file="api/users.py", query=queries[agent]))
            prompts.append(reply.usage.prompt)
        client.close()
    tracer.event(event="keepwarm", target="anthropic/claude-sonnet-4-5")  # events are not requests
    w = from_trace(trace, team.plans, ntok)
    assert [(t.at, t.plan) for t in w.turns] == [(0.0, "backend"), (60.0, "frontend"), (460.0, "docs")]
    assert "synthesized" in w.note
    # the synthesized turn has about the traced size: the text segments are exact; the difference is
    # how the plan's canonical tools JSON and Anthropic's tool definitions count
    tools_gap = abs(ntok(team.plans["backend"].segment("repo_tools").content) -
                    (prompts[0] - sum(ntok(s.content) for s in
                                      team.plans["backend"].bind().render(file="api/users.py",
                                                                          query=queries["backend"]).segments
                                      if s.kind != "tools")))
    for req, traced in zip(w.requests, prompts):
        size = sum(ntok(s.content) for s in req.segments)
        assert abs(size - traced) <= tools_gap + 2


def test_from_trace_errors(team, tmp_path):
    empty = tmp_path / "events.jsonl"
    empty.write_text(json.dumps({"ts": 1, "event": "create"}) + "\n")
    with pytest.raises(WorkloadError) as err:
        from_trace(empty, team.plans, len)
    assert err.value.code == "E544" and "no successful request" in str(err.value)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"ts": 1, "plan": "support", "status": "ok", "usage": None}) + "\n")
    with pytest.raises(WorkloadError) as err:
        from_trace(other, team.plans, len)
    assert err.value.code == "E544" and "`support`" in str(err.value)


def test_built_in_day_refuses_inputs_it_cannot_fill(support):
    from promptc.runtime.simulate import working_day

    with pytest.raises(WorkloadError) as err:
        working_day({"support": support})
    assert err.value.code == "E541" and "session input `customer`" in str(err.value)
    assert "--workload" in str(err.value)
