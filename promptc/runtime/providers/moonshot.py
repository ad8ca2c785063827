"""Kimi / Moonshot Chat Completions (``POST /v1/chat/completions``, OpenAI-compatible).

- Tools segments become function tool definitions (as :mod:`~promptc.runtime.providers.openai`).
  Every other run of consecutive same-role segments becomes one message whose ``content`` is the
  segments' texts joined with nothing in between (the server would concatenate parts anyway), and a
  run is also split where the static prefix ends, so the static prefix is always whole messages —
  what a legacy context cache holds (:mod:`~promptc.runtime.providers.moonshot_cache`).
- Caching is automatic. ``prompt_cache_key`` is the hash of the plan's shared global prefix plus
  the tenant (:func:`prompt_cache_key`: agents sharing the global prefix share the key and its
  cached blocks); ``prompt_cache_options: {"mode": "implicit", "ttl": "5m"|"1h"}`` carries the
  retention (``short`` → ``5m``, ``long`` → ``1h``); retention ``none`` sends neither.
- Usage is inclusive. Cached tokens come as ``usage.cached_tokens`` (API reference) or
  ``usage.prompt_tokens_details.cached_tokens`` (guide): both are read. Kimi K3 bills cache writes
  but no documented field reports them, so there the write counter (and with it the uncached count
  and the cost) is unknown unless the response carries ``cache_write_tokens``; K2 and moonshot-v1
  models have no cache writes (0).
- Streams: usage comes in the final chunk (``stream_options.include_usage``), or on some models in
  ``choices[0].usage`` of the chunk that finishes the choice; both are read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.moonshot_cache import ContextCacheManager, StaticPrefix, parse_options
from promptc.runtime.providers.openai import OpenAIChatAdapter, cache_key
from promptc.runtime.resources import ResourceContext
from promptc.runtime.usage import Usage

#: Models that bill cache writes (5m at 1.0x, 1h at 2.0x of the input price).
WRITE_MODELS = ("kimi-k3",)
_TTL = {"short": "5m", "long": "1h"}


@dataclass(frozen=True)
class Group:
    """One message of the payload: its role, the segment indices it joins and whether all are static."""

    role: str
    indices: tuple[int, ...]
    static: bool


def groups(request: Request) -> list[Group]:
    """Messages in plan order: consecutive same-role, non-empty, non-tools segments, split where the
    stability changes between static and non-static."""
    out: list[Group] = []
    for i, s in enumerate(request.segments):
        if s.kind == "tools" or not s.content:
            continue
        static = s.stability == "static"
        if out and out[-1].role == s.role and out[-1].static == static:
            out[-1] = Group(s.role, out[-1].indices + (i,), static)
        else:
            out.append(Group(s.role, (i,), static))
    return out


def message(request: Request, g: Group) -> dict[str, Any]:
    return {"role": g.role, "content": "".join(request.segments[i].content for i in g.indices)}


def tool_defs(request: Request) -> list[dict[str, Any]]:
    """Function tool definitions of every tools segment, in plan order."""
    return [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")
                                              if t.get(k) is not None}}
            for s in request.segments if s.kind == "tools" and s.tools for t in s.tools]


def prompt_cache_key(request: Request, tenant: str | None) -> str:
    """Kimi's ``prompt_cache_key``: the shared-prefix key (:func:`promptc.runtime.providers.openai.cache_key`
    with ``scope="shared"``). Kimi's cache is per organization and the key routes requests together,
    so plans that share the global prefix share one key and read each other's cached global blocks."""
    return cache_key(request, tenant, scope="shared")


def from_moonshot(u: dict[str, Any], writes_exist: bool, write_ttl: str = "unknown") -> Usage:
    """Kimi/Moonshot ``usage`` (inclusive). ``writes_exist`` is False for models without cache writes;
    ``write_ttl`` labels a reported write (the TTL the request asked for)."""
    def num(d: Any, key: str) -> int | None:
        v = d.get(key) if isinstance(d, dict) else None
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    details = u.get("prompt_tokens_details")
    prompt = num(u, "prompt_tokens")
    read = num(u, "cached_tokens")
    if read is None:
        read = num(details, "cached_tokens")
    written = num(u, "cache_write_tokens")
    if written is None:
        written = num(details, "cache_write_tokens")  # the OpenAI-compatible spelling, should Kimi send it
    if written is None and not writes_exist:
        written = 0
    uncached = None if prompt is None or read is None or written is None else max(0, prompt - read - written)
    return Usage(uncached=uncached, cache_read=read, cache_write=None if written is None else
                 ({write_ttl: written} if written else {}), output=num(u, "completion_tokens"),
                 reasoning=num(u.get("completion_tokens_details"), "reasoning_tokens"), semantics="inclusive",
                 raw=dict(u))


def chat_payload(request: Request, opts: CallOptions, cache_fields: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions body with one message per same-role run (:func:`groups`), the tools, the
    provider's ``cache_fields``, and the call's options (Kimi and DeepSeek)."""
    payload: dict[str, Any] = {"model": opts.model, "messages": [message(request, g) for g in groups(request)],
                               "max_tokens": opts.max_tokens}
    tools = tool_defs(request)
    if tools:
        payload["tools"] = tools
    payload.update(cache_fields)
    if opts.temperature is not None:
        payload["temperature"] = opts.temperature
    if opts.stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    payload.update(opts.extra)
    return payload


class MoonshotAdapter(OpenAIChatAdapter):
    """Kimi / Moonshot (``moonshot/<model>``): automatic caching, and legacy context caches on request."""

    provider = "moonshot"
    env_key = SPECS["moonshot"].env_key
    base_url_env = SPECS["moonshot"].base_url_env
    default_base_url = SPECS["moonshot"].default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        key = None if opts.retention == "none" else opts.key or prompt_cache_key(request, opts.tenant)
        fields = {} if key is None else {"prompt_cache_key": key,
                                         "prompt_cache_options": {"mode": "implicit", "ttl": _TTL[opts.retention]}}
        return WireCall("/chat/completions", chat_payload(request, opts, fields), [], key)

    def _usage(self, u: dict[str, Any], call: WireCall) -> Usage:
        ttl = (call.payload.get("prompt_cache_options") or {}).get("ttl", "unknown")
        return from_moonshot(u, writes_exist=str(call.payload.get("model", "")).lower().startswith(WRITE_MODELS),
                             write_ttl=ttl)


    def static_prefix(self, request: Request) -> StaticPrefix:
        """What a legacy context cache of ``request`` holds: the leading all-static messages and the
        tools (when every tools segment is static), and the hash identifying exactly those segments."""
        gs = groups(request)
        lead: list[Group] = []
        for g in gs:
            if not g.static:
                break
            lead.append(g)
        segs = request.segments
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        tools_static = all(segs[i].stability == "static" for i in tool_idx)
        indices = sorted([i for g in lead for i in g.indices] + (tool_idx if tools_static else []))
        chosen = set(indices)
        prefix_hash = ""
        if indices and all(j in chosen or (segs[j].kind != "tools" and not segs[j].content)
                           for j in range(indices[-1] + 1)):
            prefix_hash = segs[indices[-1]].prefix_hash  # a plan prefix: its chained hash names it
        elif indices:  # static segments around a non-static one: name exactly the cached segments
            digest = hashlib.sha256("\n".join(segs[i].hash for i in indices).encode()).hexdigest()
            prefix_hash = f"sha256:{digest}"
        return StaticPrefix(messages=[message(request, g) for g in lead], tools=tool_defs(request),
                            segments=tuple(indices), tools_static=tools_static, prefix_hash=prefix_hash,
                            plan=request.plan)

    def resources(self, ctx: ResourceContext) -> ContextCacheManager | None:
        """A :class:`~promptc.runtime.providers.moonshot_cache.ContextCacheManager` when the client asked
        for legacy context caches (``cache_objects={"context_cache": True, ...}``), else None."""
        options = parse_options(ctx.options)
        return ContextCacheManager(self, ctx, options) if options.enabled else None


__all__ = ["MoonshotAdapter", "chat_payload", "from_moonshot", "groups", "prompt_cache_key", "tool_defs"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = MoonshotAdapter
