"""The provider table, in one place: targets, their tokenizers, prompt-cache limits, raw-join providers.

A target is ``provider/model``. Each provider has a tokenizer that counts for it (exact or a named
proxy), cache limits per model family (minimum cacheable tokens, maximum breakpoints, mode), and a
flag saying whether it packs consecutive same-role segments into one text (so that boundary is a
raw text join that must be proven token-stable).

Cache limits source: the provider documentation summarised in the project's reference notes
(dated 2026-02 to 2026-10). These values change between doc versions; override them per project in
``pyproject.toml``::

    [tool.promptc.cache_limits."anthropic/claude-opus-4-8"]
    min_tokens = 1024
    max_breakpoints = 4

Keys are ``provider/model-prefix``; the longest matching prefix wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field

SOURCE_DATE = "2026-10"

#: The embedded engine's default model.
DEFAULT_TARGET = "engine/smollm2"

PROVIDERS = ("engine", "raw", "openai", "anthropic", "gemini", "moonshot", "bedrock", "deepseek", "openrouter", "vllm",
             "sglang")

#: Providers whose tokenizer is not public: token counts are estimates through a named proxy.
ESTIMATED_PROVIDERS = frozenset({"anthropic", "gemini", "bedrock", "moonshot", "deepseek", "openrouter"})

#: Providers that pack consecutive same-role segments into one message (system blocks, content
#: blocks, parts; vLLM/SGLang: the adapter joins a run's texts into one string) whose texts the
#: model sees concatenated: those boundaries are raw text joins.
RAW_JOIN_PROVIDERS = frozenset({"anthropic", "bedrock", "gemini", "vllm", "sglang"})


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
    if provider == "raw":
        if model == "smollm2":
            return "gguf:smollm2", True
        return model, True
    if provider == "engine" or (provider in ("vllm", "sglang") and "smollm2" in model.lower()):
        return "gguf:smollm2", True
    if provider == "openai":
        m = model.lower()
        if m.startswith(("gpt-4-", "gpt-4o-mini-2023", "gpt-3.5")) or m in ("gpt-4", "gpt-3.5-turbo"):
            return "cl100k_base", True
        return "o200k_base", True
    return "o200k_base", provider not in ESTIMATED_PROVIDERS and provider not in ("vllm", "sglang")


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
    markers) or ``tree`` (the promptc engine: every segment is a node)."""

    key: str
    min_tokens: int | None
    max_breakpoints: int
    mode: str
    source: str = SOURCE_DATE


# (provider/model-prefix, min_tokens, max_breakpoints, mode)
_TABLE: list[tuple[str, int | None, int, str]] = [
    ("engine/", 1, 0, "tree"),
    ("raw/", None, 0, "automatic"),
    ("vllm/", 16, 0, "automatic"),
    ("sglang/", 16, 0, "automatic"),
    ("anthropic/", 1024, 4, "explicit"),
    ("anthropic/claude-fable-5", 512, 4, "explicit"),
    ("anthropic/claude-mythos-5", 512, 4, "explicit"),
    ("anthropic/claude-opus-4-8", 1024, 4, "explicit"),
    ("anthropic/claude-sonnet-5", 1024, 4, "explicit"),
    ("anthropic/claude-sonnet-4", 1024, 4, "explicit"),
    ("anthropic/claude-opus-4-1", 1024, 4, "explicit"),
    ("anthropic/claude-opus-4-7", 2048, 4, "explicit"),
    ("anthropic/claude-mythos-preview", 2048, 4, "explicit"),
    ("anthropic/claude-haiku-3-5", 2048, 4, "explicit"),
    ("anthropic/claude-opus-4-6", 4096, 4, "explicit"),
    ("anthropic/claude-opus-4-5", 4096, 4, "explicit"),
    ("anthropic/claude-haiku-4-5", 4096, 4, "explicit"),
    ("bedrock/", 1024, 4, "explicit"),
    ("bedrock/claude-opus-4-7", 4096, 4, "explicit"),
    ("bedrock/claude-opus-4-6", 4096, 4, "explicit"),
    ("bedrock/claude-opus-4-5", 4096, 4, "explicit"),
    ("bedrock/claude-haiku-4-5", 4096, 4, "explicit"),
    ("bedrock/claude-fable-5", 512, 4, "explicit"),
    ("bedrock/claude-opus-5", 512, 4, "explicit"),
    ("openai/", 1024, 0, "automatic"),
    ("openai/gpt-5.6", 1024, 3, "explicit"),  # 4 writes, one taken by the implicit breakpoint
    ("openai/gpt-5.7", 1024, 3, "explicit"),
    ("gemini/", 2048, 1, "explicit"),
    ("gemini/gemini-3-flash", 1024, 1, "explicit"),
    ("gemini/gemini-3.1-pro", 4096, 1, "explicit"),
    ("gemini/gemini-3.5-flash", 4096, 1, "explicit"),
    ("moonshot/", None, 0, "automatic"),
    ("deepseek/", 64, 0, "automatic"),
    ("openrouter/", 1024, 4, "explicit"),
    # Kimi: automatic prefix caching in blocks (size unpublished; 256 on Kimi Code, unverified); the
    # legacy moonshot-v1 models cache through context-cache objects (≤ 128k tokens each, 1M per user)
    ("moonshot/kimi-k3", None, 0, "automatic"),
    ("moonshot/moonshot-v1", None, 0, "automatic"),
    # DeepSeek: 64-token units (2024 rule); V4 matches whole "cache prefix units" (changes between doc versions)
    ("deepseek/deepseek-v4", None, 0, "automatic"),
    ("bedrock/claude-mythos-5", 512, 4, "explicit"),
    ("bedrock/claude-mythos-preview", 4096, 4, "explicit"),
    # OpenRouter: the upstream's own rules (reference §7): Anthropic breakpoints, Gemini's last marker
    # only, OpenAI's automatic caching (breakpoints from gpt-5.6), Alibaba explicit markers.
    ("openrouter/anthropic/", 1024, 4, "explicit"),
    ("openrouter/anthropic/claude-fable-5", 512, 4, "explicit"),
    ("openrouter/anthropic/claude-opus-4.7", 2048, 4, "explicit"),
    ("openrouter/anthropic/claude-opus-4.6", 4096, 4, "explicit"),
    ("openrouter/anthropic/claude-opus-4.5", 4096, 4, "explicit"),
    ("openrouter/anthropic/claude-haiku-4.5", 4096, 4, "explicit"),
    ("openrouter/google/", 2048, 1, "explicit"),
    ("openrouter/openai/", 1024, 0, "automatic"),
    ("openrouter/openai/gpt-5.6", 1024, 3, "explicit"),
    ("openrouter/openai/gpt-5.7", 1024, 3, "explicit"),
    ("openrouter/qwen/", 1024, 4, "explicit"),  # Alibaba; minimum unverified
    ("openrouter/deepseek/", 64, 0, "automatic"),
    ("openrouter/moonshotai/", None, 0, "automatic"),
]

#: Bedrock model ids (``anthropic.claude-...``) and cross-region inference profiles
#: (``us.anthropic.claude-...``) get the limits of the family rows above.
BEDROCK_REGION_PREFIXES = ("", "us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")
_TABLE += [(f"bedrock/{region}anthropic.{key[len('bedrock/'):]}", mn, mx, mode)
           for region in BEDROCK_REGION_PREFIXES for key, mn, mx, mode in list(_TABLE)
           if key.startswith("bedrock/claude-")]


def limits_for(target_name: str, overrides: Mapping[str, Mapping] | None = None) -> CacheLimits:
    """The cache limits for ``provider/model``: ``overrides`` (a project's
    ``[tool.promptc.cache_limits]`` table) first, then the built-in table."""
    best = None
    for key, mn, mx, mode in _TABLE:
        if target_name.startswith(key) and (best is None or len(key) > len(best.key)):
            best = CacheLimits(key, mn, mx, mode)
    if best is None:
        best = CacheLimits("default", 1024, 0, "automatic")
    over = overrides or {}
    match = max((k for k in over if target_name.startswith(k)), key=len, default=None)
    if match:
        o = over[match]
        best = replace(best, key=match, min_tokens=o.get("min_tokens", best.min_tokens),
                       max_breakpoints=o.get("max_breakpoints", best.max_breakpoints), mode=o.get("mode", best.mode),
                       source="pyproject.toml")
    return best
