"""The simulator's OpenAI routes (``POST /v1/chat/completions``, ``POST /v1/responses``): automatic
prefix caching before gpt-5.6, breakpoints from gpt-5.6, inclusive usage, and both SSE formats."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import SPECS
from promptc.runtime.sim.cache import Block, CacheResult
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces

#: models with explicit breakpoints, and those without in-memory retention: from the OpenAI spec's rows
EXPLICIT_OPENAI = tuple(r.key.split("/", 1)[1] for r in SPECS["openai"].models if r.mode == "explicit")
ONLY_24H = tuple(r.key.split("/", 1)[1] for r in SPECS["openai"].models if r.ttls == ("24h",))


class OpenAIRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        return [Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/responses", self.responses, methods=["POST"])]

    def _openai_common(self, p: dict[str, Any], items: list[dict[str, Any]], part_types: tuple[str, ...]):
        """(cache result, error response) for chat messages or responses input items."""
        model = str(p.get("model") or "")
        explicit = model.startswith(EXPLICIT_OPENAI)
        opts = p.get("prompt_cache_options")
        if opts is not None and not explicit:
            return None, self._error("openai", 400, "invalid_request_error",
                                     f"prompt_cache_options is not supported with model {model}")
        retention = p.get("prompt_cache_retention")
        if retention == "in_memory" and model.startswith(ONLY_24H):
            return None, self._error("openai", 400, "invalid_request_error",
                                     f"prompt_cache_retention 'in_memory' is not supported with model {model}")
        blocks: list[Block] = []
        for t in p.get("tools") or []:
            blocks.append(Block(self.count(_canon(t)), _canon(t)))
        for m, msg in enumerate(items):
            content = msg.get("content")
            if isinstance(content, str):
                content = [{"type": part_types[0], "text": content}]
            for c, part in enumerate(content or []):
                bp = part.get("prompt_cache_breakpoint")
                if bp is not None and not explicit:
                    return None, self._error("openai", 400, "invalid_request_error",
                                             f"messages[{m}].content[{c}].prompt_cache_breakpoint is not supported "
                                             f"with model {model}")
                ident = _canon({"role": msg.get("role"), **{k: v for k, v in part.items()
                                                              if k != "prompt_cache_breakpoint"}})
                blocks.append(Block(self.count(part.get("text", "")), ident, "30m" if bp else None))
        key = str(p.get("prompt_cache_key") or "")
        if explicit:
            mode = (opts or {}).get("mode", "implicit")
            return self.openai.explicit(model, key, blocks, implicit=mode == "implicit"), None
        ids: list[int] = []
        for t in p.get("tools") or []:
            ids += self.tok.encode(_canon(t))
        for msg in items:
            content = msg.get("content")
            parts = [content] if isinstance(content, str) else [x.get("text", "") for x in content or []]
            for text in parts:
                ids += self.tok.encode(text)
        return self.openai.automatic(model, key, ids, retention or "24h"), None

    async def chat(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "openai")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list):
            return self._error("openai", 400, "invalid_request_error", "model and messages are required")
        res, err = self._openai_common(p, p["messages"], ("text",))
        if err is not None:
            return err
        n = self._next_id()
        max_tokens = p.get("max_completion_tokens") or p.get("max_tokens") or 256
        text, out_tokens, truncated = self._reply_text("openai", res.total, max_tokens)
        usage = _chat_usage(res, out_tokens, str(p["model"]).startswith(EXPLICIT_OPENAI))
        finish = "length" if truncated else "stop"
        created = int(self.state.clock())
        rid = {"x-request-id": f"req_sim_{n}"}
        base = {"id": f"chatcmpl-sim-{n}", "created": created, "model": p["model"], "system_fingerprint": None,
                "service_tier": "default"}
        if not p.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": finish, "logprobs": None}]}, headers=rid)
        chunk = {**base, "object": "chat.completion.chunk"}
        evs = [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                    "finish_reason": None, "logprobs": None}]}))]
        for piece in _pieces(text):
            evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {"content": piece},
                                                            "finish_reason": None, "logprobs": None}]})))
        evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish,
                                                        "logprobs": None}]})))
        if (p.get("stream_options") or {}).get("include_usage"):
            evs.append((None, _canon({**chunk, "choices": [], "usage": usage})))
        evs.append((None, "[DONE]"))
        return self._sse(evs, fault, rid)

    async def responses(self, req: HTTPRequest):
        p, fault, err = await self._begin(req, "openai")
        if err is not None:
            return err
        if not isinstance(p, dict) or not p.get("model") or "input" not in p:
            return self._error("openai", 400, "invalid_request_error", "model and input are required")
        items = p["input"] if isinstance(p["input"], list) else [{"role": "user", "content": p["input"]}]
        res, err = self._openai_common(p, items, ("input_text",))
        if err is not None:
            return err
        n = self._next_id()
        text, out_tokens, truncated = self._reply_text("openai", res.total, p.get("max_output_tokens") or 256)
        # required in the SDK's Responses type (InputTokensDetails) for every model: 0 before gpt-5.6
        details = {"cached_tokens": res.read, "cache_write_tokens": sum(res.write.values())}
        usage = {"input_tokens": res.total, "input_tokens_details": details, "output_tokens": out_tokens,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": res.total + out_tokens}
        resp = {"id": f"resp_sim_{n}", "object": "response", "created_at": int(self.state.clock()),
                "model": p["model"], "status": "incomplete" if truncated else "completed", "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
                "instructions": None, "metadata": {}, "parallel_tool_calls": True, "temperature": None,
                "tool_choice": "auto", "tools": p.get("tools") or [], "top_p": None,
                "output": [{"type": "message", "id": f"msg_sim_{n}", "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "usage": usage}
        rid = {"x-request-id": f"req_sim_{n}"}
        if not p.get("stream"):
            return JSONResponse(resp, headers=rid)
        item = resp["output"][0]
        part = {"type": "output_text", "text": "", "annotations": []}
        loc = {"item_id": item["id"], "output_index": 0}
        raw: list[dict[str, Any]] = [
            {"type": "response.created", "response": {**resp, "status": "in_progress", "output": [], "usage": None}},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **loc, "content_index": 0, "part": part}]
        raw += [{"type": "response.output_text.delta", **loc, "content_index": 0, "delta": piece, "logprobs": []}
                for piece in _pieces(text)]
        raw += [{"type": "response.output_text.done", **loc, "content_index": 0, "text": text, "logprobs": []},
                {"type": "response.content_part.done", **loc, "content_index": 0, "part": {**part, "text": text}},
                {"type": "response.output_item.done", "output_index": 0, "item": item},
                {"type": "response.completed", "response": resp}]
        evs = [(e["type"], _canon({**e, "sequence_number": i})) for i, e in enumerate(raw)]
        return self._sse(evs, fault, rid)


def _chat_usage(res: CacheResult, out_tokens: int, explicit: bool) -> dict[str, Any]:
    details = {"cached_tokens": res.read, "audio_tokens": 0}
    if explicit:
        details["cache_write_tokens"] = sum(res.write.values())
    return {"prompt_tokens": res.total, "completion_tokens": out_tokens, "total_tokens": res.total + out_tokens,
            "prompt_tokens_details": details, "completion_tokens_details": {"reasoning_tokens": 0}}
