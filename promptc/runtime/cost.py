"""Cost of a reply: re-exports the ONE pricing function, :func:`promptc.core.prices.cost_of`.

A price from genai-prices is computed by genai-prices itself (tiers, the price at the request time); an
override or a local target by ``uncached × in + read × in × r + Σ_ttl write_ttl × in × w_ttl + output × out``
(USD; prices per million tokens). Unknown counters make the cost unknown (``None``) rather than low.
"""

from __future__ import annotations

from promptc.core.prices import Cost, cost_of

__all__ = ["Cost", "cost_of"]
