"""Golden diagnostics: every compile-time code has a folder tests/fixtures/diagnostics/<CODE>/ with
several cases, each a small project (``main.prompt`` and friends) and the exact ``expected.txt``.

A case may hold ``PATHS`` (paths to compile, one a line, relative to the case; default: the case
folder) and ``ALIGN_FIX`` (build with ``--align=fix``). Regenerate the goldens after an intentional
wording change with ``PROMPTC_REGEN=1 pytest tests/compiler/test_diagnostics.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptc.compiler.build import compile_project
from promptc.core.codes import all_codes
from promptc.core.codes.compiler import COMPILER_CODES
from promptc.core.errors import render_all

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "diagnostics"
#: Run-time codes (binding inputs, loading plans, the engine client): tests/runtime/test_diagnostics.py.
RUNTIME_PREFIXES = ("E4", "E5")
#: Codes of the compiler family that ``compile_project`` cannot produce: the CLI reports them while
#: writing the outputs (E811) or comparing with the lock (W801). Each is exercised, through the CLI,
#: by tests/security/test_cache_robustness.py instead of a fixture folder.
OUTPUT_CODES = {"E811": "test_cache_robustness.py", "W801": "test_cache_robustness.py",
                "E812": "test_output_confinement.py"}
ALL_CASES = sorted((code.name, case.name) for code in FIXTURES.iterdir() if code.is_dir()
                   for case in code.iterdir() if case.is_dir() and not case.name.startswith("."))
CASES = [(code, case) for code, case in ALL_CASES if not code.startswith(RUNTIME_PREFIXES)]


def compile_case(case: Path, code: str, monkeypatch):
    paths = [case]
    if (case / "PATHS").exists():  # paths as a user types them, relative to the current directory
        monkeypatch.chdir(case)
        paths = (case / "PATHS").read_text(encoding="utf-8").split()
    align = "fix" if (case / "ALIGN_FIX").exists() else "check"
    return compile_project(paths, annotate_tokens=code.startswith(("E6", "W6", "W311")), align=align)


@pytest.mark.parametrize(("code", "case"), CASES, ids=[f"{c}/{k}" for c, k in CASES])
def test_golden_diagnostics(code, case, monkeypatch):
    folder = FIXTURES / code / case
    result = compile_case(folder, code, monkeypatch)
    assert code in {d.code for d in result.diagnostics}, f"fixture {code}/{case} does not produce {code}"
    text = render_all(result.diagnostics) + "\n"
    golden = folder / "expected.txt"
    if os.environ.get("PROMPTC_REGEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    if code.startswith("E"):
        assert not result.plans, "a build with errors emits no plans"
    else:
        assert result.plans, "warnings never stop a build"


def test_every_code_has_several_cases():
    """Every code of the compiler family (compile and run time) has a fixture folder with at least two
    cases, except the output codes (OUTPUT_CODES), which the test file named there exercises through the
    CLI. The engine family (serve configuration) is exercised in tests/security/test_server_config.py
    and the lint family in tests/lint/, each code by its own test."""
    security = Path(__file__).resolve().parents[1] / "security"
    for code, test_file in OUTPUT_CODES.items():
        assert f'"{code}" in text' in (security / test_file).read_text(encoding="utf-8"), f"{code} untested"
    codes = {c.code for c in COMPILER_CODES} - set(OUTPUT_CODES)
    by_code: dict[str, int] = {}
    for code, _ in ALL_CASES:
        by_code[code] = by_code.get(code, 0) + 1
    assert set(by_code) <= set(all_codes()), f"fixtures for unregistered codes: {set(by_code) - set(all_codes())}"
    assert codes <= set(by_code), f"codes without fixtures: {sorted(codes - set(by_code))}"
    assert all(by_code[c] >= 2 for c in codes), {c: n for c, n in by_code.items() if n < 2}
