"""OpenAI Chat Completions (``POST /v1/chat/completions``) and Responses (``POST /v1/responses``).

- Tools segments become function tool definitions; every other run of consecutive same-role
  segments becomes one message whose content is one text part per segment (OpenAI concatenates
  parts), so segment bytes go out unchanged and a breakpoint can sit between two of them.
- ``prompt_cache_key`` is derived from the plan's stable prefix hash (the last static segment's
  ``prefix_hash``) plus the tenant: requests that share the prefix route to the same cache.
- Retention: see :mod:`promptc.runtime.retention` (``prompt_cache_retention`` before gpt-5.6,
  ``prompt_cache_options`` from gpt-5.6).
- On models with explicit breakpoints (gpt-5.6 and later: ``mode = "explicit"`` in
  :mod:`promptc.core.providers`) ``prompt_cache_breakpoint: {"mode": "explicit"}`` goes on the text
  part ending each placed breakpoint; implicit mode keeps one write for the latest message, so at
  most 3 explicit ones.
- Usage is inclusive (``prompt_tokens`` counts cached and written tokens); it is normalized.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from promptc.plan import Request
from promptc.runtime.errors import ProviderError, RetentionError, StreamInterrupted
from promptc.runtime.layout import Mark, candidates, in_render_order, place
from promptc.runtime.providers.base import (Adapter, BuildContext, CallOptions, Completion, StreamEvent, StreamState,
                                            WireCall, runs)
from promptc.runtime.usage import from_openai_chat, from_openai_responses

#: Models that accept ``prompt_cache_retention: "24h"``; the gpt-5.5 family accepts only that.
_RETAIN_24H = ("gpt-5.5", "gpt-5.4", "gpt-5.2", "gpt-5.1", "gpt-5-codex", "gpt-5", "gpt-4.1")
_ONLY_24H = ("gpt-5.5",)


def cache_key(request: Request, tenant: str | None) -> str:
    """``prompt_cache_key``: the stable prefix hash (last static segment) plus the tenant, ≤ 64 chars."""
    segs = request.segments
    anchor = next((s for s in reversed(segs) if s.stability == "static"), segs[0] if segs else None)
    prefix = anchor.prefix_hash if anchor else ""
    digest = hashlib.sha256(f"{tenant or ''}\n{prefix}".encode()).hexdigest()[:32]
    head = (tenant or "promptc")[:24]
    return f"{head}:{digest}"


def retention_fields(model: str, retention: str, explicit: bool) -> dict[str, Any]:
    """The request fields for a retention on ``model``; E504 when the model cannot honour it."""
    m = model.lower()
    if explicit:  # gpt-5.6+: a 30m minimum TTL; "none" = explicit mode without breakpoints
        if retention == "none":
            return {"prompt_cache_options": {"mode": "explicit"}}
        out: dict[str, Any] = {"prompt_cache_options": {"mode": "implicit", "ttl": "30m"}}
        if retention == "long":
            out["prompt_cache_retention"] = "24h"
        return out
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
    env_key = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    part_type = "text"

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def _layout(self, request: Request, opts: CallOptions, ctx: BuildContext):
        """(tool definitions, messages, marks, extra fields) shared by both APIs."""
        segs = request.segments
        explicit = ctx.limits.mode == "explicit" and ctx.limits.max_breakpoints > 0
        fields = retention_fields(opts.model, opts.retention, explicit)
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        msg_runs = [(role, [i for i in idx if segs[i].content]) for role, idx in runs(request)]
        msg_runs = [(role, idx) for role, idx in msg_runs if idx]
        marks: list[Mark] = []
        if explicit and opts.retention != "none":
            order = [i for i, s in enumerate(segs)
                     if (s.kind == "tools" and s.tools) or (s.kind != "tools" and s.content)]
            counts = [ctx.counter.count(segs[i], opts.target) for i in order]
            # breakpoints cannot sit on tools, and the implicit breakpoint already covers the newest message
            wanted = in_render_order([c for c in candidates(request, opts.target) if c.reason != "history"], order,
                                     segs, markable=lambda i: segs[i].kind != "tools")
            marks = place(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                          max_breakpoints=ctx.limits.max_breakpoints, long_ttl=False)
            marks = [Mark(m.index, segs[m.index].id, m.reason, False, m.prefix_tokens) for m in marks]
        marked = {m.index for m in marks}

        def part(i: int) -> dict[str, Any]:
            p: dict[str, Any] = {"type": self.part_type, "text": segs[i].content}
            if i in marked:
                p["prompt_cache_breakpoint"] = {"mode": "explicit"}
            return p

        messages = [{"role": role, "content": [part(i) for i in idx]} for role, idx in msg_runs]
        tools = [t for i in tool_idx for t in segs[i].tools or []]
        key = cache_key(request, opts.tenant) if opts.retention != "none" else None
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
        return _ChatStream(self, call)


class _ChatStream(StreamState):
    """Chunks with ``choices[0].delta``; usage in the last chunk (empty ``choices``); then ``[DONE]``."""

    def __init__(self, adapter: OpenAIChatAdapter, call: WireCall):
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
            raise ProviderError("openai", None, msg, error_type=etype)
        self.id, self.model = obj.get("id", self.id), obj.get("model", self.model)
        if obj.get("usage"):
            self.usage = obj["usage"]
        out = []
        for ch in obj.get("choices") or []:
            text = (ch.get("delta") or {}).get("content")
            if text:
                self.parts.append(text)
                out.append(StreamEvent("text", text))
            self.finish_reason = ch.get("finish_reason") or self.finish_reason
        return out

    def finish(self) -> Completion:
        text = "".join(self.parts)
        if not self.done:
            raise StreamInterrupted("openai", text, "no [DONE] event", request_id=self.id)
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
