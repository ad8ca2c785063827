"""LiteLLM ``completion(**kwargs)`` with promptc's cache placement (``pip install 'promptc[litellm]'``).

LiteLLM takes OpenAI-format messages for every provider and translates them; :func:`to_litellm` builds
the request with the SAME adapter code :class:`~promptc.runtime.client.Client` uses and writes it in
that format:

- ``anthropic/*``: the Anthropic payload's blocks become OpenAI content parts that keep their
  ``cache_control`` (LiteLLM's documented prompt-caching format: on system/user/assistant content
  parts and on tools), which LiteLLM translates back into Anthropic blocks.
- ``openai/*``: the Chat Completions payload as is (messages, ``prompt_cache_key``, ...).
- ``bedrock/*`` (LiteLLM's ``bedrock/converse/`` route): the Converse payload's text blocks become content
  parts, and a ``cachePoint`` block becomes ``cache_control`` on the part (or tool) before it, which
  LiteLLM translates back into a ``cachePoint`` (with ``ttl`` written out).
- ``gemini/*`` (Google AI Studio): the ``systemInstruction`` parts, ``contents`` and function declarations
  in OpenAI form; Gemini caches implicitly, so there is no marker to carry, only the bytes of the prefix.
  Point it at a base URL with ``api_base=".../v1beta"``.

What the pinned LiteLLM version does with each field is recorded in tests/integrations/test_litellm.py.
Usage comes back through :meth:`LiteLLMCall.usage`, from the usage record of LiteLLM's response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.plan import Request
from promptc.runtime.cost import Cost
from promptc.runtime.sdk import SdkCall, to_sdk
from promptc.runtime.usage import Usage

#: the targets this integration maps, and the to_sdk arguments for each (OpenAI: the Chat Completions API)
_SUPPORTED: dict[str, dict[str, Any]] = {"anthropic": {}, "openai": {"api": "chat"}, "bedrock": {}, "gemini": {}}


@dataclass(frozen=True)
class LiteLLMCall:
    """``litellm.completion(**call.kwargs, api_base=..., api_key=...)`` and the reply's usage back."""

    target: str
    kwargs: dict[str, Any]
    sdk: SdkCall = field(repr=False)

    def usage(self, response: Any) -> Usage:
        """promptc's :class:`Usage` of a LiteLLM ``ModelResponse``. For anthropic/* the counts are read
        from LiteLLM's OpenAI-shaped usage (``prompt_tokens`` includes cached tokens; cache writes in
        ``cache_creation_input_tokens``, split by TTL in ``prompt_tokens_details.cache_creation_token_details``;
        without that split they are booked at the TTL promptc sent)."""
        u = _plain(getattr(response, "usage", None) or response.get("usage"))
        shape = self.sdk.sdk  # the wire API the call was made for, not the provider's name
        if shape.startswith("openai."):
            return self.sdk.usage({"choices": [{"message": {"content": ""}}], "usage": u})
        if shape.startswith("google-genai."):  # LiteLLM's prompt_tokens is Gemini's promptTokenCount (cached included)
            cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            meta = {"promptTokenCount": u.get("prompt_tokens") or 0,
                    "candidatesTokenCount": u.get("completion_tokens") or 0}
            if cached:
                meta["cachedContentTokenCount"] = cached
            return self.sdk.usage({"candidates": [], "usageMetadata": meta})
        if shape.startswith("bedrock-runtime."):  # Converse usage is exclusive: inputTokens leaves the cache out
            read = u.get("cache_read_input_tokens") or 0
            write = u.get("cache_creation_input_tokens") or 0
            raw_b = {"inputTokens": (u.get("prompt_tokens") or 0) - read - write,
                     "outputTokens": u.get("completion_tokens") or 0,
                     "cacheReadInputTokens": read, "cacheWriteInputTokens": write}
            return self.sdk.usage({"output": {"message": {"content": []}}, "usage": raw_b})
        details = u.get("prompt_tokens_details") or {}
        read = details.get("cached_tokens") or u.get("cache_read_input_tokens") or 0
        write = u.get("cache_creation_input_tokens") or 0
        uncached = (u.get("prompt_tokens") or 0) - read - write
        split = details.get("cache_creation_token_details") or {}
        by_ttl = {k: split.get(k) or 0 for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")}
        if sum(by_ttl.values()) != write:  # no TTL split reported: the TTL promptc asked for
            ttl = "1h" if any(m.long for m in self.sdk.marks) else "5m"
            by_ttl = {f"ephemeral_{ttl}_input_tokens": write}
        raw = {"input_tokens": uncached, "output_tokens": u.get("completion_tokens") or 0,
               "cache_read_input_tokens": read, "cache_creation_input_tokens": write, "cache_creation": by_ttl}
        return self.sdk.usage({"content": [], "usage": raw})

    def cost(self, response: Any) -> Cost | None:
        return self.sdk.cost_of(self.usage(response))


def _plain(u: Any) -> dict[str, Any]:
    if isinstance(u, dict):
        return u
    dump = getattr(u, "model_dump", None)
    return dump() if dump else dict(u)


def to_litellm(request: Request, target: str = "anthropic/claude-sonnet-4-5", **kw: Any) -> LiteLLMCall:
    """``litellm.completion`` kwargs for ``request`` on ``target`` (anthropic/*, openai/* Chat Completions,
    bedrock/* Converse or gemini/*); ``kw`` as for :func:`promptc.runtime.sdk.to_sdk`."""
    provider = target.split("/", 1)[0]
    if provider not in _SUPPORTED:
        raise ValueError(f"to_litellm supports anthropic/*, openai/*, bedrock/* and gemini/* targets, not {target!r}")
    call = to_sdk(request, target, **_SUPPORTED[provider], **kw)
    p = {k: v for k, v in call.kwargs.items() if k != "extra_headers"}
    if call.sdk.startswith("bedrock-runtime."):
        kwargs = _from_converse(p, call.kwargs["modelId"])
    elif call.sdk.startswith("google-genai."):
        kwargs = _from_gemini(p, target)
    elif call.sdk.startswith("openai."):  # Chat Completions, as LiteLLM takes it
        kwargs = {**p, "model": target}
    else:
        messages: list[dict[str, Any]] = []
        if p.get("system"):
            messages.append({"role": "system", "content": [dict(b) for b in p["system"]]})
        for m in p["messages"]:
            content = m["content"] if isinstance(m["content"], str) else [dict(b) for b in m["content"]]
            messages.append({"role": m["role"], "content": content})
        kwargs = {"model": target, "messages": messages, "max_tokens": p["max_tokens"]}
        if p.get("tools"):
            kwargs["tools"] = [{"type": "function", **({"cache_control": t["cache_control"]} if "cache_control" in t
                                                        else {}),
                                "function": {"name": t["name"], "description": t.get("description", ""),
                                             "parameters": t["input_schema"]}} for t in p["tools"]]
        kwargs.update({k: v for k, v in p.items() if k not in ("system", "messages", "tools", "max_tokens", "model")})
    if call.kwargs.get("extra_headers"):
        kwargs["extra_headers"] = dict(call.kwargs["extra_headers"])
    return LiteLLMCall(call.target, kwargs, call)


def _marked_parts(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Converse text blocks as OpenAI text parts; a ``cachePoint`` marks the part before it (``cache_control``,
    the form LiteLLM turns back into a ``cachePoint``)."""
    parts: list[dict[str, Any]] = []
    for b in blocks:
        if "cachePoint" in b:
            if not parts:
                raise ValueError("a cachePoint with no block before it")
            ttl = b["cachePoint"].get("ttl")
            parts[-1]["cache_control"] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
        elif "text" in b:
            parts.append({"type": "text", "text": b["text"]})
        else:
            raise ValueError(f"to_litellm maps Converse text blocks, not {sorted(b)}")
    return parts


def _from_converse(p: dict[str, Any], model_id: str) -> dict[str, Any]:
    """LiteLLM kwargs for a Bedrock Converse payload (its ``bedrock/converse/`` route)."""
    messages: list[dict[str, Any]] = []
    if p.get("system"):
        messages.append({"role": "system", "content": _marked_parts(p["system"])})
    for m in p["messages"]:
        messages.append({"role": m["role"], "content": _marked_parts(m["content"])})
    kwargs: dict[str, Any] = {"model": f"bedrock/converse/{model_id}", "messages": messages}
    tools: list[dict[str, Any]] = []
    for t in (p.get("toolConfig") or {}).get("tools", []):
        if "cachePoint" in t:
            tools[-1]["cache_control"] = {"type": "ephemeral", **({"ttl": t["cachePoint"]["ttl"]}
                                                                   if t["cachePoint"].get("ttl") else {})}
        else:
            spec = t["toolSpec"]
            tools.append({"type": "function", "function": {"name": spec["name"], "description": spec.get("description",
                                                                                                          ""),
                                                           "parameters": spec["inputSchema"]["json"]}})
    if tools:
        kwargs["tools"] = tools
    inference = dict(p.get("inferenceConfig") or {})
    for ours, theirs in (("maxTokens", "max_tokens"), ("temperature", "temperature")):
        if ours in inference:
            kwargs[theirs] = inference.pop(ours)
    rest = sorted(set(p) - {"system", "messages", "toolConfig", "inferenceConfig", "modelId"}) + sorted(inference)
    if rest:
        raise ValueError(f"to_litellm cannot carry the Converse fields {rest} through LiteLLM")
    return kwargs


def _from_gemini(p: dict[str, Any], target: str) -> dict[str, Any]:
    """LiteLLM kwargs for a google-genai ``generate_content`` call (Gemini: implicit caching, no markers)."""
    cfg = dict(p.get("config") or {})
    messages: list[dict[str, Any]] = []
    system = cfg.pop("systemInstruction", None)
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": x["text"]} for x in system["parts"]]})
    for c in p["contents"]:
        messages.append({"role": "assistant" if c.get("role") == "model" else "user",
                         "content": [{"type": "text", "text": x["text"]} for x in c["parts"]]})
    kwargs: dict[str, Any] = {"model": target, "messages": messages}
    tools = [{"type": "function", "function": {"name": f["name"], "description": f.get("description", ""),
                                               "parameters": f.get("parametersJsonSchema") or f.get("parameters")}}
             for t in cfg.pop("tools", []) for f in t.get("functionDeclarations", [])]
    if tools:
        kwargs["tools"] = tools
    for ours, theirs in (("maxOutputTokens", "max_tokens"), ("temperature", "temperature")):
        if ours in cfg:
            kwargs[theirs] = cfg.pop(ours)
    if cfg:
        raise ValueError(f"to_litellm cannot carry the Gemini fields {sorted(cfg)} through LiteLLM")
    return kwargs
