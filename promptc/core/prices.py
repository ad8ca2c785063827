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
    # Gemini (Developer API, prompts <= 200k tokens): implicit caching has no write fee; explicit
    # cachedContents are billed at creation (input price, unverified) plus storage (_STORAGE).
    # Read 0.1x on 2.5+ and 0.25x on 2.0 (unverified) per the reference notes; the $/MTok prices
    # come from secondary sources (unverified).
    ("gemini/", 0.30, 2.50, 0.1, {}, False),
    ("gemini/gemini-2.5-flash", 0.30, 2.50, 0.1, {}, False),
    ("gemini/gemini-2.5-flash-lite", 0.10, 0.40, 0.1, {}, False),
    ("gemini/gemini-2.5-pro", 1.25, 10.0, 0.1, {}, False),
    ("gemini/gemini-2.0-flash", 0.10, 0.40, 0.25, {}, False),
    ("gemini/gemini-3-flash", 0.50, 3.00, 0.1, {}, False),
    ("gemini/gemini-3-pro", 2.00, 12.0, 0.1, {}, False),
    ("gemini/gemini-3.1-pro", 2.00, 12.0, 0.1, {}, False),
    # Kimi / Moonshot (reference §4, §11). kimi-k3: ¥20/M miss, ¥2/M hit, writes ¥20/M (5m) and ¥40/M (1h)
    # = 1.0x / 2.0x / 0.1x; the USD input is ¥20 at ≈7.1 ¥/$ and the output price is not in the reference
    # (unverified). K2 models bill no cache write; their hit price ($0.15 vs $0.60 miss) is unverified.
    ("moonshot/", 0.6, 2.5, 0.25, {}, False),
    ("moonshot/kimi-k2", 0.6, 2.5, 0.25, {}, False),
    ("moonshot/kimi-k3", 2.8, 11.2, 0.1, {"5m": 1.0, "1h": 2.0}, False),
    # moonshot-v1 (legacy; context caches only): cached tokens cost nothing per token, the cache object
    # is billed by CONTEXT_CACHE_FEES below (unverified)
    ("moonshot/moonshot-v1-8k", 0.2, 2.0, 0.0, {}, False),
    ("moonshot/moonshot-v1-32k", 1.0, 3.0, 0.0, {}, False),
    ("moonshot/moonshot-v1-128k", 2.0, 5.0, 0.0, {}, False),
    ("moonshot/moonshot-v1-auto", 2.0, 5.0, 0.0, {}, False),
    # DeepSeek (api-docs.deepseek.com pricing, 2026-08 list prices): no write or storage fee. These values
    # change between doc versions: hits were 0.1x in 2025, are 0.02x (V4-Flash) and ~0.0083x (V4-Pro)
    # since 2026-04-26, and peak/off-peak billing (off-peak half) started 2026-08-16; `deepseek-chat`,
    # `deepseek-reasoner` and `deepseek-flash` are served by the Flash model.
    ("deepseek/", 0.14, 0.28, 0.02, {}, False),
    ("deepseek/deepseek-v4-flash", 0.14, 0.28, 0.02, {}, False),
    ("deepseek/deepseek-flash", 0.14, 0.28, 0.02, {}, False),
    ("deepseek/deepseek-v4-pro", 0.435, 0.87, 0.003625 / 0.435, {}, False),
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

#: Explicit-cache storage, USD per million tokens per hour (the longest matching key wins).
#: Gemini: $1.00 (Flash models) to $4.50 (Pro models) per MTok-hour; unverified (secondary sources).
_STORAGE: list[tuple[str, float]] = [
    ("gemini/", 1.0),
    ("gemini/gemini-2.5-pro", 4.5),
    ("gemini/gemini-3-pro", 4.5),
    ("gemini/gemini-3.1-pro", 4.5),
]


def _storage(target: str) -> float:
    return max(((k, v) for k, v in _STORAGE if target.startswith(k)), key=lambda kv: len(kv[0]),
               default=("", 0.0))[1]


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
            best = Price(key, inp, out, read, dict(write), storage=_storage(target), verified=verified)
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


@dataclass(frozen=True)
class ObjectFees:
    """Fees of a provider's cache *objects* (USD): ``create`` per million tokens cached, ``storage`` per
    million tokens per minute alive, ``per_call`` for each request that uses one."""

    key: str
    create: float
    storage_per_minute: float
    per_call: float
    verified: bool = False


#: Moonshot's legacy context caches (``/v1/caching``, moonshot-v1 only): $1/M to create, $0.15/M per
#: minute stored, $0.0015 per call (reference §4; unverified — the 2024 launch prices were ¥24/M,
#: ¥5–10/M·min and ¥0.02 per call).
CONTEXT_CACHE_FEES: tuple[ObjectFees, ...] = (ObjectFees("moonshot/moonshot-v1", 1.0, 0.15, 0.0015),)


def object_fees(target: str) -> ObjectFees | None:
    """The cache-object fees for ``provider/model`` (longest matching key), or None."""
    return max((f for f in CONTEXT_CACHE_FEES if target.startswith(f.key)), key=lambda f: len(f.key), default=None)
