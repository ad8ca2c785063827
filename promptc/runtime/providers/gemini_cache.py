"""Gemini explicit caching: ``cachedContents`` objects for a plan's static prefix.

Enabled per client: ``Client("gemini/<model>", cache_objects={"gemini": "explicit"})`` or, with
options, ``{"gemini": {"mode": "explicit", "ttl_s": 600, "min_tokens": 1024}}``. Without it
Gemini's implicit caching applies and no object is created.

What the manager does (invariants, each tested in ``tests/providers/test_gemini_cache.py``):

1. **What is cached.** The prefix is the plan's leading static segments, extended to cover every
   ``systemInstruction`` and tools segment (a request that uses a cache may not set those); session
   segments may be in it (the cache is then per session), turn segments never. The cache holds the
   ``systemInstruction``, the ``tools`` and the static leading ``contents``; the request then sends
   ``cachedContent`` and only the remaining ``contents`` (never ``systemInstruction``, ``tools`` or
   ``toolConfig``).
2. **Created once.** Objects are keyed in the :class:`~promptc.runtime.registry.CacheRegistry` by
   (``gemini``, account/tenant, model, prefix hash of the prefix's last segment) and obtained through
   :meth:`~promptc.runtime.registry.CacheRegistry.acquire`: concurrent requests for the same missing
   prefix wait for one creation; every agent and turn with that prefix reuses it until it expires.
3. **Below the minimum, no object.** When the prefix's estimated tokens are below the model's
   minimum, or the API answers 400 "Cached content is too small", the request goes out unchanged
   (implicit caching) and a ``fallback`` event says why — once per prefix.
4. **Never a failed request for a lost cache.** An expired entry is recreated before use; when the
   API still answers 403 "CachedContent not found" or 404 "expired" (deleted elsewhere, clock skew),
   :meth:`recover` forgets the entry, recreates it and the client retries once.
5. **Accounted.** ``create``/``refresh``/``delete``/``recreate``/``fallback`` events reach the cache
   trace with tokens and cost: creation at the input price, storage at the price table's $/MTok·h
   for the TTL bought.

TTL: ``ttl_s`` when given, else from the retention: ``short`` → 300 s, ``long`` → 3600 s
(Gemini's default); retention ``none`` uses no object. Display names are
``promptc/<account>/<prefix hash hex>`` so :meth:`list_remote` can tell which remote objects are
promptc's and which registry key each one belongs to (a reconciler deletes orphans with
:meth:`delete_remote`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

from promptc.core.errors import PromptcError
from promptc.core.prices import price_for
from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.errors import ProviderError, RuntimeConfigError
from promptc.runtime.layout import Mark
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
from promptc.runtime.providers.gemini import (API_VERSION, contents_of, layout, model_path, system_instruction,
                                              tools_of)
from promptc.runtime.registry import CacheEntry, CacheKey
from promptc.runtime.resources import ResourceContext, ResourceManager

if TYPE_CHECKING:  # pragma: no cover
    from promptc.runtime.providers.gemini import GeminiAdapter

#: retention → explicit cache TTL, from the Gemini spec
RETENTION_TTL_S = {r: SPECS["gemini"].ttl_seconds("", r) or 0.0 for r in ("short", "long")}
DISPLAY_PREFIX = "promptc/"
_TOO_SMALL = re.compile(r"too small.*?total_token_count\s*=\s*(\d+).*?min_total_token_count\s*=\s*(\d+)", re.I | re.S)


class CacheOptionError(RuntimeConfigError):
    """A bad ``cache_objects["gemini"]`` option."""

    code = "E510"


class CacheObjectError(PromptcError):
    """An on-demand ``cachedContents`` operation (refresh, delete, list) the API refused (E511), or
    one naming a prefix that has no live cache object (E512)."""

    code = "E511"

    def __init__(self, message: str, code: str = "E511"):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class GeminiCacheOptions:
    """``mode``: ``implicit`` (no objects) or ``explicit``; ``ttl_s``: seconds bought per object (None:
    from the retention); ``min_tokens``: the minimum to try creating (None: the model's limit)."""

    mode: str = "implicit"
    ttl_s: float | None = None
    min_tokens: int | None = None


def options_from(options: dict[str, Any]) -> GeminiCacheOptions:
    """Read ``cache_objects["gemini"]`` (a mode string or a table); E510 on a bad value."""
    value = (options or {}).get("gemini")
    if value is None:
        return GeminiCacheOptions()
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, dict):
        raise CacheOptionError("error[E510]: cache_objects['gemini'] must be 'implicit', 'explicit' or a table "
                               f"with mode/ttl_s/min_tokens, not {type(value).__name__}")
    unknown = sorted(set(value) - {"mode", "ttl_s", "min_tokens"})
    if unknown:
        raise CacheOptionError(f"error[E510]: cache_objects['gemini'] has unknown option(s) {', '.join(unknown)} "
                               "(known: mode, ttl_s, min_tokens)")
    mode = value.get("mode", "explicit")
    if mode not in ("implicit", "explicit"):
        raise CacheOptionError(f"error[E510]: cache_objects['gemini'].mode is {mode!r}; use 'implicit' or 'explicit'")
    ttl = value.get("ttl_s")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
        raise CacheOptionError(f"error[E510]: cache_objects['gemini'].ttl_s must be a positive number of seconds, "
                               f"not {ttl!r}")
    mn = value.get("min_tokens")
    if mn is not None and (isinstance(mn, bool) or not isinstance(mn, int) or mn < 0):
        raise CacheOptionError(f"error[E510]: cache_objects['gemini'].min_tokens must be a non-negative integer, "
                               f"not {mn!r}")
    return GeminiCacheOptions(mode, None if ttl is None else float(ttl), mn)


def display_name(account: str, prefix_hash: str) -> str:
    """``promptc/<account>/<hex>`` (≤ 128 characters: a long account name is replaced by its digest)."""
    hexpart = prefix_hash.split(":", 1)[-1]
    if len(account) > 40 or "/" in account:
        account = "~" + hashlib.sha256(account.encode()).hexdigest()[:16]
    return f"{DISPLAY_PREFIX}{account}/{hexpart}"


def parse_display_name(name: str | None) -> tuple[str, str] | None:
    """(account, ``sha256:<hex>`` prefix hash) from a display name :func:`display_name` made, else None."""
    if not name or not name.startswith(DISPLAY_PREFIX):
        return None
    account, _, hexpart = name[len(DISPLAY_PREFIX):].rpartition("/")
    if not account or not re.fullmatch(r"[0-9a-f]{64}", hexpart):
        return None
    return account, f"sha256:{hexpart}"


def rfc3339_to_epoch(value: str) -> float:
    """``2026-01-27T16:02:36.123456789Z`` → epoch seconds."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def duration(seconds: float) -> str:
    """A protobuf Duration in JSON: ``300s``, ``0.5s``."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds:.9f}".rstrip("0") + "s"


@dataclass(frozen=True)
class RemoteCache:
    """One ``cachedContents`` object as listed: its ``name``, ``display_name``, ``model``, expiry
    (epoch seconds), tokens, and the registry key it belongs to (None when promptc did not create it)."""

    name: str
    display_name: str | None
    model: str | None
    expires_at: float | None
    tokens: int | None
    key: CacheKey | None


@dataclass(frozen=True)
class Prefix:
    """The cacheable prefix of one request: segments ``[0, end)``, its registry key and token estimate."""

    end: int
    key: CacheKey
    tokens: int
    system: list[int]
    tools: list[int]
    cached_runs: list[tuple[str, list[int]]]
    rest_runs: list[tuple[str, list[int]]]


class _TooSmall(Exception):
    def __init__(self, total: int | None, minimum: int | None, message: str):
        self.total, self.minimum, self.message = total, minimum, message
        super().__init__(message)


class GeminiCacheManager(ResourceManager):
    """Creates, reuses, refreshes and deletes one client's ``cachedContents`` (see the module doc)."""

    def __init__(self, ctx: ResourceContext, options: GeminiCacheOptions, adapter: "GeminiAdapter"):
        self.ctx, self.options, self.adapter = ctx, options, adapter
        self.price = price_for(ctx.target)
        self._lock = threading.Lock()
        self._too_small: set[CacheKey] = set()
        #: models whose cachedContents create was refused outright (a 4xx other than "too small": the model
        #: has no explicit caching): never asked again by this client, so no create is retried per request
        self._no_explicit: set[str] = set()
        self._reported: set[tuple[str, str]] = set()  # (prefix hash or plan, reason) fallbacks already in the trace
        # the registry deletes this provider's objects it evicts or loses a race for through the manager
        ctx.registry.set_deleter("gemini", lambda entry: self.delete_remote(entry.remote_id))

    # -- the prefix ---------------------------------------------------------------------------------
    def prefix(self, request: Request, opts: CallOptions, ctx: BuildContext) -> Prefix | str:
        """The request's cacheable :class:`Prefix`, or the reason there is none."""
        segs = request.segments
        tool_idx, system_idx, runs = layout(request)
        static_end = next((i for i, s in enumerate(segs) if s.stability != "static"), len(segs))
        end = max([static_end] + [i + 1 for i in system_idx + tool_idx])
        if end == 0:
            return "no static prefix"
        if any(segs[i].stability == "turn" for i in range(end)):
            return "a turn-level system instruction or tools segment"
        cached = [(role, [i for i in idx if i < end]) for role, idx in runs]
        rest = [(role, [i for i in idx if i >= end]) for role, idx in runs]
        cached, rest = [r for r in cached if r[1]], [r for r in rest if r[1]]
        if not rest:
            return "nothing left to send after the cached prefix"
        tokens = sum(ctx.counter.count(segs[i], opts.target) for i in range(end))
        key = CacheKey("gemini", self.ctx.account, opts.model.removeprefix("models/"), segs[end - 1].prefix_hash)
        return Prefix(end, key, tokens, system_idx, tool_idx, cached, rest)

    def key_for(self, request: Request, opts: CallOptions, ctx: BuildContext) -> CacheKey | None:
        """The registry key of the request's cacheable prefix (None when it has none)."""
        p = self.prefix(request, opts, ctx)
        return p.key if isinstance(p, Prefix) else None

    def ttl_for(self, opts: CallOptions) -> float:
        return self.options.ttl_s or RETENTION_TTL_S.get(opts.retention, RETENTION_TTL_S["short"])

    # -- ResourceManager -----------------------------------------------------------------------------
    def prepare(self, call: WireCall, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        """``call`` rewritten to use the prefix's ``cachedContents`` object (created when missing), or
        unchanged (implicit caching) when the prefix is below the minimum or cannot be cached."""
        entry, prefix = self.ensure(request, opts, ctx, call)
        if entry is None or prefix is None:
            return call
        return self._use(call, entry, prefix, request, opts)

    def recover(self, call: WireCall, request: Request, opts: CallOptions, ctx: BuildContext,
                error: ProviderError) -> WireCall | None:
        """After 403 "CachedContent not found" / 404 "expired" on a call that used a cache object:
        forget it, recreate it, and return the call to retry (None for any other error)."""
        name = call.payload.get("cachedContent")
        if not name or not _lost(error):
            return None
        prefix = self.prefix(request, opts, ctx)
        if isinstance(prefix, Prefix):
            current = self.ctx.registry.backend.get(prefix.key)
            if current is not None and current.remote_id == name:  # not already replaced by another request
                self.ctx.registry.invalidate(prefix.key)
            self._emit("recreate", request, prefix.key, remote_id=name, status=error.status, reason=error.message)
        return self.prepare(self.adapter.build(request, opts, ctx), request, opts, ctx)

    # -- create / reuse ------------------------------------------------------------------------------
    def ensure(self, request: Request, opts: CallOptions, ctx: BuildContext,
               call: WireCall | None = None) -> tuple[CacheEntry | None, Prefix | None]:
        """(live entry, prefix) for the request's prefix, creating the object when missing; (None, ...)
        when the request uses implicit caching instead (the trace says why, once per prefix)."""
        if opts.retention == "none":
            return None, None
        if call is not None and "toolConfig" in call.payload:
            self._fallback(request, None, "toolConfig is set per request (a cached request cannot set it)")
            return None, None
        prefix = self.prefix(request, opts, ctx)
        if isinstance(prefix, str):
            self._fallback(request, None, prefix)
            return None, None
        minimum = self.options.min_tokens if self.options.min_tokens is not None else (ctx.limits.min_tokens or 0)
        if prefix.tokens < minimum:
            self._fallback(request, prefix.key, "below_minimum", tokens=prefix.tokens, min_tokens=minimum)
            return None, prefix
        with self._lock:
            if prefix.key in self._too_small or prefix.key.model in self._no_explicit:
                return None, prefix
        try:
            entry, _ = self.ctx.registry.acquire(prefix.key, lambda: self._create(prefix, request, opts),
                                                 emit=self.ctx.emit)
        except _TooSmall as exc:
            with self._lock:
                self._too_small.add(prefix.key)
            self._fallback(request, prefix.key, "too_small", tokens=exc.total, min_tokens=exc.minimum,
                           message=exc.message)
            return None, prefix
        except (ProviderError, httpx.HTTPError) as exc:
            if isinstance(exc, ProviderError) and exc.status in (400, 403, 404) and not exc.retryable:
                with self._lock:
                    self._no_explicit.add(prefix.key.model)
                self._fallback(request, prefix.key, "explicit_unsupported", message=str(exc))
                return None, prefix
            self._fallback(request, prefix.key, "create_failed", message=str(exc), repeat=True)
            return None, prefix
        return entry, prefix

    def _create(self, prefix: Prefix, request: Request, opts: CallOptions) -> CacheEntry:
        with self._lock:
            if prefix.key in self._too_small:  # a coalesced waiter after a too-small creation: do not retry
                raise _TooSmall(None, None, "known to be too small")
        ttl = self.ttl_for(opts)
        body: dict[str, Any] = {"model": model_path(opts.model),
                                "displayName": display_name(self.ctx.account, prefix.key.prefix_hash)}
        if prefix.system:
            body["systemInstruction"] = system_instruction(request, prefix.system)
        tools = tools_of(request, prefix.tools)
        if tools:
            body["tools"] = tools
        if prefix.cached_runs:
            body["contents"] = contents_of(request, prefix.cached_runs)
        body["ttl"] = duration(ttl)
        try:
            resp = self.ctx.transport.request("POST", f"/{API_VERSION}/cachedContents", json=body)
        except httpx.HTTPError as exc:
            raise ProviderError("gemini", None, f"{type(exc).__name__}: {exc}", retryable=True) from None
        if resp.status_code >= 400:
            status, message = self._details(resp)
            m = _TOO_SMALL.search(message)
            if resp.status_code == 400 and "too small" in message.lower():
                raise _TooSmall(int(m.group(1)) if m else None, int(m.group(2)) if m else None, message)
            raise ProviderError("gemini", resp.status_code, message, error_type=status)
        data = resp.json()
        now = self.ctx.clock()
        tokens = int((data.get("usageMetadata") or {}).get("totalTokenCount") or prefix.tokens)
        expires = rfc3339_to_epoch(data["expireTime"]) if data.get("expireTime") else now + ttl
        entry = CacheEntry(prefix.key, data["name"], expires, tokens, now, now)
        self._emit("create", request, prefix.key, remote_id=entry.remote_id, tokens=tokens, ttl_s=ttl,
                   expires_at=expires, cost=self._input_cost(tokens), storage_cost=self._storage_cost(tokens, ttl))
        return entry

    def _use(self, call: WireCall, entry: CacheEntry, prefix: Prefix, request: Request, opts: CallOptions) -> WireCall:
        payload = {k: v for k, v in call.payload.items() if k not in ("systemInstruction", "tools", "toolConfig")}
        payload["contents"] = contents_of(request, prefix.rest_runs)
        payload["cachedContent"] = entry.remote_id
        seg = request.segments[prefix.end - 1]
        mark = Mark(prefix.end - 1, seg.id, "cached_content", self.ttl_for(opts) >= RETENTION_TTL_S["long"], prefix.tokens)
        return WireCall(call.path, payload, [mark], entry.remote_id, dict(call.headers))

    # -- on demand -----------------------------------------------------------------------------------
    def refresh(self, key: CacheKey, ttl_s: float | None = None, *, retention: str = "short") -> CacheEntry:
        """Extend the live object of ``key`` by PATCHing its ``ttl`` (``ttl_s``, else the configured TTL);
        E512 when the registry has no live object for it, E511 when the API refuses."""
        entry = self.ctx.registry.lookup(key)
        if entry is None:
            raise CacheObjectError(f"error[E512]: no live Gemini cache object for prefix {key.prefix_hash} "
                                   f"({key.model}, account {key.account})", code="E512")
        ttl = ttl_s or self.options.ttl_s or RETENTION_TTL_S.get(retention, RETENTION_TTL_S["short"])
        resp = self._call("PATCH", f"/{API_VERSION}/{entry.remote_id}", {"ttl": duration(ttl)}, "refresh")
        data = resp.json()
        now = self.ctx.clock()
        expires = rfc3339_to_epoch(data["expireTime"]) if data.get("expireTime") else now + ttl
        self.ctx.registry.touch(key, expires_at=expires)
        added = max(0.0, expires - entry.expires_at)
        self._emit("refresh", None, key, remote_id=entry.remote_id, tokens=entry.tokens, ttl_s=ttl,
                   expires_at=expires, cost=0.0, storage_cost=self._storage_cost(entry.tokens, added))
        return self.ctx.registry.lookup(key) or entry

    def delete(self, key: CacheKey) -> bool:
        """Delete the object of ``key`` and forget it; False when there was none (or it was already gone)."""
        entry = self.ctx.registry.invalidate(key)
        if entry is None:
            return False
        gone = self.delete_remote(entry.remote_id)
        unused = max(0.0, entry.expires_at - self.ctx.clock())
        self._emit("delete", None, key, remote_id=entry.remote_id, tokens=entry.tokens, cost=0.0,
                   storage_saved=self._storage_cost(entry.tokens, unused))
        return gone

    def list_remote(self, page_size: int = 100) -> list[RemoteCache]:
        """Every ``cachedContents`` object of the account (all pages), with the registry key of each one
        promptc created (read back from its display name)."""
        out: list[RemoteCache] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": page_size}
            if token:
                params["pageToken"] = token
            data = self._call("GET", f"/{API_VERSION}/cachedContents", None, "list", params=params).json()
            for c in data.get("cachedContents") or []:
                parsed = parse_display_name(c.get("displayName"))
                model = (c.get("model") or "").removeprefix("models/") or None
                key = CacheKey("gemini", parsed[0], model, parsed[1]) if parsed and model else None
                out.append(RemoteCache(c["name"], c.get("displayName"), model,
                                       rfc3339_to_epoch(c["expireTime"]) if c.get("expireTime") else None,
                                       (c.get("usageMetadata") or {}).get("totalTokenCount"), key))
            token = data.get("nextPageToken")
            if not token:
                return out

    def delete_remote(self, name: str) -> bool:
        """DELETE one object by name (``cachedContents/...``); False when it no longer existed."""
        resp = self.ctx.transport.request("DELETE", f"/{API_VERSION}/{name}")
        if resp.status_code in (403, 404):
            return False
        if resp.status_code >= 400:
            status, message = self._details(resp)
            raise CacheObjectError(f"error[E511]: gemini refused to delete {name}: {resp.status_code} "
                                   f"{status or ''} {message}".rstrip())
        return True

    # -- helpers -------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any, what: str, params: dict[str, Any] | None = None):
        try:
            resp = self.ctx.transport.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise CacheObjectError(f"error[E511]: gemini cachedContents {what} failed: {type(exc).__name__}: {exc}") \
                from None
        if resp.status_code >= 400:
            status, message = self._details(resp)
            code = "E512" if resp.status_code in (403, 404) and what == "refresh" else "E511"
            raise CacheObjectError(f"error[{code}]: gemini cachedContents {what} failed: {resp.status_code} "
                                   f"{status or ''}: {message}", code=code)
        return resp

    def _details(self, resp: httpx.Response) -> tuple[str | None, str]:
        try:
            body: Any = resp.json()
        except ValueError:
            body = resp.text
        return self.adapter.error_details(body)

    def _input_cost(self, tokens: int) -> float | None:
        return None if self.price is None else tokens * self.price.input / 1e6

    def _storage_cost(self, tokens: int, seconds: float) -> float | None:
        return None if self.price is None else tokens / 1e6 * self.price.storage * seconds / 3600

    def _fallback(self, request: Request, key: CacheKey | None, reason: str, repeat: bool = False,
                  **fields: Any) -> None:
        marker = (key.prefix_hash if key else request.plan, reason)
        with self._lock:
            if marker in self._reported and not repeat:
                return
            self._reported.add(marker)
        self._emit("fallback", request, key, reason=reason, mode="implicit", **fields)

    def _emit(self, event: str, request: Request | None, key: CacheKey | None, **fields: Any) -> None:
        rec: dict[str, Any] = {"event": event, "provider": "gemini", "model": self.ctx.model}
        if request is not None:
            rec["plan"] = request.plan
        if key is not None:
            rec["prefix_hash"] = key.prefix_hash
            rec["account"] = key.account
        rec.update(fields)
        self.ctx.emit(rec)


def _lost(error: ProviderError) -> bool:
    """Whether ``error`` says the cache object is gone: 403 "CachedContent not found" or 404 "expired"."""
    msg = (error.message or "").lower()
    return error.status in (403, 404) and ("cachedcontent not found" in msg or "not found" in msg
                                           or "expired" in msg)


__all__ = ["CacheObjectError", "CacheOptionError", "GeminiCacheManager", "GeminiCacheOptions", "Prefix",
           "RemoteCache", "display_name", "options_from", "parse_display_name"]
