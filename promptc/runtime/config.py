"""Project configuration the runtime reads: ``[tool.promptc]`` in the nearest ``pyproject.toml``.

::

    [tool.promptc]
    cacheRetention = "short"                 # none | short | long  (legacy: "5m", "1h")
    cacheCollapseFraction = 0.5              # trace collapse monitor (W510); also per plan in plans.<plan>

    [tool.promptc.plans.backend]             # per-plan (per-agent) overrides, merged over the default
    cacheRetention = "long"

    [tool.promptc.plans.scout]
    parent = "backend"                       # share backend's cache key / routing key / session id

    [tool.promptc.providers.anthropic]       # point a provider at a proxy, a gateway or the simulator
    base_url = "http://127.0.0.1:8700"

    [tool.promptc.prices."anthropic/claude-sonnet-4-5"]
    input = 3.0

Precedence, highest first: arguments to :class:`promptc.Client`, then the provider's standard
environment variable (``ANTHROPIC_BASE_URL``, ``OPENAI_BASE_URL``), then this file, then defaults.
For retention: ``Client(retention=...)`` > ``plans.<plan>.cacheRetention`` > ``cacheRetention`` >
``"short"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.core.pyproject import read_tool_table
from promptc.runtime.errors import RuntimeSettingError


@dataclass(frozen=True)
class RuntimeConfig:
    """The ``[tool.promptc]`` settings the runtime uses; ``source`` is the file they came from."""

    retention: str | None = None
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    collapse_fraction: float | None = None
    source: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> "RuntimeConfig":
        def table(key: str) -> dict[str, dict[str, Any]]:
            value = data.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise RuntimeSettingError(f"error[E528]: {source or 'config'}: tool.promptc.{key} must be a table "
                                         "of tables")
            return value

        retention = data.get("cacheRetention")
        if retention is not None and not isinstance(retention, str):
            raise RuntimeSettingError(f"error[E528]: {source or 'config'}: tool.promptc.cacheRetention must be a "
                                     "string (none, short or long)")
        plans = table("plans")
        for where, holder in (("cacheCollapseFraction", data),
                              *((f"plans.{n}.cacheCollapseFraction", t) for n, t in plans.items())):
            value = holder.get("cacheCollapseFraction")
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 < value <= 1):
                raise RuntimeSettingError(f"error[E528]: {source or 'config'}: tool.promptc.{where} must be a "
                                         "number in (0, 1]")
        from promptc.runtime.keys import parents

        parents(plans, source)  # plans.<plan>.parent: a plan name, no cycles (E528)
        return cls(retention=retention, plans=plans, providers=table("providers"), prices=table("prices"),
                   cache_limits=table("cache_limits"), collapse_fraction=data.get("cacheCollapseFraction"),
                   source=source)

    @classmethod
    def discover(cls, start: str | Path | None = None) -> "RuntimeConfig":
        """Read the nearest ``pyproject.toml`` at or above ``start`` (default: the working directory)."""
        found = read_tool_table(Path(start or Path.cwd()))  # the one reader: E525 when the file is broken
        if found.path is None:
            return cls()
        return cls.from_dict(found.table, source=str(found.path))

    def retention_for(self, plan: str | None) -> tuple[str | None, str]:
        """(configured retention or None, where it came from) for a plan, per-plan override first."""
        if plan and "cacheRetention" in self.plans.get(plan, {}):
            return self.plans[plan]["cacheRetention"], f"tool.promptc.plans.{plan}.cacheRetention"
        if self.retention is not None:
            return self.retention, "tool.promptc.cacheRetention"
        return None, "default"

    def collapse_fractions(self) -> dict[str, float]:
        """The trace's collapse-monitor fractions: ``{"": default, plan: override, ...}`` (configured ones only)."""
        out = {"": float(self.collapse_fraction)} if self.collapse_fraction is not None else {}
        out.update({name: float(t["cacheCollapseFraction"]) for name, t in self.plans.items()
                    if t.get("cacheCollapseFraction") is not None})
        return out

    def base_url(self, provider: str) -> str | None:
        value = self.providers.get(provider, {}).get("base_url")
        return str(value) if value else None
