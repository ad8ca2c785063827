"""The adapter interface every provider implements, and the records adapters return.

An adapter is a small, stateless object that knows one provider's wire format:

- :meth:`Adapter.build` turns a provider-neutral :class:`~promptc.plan.Request` into the payload,
  placing cache controls at the breakpoints :mod:`promptc.runtime.layout` chose and the provider's
  limits allow. Segment content goes out byte for byte, in plan order; same-role runs are merged
  into the blocks/parts the API wants;
- :meth:`Adapter.parse` turns a JSON response into a :class:`Completion` (text, normalized usage);
- :meth:`Adapter.stream` returns a :class:`StreamState` that consumes server-sent events.

The client (:mod:`promptc.runtime.client`) does HTTP, retries, cost and tracing; adding a provider
means adding one module here and one line to :data:`promptc.runtime.providers.ADAPTERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptc.core.providers import CacheLimits
from promptc.plan import Request
from promptc.runtime.layout import Mark, TokenCounter
from promptc.runtime.usage import Usage

if TYPE_CHECKING:  # pragma: no cover
    from promptc.runtime.resources import ResourceContext, ResourceManager


@dataclass(frozen=True)
class CallOptions:
    """Per-request options. ``extra`` is merged into the payload last (provider-specific fields)."""

    model: str
    target: str
    max_tokens: int = 1024
    temperature: float | None = None
    retention: str = "short"
    tenant: str | None = None
    stream: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: an inherited cache key / routing key / session id (a plan family's, :mod:`promptc.runtime.keys`):
    #: adapters send it in place of the key they derive from the request
    key: str | None = None


@dataclass(frozen=True)
class BuildContext:
    """What an adapter may consult while building: the model's cache limits and a token counter."""

    limits: CacheLimits
    counter: TokenCounter


@dataclass(frozen=True)
class WireCall:
    """A built request: ``path`` under the base URL, the JSON ``payload`` and where caching went."""

    path: str
    payload: dict[str, Any]
    marks: list[Mark] = field(default_factory=list)
    cache_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """What an adapter reads from a response: text, normalized usage and the provider's ids."""

    text: str
    usage: Usage
    finish_reason: str | None
    response_id: str | None
    model: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class StreamEvent:
    """One streamed event: ``text`` deltas, then one ``done`` event carrying the finished reply."""

    type: str  # "text" | "done"
    text: str = ""
    reply: Any = None


class StreamState(ABC):
    """Consumes ``(event, data)`` pairs of one SSE stream; :meth:`finish` raises when it ended early."""

    @abstractmethod
    def feed(self, event: str | None, data: str) -> list[StreamEvent]: ...

    @abstractmethod
    def finish(self) -> Completion: ...


class Adapter(ABC):
    """One provider's wire format. Subclasses set the class attributes and implement the methods."""

    provider: str
    env_key: str  # the standard environment variable for the API key
    env_key_fallbacks: tuple[str, ...] = ()  # variables read, in order, when env_key is unset
    base_url_env: str  # the official SDK's variable for the base URL
    default_base_url: str
    key_required: bool = True  # False where a local server may run without one

    @abstractmethod
    def headers(self, api_key: str) -> dict[str, str]:
        """Authentication and version headers."""

    @abstractmethod
    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        """The payload for ``request`` (never re-ordering or re-serializing segment content)."""

    @abstractmethod
    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        """A non-streamed JSON response."""

    @abstractmethod
    def stream(self, call: WireCall) -> StreamState:
        """A fresh state for one streamed response."""

    def configured(self, settings: dict[str, Any]) -> "Adapter":
        """This adapter with the project's ``[tool.promptc.providers.<provider>]`` table applied
        (the client calls it once); adapters without settings of their own return themselves."""
        return self

    def resources(self, ctx: "ResourceContext") -> "ResourceManager | None":
        """A manager of the provider's cache objects (Gemini ``cachedContents``, Moonshot ``/v1/caching``)
        for one client, or None where caching needs no objects (see :mod:`promptc.runtime.resources`)."""
        return None

    def error_details(self, body: Any) -> tuple[str | None, str]:
        """(error type, message) from an error body."""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            e = body["error"]
            return e.get("type") or e.get("code"), str(e.get("message", ""))
        return None, str(body)[:500]

    #: How a streamed body is framed: ``"sse"`` (server-sent events) or ``"eventstream"`` (AWS's
    #: binary framing, :mod:`promptc.runtime.eventstream`). The client picks the decoder from it.
    stream_framing: str = "sse"

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """The headers to send with this exact ``body`` (AWS SigV4 signs the body); default: unchanged."""
        return headers

    def error_from(self, headers: Any, body: Any) -> tuple[str | None, str]:
        """(error type, message) from an error response's headers and body; default: :meth:`error_details`."""
        return self.error_details(body)


def runs(request: Request) -> list[tuple[str, list[int]]]:
    """Consecutive same-role runs of non-tools segments: ``[(role, [segment index, ...])]``."""
    out: list[tuple[str, list[int]]] = []
    for i, s in enumerate(request.segments):
        if s.kind == "tools":
            continue
        if out and out[-1][0] == s.role:
            out[-1][1].append(i)
        else:
            out.append((s.role, [i]))
    return out
