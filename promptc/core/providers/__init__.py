"""The provider registry: one facts module per provider (:mod:`.anthropic`, :mod:`.openai`, …), each a
frozen :class:`ProviderSpec`, and the public API the rest of promptc reads them through.

A target is ``provider/model``. Each provider's spec says how its wire is ordered (``render``), which
tokenizer counts for it (exact or a named proxy), the cache limits per model family (minimum
cacheable tokens, breakpoints, mode, block size, lookback), its TTLs and their lifetimes, the write
multipliers a price library lacks, its usage shape, environment variables and default base URL —
each with its source and date (:attr:`ProviderSpec.sources`, :attr:`ModelLimits.source`).

Cache limits change between doc versions; override them per project in ``pyproject.toml``::

    [tool.promptc.cache_limits."anthropic/claude-opus-4-8"]
    min_tokens = 1024
    max_breakpoints = 4

Keys are ``provider/model-prefix``; the longest matching prefix wins.

Adding a provider: its facts module here, exporting ``SPEC`` (a module describing several providers
exports ``SPECS``, a tuple). :data:`SPECS` is discovered from the package's modules, in module-name
order — no registration line here.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field

from promptc.core.providers import bedrock
from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

SOURCE_DATE = "2026-10"

#: The embedded engine's default model.
DEFAULT_TARGET = "engine/smollm2"

#: The package's modules that describe no provider (the spec types, the gateway table, the listing).
SUPPORT_MODULES = ("gateways", "listing", "spec")


def _discovered() -> tuple[ProviderSpec, ...]:
    """Every facts module's ``SPEC`` (or ``SPECS``), in module-name order: a provider module that
    exports neither fails here, at import, rather than being silently left out."""
    found: list[ProviderSpec] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in SUPPORT_MODULES:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "SPECS", None) or (module.SPEC,))
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise ImportError(f"two provider modules export the same provider name: {sorted(names)}")
    return tuple(found)


#: Every provider's spec, by name (discovered: see the module doc).
SPECS: Mapping[str, ProviderSpec] = {s.name: s for s in _discovered()}

PROVIDERS = tuple(SPECS)

#: Providers whose tokenizer is not public: token counts are estimates through a named proxy.
ESTIMATED_PROVIDERS = frozenset(n for n, s in SPECS.items() if s.estimated_tokens)

#: Providers that pack consecutive same-role segments into one message (system blocks, content
#: blocks, parts; vLLM/SGLang: the adapter joins a run's texts into one string) whose texts the
#: model sees concatenated: those boundaries are raw text joins.
RAW_JOIN_PROVIDERS = frozenset(n for n, s in SPECS.items() if s.raw_join)

BEDROCK_REGION_PREFIXES = bedrock.REGION_PREFIXES


def spec_for(target_or_provider: str) -> ProviderSpec:
    """The spec of ``provider`` or ``provider/model``; KeyError for an unknown provider."""
    return SPECS[target_or_provider.split("/", 1)[0]]


class Target(BaseModel):
    """Where a plan runs: ``provider/model`` and the tokenizer used to count and align tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="provider/model, e.g. engine/smollm2 or openai/gpt-5.6")
    provider: str
    model: str
    tokenizer: str = Field(description="tokenizer id, e.g. gguf:smollm2, o200k_base")
    tokenizer_exact: bool = Field(description="false when the provider's tokenizer is not public and a proxy is used")


def tokenizer_for(provider: str, model: str) -> tuple[str, bool]:
    """(tokenizer id, exact?) for a provider/model.

    ``raw/<tokenizer>`` is a completion-style endpoint (vLLM/llama.cpp ``/v1/completions``) that
    sees the segments concatenated into one text: ``raw/smollm2``, ``raw/o200k_base``,
    ``raw/cl100k_base``, ``raw/hf:PATH``.
    """
    spec = SPECS.get(provider)
    if spec is None:
        return "o200k_base", False
    return spec.tokenizer(model)


def parse_target(text: str) -> Target:
    """Parse ``provider/model``. Raises ValueError with a message for unknown providers."""
    if "/" not in text:
        raise ValueError(f"target `{text}` is not of the form provider/model")
    provider, model = text.split("/", 1)
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider `{provider}`")
    if not model:
        raise ValueError(f"target `{text}` names no model")
    tok, exact = tokenizer_for(provider, model)
    if provider == "raw" and not (tok.startswith(("gguf:", "hf:")) or tok in ("o200k_base", "cl100k_base")):
        raise ValueError(f"unknown tokenizer `{model}` for a raw target (smollm2, o200k_base, cl100k_base, hf:PATH)")
    return Target(name=text, provider=provider, model=model, tokenizer=tok, tokenizer_exact=exact)


@dataclass(frozen=True)
class CacheLimits:
    """How a provider caches: ``mode`` is ``explicit`` (breakpoints), ``automatic`` (prefix, no
    markers) or ``tree`` (the promptc engine: every segment is a node). ``source`` says where the
    numbers come from (``ref date`` or ``pyproject.toml``)."""

    key: str
    min_tokens: int | None
    max_breakpoints: int
    mode: str
    source: str = SOURCE_DATE
    block_size: int | None = None
    lookback: int | None = None


def model_limits(target_name: str) -> ModelLimits | None:
    """The spec row for ``provider/model`` (no project overrides)."""
    spec = SPECS.get(target_name.split("/", 1)[0])
    return None if spec is None else spec.limits(target_name)


def limits_for(target_name: str, overrides: Mapping[str, Mapping] | None = None) -> CacheLimits:
    """The cache limits for ``provider/model``: ``overrides`` (a project's
    ``[tool.promptc.cache_limits]`` table) first, then the provider's spec."""
    row = model_limits(target_name)
    if row is None:
        best = CacheLimits("default", 1024, 0, "automatic")
    else:
        best = CacheLimits(row.key, row.min_tokens, row.max_breakpoints, row.mode, row.source.date,
                           row.block_size, row.lookback)
    over = overrides or {}
    match = max((k for k in over if target_name.startswith(k)), key=len, default=None)
    if match:
        o = over[match]
        best = replace(best, key=match, min_tokens=o.get("min_tokens", best.min_tokens),
                       max_breakpoints=o.get("max_breakpoints", best.max_breakpoints), mode=o.get("mode", best.mode),
                       source="pyproject.toml")
    return best


def _ttl_owner(target_name: str) -> tuple[ProviderSpec, str] | None:
    """(spec, model) whose TTLs apply: an OpenRouter upstream's own provider for non-Anthropic upstreams."""
    provider, _, model = target_name.partition("/")
    spec = SPECS.get(provider)
    if spec is None:
        return None
    up = spec.upstream(model) if spec.upstream is not None else None
    if up is not None and up[0] in SPECS:
        return SPECS[up[0]], up[1]
    return spec, model


def ttl_name(target_name: str, retention: str) -> str | None:
    """The TTL name ``retention`` (``none``/``short``/``long``) buys on ``target_name`` (None: none)."""
    owner = _ttl_owner(target_name)
    return None if owner is None else owner[0].ttl_name(owner[1], retention)


def ttl_seconds(target_name: str, retention: str) -> float | None:
    """Seconds an unused cached prefix lives on ``target_name`` under ``retention`` (None: no TTL)."""
    owner = _ttl_owner(target_name)
    return None if owner is None else owner[0].ttl_seconds(owner[1], retention)


def ttl_lifetime(target_name: str, name: str) -> float | None:
    """Seconds the TTL called ``name`` lasts on ``target_name``'s provider (None: unknown)."""
    owner = _ttl_owner(target_name)
    return None if owner is None else owner[0].ttls.get(name)


__all__ = ["BEDROCK_REGION_PREFIXES", "CacheLimits", "DEFAULT_TARGET", "ESTIMATED_PROVIDERS", "ModelLimits",
           "PROVIDERS", "ProviderSpec", "RAW_JOIN_PROVIDERS", "SOURCE_DATE", "SPECS", "Source", "Target",
           "limits_for", "model_limits", "parse_target", "spec_for", "tokenizer_for", "ttl_lifetime", "ttl_name",
           "ttl_seconds"]
