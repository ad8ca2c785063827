"""A three-plan project sharing a global block, in a real git repository (the `git` CLI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SHARED = '''# Shared by every agent.
global rules @static role system """
You are one of three engineers on the acme repository.
Keep changes small and reviewable.
{% include "style.md" %}
"""

global tools @append_only tools {
    read_file(path: string "Path from the repository root") "Read a file."
    search_code(pattern: string "A regular expression") "Search the code."
    run_tests(selector: string? "A pytest selector") "Run the tests."
}
'''

TURN = '''task turn @turn role user {
    input query: string
    """Question: {{ query }}"""
}
'''

AGENT = '''import "./shared.prompt"
import "./turn.prompt"

agent {a} @static role system """
You own the {a} of the acme shop.
Write a test for every change.
"""

agent {a}_memory @append_only memory from "memory/{a}.md"

plan {a} = rules, tools, {a}, {a}_memory, turn target "engine/smollm2", "anthropic/claude-opus-4-8"
'''

#: Low cache minimums so that the small project has provider breakpoints to lose.
PYPROJECT = '''[tool.promptc.cache_limits."anthropic/"]
min_tokens = 32
'''

PLANS = ("backend", "docs", "frontend")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def write_project(root: Path) -> None:
    (root / "memory").mkdir(parents=True, exist_ok=True)
    (root / "shared.prompt").write_text(SHARED)
    (root / "turn.prompt").write_text(TURN)
    (root / "style.md").write_text("Answer briefly and precisely.\n")
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text(".promptc/\n")
    for a in PLANS:
        (root / f"{a}.prompt").write_text(AGENT.format(a=a))
        (root / "memory" / f"{a}.md").write_text("The CI runs on two cores.\n\nReleases happen on Fridays.\n")


def init_repo(root: Path) -> Path:
    """A git repository with the project committed on `main`."""
    root.mkdir(parents=True, exist_ok=True)
    write_project(root)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "promptc tests")
    git(root, "config", "user.email", "tests@promptc.invalid")
    git(root, "config", "commit.gpgsign", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    return root


def clone_of(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True, ignore=shutil.ignore_patterns(".promptc"))
    return dest


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def line_of(path: Path, needle: str) -> int:
    return next(i + 1 for i, line in enumerate(path.read_text().split("\n")) if needle in line)
