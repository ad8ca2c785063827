"""Self-hosted OpenAI-compatible servers: vLLM (``vllm/<model>``) and SGLang (``sglang/<model>``).

Both servers cache automatically by token prefix (vLLM: hashes of full 16-token KV blocks; SGLang: a
radix tree), so no breakpoints are placed. What promptc adds is *where* a request lands and *whose*
cache it may read:

- **routing key**: derived from the plan's stable prefix hash (the last static segment's
  ``prefix_hash``) plus the tenant — the same derivation as OpenAI's ``prompt_cache_key``
  (:func:`routing_key`). Sent as a header a router routes on: ``X-SMG-Routing-Key`` for the SGLang
  Model Gateway (``--policy consistent_hashing`` / ``manual``; on by default for ``sglang``), or the
  header named by vLLM production-stack's ``--session-key`` (``--routing-logic session``; off by
  default for ``vllm``, name it with ``routing_header``). ``routing_scope = "shared"`` keys on the
  last static *global* segment instead, so every agent of a tenant lands on one replica.
- **cache salt** (vLLM ``cache_salt``): a per-tenant salt (:func:`cache_salt`, 43 characters of
  unpadded base64url) so one tenant's requests never read another's cached blocks. Sent when the
  client has a tenant (``Client(..., tenant="acme")``); never without one unless ``cache_salt =
  "always"``.

Settings live in ``[tool.promptc.providers.vllm]`` / ``[tool.promptc.providers.sglang]`` next to
``base_url`` (:class:`SelfHostedSettings`); a bad one is E528. Messages go out as one string per
same-role run (the segments' texts concatenated byte for byte: vLLM would join text *parts* with
``"\\n"``, which changes the tokens), tools as OpenAI function tools, ``max_tokens`` for the
length. Usage: ``prompt_tokens_details.cached_tokens`` only exists when the server runs with
``--enable-prompt-tokens-details`` (vLLM) or ``--enable-cache-report`` (SGLang), and some vLLM
versions omit it when it is 0 — a missing field is *unknown* (``None``), never 0. There are no cache
writes (0). Prices are 0 (local), so cost is 0 whenever the split is known. Retention settings
have no effect: the servers keep blocks until memory runs out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, replace
from typing import Any, Mapping

from promptc.core.providers.selfhosted import tool_function
from promptc.plan import Request
from promptc.runtime.errors import RuntimeSettingError
from promptc.runtime.providers.base import BuildContext, CallOptions, WireCall, runs
from promptc.runtime.providers.openai import OpenAIChatAdapter, cache_key
from promptc.runtime.usage import from_openai_chat

SMG_ROUTING_HEADER = "X-SMG-Routing-Key"
_SALT_MODES = ("tenant", "always", "none")
_SCOPES = ("plan", "shared")


def routing_key(request: Request, tenant: str | None, scope: str = "plan") -> str:
    """The routing key of ``request``: its stable prefix hash plus the tenant (``head:digest``, ≤ 57 chars).

    ``scope="plan"`` keys on the last static segment (requests of one plan share a replica; equal to
    OpenAI's ``prompt_cache_key``); ``"shared"`` on the last static segment of level ``global``
    (every plan that shares the global prefix shares a replica).
    """
    return cache_key(request, tenant, scope)


def cache_salt(tenant: str, secret: bytes | None = None) -> str:
    """vLLM ``cache_salt`` for ``tenant``: 43 characters of unpadded base64url of SHA-256 (HMAC with
    ``secret`` when given). Stable across processes; without a secret it separates tenants' caches but
    anyone who knows the tenant's name can compute it."""
    msg = f"promptc-cache-salt\x00{tenant}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest() if secret else hashlib.sha256(msg).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class SelfHostedSettings:
    """The routing and isolation options of a self-hosted provider (``[tool.promptc.providers.<p>]``).

    - ``cache_salt``: ``"tenant"`` (salt when the client has a tenant), ``"always"`` (tenant
      ``"default"`` when it has none) or ``"none"``;
    - ``cache_salt_secret_env``: the environment variable holding a secret that keys the salt (HMAC);
    - ``routing_header``: the header carrying the routing key (``""`` for none);
    - ``routing_scope``: ``"plan"`` or ``"shared"`` (see :func:`routing_key`);
    - ``routing_key_in_body``: also send ``"routing_key"`` in the body (SGLang ``/generate`` style,
      ``--schedule-policy routing-key``).
    """

    cache_salt: str = "tenant"
    cache_salt_secret_env: str | None = None
    routing_header: str = ""
    routing_scope: str = "plan"
    routing_key_in_body: bool = False

    @classmethod
    def from_table(cls, provider: str, table: Mapping[str, Any], defaults: "SelfHostedSettings") -> "SelfHostedSettings":
        """Settings from a provider's configuration table over ``defaults``; E528 for a bad value."""
        where = f"tool.promptc.providers.{provider}"
        out = defaults
        known = {"base_url", "cache_salt", "cache_salt_secret_env", "routing_header", "routing_scope",
                 "routing_key_in_body", "gateway", "session_header"}  # the last two: promptc.runtime.keys
        for key in sorted(table):
            if key not in known:
                raise RuntimeSettingError(f"error[E528]: {where}.{key}: unknown setting for {provider} (known: "
                                         f"{', '.join(sorted(known))})")
        if "cache_salt" in table:
            v = table["cache_salt"]
            if v not in _SALT_MODES:
                raise RuntimeSettingError(f"error[E528]: {where}.cache_salt: {v!r} is not one of "
                                         f"{', '.join(_SALT_MODES)}")
            out = replace(out, cache_salt=v)
        if "cache_salt_secret_env" in table:
            v = table["cache_salt_secret_env"]
            if not isinstance(v, str) or not v:
                raise RuntimeSettingError(f"error[E528]: {where}.cache_salt_secret_env: expected the name of an "
                                         "environment variable")
            out = replace(out, cache_salt_secret_env=v)
        if "routing_header" in table:
            v = table["routing_header"]
            if not isinstance(v, str) or (v and not all(c.isalnum() or c in "-_" for c in v)):
                raise RuntimeSettingError(f"error[E528]: {where}.routing_header: {v!r} is not an HTTP header name "
                                         "(letters, digits, - and _; \"\" for none)")
            out = replace(out, routing_header=v)
        if "routing_scope" in table:
            v = table["routing_scope"]
            if v not in _SCOPES:
                raise RuntimeSettingError(f"error[E528]: {where}.routing_scope: {v!r} is not one of "
                                         f"{', '.join(_SCOPES)}")
            out = replace(out, routing_scope=v)
        if "routing_key_in_body" in table:
            v = table["routing_key_in_body"]
            if not isinstance(v, bool):
                raise RuntimeSettingError(f"error[E528]: {where}.routing_key_in_body: expected true or false")
            out = replace(out, routing_key_in_body=v)
        return out

    def salt_for(self, tenant: str | None) -> str | None:
        """The ``cache_salt`` to send for ``tenant``, or None."""
        if self.cache_salt == "none" or (tenant is None and self.cache_salt == "tenant"):
            return None
        secret = None
        if self.cache_salt_secret_env:
            value = os.environ.get(self.cache_salt_secret_env)
            if not value:
                raise RuntimeSettingError(f"error[E528]: cache_salt_secret_env names {self.cache_salt_secret_env}, "
                                         "which is not set; export it or remove the setting")
            secret = value.encode()
        return cache_salt(tenant or "default", secret)


class _SelfHostedAdapter(OpenAIChatAdapter):
    """Chat Completions to an OpenAI-compatible self-hosted server (see the module docstring)."""

    key_required = False
    defaults = SelfHostedSettings()

    def __init__(self, settings: SelfHostedSettings | None = None):
        self.settings = settings or self.defaults

    def configured(self, settings: Mapping[str, Any]) -> "_SelfHostedAdapter":
        return type(self)(SelfHostedSettings.from_table(self.provider, settings, self.defaults))

    def headers(self, api_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        segs = request.segments
        messages = []
        for role, idx in runs(request):
            text = "".join(segs[i].content for i in idx)
            if text:
                messages.append({"role": role, "content": text})
        tools = [t for s in segs if s.kind == "tools" for t in s.tools or []]
        payload: dict[str, Any] = {"model": opts.model, "messages": messages, "max_tokens": opts.max_tokens}
        if tools:
            payload["tools"] = [tool_function(t) for t in tools]
        if opts.temperature is not None:
            payload["temperature"] = opts.temperature
        if opts.stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        salt = self.settings.salt_for(opts.tenant)
        if salt:
            payload["cache_salt"] = salt
        key = opts.key or routing_key(request, opts.tenant, self.settings.routing_scope)
        headers = {self.settings.routing_header: key} if self.settings.routing_header else {}
        if self.settings.routing_key_in_body:
            payload["routing_key"] = key
        payload.update(opts.extra)
        return WireCall("/chat/completions", payload, [], key if headers or "routing_key" in payload else None,
                        headers)

    def _usage(self, u: dict[str, Any], call: WireCall):
        return from_openai_chat(u, writes_exist=False)

    def error_details(self, body: Any) -> tuple[str | None, str]:
        """OpenAI's ``{"error": {...}}``, or the flat ``{"object": "error", "message", "type"}`` of older vLLM."""
        if isinstance(body, dict) and body.get("object") == "error" and "message" in body:
            return body.get("type") or body.get("code"), str(body["message"])
        return super().error_details(body)


class VLLMAdapter(_SelfHostedAdapter):
    """vLLM's OpenAI-compatible server (``vllm serve``): ``cache_salt`` per tenant; a routing header
    only when named (vLLM production-stack ``--session-key``)."""

    provider = "vllm"
    env_key = "VLLM_API_KEY"
    base_url_env = "VLLM_BASE_URL"
    default_base_url = "http://127.0.0.1:8000/v1"
    defaults = SelfHostedSettings(cache_salt="tenant", routing_header="")


class SGLangAdapter(_SelfHostedAdapter):
    """SGLang's OpenAI-compatible server behind the SGLang Model Gateway: ``X-SMG-Routing-Key``."""

    provider = "sglang"
    env_key = "SGLANG_API_KEY"
    base_url_env = "SGLANG_BASE_URL"
    default_base_url = "http://127.0.0.1:30000/v1"
    defaults = SelfHostedSettings(cache_salt="none", routing_header=SMG_ROUTING_HEADER)


__all__ = ["SGLangAdapter", "SMG_ROUTING_HEADER", "SelfHostedSettings", "VLLMAdapter", "cache_salt", "routing_key"]

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module: (key, adapter) pairs
ADAPTERS = (("vllm", VLLMAdapter), ("sglang", SGLangAdapter))
