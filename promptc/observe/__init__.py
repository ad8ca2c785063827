"""Observing agents that are not written in ``.prompt``: why each call missed the cache, and what it cost.

- :mod:`promptc.observe.wire`: split Anthropic Messages / OpenAI Chat Completions / Responses payloads
  into hashed segments in wire order; read usage from JSON and SSE responses (sans-IO, bounded).
- :mod:`promptc.observe.explain`: :class:`Observer` links requests into conversations and explains
  misses (first changed segment with a byte-level excerpt, TTL expiry, minimum, reordered tools,
  cache key, provider side) with their cost, as promptc trace records.
- :mod:`promptc.observe.proxy`: ``promptc observe``, a loopback proxy (the ``observe`` extra).
- :func:`instrument`: the same records from inside a process, through httpx event hooks.
- :mod:`promptc.observe.importer`: ``promptc import``, a starter ``.prompt`` project from a trace.
"""

from promptc.observe.explain import Observer
from promptc.observe.instrument import instrument

__all__ = ["Observer", "instrument"]
