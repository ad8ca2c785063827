"""`promptc test`: golden wire fixtures. The project's CI (.ci/run) runs the command over examples/ for
each plan's own targets against tests/fixtures/wire/examples, and a test here runs that exact line; the
examples are also checked for four providers with lowered cache minimums against tests/fixtures/wire/targets;
the command's failure modes (changed bytes, missing and stale fixtures) exit 1 with a diff and JUnit XML;
and the committed payloads validate against the official SDKs' request types (an oracle promptc did not write).

To accept an intended change: run .ci/run's `promptc test` line with --update (from the repository root),
and the command in wire_command's docstring with --update."""

from __future__ import annotations

import glob
import json
import shlex
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from promptc import cli as cli_mod

from .conftest import LOW_MIN, REPO

FIXTURES = REPO / "tests" / "fixtures" / "wire" / "targets"
CI = REPO / ".ci" / "run"
TARGETS = ("anthropic/claude-sonnet-4-5", "openai/gpt-5.6", "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
           "gemini/gemini-2.5-flash")
#: the cache minimums lowered below the examples' ~450-token prefixes, so the fixtures carry markers
PYPROJECT = "".join(f'[tool.promptc.cache_limits."{p}/"]\nmin_tokens = {LOW_MIN}\n'
                    for p in ("anthropic", "openai", "bedrock", "gemini"))


def wire_command(fixtures, *extra):
    """cd into a directory holding PYPROJECT, then: promptc test examples/team examples/support
    --target ... --fixtures tests/fixtures/wire/targets [--update]"""
    args = ["test", str(REPO / "examples" / "team"), str(REPO / "examples" / "support"),
            "--fixtures", str(fixtures), *extra]
    for t in TARGETS:
        args += ["--target", t]
    return CliRunner().invoke(cli_mod.cli, args, catch_exceptions=False)


@pytest.fixture()
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_examples_match_the_committed_fixtures(project):
    r = wire_command(FIXTURES, "--junit", str(project / "wire.xml"))
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "16 fixtures: 0 failed"
    suite = ET.parse(project / "wire.xml").getroot()
    assert suite.get("tests") == "16" and suite.get("failures") == "0"


def test_a_changed_payload_fails_with_a_diff_and_junit(project):
    fx = project / "fx"
    assert wire_command(fx, "--update").exit_code == 0
    victim = fx / "backend" / "anthropic__claude-sonnet-4-5.json"
    body = json.loads(victim.read_text())
    body["payload"]["system"][0].pop("cache_control", None)
    body["payload"]["max_tokens"] = 7
    victim.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    (fx / "backend" / "openai__gpt-9.json").write_text("{}\n")  # stale: no target produces it
    (fx / "docs" / "gemini__gemini-2.5-flash.json").unlink()  # missing
    r = wire_command(fx, "--junit", str(project / "wire.xml"))
    assert r.exit_code == 1
    lines = [line.replace(" ", "") for line in r.output.splitlines()]
    assert '-"max_tokens":7,' in lines and '+"max_tokens":1024,' in lines
    statuses = {line.split()[0] for line in r.output.splitlines() if line.split() and line.split()[0] in
                ("changed", "missing", "stale")}
    assert statuses == {"changed", "missing", "stale"}
    suite = ET.parse(project / "wire.xml").getroot()
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert suite.get("failures") == "3" and len(failures) == 3
    assert wire_command(fx, "--update").exit_code == 0
    assert not (fx / "backend" / "openai__gpt-9.json").exists()
    assert wire_command(fx).exit_code == 0


def test_the_committed_payloads_validate_against_the_official_sdk_types():
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    from tests.providers.test_sdk_conformance import problems

    for plan in ("backend", "frontend", "docs", "support"):
        a = json.loads((FIXTURES / plan / "anthropic__claude-sonnet-4-5.json").read_text())
        assert problems(MessageCreateParamsNonStreaming, a["payload"]) == []
        if plan != "support":  # support's static prefix is under even the lowered minimum: no marks
            assert a["marks"] and "cache_control" in json.dumps(a["payload"])
        o = json.loads((FIXTURES / plan / "openai__gpt-5.6.json").read_text())
        assert problems(CompletionCreateParamsNonStreaming, o["payload"]) == []
        assert o["payload"]["prompt_cache_key"]


def test_inputs_file_values_reach_the_payload_and_a_bad_file_is_a_usage_error(project):
    fx = project / "fx"
    (project / "in.json").write_text(json.dumps({"docs": {"query": "Where is the FAQ?"}}))
    assert wire_command(fx, "--update", "--inputs", str(project / "in.json")).exit_code == 0
    assert "Where is the FAQ?" in (fx / "docs" / "anthropic__claude-sonnet-4-5.json").read_text()
    assert "Where is the FAQ?" not in (fx / "backend" / "anthropic__claude-sonnet-4-5.json").read_text()
    (project / "bad.json").write_text("[1]")
    r = CliRunner().invoke(cli_mod.cli, ["test", str(REPO / "examples" / "team"), "--target", TARGETS[0],
                                         "--fixtures", str(fx), "--inputs", str(project / "bad.json")])
    assert r.exit_code == 2 and '{"plan": {"input": value}}' in r.output


def ci_wire_line():
    """The `promptc test` command line of .ci/run, as argv after `promptc` (the shell's glob expanded)."""
    lines = [ln.strip() for ln in CI.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert "bash scripts/test.sh -q" in lines  # the README's test command stays the CI entry point
    wire = [ln for ln in lines if " -m promptc test " in ln]
    assert len(wire) == 1, lines
    argv = shlex.split(wire[0])
    argv = argv[argv.index("promptc") + 1:]
    out = []
    for a in argv:
        out += sorted(glob.glob(a, root_dir=REPO)) if "*" in a else [a]
    return out


def test_ci_runs_promptc_test_over_the_examples_and_the_committed_fixtures_are_current(tmp_path, monkeypatch):
    import promptc

    argv = ci_wire_line()
    examples = sorted(p.name for p in (REPO / "examples").iterdir() if p.is_dir())
    assert [a.rstrip("/") for a in argv[1:1 + len(examples)]] == [f"examples/{e}" for e in examples]
    assert "--target" not in argv and "--update" not in argv  # each plan's own targets; never rewrites
    # every example plan × each of its own targets (the project's targets, nothing hard-coded here)
    want = {(n, t.name) for e in examples for n, p in promptc.compile(REPO / "examples" / e).plans.items()
            for t in p.targets}
    assert len({t for _, t in want}) >= 3  # the examples' own targets span engine, OpenAI and Anthropic
    junit = argv.index("--junit")
    argv[junit + 1] = str(tmp_path / "ci" / "wire.xml")
    monkeypatch.chdir(REPO)  # as .ci/run: the repository's pyproject.toml is the configuration
    r = CliRunner().invoke(cli_mod.cli, argv, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == f"{len(want)} fixtures: 0 failed"
    seen = {tuple(line.split()[1:3]) for line in r.output.splitlines()[:-1]}
    assert seen == want
    suite = ET.parse(tmp_path / "ci" / "wire.xml").getroot()
    assert {(c.get("classname").removeprefix("wire."), c.get("name")) for c in suite.iter("testcase")} == want


def test_without_target_each_plan_gets_its_own_targets_and_target_overrides(project):
    fx = project / "fx"
    support = REPO / "examples" / "support"
    r = CliRunner().invoke(cli_mod.cli, ["test", str(support), "--fixtures", str(fx), "--update"])
    assert r.exit_code == 0, r.output
    # support.prompt: `plan support = ... target "engine/smollm2", "openai/gpt-5.6", "anthropic/claude-sonnet-5"`
    assert sorted(p.name for p in (fx / "support").iterdir()) == \
        ["anthropic__claude-sonnet-5.json", "engine__smollm2.json", "openai__gpt-5.6.json"]
    r = CliRunner().invoke(cli_mod.cli, ["test", str(support), "--fixtures", str(fx), "--target", "openai/gpt-5.6"])
    assert r.exit_code == 1  # the other two targets' fixtures are stale under --target
    statuses = [w[0] for w in map(str.split, r.output.splitlines()) if w and w[0] in ("ok", "stale", "missing")]
    assert sorted(statuses) == ["ok", "stale", "stale"]



def test_an_unknown_target_is_a_coded_usage_error(project, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["promptc", "test", str(REPO / "examples" / "support"), "--fixtures",
                                     str(project / "fx"), "--target", "nope/x"])
    with pytest.raises(SystemExit) as exit_:
        cli_mod.main()  # the entry point: user mistakes exit 2 with a coded message, never a traceback
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error[E526]: unknown provider `nope`" in err and "Traceback" not in err
