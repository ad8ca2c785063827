"""`promptc build`: plans per agent, shared hashes, determinism, change detection, the lockfile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import promptc
from promptc.core.hashing import chain, segment_hash

REPO = Path(__file__).resolve().parents[2]
TEAM = REPO / "examples" / "team"


def promptc_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "promptc.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture()
def team(tmp_path):
    dst = tmp_path / "team"
    shutil.copytree(TEAM, dst, ignore=shutil.ignore_patterns("promptc.lock", ".promptc"))
    return dst


def test_team_builds_one_plan_per_agent_sharing_the_global_block(team, tmp_path):
    out = tmp_path / "OUT"
    r = promptc_cli("build", str(team), "--out", str(out))
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["backend.plan.json", "docs.plan.json", "frontend.plan.json"]
    plans = {f: json.loads((out / f).read_text()) for f in files}
    for i, seg_id in enumerate(["rules", "repo_tools"]):
        segs = [p["segments"][i] for p in plans.values()]
        assert {s["id"] for s in segs} == {seg_id}
        assert len({s["hash"] for s in segs}) == 1
        assert len({s["prefix_hash"] for s in segs}) == 1
    assert len({p["segments"][2]["prefix_hash"] for p in plans.values()}) == 3
    assert (team / "promptc.lock").is_file()


def test_hashes_follow_the_design_chain(team):
    plan = promptc.compile(team)["backend"]
    parent = None
    for seg in plan.segments:
        if seg.hash is None:
            break
        assert seg.hash == segment_hash(seg.role, seg.content)
        parent = chain(parent, seg.hash)
        assert seg.prefix_hash == parent


def test_builds_are_byte_identical_across_runs_cwd_and_hash_seed(team, tmp_path):
    outputs = []
    for i, (cwd, seed) in enumerate([(REPO, "0"), (tmp_path, "12345"), (team, "random")]):
        out = tmp_path / f"out{i}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = promptc_cli("build", str(team), "--out", str(out), "--lock", str(out / "promptc.lock"), cwd=cwd, env=env)
        assert r.returncode == 0, r.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1] == outputs[2]
    assert set(outputs[0]) == {"backend.plan.json", "docs.plan.json", "frontend.plan.json", "promptc.lock"}


def test_task_edit_keeps_static_hashes_and_rules_edit_changes_every_prefix(team, tmp_path):
    out = tmp_path / "OUT"
    assert promptc_cli("build", str(team), "--out", str(out)).returncode == 0
    assert promptc_cli("build", str(team), "--out", str(out), "--check").returncode == 0
    before = {n: p for n, p in promptc.compile(team).plans.items()}

    task = team / "task.prompt"
    task.write_text(task.read_text().replace("Current file:", "File in focus:"))
    after_task = promptc.compile(team).plans
    for name, plan in after_task.items():
        for old, new in zip(before[name].segments, plan.segments):
            if old.stability == "static":
                assert (old.hash, old.prefix_hash) == (new.hash, new.prefix_hash)
            else:
                assert old.template != new.template
    r = promptc_cli("build", str(team), "--out", str(out), "--check")
    assert r.returncode == 1 and "stale" in r.stdout + r.stderr

    assert promptc_cli("build", str(team), "--out", str(out)).returncode == 0
    shared = team / "shared.prompt"
    shared.write_text(shared.read_text().replace("Keep changes small", "Keep every change small"))
    after_rules = promptc.compile(team).plans
    for name, plan in after_rules.items():
        statics = [(o, n) for o, n in zip(after_task[name].segments, plan.segments) if n.stability == "static"]
        assert statics[0][0].hash != statics[0][1].hash
        assert all(o.prefix_hash != n.prefix_hash for o, n in statics)
        assert statics[1][0].hash == statics[1][1].hash  # the tools segment itself did not change
    r = promptc_cli("build", str(team), "--out", str(out), "--check")
    assert r.returncode == 1
    assert "E901 [error] static segment `rules` changed" in r.stdout
    # every plan loses its cached prefix from `rules` on (the impact table: plan, from segment, tokens)
    for name in after_rules:
        assert any(line.split()[:2] == [name, "rules"] for line in r.stdout.splitlines())
    assert "•" not in r.stdout  # the findings explain it; no uncoded repetition of the same change


def test_lock_tells_appending_from_rewriting_an_append_only_segment(team, tmp_path):
    out = tmp_path / "OUT"
    assert promptc_cli("build", str(team), "--out", str(out)).returncode == 0
    mem = team / "memory" / "backend.md"
    mem.write_text(mem.read_text() + "\nA new lesson, appended at the end.\n")
    r = promptc_cli("build", str(team), "--out", str(out), "--check")
    assert r.returncode == 1 and "`backend_memory` grew by 1 entry at its end" in r.stdout
    mem.write_text("Rewritten first lesson.\n\n" + mem.read_text())
    r = promptc_cli("build", str(team), "--out", str(out), "--check")
    assert "E905 [error] append-only segment `backend_memory` changed before its end" in r.stdout


def test_check_reports_all_findings_at_once(tmp_path):
    (tmp_path / "a.prompt").write_text('global a @static """{{ x }}"""\nplan p = a, nope\n')
    (tmp_path / "b.prompt").write_text('plan q = missing\n')
    r = promptc_cli("check", str(tmp_path))
    assert r.returncode == 1
    for code in ("E102", "E103"):
        assert f"error[{code}]" in r.stderr
    assert r.stderr.count("error[") == 3


def test_plan_header_and_input_schema(tmp_path):
    plan = promptc.compile(REPO / "examples" / "support")["support"]
    data = json.loads(plan.to_json())
    assert data["format_version"] == 1 and data["promptc_version"] == promptc.__version__
    assert [t["name"] for t in data["targets"]] == ["engine/smollm2", "openai/gpt-5.6", "anthropic/claude-sonnet-5"]
    assert set(data["input_schema"]) == {"session", "turn"}
    assert set(data["input_schema"]["session"]["properties"]) == {"customer"}
    assert set(data["input_schema"]["turn"]["properties"]) == {"history", "question"}
    assert data["segments"][0]["source"]["path"] == "std/safety/honesty.prompt"


def test_schema_command_prints_the_plan_json_schema():
    r = promptc_cli("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    assert schema["title"] == "Plan" and "segments" in schema["properties"]


def test_exit_codes(tmp_path):
    assert promptc_cli("build", str(tmp_path / "nope")).returncode == 1
    assert promptc_cli("build", "--bogus-flag").returncode == 2
    assert promptc_cli("show", str(tmp_path / "missing.plan.json")).returncode == 2
    bad = tmp_path / "bad.plan.json"
    bad.write_text("{not json")
    r = promptc_cli("show", str(bad))
    assert r.returncode == 2 and "error[E404]" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("example", ["team", "support", "stdlib_tour"])
def test_committed_example_locks_are_up_to_date(example, tmp_path):
    """Our own CI gate: editing an example without rebuilding its lock fails here."""
    r = promptc_cli("build", str(REPO / "examples" / example), "--check", "--out", str(tmp_path / "no-plans-dir"))
    assert r.returncode == 0, r.stdout + r.stderr
