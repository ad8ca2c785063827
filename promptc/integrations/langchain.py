"""LangChain chat models with promptc's cache placement (``pip install 'promptc[langchain]'``).

:func:`to_langchain` builds the request with the SAME adapter code :class:`~promptc.runtime.client.Client`
uses (through :func:`promptc.runtime.sdk.to_sdk`) and reshapes the wire payload into LangChain
messages, tools and model parameters, so the markers land where the plan put them:

- ``anthropic/*`` with ``langchain-anthropic``: system, message and tool blocks carry their
  ``cache_control`` (TTL included); ``ChatAnthropic`` passes those blocks through unchanged.
- ``openai/*`` with ``langchain-openai``: ``prompt_cache_key`` and ``prompt_cache_options`` go as
  model kwargs; the text parts keep their ``prompt_cache_breakpoint``.

What a framework version does with each field is recorded by tests/integrations/test_langchain.py.
Usage comes back through :meth:`LangChainCall.usage`: the provider's own usage record that LangChain
keeps in ``response_metadata``, read by the adapter's parser (LangChain's ``usage_metadata`` folds
the cache writes of both TTLs into one total, so promptc does not read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.plan import Request
from promptc.runtime.cost import Cost
from promptc.runtime.sdk import SdkCall, to_sdk
from promptc.runtime.usage import Usage

#: the targets this integration maps, and the to_sdk arguments for each (OpenAI: the Chat Completions API)
_SUPPORTED: dict[str, dict[str, Any]] = {"anthropic": {}, "openai": {"api": "chat"}}

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
        """``ChatAnthropic`` / ``ChatOpenAI`` with the plan's parameters (``kwargs``: the client's own,
        e.g. ``base_url``, ``api_key``, ``max_retries``), tools bound when the plan has any."""
        if self.target.startswith("anthropic/"):
            from langchain_anthropic import ChatAnthropic as cls
        else:
            from langchain_openai import ChatOpenAI as cls  # type: ignore[assignment]
        params = dict(self.params)
        extra = dict(params.pop("model_kwargs", {}))
        # a field the model class declares (e.g. ChatOpenAI.prompt_cache_options) goes as that field
        params.update({k: extra.pop(k) for k in list(extra) if k in cls.model_fields})
        if extra:
            params["model_kwargs"] = extra
        chat: Any = cls(**params, **kwargs)
        return chat.bind_tools(self.tools) if self.tools else chat

    def usage(self, message: Any) -> Usage:
        """promptc's :class:`Usage` of an ``AIMessage`` from the provider's usage record."""
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
    """LangChain messages and chat-model parameters for ``request`` on ``target`` (anthropic/* or the
    openai/* Chat Completions API); ``kw`` as for :func:`promptc.runtime.sdk.to_sdk`."""
    try:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    except ImportError:
        raise ImportError("to_langchain needs LangChain: pip install 'promptc[langchain]'") from None

    provider = target.split("/", 1)[0]
    if provider not in _SUPPORTED:
        raise ValueError(f"to_langchain supports anthropic/* and openai/* targets, not {target!r}")
    call = to_sdk(request, target, **_SUPPORTED[provider], **kw)
    payload = call.kwargs
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
