"""Provider adapters: one module per provider behind :class:`~promptc.runtime.providers.base.Adapter`.

:data:`ADAPTERS` maps ``provider`` (or ``provider:api``) to its adapter class; part 2 of the
provider runtime adds Gemini, Kimi, DeepSeek, Bedrock, OpenRouter and vLLM/SGLang here.
"""

from __future__ import annotations

from promptc.runtime.errors import RuntimeConfigError
from promptc.runtime.providers.anthropic import AnthropicAdapter
from promptc.runtime.providers.base import Adapter
from promptc.runtime.providers.deepseek import DeepSeekAdapter
from promptc.runtime.providers.bedrock import BedrockAdapter
from promptc.runtime.providers.engine import EngineAdapter
from promptc.runtime.providers.gemini import GeminiAdapter
from promptc.runtime.providers.moonshot import MoonshotAdapter
from promptc.runtime.providers.openai import OpenAIChatAdapter, OpenAIResponsesAdapter
from promptc.runtime.providers.selfhosted import SGLangAdapter, VLLMAdapter
from promptc.runtime.providers.openrouter import OpenRouterAdapter
from promptc.runtime.providers.zai import ZaiAdapter
from promptc.runtime.providers.dashscope import DashScopeAdapter
from promptc.runtime.providers.minimax import MiniMaxAdapter
from promptc.runtime.providers.xai import XaiAdapter
from promptc.runtime.providers.mistral import MistralAdapter
from promptc.runtime.providers.vertex import VertexAnthropicAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "anthropic": AnthropicAdapter,
    "openai": OpenAIChatAdapter,
    "openai:chat": OpenAIChatAdapter,
    "openai:responses": OpenAIResponsesAdapter,
    "engine": EngineAdapter,
    "vllm": VLLMAdapter,
    "sglang": SGLangAdapter,
    "gemini": GeminiAdapter,
    "moonshot": MoonshotAdapter,
    "deepseek": DeepSeekAdapter,
    "bedrock": BedrockAdapter,
    "openrouter": OpenRouterAdapter,
    "zai": ZaiAdapter,
    "dashscope": DashScopeAdapter,
    "minimax": MiniMaxAdapter,
    "xai": XaiAdapter,
    "mistral": MistralAdapter,
    "vertex": VertexAnthropicAdapter,
}


def adapter_for(provider: str, api: str | None = None) -> Adapter:
    """The adapter for ``provider`` (and ``api`` where a provider has several); E507 when there is none."""
    key = f"{provider}:{api}" if api else provider
    cls = ADAPTERS.get(key)
    if cls is None:
        known = ", ".join(sorted(ADAPTERS))
        raise RuntimeConfigError(f"error[E507]: no runtime adapter for `{key}` yet (available: {known}); "
                                 "the engine target runs with `promptc run --engine/--embedded`")
    return cls()


__all__ = ["ADAPTERS", "Adapter", "adapter_for"]
