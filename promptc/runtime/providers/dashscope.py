"""Alibaba Cloud Model Studio (DashScope) Chat Completions, OpenAI-compatible mode
(``POST /chat/completions`` under ``https://dashscope-intl.aliyuncs.com/compatible-mode/v1``).

- Explicit cache: ``"cache_control": {"type": "ephemeral"}`` on the text part ending each breakpoint
  :mod:`promptc.runtime.layout` chose — at most 4, each prefix ≥ the spec's minimum (1,024 tokens),
  in wire order (tools first). A marker's cache lives 5 minutes and a hit resets it; there is no
  longer TTL, so ``long`` retention sends the same marker. Retention ``none`` sends no marker: the
  request then uses the implicit cache, which cannot be disabled (the two are mutually exclusive per
  request).
- Messages: one per same-role run, each a list of text parts (one per segment) so markers can sit
  on segment boundaries; tools segments become function tools.
- Usage is inclusive: ``prompt_tokens`` counts ``prompt_tokens_details.cached_tokens`` (reads) and
  ``prompt_tokens_details.cache_creation_input_tokens`` (writes, 5m).
"""

from __future__ import annotations

import copy
from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.layout import Mark, candidates, in_render_order, place
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall, runs
from promptc.runtime.providers.openai import OpenAIChatAdapter
from promptc.runtime.usage import Usage

_SPEC = SPECS["dashscope"]
MARKER = {"type": "ephemeral"}


def _int(d: Any, key: str) -> int | None:
    v = d.get(key) if isinstance(d, dict) else None
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def from_dashscope(u: dict[str, Any], marked: bool) -> Usage:
    """DashScope ``usage`` (inclusive). Without a marker nothing can be written: writes are 0, not unknown.
    ``cache_mode``: a request with a marker (or a reply with ``cache_type: ephemeral``) uses the explicit
    cache, one without the implicit cache — their hits are billed differently (10% vs 20%)."""
    details = u.get("prompt_tokens_details")
    read = _int(details, "cached_tokens")
    written = _int(details, "cache_creation_input_tokens")
    if written is None:
        written = _int((details or {}).get("cache_creation") if isinstance(details, dict) else None,
                       "ephemeral_5m_input_tokens")
    if written is None and not marked:
        written = 0
    prompt = _int(u, "prompt_tokens")
    uncached = None if prompt is None or read is None or written is None else max(0, prompt - read - written)
    write = None if written is None else ({"5m": written} if written else {})
    explicit = marked or (isinstance(details, dict) and details.get("cache_type") == "ephemeral")
    return Usage(uncached=uncached, cache_read=read, cache_write=write, output=_int(u, "completion_tokens"),
                 reasoning=_int(u.get("completion_tokens_details"), "reasoning_tokens"), semantics="inclusive",
                 raw=dict(u), cache_mode="explicit" if explicit else "implicit")


def naive_dashscope(call: WireCall, target: Any) -> WireCall:
    """DashScope's naive default (``promptc simulate``), as its context-cache quick start shows: one
    ``cache_control: {"type": "ephemeral"}`` on the last part of the system message; no other marker."""
    p = copy.deepcopy(call.payload)
    system = None
    for msg in p.get("messages") or []:
        if isinstance(msg.get("content"), list):
            for part in msg["content"]:
                if isinstance(part, dict):
                    part.pop("cache_control", None)
        if msg.get("role") == "system":
            system = msg
    if system is not None:
        if isinstance(system.get("content"), str):
            system["content"] = [{"type": "text", "text": system["content"]}]
        if system.get("content"):
            system["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return WireCall(call.path, p, [], None, dict(call.headers))


class DashScopeAdapter(OpenAIChatAdapter):
    """Qwen on Model Studio (``dashscope/<model>``, e.g. ``dashscope/qwen3.6-plus``): explicit markers."""

    provider = "dashscope"
    env_key = _SPEC.env_key
    base_url_env = _SPEC.base_url_env
    default_base_url = _SPEC.default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        segs = request.segments
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        msg_runs = [(role, [i for i in idx if segs[i].content]) for role, idx in runs(request)]
        msg_runs = [(role, idx) for role, idx in msg_runs if idx]
        order = tool_idx + [i for _, idx in msg_runs for i in idx]
        marks: list[Mark] = []
        if opts.retention != "none" and ctx.limits.max_breakpoints > 0:
            counts = [ctx.counter.count(segs[i], opts.target) for i in order]
            wanted = in_render_order(candidates(request, opts.target), order, segs,
                                     markable=lambda i: segs[i].kind != "tools")  # markers sit on parts only
            marks = place(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                          max_breakpoints=min(4, ctx.limits.max_breakpoints), long_ttl=False)
        marked = {m.index for m in marks}

        def part(i: int) -> dict[str, Any]:
            p: dict[str, Any] = {"type": "text", "text": segs[i].content}
            if i in marked:
                p["cache_control"] = dict(MARKER)
            return p

        payload: dict[str, Any] = {"model": opts.model, "max_tokens": opts.max_tokens,
                                   "messages": [{"role": role, "content": [part(i) for i in idx]}
                                                for role, idx in msg_runs]}
        tools = [_SPEC.tool_def(t) for i in tool_idx for t in segs[i].tools or []]  # type: ignore[misc]
        if tools:
            payload["tools"] = tools
        if opts.temperature is not None:
            payload["temperature"] = opts.temperature
        if opts.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        payload.update(opts.extra)
        placed = [Mark(m.index, segs[m.index].id, m.reason, m.long, m.prefix_tokens) for m in marks]
        return WireCall("/chat/completions", payload, placed, None)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        return from_dashscope(u, marked=bool(call.marks))


__all__ = ["DashScopeAdapter", "from_dashscope", "naive_dashscope"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = DashScopeAdapter
