"""Golden lint fixtures: every lint code has at least two cases under tests/fixtures/lint/<CODE>/<case>/.

A case is ``before/`` (a project, committed on ``main`` in a fresh git repository), ``after/`` (the
files the change writes over it), ``case.json`` (``deleted`` files, and ``against``: a git ref;
``baseline`` for the case's ``baseline/`` directory; ``@nogit:ARG`` to lint outside git) and
``expected.json``: the findings lint reports (code, severity, plans, location) and whether the run
fails, or the coded error it stops with. The case's code must be among them.

Regenerate after an intentional change with ``PROMPTC_REGEN=1 pytest tests/lint/test_fixtures.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from promptc.core.codes.lint import LINT_CODES
from promptc.lint import BaselineError, lint
from tests.lint.project import git

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
CASES = sorted(p.parent for p in FIXTURES.glob("*/*/case.json"))
CHANGE_CODES = {c.code for c in LINT_CODES if c.code[1] == "9"}


def outcome(case: Path, tmp: Path) -> dict:
    spec = json.loads((case / "case.json").read_text())
    repo = tmp / "repo"
    shutil.copytree(case / "before", repo)
    against = spec["against"]
    if against.startswith("@nogit:"):
        against = against[len("@nogit:"):]
    else:
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.name", "promptc tests")
        git(repo, "config", "user.email", "tests@promptc.invalid")
        git(repo, "config", "commit.gpgsign", "false")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "before")
    for f in (case / "after").rglob("*"):
        if f.is_file():
            dest = repo / f.relative_to(case / "after")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
    for rel in spec["deleted"]:
        (repo / rel).unlink()
    if against == "baseline":
        against = str(shutil.copytree(case / "baseline", tmp / "baseline"))
    try:
        report = lint([repo], against, cache_dir=tmp / "cache", display_root=repo)
    except BaselineError as err:
        return {"error": err.code}
    return {"findings": [{"code": f.code, "severity": f.severity, "plans": f.plans,
                          "location": f"{f.location.path}:{f.location.line}:{f.location.col}" if f.location else None,
                          "suppressed": f.suppressed is not None} for f in report.findings],
            "fails": bool(report.failing("error"))}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_fixture(case, tmp_path):
    got = outcome(case, tmp_path)
    expected_file = case / "expected.json"
    if os.environ.get("PROMPTC_REGEN"):
        expected_file.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == json.loads(expected_file.read_text(encoding="utf-8"))
    code = case.parent.name
    assert got.get("error") == code or code in {f["code"] for f in got.get("findings", [])}


def test_every_lint_code_has_at_least_two_fixture_cases():
    per_code = {}
    for case in CASES:
        per_code.setdefault(case.parent.name, []).append(case.name)
    assert set(per_code) == CHANGE_CODES, "a fixture folder per registered code, and no other"
    assert {c: n for c, n in per_code.items() if len(n) < 2} == {}
