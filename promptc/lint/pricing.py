"""What a cache break costs, priced by the project's ONE pricing function (:func:`promptc.core.prices.cost_of`).

A changed prefix makes the next request of each plan pay a cache *write* where it would have paid a
cache *read*; the extra cost is ``cost(tokens written) − cost(tokens read)`` at the model's price
(genai-prices, or the project's overrides), so lint's estimate and the runtime's reply cost agree.
Override or add models in ``pyproject.toml``::

    [tool.promptc.prices."anthropic/claude-sonnet-5"]
    input = 3.0       # USD per million input tokens
    write = 1.25      # the cache-write multiplier (or { "5m" = 1.25, "1h" = 2.0 })
    read = 0.1        # the cache-read multiplier

A model no price source knows (and without an override) is unpriced: findings show tokens and no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from promptc.core.prices import cost_of
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


@dataclass(frozen=True)
class _Tokens:
    uncached: int | None
    cache_read: int | None
    cache_write: dict[str, int] | None
    output: int | None


def price_for(target: str, overrides: Mapping[str, Mapping] | None = None) -> Price | None:
    """The price of a cache break on ``provider/model``; None when no source and no override knows it.

    The write multiplier is the default-TTL one (a break re-writes the prefix at the default TTL); a
    provider with no write fee pays the base input price (×1)."""
    row = table_price(target, overrides)
    if row is None:
        return None
    write = row.write_multiplier("5m") if row.write else 1.0
    return Price(row.key, row.input, write, row.read, row.source, row.verified)


def break_cost(target: str, tokens: int, overrides: Mapping[str, Mapping] | None = None, *, ttl: str = "5m",
               lost_reads: int = 0, rewritten: bool = False) -> float | None:
    """USD one request pays because ``tokens`` are written (at ``ttl``) instead of read, plus ``lost_reads``
    cached tokens now paid as uncached input — through :func:`cost_of`; None when the model is unpriced.

    ``rewritten``: an automatic cache writes the ``lost_reads`` again (the new prefix is cacheable). Where the
    row prices cache writes (Kimi bills its automatic writes, 1× input at 5m and 2× at 1h, though its usage
    reports no write count: promptc/core/providers/moonshot.py) they are paid at the ``ttl``'s write price;
    elsewhere (OpenAI, DeepSeek: no write fee) as uncached input."""
    row = table_price(target, overrides)
    if row is None:
        return None
    # no write fee: the re-sent prefix is paid as uncached input
    as_written = _Tokens(0, 0, {ttl: tokens}, 0) if row.write else _Tokens(tokens, 0, {}, 0)
    written = cost_of(as_written, row).total
    read = cost_of(_Tokens(0, tokens, {}, 0), row).total
    as_paid = _Tokens(0, 0, {ttl: lost_reads}, 0) if rewritten and row.write else _Tokens(lost_reads, 0, {}, 0)
    lost = cost_of(as_paid, row).total - cost_of(_Tokens(0, lost_reads, {}, 0), row).total
    return written - read + lost  # type: ignore[operator]
