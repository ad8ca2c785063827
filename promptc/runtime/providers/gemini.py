"""Google Gemini API (``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``).

- Tools segments become ``tools: [{functionDeclarations: [...]}]`` with each tool's canonical JSON
  Schema sent unchanged as ``parametersJsonSchema`` (the ``parameters`` field takes only Google's
  OpenAPI subset, which would mean translating the schema); system/developer segments before the
  first user or assistant segment become ``systemInstruction.parts``, one text part per segment;
  later segments become ``contents``, consecutive same-role segments merged into one content with
  one part per segment, roles ``user``/``model`` (a system segment after the conversation started
  goes out as a ``user`` part: ``contents`` has no system role). Segment bytes go out unchanged.
- Caching is *implicit*: no markers; Gemini 2.5+ reads a repeated prefix on its own (best effort).
  Explicit caching (``cachedContents``) is opt-in through :mod:`promptc.runtime.providers.gemini_cache`,
  which rewrites the call this adapter builds.
- Usage (``usageMetadata``) is inclusive: ``promptTokenCount`` includes ``cachedContentTokenCount``;
  ``toolUsePromptTokenCount`` is billed as input; ``thoughtsTokenCount`` is billed as output and
  reported as ``reasoning``. See :func:`usage_from_gemini` for missing counters.
- Errors are Google's ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import json
from typing import Any

from promptc.core.providers import SPECS
from promptc.plan import Request
from promptc.runtime.errors import ProviderError, StreamInterrupted
from promptc.runtime.providers.base import (Adapter, BuildContext, CallOptions, Completion, StreamEvent, StreamState,
                                            WireCall)
from promptc.runtime.usage import Usage

API_VERSION = "v1beta"


def model_path(model: str) -> str:
    """``models/<model>`` (a target may already name ``models/...``)."""
    return model if model.startswith("models/") else f"models/{model}"


def function_declaration(tool: dict[str, Any]) -> dict[str, Any]:
    """One tool as a Gemini ``FunctionDeclaration`` (schema unchanged, as ``parametersJsonSchema``): the
    spec's ``tool_def``, the one place the shape is written (lint counts the same bytes)."""
    return SPECS["gemini"].tool_def(tool)  # type: ignore[misc]


def layout(request: Request) -> tuple[list[int], list[int], list[tuple[str, list[int]]]]:
    """(tools segment indices, systemInstruction segment indices, content runs ``[(role, [index])]``)
    in plan order; empty text segments are left out (Gemini rejects empty parts)."""
    segs = request.segments
    first_turn = next((i for i, s in enumerate(segs) if s.role in ("user", "assistant") and s.kind != "tools"),
                      len(segs))
    tools = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
    system = [i for i in range(first_turn) if segs[i].kind != "tools" and segs[i].content]
    runs: list[tuple[str, list[int]]] = []
    for i in range(first_turn, len(segs)):
        s = segs[i]
        if s.kind == "tools" or not s.content:
            continue
        role = "model" if s.role == "assistant" else "user"
        if runs and runs[-1][0] == role:
            runs[-1][1].append(i)
        else:
            runs.append((role, [i]))
    return tools, system, runs


def contents_of(request: Request, runs: list[tuple[str, list[int]]]) -> list[dict[str, Any]]:
    segs = request.segments
    return [{"role": role, "parts": [{"text": segs[i].content} for i in idx]} for role, idx in runs]


def system_instruction(request: Request, idx: list[int]) -> dict[str, Any]:
    return {"parts": [{"text": request.segments[i].content} for i in idx]}


def tools_of(request: Request, idx: list[int]) -> list[dict[str, Any]]:
    decls = [function_declaration(t) for i in idx for t in request.segments[i].tools or []]
    return [{"functionDeclarations": decls}] if decls else []


def _count(u: dict[str, Any], key: str) -> int | None:
    v = u.get(key)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def usage_from_gemini(u: dict[str, Any] | None) -> Usage:
    """Normalize ``usageMetadata``.

    ``uncached = promptTokenCount − cachedContentTokenCount + toolUsePromptTokenCount``,
    ``cache_read = cachedContentTokenCount``, no per-request writes (explicit caches are billed when
    created: see the trace's ``create`` events), ``output = candidatesTokenCount + thoughtsTokenCount``
    (both billed at the output price), ``reasoning = thoughtsTokenCount``.

    Gemini's JSON leaves out counters that are zero (proto3): inside a ``usageMetadata`` that has
    ``promptTokenCount``, an absent ``cachedContentTokenCount``, ``toolUsePromptTokenCount``,
    ``thoughtsTokenCount`` or ``candidatesTokenCount`` is 0. Without ``usageMetadata`` or without
    ``promptTokenCount`` every counter is unknown (None), and so is the cost.
    """
    u = u if isinstance(u, dict) else {}
    prompt = _count(u, "promptTokenCount")
    if prompt is None:
        return Usage(uncached=None, cache_read=None, cache_write=None, output=None, reasoning=None,
                     semantics="inclusive", raw=dict(u))
    cached = _count(u, "cachedContentTokenCount") or 0
    tool_use = _count(u, "toolUsePromptTokenCount") or 0
    thoughts = _count(u, "thoughtsTokenCount") or 0
    candidates = _count(u, "candidatesTokenCount") or 0
    return Usage(uncached=max(0, prompt - cached) + tool_use, cache_read=cached, cache_write={},
                 output=candidates + thoughts, reasoning=thoughts, semantics="inclusive", raw=dict(u))


def _text(body: dict[str, Any]) -> tuple[str, str | None]:
    """(answer text without thought parts, finish reason) of the first candidate."""
    cand = (body.get("candidates") or [{}])[0] or {}
    parts = (cand.get("content") or {}).get("parts") or []
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
    return text, cand.get("finishReason")


class GeminiAdapter(Adapter):
    """The Gemini Developer API. Key from ``GEMINI_API_KEY`` (``GOOGLE_API_KEY`` when that is unset),
    base URL from ``GOOGLE_GEMINI_BASE_URL`` (the google-genai SDK's variable)."""

    provider = "gemini"
    env_key = SPECS["gemini"].env_key
    env_key_fallbacks = ("GOOGLE_API_KEY",)
    base_url_env = SPECS["gemini"].base_url_env
    default_base_url = SPECS["gemini"].default_base_url

    def headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        tool_idx, system_idx, runs = layout(request)
        payload: dict[str, Any] = {"contents": contents_of(request, runs)}
        if system_idx:
            payload["systemInstruction"] = system_instruction(request, system_idx)
        tools = tools_of(request, tool_idx)
        if tools:
            payload["tools"] = tools
        config: dict[str, Any] = {"maxOutputTokens": opts.max_tokens}
        if opts.temperature is not None:
            config["temperature"] = opts.temperature
        payload["generationConfig"] = config
        payload.update(opts.extra)
        path = f"/{API_VERSION}/{model_path(opts.model)}:" + ("streamGenerateContent?alt=sse" if opts.stream
                                                              else "generateContent")
        return WireCall(path, payload)

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        text, finish = _text(body)
        return Completion(text, usage_from_gemini(body.get("usageMetadata")), finish, body.get("responseId"),
                          body.get("modelVersion"), body)

    def stream(self, call: WireCall) -> StreamState:
        return _GeminiStream()

    def error_details(self, body: Any) -> tuple[str | None, str]:
        """Google's error body: ``{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}``
        (a streamed error may come as a one-element list)."""
        if isinstance(body, list) and body and isinstance(body[0], dict):
            body = body[0]
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            e = body["error"]
            return e.get("status") or (str(e["code"]) if e.get("code") is not None else None), str(e.get("message", ""))
        return None, str(body)[:500]

    def resources(self, ctx):
        """The ``cachedContents`` manager when ``cache_objects={"gemini": "explicit"}`` (else None:
        implicit caching needs no objects)."""
        from promptc.runtime.providers.gemini_cache import GeminiCacheManager, options_from

        opts = options_from(ctx.options)
        return GeminiCacheManager(ctx, opts, self) if opts.mode == "explicit" else None


class _GeminiStream(StreamState):
    """``data:`` chunks, each a ``GenerateContentResponse`` with a text delta; the last carries
    ``finishReason`` and the final ``usageMetadata``. The stream has no end marker: one ending
    without a finish reason was cut."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.id: str | None = None
        self.model: str | None = None
        self.last: dict[str, Any] = {}

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        obj = json.loads(data)
        if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
            err = obj["error"]
            raise ProviderError("gemini", err.get("code"), str(err.get("message", "stream error")),
                                error_type=err.get("status"))
        self.last = obj
        self.id = obj.get("responseId", self.id)
        self.model = obj.get("modelVersion", self.model)
        if obj.get("usageMetadata"):
            self.usage = obj["usageMetadata"]
        text, finish = _text(obj)
        self.finish_reason = finish or self.finish_reason
        if text:
            self.parts.append(text)
            return [StreamEvent("text", text)]
        return []

    def finish(self) -> Completion:
        text = "".join(self.parts)
        if self.finish_reason is None:
            raise StreamInterrupted("gemini", text, "no chunk with a finishReason", request_id=self.id)
        body = {**self.last, "usageMetadata": self.usage,
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": self.finish_reason}]}
        return Completion(text, usage_from_gemini(self.usage), self.finish_reason, self.id, self.model, body)

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = GeminiAdapter
