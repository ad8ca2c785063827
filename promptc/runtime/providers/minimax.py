"""MiniMax through its Anthropic-compatible Messages API (``POST /v1/messages`` under
``https://api.minimax.io/anthropic``), where explicit ``cache_control`` breakpoints work.

The wire is Anthropic's (:class:`~promptc.runtime.providers.anthropic.AnthropicAdapter`): tools →
system → messages, breakpoints on the last block of each placed prefix, usage exclusive
(``input_tokens`` + ``cache_creation_input_tokens`` + ``cache_read_input_tokens``). What differs, from
the MiniMax spec: the minimum (512), one TTL (5 minutes: ``long`` retention places the same markers,
never a ``1h`` one), and the marker is sent as MiniMax documents it, ``{"type": "ephemeral"}``
without a ``ttl``. No top-level (automatic) ``cache_control`` is sent. MiniMax's usage has no
``cache_creation`` split by TTL: with one TTL, every written token is a 5-minute write.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.providers.anthropic import AnthropicAdapter
from promptc.runtime.providers.base import BuildContext, CallOptions, Completion, StreamState, WireCall

_SPEC = SPECS["minimax"]


def _plain_markers(blocks: Any) -> None:
    for b in blocks or []:
        if isinstance(b, dict) and isinstance(b.get("cache_control"), dict):
            b["cache_control"] = {"type": "ephemeral"}


def _one_ttl(done: Completion) -> Completion:
    """Writes reported without a TTL split are 5-minute writes (MiniMax's only TTL)."""
    write = done.usage.cache_write
    if not write or "unknown" not in write or len(_SPEC.ttls) != 1:
        return done
    (ttl,) = _SPEC.ttls
    fixed = {ttl: write.get(ttl, 0) + write["unknown"], **{k: v for k, v in write.items() if k not in ("unknown", ttl)}}
    return replace(done, usage=replace(done.usage, cache_write=fixed))


class _OneTTLStream(StreamState):
    def __init__(self, inner: StreamState):
        self.inner = inner

    def feed(self, event: str | None, data: str) -> list:
        return self.inner.feed(event, data)

    def finish(self) -> Completion:
        return _one_ttl(self.inner.finish())


class MiniMaxAdapter(AnthropicAdapter):
    """MiniMax (``minimax/<model>``, e.g. ``minimax/MiniMax-M2.7``): Anthropic-style breakpoints."""

    provider = "minimax"
    env_key = _SPEC.env_key
    base_url_env = _SPEC.base_url_env
    default_base_url = _SPEC.default_base_url

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        if opts.retention == "long" and _SPEC.ttl_name(opts.model, "long") == _SPEC.ttl_name(opts.model, "short"):
            opts = replace(opts, retention="short")  # one TTL: long buys the same 5 minutes
        call = super().build(request, opts, ctx)
        p = call.payload
        _plain_markers(p.get("tools"))
        _plain_markers(p.get("system"))
        for msg in p.get("messages") or []:
            _plain_markers(msg.get("content"))
        return call

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        return _one_ttl(super().parse(body, call))

    def stream(self, call: WireCall) -> StreamState:
        return _OneTTLStream(super().stream(call))


__all__ = ["MiniMaxAdapter"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = MiniMaxAdapter
