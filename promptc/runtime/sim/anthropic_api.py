"""The simulator's Anthropic Messages route (``POST /v1/messages``): blocks in prefix order,
the documented 400s, usage with the TTL split, and the SSE event sequence."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.runtime.sim.cache import Block
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces


class AnthropicRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        return [Route("/v1/messages", self.messages, methods=["POST"])]

    def _anthropic_blocks(self, p: dict[str, Any]) -> tuple[list[Block], str | None]:
        """Blocks in prefix order (tools → system → messages), or an error message."""
        blocks: list[Block] = []

        def add(obj: dict[str, Any], text: str, where: str, place: str) -> str | None:
            cc = obj.get("cache_control")
            if cc is not None and obj.get("type") == "text" and not obj.get("text"):
                return f"{where}: cache_control cannot be set for empty text blocks"
            # a block's identity includes where it is rendered (tools, system, a message's role and start):
            # the same text moved from `system` into a user message is a different prompt prefix
            ident = place + "\x00" + _canon({k: v for k, v in obj.items() if k != "cache_control"})
            blocks.append(Block(self.count(text), ident, (cc or {}).get("ttl", "5m") if cc else None))
            return None

        for i, t in enumerate(p.get("tools") or []):
            err = add(t, _canon({k: v for k, v in t.items() if k != "cache_control"}), f"tools.{i}", "tools")
            if err:
                return blocks, err
        system = p.get("system")
        if isinstance(system, str):
            system = [{"type": "text", "text": system}] if system else []
        for i, b in enumerate(system or []):
            if b.get("type") == "text" and not b.get("text"):
                return blocks, f"system.{i}: text content blocks must be non-empty"
            err = add(b, b.get("text", ""), f"system.{i}", "system")
            if err:
                return blocks, err
        for m, msg in enumerate(p.get("messages") or []):
            content = msg.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            for c, b in enumerate(content or []):
                if b.get("type") == "text" and not b.get("text"):
                    return blocks, f"messages.{m}.content.{c}: text content blocks must be non-empty"
                err = add(b, b.get("text", "") if b.get("type") == "text" else _canon(b), f"messages.{m}.content.{c}",
                          f"{msg.get('role')}:{'start' if c == 0 else 'cont'}")
                if err:
                    return blocks, err
        top = p.get("cache_control")
        if top and blocks:  # automatic mode: the last block
            last = blocks[-1]
            ttl = top.get("ttl", "5m")
            if last.marker and last.marker != ttl:
                return blocks, "cache_control: automatic caching conflicts with the last block's ttl"
            blocks[-1] = Block(last.tokens, last.identity, ttl)
        explicit = sum(1 for b in (p.get("tools") or []) + list(system or []) if b.get("cache_control")) + sum(
            1 for msg in p.get("messages") or [] if isinstance(msg.get("content"), list)
            for b in msg["content"] if b.get("cache_control"))
        found = explicit + (1 if top and not _last_marked(p) else 0)  # automatic mode takes a slot
        if found > 4:
            return blocks, f"A maximum of 4 blocks with cache_control may be provided. Found {found}."
        seen_5m = False
        for b in blocks:
            if b.marker == "5m":
                seen_5m = True
            elif b.marker == "1h" and seen_5m:
                return blocks, ("cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
                                "cache_control block. Note that blocks are processed in the following order: "
                                "tools, system, messages.")
        return blocks, None

    async def messages(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "anthropic")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list) or \
                not isinstance(p.get("max_tokens"), int):
            return self._error("anthropic", 400, "invalid_request_error", "model, max_tokens and messages are required")
        blocks, problem = self._anthropic_blocks(p)
        if problem:
            return self._error("anthropic", 400, "invalid_request_error", problem)
        diagnosis = "diagnostics" in p
        if diagnosis:
            problem = _diagnosis_problem(p, req.headers.get("anthropic-beta", ""))
            if problem:
                return self._error("anthropic", 400, "invalid_request_error", problem)
        res = self.anthropic.run(p["model"], blocks)
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("anthropic", res.total, p["max_tokens"])
        usage = {"input_tokens": res.uncached, "cache_creation_input_tokens": sum(res.write.values()),
                 "cache_read_input_tokens": res.read,
                 "cache_creation": {"ephemeral_5m_input_tokens": res.write.get("5m", 0),
                                    "ephemeral_1h_input_tokens": res.write.get("1h", 0)},
                 "output_tokens": out_tokens, "service_tier": "standard"}
        stop = "max_tokens" if truncated else "end_turn"
        msg = {"id": f"msg_sim_{n}", "type": "message", "role": "assistant", "model": p["model"],
               "content": [{"type": "text", "text": text}] if text else [], "stop_reason": stop,
               "stop_sequence": None, "usage": usage}
        if diagnosis:  # the cache-diagnosis beta: compare with the fingerprint of previous_message_id
            with self.state.lock:
                prints = self.__dict__.setdefault("_anthropic_fingerprints", {})
                prints[msg["id"]] = _fingerprint(p, blocks)
                previous = p["diagnostics"].get("previous_message_id")
                reason = None if previous is None else _miss_reason(prints.get(previous), prints[msg["id"]])
            msg["diagnostics"] = {"cache_miss_reason": reason} if reason else None
        rid = {"request-id": f"req_sim_{n}"}
        if not p.get("stream"):
            return JSONResponse(msg, headers=rid)
        start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        evs: list[tuple[str | None, str]] = [
            ("message_start", _canon({"type": "message_start", "message": start})),
            ("content_block_start", _canon({"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}}))]
        for piece in _pieces(text):
            evs.append(("content_block_delta", _canon({"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": piece}})))
        evs += [("content_block_stop", _canon({"type": "content_block_stop", "index": 0})),
                ("message_delta", _canon({"type": "message_delta",
                                          "delta": {"stop_reason": stop, "stop_sequence": None},
                                          "usage": {"output_tokens": out_tokens, "input_tokens": res.uncached,
                                                    "cache_creation_input_tokens": sum(res.write.values()),
                                                    "cache_read_input_tokens": res.read}})),
                ("message_stop", _canon({"type": "message_stop"}))]
        return self._sse(evs, fault, rid)


def _last_marked(p: dict[str, Any]) -> bool:
    """Whether the request's last block carries its own explicit cache_control."""
    msgs = p.get("messages") or []
    if msgs and isinstance(msgs[-1].get("content"), list) and msgs[-1]["content"]:
        return bool(msgs[-1]["content"][-1].get("cache_control"))
    return False


def _diagnosis_problem(p: dict[str, Any], beta_header: str) -> str | None:
    """Why a request's ``diagnostics`` is refused (the beta not enabled, or not the documented shape)."""
    from promptc.core.providers import SPECS

    beta = SPECS["anthropic"].cache_diagnosis_beta
    if beta not in [b.strip() for b in beta_header.split(",")]:
        return f"diagnostics: Extra inputs are not permitted (enable the {beta} beta)"
    d = p["diagnostics"]
    if not isinstance(d, dict) or set(d) - {"previous_message_id"} or \
            not isinstance(d.get("previous_message_id"), (str, type(None))):
        return "diagnostics: expected an object with previous_message_id (a message id or null)"
    return None


def _fingerprint(p: dict[str, Any], blocks: list[Block]) -> dict[str, Any]:
    """What the diagnosis compares: the model, system, tools, each message, and the prompt's tokens."""
    return {"model": p["model"], "system": _canon(p.get("system")),
            "tools": _canon([{k: v for k, v in t.items() if k != "cache_control"} for t in p.get("tools") or []]),
            "messages": [_canon(m) for m in p.get("messages") or []], "tokens": sum(b.tokens for b in blocks)}


def _miss_reason(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any] | None:
    """The first divergence from ``before`` (model, system, tools, then a message changed rather than
    messages appended), as the API reports it; None when ``now`` only appends to ``before``."""
    if before is None:
        return {"type": "previous_message_not_found"}
    missed = {"cache_missed_input_tokens": before["tokens"]}  # approximate: what the previous prompt held
    for field in ("model", "system", "tools"):
        if before[field] != now[field]:
            return {"type": f"{field}_changed", **missed}
    old = before["messages"]
    # structural, as documented: only appended messages keep the prefix (whether the cache hit is usage's business)
    if now["messages"][:len(old)] != old:
        return {"type": "messages_changed", **missed}
    return None
