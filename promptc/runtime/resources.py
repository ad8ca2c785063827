"""Provider cache *objects*: the hook through which an adapter creates, reuses and recovers them.

Some providers cache only through objects a client creates and names (Gemini ``cachedContents``,
Moonshot's ``/v1/caching``). An adapter that supports them returns a :class:`ResourceManager`
from :meth:`~promptc.runtime.providers.base.Adapter.resources`; the client then

1. calls :meth:`ResourceManager.prepare` on every built :class:`WireCall` before sending it (the
   manager may create or look up the cache object and rewrite the call to use it);
2. calls :meth:`ResourceManager.recover` once when the provider rejects a call that used a cache
   object (expired, deleted, too small): the manager returns a call to retry, or None.

Managers talk to the provider through :class:`Transport` (the client's HTTP client, base URL and
auth headers), share remote objects through the :class:`~promptc.runtime.registry.CacheRegistry`,
and report what they did (create, refresh, delete, recreate, fallback) with :meth:`ResourceContext.emit`,
which lands in the cache trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import httpx

from promptc.plan import Request

if TYPE_CHECKING:  # pragma: no cover
    from promptc.runtime.errors import ProviderError
    from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall
    from promptc.runtime.registry import CacheRegistry


@dataclass
class Transport:
    """Synchronous HTTP to the provider: ``base_url`` + path, with the client's auth headers."""

    http: httpx.Client
    base_url: str
    headers: dict[str, str]
    timeout_s: float = 60.0

    def request(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None,
                params: dict[str, Any] | None = None) -> httpx.Response:
        """One HTTP request (no retries; a manager decides what a failure means)."""
        return self.http.request(method, self.base_url + path, json=json, params=params,
                                 headers={**self.headers, **(headers or {})}, timeout=self.timeout_s)


@dataclass
class ResourceContext:
    """What a manager may use: transport, the shared registry, the account/tenant scope, a clock,
    the target, the model's cache limits and price, and ``emit`` for trace events."""

    transport: Transport
    registry: "CacheRegistry"
    account: str
    target: str
    model: str
    clock: Callable[[], float]
    emit: Callable[[dict[str, Any]], None] = field(default=lambda event: None)
    options: dict[str, Any] = field(default_factory=dict)


class ResourceManager(ABC):
    """Creates and reuses one provider's cache objects for one client."""

    @abstractmethod
    def prepare(self, call: "WireCall", request: Request, opts: "CallOptions",
                ctx: "BuildContext") -> "WireCall":
        """The call to send: ``call`` rewritten to use a cache object (created if needed), or unchanged."""

    def recover(self, call: "WireCall", request: Request, opts: "CallOptions", ctx: "BuildContext",
                error: "ProviderError") -> "WireCall | None":
        """After ``error`` on ``call``: a call to retry once (e.g. with a recreated cache), or None."""
        return None

    def close(self) -> None:
        """Stop background work (pending creations, heartbeats)."""


__all__ = ["ResourceContext", "ResourceManager", "Transport"]
