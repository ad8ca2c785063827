"""The simulator's self-hosted routes: OpenAI-compatible chat completions served by simulated vLLM and
SGLang servers and by a fleet of replicas behind a router (:mod:`promptc.runtime.sim.fleet`).

- ``POST /vllm/v1/chat/completions``: one vLLM server (16-token blocks, ``cache_salt``);
- ``POST /sglang/v1/chat/completions``: one SGLang server (radix cache: 1-token granularity, SGLang's
  default ``--page-size`` of 1: the spec's block, promptc/core/providers/selfhosted.py);
- ``POST /fleet/v1/chat/completions``: 4 vLLM replicas behind a router (``routing_key`` policy on
  ``X-SMG-Routing-Key`` unless configured otherwise); the response's ``x-sim-replica`` header names
  the replica that served it;
- ``POST /_sim/fleet`` ``{"name": "fleet"|"vllm"|"sglang", "replicas", "policy", "block_size",
  "capacity_blocks", "header", "report"}`` replaces a server (empty caches); ``GET /_sim/fleet``
  returns every server's counters.

The prompt is the model's chat template (the spec's ``chat_format``) tokenized with the model's
tokenizer (the spec's: ``gguf:smollm2`` for SmolLM2 models, else the simulator's ``o200k_base`` proxy).

No key is needed (like a server started without ``--api-key``). Usage is inclusive; whether
``prompt_tokens_details.cached_tokens`` appears follows the server's ``report`` mode.
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import SPECS
from promptc.core.providers.selfhosted import chat_format
from promptc.runtime.sim.fleet import Fleet, chat_ids
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces


def _block(provider: str) -> int:
    """The block size of ``provider``'s spec (vLLM 16, SGLang 1: promptc/core/providers/selfhosted.py)."""
    return SPECS[provider].limits(f"{provider}/").block_size


#: The servers each simulator starts with; ``POST /_sim/fleet`` replaces one. Block sizes: the specs'.
DEFAULTS: dict[str, dict[str, Any]] = {
    "vllm": {"replicas": 1, "policy": "round_robin", "block_size": _block("vllm")},
    "sglang": {"replicas": 1, "policy": "round_robin", "block_size": _block("sglang")},
    "fleet": {"replicas": 4, "policy": "routing_key", "block_size": _block("vllm")},
}
#: the provider spec whose model facts (tokenizer, chat template) each server uses
SPEC_OF = {"vllm": "vllm", "sglang": "sglang", "fleet": "vllm"}


class SelfHostedState:
    """The simulated self-hosted servers of one simulator (by name), under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.servers: dict[str, Fleet] = {name: Fleet(**kw) for name, kw in DEFAULTS.items()}

    def configure(self, name: str, **kw: Any) -> Fleet:
        """Replace server ``name`` with a fresh one (unspecified options from :data:`DEFAULTS`)."""
        if name not in DEFAULTS:
            raise ValueError(f"unknown self-hosted server `{name}` (one of {', '.join(DEFAULTS)})")
        fleet = Fleet(**{**DEFAULTS[name], **kw})
        with self.lock:
            self.servers[name] = fleet
        return fleet


class SelfHostedRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        self.selfhosted = SelfHostedState()  # called once, from SimApp.__init__
        return [Route(f"/{name}/v1/chat/completions", self._selfhosted_chat(name), methods=["POST"])
                for name in DEFAULTS] + [Route("/_sim/fleet", self.post_fleet, methods=["POST"]),
                                         Route("/_sim/fleet", self.get_fleet, methods=["GET"])]

    def _selfhosted_chat(self, name: str):
        async def chat(req: HTTPRequest):
            return await self.selfhosted_chat(req, name)

        return chat

    async def selfhosted_chat(self, req: HTTPRequest, name: str):
        fault = self._fault()
        try:
            p = await req.json()
        except ValueError:
            return self._error("openai", 400, "BadRequestError", "body is not JSON")
        headers = {k: v for k, v in req.headers.items() if k.lower() not in ("authorization", "x-api-key")}
        with self.state.lock:
            self.state.requests.append({"path": req.url.path, "payload": p, "headers": headers})
        if fault and fault.status:
            extra = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return self._error("openai", fault.status, "ServiceUnavailableError", fault.message, extra)
        if not isinstance(p, dict) or not p.get("model") or not isinstance(p.get("messages"), list):
            return self._error("openai", 400, "BadRequestError", "model and messages are required")
        salt = p.get("cache_salt")
        if salt is not None and (not isinstance(salt, str) or not salt):
            return self._error("openai", 400, "BadRequestError", "cache_salt must be a non-empty string")
        model = str(p["model"])
        ids = chat_ids(self._model_tok(SPEC_OF[name], model).encode, p, chat_format(model))
        with self.selfhosted.lock:
            fleet = self.selfhosted.servers[name]
            served = fleet.serve(ids, headers, salt)
        n = self._next_id()
        max_tokens = p.get("max_tokens") or p.get("max_completion_tokens") or 256
        text, out_tokens, truncated = self._reply_text(name, served.prompt_tokens, max_tokens)
        usage = {"prompt_tokens": served.prompt_tokens, "completion_tokens": out_tokens,
                 "total_tokens": served.prompt_tokens + out_tokens,
                 "prompt_tokens_details": fleet.usage_details(served.cached_tokens)}
        finish = "length" if truncated else "stop"
        rid = {"x-request-id": f"req_sim_{n}", "x-sim-replica": str(served.replica)}
        base = {"id": f"chatcmpl-sim-{n}", "created": int(self.state.clock()), "model": p["model"]}
        if not p.get("stream"):
            return JSONResponse({**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                "logprobs": None}]}, headers=rid)
        chunk = {**base, "object": "chat.completion.chunk"}
        evs = [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                    "finish_reason": None, "logprobs": None}]}))]
        evs += [(None, _canon({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None,
                                                     "logprobs": None}]})) for piece in _pieces(text)]
        evs.append((None, _canon({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish,
                                                        "logprobs": None}]})))
        if (p.get("stream_options") or {}).get("include_usage"):
            evs.append((None, _canon({**chunk, "choices": [], "usage": usage})))
        evs.append((None, "[DONE]"))
        return self._sse(evs, fault, rid)

    def _model_tok(self, provider: str, model: str):
        """The model's tokenizer (its spec's); the simulator's own for the ``o200k_base`` proxy."""
        tok_id, _ = SPECS[provider].tokenizer(model)
        if tok_id == "o200k_base":
            return self.tok
        cache = self.__dict__.setdefault("_selfhosted_toks", {})
        if tok_id not in cache:
            from promptc.tokenizers import load_tokenizer

            cache[tok_id] = load_tokenizer(tok_id)
        return cache[tok_id]

    async def post_fleet(self, req: HTTPRequest):
        body = await req.json()
        name = body.pop("name", "fleet") if isinstance(body, dict) else None
        try:
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            fleet = self.selfhosted.configure(name, **body)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(fleet.stats())

    async def get_fleet(self, req: HTTPRequest):
        with self.selfhosted.lock:
            return JSONResponse({name: f.stats() for name, f in self.selfhosted.servers.items()})


__all__ = ["DEFAULTS", "SelfHostedRoutes", "SelfHostedState"]
