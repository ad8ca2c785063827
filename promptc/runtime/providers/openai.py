"""OpenAI Chat Completions (``POST /v1/chat/completions``) and Responses (``POST /v1/responses``).

- Tools segments become function tool definitions; every other run of consecutive same-role
  segments becomes one message whose content is one text part per segment (OpenAI concatenates
  parts), so segment bytes go out unchanged and a breakpoint can sit between two of them.
- ``prompt_cache_key`` is derived from the prefix the plans share (the last static ``global``
  segment's ``prefix_hash``) plus the tenant: agents built on one shared block route to the same
  cache and read each other's copy of it. ``[tool.promptc.providers.openai] cache_key_scope = "plan"``
  keys on each plan's whole static prefix instead (one key per agent: for fleets whose shared key
  would exceed OpenAI's ~15 requests/minute per key).
- Retention: see :mod:`promptc.runtime.retention` (``prompt_cache_retention`` before gpt-5.6,
  ``prompt_cache_options`` from gpt-5.6).
- On models with explicit breakpoints (gpt-5.6 and later: ``mode = "explicit"`` in
  :mod:`promptc.core.providers`) ``prompt_cache_breakpoint: {"mode": "explicit"}`` goes on the text
  part ending each placed breakpoint. A plan with a growing history uses ``mode: implicit`` (the
  automatic breakpoint on the newest message is what the next turn reads; at most 3 explicit ones);
  a plan without one uses ``mode: explicit`` (at most 4, and the never-repeated turn is not written).
- Usage is inclusive (``prompt_tokens`` counts cached and written tokens); it is normalized.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.errors import ProviderError, RetentionError, RuntimeSettingError, StreamInterrupted
from promptc.runtime.layout import Mark, candidates, in_render_order, place
from promptc.runtime.providers.base import (Adapter, BuildContext, CallOptions, Completion, StreamEvent, StreamState,
                                            WireCall, runs)
from promptc.runtime.usage import from_openai_chat, from_openai_responses

#: Models that accept ``prompt_cache_retention: "24h"``; the gpt-5.5 family accepts only that.
_RETAIN_24H = ("gpt-5.5", "gpt-5.4", "gpt-5.2", "gpt-5.1", "gpt-5-codex", "gpt-5", "gpt-4.1")
_ONLY_24H = ("gpt-5.5",)


#: What a cache/affinity key is derived from: ``"shared"`` = the prefix the plans share (the last
#: static segment of level ``global``), so agents built on one shared block route together and read
#: each other's cached copy of it; ``"plan"`` = the plan's whole static prefix (one key per agent).
KEY_SCOPES = ("shared", "plan")


def cache_key(request: Request, tenant: str | None, scope: str = "plan") -> str:
    """An affinity key for ``request``: a stable prefix hash plus the tenant, ``head:digest``, ≤ 57 chars.

    ``scope`` (:data:`KEY_SCOPES`) picks the prefix; ``"shared"`` falls back to ``"plan"`` for a plan
    without a static global segment. OpenAI's ``prompt_cache_key``, Kimi's, OpenRouter's
    ``session_id`` and the self-hosted routing keys are all this key.
    """
    segs = request.segments
    anchor = None
    if scope == "shared":
        anchor = next((s for s in reversed(segs) if s.stability == "static" and s.level == "global"), None)
    if anchor is None:
        anchor = next((s for s in reversed(segs) if s.stability == "static"), segs[0] if segs else None)
    prefix = anchor.prefix_hash if anchor else ""
    digest = hashlib.sha256(f"{tenant or ''}\n{prefix}".encode()).hexdigest()[:32]
    head = (tenant or "promptc")[:24]
    return f"{head}:{digest}"


def breakpoint_field(retention: str) -> dict[str, Any]:
    """``prompt_cache_breakpoint`` of a marked part on gpt-5.6+: ``long`` asks for the 12h lifetime there."""
    return {"mode": "explicit", "ttl": "12h"} if retention == "long" else {"mode": "explicit"}


def retention_fields(model: str, retention: str, explicit: bool, implicit: bool = True, *,
                     openrouter: bool = False) -> dict[str, Any]:
    """The request fields for a retention on ``model``; E504 when the model cannot honour it.

    From gpt-5.6 (``explicit``), ``implicit`` keeps the automatic breakpoint on the newest message
    (worth it when the plan has a growing history the next turn re-reads); without one the mode is
    ``explicit``: only the plan's breakpoints write, and a turn that never repeats is not written."""
    m = model.lower()
    if explicit:  # gpt-5.6+: a 30m minimum TTL; "none" = explicit mode without breakpoints
        if retention == "none":
            return {"prompt_cache_options": {"mode": "explicit"}}
        # `long` is the 12h lifetime: on each breakpoint (:func:`breakpoint_field`), since the request-level
        # `prompt_cache_options.ttl` of Chat Completions takes "30m" only (openai SDK 3.63 types,
        # PromptCacheOptions / PromptCacheBreakpoint, read 2026-12); never the deprecated
        # `prompt_cache_retention` (a maximum, not a lifetime)
        if openrouter:
            # OpenRouter's type (openrouter SDK 1.3 PromptCacheOptions) takes mode "explicit" only and a
            # request-level ttl of "30m" or "12h"; the implicit breakpoint is OpenAI's default (no options)
            if implicit and retention == "short":
                return {}
            return {"prompt_cache_options": {"mode": "explicit", "ttl": "12h" if retention == "long" else "30m"}}
        return {"prompt_cache_options": {"mode": "implicit" if implicit else "explicit", "ttl": "30m"}}
    if retention == "none":
        return {}
    if retention == "short":
        if m.startswith(_ONLY_24H):
            raise RetentionError(f"error[E504]: openai/{model} keeps prompt caches for 24h only; cacheRetention "
                                 "`short` is not available (use long or none)")
        return {"prompt_cache_retention": "in_memory"}
    if not m.startswith(_RETAIN_24H):
        raise RetentionError(f"error[E504]: openai/{model} does not offer extended (24h) prompt-cache retention; "
                             "cacheRetention `long` is not available (use short or none)")
    return {"prompt_cache_retention": "24h"}


class _OpenAIBase(Adapter):
    provider = "openai"
    env_key = SPECS["openai"].env_key
    base_url_env = SPECS["openai"].base_url_env
    default_base_url = SPECS["openai"].default_base_url
    part_type = "text"
    #: ``prompt_cache_key`` scope (:data:`KEY_SCOPES`); ``[tool.promptc.providers.openai] cache_key_scope``
    key_scope = "shared"

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def configured(self, settings: dict[str, Any]) -> "_OpenAIBase":
        """``cache_key_scope = "shared" | "plan"`` from ``[tool.promptc.providers.openai]`` (E528 otherwise)."""
        if "cache_key_scope" not in settings or self.provider != "openai":
            return self
        scope = settings["cache_key_scope"]
        if scope not in KEY_SCOPES:
            raise RuntimeSettingError(f"error[E528]: tool.promptc.providers.openai.cache_key_scope: {scope!r} is not "
                                     f"one of {', '.join(KEY_SCOPES)}")
        out = type(self)()
        out.key_scope = scope
        return out

    def _layout(self, request: Request, opts: CallOptions, ctx: BuildContext):
        """(tool definitions, messages, marks, extra fields) shared by both APIs."""
        segs = request.segments
        explicit = ctx.limits.mode == "explicit" and ctx.limits.max_breakpoints > 0
        # the implicit breakpoint pays only when the next turn re-reads this one: a growing history
        implicit = any(s.kind == "history" for s in segs)
        fields = retention_fields(opts.model, opts.retention, explicit, implicit)
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        msg_runs = [(role, [i for i in idx if segs[i].content]) for role, idx in runs(request)]
        msg_runs = [(role, idx) for role, idx in msg_runs if idx]
        marks: list[Mark] = []
        if explicit and opts.retention != "none":
            # render order: the tool definitions come before the messages in the cached prefix
            order = tool_idx + [i for _, idx in msg_runs for i in idx]
            counts = [ctx.counter.count(segs[i], opts.target) for i in order]
            # breakpoints cannot sit on tools; with a history the implicit breakpoint covers the newest message
            wanted = in_render_order([c for c in candidates(request, opts.target) if c.reason != "history"], order,
                                     segs, markable=lambda i: segs[i].kind != "tools")
            # the limits table counts the implicit breakpoint's write (3 of 4); explicit mode has all 4
            marks = place(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                          max_breakpoints=ctx.limits.max_breakpoints + (0 if implicit else 1), long_ttl=False)
            marks = [Mark(m.index, segs[m.index].id, m.reason, False, m.prefix_tokens) for m in marks]
        marked = {m.index for m in marks}

        def part(i: int) -> dict[str, Any]:
            p: dict[str, Any] = {"type": self.part_type, "text": segs[i].content}
            if i in marked:
                p["prompt_cache_breakpoint"] = breakpoint_field(opts.retention)
            return p

        messages = [{"role": role, "content": [part(i) for i in idx]} for role, idx in msg_runs]
        tools = [t for i in tool_idx for t in segs[i].tools or []]
        key = (opts.key or cache_key(request, opts.tenant, self.key_scope)) if opts.retention != "none" else None
        if key:
            fields = {"prompt_cache_key": key, **fields}
        return tools, messages, marks, fields, key, explicit


class OpenAIChatAdapter(_OpenAIBase):
    """Chat Completions."""

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        tools, messages, marks, fields, key, _ = self._layout(request, opts, ctx)
        payload: dict[str, Any] = {"model": opts.model, "messages": messages, "max_completion_tokens": opts.max_tokens}
        if tools:
            payload["tools"] = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")
                                                                   if t.get(k) is not None}} for t in tools]
        payload.update(fields)
        if opts.temperature is not None:
            payload["temperature"] = opts.temperature
        if opts.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        payload.update(opts.extra)
        return WireCall("/chat/completions", payload, marks, key)

    def _usage(self, u: dict[str, Any], call: WireCall):
        explicit = "prompt_cache_options" in call.payload
        return from_openai_chat(u, writes_exist=explicit)

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        choice = (body.get("choices") or [{}])[0]
        msg = choice.get("message") or {}
        return Completion(msg.get("content") or "", self._usage(body.get("usage") or {}, call),
                          choice.get("finish_reason"), body.get("id"), body.get("model"), body)

    def stream(self, call: WireCall) -> StreamState:
        return ChatStream(self, call)


class ChatStream(StreamState):
    """Chat Completions chunks with ``choices[0].delta``; usage in the last chunk (empty ``choices``) or,
    on servers that put it there (some Kimi models), in ``choices[0].usage``; then ``[DONE]``. Shared
    by every OpenAI-compatible adapter."""

    def __init__(self, adapter: Adapter, call: WireCall):
        self.adapter, self.call = adapter, call
        self.parts: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason = self.id = self.model = None
        self.done = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            self.done = True
            return []
        obj = json.loads(data)
        if "error" in obj:
            etype, msg = self.adapter.error_details(obj)
            raise ProviderError(self.adapter.provider, None, msg, error_type=etype)
        self.id, self.model = obj.get("id", self.id), obj.get("model", self.model)
        if obj.get("usage"):
            self.usage = obj["usage"]
        out = []
        for ch in obj.get("choices") or []:
            if ch.get("usage"):
                self.usage = ch["usage"]
            text = (ch.get("delta") or {}).get("content")
            if text:
                self.parts.append(text)
                out.append(StreamEvent("text", text))
            self.finish_reason = ch.get("finish_reason") or self.finish_reason
        return out

    def finish(self) -> Completion:
        text = "".join(self.parts)
        if not self.done:
            raise StreamInterrupted(self.adapter.provider, text, "no [DONE] event", request_id=self.id)
        u = self.usage or {}
        body = {"id": self.id, "model": self.model, "usage": self.usage,
                "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": self.finish_reason}]}
        return Completion(text, self.adapter._usage(u, self.call), self.finish_reason, self.id, self.model, body)


class OpenAIResponsesAdapter(_OpenAIBase):
    """The Responses API (``Client(target, api="responses")``)."""

    part_type = "input_text"

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        tools, messages, marks, fields, key, _ = self._layout(request, opts, ctx)
        payload: dict[str, Any] = {"model": opts.model, "input": messages, "max_output_tokens": opts.max_tokens}
        if tools:
            payload["tools"] = [{"type": "function", "name": t["name"], "description": t.get("description"),
                                 "parameters": t.get("parameters"), "strict": False} for t in tools]
        payload.update(fields)
        if opts.temperature is not None:
            payload["temperature"] = opts.temperature
        if opts.stream:
            payload["stream"] = True
        payload.update(opts.extra)
        return WireCall("/responses", payload, marks, key)

    def _usage(self, u: dict[str, Any], call: WireCall):
        return from_openai_responses(u, writes_exist="prompt_cache_options" in call.payload)

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        text = "".join(c.get("text", "") for item in body.get("output") or [] if item.get("type") == "message"
                       for c in item.get("content") or [] if c.get("type") == "output_text")
        finish = body.get("status")
        return Completion(text, self._usage(body.get("usage") or {}, call), finish, body.get("id"), body.get("model"),
                          body)

    def stream(self, call: WireCall) -> StreamState:
        return _ResponsesStream(self, call)


class _ResponsesStream(StreamState):
    """``response.output_text.delta`` events, then ``response.completed`` with the whole response."""

    def __init__(self, adapter: OpenAIResponsesAdapter, call: WireCall):
        self.adapter, self.call = adapter, call
        self.parts: list[str] = []
        self.final: dict[str, Any] | None = None

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        obj = json.loads(data)
        kind = obj.get("type", event)
        if kind == "response.output_text.delta":
            self.parts.append(obj.get("delta", ""))
            return [StreamEvent("text", obj.get("delta", ""))]
        if kind == "response.completed":
            self.final = obj.get("response") or {}
        elif kind in ("response.failed", "error"):
            err = obj.get("error") or (obj.get("response") or {}).get("error") or {}
            raise ProviderError("openai", None, str(err.get("message", "stream error")), error_type=err.get("code"))
        return []

    def finish(self) -> Completion:
        text = "".join(self.parts)
        if self.final is None:
            raise StreamInterrupted("openai", text, "no response.completed event")
        done = self.adapter.parse(self.final, self.call)
        return Completion(text, done.usage, done.finish_reason, done.response_id, done.model, self.final)

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module: (key, adapter) pairs
ADAPTERS = (("openai", OpenAIChatAdapter), ("openai:chat", OpenAIChatAdapter), ("openai:responses", OpenAIResponsesAdapter))
