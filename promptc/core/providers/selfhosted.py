"""Self-hosted engine facts: vLLM and SGLang (OpenAI-compatible servers with prefix caching)."""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

VLLM_DOCS = "https://docs.vllm.ai/en/latest/design/prefix_caching.html"
SGLANG_DOCS = "https://docs.sglang.ai/advanced_features/hicache_design.html"


def _tokenizer(model: str) -> tuple[str, bool]:
    if "smollm2" in model.lower():
        return "gguf:smollm2", True
    return "o200k_base", False


def _spec(name: str, docs: str, env: str, url: str, minimum: int) -> ProviderSpec:
    limits = Source(docs, "2026-10", f"prefix caching in full blocks ({minimum} tokens)")
    return ProviderSpec(
        name=name,
        render=("tools", "system", "messages"),
        tokenizer=_tokenizer,
        raw_join=True,
        env_key=f"{name.upper()}_API_KEY",
        base_url_env=env,
        default_base_url=url,
        usage="inclusive",
        ttls={},  # memory-bound (LRU): no TTL to beat
        models=(ModelLimits(f"{name}/", minimum, 0, "automatic", limits, block_size=minimum),),
        sources={
            "render": Source("docs/reference/provider-caching.md §8", "2026-10",
                             "the model's chat template renders tools first"),
            "limits": limits,
            "ttls": Source(docs, "2026-10", "entries evicted by LRU when memory runs out"),
            "usage": Source(docs, "2026-10", "prompt_tokens_details.cached_tokens (flag-gated)"),
            "env": Source("promptc", "2026-10", f"{name.upper()}_API_KEY, {env}"),
            "tokenizer": Source("promptc", "2026-10", "SmolLM2 models exact; others o200k_base proxy"),
        },
    )


VLLM = _spec("vllm", VLLM_DOCS, "VLLM_BASE_URL", "http://127.0.0.1:8000/v1", 16)
SGLANG = _spec("sglang", SGLANG_DOCS, "SGLANG_BASE_URL", "http://127.0.0.1:30000/v1", 16)

#: this module's providers (the registry discovers them)
SPECS = (VLLM, SGLANG)
