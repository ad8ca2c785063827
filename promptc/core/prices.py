"""Prices: what a model's tokens cost, from ``genai-prices`` (pydantic's maintained price data).

`genai-prices <https://github.com/pydantic/genai-prices>`_ is THE price source: per model it has the
input, output, cache-read and cache-write prices (Anthropic's 1-hour write too), long-context tiers
and the price history by request time (e.g. DeepSeek's peak/off-peak hours). promptc keeps only what
it lacks, each with its source and date:

* explicit-cache *storage* (Gemini ``cachedContents``, USD per million tokens per hour: ``_STORAGE``);
* Moonshot's legacy context-cache object fees (:data:`CONTEXT_CACHE_FEES`);
* local targets (engine, raw, vLLM, SGLang) that send no bill (``_FREE``);
* a provider's own price facts (:attr:`ProviderSpec.prices <promptc.core.providers.spec.ProviderSpec.prices>`,
  e.g. Qwen's from Alibaba's pricing page), used only where genai-prices has no row for the model, with
  the page and date as the price's ``source`` (``promptc providers`` shows it: never a silent price).
  Such a price may bill a cache mode's hits differently (``read_modes``: Qwen's implicit hits at 20%,
  explicit at 10%): :func:`cost_of` reads the usage's ``cache_mode``.

A model no source knows is **unpriced**: :func:`price_for` returns None and the caller reports
:data:`UNPRICED_CODE` (:func:`unpriced_message` names the model and how to add its price) — never
another model's row. Projects override or add prices in ``pyproject.toml`` (overrides win)::

    [tool.promptc.prices."anthropic/claude-sonnet-4-5"]
    input = 3.0          # USD per million input tokens
    output = 15.0
    read = 0.1           # cache-read multiplier of the input price
    write = { "5m" = 1.25, "1h" = 2.0 }   # or one number for every TTL

Keys are ``provider/model-prefix``; the longest matching prefix wins. :func:`cost_of` is the ONE
function that prices a usage (replies, traces, ``trace stats``, lint, simulate, warm, report).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

from promptc.core.providers import SPECS

#: The diagnostic code of an unpriced model (registered in promptc.core.codes.runtime).
UNPRICED_CODE = "W509"

#: Local targets: recompute time, no bill.
_FREE = ("engine/", "raw/", "vllm/", "sglang/")

#: Explicit-cache storage, USD per million tokens per hour (longest matching key wins). genai-prices has
#: no storage prices. Source: ai.google.dev/gemini-api/docs/pricing ("Context caching ... storage price"),
#: read 2026-10: $1.00 (Flash and Flash-Lite models) and $4.50 (Pro models) per 1M tokens per hour.
_STORAGE: tuple[tuple[str, float], ...] = (
    ("gemini/", 1.0),
    ("gemini/gemini-2.5-pro", 4.5),
    ("gemini/gemini-3-pro", 4.5),
    ("gemini/gemini-3.1-pro", 4.5),
)


#: Cache-read multipliers genai-prices lacks (it has no cache-read price for these models; without one a read
#: would be billed as uncached input). Moonshot's legacy moonshot-v1 models read context caches at no
#: per-token price — the cache object is billed by :data:`CONTEXT_CACHE_FEES` instead. Source: reference §4
#: of docs/reference/provider-caching.md (platform.moonshot.cn context-caching docs), read 2026-10.
_READ_LACKING: tuple[tuple[str, float], ...] = (("moonshot/moonshot-v1", 0.0),)


class _Usage(Protocol):
    """A usage :func:`cost_of` prices; an optional ``cache_mode`` attribute (``implicit``/``explicit``)
    names the cache its reads hit."""

    uncached: int | None
    cache_read: int | None
    cache_write: dict[str, int] | None
    output: int | None


@dataclass(frozen=True)
class Price:
    """One model's prices at one time (base tier). USD per million tokens; ``read`` and ``write`` are
    multipliers of the input price (``write`` per TTL; ``"*"`` = every TTL); ``storage`` is USD per million
    tokens per hour. ``provider_id``/``model_ref`` name the genai-prices model that :func:`cost_of` asks for
    the exact (tiered, time-dependent) cost; None when the price is an override or a local target."""

    key: str
    input: float
    output: float
    read: float
    write: Mapping[str, float] = field(default_factory=dict)
    storage: float = 0.0
    source: str = ""
    verified: bool = True
    provider_id: str | None = None
    model_ref: str | None = None
    #: the read multiplier of a cache mode billed differently from ``read`` (e.g. ``{"implicit": 0.2}``)
    read_modes: Mapping[str, float] = field(default_factory=dict)

    def read_multiplier(self, mode: str | None) -> float:
        """The read multiplier for hits in cache ``mode`` (None or a mode without its own: ``read``)."""
        return self.read_modes.get(mode or "", self.read)

    def write_multiplier(self, ttl: str) -> float:
        """The multiplier for a write with ``ttl`` (an unknown TTL is billed at the dearest one)."""
        if ttl in self.write:
            return self.write[ttl]
        if "*" in self.write:
            return self.write["*"]
        return max(self.write.values(), default=0.0)


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


def _storage(target: str) -> float:
    return max(((k, v) for k, v in _STORAGE if target.startswith(k)), key=lambda kv: len(kv[0]),
               default=("", 0.0))[1]


def _now() -> datetime:
    return datetime.now(tz=timezone.utc)


def _genai_model(target: str):
    """(genai provider, genai model) of ``provider/model``, or None when genai-prices knows no such model."""
    from genai_prices import data_snapshot

    provider, _, model = target.partition("/")
    spec = SPECS.get(provider)
    pid = None if spec is None else spec.price_id
    if pid is None or not model:
        return None
    snapshot = data_snapshot.get_snapshot()
    gp = next((p for p in snapshot.providers if p.id == pid), None)
    if gp is None:
        return None
    info = gp.find_model(model, all_providers=snapshot.providers)
    return None if info is None else (gp, info)


def _version() -> str:
    from genai_prices import __version__

    return __version__


def _base(value: Any) -> float | None:
    """A genai-prices price (a Decimal or TieredPrices) at its base tier."""
    if value is None:
        return None
    return float(getattr(value, "base", value))


def _from_genai(target: str, at: datetime | None) -> Price | None:
    found = _genai_model(target)
    if found is None:
        return None
    gp, info = found
    mp = info.get_prices(at or _now())
    inp, out = _base(getattr(mp, "input_mtok", None)), _base(getattr(mp, "output_mtok", None))
    if inp is None or out is None:
        return None
    ratio = (lambda v: 0.0 if v is None or inp == 0 else v / inp)
    read = _base(getattr(mp, "cache_read_mtok", None))
    w = _base(getattr(mp, "cache_write_mtok", None))
    w1h = _base(getattr(mp, "cache_write_1h_mtok", None))
    write: dict[str, float] = {}
    if w is not None:
        write["*"] = ratio(w)
    if w1h is not None:
        write["1h"] = ratio(w1h)
    lacking = max((kv for kv in _READ_LACKING if target.startswith(kv[0])), key=lambda kv: len(kv[0]), default=None)
    read_mult = ratio(read) if read is not None else (lacking[1] if lacking else 1.0)
    if read is None and lacking:  # cost_of must use the promptc fact, not genai-prices' input-rate fallback
        return Price(target, inp, out, read_mult, write, storage=_storage(target),
                     source=f"genai-prices {_version()} ({gp.id}/{info.id}) + promptc read multiplier (reference §4)")
    return Price(target, inp, out, read_mult, write, storage=_storage(target),
                 source=f"genai-prices {_version()} ({gp.id}/{info.id})", verified=True, provider_id=gp.id,
                 model_ref=target.partition("/")[2])


def _from_spec(target: str) -> Price | None:
    """The provider's own price fact for ``target`` (the spec's ``prices``), or None."""
    spec = SPECS.get(target.partition("/")[0])
    fact = None if spec is None else spec.price_fact(target)
    if fact is None:
        return None
    return Price(fact.key, fact.input, fact.output, fact.read, dict(fact.write), storage=_storage(target),
                 source=f"{fact.source.ref} (read {fact.source.date})", read_modes=dict(fact.read_modes))


def _write_override(value: Any) -> dict[str, float]:
    """``write = 1.25`` (every TTL) or ``write = { "5m" = 1.25, "1h" = 2.0 }``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"*": float(value)}
    return {str(k): float(v) for k, v in dict(value).items()}


def price_for(target: str, overrides: Mapping[str, Mapping[str, Any]] | None = None,
              at: datetime | None = None) -> Price | None:
    """The price of ``provider/model`` at ``at`` (now when None): project ``overrides`` first, then
    genai-prices, then the provider's own price facts where genai-prices has no row; None when none
    knows the model (unpriced — see :func:`unpriced_message`)."""
    over = overrides or {}
    match = max((k for k in over if target.startswith(k)), key=len, default=None)
    if target.startswith(_FREE):
        best: Price | None = Price(target.split("/")[0] + "/", 0.0, 0.0, 0.0, {}, source="local: no bill")
    else:
        best = _from_genai(target, at) or _from_spec(target)
    if match is not None:
        o = over[match]
        base = best or Price(match, 0.0, 0.0, 1.0, storage=_storage(target))
        best = replace(base, key=match, input=float(o.get("input", base.input)),
                       output=float(o.get("output", base.output)), read=float(o.get("read", base.read)),
                       write=_write_override(o.get("write", base.write)),
                       storage=float(o.get("storage", base.storage)), source="pyproject.toml", verified=True,
                       provider_id=None, model_ref=None, read_modes={} if "read" in o else base.read_modes)
    return best


def unpriced_message(target: str) -> str:
    """The warning for a target no price source knows: it names the model and how to add its price."""
    return (f"warning[{UNPRICED_CODE}]: no price for {target}: genai-prices does not know this model, so its "
            f"cost is unknown (None); add its price in pyproject.toml: [tool.promptc.prices.\"{target}\"] "
            "input = <USD per million tokens>, output = ..., read = <cache-read multiplier>, write = <multiplier>")


def _genai_usage(usage: _Usage):
    from genai_prices import Usage as GUsage

    write = usage.cache_write or {}
    total_write = sum(write.values())
    prompt = (usage.uncached or 0) + (usage.cache_read or 0) + total_write
    return GUsage(input_tokens=prompt, cache_read_tokens=usage.cache_read or None,
                  cache_write_tokens=total_write or None, cache_write_1h_tokens=write.get("1h") or None,
                  output_tokens=usage.output or None)


def cost_of(usage: _Usage, price: Price, at: datetime | None = None) -> Cost:
    """The :class:`Cost` of ``usage`` at ``price`` (the one function that prices a usage).

    A genai-prices price is computed by genai-prices itself (long-context tiers, the price in force at
    ``at``); an override or local price by ``tokens × rate``. An unknown counter makes its part None."""
    if price.provider_id is not None and price.model_ref is not None:
        return _genai_cost(usage, price, at)
    per = 1e-6
    uncached = None if usage.uncached is None else usage.uncached * price.input * per
    mode = getattr(usage, "cache_mode", None)
    read = None if usage.cache_read is None else usage.cache_read * price.input * price.read_multiplier(mode) * per
    write = None if usage.cache_write is None else sum(
        n * price.input * price.write_multiplier(ttl) * per for ttl, n in usage.cache_write.items())
    output = None if usage.output is None else usage.output * price.output * per
    return Cost(uncached, read, write, output, price.key)


def _genai_cost(usage: _Usage, price: Price, at: datetime | None) -> Cost:
    from genai_prices import calc_price
    from genai_prices.types import calc_unit_price

    calc = calc_price(_genai_usage(usage), price.model_ref or "", provider_id=price.provider_id,
                      genai_request_timestamp=at)
    mp = calc.model_price
    g = _genai_usage(usage)
    total_in = g.input_tokens
    write = usage.cache_write or {}
    w1h = write.get("1h", 0)
    w_other = sum(write.values()) - w1h

    # genai-prices bills a counter without its own price at its parent's (1h write → write → input)
    chain = {"cache_write_1h_mtok": ("cache_write_1h_mtok", "cache_write_mtok", "input_mtok"),
             "cache_write_mtok": ("cache_write_mtok", "input_mtok"), "cache_read_mtok": ("cache_read_mtok", "input_mtok"),
             "input_mtok": ("input_mtok",)}

    def part(key: str, n: int) -> float:
        rate = next((r for k in chain[key] if (r := getattr(mp, k, None)) is not None), None)
        return float(calc_unit_price(rate, n, total_in, 1_000_000))

    uncached = None if usage.uncached is None else part("input_mtok", usage.uncached)
    read = None if usage.cache_read is None else part("cache_read_mtok", usage.cache_read)
    cw = None if usage.cache_write is None else part("cache_write_mtok", w_other) + part("cache_write_1h_mtok", w1h)
    output = None if usage.output is None else float(calc.output_price)
    parts = (uncached, read, cw, output)
    if None not in parts:
        # genai-prices' own total is the number: put any rounding difference of the split on the input part
        drift = float(calc.total_price) - sum(parts)  # type: ignore[arg-type]
        uncached = (uncached or 0.0) + drift
    return Cost(uncached, read, cw, output, price.key)


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
#: minute stored, $0.0015 per call (reference §4 of docs/reference/provider-caching.md, 2026-10;
#: unverified — the 2024 launch prices were ¥24/M, ¥5–10/M·min and ¥0.02 per call). genai-prices has no
#: cache-object fees.
CONTEXT_CACHE_FEES: tuple[ObjectFees, ...] = (ObjectFees("moonshot/moonshot-v1", 1.0, 0.15, 0.0015),)


def object_fees(target: str) -> ObjectFees | None:
    """The cache-object fees for ``provider/model`` (longest matching key), or None."""
    return max((f for f in CONTEXT_CACHE_FEES if target.startswith(f.key)), key=lambda f: len(f.key), default=None)
