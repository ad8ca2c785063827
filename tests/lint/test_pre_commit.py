"""The hooks in .pre-commit-hooks.yaml, run for real by `pre-commit try-repo` on a temp git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lint.project import edit, git

REPO_ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"  # `promptc` of this venv
    e["PYTHONPATH"] = str(REPO_ROOT)  # ... running this checkout's package
    e["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    return e


def try_repo(project: Path, hook: str, env: dict) -> subprocess.CompletedProcess:
    assert PRE_COMMIT, "pre-commit is in the test extra"
    return subprocess.run([PRE_COMMIT, "try-repo", str(REPO_ROOT), hook, "--all-files", "--color", "never"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_hooks_run_for_real(repo, env):
    subprocess.run([sys.executable, "-m", "promptc.cli", "build"], cwd=repo, env=env, check=True,
                   capture_output=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lock")
    for hook in ("promptc-check", "promptc-build-check", "promptc-lint"):
        proc = try_repo(repo, hook, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Passed" in proc.stdout

    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    git(repo, "add", "-A")
    proc = try_repo(repo, "promptc-lint", env)
    assert proc.returncode == 1 and "Failed" in proc.stdout
    assert "shared.prompt:4:6: E901 [error] static segment `rules` changed" in proc.stdout
    proc = try_repo(repo, "promptc-build-check", env)
    assert proc.returncode == 1 and "E901" in proc.stdout
