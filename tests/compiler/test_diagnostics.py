"""Every diagnostic code has a fixture (tests/fixtures/diagnostics/<CODE>/) with a golden message.

Regenerate the goldens after an intentional wording change with ``PROMPTC_REGEN=1 pytest tests/compiler``
and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from promptc.compiler.build import compile_project
from promptc.core.errors import render_all

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "diagnostics"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
DOCS = Path(__file__).resolve().parents[2] / "docs" / "language.md"


@pytest.mark.parametrize("code", CASES)
def test_golden_diagnostics(code):
    case = FIXTURES / code
    align = "fix" if (case / "ALIGN_FIX").exists() else "check"
    result = compile_project([case], annotate_tokens=code.startswith(("E6", "W6", "W311")), align=align)
    assert code in {d.code for d in result.diagnostics}, f"fixture {code} does not produce {code}"
    text = render_all(result.diagnostics) + "\n"
    golden = case / "expected.txt"
    if os.environ.get("PROMPTC_REGEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    if code.startswith("E"):
        assert not result.plans, "a build with errors emits no plans"
    else:
        assert result.plans, "warnings never stop a build"


def test_every_code_is_documented_and_has_a_fixture():
    documented = set(re.findall(r"^### ([EW]\d{3})\b", DOCS.read_text(encoding="utf-8"), flags=re.M))
    compile_codes = {c for c in documented if not c.startswith("E4")}  # E4xx are runtime errors (tests/runtime)
    assert compile_codes == set(CASES)
