"""Cache-TTL-aware history pruning: shorten old tool results only when the cache is gone anyway.

Long agent sessions carry old tool results (file dumps, test logs) in their history. Cutting them
saves input tokens — but the history is part of the cached prefix, so rewriting an entry while the
prefix is still cached turns the next request's read (0.1×) into a write (1.25×) of everything
after the change. The rule (from openclaw's session pruning): **prune only once the cached prefix
has expired** — the next request re-writes the prefix either way, so the shorter history costs
nothing extra and every later request reads fewer tokens.

:func:`prune_history` decides from the cache's expiry (a registry entry's ``expires_at``, the
keep-warm heartbeat's :meth:`~promptc.runtime.keepwarm.KeepWarm.expires_at`, or the last use + TTL,
:func:`cache_expiry`). A pruned history is no longer an append-only continuation of the old one, so
the caller binds a new session (``plan.bind(...)``) and renders with the pruned entries
(:meth:`Pruned.apply` does both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

#: Default marker of a tool-result entry: its content starts with this tag.
TOOL_RESULT_PREFIX = "<tool_result"
#: What a pruned tool result is replaced with.
PLACEHOLDER = "<tool_result pruned />"


def is_tool_result(entry: dict[str, Any]) -> bool:
    """The default tool-result test: a history entry whose content starts with :data:`TOOL_RESULT_PREFIX`."""
    return str(entry.get("content", "")).lstrip().startswith(TOOL_RESULT_PREFIX)


@dataclass(frozen=True)
class Pruned:
    """The outcome: the history to send, the indices replaced, and why (``"pruned"``,
    ``"cache_alive"`` — nothing changed because the cached prefix is still live — or ``"nothing_old"``)."""

    history: list[dict[str, Any]]
    pruned: list[int] = field(default_factory=list)
    reason: str = "pruned"

    @property
    def changed(self) -> bool:
        return bool(self.pruned)

    def apply(self, plan: Any, session: Any, session_inputs: dict[str, Any]) -> Any:
        """The session to render the next turn with: ``session`` itself when nothing changed, else a
        fresh ``plan.bind(**session_inputs)`` (a pruned history is not an append-only continuation)."""
        return plan.bind(**session_inputs) if self.changed else session


def cache_expiry(last_use: float | None, ttl_s: float | None) -> float | None:
    """When a prefix last used at ``last_use`` expires (None when unknown: treated as expired)."""
    if last_use is None or ttl_s is None:
        return None
    return last_use + ttl_s


def prune_history(history: list[dict[str, Any]], *, cache_expires_at: float | None, now: float,
                  keep_last: int = 2, min_chars: int = 200,
                  is_tool_result: Callable[[dict[str, Any]], bool] = is_tool_result,
                  placeholder: str = PLACEHOLDER) -> Pruned:
    """Replace old tool results (all but the last ``keep_last``, longer than ``min_chars``) with
    ``placeholder`` — only when the cached prefix has expired (``cache_expires_at`` ≤ ``now``, or
    unknown). While the cache is live the history comes back unchanged (reason ``cache_alive``)."""
    entries = [dict(e) for e in history]
    if cache_expires_at is not None and cache_expires_at > now:
        return Pruned(entries, [], "cache_alive")
    results = [i for i, e in enumerate(entries) if is_tool_result(e)]
    old = results[: max(0, len(results) - keep_last)]
    pruned = [i for i in old if len(str(entries[i].get("content", ""))) > min_chars]
    for i in pruned:
        entries[i]["content"] = placeholder
    return Pruned(entries, pruned, "pruned" if pruned else "nothing_old")


__all__ = ["PLACEHOLDER", "Pruned", "TOOL_RESULT_PREFIX", "cache_expiry", "is_tool_result", "prune_history"]
