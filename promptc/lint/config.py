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

from dataclasses import dataclass, field
from pathlib import Path

from promptc.core.pyproject import read_tool_table


@dataclass(frozen=True)
class LintConfig:
    """The lint-relevant part of ``[tool.promptc]``."""

    cache_epoch: int | None = None
    pricing: dict = field(default_factory=dict)
    requests_per_day: float | None = None
    sessions: float | None = None
    fail_on: str | None = None
    path: Path | None = None
    cache_limits: dict = field(default_factory=dict)  #: [tool.promptc.cache_limits]
    retention: str | None = None  #: cacheRetention (short | long | none)
    plan_retention: dict = field(default_factory=dict)  #: per plan: [tool.promptc.plans.<plan>] cacheRetention

    def retention_for(self, plan: str) -> str:
        """The retention a plan's requests use (per-plan override first; default ``short``)."""
        return self.plan_retention.get(plan) or self.retention or "short"


def _table(root: Path, stop: Path | None) -> tuple[dict, Path | None]:
    # the one [tool.promptc] reader (promptc.core.pyproject): a broken file is E525, never an empty config
    found = read_tool_table(root, stop)
    return found.table, found.path


def load_lint_config(root: Path, stop: Path | None = None) -> LintConfig:
    """The lint settings for the project at ``root``."""
    table, path = _table(root, stop)
    lint = table.get("lint", {}) if isinstance(table.get("lint"), dict) else {}
    epoch = table.get("cache_epoch")
    limits = table.get("cache_limits")
    retention = table.get("cacheRetention")
    plans = table.get("plans") if isinstance(table.get("plans"), dict) else {}
    per_plan = {name: t["cacheRetention"] for name, t in plans.items()
                if isinstance(t, dict) and isinstance(t.get("cacheRetention"), str)}
    return LintConfig(cache_epoch=epoch if isinstance(epoch, int) else None,
                      pricing=dict(table.get("prices", {})) if isinstance(table.get("prices"), dict) else {},
                      requests_per_day=lint.get("requests_per_day"), sessions=lint.get("sessions"),
                      fail_on=lint.get("fail_on"), path=path,
                      cache_limits=dict(limits) if isinstance(limits, dict) else {},
                      retention=retention if isinstance(retention, str) else None, plan_retention=per_plan)
