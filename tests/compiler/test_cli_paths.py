"""Diagnostics print paths relative to the current directory; `promptc check`/`build` without paths
find the project root from a subfolder; plans and locks stay byte-identical whatever the cwd."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from promptc.cli import cli
from promptc.compiler.sources import find_project_root
from promptc.core.errors import Diagnostic, Span, relative_to_cwd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T = '"""'


def broken_project(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.promptc]\n', encoding="utf-8")
    (root / "shared.prompt").write_text(f"global rules @static {T}One.{T}\nglobal rules @static {T}Two.{T}\n",
                                        encoding="utf-8")
    (root / "sub" / "agent.prompt").write_text(f"agent a @static {T}{{{{ nope }}}}{T}\nplan p = a\n", encoding="utf-8")
    return root


def test_check_in_a_subfolder_finds_the_root_and_prints_cwd_relative_paths(tmp_path, monkeypatch):
    root = broken_project(tmp_path / "proj")
    monkeypatch.chdir(root / "sub")
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1
    out = result.output
    assert "--> agent.prompt:1:" in out  # the file in the current directory
    assert "--> ../shared.prompt:2:8" in out  # a file of the same project, above the cwd
    assert "first declared at ../shared.prompt:1:8" in out  # notes are relocated too


def test_check_json_paths_are_cwd_relative(tmp_path, monkeypatch):
    root = broken_project(tmp_path / "proj")
    monkeypatch.chdir(root / "sub")
    result = CliRunner().invoke(cli, ["check", "--format", "json"])
    paths = {d["span"]["path"] for d in json.loads(result.output)}
    assert paths == {"agent.prompt", "../shared.prompt"}


def test_explicit_paths_are_reported_relative_to_the_cwd(tmp_path, monkeypatch):
    root = broken_project(tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check", "proj"])
    assert "--> proj/sub/agent.prompt:1:" in result.output and "--> proj/shared.prompt:2:8" in result.output


def test_project_root_markers(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    assert find_project_root(tmp_path / "a" / "b" / "c") in (None, *tmp_path.parents)  # nothing marks tmp_path
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert find_project_root(tmp_path / "a" / "b" / "c") != tmp_path / "a", "a pyproject without [tool.promptc]"
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.promptc]\ntarget = "engine/smollm2"\n', encoding="utf-8")
    assert find_project_root(tmp_path / "a" / "b" / "c") == tmp_path / "a"
    (tmp_path / "a" / "b" / "promptc.lock").write_text("version = 1\n", encoding="utf-8")
    assert find_project_root(tmp_path / "a" / "b" / "c") == tmp_path / "a" / "b", "the nearest marker wins"


def test_build_from_a_subfolder_writes_byte_identical_plans_and_lock(tmp_path, monkeypatch):
    """The recorded source paths stay relative to the project root: only diagnostics' display moves."""
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        shutil.copytree(EXAMPLES / "team", d, ignore=shutil.ignore_patterns(".promptc"))
    committed = (EXAMPLES / "team" / "promptc.lock").read_bytes()
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["build", "a"]).exit_code == 0
    monkeypatch.chdir(b / "memory")
    result = CliRunner().invoke(cli, ["build"])
    assert result.exit_code == 0, result.output
    assert (a / "promptc.lock").read_bytes() == (b / "promptc.lock").read_bytes() == committed
    plans_a = sorted((a / ".promptc" / "plans").iterdir())
    plans_b = sorted((b / ".promptc" / "plans").iterdir())
    assert [p.name for p in plans_a] == [p.name for p in plans_b] and plans_a
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(plans_a, plans_b))


def test_relocation_maps_span_and_notes_only():
    d = Diagnostic("E101", "segment `x` is declared twice", Span("sub/a.prompt", 2, 8), "rename",
                   notes=("first declared at sub/a.prompt:1:8",))
    moved = d.relocated(relative_to_cwd("/p", "/p/sub"))
    assert moved.span.path == "a.prompt" and moved.notes == ("first declared at a.prompt:1:8",)
    assert moved.message == d.message
    std = Diagnostic("E108", "m", Span("std/roles/reviewer.prompt", 1, 1))
    assert std.relocated(relative_to_cwd("/p", "/p/sub")).span.path == "std/roles/reviewer.prompt"
