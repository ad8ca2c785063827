"""Cost of a reply from its normalized usage and the price table (:mod:`promptc.core.prices`).

``cost = uncached × in + read × in × r + Σ_ttl write_ttl × in × w_ttl + output × out`` (USD; prices
per million tokens). Unknown counters make the cost unknown (``None``) rather than low.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptc.core.prices import Price
from promptc.runtime.usage import Usage


@dataclass(frozen=True)
class Cost:
    """USD, split by what was paid for; ``total`` is None when a counter the formula needs is unknown."""

    uncached: float | None
    cache_read: float | None
    cache_write: float | None
    output: float | None
    price_key: str

    @property
    def total(self) -> float | None:
        parts = (self.uncached, self.cache_read, self.cache_write, self.output)
        return None if any(p is None for p in parts) else sum(parts)  # type: ignore[arg-type]

    def to_json(self) -> dict:
        return {"total": self.total, "uncached": self.uncached, "cache_read": self.cache_read,
                "cache_write": self.cache_write, "output": self.output, "price": self.price_key}


def cost_of(usage: Usage, price: Price) -> Cost:
    """The :class:`Cost` of ``usage`` at ``price``."""
    per = 1e-6
    uncached = None if usage.uncached is None else usage.uncached * price.input * per
    read = None if usage.cache_read is None else usage.cache_read * price.input * price.read * per
    write = None if usage.cache_write is None else sum(
        n * price.input * price.write_multiplier(ttl) * per for ttl, n in usage.cache_write.items())
    output = None if usage.output is None else usage.output * price.output * per
    return Cost(uncached, read, write, output, price.key)
