"""Moonshot's legacy context caches (``/v1/caching``, moonshot-v1 models) as a :class:`ResourceManager`.

Opt in per client: ``Client("moonshot/moonshot-v1-32k", cache_objects={"context_cache": True})``
(options: :class:`ContextCacheOptions`). The manager keeps these promises:

1. **One cache per shared static prefix.** The cache holds the plan's leading static messages and
   its tools; its registry key is (``moonshot``, account, model family, prefix hash), and creation
   goes through :meth:`CacheRegistry.acquire`, so clients sharing a registry create it once.
2. **Requests never wait for a cache.** Creation takes tens of seconds (status ``pending``): the
   create call and the status polls run on a background thread; until the registry says ``ready``,
   requests go out uncached. The first request after the cache is ready uses it.
3. **Use** is the ``{"role": "cache", "content": "cache_id=…;reset_ttl=…"}`` message in place of the
   cached messages, with ``tools: null`` (``use="message"``, the default), or the
   ``X-Msh-Context-Cache`` / ``X-Msh-Context-Cache-Reset-TTL`` headers with everything resent
   (``use="header"``). Each use resets the TTL.
4. **Never a failed user request because of a cache.** ``inactive`` (expired): the request runs
   uncached and its ``reset_ttl`` revives the cache. A 404 for the cache id: the registry entry is
   dropped, a new cache is created in the background and the request is retried once, uncached.
   ``error``: requests go uncached until ``retry_s`` has passed, then creation is tried again.
5. **Worth it**: a prefix below ``min_tokens`` gets no cache: by default the break-even size where one
   use saves as many input tokens as its per-call fee costs (1,500 tokens on moonshot-v1-32k).
6. **Limits**: at most ``max_cache_tokens`` (128k) per cache and ``user_limit_tokens`` (1M) of live
   caches per account. Beyond them nothing is created: with ``on_limit="evict"`` (default) the
   manager deletes its own least recently used caches until the new one fits, otherwise (or when
   eviction cannot make room) requests go uncached. Every such decision is a trace event.

Trace events (``Client(trace=...)``): ``create``, ``ready``, ``use``, ``recreate``, ``fallback`` and
``delete``, each with the prefix hash, cache id, tokens and ``cost`` (USD, from
:data:`promptc.core.prices.CONTEXT_CACHE_FEES`: creation per token, storage per token-minute for
the window each event commits or releases, the per-call fee).

:meth:`ContextCacheManager.list_remote` and :meth:`ContextCacheManager.delete_remote` let a
reconciler find and remove caches promptc created (``metadata.promptc = "1"``) that no registry
knows; :meth:`ContextCacheManager.ensure` creates a prefix's cache synchronously (pre-warm) and
raises the coded errors E517–E519 instead of falling back (E515: a model without a cache family;
E516: a bad option).
"""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from promptc.core.errors import PromptcError
from promptc.core.prices import ObjectFees, object_fees, price_for
from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.errors import ProviderError
from promptc.runtime.layout import TokenCounter
from promptc.runtime.registry import CacheEntry, CacheKey
from promptc.runtime.resources import ResourceContext, ResourceManager

if TYPE_CHECKING:  # pragma: no cover
    from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall

PROVIDER = "moonshot"
CACHE_HEADER = "X-Msh-Context-Cache"
RESET_HEADER = "X-Msh-Context-Cache-Reset-TTL"
_FAMILY = re.compile(r"moonshot-v1(-(8k|32k|128k|auto))?")

#: context-cache objects (moonshot-v1) live at most, and by default, this long: the Moonshot spec
LEGACY_MAX_TTL_S = int(SPECS["moonshot"].ttl_seconds("moonshot-v1", "long") or 1)


class _CreateFailed(Exception):
    """A creation that did not produce a usable cache: ``limit`` (E518) or ``create`` (E517)."""

    def __init__(self, kind: str, why: str):
        self.kind, self.why = kind, why
        super().__init__(why)


class ContextCacheError(PromptcError):
    """A Moonshot context cache that cannot be used or created (codes E515–E519)."""

    def __init__(self, code: str, message: str, hint: str):
        self.code, self.hint = code, hint
        super().__init__(f"error[{code}]: {message}\n  = hint: {hint}")


def model_family(model: str) -> str:
    """The context-cache family of ``model`` (``moonshot-v1-32k`` → ``moonshot-v1``); E515 when it has none."""
    if _FAMILY.fullmatch(model.lower()):
        return "moonshot-v1"
    raise ContextCacheError("E515", f"moonshot/{model} has no context-cache family: only moonshot-v1-8k, -32k, "
                            "-128k and -auto (family moonshot-v1) take legacy context caches",
                            "use a moonshot-v1 model, or drop cache_objects.context_cache (Kimi models cache "
                            "automatically with prompt_cache_key)")


@dataclass(frozen=True)
class StaticPrefix:
    """What a context cache of one request holds: whole leading static ``messages``, the ``tools``,
    the plan ``segments`` they come from, and the ``prefix_hash`` naming exactly those segments."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    segments: tuple[int, ...]
    tools_static: bool
    prefix_hash: str
    plan: str


@dataclass(frozen=True)
class ContextCacheOptions:
    """``cache_objects`` options of a moonshot client (see docs/providers.md, "Kimi / Moonshot").

    ``context_cache``: ``True``/``"message"`` (use by the ``role: cache`` message), ``"header"`` (the
    ``X-Msh-Context-Cache`` headers), ``False`` (off, the default). ``ttl`` seconds a cache lives after
    creation (1–3600), ``reset_ttl`` the TTL each use sets (default ``ttl``), ``on_limit`` ``evict`` or
    ``fallback``, ``poll_s`` seconds between status polls, ``retry_s`` how long a failed creation is
    not retried, ``min_tokens`` the smallest prefix worth a cache (default: the break-even size where
    the tokens one use saves cost as much as the per-call fee; 0 caches every prefix).
    """

    enabled: bool = False
    use: str = "message"
    ttl: int = LEGACY_MAX_TTL_S
    reset_ttl: int = LEGACY_MAX_TTL_S
    user_limit_tokens: int = 1_000_000
    max_cache_tokens: int = 128_000
    on_limit: str = "evict"
    poll_s: float = 5.0
    retry_s: float = 300.0
    min_tokens: int | None = None


_KEYS = ("context_cache", "ttl", "reset_ttl", "user_limit_tokens", "max_cache_tokens", "on_limit", "poll_s",
         "retry_s", "min_tokens")


def parse_options(raw: dict[str, Any] | None) -> ContextCacheOptions:
    """:class:`ContextCacheOptions` from a client's ``cache_objects``; E516 for an unknown key or a bad value."""
    raw = dict(raw or {})

    def bad(field: str, why: str) -> ContextCacheError:
        return ContextCacheError("E516", f"cache_objects.{field}: {why}",
                                 f"known options: {', '.join(_KEYS)} (docs/providers.md, \"Kimi / Moonshot\")")

    for k in raw:
        if k not in _KEYS:
            raise bad(k, "not a Moonshot context-cache option")
    mode = raw.get("context_cache", False)
    if mode not in (True, False, None, "message", "header"):
        raise bad("context_cache", f"{mode!r} is not true, false, \"message\" or \"header\"")

    def number(field: str, default: float, lo: float, hi: float | None = None) -> float:
        v = raw.get(field, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lo or (hi is not None and v > hi):
            raise bad(field, f"{v!r} is not a number in [{lo:g}, {hi if hi is not None else '∞'}]")
        return v

    ttl = int(number("ttl", LEGACY_MAX_TTL_S, 1, LEGACY_MAX_TTL_S))
    on_limit = raw.get("on_limit", "evict")
    if on_limit not in ("evict", "fallback"):
        raise bad("on_limit", f"{on_limit!r} is not \"evict\" or \"fallback\"")
    return ContextCacheOptions(enabled=bool(mode), use="header" if mode == "header" else "message", ttl=ttl,
                               reset_ttl=int(number("reset_ttl", ttl, 1, LEGACY_MAX_TTL_S)),
                               user_limit_tokens=int(number("user_limit_tokens", 1_000_000, 1)),
                               max_cache_tokens=int(number("max_cache_tokens", 128_000, 1)), on_limit=on_limit,
                               poll_s=float(number("poll_s", 5.0, 0.001)), retry_s=float(number("retry_s", 300.0, 0)),
                               min_tokens=None if raw.get("min_tokens") is None else int(number("min_tokens", 0, 0)))


class ContextCacheManager(ResourceManager):
    """Creates, uses, revives and deletes Moonshot context caches for one client (see the module doc)."""

    def __init__(self, adapter: Any, ctx: ResourceContext, options: ContextCacheOptions):
        self.adapter, self.ctx, self.options = adapter, ctx, options
        self.family = model_family(ctx.model)
        self.fees = object_fees(f"{PROVIDER}/{self.family}")
        self.min_tokens = options.min_tokens if options.min_tokens is not None else break_even(ctx.target, self.fees)
        self._counter: TokenCounter | None = None
        self._failed: dict[CacheKey, tuple[float, str, str]] = {}  # key → (retry after, kind, why)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queued: set[CacheKey] = set()
        self._pending: dict[CacheKey, str] = {}  # key → plan, polled until ready
        self._said: set[tuple[CacheKey | None, str]] = set()
        self._jobs: queue.Queue = queue.Queue()
        self._busy = 0
        self._stop = threading.Event()
        # the registry deletes this provider's objects it evicts or loses a race for through the manager
        ctx.registry.set_deleter(PROVIDER, lambda entry: self.delete_remote(entry.remote_id, "evicted"))
        self._thread: threading.Thread | None = None

    # -- the hook -----------------------------------------------------------------------------------
    def prepare(self, call: "WireCall", request: Request, opts: "CallOptions", ctx: "BuildContext") -> "WireCall":
        prefix = self.adapter.static_prefix(request)
        if not prefix.messages:
            return call
        if not prefix.tools_static:
            self._fallback_once(None, prefix, "tools_not_static", "a tools segment is not static: a context cache "
                                "must hold every tool")
            return call
        key = self.key(prefix)
        now = self.ctx.clock()
        entry = self.ctx.registry.backend.get(key)
        if entry is None:
            with self._lock:
                failed = self._failed.get(key)
            if failed is not None and now < failed[0]:
                return call  # said once when it failed; retried after retry_s
            tokens = self._estimate(request, prefix, ctx.counter)
            if tokens < self.min_tokens:
                self._fallback_once(key, prefix, "below_break_even",
                                    f"~{tokens} tokens: a use would save less than its call fee (min_tokens "
                                    f"{self.min_tokens})")
                return call
            self._schedule(key, prefix, tokens)
            return call
        if entry.status == "pending":
            self._watch(key, prefix.plan)
            self._fallback_once(key, prefix, "pending", "the cache is being created; requests go uncached meanwhile")
            return call
        if not entry.alive(now):  # inactive: this request runs uncached; its reset_ttl revives the cache
            expires = now + self.options.reset_ttl
            self.ctx.registry.backend.put(replace(entry, status="pending", expires_at=expires, last_used=now))
            self._watch(key, prefix.plan)
            self._event("recreate", prefix, entry.remote_id, entry.tokens, how="revive", reason="inactive",
                        **self._costs(entry.tokens, storage_s=expires - now))
            return self._rewrite(call, prefix, entry.remote_id)
        expires = now + self.options.reset_ttl
        self.ctx.registry.touch(key, expires_at=expires)
        self._event("use", prefix, entry.remote_id, entry.tokens,
                    **self._costs(entry.tokens, storage_s=max(0.0, expires - max(entry.expires_at, now)), call=True))
        return self._rewrite(call, prefix, entry.remote_id)

    def recover(self, call: "WireCall", request: Request, opts: "CallOptions", ctx: "BuildContext",
                error: "ProviderError") -> "WireCall | None":
        """A 404 for the cache the call used: drop it, recreate it in the background, retry uncached."""
        cache_id = used_cache(call)
        if error.status != 404 or cache_id is None:
            return None
        prefix = self.adapter.static_prefix(request)
        key = self.key(prefix)
        old = self.ctx.registry.backend.get(key)
        if old is not None and old.remote_id == cache_id:
            self.ctx.registry.invalidate(key)
        self._event("recreate", prefix, cache_id, old.tokens if old else None, how="create", reason="not_found",
                    cost=0.0)
        self._schedule(key, prefix, self._estimate(request, prefix, ctx.counter))
        return self.adapter.build(request, opts, ctx)

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- public helpers (pre-warm, reconciliation, tests) --------------------------------------------
    def key(self, prefix: StaticPrefix) -> CacheKey:
        """The registry key of ``prefix`` for this client's account and model family."""
        return CacheKey(PROVIDER, self.ctx.account, self.family, prefix.prefix_hash)

    def ensure(self, request: Request, counter: TokenCounter | None = None) -> CacheEntry:
        """Create (or find) the context cache of ``request``'s static prefix now, in this thread, and return
        its registry entry (possibly still ``pending``: see :meth:`refresh`). Raises E517–E519 instead of
        falling back."""
        prefix = self.adapter.static_prefix(request)
        if not prefix.messages or not prefix.tools_static:
            raise ContextCacheError("E519", f"plan `{request.plan}` has no static prefix a context cache can hold",
                                    "a context cache holds the plan's leading static messages and all of its tools, "
                                    "so those must be static")
        key = self.key(prefix)
        if counter is None:
            if self._counter is None:
                self._counter = TokenCounter("o200k_base")
            counter = self._counter
        tokens = self._estimate(request, prefix, counter)
        try:
            entry, _ = self.ctx.registry.acquire(key, lambda: self._create(key, prefix, tokens), emit=self.ctx.emit)
        except _CreateFailed as exc:
            if exc.kind == "limit":
                raise ContextCacheError("E518", f"no context cache for plan `{request.plan}`: {exc.why}",
                                        "delete unused caches, shorten the static prefix, or use on_limit=\"evict\"")
            raise ContextCacheError("E517", f"no context cache for plan `{request.plan}`: {exc.why}",
                                    "read the provider's message; check the account's access to context caching")
        if entry.status == "pending":
            self._watch(key, prefix.plan)
        return entry

    def refresh(self) -> list[CacheEntry]:
        """Poll every pending cache once, now (the background thread does this every ``poll_s``)."""
        with self._lock:
            pending = dict(self._pending)
        out = []
        for key, plan in pending.items():
            e = self._poll(key, plan)
            if e is not None:
                out.append(e)
        return out

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no background creation is queued or running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0 and not self._queued, timeout=timeout)

    def list_remote(self) -> list[dict[str, Any]]:
        """Every context cache promptc created on this account (``metadata[promptc]=1``), as the API lists
        them: ``id``, ``status``, ``tokens``, ``expired_at``, ``metadata`` (with ``prefix_hash``) ..."""
        out: list[dict[str, Any]] = []
        after = None
        while True:
            params = {"limit": 100, "order": "asc", "metadata[promptc]": "1"}
            if after:
                params["after"] = after
            r = self.ctx.transport.request("GET", "/caching", params=params)
            if r.status_code >= 400:
                raise ProviderError(PROVIDER, r.status_code, f"listing context caches failed: {_message(r)}")
            body = r.json()
            data = body.get("data") or []
            out.extend(data)
            if not data or not body.get("has_more"):
                return out
            after = data[-1]["id"]

    def delete_remote(self, cache_id: str, reason: str = "requested") -> bool:
        """Delete one remote cache (and forget it); False when it no longer existed."""
        entry = next((e for e in self.ctx.registry.entries(PROVIDER) if e.remote_id == cache_id), None)
        r = self.ctx.transport.request("DELETE", f"/caching/{cache_id}")
        if r.status_code >= 400 and r.status_code != 404:
            raise ProviderError(PROVIDER, r.status_code, f"deleting context cache {cache_id} failed: {_message(r)}")
        now = self.ctx.clock()
        tokens = entry.tokens if entry else None
        if entry is not None:
            self.ctx.registry.invalidate(entry.key)
        left = max(0.0, entry.expires_at - now) if entry else 0.0
        refund = self._costs(tokens or 0, storage_s=-left)
        self._event("delete", None, cache_id, tokens, reason=reason, existed=r.status_code != 404,
                    prefix_hash=entry.key.prefix_hash if entry else None, **refund)
        return r.status_code != 404

    # -- internals ----------------------------------------------------------------------------------
    def _rewrite(self, call: "WireCall", prefix: StaticPrefix, cache_id: str) -> "WireCall":
        reset = self.options.reset_ttl
        if self.options.use == "header":
            return replace(call, headers={**call.headers, CACHE_HEADER: cache_id, RESET_HEADER: str(reset)})
        payload = dict(call.payload)
        messages = payload.get("messages") or []
        n = len(prefix.messages)
        payload["messages"] = ([{"role": "cache", "content": f"cache_id={cache_id};reset_ttl={reset}"}]
                               + messages[n:])
        payload["tools"] = None  # the cache holds the tools
        return replace(call, payload=payload)

    def _schedule(self, key: CacheKey, prefix: StaticPrefix, tokens: int) -> None:
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="promptc-moonshot-cache", daemon=True)
                self._thread.start()
        self._jobs.put((key, prefix, tokens))

    def _watch(self, key: CacheKey, plan: str) -> None:
        with self._lock:
            self._pending[key] = plan
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="promptc-moonshot-cache", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """The background thread: creations as they are queued, and a status poll every ``poll_s``
        (also under a steady stream of creations)."""
        last_poll = time.monotonic()
        while not self._stop.is_set():
            wait = max(0.0, self.options.poll_s - (time.monotonic() - last_poll))
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                job = None
            if self._stop.is_set():
                return
            if job is not None:
                self._run_create(*job)
            if time.monotonic() - last_poll >= self.options.poll_s:
                last_poll = time.monotonic()
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - the thread must outlive a bad answer; the next round polls again
                    pass

    def _run_create(self, key: CacheKey, prefix: StaticPrefix, tokens: int) -> None:
        with self._lock:
            self._busy += 1
            self._queued.discard(key)
        try:
            entry, _ = self.ctx.registry.acquire(key, lambda: self._create(key, prefix, tokens), emit=self.ctx.emit)
            if entry.status == "pending":
                self._watch(key, prefix.plan)
        except _CreateFailed:
            pass  # recorded and reported by _failure
        except Exception as exc:  # noqa: BLE001 - a failed create must never reach a user request; say so
            self._failure(key, prefix, "create", f"{type(exc).__name__}: {exc}")
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _create(self, key: CacheKey, prefix: StaticPrefix, tokens: int) -> CacheEntry:
        """POST /caching (within :meth:`CacheRegistry.acquire`: one creator per key). Failures return an
        ``error`` entry that keeps requests uncached for ``retry_s``."""
        now = self.ctx.clock()
        if tokens > self.options.max_cache_tokens:
            raise self._failure(key, prefix, "limit", f"the static prefix has ~{tokens} tokens, over the "
                                f"{self.options.max_cache_tokens}-token limit per cache", tokens)
        live = sorted((e for e in self.ctx.registry.entries(PROVIDER)
                       if e.key.account == key.account and e.key != key and e.status in ("pending", "ready")
                       and e.alive(now)), key=lambda e: e.last_used)
        used = sum(e.tokens for e in live)
        if used + tokens > self.options.user_limit_tokens:
            if self.options.on_limit == "evict":
                for e in live:
                    if used + tokens <= self.options.user_limit_tokens:
                        break
                    self.delete_remote(e.remote_id, reason="user_limit")
                    used -= e.tokens
            if used + tokens > self.options.user_limit_tokens:
                raise self._failure(key, prefix, "limit", f"{used} tokens of live caches + {tokens} would exceed "
                                    f"the {self.options.user_limit_tokens}-token limit per user", tokens)
        body: dict[str, Any] = {"model": self.family, "messages": prefix.messages,
                                "name": f"promptc-{prefix.plan}"[:256],
                                "description": f"promptc static prefix of plan {prefix.plan}"[:512],
                                "metadata": {"promptc": "1", "prefix_hash": prefix.prefix_hash,
                                             "plan": prefix.plan[:512], "account": key.account[:512]},
                                "ttl": self.options.ttl}
        if prefix.tools:
            body["tools"] = prefix.tools
        r = self.ctx.transport.request("POST", "/caching", json=body)
        if r.status_code >= 400:
            msg = _message(r)
            kind = "limit" if "limit" in msg.lower() else "create"
            raise self._failure(key, prefix, kind, f"POST /caching returned {r.status_code}: {msg}", tokens)
        obj = r.json()
        status = obj.get("status", "pending")
        tokens = int(obj.get("tokens") or tokens)
        if status == "error":
            err = obj.get("error") or {}
            raise self._failure(key, prefix, "create", f"status error: {err.get('message', '')}", tokens)
        expires = float(obj.get("expired_at") or now + self.options.ttl)
        self._event("create", prefix, obj["id"], tokens, status=status,
                    **self._costs(tokens, storage_s=max(0.0, expires - now), create=True))
        return CacheEntry(key, obj["id"], expires, tokens, now, now, "ready" if status == "ready" else "pending")

    def _failure(self, key: CacheKey, prefix: StaticPrefix | None, kind: str, why: str,
                 tokens: int | None = None) -> _CreateFailed:
        """Remember a failed creation (requests go uncached for ``retry_s``) and say so in the trace."""
        with self._lock:
            self._failed[key] = (self.ctx.clock() + self.options.retry_s, kind, why)
        self._event("fallback", prefix, None, tokens, reason="user_limit" if kind == "limit" else "create_failed",
                    detail=why, cost=0.0, **({} if prefix else {"prefix_hash": key.prefix_hash}))
        return _CreateFailed(kind, why)

    def _poll(self, key: CacheKey, plan: str) -> CacheEntry | None:
        entry = self.ctx.registry.backend.get(key)
        if entry is None or entry.status != "pending":
            with self._lock:
                self._pending.pop(key, None)
            return entry
        r = self.ctx.transport.request("GET", f"/caching/{entry.remote_id}")
        now = self.ctx.clock()
        if r.status_code == 404:
            self.ctx.registry.invalidate(key)
            with self._lock:
                self._pending.pop(key, None)
            return None
        if r.status_code >= 400:
            return entry
        obj = r.json()
        status = obj.get("status")
        expires = float(obj.get("expired_at") or entry.expires_at)
        tokens = int(obj.get("tokens") or entry.tokens)
        if status == "pending":
            return entry
        with self._lock:
            self._pending.pop(key, None)
        info = {"prefix_hash": key.prefix_hash, "plan": plan}
        if status == "ready":
            new = replace(entry, status="ready", expires_at=expires, tokens=tokens)
            self._event("ready", None, entry.remote_id, tokens, cost=0.0, waited_s=round(now - entry.created_at, 3),
                        **info)
        elif status == "inactive":
            new = replace(entry, status="ready", expires_at=min(expires, now), tokens=tokens)
        else:  # error: remove the broken object; requests stay uncached until retry_s passes
            err = obj.get("error") or {}
            self._failure(key, None, "create", f"{entry.remote_id} ended in status error: {err.get('message', '')}",
                          tokens)
            self.delete_remote(entry.remote_id, reason="error")
            return None
        self.ctx.registry.backend.put(new)
        return new

    def _estimate(self, request: Request, prefix: StaticPrefix, counter: TokenCounter) -> int:
        """Tokens the cache will hold, estimated from its segments' counts (the plan's, or the client's
        proxy tokenizer); the create response's ``tokens`` replaces it."""
        return sum(counter.count(request.segments[i], self.ctx.target) for i in prefix.segments)

    def _costs(self, tokens: int, *, storage_s: float = 0.0, create: bool = False, call: bool = False) -> dict:
        """``cost`` and its parts (USD) for an event; unknown (None) without a fee table entry."""
        if self.fees is None:
            return {"cost": None}
        parts = {"creation": tokens * self.fees.create / 1e6 if create else 0.0,
                 "storage": tokens * self.fees.storage_per_minute * storage_s / 60 / 1e6,
                 "call": self.fees.per_call if call else 0.0}
        return {"cost": sum(parts.values()), "cost_detail": parts}

    def _fallback_once(self, key: CacheKey | None, prefix: StaticPrefix, reason: str, detail: str) -> None:
        with self._lock:
            if (key, reason) in self._said:
                return
            self._said.add((key, reason))
        self._event("fallback", prefix, None, None, reason=reason, detail=detail, cost=0.0)

    def _event(self, event: str, prefix: StaticPrefix | None, cache_id: str | None, tokens: int | None,
               **fields: Any) -> None:
        rec: dict[str, Any] = {"event": event, "provider": PROVIDER, "cache_id": cache_id, "tokens": tokens}
        if prefix is not None:
            rec.update(plan=prefix.plan, prefix_hash=prefix.prefix_hash)
        rec.update(fields)
        self.ctx.emit(rec)


def break_even(target: str, fees: ObjectFees | None) -> int:
    """The smallest cache (tokens) whose use saves at least the per-call fee at ``target``'s input price
    (cached tokens are not billed per token); 0 when either price is unknown."""
    price = price_for(target)
    if fees is None or price is None or price.input <= 0:
        return 0
    return math.ceil(round(fees.per_call / (price.input * (1 - price.read) / 1e6), 6))  # no float noise


def used_cache(call: "WireCall") -> str | None:
    """The context cache id a built call uses (by message or header), or None."""
    if CACHE_HEADER in call.headers:
        return call.headers[CACHE_HEADER]
    messages = call.payload.get("messages") or []
    if messages and messages[0].get("role") == "cache":
        for opt in str(messages[0].get("content", "")).split(";"):
            k, _, v = opt.partition("=")
            if k.strip() == "cache_id":
                return v.strip()
    return None


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:300]
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("message", "")) if isinstance(err, dict) else str(body)[:300]


__all__ = ["ContextCacheError", "break_even", "ContextCacheManager", "ContextCacheOptions", "StaticPrefix", "model_family",
           "parse_options", "used_cache"]
