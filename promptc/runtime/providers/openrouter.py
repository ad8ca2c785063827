"""OpenRouter (OpenAI-compatible ``POST /api/v1/chat/completions``).

- Targets are ``openrouter/<vendor>/<model>``, e.g. ``openrouter/anthropic/claude-sonnet-4.5``; the
  model sent is ``<vendor>/<model>`` and the vendor (the upstream) decides how caching is asked for:

  ===================  =====================================================================
  upstream             cache controls
  ===================  =====================================================================
  ``anthropic/``       ``cache_control {type: ephemeral, ttl}`` on the text part ending each
                       breakpoint: ≤ 4, 1h before 5m, none below the minimum (as Anthropic)
  ``google/``          one ``cache_control`` (only the last marker counts; OpenRouter writes it
                       with a 5-minute TTL that does not refresh)
  ``qwen/`` (Alibaba)  ``cache_control {type: ephemeral}`` (5 minutes)
  ``openai/``          as the OpenAI adapter: ``prompt_cache_key``, retention fields and, from
                       gpt-5.6, ``prompt_cache_breakpoint`` on parts
  others               nothing: the upstream caches automatically
  ===================  =====================================================================

  How each marker upstream takes ``cache_control`` is the spec's ``MARKERS``
  (promptc/core/providers/openrouter.py): whether ``ttl`` is honoured, only the last marker used, a hit refreshing.

- ``session_id`` (the shared prefix's hash plus the tenant, :func:`session_id`) keeps requests that
  share a prefix on the same upstream replica, so they find its cache.
- Usage is inclusive (``prompt_tokens`` with ``prompt_tokens_details.{cached_tokens,
  cache_write_tokens}``); OpenRouter's own ``cost`` and ``cache_discount`` stay in ``usage.raw``.
  Writes are attributed to the TTL the markers asked for, or ``unknown`` when they mixed TTLs.
"""

from __future__ import annotations

from typing import Any

from promptc.core.providers import SPECS
from promptc.core.providers.openrouter import MARKERS
from promptc.plan import Request
from promptc.runtime.errors import ProviderError, RuntimeConfigError, StreamInterrupted
from promptc.runtime.layout import Mark, candidates, in_render_order, place
from promptc.runtime.providers.base import (Adapter, BuildContext, CallOptions, Completion, StreamEvent, StreamState,
                                            WireCall, runs)
from promptc.runtime.providers.openai import ChatStream, cache_key, retention_fields
from promptc.runtime.usage import Usage, from_openai_chat


class OpenRouterTargetError(RuntimeConfigError):
    """An OpenRouter target without the upstream vendor in its model id."""

    code = "E523"


def session_id(request: Request, tenant: str | None) -> str:
    """``session_id``: the shared-prefix key (:func:`promptc.runtime.providers.openai.cache_key` with
    ``scope="shared"``). Agents built on the same shared prefix stick to one upstream replica, so each
    finds the shared part cached there."""
    return cache_key(request, tenant, scope="shared")


def upstream(model: str) -> str:
    """The vendor of an OpenRouter model id (``anthropic/claude-sonnet-4.5`` → ``anthropic``); E523 without one."""
    vendor, sep, name = model.partition("/")
    if not sep or not vendor or not name:
        raise OpenRouterTargetError(f"error[E523]: OpenRouter model `{model}` names no upstream vendor: targets are "
                                    "openrouter/<vendor>/<model>, e.g. openrouter/anthropic/claude-sonnet-4.5")
    return vendor


class OpenRouterAdapter(Adapter):
    provider = "openrouter"
    env_key = SPECS["openrouter"].env_key
    base_url_env = SPECS["openrouter"].base_url_env
    default_base_url = SPECS["openrouter"].default_base_url

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"}

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        vendor = upstream(opts.model)
        segs = request.segments
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        msg_runs = [(role, [i for i in idx if segs[i].content]) for role, idx in runs(request)]
        msg_runs = [(role, idx) for role, idx in msg_runs if idx]
        fields: dict[str, Any] = {}
        marks: list[Mark] = []
        part_field: dict[int, tuple[str, dict[str, Any]]] = {}
        caching = opts.retention != "none"
        order = tool_idx + [i for _, idx in msg_runs for i in idx]
        counts = [ctx.counter.count(segs[i], opts.target) for i in order] if caching else []
        markable = lambda i: segs[i].kind != "tools"  # noqa: E731 - markers sit on content parts only
        if vendor == "openai":
            explicit = ctx.limits.mode == "explicit" and ctx.limits.max_breakpoints > 0
            implicit = any(s.kind == "history" for s in segs)  # as on OpenAI: worth it with a growing history
            fields.update(retention_fields(opts.model.split("/", 1)[1], opts.retention, explicit, implicit,
                                           openrouter=True))
            if caching:
                fields = {"prompt_cache_key": opts.key or cache_key(request, opts.tenant, "shared"), **fields}
            if explicit and caching:
                wanted = in_render_order([c for c in candidates(request, opts.target) if c.reason != "history"],
                                         order, segs, markable=markable)
                marks = place(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                              max_breakpoints=ctx.limits.max_breakpoints, long_ttl=False)
                part_field = {m.index: ("prompt_cache_breakpoint", {"mode": "explicit"}) for m in marks}
        elif vendor in MARKERS and caching and ctx.limits.max_breakpoints > 0:
            wanted = in_render_order(candidates(request, opts.target), order, segs, markable=markable)
            with_ttl = MARKERS[vendor].ttl
            marks = place(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                          max_breakpoints=min(4, ctx.limits.max_breakpoints),
                          long_ttl=with_ttl and opts.retention == "long")
            part_field = {m.index: ("cache_control", {"type": "ephemeral", "ttl": "1h" if m.long else "5m"}
                                    if with_ttl else {"type": "ephemeral"}) for m in marks}
        marks = [Mark(m.index, segs[m.index].id, m.reason, m.long, m.prefix_tokens) for m in marks]

        def part(i: int) -> dict[str, Any]:
            p: dict[str, Any] = {"type": "text", "text": segs[i].content}
            if i in part_field:
                name, value = part_field[i]
                p[name] = value
            return p

        payload: dict[str, Any] = {"model": opts.model,
                                   "messages": [{"role": role, "content": [part(i) for i in idx]}
                                                for role, idx in msg_runs],
                                   "max_tokens": opts.max_tokens}
        tools = [t for i in tool_idx for t in segs[i].tools or []]
        if tools:
            payload["tools"] = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")
                                                                   if t.get(k) is not None}} for t in tools]
        key = (opts.key or session_id(request, opts.tenant)) if caching else None
        if key:
            payload["session_id"] = key
        payload.update(fields)
        if opts.temperature is not None:
            payload["temperature"] = opts.temperature
        if opts.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        payload.update(opts.extra)
        return WireCall("/chat/completions", payload, marks, key)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        vendor = upstream(str(call.payload.get("model", "")))
        if vendor == "openai":
            ttl = (call.payload.get("prompt_cache_options") or {}).get("ttl") or "30m"
        elif vendor in MARKERS and MARKERS[vendor].ttl:
            ttls = {"1h" if m.long else "5m" for m in call.marks}
            ttl = ttls.pop() if len(ttls) == 1 else "unknown"
        elif vendor in MARKERS:
            ttl = "5m"
        else:
            ttl = "unknown"
        # without markers (or OpenAI's 5.6 options) nothing is written: a missing counter is 0, not unknown
        writes = bool(call.marks) or "prompt_cache_options" in call.payload
        return from_openai_chat(u, write_ttl=ttl, writes_exist=writes)

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        choice = (body.get("choices") or [{}])[0]
        msg = choice.get("message") or {}
        return Completion(msg.get("content") or "", self._usage(body.get("usage") or {}, call),
                          choice.get("finish_reason"), body.get("id"), body.get("model"), body)

    def stream(self, call: WireCall) -> StreamState:
        return _OpenRouterStream(self, call)  # type: ignore[arg-type]  # same chunks; uses self._usage


class _OpenRouterStream(ChatStream):
    """OpenAI's chunk format; errors name OpenRouter (an ``error`` chunk ends a failed upstream)."""

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        try:
            return super().feed(event, data)
        except ProviderError as exc:
            raise ProviderError("openrouter", None, exc.message, error_type=exc.error_type) from None

    def finish(self) -> Completion:
        try:
            return super().finish()
        except StreamInterrupted:
            raise StreamInterrupted("openrouter", "".join(self.parts), "no [DONE] event", request_id=self.id) from None

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = OpenRouterAdapter
