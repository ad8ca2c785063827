"""The dated price table: per model, input and output prices and the cache multipliers.

Prices are USD per million tokens. ``read`` and ``write`` are multipliers of the input price
(``write`` per TTL: ``5m``, ``1h``, ``30m``); ``storage`` is USD per million tokens per hour for
providers that bill explicit caches by time. Source: the provider docs summarized in
docs/providers.md (dated ``SOURCE_DATE``); entries marked ``unverified`` come from secondary
sources. Keys are ``provider/model-prefix``; the longest matching prefix wins. Override or add
models per project in ``pyproject.toml``::

    [tool.promptc.prices."anthropic/claude-sonnet-4-5"]
    input = 3.0
    output = 15.0
    read = 0.1
    write = { "5m" = 1.25, "1h" = 2.0 }

``write`` may also be one number for every TTL. This module is dependency-free so the runtime (cost
of a reply) and ``promptc lint`` (cost of a finding, :mod:`promptc.lint.pricing`) read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

SOURCE_DATE = "2026-10"

_ANTHROPIC_WRITE = {"5m": 1.25, "1h": 2.0}


@dataclass(frozen=True)
class Price:
    """Prices for one model family. ``write`` maps a TTL to its multiplier; free writes are 0."""

    key: str
    input: float
    output: float
    read: float
    write: Mapping[str, float] = field(default_factory=dict)
    storage: float = 0.0
    source: str = SOURCE_DATE
    verified: bool = True

    def write_multiplier(self, ttl: str) -> float:
        """The multiplier for a write with ``ttl``; an unknown TTL is billed at the dearest one."""
        if ttl in self.write:
            return self.write[ttl]
        return max(self.write.values(), default=0.0)


# key, input $/MTok, output $/MTok, read ×, write × per TTL, verified
_TABLE: list[tuple[str, float, float, float, dict[str, float], bool]] = [
    ("anthropic/", 3.0, 15.0, 0.1, _ANTHROPIC_WRITE, True),
    ("anthropic/claude-sonnet-4", 3.0, 15.0, 0.1, _ANTHROPIC_WRITE, True),
    ("anthropic/claude-sonnet-5", 3.0, 15.0, 0.1, _ANTHROPIC_WRITE, False),
    ("anthropic/claude-opus-4-8", 5.0, 25.0, 0.1, _ANTHROPIC_WRITE, True),
    ("anthropic/claude-opus-4-5", 5.0, 25.0, 0.1, _ANTHROPIC_WRITE, True),
    ("anthropic/claude-opus-4-1", 15.0, 75.0, 0.1, _ANTHROPIC_WRITE, True),
    ("anthropic/claude-haiku-4-5", 1.0, 5.0, 0.1, _ANTHROPIC_WRITE, True),
    ("anthropic/claude-haiku-3-5", 0.8, 4.0, 0.1, _ANTHROPIC_WRITE, True),
    ("openai/", 1.25, 10.0, 0.1, {}, False),
    ("openai/gpt-5", 1.25, 10.0, 0.1, {}, True),
    ("openai/gpt-5.6", 5.0, 30.0, 0.1, {"30m": 1.25}, False),
    ("openai/gpt-5.7", 5.0, 30.0, 0.1, {"30m": 1.25}, False),
    ("openai/gpt-4.1", 2.0, 8.0, 0.25, {}, True),
    ("openai/gpt-4o", 2.5, 10.0, 0.5, {}, True),
    ("engine/", 0.0, 0.0, 0.0, {}, True),  # local: recompute time, no bill
    ("raw/", 0.0, 0.0, 0.0, {}, True),
    ("vllm/", 0.0, 0.0, 0.0, {}, True),
    ("sglang/", 0.0, 0.0, 0.0, {}, True),
    # Bedrock (Claude): Anthropic's list prices; write multipliers unverified (reference §11).
    ("bedrock/claude-", 3.0, 15.0, 0.1, _ANTHROPIC_WRITE, False),
    ("bedrock/claude-opus-4-8", 5.0, 25.0, 0.1, _ANTHROPIC_WRITE, False),
    ("bedrock/claude-opus-4-5", 5.0, 25.0, 0.1, _ANTHROPIC_WRITE, False),
    ("bedrock/claude-haiku-4-5", 1.0, 5.0, 0.1, _ANTHROPIC_WRITE, False),
    # OpenRouter: the upstream's prices and multipliers (reference §7; unverified).
    ("openrouter/anthropic/", 3.0, 15.0, 0.1, _ANTHROPIC_WRITE, False),
    ("openrouter/anthropic/claude-opus-4.8", 5.0, 25.0, 0.1, _ANTHROPIC_WRITE, False),
    ("openrouter/anthropic/claude-opus-4.5", 5.0, 25.0, 0.1, _ANTHROPIC_WRITE, False),
    ("openrouter/anthropic/claude-haiku-4.5", 1.0, 5.0, 0.1, _ANTHROPIC_WRITE, False),
    ("openrouter/openai/", 1.25, 10.0, 0.1, {}, False),
    ("openrouter/openai/gpt-5.6", 5.0, 30.0, 0.1, {"30m": 1.25}, False),
    ("openrouter/google/", 1.25, 10.0, 0.25, {"5m": 1.0}, False),  # + 5 min of storage, not modelled
    ("openrouter/qwen/", 0.4, 1.2, 0.1, {"5m": 1.25}, False),
    ("openrouter/deepseek/", 0.28, 0.42, 0.1, {}, False),
    ("openrouter/moonshotai/", 0.6, 2.5, 0.25, {}, False),
]

#: Bedrock model ids and cross-region profiles (``us.anthropic.claude-...``) price like their family.
_TABLE += [(f"bedrock/{region}anthropic.{key[len('bedrock/'):]}", *rest)
           for region in ("", "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")
           for key, *rest in list(_TABLE) if key.startswith("bedrock/claude-")]


def _write_override(value: Any) -> dict[str, float]:
    """``write = 1.25`` (every TTL) or ``write = { "5m" = 1.25, "1h" = 2.0 }``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"*": float(value)}
    return {str(k): float(v) for k, v in dict(value).items()}


def price_for(target: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Price | None:
    """The price of ``provider/model`` (project ``overrides`` first, then the table); None if unknown."""
    best: Price | None = None
    for key, inp, out, read, write, verified in _TABLE:
        if target.startswith(key) and (best is None or len(key) > len(best.key)):
            best = Price(key, inp, out, read, dict(write), verified=verified)
    over = overrides or {}
    match = max((k for k in over if target.startswith(k)), key=len, default=None)
    if match is not None:
        o = over[match]
        base = best or Price(match, 0.0, 0.0, 1.0)
        best = replace(base, key=match, input=float(o.get("input", base.input)),
                       output=float(o.get("output", base.output)), read=float(o.get("read", base.read)),
                       write=_write_override(o.get("write", base.write)),
                       storage=float(o.get("storage", base.storage)), source="pyproject.toml", verified=True)
    return best
