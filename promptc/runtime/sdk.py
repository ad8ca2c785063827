"""Keyword arguments for the official SDKs' create calls, built by the SAME adapter code :class:`Client` uses.

A team that keeps its own SDK client (its retries, timeouts, observability) still gets promptc's cache
placement — breakpoints, TTLs, cache keys and salts — because the kwargs are the adapter's wire payload
(:meth:`Client.build`), reshaped only where the SDK's call signature differs from the HTTP body::

    call = promptc.to_sdk(request, "anthropic/claude-sonnet-4-5", retention="long")
    reply = anthropic.Anthropic().messages.create(**call.kwargs)
    call.usage(reply), call.cost(reply)           # promptc's Usage and Cost of the SDK's reply

=====================  ==========================================  =========================================
target / api           SDK call                                    kwargs
=====================  ==========================================  =========================================
anthropic/*            ``anthropic.Anthropic().messages.create``    the Messages body (+ ``extra_headers``)
openai/* (chat)        ``openai.OpenAI().chat.completions.create``  the Chat Completions body
openai/* responses     ``openai.OpenAI().responses.create``         the Responses body
gemini/*               ``genai.Client().models.generate_content``   ``model``, ``contents``, ``config``
bedrock/*              ``boto3.client("bedrock-runtime").converse`` ``modelId`` + the Converse body
=====================  ==========================================  =========================================

Cache objects (Gemini ``cachedContents``, Moonshot caches) are made by :class:`Client`'s resource
managers, not here: ``to_gemini`` relies on implicit caching only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.plan import Request
from promptc.runtime.cost import Cost, cost_of
from promptc.runtime.providers.base import Mark, WireCall
from promptc.runtime.usage import Usage


@dataclass(frozen=True)
class SdkCall:
    """The kwargs for one SDK create call, where the cache markers went, and how to read the reply back."""

    target: str
    sdk: str
    kwargs: dict[str, Any]
    marks: list[Mark] = field(default_factory=list)
    cache_key: str | None = None
    wire: WireCall | None = field(default=None, repr=False)
    _client: Any = field(default=None, repr=False, compare=False)

    def usage(self, response: Any) -> Usage:
        """promptc's :class:`Usage` of an SDK reply (a pydantic model, or boto3's dict), read by the
        adapter's own response parser from the reply's wire-shaped JSON."""
        return self._client.adapter.parse(_wire_json(response), self.wire).usage

    def cost(self, response: Any) -> Cost | None:
        """The reply's :class:`Cost` at the target's price (None when the model is unpriced)."""
        return self.cost_of(self.usage(response))

    def cost_of(self, usage: Usage) -> Cost | None:
        """The :class:`Cost` of ``usage`` at the target's price (the one pricing function), or None."""
        price = self._client.price
        return cost_of(usage, price) if price is not None else None


def _wire_json(response: Any) -> dict[str, Any]:
    """The reply as the provider sent it: the SDKs' pydantic models dump back to the wire field names
    (google-genai by alias: camelCase); boto3 already returns the JSON as a dict."""
    if isinstance(response, dict):
        return response
    dump = getattr(response, "model_dump", None)
    if dump is None:
        raise TypeError(f"cannot read usage from a {type(response).__name__}")
    return dump(mode="json", by_alias=True, exclude_none=True)


def to_sdk(request: Request, target: str, *, api: str | None = None, retention: str | None = None,
           tenant: str | None = None, config: Any = None, max_tokens: int = 1024,
           temperature: float | None = None, extra: dict[str, Any] | None = None) -> SdkCall:
    """The official SDK's create() kwargs for ``request`` on ``target`` (``provider/model``); ``api``
    picks OpenAI's ``"responses"`` API. Retention, tenant and configuration mean what they mean for
    :class:`Client` (no API key is needed: nothing is sent)."""
    from promptc.runtime.client import Client  # the one build path

    client = Client(target, api=api, api_key="unused", retention=retention, tenant=tenant, config=config)
    call = client.build(request, max_tokens=max_tokens, temperature=temperature, extra=extra)
    shape = _SHAPES.get(client.target.provider, _openai_shape)
    sdk, kwargs = shape(dict(call.payload), call, client.target.model)
    return SdkCall(client.target.name, sdk, kwargs, list(call.marks), call.cache_key, call, client)


def _headers(call: WireCall) -> dict[str, Any]:
    """``extra_headers`` for the SDKs that take them (beta flags and the like; never credentials)."""
    headers = {k: v for k, v in call.headers.items() if k.lower() not in ("authorization", "x-api-key")}
    return {"extra_headers": headers} if headers else {}


def _anthropic_shape(payload: dict[str, Any], call: WireCall, model: str) -> tuple[str, dict[str, Any]]:
    return "anthropic.messages.create", {**payload, **_headers(call)}


def _openai_shape(payload: dict[str, Any], call: WireCall, model: str) -> tuple[str, dict[str, Any]]:
    """OpenAI and the chat-compatible providers (the OpenAI SDK with their base URL)."""
    sdk = "openai.responses.create" if call.path.endswith("/responses") else "openai.chat.completions.create"
    return sdk, {**payload, **_headers(call)}


def _gemini_shape(payload: dict[str, Any], call: WireCall, model: str) -> tuple[str, dict[str, Any]]:
    """generate_content(model, contents, config): the body's other fields go into ``config``, whose
    google-genai type accepts the camelCase wire names (its alias generator)."""
    cfg = dict(payload.pop("generationConfig", {}))
    cfg.update({k: payload.pop(k) for k in ("systemInstruction", "tools", "toolConfig", "cachedContent",
                                            "safetySettings") if k in payload})
    return "google-genai.models.generate_content", {"model": model, "contents": payload.pop("contents"),
                                                    "config": cfg, **payload}


def _bedrock_shape(payload: dict[str, Any], call: WireCall, model: str) -> tuple[str, dict[str, Any]]:
    return "bedrock-runtime.converse", {"modelId": model, **payload}


#: provider → how its wire payload becomes the official SDK's kwargs (others: the OpenAI SDK's)
_SHAPES = {"anthropic": _anthropic_shape, "gemini": _gemini_shape, "bedrock": _bedrock_shape}


def to_anthropic(request: Request, model: str = "claude-sonnet-4-5", **kw: Any) -> SdkCall:
    """``anthropic.Anthropic().messages.create(**call.kwargs)``."""
    return to_sdk(request, f"anthropic/{model}", **kw)


def to_openai_chat(request: Request, model: str = "gpt-5.6", **kw: Any) -> SdkCall:
    """``openai.OpenAI().chat.completions.create(**call.kwargs)``."""
    return to_sdk(request, f"openai/{model}", api="chat", **kw)


def to_openai_responses(request: Request, model: str = "gpt-5.6", **kw: Any) -> SdkCall:
    """``openai.OpenAI().responses.create(**call.kwargs)``."""
    return to_sdk(request, f"openai/{model}", api="responses", **kw)


def to_gemini(request: Request, model: str = "gemini-2.5-flash", **kw: Any) -> SdkCall:
    """``genai.Client().models.generate_content(**call.kwargs)``."""
    return to_sdk(request, f"gemini/{model}", **kw)


def to_bedrock(request: Request, model: str = "anthropic.claude-sonnet-4-5-20250929-v1:0", **kw: Any) -> SdkCall:
    """``boto3.client("bedrock-runtime").converse(**call.kwargs)``."""
    return to_sdk(request, f"bedrock/{model}", **kw)
