"""Project configuration: the ``[tool.promptc]`` table of the nearest ``pyproject.toml``.

Read once per build and handed to the stages that need it (the core's provider table takes the
cache-limit overrides as an argument; it never reads files itself). The resource limits and the
extra file roots of docs/security.md are read here too; a malformed value is an E810 diagnostic and
the default applies.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.compiler import deps
from promptc.compiler.confine import DEFAULT_MAX_FILE_BYTES
from promptc.core.errors import Diagnostic, Span
from promptc.core.templates import DEFAULT_LIMITS, TemplateLimits

#: Default bound on the length of an import chain (a imports b imports c ...).
DEFAULT_MAX_IMPORT_DEPTH = 64

#: ``[tool.promptc]`` integer keys → (ProjectConfig or TemplateLimits field, default).
_INT_KEYS = {
    "max_file_bytes": ("max_file_bytes", DEFAULT_MAX_FILE_BYTES),
    "max_import_depth": ("max_import_depth", DEFAULT_MAX_IMPORT_DEPTH),
    "max_template_nesting": ("max_nesting", DEFAULT_LIMITS.max_nesting),
    "max_template_steps": ("max_steps", DEFAULT_LIMITS.max_steps),
    "max_template_output": ("max_output", DEFAULT_LIMITS.max_output),
    "max_template_int_bits": ("max_int_bits", DEFAULT_LIMITS.max_int_bits),
}


@dataclass(frozen=True)
class ProjectConfig:
    """Settings from ``[tool.promptc]``; ``path`` is the pyproject it came from (None: defaults)."""

    cache_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    allow_roots: tuple[Path, ...] = ()  #: extra directories a build may read (absolute, resolved)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_import_depth: int = DEFAULT_MAX_IMPORT_DEPTH
    template_limits: TemplateLimits = DEFAULT_LIMITS
    diagnostics: tuple[Diagnostic, ...] = ()  #: E810 findings about malformed settings


def load_config(root: Path | None) -> ProjectConfig:
    """The ``[tool.promptc]`` settings of the nearest ``pyproject.toml`` at or above ``root``."""
    d = root
    while d is not None:
        f = d / "pyproject.toml"
        deps.record(f)
        if f.is_file():
            try:
                data = tomllib.loads(f.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                return ProjectConfig(path=f)
            tool = data.get("tool", {})
            table = tool.get("promptc", {}) if isinstance(tool, dict) else {}
            return _parse(table if isinstance(table, dict) else {}, f, os.path.relpath(f, root))
        d = d.parent if d.parent != d else None
    return ProjectConfig()


def _parse(table: dict, path: Path, display: str) -> ProjectConfig:
    diags: list[Diagnostic] = []
    where = Span(Path(display).as_posix(), 1, 1)

    def bad(key: str, want: str) -> None:
        diags.append(Diagnostic("E810", f"[tool.promptc] {key} must be {want}; the default applies", where,
                                "see docs/security.md for every setting and its default"))

    limits = table.get("cache_limits", {})
    ints: dict[str, int] = {}
    for key, (attr, default) in _INT_KEYS.items():
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            bad(key, "a positive integer")
            value = default
        ints[attr] = value
    roots: list[Path] = []
    raw = table.get("allow_roots", [])
    if not isinstance(raw, list) or not all(isinstance(r, str) and r for r in raw):
        bad("allow_roots", "a list of directory paths")
        raw = []
    for r in raw:
        p = Path(r)
        roots.append((p if p.is_absolute() else path.parent / p).resolve())
    tl = TemplateLimits(**{k: ints[k] for k in ("max_nesting", "max_steps", "max_output", "max_int_bits")})
    return ProjectConfig(cache_limits=dict(limits) if isinstance(limits, dict) else {}, path=path,
                         allow_roots=tuple(roots), max_file_bytes=ints["max_file_bytes"],
                         max_import_depth=ints["max_import_depth"], template_limits=tl, diagnostics=tuple(diags))
