"""The simulator's Bedrock Converse routes (``POST /model/{modelId}/converse`` and ``/converse-stream``).

- Every request must carry a valid AWS Signature V4 for service ``bedrock``: the simulator recomputes
  it with botocore's signer from the received method, raw path, signed headers and body, using the
  secret it knows for the access key (:data:`SIM_AWS_CREDENTIALS`), and answers 403 with AWS's error
  shape when it is missing or does not match.
- :class:`BedrockCache`: ``cachePoint`` checkpoints (≤ 4, else ValidationException) with the
  cumulative minimum (a checkpoint counts only when it adds the model's minimum of tokens to the
  previous counted one), a 20-block lookback per checkpoint, ``5m``/``1h`` TTLs on the simulator's
  clock (``1h`` only on the models that offer it, and never after a ``5m`` one), hits refresh.
- Usage is exclusive with the ``cacheDetails`` TTL split; ConverseStream answers in the binary
  event-stream framing (:mod:`promptc.runtime.eventstream`) with usage in the final ``metadata`` event.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response, StreamingResponse

from promptc.core.providers import limits_for
from promptc.runtime.eventstream import encode
from promptc.runtime.providers.bedrock import family, supports_long_ttl
from promptc.runtime.sim.cache import LOOKBACK, TTL_S, Block, CacheResult, _Entry, cumulative_tokens, prefix_hashes
from promptc.runtime.sim.wire import canon as _canon, pieces as _pieces

#: Access key id → secret key the simulator accepts (export these as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
SIM_AWS_CREDENTIALS = {"AKIDPROMPTCSIM": "promptc-simulator-secret"}
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                   r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$")
_ERROR_NS = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
_STATUS_TYPE = {429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException",
                403: "AccessDeniedException", 404: "ResourceNotFoundException"}
MAX_POINTS = 4


@dataclass
class BedrockCache:
    """Bedrock's checkpoint cache for one account; ``min_tokens(model)`` gives the per-checkpoint minimum."""

    clock: Callable[[], float]
    min_tokens: Callable[[str], int]
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)

    def run(self, model: str, blocks: list[Block]) -> CacheResult:
        now = self.clock()
        hashes = prefix_hashes(model, blocks)
        cum = cumulative_tokens(blocks)
        total = cum[-1] if cum else 0
        minimum, prev, points = self.min_tokens(model), 0, []
        for i, b in enumerate(blocks):  # cumulative minimum: each counted checkpoint adds `minimum` tokens
            if b.marker and cum[i] - prev >= minimum:
                points.append(i)
                prev = cum[i]
        hit = -1
        for bp in points:
            for pos in range(bp, max(-1, bp - LOOKBACK), -1):
                e = self.entries.get((model, hashes[pos]))
                if e is not None and e.expires > now:
                    hit = max(hit, pos)
                    break
        read = cum[hit] if hit >= 0 else 0
        if hit >= 0:
            e = self.entries[(model, hashes[hit])]
            e.expires = now + TTL_S[e.ttl]
        later = [i for i in points if i > hit]
        write: dict[str, int] = {}
        if later:
            long_ = [i for i in later if blocks[i].marker == "1h"]
            base = read
            if long_:
                write["1h"] = cum[long_[-1]] - base
                base = cum[long_[-1]]
            if cum[later[-1]] - base > 0:
                write["5m"] = cum[later[-1]] - base
            for i in later:
                ttl = blocks[i].marker or "5m"
                self.entries[(model, hashes[i])] = _Entry(now + TTL_S[ttl], ttl)
        return CacheResult(total, read, write)


class BedrockRoutes:
    """Mixed into :class:`~promptc.runtime.sim.server.SimApp` (which provides the helpers used here)."""

    def sim_routes(self) -> list:
        """The Converse routes; also sets up this app's Bedrock cache (``self.bedrock``) and the
        accepted credentials (``self.aws_credentials``, a copy of :data:`SIM_AWS_CREDENTIALS`)."""
        from starlette.routing import Route

        overrides = dict(getattr(self, "anthropic_min_tokens", None) or {})

        def minimum(model: str) -> int:
            fam = family(model)
            match = max((k for k in overrides if model == k or fam.startswith(k)), key=len, default=None)
            return overrides[match] if match else (limits_for(f"bedrock/{model}").min_tokens or 0)

        self.bedrock = BedrockCache(self.state.clock, minimum)
        self.aws_credentials = dict(SIM_AWS_CREDENTIALS)
        return [Route("/model/{model_id:path}/converse", self.converse, methods=["POST"]),
                Route("/model/{model_id:path}/converse-stream", self.converse_stream, methods=["POST"])]

    # -- errors and auth --------------------------------------------------------------------------
    def _aws_error(self, status: int, etype: str, message: str, headers: dict[str, str] | None = None) -> Response:
        rid = f"sim-{self._next_id():08d}"
        return JSONResponse({"message": message}, status_code=status,
                            headers={"x-amzn-errortype": etype + _ERROR_NS, "x-amzn-requestid": rid,
                                     **(headers or {})})

    def _verify_sigv4(self, req: HTTPRequest, body: bytes) -> Response | None:
        """None when the request's SigV4 signature is valid, else AWS's 403."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        auth = req.headers.get("authorization")
        if not auth:
            return self._aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        m = _AUTH.match(auth)
        if not m:
            return self._aws_error(403, "IncompleteSignatureException",
                                   "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
        key, date, region, service, signed, signature = m.groups()
        secret = self.aws_credentials.get(key)
        if secret is None:
            return self._aws_error(403, "UnrecognizedClientException",
                                   "The security token included in the request is invalid.")
        if service != "bedrock":
            return self._aws_error(403, "InvalidSignatureException",
                                   "Credential should be scoped to correct service: 'bedrock'.")
        amz_date = req.headers.get("x-amz-date", "")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or not amz_date.startswith(date) or \
                any(n not in req.headers for n in names):
            return self._aws_error(403, "IncompleteSignatureException", "The request signature is incomplete.")
        raw_path = req.scope.get("raw_path") or req.url.path.encode()
        query = req.scope.get("query_string") or b""
        url = f"{req.url.scheme}://{req.headers['host']}{raw_path.decode()}" + (f"?{query.decode()}" if query else "")
        aws = AWSRequest(method=req.method, url=url, data=body, headers={n: req.headers[n] for n in names})
        aws.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key, secret), service, region)
        expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        if not hmac.compare_digest(expected, signature):
            return self._aws_error(403, "InvalidSignatureException",
                                   "The request signature we calculated does not match the signature you provided. "
                                   "Check your AWS Secret Access Key and signing method. Consult the service "
                                   "documentation for details.")
        return None

    async def _bedrock_begin(self, req: HTTPRequest):
        """(payload, fault, error response): signature, JSON, recording and injected faults."""
        fault = self._fault()
        if fault and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        body = await req.body()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with self.state.lock:
            self.state.requests.append({"path": req.url.path, "payload": payload,
                                        "headers": {k: v for k, v in req.headers.items() if k.lower() not in
                                                    ("authorization", "x-amz-security-token")}})
        denied = self._verify_sigv4(req, body)
        if denied is not None:
            return payload, fault, denied
        if not isinstance(payload, dict):
            return payload, fault, self._aws_error(400, "SerializationException", "The request body is not JSON.")
        if fault and fault.status:
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            etype = _STATUS_TYPE.get(fault.status, "ValidationException")
            return payload, fault, self._aws_error(fault.status, etype, fault.message, headers)
        return payload, fault, None

    # -- the request ------------------------------------------------------------------------------------
    def _bedrock_blocks(self, model: str, p: dict[str, Any]) -> tuple[list[Block], str | None]:
        """Blocks in prefix order (tools → system → messages) with their checkpoints, or a validation message."""
        blocks: list[Block] = []
        points = 0
        seen_5m = False

        def point(cp: Any, where: str) -> str | None:
            nonlocal points, seen_5m
            if not blocks:
                return f"{where}: a cache point must follow a content block"
            if not isinstance(cp, dict) or cp.get("type") != "default":
                return f"{where}.type: Value must satisfy enum value set: [default]"
            ttl = cp.get("ttl", "5m")
            if ttl not in ("5m", "1h"):
                return f"{where}.ttl: Value must satisfy enum value set: [5m, 1h]"
            if ttl == "1h" and not supports_long_ttl(model):
                return f"{where}.ttl: The model {model} does not support a 1h cache TTL"
            if ttl == "1h" and seen_5m:
                return f"{where}.ttl: a cache point with ttl 1h must not come after one with ttl 5m"
            seen_5m = seen_5m or ttl == "5m"
            points += 1
            last = blocks[-1]
            blocks[-1] = Block(last.tokens, last.identity, ttl)
            return None

        tools = (p.get("toolConfig") or {}).get("tools") or []
        for i, t in enumerate(tools):
            if "cachePoint" in t:
                err = point(t["cachePoint"], f"toolConfig.tools.{i}.cachePoint")
                if err:
                    return blocks, err
            else:
                blocks.append(Block(self.count(_canon(t)), _canon(t)))
        for i, b in enumerate(p.get("system") or []):
            if "cachePoint" in b:
                err = point(b["cachePoint"], f"system.{i}.cachePoint")
            elif not b.get("text"):
                err = f"system.{i}.text: Member must have length greater than or equal to 1"
            else:
                blocks.append(Block(self.count(b["text"]), _canon({"system": b["text"]})))
                err = None
            if err:
                return blocks, err
        for m, msg in enumerate(p.get("messages") or []):
            for c, b in enumerate(msg.get("content") or []):
                if "cachePoint" in b:
                    err = point(b["cachePoint"], f"messages.{m}.content.{c}.cachePoint")
                    if err:
                        return blocks, err
                else:
                    text = b.get("text", "") if "text" in b else _canon(b)
                    blocks.append(Block(self.count(text), _canon({"role": msg.get("role"), **b})))
        if points > MAX_POINTS:
            return blocks, f"The number of cache points in the request exceeds the maximum of {MAX_POINTS}. " \
                           f"Found {points}."
        return blocks, None

    def _converse_common(self, model: str, p: dict[str, Any]):
        msgs = p.get("messages")
        if not isinstance(msgs, list) or not msgs:
            return None, self._aws_error(400, "ValidationException", "messages: Member must not be null or empty")
        roles = [m.get("role") for m in msgs]
        if roles[0] != "user":
            return None, self._aws_error(400, "ValidationException",
                                         "A conversation must start with a user message. Try again with a "
                                         "conversation that starts with a user message.")
        if any(a == b for a, b in zip(roles, roles[1:])) or any(r not in ("user", "assistant") for r in roles):
            return None, self._aws_error(400, "ValidationException",
                                         "A conversation must alternate between user and assistant roles. Make "
                                         "sure the conversation alternates between user and assistant roles and try "
                                         "again.")
        blocks, problem = self._bedrock_blocks(model, p)
        if problem:
            return None, self._aws_error(400, "ValidationException", problem)
        return self.bedrock.run(model, blocks), None

    def _converse_result(self, model: str, p: dict[str, Any], res: CacheResult):
        max_tokens = (p.get("inferenceConfig") or {}).get("maxTokens") or 512
        text, out_tokens, truncated = self._reply_text("bedrock", res.total, max_tokens)
        usage: dict[str, Any] = {"inputTokens": res.uncached, "outputTokens": out_tokens,
                                 "totalTokens": res.total + out_tokens, "cacheReadInputTokens": res.read,
                                 "cacheWriteInputTokens": sum(res.write.values())}
        if res.write:
            usage["cacheDetails"] = [{"ttl": ttl, "inputTokens": n} for ttl, n in res.write.items() if n]
        return text, usage, "max_tokens" if truncated else "end_turn"

    async def converse(self, req: HTTPRequest):
        p, fault, err = await self._bedrock_begin(req)
        if err is not None:
            return err
        model = req.path_params["model_id"]
        res, err = self._converse_common(model, p)
        if err is not None:
            return err
        text, usage, stop = self._converse_result(model, p, res)
        rid = f"sim-{self._next_id():08d}"
        return JSONResponse({"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                             "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 1}},
                            headers={"x-amzn-requestid": rid})

    async def converse_stream(self, req: HTTPRequest):
        p, fault, err = await self._bedrock_begin(req)
        if err is not None:
            return err
        model = req.path_params["model_id"]
        res, err = self._converse_common(model, p)
        if err is not None:
            return err
        text, usage, stop = self._converse_result(model, p, res)
        events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}) for piece in _pieces(text)]
        events += [("contentBlockStop", {"contentBlockIndex": 0}), ("messageStop", {"stopReason": stop}),
                   ("metadata", {"usage": usage, "metrics": {"latencyMs": 1}})]

        async def gen():
            for n, (name, body) in enumerate(events):
                if fault and fault.drop_after is not None and n >= fault.drop_after:
                    raise ConnectionResetError("simulated dropped stream")
                yield encode({":event-type": name, ":content-type": "application/json", ":message-type": "event"},
                             _canon(body).encode())

        return StreamingResponse(gen(), media_type="application/vnd.amazon.eventstream",
                                 headers={"x-amzn-requestid": f"sim-{self._next_id():08d}"})
