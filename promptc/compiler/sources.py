"""Find a project's root and its .prompt files (kept free of heavy imports: the no-op check uses it)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from promptc.core.errors import Diagnostic


def project_root(start: Path) -> Path:
    """The confinement root for sources found at ``start``: the nearest directory at or above it
    with a ``promptc.lock`` or a ``pyproject.toml`` holding ``[tool.promptc]``; ``start`` itself
    when there is none."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "promptc.lock").is_file():
            return d
        py = d / "pyproject.toml"
        if py.is_file():
            try:
                data = tomllib.loads(py.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                continue
            if isinstance(data.get("tool"), dict) and "promptc" in data["tool"]:
                return d
    return start


def find_sources(paths: list[Path]) -> tuple[Path, list[Path], list[Diagnostic]]:
    """The project root and the .prompt files to build. The root is the project around the given
    directory (or the common parent directory of the given files): the nearest directory at or
    above it with a ``promptc.lock`` or a ``[tool.promptc]`` table, else that directory itself."""
    files: list[Path] = []
    diags: list[Diagnostic] = []
    dirs: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            dirs.append(p.resolve())
            files.extend(sorted(q.resolve() for q in p.rglob("*.prompt")
                                if not any(part.startswith(".") for part in q.relative_to(p).parts)))
        elif p.is_file():
            dirs.append(p.resolve().parent)
            files.append(p.resolve())
        else:
            diags.append(Diagnostic("E127", f"no such file or directory: {p}", None,
                                    "pass a directory of .prompt files or a .prompt file"))
    root = Path(os.path.commonpath([str(d) for d in dirs])) if dirs else Path.cwd().resolve()
    # one project, one root (issue 21): `promptc build prompts` and a plain `promptc build` from the
    # project root must record the same paths and write the same promptc.lock in the same place
    lifted = project_root(root)
    if lifted != root and not any((d / ".git").exists() for d in (root, *root.parents) if d != lifted and
                                  d.is_relative_to(lifted)):
        root = lifted  # never across a repository's top: a promptc.lock above a checkout is not its project
    return root, sorted(set(files)), diags


def _declares_promptc(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "promptc" in tool


def find_project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a ``promptc.lock`` or a ``pyproject.toml``
    with a ``[tool.promptc]`` table (how `promptc check` run in a subfolder finds its project), or None."""
    start = Path(start).resolve()
    for d in (start, *start.parents):
        if (d / "promptc.lock").is_file():
            return d
        if (d / "pyproject.toml").is_file() and _declares_promptc(d / "pyproject.toml"):
            return d
    return None
