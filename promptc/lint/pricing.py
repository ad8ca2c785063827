"""Cache pricing: one dated table of input prices and cache multipliers, overridable per project.

A changed prefix makes the next request of each plan pay a cache *write* where it would have paid a
cache *read*; the extra cost is ``tokens × input price × (write − read)``. Multipliers are × the
base input price, from the providers' documentation summarised in the project's reference notes
(dated :data:`SOURCE_DATE`; they change between doc versions). Prices are only listed where the
documentation states one; for any other model set it in ``pyproject.toml``::

    [tool.promptc.pricing."anthropic/claude-sonnet-5"]
    input = 3.0       # USD per million input tokens
    write = 1.25      # optional: the cache-write multiplier
    read = 0.1        # optional: the cache-read multiplier

Keys are ``provider/model-prefix``; the longest matching prefix wins (as for cache limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

SOURCE_DATE = "2026-10"


@dataclass(frozen=True)
class Price:
    """One row: ``input`` is USD per million input tokens (None: unknown; 0: a local engine)."""

    key: str
    input: float | None
    write: float
    read: float
    source: str = SOURCE_DATE


# (provider/model-prefix, input USD/MTok or None, write ×, read ×)
_TABLE: list[tuple[str, float | None, float, float]] = [
    ("engine/", 0.0, 1.0, 1.0),  # the local KV-tree engine: recompute time, no bill
    ("raw/", 0.0, 1.0, 1.0),
    ("vllm/", 0.0, 1.0, 1.0),
    ("sglang/", 0.0, 1.0, 1.0),
    ("anthropic/", None, 1.25, 0.1),  # 5-minute writes; 1-hour writes are 2.0
    ("anthropic/claude-opus-4-8", 5.0, 1.25, 0.1),  # $5 base, $6.25 write, $0.50 read per MTok
    ("bedrock/", None, 1.25, 0.1),
    ("openai/", None, 1.0, 0.1),  # before gpt-5.6: writes cost the base input price, reads ≈0.1 on gpt-5.x
    ("openai/gpt-5.6", 5.0, 1.25, 0.1),  # gpt-5.6-sol: $5.00 / $6.25 / $0.50 (unverified in the notes)
    ("openai/gpt-5.7", None, 1.25, 0.1),
    ("gemini/", None, 1.0, 0.1),  # implicit caching: no write fee
    ("moonshot/", None, 1.0, 0.1),
    ("deepseek/", None, 1.0, 0.02),
    ("openrouter/", None, 1.25, 0.1),
]


def price_for(target: str, overrides: Mapping[str, Mapping] | None = None) -> Price | None:
    """The pricing row for ``provider/model``: ``overrides`` (``[tool.promptc.pricing]``) first,
    then the built-in table; None when no row matches."""
    best: Price | None = None
    for key, inp, w, r in _TABLE:
        if target.startswith(key) and (best is None or len(key) > len(best.key)):
            best = Price(key, inp, w, r)
    over = overrides or {}
    match = max((k for k in over if target.startswith(k)), key=len, default=None)
    if match:
        o = over[match]
        base = best or Price(match, None, 1.0, 1.0)
        best = Price(match, float(o["input"]) if "input" in o else base.input, float(o.get("write", base.write)),
                     float(o.get("read", base.read)), "pyproject.toml")
    return best
