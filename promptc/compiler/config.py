"""Project configuration: the ``[tool.promptc]`` table of the nearest ``pyproject.toml``.

Read once per build and handed to the stages that need it (the core's provider table takes the
cache-limit overrides as an argument; it never reads files itself). Settings:

* ``target`` — a target or a list of targets (``"engine/smollm2"``, ``["openai/gpt-5.6", ...]``):
  the project's default for plans whose file and declaration name none;
* ``align`` — ``"check"`` (default) or ``"fix"``: the token-boundary mode of ``build`` and ``check``
  when no ``--align`` flag is given;
* ``cache_limits`` — per-target overrides of the provider cache limits.

A malformed setting is a located finding (E133; an unknown target is E110), never silently ignored.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.compiler import deps
from promptc.core.errors import Diagnostic, Span

ALIGN_MODES = ("check", "fix")


@dataclass(frozen=True)
class ProjectConfig:
    """Settings from ``[tool.promptc]``; ``path`` is the pyproject it came from (None: defaults)."""

    cache_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    #: project-level default targets, each with where it is written (for E110)
    targets: tuple[tuple[str, Span | None], ...] = ()
    #: ``--align`` mode when the command line gives none; None: not set
    align: str | None = None
    #: findings about the table itself (E133)
    diagnostics: tuple[Diagnostic, ...] = ()


def _key_span(text: str, display: str, key: str) -> Span:
    """Where ``key = ...`` is written under ``[tool.promptc]`` (the table header when not found)."""
    lines = text.split("\n")
    in_table, header = False, None
    for i, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = stripped.replace(" ", "") == "[tool.promptc]"
            if in_table:
                header = Span(display, i, 1, i, len(line) + 1)
            continue
        m = re.match(rf"\s*{re.escape(key)}\s*=", line)
        if in_table and m:
            col = len(line) - len(line.lstrip()) + 1
            return Span(display, i, col, i, col + len(key))
    return header or Span(display, 1, 1)


def _display(path: Path, root: Path | None) -> str:
    try:
        return Path(os.path.relpath(path, root)).as_posix() if root is not None else path.as_posix()
    except ValueError:
        return path.as_posix()


def load_config(root: Path | None) -> ProjectConfig:
    """The ``[tool.promptc]`` settings of the nearest ``pyproject.toml`` at or above ``root``."""
    d = root
    while d is not None:
        f = d / "pyproject.toml"
        deps.record(f)
        if f.is_file():
            try:
                text = f.read_text(encoding="utf-8")
                data = tomllib.loads(text)
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                return ProjectConfig(path=f)
            table = data.get("tool", {}).get("promptc", {})
            return _from_table(table if isinstance(table, dict) else {}, f, text, _display(f, root))
        d = d.parent if d.parent != d else None
    return ProjectConfig()


def _from_table(table: dict, path: Path, text: str, display: str) -> ProjectConfig:
    diags: list[Diagnostic] = []
    limits = table.get("cache_limits", {})
    targets: list[tuple[str, Span | None]] = []
    for key in ("target", "targets"):
        if key not in table:
            continue
        value = table[key]
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            diags.append(Diagnostic("E133", f"`[tool.promptc] {key}` must be a target or a list of targets",
                                    _key_span(text, display, key),
                                    'write `target = "engine/smollm2"` or `target = ["openai/gpt-5.6", ...]`'))
            continue
        span = _key_span(text, display, key)
        targets.extend((n, span) for n in names)
    align = table.get("align")
    if align is not None and align not in ALIGN_MODES:
        diags.append(Diagnostic("E133", f"`[tool.promptc] align` is {json.dumps(align)}; it must be \"check\" or \"fix\"",
                                _key_span(text, display, "align"),
                                'write `align = "fix"` to normalize unstable token boundaries in every build'))
        align = None
    return ProjectConfig(cache_limits=dict(limits) if isinstance(limits, dict) else {}, path=path,
                         targets=tuple(targets), align=align, diagnostics=tuple(diags))
