"""`promptc init [DIR]`: a starter project that builds, checks and lints clean; it overwrites nothing
(E970) and never writes through a symlink leading out of DIR (E812)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from promptc.cli import cli
from promptc.scaffold import FILES

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def starter(tmp_path_factory):
    root = tmp_path_factory.mktemp("init") / "prompts"
    result = invoke("init", str(root), "--action", "acme/promptc@v1")
    assert result.exit_code == 0, result.output
    return root, result


def test_writes_every_starter_file(starter):
    root, result = starter
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(FILES)
    assert all(f"created {root / rel}" in result.output for rel in FILES)
    assert (root / ".gitignore").read_text().splitlines()[-1] == ".promptc/"
    assert '[tool.promptc]\n' in (root / "pyproject.toml").read_text()


def test_builds_checks_and_lints_clean(starter, monkeypatch):
    root, _ = starter
    monkeypatch.chdir(root)
    build = invoke("build")
    assert build.exit_code == 0 and "built 1 plan(s)" in build.output and "warning" not in build.output, build.output
    check = invoke("check")
    assert check.exit_code == 0 and check.output == "ok: 1 plan(s), no findings\n", check.output
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "starter"], cwd=root, check=True)
    assert not subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                              text=True).stdout, ".gitignore keeps .promptc/ out of git"
    plans = (root / "assistant.prompt").read_text()
    (root / "memory" / "assistant.md").write_text(  # the memory grows at its end: an allowed change
        (root / "memory" / "assistant.md").read_text() + "\nTests live in tests/.\n")
    lint = invoke("lint", "--against", "HEAD")
    assert lint.exit_code == 0, lint.output
    assert ": 0 errors, 0 warnings" in lint.output
    assert "plan assistant = rules, tools, assistant, assistant_memory, turn" in plans


def test_pre_commit_config_and_workflow_are_valid(starter):
    root, _ = starter
    r = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"], cwd=root,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    hooks = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    assert [h["entry"] for h in hooks] == ["promptc check", "promptc build --check", "promptc lint --against HEAD"]
    workflow = yaml.safe_load((root / ".github" / "workflows" / "promptc.yml").read_text())
    steps = workflow["jobs"]["cache-review"]["steps"]
    assert {"uses": "acme/promptc@v1", "with": {"paths": ".", "fail-on": "error"}} in steps
    repo = Path(__file__).resolve().parents[1]
    action = yaml.safe_load((repo / "action.yml").read_text())
    assert set(steps[-1]["with"]) <= set(action["inputs"]), "the workflow passes only inputs the Action declares"


def test_refuses_to_overwrite_and_writes_nothing(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'mine'\n")
    (tmp_path / ".gitignore").symlink_to(tmp_path / "nowhere")  # a dangling link is a file too
    result = invoke("init", str(tmp_path))
    assert result.exit_code != 0
    assert str(result.exception).startswith(f"error[E970]: refusing to overwrite existing file(s) in {tmp_path}: "
                                            "pyproject.toml, .gitignore\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "pyproject.toml"]
    assert (tmp_path / "pyproject.toml").read_text() == "[project]\nname = 'mine'\n"


def test_never_writes_through_a_symlink_out_of_dir(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".github").symlink_to(outside)  # .github/workflows/promptc.yml would land in outside/
    (root / "memory").symlink_to(outside)
    result = invoke("init", str(root))
    assert result.exit_code != 0 and "error[E812]" in str(result.exception), result.output
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in root.iterdir()) == [".github", "memory"]  # nothing written at all


def test_the_cli_prints_the_coded_error(tmp_path):
    (tmp_path / "shared.prompt").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTC_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-m", "promptc", "init", str(tmp_path)], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.startswith("error[E970]:") and "Traceback" not in r.stderr, r.stderr
