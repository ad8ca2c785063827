"""Output formats (SARIF against the official 2.1.0 schema, GitHub annotation syntax, the JSON
schema of `promptc schema --lint`) and the command line's exit codes, in process."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest

from promptc.lint import lint, lint_json_schema
from promptc.lint.formats import render
from tests.lint.project import edit

SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture
def mixed_report(repo):
    """A report with an error, a suppressed error, an info and a baseline-side location."""
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small, 100% of the time")
    edit(repo / "docs.prompt", "Write a test for every change.", "Write a test for each change.")
    edit(repo / "docs.prompt", "agent docs @static", "# promptc: allow E901 — docs wording, reviewed\nagent docs @static")
    edit(repo / "turn.prompt", "Question:", "Q:")
    (repo / "frontend.prompt").unlink()
    return lint([repo], "main", display_root=repo)


def test_sarif_validates_against_the_official_schema(mixed_report):
    log = json.loads(render(mixed_report, "sarif"))
    schema = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == [f.code for f in mixed_report.findings]
    assert {r["level"] for r in results} == {"error", "note"}
    suppressed = [r for r in results if "suppressions" in r]
    assert [s["suppressions"][0]["justification"] for s in suppressed] == ["docs wording, reviewed"]
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(results[k]["ruleId"] == rules[results[k]["ruleIndex"]]["id"] for k in range(len(results)))


def test_sarif_schema_rejects_a_broken_log(mixed_report):
    log = json.loads(render(mixed_report, "sarif"))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(log)


ANNOTATION = re.compile(r"^::(error|warning|notice)( (?:[a-zA-Z]+=[^,:]*)(?:,[a-zA-Z]+=[^,:]*)*)?::(.*)$")


def test_github_annotations_follow_the_workflow_command_syntax(mixed_report):
    lines = render(mixed_report, "github").split("\n")
    assert len(lines) == len(mixed_report.findings) + 1
    for line in lines:
        m = ANNOTATION.match(line)
        assert m, line
        assert "\n" not in m.group(3) and "\r" not in m.group(3)
    first = next(x for x in lines if "shared.prompt" in x)
    assert first.startswith("::error file=shared.prompt,line=4,col=6,endLine=4,endColumn=")
    assert ",title=E901 static-segment-changed::" in first
    assert "%0Aimpact: backend from `rules`" in first
    suppressed = next(x for x in lines if "docs.prompt" in x)
    assert suppressed.startswith("::notice ") and "%0Asuppressed (comment): docs wording, reviewed" in suppressed


def test_json_matches_the_published_schema(mixed_report):
    data = json.loads(render(mixed_report, "json"))
    schema = lint_json_schema()
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["version"] == 2 and schema["properties"]["version"]["default"] == 2  # 2: per-target costs
    bad = dict(data, findings=[dict(data["findings"][0], severity="fatal")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(bad)


def test_markdown_and_text_carry_the_summary_table(mixed_report):
    md = render(mixed_report, "markdown")
    assert "| plan | from segment | tokens invalidated | cost / request |" in md
    assert "| backend | `rules` |" in md and "| docs (suppressed) |" not in md
    text = render(mixed_report, "text")
    assert "\nshared.prompt:4:6: E901 [error] static segment `rules` changed [backend, docs]\n" in text
    assert re.search(r"^plan +from segment +tokens invalidated +cost/request$", text, flags=re.M)
    assert text.rstrip().split("\n")[-1].startswith("promptc lint against main (")


def cli(monkeypatch, capsys, *args):
    from promptc.cli import main

    monkeypatch.setattr(sys, "argv", ["promptc", *args])
    code = 0  # a command that returns normally exits 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exit_codes_and_fail_on(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert cli(monkeypatch, capsys, "lint", "--against", "main")[0] == 0
    edit(repo / "turn.prompt", "Question:", "Q:")  # info only
    assert cli(monkeypatch, capsys, "lint", "--against", "main")[0] == 0
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    code, out, _ = cli(monkeypatch, capsys, "lint", "--against", "main", "--format", "json")
    assert code == 1 and [f["code"] for f in json.loads(out)["findings"]] == ["E901", "I913"]
    assert cli(monkeypatch, capsys, "lint", "--against", "main", "--fail-on", "never")[0] == 0
    code, _, err = cli(monkeypatch, capsys, "lint", "--against", "nope")
    assert code == 2 and "error[E920]" in err
    code, _, err = cli(monkeypatch, capsys, "lint", "--format", "xml")
    assert code == 2


def test_markdown_summary_file(repo, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(repo)
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    summary = tmp_path / "summary.md"
    code, out, _ = cli(monkeypatch, capsys, "lint", "--against", "main", "--format", "github",
                       "--markdown-summary", str(summary))
    assert code == 1 and out.startswith("::error file=shared.prompt,")
    assert summary.read_text().startswith("## promptc lint: cache review")


def test_schema_lint_prints_the_report_schema(monkeypatch, capsys):
    from promptc.cli import main

    monkeypatch.setattr(sys, "argv", ["promptc", "schema", "--lint"])
    main()  # returns normally: exit 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(lint_json_schema(), sort_keys=True))


def test_build_check_is_coded_and_tells_stale_from_breaking(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert cli(monkeypatch, capsys, "build")[0] == 0
    code, out, _ = cli(monkeypatch, capsys, "build", "--check")
    assert code == 0 and "up to date" in out
    assert cli(monkeypatch, capsys, "build", "--out", "plans")[0] == 0  # plan files a team commits
    edit(repo / "turn.prompt", "Question:", "Q:")  # stale plan files, no cache impact
    # the default .promptc/plans is a gitignored build output: a fresh clone has none, so a local
    # check does not look at it either (issue 21: the pre-commit hook gives CI's verdict)
    assert cli(monkeypatch, capsys, "build", "--check")[0] == 0
    code, out, _ = cli(monkeypatch, capsys, "build", "--check", "--out", "plans", "--format", "json")
    data = json.loads(out)  # one JSON document, nothing else
    assert code == 1 and data["breaking"] is False and data["findings"] == [] and data["stale"]
    assert cli(monkeypatch, capsys, "build", "--check", "--out", "plans", "--fail-on", "error")[0] == 0
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    code, out, _ = cli(monkeypatch, capsys, "build", "--check", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["breaking"] is True
    assert [(f["code"], f["plans"], f["location"]["line"]) for f in data["findings"]] == [
        ("E901", ["backend", "docs", "frontend"], 2)]  # a lockfile has no old text: the declaration
    assert cli(monkeypatch, capsys, "build", "--check", "--fail-on", "error")[0] == 1
