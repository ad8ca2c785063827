"""AWS Bedrock Converse (``POST /model/{modelId}/converse`` and ``/converse-stream``).

- Targets are ``bedrock/<model id>``: ``bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0`` or a
  cross-region inference profile such as ``bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0``.
- Render order is the prefix order: ``toolConfig.tools`` → ``system`` → ``messages``. Tools segments
  become ``toolSpec`` entries; system/developer segments before the first user or assistant segment
  become ``system`` text blocks (one per segment); later segments become ``{"text"}`` content blocks,
  consecutive same-role segments merged into one message (a late system segment is sent as user text).
- A breakpoint is a standalone ``{"cachePoint": {"type": "default"[, "ttl": "1h"]}}`` block right
  after the segment's last block (tool, system or content). At most 4; the minimum applies to each
  checkpoint *cumulatively* (every checkpoint needs the model's minimum of new tokens since the
  previous one, so with 1,024 the second sits at ≥ 2,048); 1h before 5m, and 1h only on models that
  offer it (otherwise the 5m default). Retention ``none`` sends no cache points.
- Requests are signed with AWS Signature V4 (service ``bedrock``) through botocore's own signer:
  ``pip install promptc[bedrock]``. Credentials come from botocore's chain (``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, profiles, roles); the region from the base URL
  (``bedrock-runtime.<region>.amazonaws.com``), else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else the
  profile's region. The endpoint can be overridden with ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``.
- ConverseStream answers in AWS's binary event-stream framing (:mod:`promptc.runtime.eventstream`);
  usage arrives in the final ``metadata`` event.
- Usage is exclusive: ``inputTokens`` counts uncached tokens only; writes are split by TTL in
  ``cacheDetails``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote, urlsplit

from promptc.core.providers.bedrock import supports_ttl, tool_spec
from promptc.core.wire import wire_order
from promptc.plan import Request
from promptc.runtime.errors import ProviderError, RuntimeConfigError, StreamInterrupted
from promptc.runtime.layout import Candidate, Mark, candidates, in_render_order, place
from promptc.runtime.providers.base import (Adapter, BuildContext, CallOptions, Completion, StreamEvent, StreamState,
                                            WireCall)
from promptc.runtime.usage import Usage

_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|global|jp|au|ca|us-gov)\.")
_HOST_REGION = re.compile(r"^bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class BedrockExtraMissing(RuntimeConfigError):
    """botocore (the ``promptc[bedrock]`` extra) is not installed."""

    code = "E520"


class AwsCredentialsMissing(RuntimeConfigError):
    """botocore's credential chain found no AWS credentials."""

    code = "E521"


def family(model_id: str) -> str:
    """The Claude family of a Bedrock model id (``us.anthropic.claude-haiku-4-5-...`` → ``claude-haiku-4-5-...``)."""
    m = _REGION_PREFIX.sub("", model_id)
    return m[len("anthropic."):] if m.startswith("anthropic.") else m


def supports_long_ttl(model_id: str) -> bool:
    """Whether the model's cache points take ``ttl: "1h"``."""
    return supports_ttl(family(model_id), "1h")  # the Bedrock spec's per-family TTLs


def place_cumulative(order: list[int], counts: list[int], wanted: list[Candidate], *, min_tokens: int | None,
                     max_breakpoints: int, long_ttl: bool) -> list[Mark]:
    """:func:`promptc.runtime.layout.place` with Bedrock's cumulative minimum: candidates in priority
    order are kept while every kept checkpoint still adds ``min_tokens`` to the one before it."""
    minimum = min_tokens or 0
    cum: dict[int, int] = {}
    total = 0
    for i, n in zip(order, counts):
        total += n
        cum[i] = total
    pos = {i: p for p, i in enumerate(order)}
    chosen: list[Candidate] = []
    for c in wanted:
        if len(chosen) >= max_breakpoints or c.index not in cum:
            continue
        trial = sorted(chosen + [c], key=lambda x: pos[x.index])
        prev, ok = 0, True
        for t in trial:
            ok = ok and cum[t.index] - prev >= minimum
            prev = cum[t.index]
        if ok:
            chosen = trial
    keep = [c for c in wanted if c in chosen]
    return place(order, counts, keep, min_tokens=minimum, max_breakpoints=len(keep), long_ttl=long_ttl)


def usage_from(u: dict[str, Any], ttls: set[str]) -> Usage:
    """Converse ``usage`` (exclusive). ``ttls`` are the cache-point TTLs sent: a write without a
    ``cacheDetails`` split is attributed to the only one, else to ``unknown``."""
    def num(key: str) -> int | None:
        v = u.get(key)
        return int(v) if isinstance(v, (int, float)) else None

    read, written = num("cacheReadInputTokens"), num("cacheWriteInputTokens")
    if not ttls:  # no cache points sent: nothing can be read or written
        read, written = read or 0, written or 0
    write: dict[str, int] | None = None
    if written is not None:
        write = {}
        for d in u.get("cacheDetails") or []:
            if isinstance(d, dict) and d.get("inputTokens"):
                write[str(d.get("ttl") or "unknown")] = write.get(str(d.get("ttl") or "unknown"), 0) + int(
                    d["inputTokens"])
        rest = written - sum(write.values())
        if rest > 0:
            key = next(iter(ttls)) if len(ttls) == 1 else "unknown"
            write[key] = write.get(key, 0) + rest
    return Usage(uncached=num("inputTokens"), cache_read=read, cache_write=write, output=num("outputTokens"),
                 reasoning=None, semantics="exclusive", raw=dict(u))


def _botocore():
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.session import Session
    except ImportError:
        raise BedrockExtraMissing("error[E520]: the bedrock target signs requests with botocore, which is not "
                                  "installed: pip install 'promptc[bedrock]'") from None
    return SigV4Auth, AWSRequest, Session


class BedrockAdapter(Adapter):
    provider = "bedrock"
    env_key = "AWS_ACCESS_KEY_ID"
    base_url_env = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
    key_required = False  # credentials come from botocore's chain, not an API key
    stream_framing = "eventstream"

    def __init__(self) -> None:
        self._session: Any = None

    @property
    def default_base_url(self) -> str:  # type: ignore[override]
        return f"https://bedrock-runtime.{self.region()}.amazonaws.com"

    def region(self, url: str | None = None) -> str:
        """The signing region: from an AWS endpoint URL, else the environment, else the profile, else us-east-1."""
        if url:
            m = _HOST_REGION.match(urlsplit(url).hostname or "")
            if m:
                return m.group(1)
        env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if env:
            return env
        if self._session is None:
            try:
                self._session = _botocore()[2]()
            except BedrockExtraMissing:  # building without botocore: the default region
                return "us-east-1"
        return self._session.get_config_variable("region") or "us-east-1"

    def headers(self, api_key: str) -> dict[str, str]:
        return {"accept": "application/json"}

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        """SigV4 headers (``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``) for this exact body."""
        SigV4Auth, AWSRequest, Session = _botocore()
        if self._session is None:
            self._session = Session()
        from botocore.exceptions import BotoCoreError

        try:
            creds = self._session.get_credentials()
        except BotoCoreError as exc:  # a configured source (profile, container role, SSO) that failed
            raise AwsCredentialsMissing(f"error[E521]: no AWS credentials for bedrock: {exc}; set "
                                        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or fix the profile") from None
        if creds is None:
            raise AwsCredentialsMissing("error[E521]: no AWS credentials for bedrock: set AWS_ACCESS_KEY_ID and "
                                        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run where a role is available)")
        signed = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        req = AWSRequest(method=method, url=url, data=body, headers=signed)
        SigV4Auth(creds.get_frozen_credentials(), "bedrock", self.region(url)).add_auth(req)
        return dict(req.headers.items())

    def build(self, request: Request, opts: CallOptions, ctx: BuildContext) -> WireCall:
        segs = request.segments
        first_turn = next((i for i, s in enumerate(segs) if s.role in ("user", "assistant") and s.kind != "tools"),
                          len(segs))
        tool_idx = [i for i, s in enumerate(segs) if s.kind == "tools" and s.tools]
        system_idx = [i for i in range(first_turn) if segs[i].kind != "tools" and segs[i].content]
        message_idx = [i for i in range(first_turn, len(segs)) if segs[i].kind != "tools" and segs[i].content]
        order = wire_order(opts.target, segs)  # the spec's render order: tools → system → messages
        sent = set(tool_idx + system_idx + message_idx)
        order = [i for i in order if i in sent]  # = tool_idx + system_idx + message_idx, the payload's order
        marks: list[Mark] = []
        if opts.retention != "none":
            counts = [ctx.counter.count(segs[i], opts.target) for i in order]
            wanted = in_render_order(candidates(request, opts.target), order, segs)
            marks = place_cumulative(order, counts, wanted, min_tokens=ctx.limits.min_tokens,
                                     max_breakpoints=min(4, ctx.limits.max_breakpoints or 4),
                                     long_ttl=opts.retention == "long" and supports_long_ttl(opts.model))
        points = {m.index: ({"type": "default", "ttl": "1h"} if m.long else {"type": "default"}) for m in marks}

        def with_point(blocks: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
            return blocks + [{"cachePoint": points[i]}] if i in points else blocks

        payload: dict[str, Any] = {}
        messages: list[dict[str, Any]] = []
        for i in message_idx:
            role = segs[i].role if segs[i].role in ("user", "assistant") else "user"
            blocks = with_point([{"text": segs[i].content}], i)
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": role, "content": blocks})
        payload["messages"] = messages
        if system_idx:
            payload["system"] = [b for i in system_idx for b in with_point([{"text": segs[i].content}], i)]
        inference: dict[str, Any] = {"maxTokens": opts.max_tokens}
        if opts.temperature is not None:
            inference["temperature"] = opts.temperature
        payload["inferenceConfig"] = inference
        tools: list[dict[str, Any]] = []
        for i in tool_idx:
            tools.extend(with_point([{"toolSpec": _tool_spec(t)} for t in segs[i].tools or []], i))
        if tools:
            payload["toolConfig"] = {"tools": tools}
        payload.update(opts.extra)
        model = quote(opts.model, safe="")
        path = f"/model/{model}/converse-stream" if opts.stream else f"/model/{model}/converse"
        placed = [Mark(m.index, segs[m.index].id, m.reason, m.long, m.prefix_tokens) for m in marks]
        return WireCall(path, payload, placed)

    def _ttls(self, call: WireCall) -> set[str]:
        return {"1h" if m.long else "5m" for m in call.marks}

    def parse(self, body: dict[str, Any], call: WireCall) -> Completion:
        content = ((body.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(b.get("text", "") for b in content if isinstance(b, dict))
        return Completion(text, usage_from(body.get("usage") or {}, self._ttls(call)), body.get("stopReason"), None,
                          None, body)

    def stream(self, call: WireCall) -> StreamState:
        return _ConverseStream(self, call)

    def error_details(self, body: Any) -> tuple[str | None, str]:
        """``{"message": ...}`` (AWS JSON errors; the type travels in ``x-amzn-errortype``, see :meth:`error_from`)."""
        if isinstance(body, dict) and ("message" in body or "Message" in body):
            etype = body.get("__type") or body.get("code")
            return (str(etype).split("#")[-1] if etype else None), str(body.get("message") or body.get("Message"))
        return super().error_details(body)

    def error_from(self, headers: Any, body: Any) -> tuple[str | None, str]:
        etype, msg = self.error_details(body)
        header = headers.get("x-amzn-errortype") if headers is not None else None
        if header:
            etype = header.split(":")[0]
        return etype, msg


#: a Converse ``toolSpec``: the spec's shape, which the compiler counts
_tool_spec = tool_spec


class _ConverseStream(StreamState):
    """``messageStart`` → ``contentBlockDelta``… → ``messageStop`` (stop reason) → ``metadata`` (usage)."""

    def __init__(self, adapter: BedrockAdapter, call: WireCall):
        self.adapter, self.call = adapter, call
        self.parts: list[str] = []
        self.stop_reason: str | None = None
        self.metadata: dict[str, Any] | None = None
        self.stopped = False

    def feed(self, event: str | None, data: str) -> list[StreamEvent]:
        obj = json.loads(data) if data else {}
        if event and event.startswith(("exception:", "error:")):
            etype = event.split(":", 1)[1]
            etype = etype[:1].upper() + etype[1:]
            raise ProviderError("bedrock", None, str(obj.get("message", "stream error")), error_type=etype,
                                retryable=etype in ("ThrottlingException", "ServiceUnavailableException",
                                                    "InternalServerException"))
        if event == "contentBlockDelta":
            text = (obj.get("delta") or {}).get("text")
            if text:
                self.parts.append(text)
                return [StreamEvent("text", text)]
        elif event == "messageStop":
            self.stop_reason = obj.get("stopReason")
            self.stopped = True
        elif event == "metadata":
            self.metadata = obj
        return []

    def finish(self) -> Completion:
        text = "".join(self.parts)
        if not self.stopped or self.metadata is None:
            raise StreamInterrupted("bedrock", text, "no messageStop and metadata events")
        body = {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": self.stop_reason, "usage": self.metadata.get("usage") or {},
                "metrics": self.metadata.get("metrics") or {}}
        return Completion(text, usage_from(body["usage"], self.adapter._ttls(self.call)), self.stop_reason, None,
                          None, body)

#: what the registry (promptc.runtime.providers.ADAPTERS) discovers in this module
ADAPTER = BedrockAdapter
