"""Targets: ``provider/model`` strings → provider, model and the tokenizer that counts for them."""

from __future__ import annotations

from promptc.plan import Target

#: The embedded engine's default model.
DEFAULT_TARGET = "engine/smollm2"

PROVIDERS = ("engine", "raw", "openai", "anthropic", "gemini", "moonshot", "bedrock", "deepseek", "openrouter", "vllm",
             "sglang")

#: Providers whose tokenizer is not public: token counts are estimates through a named proxy.
_ESTIMATED = {"anthropic", "gemini", "bedrock", "moonshot", "deepseek", "openrouter"}


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
    return "o200k_base", provider not in _ESTIMATED and provider not in ("vllm", "sglang")


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
