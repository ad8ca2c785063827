"""The no-change lint (a pre-commit hook's usual run, issue 21: ≤ 1 s): it answers from git alone, and
its report — built without validation so that no pydantic validator is built — is the validated one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from promptc.lint.formats import FORMATS, render
from promptc.lint.model import LintReport, Summary

REPO = Path(__file__).resolve().parents[2]


def test_the_empty_report_is_the_validated_report_in_every_format():
    fast = LintReport.empty("HEAD (0123456789ab)", "git", "9.9.9")
    checked = LintReport(tool_version="9.9.9", baseline="HEAD (0123456789ab)", baseline_kind="git", findings=[],
                         summary=Summary(errors=0, warnings=0, infos=0, suppressed=0, plans=[], cost_per_request=0.0))
    assert fast == checked and LintReport.model_validate(fast.model_dump()) == checked
    for fmt in FORMATS:
        assert render(fast, fmt) == render(checked, fmt), fmt
    assert json.loads(render(fast, "json"))["summary"]["cost_per_request"] == 0.0


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_no_change_lint_builds_nothing(repo, fmt):
    """One process, as a hook runs it: exit 0, the empty report, and neither the compiler nor a report
    validator loaded (the git answer is enough)."""
    probe = ("import sys, runpy\nsys.argv = ['promptc', 'lint', '--against', 'main', '--format', sys.argv[1]]\n"
             "try:\n    runpy.run_module('promptc.cli', run_name='__main__')\nexcept SystemExit as e:\n"
             "    code = e.code\n"
             "from promptc.lint.model import LintReport\n"
             "print('BUILT' if 'promptc.compiler.build' in sys.modules else 'NOT-BUILT', "
             "LintReport.__pydantic_complete__, code, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe, fmt], cwd=repo, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(repo)})
    assert proc.stderr.strip().splitlines()[-1] == f"NOT-BUILT {fmt == 'json'} 0", proc.stderr
    if fmt == "json":
        assert json.loads(proc.stdout)["findings"] == []
    else:
        assert "0 errors, 0 warnings, 0 info, 0 suppressed" in proc.stdout
