"""Shared pieces of the simulator's OpenAI-compatible chat routes for providers that cache prefixes
on their own (Z.ai, Qwen's implicit cache, xAI, Mistral): blocks of a chat request in wire order, a
block-granular prefix cache, and the Chat Completions reply (JSON or SSE).

The prefix cache matches at block boundaries (each tool definition, each message string or content
part): a modelling choice — these providers publish no block size — that counts the shared prefix of
segment-aligned prompts exactly and never credits a partly matching block.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.responses import JSONResponse

from promptc.runtime.sim.cache import Block
from promptc.runtime.sim.wire import canon, pieces


def chat_blocks(count: Callable[[str], int], p: dict[str, Any]) -> list[Block]:
    """Tools then messages, one block per tool definition and per content part (marker: ``cache_control``)."""
    blocks = [Block(count(canon(t)), canon(t)) for t in p.get("tools") or []]
    for m in p.get("messages") or []:
        content = m.get("content")
        role = str(m.get("role"))
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        for part in parts:
            text = part.get("text", "") if part.get("type") == "text" else canon(part)
            ident = canon({"role": role, **{k: v for k, v in part.items() if k != "cache_control"}})
            blocks.append(Block(count(text) if text else 0, ident, "5m" if part.get("cache_control") else None))
    return blocks


@dataclass
class PrefixCache:
    """Block-granular prefix cache: ``run(scope, blocks)`` reads the longest stored prefix of ``scope``
    (e.g. (server, user, model)), renews it, and stores every longer boundary of at least ``minimum``
    tokens for ``ttl_s`` seconds (None: until the simulator stops — no published lifetime)."""

    clock: Callable[[], float]
    ttl_s: float | None
    minimum: int = 0
    entries: dict[tuple[Any, str], float] = field(default_factory=dict)

    def run(self, scope: Any, blocks: list[Block]) -> int:
        now = self.clock()
        life = math.inf if self.ttl_s is None else self.ttl_s
        h = hashlib.sha256(repr(scope).encode())
        bounds: list[tuple[int, str]] = []
        total = 0
        for b in blocks:
            h.update(b"\x00" + b.identity.encode())
            total += b.tokens
            bounds.append((total, h.copy().hexdigest()))
        hit = 0
        for n, digest in reversed(bounds):
            if self.entries.get((scope, digest), -math.inf) > now:
                hit = n
                self.entries[(scope, digest)] = now + life
                break
        for n, digest in bounds:
            if n > hit and n >= max(self.minimum, 1):
                self.entries[(scope, digest)] = now + life
        return hit


def bearer(req: Any) -> str:
    auth = req.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


def chat_reply(app: Any, provider: str, p: dict[str, Any], total: int, details: dict[str, Any], fault: Any,
               stream_usage: bool | None = None) -> Any:
    """A Chat Completions reply with ``usage.prompt_tokens = total`` and ``prompt_tokens_details``;
    a stream ends with a usage chunk when ``stream_options.include_usage`` is set (or ``stream_usage``)."""
    n = app._next_id()
    text, out_tokens, truncated = app._reply_text(provider, total, p.get("max_tokens") or 256)
    usage = {"prompt_tokens": total, "completion_tokens": out_tokens, "total_tokens": total + out_tokens,
             "prompt_tokens_details": details}
    finish = "length" if truncated else "stop"
    base = {"id": f"sim-{n}", "created": int(app.state.clock()), "model": p["model"], "system_fingerprint": "fp_sim"}
    rid = {"x-request-id": f"req_sim_{n}"}
    if not p.get("stream"):
        return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
            "index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
            "finish_reason": finish}]}, headers=rid)
    chunk = {**base, "object": "chat.completion.chunk"}
    evs = [(None, canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                               "logprobs": None, "finish_reason": None}]}))]
    evs += [(None, canon({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "logprobs": None,
                                                "finish_reason": None}]})) for piece in pieces(text)]
    evs.append((None, canon({**chunk, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                                   "finish_reason": finish}]})))
    if stream_usage if stream_usage is not None else (p.get("stream_options") or {}).get("include_usage"):
        evs.append((None, canon({**chunk, "choices": [], "usage": usage})))
    evs.append((None, "[DONE]"))
    return app._sse(evs, fault, rid)


def valid_chat(p: Any) -> bool:
    """A chat body's outline: a model, a list of message objects, and tools (if any) a list of objects."""
    tools = p.get("tools") if isinstance(p, dict) else None
    return (isinstance(p, dict) and bool(p.get("model")) and isinstance(p.get("messages"), list)
            and all(isinstance(m, dict) for m in p["messages"])
            and (tools is None or (isinstance(tools, list) and all(isinstance(t, dict) for t in tools))))
