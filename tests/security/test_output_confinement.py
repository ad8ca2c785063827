"""Issue 22 item 2: committed symlinks never make `build`, `report` or `lint` write or delete
outside the project (E812), and a link that stays inside the project is still written through.

Every case is the attack: the project (a pull request) commits the link, CI runs the command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptc.core.safewrite import UnsafeOutput, check_output_path, write_bytes
from tests.security.compiler_helpers import project, static, write  # noqa: F401 (fixtures)
from tests.security.test_cache_robustness import run_cli

BASHRC = "export PATH=/usr/bin\n"


@pytest.fixture()
def victim(tmp_path) -> Path:
    """A directory outside the project with files a hostile link aims at."""
    d = tmp_path / "home"
    d.mkdir()
    (d / ".bashrc").write_text(BASHRC)
    (d / "keep.plan.json").write_text("{}")
    return d


def untouched(victim: Path) -> bool:
    return sorted(p.name for p in victim.iterdir()) == [".bashrc", "keep.plan.json"] and \
        (victim / ".bashrc").read_text() == BASHRC and (victim / "keep.plan.json").read_text() == "{}"


def test_lockfile_symlinked_out_of_the_project(project, victim, monkeypatch, capsys):
    write(project, {"main.prompt": static("Be brief.")})
    os.symlink(victim / ".bashrc", project / "promptc.lock")
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 2 and "E812" in text and "promptc.lock" in text
    assert untouched(victim)


def test_plans_directory_symlinked_out_of_the_project_is_neither_written_nor_pruned(project, victim, monkeypatch,
                                                                                    capsys):
    write(project, {"main.prompt": static("Be brief.")})
    (project / ".promptc").mkdir()
    os.symlink(victim, project / ".promptc" / "plans")
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 2 and "E812" in text
    assert untouched(victim)  # keep.plan.json, a "stale plan", was not deleted


def test_cache_files_symlinked_out_of_the_project(project, victim, monkeypatch, capsys):
    write(project, {"main.prompt": static("Be brief.")})
    cache = project / ".promptc" / "cache"
    cache.mkdir(parents=True)
    os.symlink(victim / ".bashrc", cache / "manifest.tmp")  # the old temporary name: never opened now
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 0, text
    assert untouched(victim)
    (cache / "manifest.json").unlink()
    os.symlink(victim / ".bashrc", cache / "manifest.json")
    write(project, {"main.prompt": static("Be briefer.")})
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 2 and "E812" in text and "manifest.json" in text
    assert untouched(victim)
    # the whole cache directory leading out
    for p in cache.iterdir():
        p.unlink()
    cache.rmdir()
    os.symlink(victim, cache)
    write(project, {"main.prompt": static("Be brief, really.")})
    code, text = run_cli(monkeypatch, capsys, "build", str(project))
    assert code == 2 and "E812" in text
    assert untouched(victim)


def test_report_output_symlinked_out_of_the_project(project, victim, monkeypatch, capsys):
    write(project, {"main.prompt": static("Be brief.")})
    os.symlink(victim / ".bashrc", project / "cache-report.html")
    monkeypatch.chdir(project)
    code, text = run_cli(monkeypatch, capsys, "report", ".")
    assert code == 2 and "E812" in text
    assert untouched(victim)


def test_lint_output_and_summary_symlinked_out_of_the_project(project, victim, tmp_path, monkeypatch, capsys):
    write(project, {"main.prompt": static("Be brief.")})
    base = write(tmp_path / "base", {"main.prompt": static("Be brief.")})
    os.symlink(victim / ".bashrc", project / "lint.txt")
    monkeypatch.chdir(project)
    code, text = run_cli(monkeypatch, capsys, "lint", ".", "--against", str(base), "--output", "lint.txt")
    assert code == 2 and "E812" in text
    code, text = run_cli(monkeypatch, capsys, "lint", ".", "--against", str(base), "--markdown-summary", "lint.txt")
    assert code == 2 and "E812" in text
    assert untouched(victim)
    # a summary file outside the project that is not a link (GitHub's $GITHUB_STEP_SUMMARY) is appended to
    summary = tmp_path / "step_summary.md"
    summary.write_text("before\n")
    code, text = run_cli(monkeypatch, capsys, "lint", ".", "--against", str(base), "--markdown-summary", str(summary))
    assert code == 0, text
    assert summary.read_text().startswith("before\n") and len(summary.read_text()) > len("before\n")


def test_links_inside_the_project_and_outside_paths_that_are_not_links_are_written(project, tmp_path):
    (project / "real").mkdir()
    os.symlink("real", project / "alias")
    write_bytes(project / "alias" / "out.json", b"{}", project)
    assert (project / "real" / "out.json").read_bytes() == b"{}"
    write_bytes(tmp_path / "elsewhere" / "out.json", b"{}", project)  # named by the user, no link
    # a dangling link leading out, and one under a directory link leading out
    os.symlink(tmp_path / "nowhere", project / "dangling")
    with pytest.raises(UnsafeOutput):
        check_output_path(project / "dangling", project)
    os.symlink(tmp_path, project / "up")
    with pytest.raises(UnsafeOutput):
        check_output_path(project / "up" / "a" / "b.json", project)
