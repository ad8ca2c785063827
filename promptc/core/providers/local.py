"""promptc's own targets: the embedded engine (a KV tree over segments) and raw completion endpoints."""

from __future__ import annotations

from promptc.core.providers.spec import ModelLimits, ProviderSpec, Source

OWN = Source("promptc/engine", "2026-12", "the engine caches every segment as a tree node")

ENGINE = ProviderSpec(
    name="engine",
    render=("plan",),
    tokenizer=lambda model: ("gguf:smollm2", True),
    counts_chat_template=True,
    env_key="PROMPTC_API_KEY",
    base_url_env="PROMPTC_ENGINE_URL",
    default_base_url="http://127.0.0.1:8000/v1",
    usage="inclusive",
    models=(ModelLimits("engine/", 1, 0, "tree", OWN),),
    sources={"render": OWN, "limits": OWN, "tokenizer": OWN},
)


def _raw_tokenizer(model: str) -> tuple[str, bool]:
    return ("gguf:smollm2", True) if model == "smollm2" else (model, True)


RAW_SOURCE = Source("promptc", "2026-12", "a completion endpoint sees the segments concatenated in plan order")

RAW = ProviderSpec(
    name="raw",
    render=("plan",),
    tokenizer=_raw_tokenizer,
    usage="inclusive",
    models=(ModelLimits("raw/", None, 0, "automatic", RAW_SOURCE),),
    sources={"render": RAW_SOURCE, "limits": RAW_SOURCE, "tokenizer": RAW_SOURCE},
)

#: this module's providers (the registry discovers them)
SPECS = (ENGINE, RAW)
