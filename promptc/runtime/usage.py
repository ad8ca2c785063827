"""One usage record for every provider: uncached, cache reads, cache writes by TTL, output.

Providers count differently (see the reference table in docs/providers.md): Anthropic and Bedrock
report ``input_tokens`` *exclusive* of cache reads and writes; OpenAI, Gemini, DeepSeek and the
OpenAI-compatible servers report an *inclusive* prompt count. :class:`Usage` always holds the
exclusive split, so ``uncached + cache_read + cache_write_total`` is the prompt size. A counter
the provider did not send is ``None`` (unknown), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Usage:
    """Normalized token usage of one request.

    ``cache_write`` maps a TTL (``"5m"``, ``"1h"``, ``"30m"``, ``"unknown"`` when the provider gives
    no split) to the tokens written with it.
    """

    uncached: int | None
    cache_read: int | None
    cache_write: dict[str, int] | None
    output: int | None
    reasoning: int | None = None
    semantics: Literal["inclusive", "exclusive"] = "exclusive"
    raw: dict[str, Any] = field(default_factory=dict)
    #: the cache the reads hit where a provider bills its modes differently (DashScope: ``implicit`` or
    #: ``explicit``; :meth:`promptc.core.prices.Price.read_multiplier`); None: the price's one read rate
    cache_mode: str | None = field(default=None, compare=False)  # billing metadata: equality is the counters

    @property
    def cache_write_total(self) -> int | None:
        return None if self.cache_write is None else sum(self.cache_write.values())

    @property
    def prompt(self) -> int | None:
        """All prompt tokens (uncached + read + written), or None when a part is unknown."""
        parts = (self.uncached, self.cache_read, self.cache_write_total)
        return None if any(p is None for p in parts) else sum(parts)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"uncached": self.uncached, "cache_read": self.cache_read, "cache_write": self.cache_write,
                "cache_write_total": self.cache_write_total, "output": self.output, "reasoning": self.reasoning,
                "semantics": self.semantics, "raw": self.raw}


def _int(d: dict | None, *path: str) -> int | None:
    cur: Any = d
    for p in path:
        if not isinstance(cur, dict) or cur.get(p) is None:
            return None
        cur = cur[p]
    return int(cur) if isinstance(cur, (int, float)) else None


def from_anthropic(u: dict[str, Any]) -> Usage:
    """Anthropic Messages ``usage`` (exclusive: ``input_tokens`` is what came after the last breakpoint)."""
    total_write = _int(u, "cache_creation_input_tokens")
    split = u.get("cache_creation") if isinstance(u.get("cache_creation"), dict) else None
    write: dict[str, int] | None = None
    if split is not None:
        w5, w1 = _int(split, "ephemeral_5m_input_tokens"), _int(split, "ephemeral_1h_input_tokens")
        write = {k: v for k, v in (("5m", w5), ("1h", w1)) if v}
        rest = (total_write or 0) - sum(write.values())
        if rest > 0:
            write["unknown"] = rest
    elif total_write is not None:
        write = {"unknown": total_write} if total_write else {}
    return Usage(uncached=_int(u, "input_tokens"), cache_read=_int(u, "cache_read_input_tokens"), cache_write=write,
                 output=_int(u, "output_tokens"), reasoning=None, semantics="exclusive", raw=dict(u))


def from_openai_chat(u: dict[str, Any], write_ttl: str = "30m", writes_exist: bool = True) -> Usage:
    """OpenAI Chat Completions ``usage`` (inclusive: ``prompt_tokens`` counts cached and written tokens).

    ``writes_exist=False`` for models without cache writes (before gpt-5.6): there the write counter
    is 0 by definition rather than unknown.
    """
    return _inclusive(u, _int(u, "prompt_tokens"), u.get("prompt_tokens_details"), _int(u, "completion_tokens"),
                      _int(u, "completion_tokens_details", "reasoning_tokens"), write_ttl, writes_exist)


def from_openai_responses(u: dict[str, Any], write_ttl: str = "30m", writes_exist: bool = True) -> Usage:
    """OpenAI Responses ``usage`` (inclusive: ``input_tokens`` counts cached and written tokens)."""
    return _inclusive(u, _int(u, "input_tokens"), u.get("input_tokens_details"), _int(u, "output_tokens"),
                      _int(u, "output_tokens_details", "reasoning_tokens"), write_ttl, writes_exist)


def _inclusive(u: dict, prompt: int | None, details: Any, output: int | None, reasoning: int | None,
               write_ttl: str, writes_exist: bool) -> Usage:
    details = details if isinstance(details, dict) else None
    read = _int(details, "cached_tokens")
    written = _int(details, "cache_write_tokens")
    if written is None and not writes_exist:
        written = 0
    # OpenAI documents cache_write_tokens as "unadjusted": clamp so uncached never goes negative.
    uncached = None if prompt is None or read is None else max(0, prompt - read - (written or 0))
    write = None if written is None else ({write_ttl: written} if written else {})
    return Usage(uncached=uncached, cache_read=read, cache_write=write, output=output, reasoning=reasoning,
                 semantics="inclusive", raw=dict(u))
