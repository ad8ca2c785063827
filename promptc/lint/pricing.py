"""What a cache break costs, from the project's one dated price table (:mod:`promptc.core.prices`).

A changed prefix makes the next request of each plan pay a cache *write* where it would have paid a
cache *read*; the extra cost is ``tokens × input price × (write − read)``. The runtime bills replies
from the same table, so lint's estimate and the runtime's cost agree. Override or add models in
``pyproject.toml``::

    [tool.promptc.prices."anthropic/claude-sonnet-5"]
    input = 3.0       # USD per million input tokens
    write = 1.25      # the cache-write multiplier (or { "5m" = 1.25, "1h" = 2.0 })
    read = 0.1        # the cache-read multiplier

A provider without a row (and without an override) has no price: findings show tokens and no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from promptc.core.prices import price_for as table_price


@dataclass(frozen=True)
class Price:
    """What lint needs of a row: ``input`` USD per million input tokens, the write and read multipliers."""

    key: str
    input: float
    write: float
    read: float
    source: str
    verified: bool = True


def price_for(target: str, overrides: Mapping[str, Mapping] | None = None) -> Price | None:
    """The price of a cache break on ``provider/model``; None when the table and the overrides know none.

    The write multiplier is the 5-minute one where a provider has several (a break re-writes the
    prefix at the default TTL); a provider with no write fee pays the base input price (×1)."""
    row = table_price(target, overrides)
    if row is None:
        return None
    write = row.write_multiplier("5m") if row.write else 1.0
    return Price(row.key, row.input, write, row.read, row.source, row.verified)
