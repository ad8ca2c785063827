"""The shape of a provider's facts: one frozen :class:`ProviderSpec` per provider module.

Every fact carries where it comes from (:class:`Source`: a URL or document and the date it was
read). A fact that changes between doc versions is written once, in its provider's module, and every
consumer (compiler, show, report, lint, adapters, simulate, keep-warm, warm, the simulator) reads it
from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Source:
    """Where a fact was read: ``ref`` (URL or document) and ``date`` (YYYY-MM-DD or YYYY-MM)."""

    ref: str
    date: str
    note: str = ""


@dataclass(frozen=True)
class ModelLimits:
    """Cache limits of the models whose ``provider/model`` starts with ``key`` (longest key wins).

    ``min_tokens``: the shortest cacheable prefix (None: unpublished/none); ``max_breakpoints``:
    markers a request may carry (0: automatic caching); ``mode``: ``explicit`` (breakpoints),
    ``automatic`` (prefix, no markers) or ``tree`` (the promptc engine); ``block_size``: the
    granularity a prefix is matched in (None: any boundary); ``lookback``: blocks a breakpoint looks
    back for an earlier entry (None: unlimited); ``ttls``: the TTL names this model accepts (None: the
    provider's); ``retention``: retention → TTL name for this model (None: the provider's)."""

    key: str
    min_tokens: int | None
    max_breakpoints: int
    mode: str
    source: Source
    block_size: int | None = None
    lookback: int | None = None
    ttls: tuple[str, ...] | None = None
    retention: Mapping[str, str] | None = None
    #: the row this one repeats under another model-id spelling (Bedrock's regional ids): not listed twice
    alias_of: str | None = None


@dataclass(frozen=True)
class PriceFact:
    """A model's price from the provider's own pricing page, for a provider the price library
    (genai-prices) has no row for: :func:`promptc.core.prices.price_for` uses it only then, and names
    its ``source`` wherever the price is shown. ``key`` is ``provider/model-prefix`` (the longest
    match wins); ``input``/``output`` are USD per million tokens; ``read`` and ``write`` (per TTL) are
    multipliers of the input price; ``read_modes`` overrides ``read`` for a cache mode the provider
    bills differently (e.g. ``{"implicit": 0.2}``)."""

    key: str
    input: float
    output: float
    read: float
    write: Mapping[str, float]
    source: Source
    read_modes: Mapping[str, float] = field(default_factory=dict)


def chat_function_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI Chat Completions tool shape (also Kimi, DeepSeek, OpenRouter, vLLM, SGLang)."""
    return {"type": "function", "function": {k: tool[k] for k in ("name", "description", "parameters")
                                             if tool.get(k) is not None}}


@dataclass(frozen=True)
class ProviderSpec:
    """One provider's facts.

    ``render``: the regions of the wire in the order the provider serializes (and hashes) them:
    ``("tools", "system", "messages")`` means every tools segment's definitions come first, then the
    other segments in plan order; ``("plan",)`` means plan order. ``raw_join``: consecutive same-role
    segments are packed into one text the model sees concatenated. ``ttls``: TTL name → seconds an
    unused cached prefix lives (None: no TTL, memory-bound). ``retention``: promptc retention
    (``short``/``long``) → TTL name. ``write_multipliers``: cache-write price × base input per TTL,
    kept here only where a price library lacks them. ``usage``: ``exclusive`` (input counts only
    uncached tokens) or ``inclusive`` (input includes cached ones).
    """

    name: str
    render: tuple[str, ...]
    tokenizer: Callable[[str], tuple[str, bool]]
    models: tuple[ModelLimits, ...]
    sources: Mapping[str, Source]
    raw_join: bool = False
    estimated_tokens: bool = False
    env_key: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    usage: str = "inclusive"
    ttls: Mapping[str, float | None] = field(default_factory=dict)
    retention: Mapping[str, str] = field(default_factory=dict)
    write_multipliers: Mapping[str, float] = field(default_factory=dict)
    #: a promptc tool (``name``, ``description``, ``parameters``) → the definition the wire carries (None:
    #: the provider takes no tool definitions); the simulator counts its canonical JSON
    tool_def: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    #: the provider's id in the price library (genai-prices); None: it prices no model of this provider
    price_id: str | None = None
    #: the minimum counts per checkpoint: a breakpoint is written only when it adds ``min_tokens`` to the
    #: previous written one (AWS Bedrock), not from the start of the prompt
    cumulative_minimum: bool = False
    #: ``max_tokens`` of a pre-warm request (Anthropic documents 0 for warming; others need ≥ 1)
    prewarm_max_tokens: int = 1
    #: token counts are of the chat-templated message pieces (promptc's engine), not the contents
    counts_chat_template: bool = False
    #: ``model`` → (provider, model) whose TTLs apply, for a router whose upstream has its own (None: this spec's)
    upstream: Callable[[str], tuple[str, str] | None] | None = None
    #: the roles the wire sends in one system region (a top-level ``system`` field), not as a message role:
    #: a static segment before the conversation starts carries no role on the wire there, so a change
    #: between two of these roles changes no byte (``promptc.core.wire.wire_role``; the adapters render it so:
    #: tests/lint/test_regressions.py renders both roles through every adapter). Empty: every role is sent.
    system_roles: tuple[str, ...] = ()
    #: the beta (``anthropic-beta`` value) under which the provider returns its own cache-miss verdict for a
    #: request (``diagnostics.cache_miss_reason``; :mod:`promptc.runtime.diagnosis`); None: no such verdict
    cache_diagnosis_beta: str | None = None
    #: the provider partitions (routes) its prompt cache by the request's cache key (``prompt_cache_key``):
    #: a request reads only what requests with the same key wrote (lint: a change to the prefix the key is
    #: derived from reads nothing)
    keyed_cache: bool = False
    #: each chat message carries one text: promptc's adapter joins a run of consecutive same-role segments
    #: (``promptc.runtime.providers.moonshot.chat_payload``), so a cache matching whole blocks matches at
    #: message ends (and at each tool definition), not at every segment
    joined_messages: bool = False
    #: prices from the provider's own pricing page, used only where genai-prices has no row for the model
    prices: tuple[PriceFact, ...] = ()

    def price_fact(self, target: str) -> PriceFact | None:
        """The longest ``prices`` row whose key prefixes ``target`` (``provider/model``), or None."""
        return max((p for p in self.prices if target.startswith(p.key)), key=lambda p: len(p.key), default=None)

    @property
    def tools_first(self) -> bool:
        return bool(self.render) and self.render[0] == "tools"

    def limits(self, model_key: str) -> ModelLimits | None:
        """The longest ``models`` row whose key prefixes ``model_key`` (``provider/model``)."""
        best = None
        for row in self.models:
            if model_key.startswith(row.key) and (best is None or len(row.key) > len(best.key)):
                best = row
        return best

    def ttl_name(self, model: str, retention: str) -> str | None:
        """The TTL name ``retention`` buys on ``model`` (None for ``none`` or no TTL)."""
        if retention == "none":
            return None
        row = self.limits(f"{self.name}/{model}")
        table = (row.retention if row is not None and row.retention is not None else self.retention)
        return table.get(retention)

    def ttl_seconds(self, model: str, retention: str) -> float | None:
        """Seconds an unused prefix lives on ``model`` under ``retention`` (None: no TTL to beat)."""
        name = self.ttl_name(model, retention)
        return None if name is None else self.ttls.get(name)
