"""Splitting observed wire payloads into segments, and reading usage out of observed responses.

A request body is split in the provider's wire order into the units its cache hashes: Anthropic
Messages ``tools[i]``, ``system[i]``, ``messages[m].content[c]``; OpenAI Chat Completions
``tools[i]``, ``messages[m]`` (or ``messages[m].content[c]`` for part lists); OpenAI Responses
``tools[i]``, ``instructions``, ``input[m]``/``input[m].content[c]``. Each :class:`WireSegment` has
the bytes the provider hashes (text for text blocks, canonical JSON otherwise, cache markers
removed), a ``sha256:`` hash of its role and bytes (:func:`promptc.core.hashing.segment_hash`), the
chained prefix hash, and the cache marker it carried (``5m``/``1h`` for Anthropic's
``cache_control``, ``breakpoint`` for OpenAI's ``prompt_cache_breakpoint``).

Everything here is pure (sans-IO): the proxy and :func:`promptc.observe.instrument` feed it bytes.
Sizes are bounded: a body over ``MAX_BODY`` bytes, more than ``MAX_SEGMENTS`` units or an SSE
event over ``MAX_EVENT`` bytes is not parsed (the request is still forwarded, unexplained).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from promptc.core.canonical import canonical_json
from promptc.core.hashing import chain, segment_hash
from promptc.runtime.usage import Usage, from_anthropic, from_openai_chat, from_openai_responses

#: Largest request body (bytes) that is parsed; larger ones are forwarded unexplained.
MAX_BODY = 32 << 20
#: Most units one request is split into.
MAX_SEGMENTS = 5000
#: Largest single SSE event (bytes) that is parsed for usage.
MAX_EVENT = 1 << 20
#: Largest non-streamed response body (bytes) parsed for usage.
MAX_RESPONSE = 16 << 20

#: path suffix → (api name, provider)
APIS = {"/v1/messages": ("anthropic-messages", "anthropic"),
        "/v1/chat/completions": ("openai-chat", "openai"),
        "/v1/responses": ("openai-responses", "openai")}


class WireError(ValueError):
    """A payload promptc cannot split (not JSON, too large, an unexpected shape)."""


@dataclass(frozen=True)
class WireSegment:
    """One cacheable unit of a request, in wire order."""

    id: str
    kind: str  # tool | system | message
    role: str
    text: str  # the bytes the provider hashes (text, or canonical JSON)
    hash: str
    prefix_hash: str
    marker: str | None = None  # "5m" | "1h" | "breakpoint" | None


@dataclass(frozen=True)
class WireRequest:
    """A split request: its API, model, segments and the cache controls it carried."""

    api: str
    provider: str
    model: str
    stream: bool
    segments: list[WireSegment]
    cache_key: str | None = None  # OpenAI prompt_cache_key
    retention: str | None = None  # OpenAI prompt_cache_retention
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"{self.provider}/{self.model}"


#: Gemini ``models/{model}:generateContent`` / ``:streamGenerateContent`` (the model is in the path).
GEMINI_PATH = re.compile(r"/models/([^/:]+):(generateContent|streamGenerateContent)$")


def api_for(path: str) -> tuple[str, str] | None:
    """(api, provider) for a request path (any prefix before ``/v1/...`` is allowed), or None."""
    for suffix, found in APIS.items():
        if path.rstrip("/").endswith(suffix):
            return found
    if GEMINI_PATH.search(path):
        return "gemini-generate", "gemini"
    return None


def _marker_anthropic(block: Any) -> str | None:
    cc = block.get("cache_control") if isinstance(block, dict) else None
    if not isinstance(cc, dict):
        return None
    ttl = cc.get("ttl")
    return ttl if isinstance(ttl, str) and ttl else "5m"  # Anthropic's default ephemeral TTL name


def _strip(block: dict, *keys: str) -> dict:
    return {k: v for k, v in block.items() if k not in keys}


class _Builder:
    def __init__(self) -> None:
        self.out: list[WireSegment] = []
        self.prefix: str | None = None

    def add(self, sid: str, kind: str, role: str, text: str, marker: str | None) -> None:
        if len(self.out) >= MAX_SEGMENTS:
            raise WireError(f"more than {MAX_SEGMENTS} cacheable units")
        h = segment_hash(role, text)
        self.prefix = chain(self.prefix, h)
        self.out.append(WireSegment(sid, kind, role, text, h, self.prefix, marker))


def _text_or_json(block: Any, text_key: str = "text") -> str:
    if isinstance(block, dict) and block.get("type") in ("text", "input_text", "output_text") and \
            isinstance(block.get(text_key), str):
        return block[text_key]
    return canonical_json(block)


def split_anthropic(p: dict[str, Any]) -> WireRequest:
    b = _Builder()
    for i, t in enumerate(p.get("tools") or []):
        if not isinstance(t, dict):
            raise WireError(f"tools[{i}] is not an object")
        name = t.get("name") if isinstance(t.get("name"), str) else ""
        b.add(f"tools[{i}]" + (f":{name}" if name else ""), "tool", "tools", canonical_json(_strip(t, "cache_control")),
              _marker_anthropic(t))
    system = p.get("system")
    if isinstance(system, str) and system:
        b.add("system[0]", "system", "system", system, None)
    elif isinstance(system, list):
        for i, blk in enumerate(system):
            if not isinstance(blk, dict):
                raise WireError(f"system[{i}] is not an object")
            b.add(f"system[{i}]", "system", "system", _text_or_json(_strip(blk, "cache_control")),
                  _marker_anthropic(blk))
    for m, msg in enumerate(p.get("messages") or []):
        if not isinstance(msg, dict):
            raise WireError(f"messages[{m}] is not an object")
        role = str(msg.get("role") or "")
        content = msg.get("content")
        if isinstance(content, str):
            b.add(f"messages[{m}].content[0]", "message", role, content, None)
            continue
        for c, blk in enumerate(content or []):
            if not isinstance(blk, dict):
                raise WireError(f"messages[{m}].content[{c}] is not an object")
            b.add(f"messages[{m}].content[{c}]", "message", role, _text_or_json(_strip(blk, "cache_control")),
                  _marker_anthropic(blk))
    top = p.get("cache_control")
    if isinstance(top, dict) and b.out:  # automatic mode: the marker lands on the last block
        last = b.out[-1]
        b.out[-1] = WireSegment(last.id, last.kind, last.role, last.text, last.hash, last.prefix_hash,
                                last.marker or _marker_anthropic(p))
    return WireRequest("anthropic-messages", "anthropic", str(p.get("model") or ""), bool(p.get("stream")), b.out)


def _openai_items(b: _Builder, items: list, prefix: str) -> None:
    for m, msg in enumerate(items):
        if not isinstance(msg, dict):
            raise WireError(f"{prefix}[{m}] is not an object")
        role = str(msg.get("role") or msg.get("type") or "")
        content = msg.get("content")
        if isinstance(content, str):
            b.add(f"{prefix}[{m}]", "system" if role in ("system", "developer") else "message", role, content, None)
            continue
        if content is None:  # a tool call or another non-message item: its canonical JSON
            b.add(f"{prefix}[{m}]", "message", role, canonical_json(msg), None)
            continue
        for c, part in enumerate(content):
            if not isinstance(part, dict):
                raise WireError(f"{prefix}[{m}].content[{c}] is not an object")
            marker = "breakpoint" if part.get("prompt_cache_breakpoint") is not None else None
            b.add(f"{prefix}[{m}].content[{c}]", "system" if role in ("system", "developer") else "message", role,
                  _text_or_json(_strip(part, "prompt_cache_breakpoint")), marker)


def _openai_tools(b: _Builder, tools: list) -> None:
    for i, t in enumerate(tools or []):
        if not isinstance(t, dict):
            raise WireError(f"tools[{i}] is not an object")
        fn = t.get("function") if isinstance(t.get("function"), dict) else t
        name = fn.get("name") if isinstance(fn.get("name"), str) else ""
        b.add(f"tools[{i}]" + (f":{name}" if name else ""), "tool", "tools", canonical_json(t), None)


def split_openai_chat(p: dict[str, Any]) -> WireRequest:
    b = _Builder()
    _openai_tools(b, p.get("tools") or [])
    _openai_items(b, p.get("messages") or [], "messages")
    return WireRequest("openai-chat", "openai", str(p.get("model") or ""), bool(p.get("stream")), b.out,
                       _str(p.get("prompt_cache_key")), _str(p.get("prompt_cache_retention")))


def split_openai_responses(p: dict[str, Any]) -> WireRequest:
    b = _Builder()
    _openai_tools(b, p.get("tools") or [])
    if isinstance(p.get("instructions"), str) and p["instructions"]:
        b.add("instructions", "system", "system", p["instructions"], None)
    inp = p.get("input")
    _openai_items(b, inp if isinstance(inp, list) else [{"role": "user", "content": inp}], "input")
    return WireRequest("openai-responses", "openai", str(p.get("model") or ""), bool(p.get("stream")), b.out,
                       _str(p.get("prompt_cache_key")), _str(p.get("prompt_cache_retention")))


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def split_gemini(p: dict[str, Any], path: str) -> WireRequest:
    m = GEMINI_PATH.search(path)
    b = _Builder()
    for i, t in enumerate(p.get("tools") or []):
        if not isinstance(t, dict):
            raise WireError(f"tools[{i}] is not an object")
        decls = t.get("functionDeclarations") or t.get("function_declarations")
        if isinstance(decls, list):
            for j, d in enumerate(decls):
                name = d.get("name") if isinstance(d, dict) and isinstance(d.get("name"), str) else ""
                b.add(f"tools[{i}].functionDeclarations[{j}]" + (f":{name}" if name else ""), "tool", "tools",
                      canonical_json(d), None)
        else:
            b.add(f"tools[{i}]", "tool", "tools", canonical_json(t), None)
    si = p.get("systemInstruction") or p.get("system_instruction")
    if isinstance(si, dict):
        for k, part in enumerate(si.get("parts") or []):
            if not isinstance(part, dict):
                raise WireError(f"systemInstruction.parts[{k}] is not an object")
            b.add(f"systemInstruction.parts[{k}]", "system", "system",
                  part["text"] if isinstance(part.get("text"), str) else canonical_json(part), None)
    for c, content in enumerate(p.get("contents") or []):
        if not isinstance(content, dict):
            raise WireError(f"contents[{c}] is not an object")
        role = "assistant" if content.get("role") == "model" else str(content.get("role") or "user")
        for k, part in enumerate(content.get("parts") or []):
            if not isinstance(part, dict):
                raise WireError(f"contents[{c}].parts[{k}] is not an object")
            b.add(f"contents[{c}].parts[{k}]", "message", role,
                  part["text"] if isinstance(part.get("text"), str) else canonical_json(part), None)
    cached = p.get("cachedContent") or p.get("cached_content")
    return WireRequest("gemini-generate", "gemini", m.group(1) if m else "", bool(m and m.group(2).startswith("stream")),
                       b.out, extra={"cached_content": cached} if isinstance(cached, str) else {})


_SPLITTERS = {"anthropic-messages": split_anthropic, "openai-chat": split_openai_chat,
              "openai-responses": split_openai_responses}


def split(api: str, body: bytes, path: str = "") -> WireRequest:
    """Split a request ``body`` of ``api`` (Gemini: the model is in ``path``); raises
    :class:`WireError` for what cannot be split."""
    if len(body) > MAX_BODY:
        raise WireError(f"request body of {len(body)} bytes is over the {MAX_BODY}-byte parse limit")
    try:
        p = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"request body is not JSON ({exc})") from None
    if not isinstance(p, dict):
        raise WireError("request body is not a JSON object")
    if api == "gemini-generate":
        return split_gemini(p, path)
    return _SPLITTERS[api](p)


# -- responses ------------------------------------------------------------------------------------

def usage_of(api: str, raw: dict[str, Any], model: str, explicit: bool) -> Usage:
    """Normalized usage of a provider ``raw`` usage object (``explicit``: the model reports writes)."""
    if api == "anthropic-messages":
        return from_anthropic(raw)
    if api == "openai-chat":
        return from_openai_chat(raw, writes_exist=explicit)
    if api == "gemini-generate":  # usageMetadata: inclusive prompt count, implicit reads, no write fee
        def num(k: str) -> int | None:
            v = raw.get(k)
            return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        prompt, read, out = num("promptTokenCount"), num("cachedContentTokenCount") or 0, num("candidatesTokenCount")
        return Usage(uncached=None if prompt is None else max(0, prompt - read), cache_read=read, cache_write={},
                     output=None if out is None else out + (num("thoughtsTokenCount") or 0),
                     reasoning=num("thoughtsTokenCount"), semantics="inclusive", raw=dict(raw))
    return from_openai_responses(raw, writes_exist=explicit)


class ResponseReader:
    """Incremental reader of one response body (JSON or SSE), fed chunk by chunk as it streams.

    It never holds more than one SSE event (≤ ``MAX_EVENT`` bytes) or ``MAX_RESPONSE`` bytes of a JSON
    body; ``usage`` is the provider's raw usage object once seen, ``model`` the model it names."""

    def __init__(self, api: str, content_type: str, content_encoding: str | None) -> None:
        self.api = api
        self.sse = "text/event-stream" in (content_type or "")
        enc = (content_encoding or "").lower().strip()
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if enc == "gzip" else \
            zlib.decompressobj() if enc == "deflate" else None
        self.unparsable = bool(enc) and self._inflate is None  # br/zstd: forwarded, usage unknown
        self._buf = bytearray()
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.request_id: str | None = None
        self.error: dict[str, Any] | None = None
        self.complete = False
        self.chunks = 0
        self.bytes = 0

    def feed(self, chunk: bytes) -> None:
        self.chunks += 1
        self.bytes += len(chunk)
        if self.unparsable:
            return
        if self._inflate is not None:
            try:
                chunk = self._inflate.decompress(chunk, MAX_RESPONSE)
            except zlib.error:
                self.unparsable = True
                return
        self._buf += chunk
        if not self.sse:
            if len(self._buf) > MAX_RESPONSE:
                self.unparsable = True
                self._buf.clear()
            return
        while True:
            cut = _event_end(self._buf)
            if cut is None:
                if len(self._buf) > MAX_EVENT:
                    self.unparsable = True
                    self._buf.clear()
                return
            event, rest = bytes(self._buf[:cut[0]]), self._buf[cut[1]:]
            self._buf = bytearray(rest)
            self._event(event)

    def finish(self) -> None:
        if self.unparsable:
            return
        if self.sse:
            if self._buf.strip():
                self._event(bytes(self._buf))
        else:
            try:
                body = json.loads(bytes(self._buf))
            except (ValueError, UnicodeDecodeError):
                return
            if isinstance(body, dict):
                self._message(body)
                self.complete = True
        self._buf.clear()

    def _event(self, raw: bytes) -> None:
        data = b"\n".join(line[5:].lstrip(b" ") for line in raw.splitlines() if line.startswith(b"data:"))
        if not data or data == b"[DONE]":
            if data == b"[DONE]":
                self.complete = True
            return
        try:
            ev = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(ev, dict):
            self._stream_event(ev)

    def _merge(self, u: Any) -> None:
        if isinstance(u, dict):
            self.usage = {**(self.usage or {}), **{k: v for k, v in u.items() if v is not None}}

    def _message(self, body: dict[str, Any]) -> None:
        """A whole (non-streamed) reply or error."""
        if isinstance(body.get("error"), dict):
            self.error = {"type": _str(body["error"].get("type")), "message": _str(body["error"].get("message"))}
        self.model = _str(body.get("model")) or _str(body.get("modelVersion")) or self.model
        self._merge(body.get("usage") if "usage" in body else body.get("usageMetadata"))

    def _stream_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "message_start" and isinstance(ev.get("message"), dict):
            self.model = _str(ev["message"].get("model")) or self.model
            self._merge(ev["message"].get("usage"))
        elif kind == "message_delta":
            self._merge(ev.get("usage"))
        elif kind == "message_stop":
            self.complete = True
        elif kind in ("response.completed", "response.incomplete", "response.failed") and \
                isinstance(ev.get("response"), dict):
            self.model = _str(ev["response"].get("model")) or self.model
            self._merge(ev["response"].get("usage"))
            self.complete = True
        elif kind == "error":
            self.error = ev.get("error") if isinstance(ev.get("error"), dict) else {"message": str(ev)[:200]}
        elif "usageMetadata" in ev or "candidates" in ev:  # Gemini: each chunk repeats the usage so far
            self.model = _str(ev.get("modelVersion")) or self.model
            if isinstance(ev.get("usageMetadata"), dict):
                self.usage = dict(ev["usageMetadata"])
        elif "choices" in ev:  # chat completion chunk
            self.model = _str(ev.get("model")) or self.model
            self._merge(ev.get("usage"))


def _event_end(buf: bytearray) -> tuple[int, int] | None:
    """(end of the first SSE event, start of the next) or None when no event is complete yet."""
    best = None
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        i = buf.find(sep)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, i + len(sep))
    return best
