"""LangChain chat models with promptc's cache placement (``pip install 'promptc[langchain]'``).

:func:`to_langchain` builds the request with the SAME adapter code :class:`~promptc.runtime.client.Client`
uses (through :func:`promptc.runtime.sdk.to_sdk`) and reshapes the wire payload into LangChain
messages, tools and model parameters, so the markers land where the plan put them:

- ``anthropic/*`` with ``langchain-anthropic``: system, message and tool blocks carry their
  ``cache_control`` (TTL included); ``ChatAnthropic`` passes those blocks through unchanged.
- ``openai/*`` with ``langchain-openai``: ``prompt_cache_key`` and ``prompt_cache_options`` go as
  model kwargs; the text parts keep their ``prompt_cache_breakpoint``.
- ``bedrock/*`` with ``langchain-aws`` (``ChatBedrockConverse``): the Converse text blocks as LangChain text
  blocks and the ``cachePoint`` blocks (and the tools' ``toolSpec``/``cachePoint`` entries) as they are, which
  ChatBedrockConverse passes through to botocore unchanged.
- ``gemini/*`` is refused: langchain-google-genai requires google-genai < 3 (see docs/integrations/langchain.md).

What a framework version does with each field is recorded by tests/integrations/test_langchain.py.
Usage comes back through :meth:`LangChainCall.usage`: the provider's own usage record that LangChain
keeps in ``response_metadata``, read by the adapter's parser (LangChain's ``usage_metadata`` folds
the cache writes of both TTLs into one total, so promptc does not read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.integrations import require
from promptc.plan import Request
from promptc.runtime.cost import Cost
from promptc.runtime.sdk import SdkCall, to_sdk
from promptc.runtime.usage import Usage

#: the targets this integration maps, and the to_sdk arguments for each (OpenAI: the Chat Completions API)
_SUPPORTED: dict[str, dict[str, Any]] = {"anthropic": {}, "openai": {"api": "chat"}, "bedrock": {}}
#: why a provider has no LangChain mapping (said in the error)
_UNSUPPORTED_WHY = {"gemini": " (langchain-google-genai requires google-genai < 3; use to_litellm or "
                              "promptc.runtime.sdk.to_gemini)"}

#: provider → (module, chat model class, distribution) of the LangChain chat model that sends it
_MODELS = {"anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
           "openai": ("langchain_openai", "ChatOpenAI", "langchain-openai"),
           "bedrock": ("langchain_aws", "ChatBedrockConverse", "langchain-aws")}

#: the payload keys that become LangChain messages/tools rather than model parameters
_SHAPED = {"system", "messages", "tools", "model", "max_tokens", "extra_headers"}


@dataclass(frozen=True)
class LangChainCall:
    """Messages, tools and chat-model parameters for one request; ``model()`` makes the chat model."""

    target: str
    messages: list[Any]
    tools: list[dict[str, Any]]
    params: dict[str, Any]
    sdk: SdkCall = field(repr=False)

    def model(self, **kwargs: Any) -> Any:
        """``ChatAnthropic`` / ``ChatOpenAI`` / ``ChatBedrockConverse`` with the plan's parameters (``kwargs``:
        the client's own, e.g. ``base_url``, ``api_key``, ``max_retries``; Bedrock: ``endpoint_url``,
        ``region_name``, credentials), tools bound when the plan has any."""
        module, name, package = _MODELS[self.target.split("/", 1)[0]]
        cls = getattr(require(module, f"LangChainCall.model() for {self.target}", "langchain", package), name)
        params = dict(self.params)
        extra = dict(params.pop("model_kwargs", {}))
        # a field the model class declares (e.g. ChatOpenAI.prompt_cache_options) goes as that field
        params.update({k: extra.pop(k) for k in list(extra) if k in cls.model_fields})
        if extra:
            params["model_kwargs"] = extra
        chat: Any = cls(**params, **kwargs)
        return chat.bind_tools(self.tools) if self.tools else chat

    def usage(self, message: Any) -> Usage:
        """promptc's :class:`Usage` of an ``AIMessage`` from the provider's usage record (Bedrock: rebuilt from
        ``usage_metadata``, where langchain-aws moves it, keeping the cache reads and the per-TTL writes)."""
        if self.target.startswith("bedrock/"):
            return self.sdk.usage({"output": {"message": {"content": []}}, "usage": _converse_usage(message)})
        meta = getattr(message, "response_metadata", None) or {}
        raw = meta.get("usage") or meta.get("token_usage")
        if not isinstance(raw, dict):
            raise ValueError("the message carries no provider usage record (response_metadata['usage'])")
        body = {"content": [], "usage": raw} if self.target.startswith("anthropic/") else \
            {"choices": [{"message": {"content": ""}}], "usage": raw}
        return self.sdk.usage(body)

    def cost(self, message: Any) -> Cost | None:
        return self.sdk.cost_of(self.usage(message))


def to_langchain(request: Request, target: str = "anthropic/claude-sonnet-4-5", **kw: Any) -> LangChainCall:
    """LangChain messages and chat-model parameters for ``request`` on ``target`` (anthropic/*, the openai/* Chat
    Completions API, or bedrock/* Converse); ``kw`` as for :func:`promptc.runtime.sdk.to_sdk`."""
    messages_mod = require("langchain_core.messages", "to_langchain", "langchain", "langchain-core")
    AIMessage, HumanMessage, SystemMessage = (messages_mod.AIMessage, messages_mod.HumanMessage,
                                              messages_mod.SystemMessage)

    provider = target.split("/", 1)[0]
    if provider not in _SUPPORTED:
        why = _UNSUPPORTED_WHY.get(provider, "")
        raise ValueError(f"to_langchain supports anthropic/*, openai/* and bedrock/* targets, not {target!r}{why}")
    call = to_sdk(request, target, **_SUPPORTED[provider], **kw)
    payload = call.kwargs
    if call.sdk.startswith("bedrock-runtime."):
        return _from_converse(call, SystemMessage, HumanMessage, AIMessage)
    messages: list[Any] = []
    if payload.get("system"):  # Anthropic's top-level system blocks
        messages.append(SystemMessage(content=payload["system"]))
    for m in payload["messages"]:
        cls = {"system": SystemMessage, "developer": SystemMessage, "user": HumanMessage,
               "assistant": AIMessage}[m["role"]]
        messages.append(cls(content=m["content"]))
    tools = list(payload.get("tools") or [])
    params: dict[str, Any] = {"model": payload["model"]}
    if "max_tokens" in payload:
        params["max_tokens"] = payload["max_tokens"]
    if "max_completion_tokens" in payload:
        params["max_completion_tokens"] = payload["max_completion_tokens"]
    rest = {k: v for k, v in payload.items() if k not in _SHAPED | {"max_completion_tokens"}}
    if "temperature" in rest:
        params["temperature"] = rest.pop("temperature")
    if rest:
        params["model_kwargs"] = rest
    if payload.get("extra_headers"):
        params["default_headers"] = dict(payload["extra_headers"])
    return LangChainCall(call.target, messages, tools, params, call)


def _converse_usage(message: Any) -> dict[str, Any]:
    """The Converse usage record langchain-aws 1.9 folded into ``usage_metadata``: its ``input_tokens`` adds the
    cache reads and writes to Converse's exclusive ``inputTokens``; a ``cacheDetails`` split becomes
    ``ephemeral_<ttl>_input_tokens`` (and ``cache_creation`` is then 0)."""
    meta = getattr(message, "usage_metadata", None)
    if not meta:
        raise ValueError("the message carries no usage record (usage_metadata)")
    d = dict(meta.get("input_token_details") or {})
    split = {ttl: d.get(f"ephemeral_{ttl}_input_tokens") or 0 for ttl in ("5m", "1h")}
    read, write = d.get("cache_read") or 0, (d.get("cache_creation") or 0) + sum(split.values())
    u: dict[str, Any] = {"inputTokens": meta["input_tokens"] - read - write, "outputTokens": meta["output_tokens"],
                         "cacheReadInputTokens": read, "cacheWriteInputTokens": write}
    if any(split.values()):
        u["cacheDetails"] = [{"ttl": ttl, "inputTokens": n} for ttl, n in split.items() if n]
    return u


def _blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Converse content blocks as LangChain content: text blocks as ``{"type": "text"}``, the ``cachePoint``
    blocks unchanged (ChatBedrockConverse passes native Converse blocks through)."""
    out: list[dict[str, Any]] = []
    for b in blocks:
        if "text" in b and len(b) == 1:
            out.append({"type": "text", "text": b["text"]})
        elif "cachePoint" in b:
            out.append({"cachePoint": dict(b["cachePoint"])})
        else:
            raise ValueError(f"to_langchain maps Converse text and cachePoint blocks, not {sorted(b)}")
    return out


def _from_converse(call: SdkCall, system_cls: Any, human_cls: Any, ai_cls: Any) -> LangChainCall:
    """``ChatBedrockConverse`` messages, tools and parameters for a Converse payload (``bedrock/*``)."""
    p = call.kwargs
    messages: list[Any] = [system_cls(content=_blocks(p["system"]))] if p.get("system") else []
    for m in p["messages"]:
        messages.append({"user": human_cls, "assistant": ai_cls}[m["role"]](content=_blocks(m["content"])))
    # toolSpec / cachePoint entries as they are: bind_tools passes Converse tool entries through
    tools = [dict(t) for t in (p.get("toolConfig") or {}).get("tools", [])]
    params: dict[str, Any] = {"model": p["modelId"]}
    inference = dict(p.get("inferenceConfig") or {})
    for ours, theirs in (("maxTokens", "max_tokens"), ("temperature", "temperature")):
        if ours in inference:
            params[theirs] = inference.pop(ours)
    rest = sorted(set(p) - {"modelId", "system", "messages", "toolConfig", "inferenceConfig"}) + sorted(inference)
    if rest:
        raise ValueError(f"to_langchain cannot carry the Converse fields {rest} through ChatBedrockConverse")
    return LangChainCall(call.target, messages, tools, params, call)
