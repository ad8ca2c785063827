"""Project configuration: the ``[tool.promptc]`` table of the nearest ``pyproject.toml``.

Read once per build and handed to the stages that need it (the core's provider table takes the
cache-limit overrides as an argument; it never reads files itself).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.compiler import deps


@dataclass(frozen=True)
class ProjectConfig:
    """Settings from ``[tool.promptc]``; ``path`` is the pyproject it came from (None: defaults)."""

    cache_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None


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
            table = data.get("tool", {}).get("promptc", {})
            limits = table.get("cache_limits", {}) if isinstance(table, dict) else {}
            return ProjectConfig(cache_limits=dict(limits) if isinstance(limits, dict) else {}, path=f)
        d = d.parent if d.parent != d else None
    return ProjectConfig()
