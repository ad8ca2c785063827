"""A pull request controls every file of the checkout CI lints: git runs on the repository found
from a trusted place, with no hooks, fsmonitor or external drivers (issue 22, items 1 and 12)."""

from __future__ import annotations

import os
import subprocess

import pytest

from promptc.lint import lint
from promptc.lint.gitref import git_command, git_env, repo_root
from tests.lint.project import edit, git, write_project



@pytest.fixture
def mono(tmp_path):
    """A repository with the project in ``prompts/`` (the action's ``paths:`` case), committed on main."""
    outer = tmp_path / "mono"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    git(outer, "config", "user.name", "t")
    git(outer, "config", "user.email", "t@promptc.invalid")
    write_project(outer / "prompts")
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "base")
    return outer


def plant_bare_repository(project, marker, repo):
    """Exactly the issue's layout: HEAD, objects/info/alternates -> ../../.git/objects,
    refs/heads/main, and a config whose core.fsmonitor touches ``marker``."""
    head = git(repo, "rev-parse", "HEAD").strip()
    (project / "HEAD").write_text("ref: refs/heads/main\n")
    (project / "objects" / "info").mkdir(parents=True)
    (project / "objects" / "info" / "alternates").write_text("../../.git/objects\n")
    (project / "refs" / "heads").mkdir(parents=True)
    (project / "refs" / "heads" / "main").write_text(head + "\n")
    (project / "config").write_text(f'[core]\n\tfsmonitor = "touch {marker}"\n')


def test_a_bare_repository_layout_in_the_linted_directory_runs_nothing(mono, tmp_path):
    marker = tmp_path / "pwned"
    project = mono / "prompts"
    plant_bare_repository(project, marker, mono)
    git(mono, "checkout", "-q", "-b", "pr")
    git(mono, "add", "-A")
    git(mono, "commit", "-q", "-m", "pr")
    # git's own discovery from the project directory adopts the planted layout as the repository
    found = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=project, capture_output=True, text=True,
                           env=git_env())
    assert found.stdout.strip() == "."
    assert repo_root(project) == mono.resolve()
    edit(project / "shared.prompt", "Keep changes small", "Keep every change small")
    report = lint([project], "main")
    assert report.findings and report.findings[0].location.path == "prompts/shared.prompt"
    assert not marker.exists()
    # the no-change path (pre-commit's common case) neither
    edit(project / "shared.prompt", "Keep every change small", "Keep changes small")
    assert lint([project], "pr").findings == []
    assert not marker.exists()


def test_git_runs_with_an_explicit_repository_no_hooks_no_fsmonitor_and_no_git_environment(mono, monkeypatch,
                                                                                            tmp_path):
    argv = git_command(mono, "diff")
    assert argv[1:3] == [f"--git-dir={mono / '.git'}", f"--work-tree={mono}"]
    for setting in ("safe.bareRepository=explicit", "core.fsmonitor=false", "core.hooksPath=/dev/null"):
        assert setting in argv
    # a GIT_DIR / GIT_CONFIG_* in the environment (a CI step can export them) redirects nothing
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "pwned"
    plant_bare_repository(evil, marker, mono)
    monkeypatch.setenv("GIT_DIR", str(evil))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.fsmonitor")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", f"touch {marker}")
    assert not any(k.startswith("GIT_") for k in git_env())
    edit(mono / "prompts" / "shared.prompt", "Keep changes small", "Keep every change small")
    report = lint([mono / "prompts"], "main")
    assert report.findings[0].location.path == "prompts/shared.prompt"
    assert not marker.exists()


def test_a_symlink_anywhere_in_the_baseline_commit_does_not_break_lint(mono, tmp_path):
    """Item 12: absolute links and links leaving the archive, in and outside the project."""
    os.symlink("/etc/passwd", mono / "passwd")
    (mono / "docs").mkdir()
    os.symlink("../../../../../../../../etc", mono / "docs" / "etc")
    os.symlink("../../outside", mono / "prompts" / "up")
    os.symlink("/etc", mono / "prompts" / "abs")
    git(mono, "add", "-A")
    git(mono, "commit", "-q", "-m", "links")
    edit(mono / "prompts" / "shared.prompt", "Keep changes small", "Keep every change small")
    for _ in range(2):  # and every later lint
        report = lint([mono / "prompts"], "HEAD")
        assert [f.location.path for f in report.findings][:1] == ["prompts/shared.prompt"]
