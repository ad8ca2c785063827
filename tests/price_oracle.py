"""The price oracle for tests: genai-prices' own price of a usage, computed with genai-prices' public API
directly (never through promptc.core.prices), so a test comparing ``reply.cost`` with it compares promptc
with the price source rather than with itself."""

from __future__ import annotations

from genai_prices import Usage, calc_price

#: promptc provider → genai-prices provider id (written out here on purpose, not imported from promptc).
PROVIDER_IDS = {"anthropic": "anthropic", "openai": "openai", "gemini": "google", "deepseek": "deepseek",
                "moonshot": "moonshotai", "bedrock": "aws", "openrouter": "openrouter"}


def genai_cost(target: str, *, uncached: int, cache_read: int = 0, cache_write: dict[str, int] | None = None,
               output: int = 0, at=None) -> float:
    """USD genai-prices charges for this usage of ``provider/model`` (``cache_write`` by TTL; ``1h`` priced as
    the 1-hour write)."""
    provider, _, model = target.partition("/")
    write = cache_write or {}
    total_write = sum(write.values())
    usage = Usage(input_tokens=uncached + cache_read + total_write, cache_read_tokens=cache_read or None,
                  cache_write_tokens=total_write or None, cache_write_1h_tokens=write.get("1h") or None,
                  output_tokens=output or None)
    return float(calc_price(usage, model, provider_id=PROVIDER_IDS[provider], genai_request_timestamp=at).total_price)


def reply_oracle(target: str, usage) -> float:
    """:func:`genai_cost` of a promptc :class:`~promptc.runtime.usage.Usage`."""
    return genai_cost(target, uncached=usage.uncached, cache_read=usage.cache_read or 0,
                      cache_write=dict(usage.cache_write or {}), output=usage.output or 0)
