"""The lint settings of a project: ``cache_epoch``, ``[tool.promptc.prices]`` and ``[tool.promptc.lint]``.

Read from the ``[tool.promptc]`` table of the nearest ``pyproject.toml`` at or above the project
root (``stop`` bounds the walk: a baseline extracted into a temporary directory never reads the
temporary directory's parents)::

    [tool.promptc]
    cache_epoch = 3                       # bump to acknowledge an intended global cache reset

    [tool.promptc.lint]
    requests_per_day = 20000              # traffic model for the daily cost figure
    sessions = 50                         # distinct caches (tenants, cache keys) that re-warm
    fail_on = "error"                     # default for --fail-on

    [tool.promptc.prices."anthropic/claude-opus-4-8"]
    input = 5.0                           # USD per million input tokens
    write = 1.25                          # cache-write multiplier
    read = 0.1                            # cache-read multiplier
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LintConfig:
    """The lint-relevant part of ``[tool.promptc]``."""

    cache_epoch: int | None = None
    pricing: dict = field(default_factory=dict)
    requests_per_day: float | None = None
    sessions: float | None = None
    fail_on: str | None = None
    path: Path | None = None


def _table(root: Path, stop: Path | None) -> tuple[dict, Path | None]:
    d = root.resolve()
    stop = stop.resolve() if stop else None
    while True:
        f = d / "pyproject.toml"
        if f.is_file():
            try:
                data = tomllib.loads(f.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
                return {}, f
            table = data.get("tool", {}).get("promptc", {})
            return (table if isinstance(table, dict) else {}), f
        if d == stop or d.parent == d:
            return {}, None
        d = d.parent


def load_lint_config(root: Path, stop: Path | None = None) -> LintConfig:
    """The lint settings for the project at ``root``."""
    table, path = _table(root, stop)
    lint = table.get("lint", {}) if isinstance(table.get("lint"), dict) else {}
    epoch = table.get("cache_epoch")
    return LintConfig(cache_epoch=epoch if isinstance(epoch, int) else None,
                      pricing=dict(table.get("prices", {})) if isinstance(table.get("prices"), dict) else {},
                      requests_per_day=lint.get("requests_per_day"), sessions=lint.get("sessions"),
                      fail_on=lint.get("fail_on"), path=path)
