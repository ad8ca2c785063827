"""Anthropic Messages API (``POST /v1/messages``).

- Render order is the provider's prefix order: ``tools`` → ``system`` → ``messages``. Tools
  segments become tool definitions; system/developer segments before the first user or assistant
  segment become ``system`` text blocks, one per segment; later segments become message content
  blocks, consecutive same-role segments merged into one message (a system segment after the
  conversation started is sent as a user block: the Messages API has no mid-conversation system
  role on most models).
- ``cache_control: {"type": "ephemeral", "ttl": "1h"|"5m"}`` goes on the last block of each placed
  breakpoint: at most 4, 1h before 5m, never on an empty block, none whose prefix is below the
  model's minimum (see :mod:`promptc.runtime.layout`). Retention ``none`` sends no markers.
- Usage is exclusive: ``input_tokens`` counts only tokens after the last cache hit/write.
"""

from __future__ import annotations

import json
from typing import Any

from promptc.core.providers import SPECS
from promptc.core.wire import wire_order
from promptc.plan import Request
from promptc.runtime.errors import RuntimeSettingError
from promptc.runtime.errors import ProviderError, StreamInterrupted
from promptc.runtime.layout import candidates, in_render_order, place
from promptc.runtime.providers.base import (Adapter, BuildContext, CallOptions, Completion, StreamEvent, StreamState,
                                            WireCall)
from promptc.runtime.usage import from_anthropic

API_VERSION = "2023-06-01"


#: a tool definition as the Messages API takes it: the spec's shape, which the compiler counts
_tool_def = SPECS["anthropic"].tool_def


class AnthropicAdapter(Adapter):
    provider = "anthropic"
    env_key = SPECS["anthropic"].env_key
    base_url_env = SPECS["anthropic"].base_url_env
    default_base_url = SPECS["anthropic"].default_base_url

    def headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "anthropic-version": API_VERSION}

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        segs = request.segments
        first_turn = next((i for i, s in enumerate(segs) if s.role in ("user", "assistant") and s.kind != "tools"),
                          len(segs))
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        system_idx = [i for i in range(first_turn) if segs[i].kind != "tools" and segs[i].content]
        message_idx = [i for i in range(first_turn, len(segs)) if segs[i].kind != "tools" and segs[i].content]
        order = wire_order(opts.target, segs)  # the spec's render order: tools → system → messages
        sent = set(tool_idx + system_idx + message_idx)
        order = [i for i in order if i in sent]  # = tool_idx + system_idx + message_idx, the payload's order
        marks = []
        if opts.retention != "none":
            counts = [ctx.counter.count(segs[i], opts.target) for i in order]
            wanted = in_render_order(candidates(request, opts.target), order, segs)
            marks = place(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                          max_breakpoints=min(4, ctx.limits.max_breakpoints or 4), long_ttl=opts.retention == "long")
        ttl = {m.index: ("1h" if m.long else "5m") for m in marks}

        def mark(block: dict[str, Any], i: int) -> dict[str, Any]:
            if i in ttl:
                block["cache_control"] = {"type": "ephemeral", "ttl": ttl[i]}
            return block

        payload: dict[str, Any] = {"model": opts.model, "max_tokens": opts.max_tokens}
        tools: list[dict[str, Any]] = []
        for i in tool_idx:
            defs = [_tool_def(t) for t in segs[i].tools or []]
            mark(defs[-1], i)
            tools.extend(defs)
        if tools:
            payload["tools"] = tools
        if system_idx:
            payload["system"] = [mark({"type": "text", "text": segs[i].content}, i) for i in system_idx]
        messages: list[dict[str, Any]] = []
        for i in message_idx:
            role = segs[i].role if segs[i].role in ("user", "assistant") else "user"
            block = mark({"type": "text", "text": segs[i].content}, i)
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"].append(block)
            else:
                messages.append({"role": role, "content": [block]})
        payload["messages"] = messages
        # The current Messages API (anthropic SDK 2.17 `MessageCreateParams`) has no `temperature`: say so
        # instead of dropping the caller's value; an older model still takes it through `extra`.
        if opts.temperature is not None and "temperature" not in opts.extra:
            raise RuntimeSettingError(
                f"error[E528]: {opts.target} does not take a temperature: the Anthropic Messages API has no "
                "`temperature` field (anthropic SDK 2.17 types); drop --temperature, or pass it through "
                "`extra={\"temperature\": ...}` for an older model that still accepts it")
        if opts.stream:
            payload["stream"] = True
        payload.update(opts.extra)
        placed = [type(m)(m.index, segs[m.index].id, m.reason, m.long, m.prefix_tokens) for m in marks]
        return WireCall("/v1/messages", payload, placed)

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        text = "".join(b.get("text", "") for b in body.get("content") or [] if b.get("type") == "text")
        return Completion(text, from_anthropic(body.get("usage") or {}), body.get("stop_reason"), body.get("id"),
                          body.get("model"), body)

    def stream(self, call: WireCall) -> StreamState:
        return _AnthropicStream()


class _AnthropicStream(StreamState):
    """``message_start`` → ``content_block_*`` → ``message_delta`` (cumulative usage) → ``message_stop``."""

    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.parts: list[str] = []
        self.stop_reason: str | None = None
        self.done = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        obj = json.loads(data)
        kind = obj.get("type", event)
        if kind == "message_start":
            self.message = obj.get("message") or {}
            self.usage = dict(self.message.get("usage") or {})
        elif kind == "content_block_delta" and (obj.get("delta") or {}).get("type") == "text_delta":
            text = obj["delta"].get("text", "")
            self.parts.append(text)
            return [StreamEvent("text", text)]
        elif kind == "message_delta":
            self.usage.update({k: v for k, v in (obj.get("usage") or {}).items() if v is not None})
            self.stop_reason = (obj.get("delta") or {}).get("stop_reason") or self.stop_reason
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            err = obj.get("error") or {}
            raise ProviderError("anthropic", None, str(err.get("message", "stream error")),
                                error_type=err.get("type"), retryable=err.get("type") == "overloaded_error")
        return []

    def finish(self) -> Completion:
        text = "".join(self.parts)
        if not self.done:
            raise StreamInterrupted("anthropic", text, "no message_stop event", request_id=self.message.get("id"))
        body = {**self.message, "usage": self.usage, "stop_reason": self.stop_reason,
                "content": [{"type": "text", "text": text}]}
        return Completion(text, from_anthropic(self.usage), self.stop_reason, self.message.get("id"),
                          self.message.get("model"), body)

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = AnthropicAdapter
