"""Project configuration: the ``[tool.promptc]`` table of the nearest ``pyproject.toml``.

Read once per build and handed to the stages that need it (the core's provider table takes the
cache-limit overrides as an argument; it never reads files itself). Settings:

* ``target`` — a target or a list of targets (``"engine/smollm2"``, ``["openai/gpt-5.6", ...]``):
  the project's default for plans whose file and declaration name none;
* ``align`` — ``"check"`` (default) or ``"fix"``: the token-boundary mode of ``build`` and ``check``
  when no ``--align`` flag is given;
* ``cache_limits`` — per-target overrides of the provider cache limits;
* the resource limits and extra file roots of docs/security.md (``allow_roots``, ``max_file_bytes``,
  ``max_import_depth``, ``max_template_*``).

A malformed setting is a located finding (E133; an unknown target is E110), never silently ignored;
for a malformed limit the default applies.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from promptc.compiler import deps
from promptc.compiler.confine import DEFAULT_MAX_FILE_BYTES
from promptc.core.errors import Diagnostic, Span
from promptc.core.pyproject import PyprojectError, parse as parse_pyproject
from promptc.core.templates import DEFAULT_LIMITS, TemplateLimits

ALIGN_MODES = ("check", "fix")

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


#: Hard ceilings for the file limits a ``pyproject.toml`` (part of a pull request) may raise, and the
#: environment variables with which the CI job lowers them (the template limits have theirs in
#: :data:`promptc.core.templates.CEILINGS`). A cap that is not a positive integer means the default.
FILE_CEILINGS = {"max_file_bytes": 64 * 1024 * 1024, "max_import_depth": 256}
FILE_CAP_ENV = {"max_file_bytes": "PROMPTC_MAX_FILE_BYTES", "max_import_depth": "PROMPTC_MAX_IMPORT_DEPTH"}


def clamp_file_limit(name: str, value: int, environ: Mapping[str, str] | None = None) -> int:
    """``value`` of file limit ``name`` clamped to :data:`FILE_CEILINGS` and the CI job's cap."""
    environ = os.environ if environ is None else environ
    value = min(value, FILE_CEILINGS[name])
    raw = environ.get(FILE_CAP_ENV[name])
    if raw is not None:
        try:
            cap = int(raw.strip())
        except ValueError:
            cap = 0
        value = min(value, cap if cap > 0 else _INT_KEYS[name][1])
    return value


@dataclass(frozen=True)
class ProjectConfig:
    """Settings from ``[tool.promptc]``; ``path`` is the pyproject it came from (None: defaults)."""

    cache_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    #: project-level default targets, each with where it is written (for E110)
    targets: tuple[tuple[str, Span | None], ...] = ()
    #: ``--align`` mode when the command line gives none; None: not set
    align: str | None = None
    allow_roots: tuple[Path, ...] = ()  #: extra directories a build may read (absolute, resolved)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_import_depth: int = DEFAULT_MAX_IMPORT_DEPTH
    template_limits: TemplateLimits = DEFAULT_LIMITS
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
            try:  # the one [tool.promptc] reader (promptc.core.pyproject): a broken file is E525, located
                found = parse_pyproject(f)
            except PyprojectError as exc:
                return ProjectConfig(path=f, diagnostics=(exc.diagnostic(_display(f, root)),))
            return _from_table(found.table, f, found.text, _display(f, root))
        d = d.parent if d.parent != d else None
    return ProjectConfig(max_file_bytes=clamp_file_limit("max_file_bytes", DEFAULT_MAX_FILE_BYTES),
                         max_import_depth=clamp_file_limit("max_import_depth", DEFAULT_MAX_IMPORT_DEPTH))


def _from_table(table: dict, path: Path, text: str, display: str) -> ProjectConfig:
    diags: list[Diagnostic] = []

    def bad(key: str, message: str, hint: str) -> None:
        diags.append(Diagnostic("E133", message, _key_span(text, display, key), hint))

    limits = table.get("cache_limits", {})
    targets: list[tuple[str, Span | None]] = []
    for key in ("target", "targets"):
        if key not in table:
            continue
        value = table[key]
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            bad(key, f"`[tool.promptc] {key}` must be a target or a list of targets",
                'write `target = "engine/smollm2"` or `target = ["openai/gpt-5.6", ...]`')
            continue
        span = _key_span(text, display, key)
        targets.extend((n, span) for n in names)
    align = table.get("align")
    if align is not None and align not in ALIGN_MODES:
        bad("align", f"`[tool.promptc] align` is {json.dumps(align)}; it must be \"check\" or \"fix\"",
            'write `align = "fix"` to normalize unstable token boundaries in every build')
        align = None
    ints: dict[str, int] = {}
    for key, (attr, default) in _INT_KEYS.items():
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            bad(key, f"`[tool.promptc] {key}` must be a positive integer; the default ({default}) applies",
                "see docs/security.md for every limit and its default")
            value = default
        ints[attr] = value
    roots: list[Path] = []
    raw = table.get("allow_roots", [])
    if not isinstance(raw, list) or not all(isinstance(r, str) and r for r in raw):
        bad("allow_roots", "`[tool.promptc] allow_roots` must be a list of directory paths",
            'write `allow_roots = ["../common-prompts"]` (paths relative to pyproject.toml)')
        raw = []
    for r in raw:
        p = Path(r)
        roots.append((p if p.is_absolute() else path.parent / p).resolve())
    tl = TemplateLimits(**{k: ints[k] for k in ("max_nesting", "max_steps", "max_output", "max_int_bits")})
    return ProjectConfig(cache_limits=dict(limits) if isinstance(limits, dict) else {}, path=path,
                         targets=tuple(targets), align=align, allow_roots=tuple(roots),
                         max_file_bytes=clamp_file_limit("max_file_bytes", ints["max_file_bytes"]),
                         max_import_depth=clamp_file_limit("max_import_depth", ints["max_import_depth"]),
                         template_limits=tl, diagnostics=tuple(diags))
