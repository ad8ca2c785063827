"""The simulator's Gemini API: ``generateContent``, ``streamGenerateContent`` (SSE) and ``cachedContents``.

Routes (under ``/v1beta``, and the same under ``/v1``): ``POST models/{model}:generateContent``,
``POST models/{model}:streamGenerateContent?alt=sse``, ``POST cachedContents``, ``GET cachedContents``
(``pageSize``, ``pageToken``), ``GET|PATCH|DELETE cachedContents/{id}``. The key is read from
``x-goog-api-key`` (or ``?key=``); each key is an account: caches are private to it.

Cache model (deterministic; the real implicit cache is best effort):

- **Tokens**: ``o200k_base`` counts of each text part, and of each function declaration's canonical
  JSON; roles and structure count nothing.
- **Implicit**: the prompt is a list of blocks: function declarations, system instruction parts,
  content parts (tools first, as Anthropic and Bedrock render them; Gemini does not document its
  order). Every request stores each block-boundary prefix whose
  cumulative count reaches the model's minimum, for ``implicit_ttl_s`` (300 s) from that request, per
  account and model; a request reads the longest stored prefix (``cachedContentTokenCount``).
- **Explicit** (``cachedContents``): creation counts the object's tokens and answers 400
  ``Cached content is too small. total_token_count=N, min_total_token_count=M`` below the model's
  minimum; TTL from ``ttl`` (default 1 h) or ``expireTime``, on the simulator's clock; PATCH changes
  only ``ttl``/``expireTime``. A request with ``cachedContent`` reads exactly the object's tokens;
  an expired, deleted or other account's object is 403 ``CachedContent not found (or permission
  denied)``; one that also sets ``systemInstruction``, ``tools`` or ``toolConfig`` is 400; a model
  other than the object's is 400.
- Usage leaves out zero counters, as Gemini's JSON does (``cachedContentTokenCount`` only on a hit).
- Minimums per model: ``gemini_config(min_tokens={model: n})`` on the app, else
  :func:`promptc.core.providers.limits_for`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse

from promptc.core.providers import SPECS, limits_for
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces

IMPLICIT_TTL_S = SPECS["gemini"].ttls["implicit"] or 0.0
DEFAULT_CACHE_TTL_S = SPECS["gemini"].ttls["1h"] or 0.0
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_GENERATE_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig",
                    "cachedContent", "model", "labels"}
_CACHE_FIELDS = {"model", "displayName", "systemInstruction", "tools", "toolConfig", "contents", "ttl",
                 "expireTime", "name"}
NOT_FOUND = "CachedContent not found (or permission denied)"
CONFLICT = ("CachedContent can not be used with GenerateContent request setting system_instruction, tools or "
            "tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request.")


def _camel(key: str) -> str:
    """Proto JSON accepts both ``system_instruction`` and ``systemInstruction``."""
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


#: Fields whose values are free-form JSON (schemas, function arguments): their keys are data.
_OPAQUE = frozenset({"parametersJsonSchema", "responseJsonSchema", "args", "response"})


def proto_json(value: Any) -> Any:
    """``value`` with every message field name in lowerCamelCase, as a proto JSON parser reads it
    (``system_instruction`` and ``systemInstruction`` are the same field; the google-genai SDK
    sends ``parameters_json_schema``); the contents of free-form fields are left alone."""
    if isinstance(value, list):
        return [proto_json(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = _camel(k)
            out[key] = v if key in _OPAQUE else proto_json(v)
        return out
    return value


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_duration(value: Any) -> float | None:
    """``"300s"`` / ``"1.5s"`` → seconds; None when malformed."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d{1,9})?s", value):
        return float(value[:-1])
    return None


@dataclass
class _Object:
    name: str
    account: str
    model: str
    display_name: str | None
    tokens: int
    blocks: list[tuple[int, str]]
    created: float
    updated: float
    expires: float

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "model": self.model, "createTime": rfc3339(self.created),
                               "updateTime": rfc3339(self.updated), "expireTime": rfc3339(self.expires),
                               "usageMetadata": {"totalTokenCount": self.tokens}}
        if self.display_name is not None:
            out["displayName"] = self.display_name
        return out


@dataclass
class GeminiState:
    """Implicit prefixes and explicit objects, per account."""

    min_tokens: dict[str, int] = field(default_factory=dict)
    implicit_ttl_s: float = IMPLICIT_TTL_S
    implicit: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (account, model, hash) → expiry
    objects: dict[str, _Object] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    created: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class GeminiRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides ``state``, ``count``,
    ``_fault``, ``_next_id``, ``_reply_text`` and ``_sse``)."""

    def sim_routes(self) -> list:
        from starlette.routing import Route

        out = []
        for v in ("/v1beta", "/v1"):  # promptc sends v1beta; google-genai 2.x+ defaults to v1
            out += [Route(f"{v}/models/{{rest:path}}", self.gemini_generate, methods=["POST"]),
                    Route(f"{v}/cachedContents", self.gemini_cache_create, methods=["POST"]),
                    Route(f"{v}/cachedContents", self.gemini_cache_list, methods=["GET"]),
                    Route(f"{v}/cachedContents/{{cid}}", self.gemini_cache_one, methods=["GET", "PATCH", "DELETE"])]
        return out

    # -- configuration ------------------------------------------------------------------------------
    @property
    def gemini(self) -> GeminiState:
        st = self.__dict__.get("_gemini_state")
        if st is None:
            with self.state.lock:
                st = self.__dict__.setdefault("_gemini_state", GeminiState())
        return st

    def gemini_config(self, min_tokens: dict[str, int] | None = None, implicit_ttl_s: float | None = None) -> None:
        """Override the minimum cacheable tokens per model (to cache small prompts) or the implicit TTL."""
        if min_tokens:
            self.gemini.min_tokens.update(min_tokens)
        if implicit_ttl_s is not None:
            self.gemini.implicit_ttl_s = implicit_ttl_s

    def gemini_minimum(self, model: str) -> int:
        model = model.removeprefix("models/")
        return (self.gemini.min_tokens.get(model) or getattr(self, "min_tokens", None)
                or limits_for(f"gemini/{model}").min_tokens or 0)

    # -- plumbing -----------------------------------------------------------------------------------
    def _gerror(self, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        rid = f"req_sim_{self._next_id()}"
        body = {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}
        return JSONResponse(body, status_code=status, headers={"x-request-id": rid, **(headers or {})})

    async def _gbegin(self, req: HTTPRequest, body: bool = True):
        """(account, payload, fault, error response): key, JSON, recording, injected faults."""
        fault = self._fault()
        if fault and fault.delay_s:
            import asyncio

            await asyncio.sleep(fault.delay_s)
        payload: Any = None
        if body:
            try:
                payload = await req.json()
            except ValueError:
                return None, None, fault, self._gerror(400, "Invalid JSON payload received.")
        with self.state.lock:
            self.state.requests.append({"method": req.method, "path": req.url.path, "query": {k: v for k, v in req.query_params.items() if k != "key"},
                                        "payload": payload,
                                        "headers": {k: v for k, v in req.headers.items()
                                                    if k.lower() not in ("x-goog-api-key", "authorization")}})
        account = req.headers.get("x-goog-api-key") or req.query_params.get("key")
        if not account:
            return None, payload, fault, self._gerror(
                403, "Method doesn't allow unregistered callers (callers without established identity). "
                     "Please use API Key or other form of API consumer identity to call this API.")
        if fault and fault.status:
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return account, payload, fault, self._gerror(fault.status, fault.message, headers)
        if body and not isinstance(payload, dict):
            return account, payload, fault, self._gerror(400, "Invalid JSON payload received. Expected an object.")
        return account, payload, fault, None

    def _gblocks(self, p: dict[str, Any]) -> tuple[list[tuple[int, str]], str | None]:
        """(tokens, identity) per block in reading order, or an error message."""
        out: list[tuple[int, str]] = []
        for t, tool in enumerate(p.get("tools") or []):
            if not isinstance(tool, dict):
                return out, f"Invalid value at 'tools[{t}]'"
            for decl in tool.get("functionDeclarations") or []:
                if not isinstance(decl, dict) or not decl.get("name"):
                    return out, f"* GenerateContentRequest.tools[{t}].function_declarations: name is required"
                out.append((self.count(_canon(decl)), "t" + _canon(decl)))
        si = p.get("systemInstruction")
        if si is not None:
            if not isinstance(si, dict) or not isinstance(si.get("parts"), list):
                return out, "Invalid value at 'system_instruction': expected a Content with parts"
            for part in si["parts"]:
                out.append((self.count(part.get("text", "")) if isinstance(part, dict) else 0, "s" + _canon(part)))
        for c, content in enumerate(p.get("contents") or []):
            if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
                return out, f"Please use a valid role: user, model. (contents[{c}])"
            parts = content.get("parts")
            if not isinstance(parts, list) or not parts:
                return out, f"* GenerateContentRequest.contents[{c}].parts: contents.parts must not be empty."
            for part in parts:
                if not isinstance(part, dict) or ("text" in part and not isinstance(part["text"], str)):
                    return out, f"Invalid value at 'contents[{c}].parts'"
                if "text" in part and part["text"] == "":
                    return out, f"* GenerateContentRequest.contents[{c}].parts: text must not be empty"
                out.append((self.count(part.get("text", "")) if "text" in part else self.count(_canon(part)),
                            content.get("role", "user") + _canon(part)))
        return out, None

    def _live(self, account: str, name: str) -> _Object | None:
        obj = self.gemini.objects.get(name)
        if obj is None or obj.account != account or obj.expires <= self.state.clock():
            return None
        return obj

    # -- generateContent ----------------------------------------------------------------------------
    async def gemini_generate(self, req: HTTPRequest):
        account, p, fault, err = await self._gbegin(req)
        if err is not None:
            return err
        rest = req.path_params["rest"]
        model, _, method = rest.rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model:
            return self._gerror(404, f"Method not found: {rest}")
        p = proto_json(p)
        unknown = sorted(set(p) - _GENERATE_FIELDS)
        if unknown:
            return self._gerror(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
        if not isinstance(p.get("contents"), list) or not p["contents"]:
            return self._gerror(400, "* GenerateContentRequest.contents: contents is not specified")
        blocks, problem = self._gblocks(p)
        if problem:
            return self._gerror(400, problem)
        st = self.gemini
        now = self.state.clock()
        with st.lock:
            if p.get("cachedContent"):
                if any(p.get(k) for k in ("systemInstruction", "tools", "toolConfig")):
                    return self._gerror(400, CONFLICT)
                obj = self._live(account, str(p["cachedContent"]))
                if obj is None:
                    return self._gerror(403, NOT_FOUND)
                if obj.model != f"models/{model}":
                    return self._gerror(400, f"Model used by GenerateContent request (models/{model}) and "
                                             f"CachedContent ({obj.model}) has to be the same.")
                read = obj.tokens
                total = obj.tokens + sum(n for n, _ in blocks)
            else:
                read, total = self._implicit(account, model, blocks, now)
        max_tokens = int((p.get("generationConfig") or {}).get("maxOutputTokens") or 8192)
        text, out_tokens, truncated = self._reply_text("gemini", total, max_tokens)
        n = self._next_id()
        usage: dict[str, Any] = {"promptTokenCount": total, "candidatesTokenCount": out_tokens,
                                 "totalTokenCount": total + out_tokens,
                                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
        if read:
            usage["cachedContentTokenCount"] = read
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": read}]
        if not out_tokens:
            del usage["candidatesTokenCount"]
        finish = "MAX_TOKENS" if truncated else "STOP"
        body = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish,
                                "index": 0}],
                "usageMetadata": usage, "modelVersion": model, "responseId": f"sim_gemini_{n}"}
        rid = {"x-request-id": f"req_sim_{n}"}
        if method == "generateContent":
            return JSONResponse(body, headers=rid)
        chunks = _pieces(text) or [""]
        evs: list[tuple[str | None, str]] = []
        for i, piece in enumerate(chunks):
            last = i == len(chunks) - 1
            cand: dict[str, Any] = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            partial = {"promptTokenCount": total, "totalTokenCount": total,
                       "promptTokensDetails": usage["promptTokensDetails"]}
            if read:
                partial["cachedContentTokenCount"] = read
            if last:
                cand["finishReason"] = finish
            evs.append((None, _canon({"candidates": [cand], "usageMetadata": usage if last else partial,
                                      "modelVersion": model, "responseId": f"sim_gemini_{n}"})))
        return self._sse(evs, fault, rid)

    def _implicit(self, account: str, model: str, blocks: list[tuple[int, str]], now: float) -> tuple[int, int]:
        """(read, total): the longest stored block-boundary prefix; then store every boundary ≥ minimum."""
        st = self.gemini
        minimum = self.gemini_minimum(model)
        h = hashlib.sha256(f"{account}\x00{model}".encode()).hexdigest()
        cum, hashes, total = [], [], 0
        for n, ident in blocks:
            total += n
            h = hashlib.sha256((h + "\x00" + ident).encode()).hexdigest()
            cum.append(total)
            hashes.append(h)
        read = 0
        for i in range(len(blocks) - 1, -1, -1):
            exp = st.implicit.get((account, model, hashes[i]))
            if exp is not None and exp > now:
                read = cum[i]
                break
        for i in range(len(blocks)):
            if cum[i] >= minimum:
                st.implicit[(account, model, hashes[i])] = now + st.implicit_ttl_s
        return read, total

    # -- cachedContents -----------------------------------------------------------------------------
    async def gemini_cache_create(self, req: HTTPRequest):
        account, p, _, err = await self._gbegin(req)
        if err is not None:
            return err
        p = proto_json(p)
        unknown = sorted(set(p) - _CACHE_FIELDS)
        if unknown:
            return self._gerror(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
        model = p.get("model")
        if not isinstance(model, str) or not model.startswith("models/") or len(model) <= len("models/"):
            return self._gerror(400, "CachedContent.model is required and must look like models/{model}")
        if "ttl" in p and "expireTime" in p:
            return self._gerror(400, "Only one of ttl and expire_time may be set")
        dn = p.get("displayName")
        if dn is not None and (not isinstance(dn, str) or len(dn) > 128):
            return self._gerror(400, "CachedContent.display_name must be a string of at most 128 characters")
        blocks, problem = self._gblocks(p)
        if problem:
            return self._gerror(400, problem)
        now = self.state.clock()
        expires = self._expiry(p, now)
        if isinstance(expires, str):
            return self._gerror(400, expires)
        total = sum(n for n, _ in blocks)
        minimum = self.gemini_minimum(model)
        if total < minimum:
            return self._gerror(400, f"Cached content is too small. total_token_count={total}, "
                                     f"min_total_token_count={minimum}")
        st = self.gemini
        with st.lock:
            st.created += 1
            name = f"cachedContents/sim{st.created:06d}{hashlib.sha256(account.encode()).hexdigest()[:6]}"
            obj = _Object(name, account, model, dn, total, blocks, now, now, expires)
            st.objects[name] = obj
        return JSONResponse(obj.to_json())

    def _expiry(self, p: dict[str, Any], now: float) -> float | str:
        if "expireTime" in p:
            try:
                return datetime.fromisoformat(str(p["expireTime"]).replace("Z", "+00:00")).timestamp()
            except ValueError:
                return f"Invalid value at 'cached_content.expire_time' ({p['expireTime']!r})"
        if "ttl" in p:
            ttl = parse_duration(p["ttl"])
            if ttl is None or ttl < 0:
                return f"Invalid value at 'cached_content.ttl' ({p['ttl']!r}): expected a duration like \"300s\""
            return now + ttl
        return now + DEFAULT_CACHE_TTL_S

    async def gemini_cache_list(self, req: HTTPRequest):
        account, _, _, err = await self._gbegin(req, body=False)
        if err is not None:
            return err
        try:
            size = min(1000, max(1, int(req.query_params.get("pageSize", "50"))))
            start = int(req.query_params.get("pageToken") or 0)
        except ValueError:
            return self._gerror(400, "Invalid pageSize or pageToken")
        with self.gemini.lock:
            live = [o for o in sorted(self.gemini.objects.values(), key=lambda o: o.name)
                    if self._live(account, o.name) is not None]
        page = live[start:start + size]
        body: dict[str, Any] = {"cachedContents": [o.to_json() for o in page]} if page else {}
        if start + size < len(live):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    async def gemini_cache_one(self, req: HTTPRequest):
        account, p, _, err = await self._gbegin(req, body=req.method == "PATCH")
        if err is not None:
            return err
        name = f"cachedContents/{req.path_params['cid']}"
        st = self.gemini
        now = self.state.clock()
        with st.lock:
            obj = self._live(account, name)
            if obj is None:
                return self._gerror(403, NOT_FOUND)
            if req.method == "GET":
                return JSONResponse(obj.to_json())
            if req.method == "DELETE":
                del st.objects[name]
                st.deleted.add(name)
                return JSONResponse({})
            p = proto_json(p)
            other = sorted(set(p) - {"ttl", "expireTime"})
            if other:
                return self._gerror(400, f"Only the expiration (ttl or expire_time) of a CachedContent can be "
                                         f"updated, not {other[0]}")
            if len(p) != 1:
                return self._gerror(400, "Set exactly one of ttl and expire_time")
            expires = self._expiry(p, now)
            if isinstance(expires, str):
                return self._gerror(400, expires)
            obj.expires, obj.updated = expires, now
            return JSONResponse(obj.to_json())

    def gemini_objects(self, account: str | None = None) -> list[dict[str, Any]]:
        """The live cache objects (for tests and ``promptc sim``), optionally of one account."""
        with self.gemini.lock:
            return [o.to_json() for o in self.gemini.objects.values()
                    if (account is None or o.account == account) and o.expires > self.state.clock()]

