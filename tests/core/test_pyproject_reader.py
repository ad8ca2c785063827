"""One `[tool.promptc]` reader (promptc.core.pyproject): a broken pyproject.toml is the same located E525 for
build, lint and the runtime — never silent defaults (before: build compiled with defaults, lint emptied its
config, run said E507)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptc.compiler.build import compile_project
from promptc.core.pyproject import PyprojectError, read_tool_table
from promptc.lint.config import load_lint_config
from promptc.runtime.config import RuntimeConfig

PROMPT = 'global rules @static role system """Be brief."""\nagent a @static role system """A."""\nplan p = rules, a\n'

BROKEN = {
    "toml-syntax": (b'[project]\nname = "x"\n\n[tool.promptc\ntarget = "engine/smollm2"\n', (4, 14)),
    "not-utf8": (b'[tool.promptc]\ntarget = "caf\xe9"\n', (2, 14)),
    "tool-not-a-table": (b'tool = 3\n', None),
    "promptc-not-a-table": (b'[tool]\npromptc = "yes"\n', None),
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request, tmp_path) -> tuple[Path, tuple[int, int] | None]:
    content, where = BROKEN[request.param]
    (tmp_path / "pyproject.toml").write_bytes(content)
    (tmp_path / "main.prompt").write_text(PROMPT, encoding="utf-8")
    return tmp_path, where


def test_the_reader_locates_the_fault(broken):
    root, where = broken
    with pytest.raises(PyprojectError) as info:
        read_tool_table(root)
    assert info.value.code == "E525" and "error[E525]" in str(info.value)
    if where is not None:
        assert (info.value.line, info.value.col) == where
        assert f"pyproject.toml:{where[0]}:{where[1]}" in str(info.value)


def test_build_reports_e525_instead_of_compiling_with_defaults(broken):
    root, where = broken
    result = compile_project([root], annotate_tokens=False)
    codes = [d.code for d in result.diagnostics]
    assert "E525" in codes and not result.plans
    d = next(d for d in result.diagnostics if d.code == "E525")
    if where is not None:
        assert (d.span.line, d.span.col) == where


def test_lint_and_runtime_refuse_the_same_file(broken):
    root, _ = broken
    with pytest.raises(PyprojectError):
        load_lint_config(root)
    with pytest.raises(PyprojectError):
        RuntimeConfig.discover(root)


def test_a_good_file_and_no_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.promptc]\ncacheRetention = "long"\n', encoding="utf-8")
    found = read_tool_table(tmp_path)
    assert found.table == {"cacheRetention": "long"} and found.path == tmp_path / "pyproject.toml"
    assert RuntimeConfig.discover(tmp_path).retention == "long"
