"""A hostile (or broken) provider endpoint, issue 22 items 7–10: each test performs the attack.

7. the API key echoed in any provider-supplied string (error type/code/message, request-id headers, a
   redirect's Location, any field of a reply or a stream event) never reaches an exception, a reply or
   the trace — for every client, the engine client included;
8. the request's deadline holds across reads: a server dripping its answer is cut off at the deadline;
9. answers are bounded on the wire, once decompressed (gzip bomb) and per SSE line: E524;
10. a 2xx/3xx answer that is not a reply (not JSON, a redirect, nested too deep, the wrong shape, ``null``,
    ``{}``) is E509, traced like any other provider error.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import zlib
from pathlib import Path

import httpx
import pytest

import promptc
from promptc.core.errors import PromptcError
from promptc.runtime.attempts import RetryPolicy
from promptc.runtime.bounds import Bounds
from promptc.runtime.client import AsyncClient, Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.engine_client import EngineClient, EngineRequestError
from promptc.runtime.errors import ProviderError
from promptc.runtime.trace import read_trace

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-ant-hostileKEY0123456789abcdef"
CONFIG = RuntimeConfig.from_dict({})
NO_RETRY = RetryPolicy(max_retries=0, deadline_s=30)


@pytest.fixture(scope="module")
def request_():
    return promptc.compile(REPO / "examples" / "team")["backend"].bind().render(file="a.py", query="q")


def anthropic_ok(**over) -> dict:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 0,
                      "cache_creation_input_tokens": 0}}
    body.update(over)
    return body


def client_for(handler, tmp_path=None, target="anthropic/claude-sonnet-4-5", **kw) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client(target, base_url="http://provider.invalid", api_key=KEY, config=CONFIG, http_client=http,
                  retry=kw.pop("retry", NO_RETRY), sleep=lambda s: None,
                  trace=(tmp_path / "trace.jsonl") if tmp_path is not None else None, **kw)


def everything(exc: BaseException) -> str:
    """Every string an error exposes: str, repr, args and attributes."""
    parts = [str(exc), repr(exc), *map(str, exc.args)]
    parts += [str(v) for v in vars(exc).values()]
    return "\n".join(parts)


# -- 7: the key in every provider-supplied string -------------------------------------------------------

ERROR_FIELDS = {
    "error.type": lambda: (400, {"type": "error", "error": {"type": KEY, "message": "bad"}}, {}),
    "error.message": lambda: (400, {"type": "error", "error": {"type": "invalid_request_error", "message": KEY}}, {}),
    "error.code": lambda: (400, {"type": "error", "error": {"type": "x", "code": KEY, "message": f"code {KEY}"}}, {}),
    "x-request-id": lambda: (400, {"type": "error", "error": {"type": "x", "message": "m"}}, {"x-request-id": KEY}),
    "request-id": lambda: (500, {"type": "error", "error": {"type": "api_error", "message": "m"}}, {"request-id": KEY}),
    "body-text": lambda: (502, f"<html>upstream said {KEY}</html>", {}),
    "location": lambda: (302, "", {"location": f"https://evil.invalid/?k={KEY}"}),
}


@pytest.mark.parametrize("field", sorted(ERROR_FIELDS))
def test_key_in_any_error_field_is_redacted_everywhere(field, request_, tmp_path):
    status, body, headers = ERROR_FIELDS[field]()

    def handler(req):
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)

    with client_for(handler, tmp_path) as c:
        with pytest.raises(ProviderError) as info:
            c.complete(request_, max_tokens=8)
    assert KEY not in everything(info.value)
    assert KEY[8:] not in everything(info.value)  # not even the tail
    trace = (tmp_path / "trace.jsonl").read_text(encoding="utf-8")
    assert trace and KEY not in trace and KEY[8:] not in trace


REPLY_FIELDS = {
    "id": dict(id=KEY), "model": dict(model=KEY), "stop_reason": dict(stop_reason=KEY),
    "text": dict(content=[{"type": "text", "text": f"the key is {KEY}"}]),
    "usage-extra": dict(usage={"input_tokens": 1, "output_tokens": 1, KEY: KEY, "note": KEY}),
}


@pytest.mark.parametrize("field", sorted(REPLY_FIELDS))
def test_key_in_any_reply_field_is_redacted_from_reply_and_trace(field, request_, tmp_path):
    with client_for(lambda req: httpx.Response(200, json=anthropic_ok(**REPLY_FIELDS[field])), tmp_path) as c:
        reply = c.complete(request_, max_tokens=8)
    assert KEY not in json.dumps(reply.to_json()) and KEY not in json.dumps(reply.raw)
    assert KEY not in (tmp_path / "trace.jsonl").read_text(encoding="utf-8")


def test_key_in_a_stream_error_event_is_redacted(request_, tmp_path):
    sse = (f'event: message_start\ndata: {{"type":"message_start","message":{{"id":"{KEY}","model":"m","usage":{{"input_tokens":1}}}}}}\n\n'
           f'event: error\ndata: {{"type":"error","error":{{"type":"{KEY}","message":"{KEY}"}}}}\n\n')

    def handler(req):
        return httpx.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream",
                                                                   "x-request-id": KEY})

    with client_for(handler, tmp_path) as c:
        with pytest.raises(ProviderError) as info:
            list(c.stream(request_, max_tokens=8))
    assert KEY not in everything(info.value)
    assert KEY not in (tmp_path / "trace.jsonl").read_text(encoding="utf-8")


def test_engine_client_redacts_an_echoed_authorization_header(request_):
    """A server echoing the request's Authorization header (message and param) shows no bearer key."""

    def handler(req):
        auth = req.headers["authorization"]
        return httpx.Response(400, json={"error": {"message": f"bad auth {auth}", "param": auth}})

    client = EngineClient("http://engine.invalid", api_key=KEY)
    client.http = httpx.Client(base_url="http://engine.invalid", headers={"authorization": f"Bearer {KEY}"},
                               transport=httpx.MockTransport(handler))
    with client, pytest.raises(EngineRequestError) as info:
        client.run(request_, max_tokens=4)
    assert KEY not in everything(info.value)

    def text_handler(req):
        return httpx.Response(502, text=f"proxy error, you sent {req.headers['authorization']}")

    client = EngineClient("http://engine.invalid", api_key=KEY)
    client.http = httpx.Client(base_url="http://engine.invalid", headers={"authorization": f"Bearer {KEY}"},
                               transport=httpx.MockTransport(text_handler))
    with client, pytest.raises(EngineRequestError) as info:
        client.run(request_, max_tokens=4)
    assert KEY not in everything(info.value)


# -- 8: the deadline holds across reads ------------------------------------------------------------------

class DripServer:
    """Loopback HTTP server that sends its headers, then its body one byte per ``interval`` seconds; it
    records how many body bytes it sent before it saw the connection closed."""

    def __init__(self, head: bytes, body: bytes, interval: float):
        self.head, self.body, self.interval = head, body, interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sent = 0
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
        while len(rest) < length:
            rest += conn.recv(65536)
        stop = threading.Event()
        try:
            conn.sendall(self.head)
            for b in self.body:
                conn.sendall(bytes([b]))
                self.sent += 1
                stop.wait(self.interval)
        except OSError:
            self.closed.set()
        finally:
            conn.close()
            self.sock.close()


def _drip(sse: bool) -> DripServer:
    body = (b"data: " + b"x" * 3000 + b"\n\n") if sse else json.dumps(anthropic_ok()).encode() + b" " * 3000
    ctype = b"text/event-stream" if sse else b"application/json"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    return DripServer(head, body, interval=0.02)


@pytest.mark.parametrize("mode", ["complete", "stream", "acomplete", "astream"])
def test_deadline_is_enforced_across_reads_of_a_dripping_answer(mode, request_):
    """Without a total deadline the client would read all ~3 kB at one byte per 20 ms (a minute); with
    ``deadline_s=1`` it gives up with E506 and the server sees the connection closed long before the end
    (asserted on the bytes it managed to send, never on wall-clock time)."""
    srv = _drip(sse="stream" in mode)
    policy = RetryPolicy(max_retries=0, deadline_s=1.0, timeout_s=5.0)
    with pytest.raises(ProviderError) as info:
        if mode in ("complete", "stream"):
            with Client("anthropic/claude-sonnet-4-5", base_url=srv.url, api_key=KEY, config=CONFIG, retry=policy) as c:
                if mode == "complete":
                    c.complete(request_, max_tokens=8)
                else:
                    list(c.stream(request_, max_tokens=8))
        else:
            async def go():
                async with AsyncClient("anthropic/claude-sonnet-4-5", base_url=srv.url, api_key=KEY, config=CONFIG,
                                       retry=policy) as c:
                    if mode == "acomplete":
                        await c.complete(request_, max_tokens=8)
                    else:
                        async for _ in c.stream(request_, max_tokens=8):
                            pass
            asyncio.run(go())
    assert info.value.code == "E506" and "deadline" in str(info.value)
    assert srv.closed.wait(30), "the server never saw the client hang up"
    assert srv.sent < len(srv.body) // 2, f"the client kept reading past its deadline ({srv.sent} bytes)"


# -- 9: size bounds ------------------------------------------------------------------------------------

def test_gzip_bomb_stops_at_the_decompressed_bound(request_, tmp_path):
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024), compresslevel=9)  # 32 KiB on the wire
    assert len(bomb) < 64 * 1024
    seen = []

    def handler(req):
        seen.append(req.headers.get("accept-encoding"))
        return httpx.Response(200, content=iter([bomb]), headers={"content-encoding": "gzip",
                                                          "content-type": "application/json"})

    with client_for(handler, tmp_path, bounds=Bounds(max_body_bytes=1024 * 1024)) as c:
        with pytest.raises(ProviderError) as info:
            c.complete(request_, max_tokens=8)
    assert info.value.code == "E524" and "decompressed" in str(info.value)
    assert seen == ["gzip, deflate"]
    assert json.loads((tmp_path / "trace.jsonl").read_text().splitlines()[-1])["error"]["code"] == "E524"


def test_a_normal_gzip_reply_still_reads():
    raw = gzip.compress(json.dumps(anthropic_ok()).encode())
    deflated = zlib.compress(json.dumps(anthropic_ok()).encode())
    for body, enc in ((raw, "gzip"), (deflated, "deflate")):
        c = client_for(lambda req, b=body, e=enc: httpx.Response(200, content=iter([b]),
                                                                  headers={"content-encoding": e}))
        req = promptc.compile(REPO / "examples" / "team")["docs"].bind().render(file="a", query="q")
        with c:
            assert c.complete(req, max_tokens=8).text == "hello"


def test_endless_body_stops_at_the_wire_bound(request_):
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield b" " * (256 * 1024)

    def handler(req):
        return httpx.Response(200, content=endless(), headers={"content-type": "application/json"})

    with client_for(handler, bounds=Bounds(max_wire_bytes=2 * 1024 * 1024)) as c:
        with pytest.raises(ProviderError) as info:
            c.complete(request_, max_tokens=8)
    assert info.value.code == "E524"
    assert len(produced) <= 10  # ~2 MiB read, never the endless rest


def test_endless_sse_line_stops_at_the_line_bound(request_):
    produced = []

    def endless():
        yield b"event: message_start\ndata: "
        while True:
            produced.append(1)
            yield b"x" * (64 * 1024)

    def handler(req):
        return httpx.Response(200, content=endless(), headers={"content-type": "text/event-stream"})

    with client_for(handler, bounds=Bounds(max_line_bytes=256 * 1024)) as c:
        with pytest.raises(ProviderError) as info:
            list(c.stream(request_, max_tokens=8))
    assert info.value.code == "E524" and "line" in str(info.value)
    assert len(produced) <= 8


def test_default_bounds_are_finite():
    b = Bounds()
    assert 0 < b.max_wire_bytes <= 256 * 2**20 and 0 < b.max_body_bytes <= 256 * 2**20
    assert 0 < b.max_line_bytes <= b.max_body_bytes


# -- 10: answers that are not replies ----------------------------------------------------------------------

UNUSABLE = {
    "html-200": (200, b"<html><body>Please log in</body></html>", {"content-type": "text/html"}),
    "redirect-302": (302, b"", {"location": "https://login.invalid/"}),
    "deeply-nested": (200, b"[" * 200_000 + b"]" * 200_000, {}),
    "deeply-nested-object": (200, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, {}),
    "null": (200, b"null", {}),
    "empty-object": (200, b"{}", {}),
    "list": (200, b"[1, 2]", {}),
    "empty-body": (200, b"", {}),
    "content-is-a-number": (200, json.dumps({"content": 5, "usage": {"input_tokens": 1}}).encode(), {}),
    "content-of-ints": (200, json.dumps({"content": [1, 2], "usage": {}}).encode(), {}),
    "usage-is-a-string": (200, json.dumps({"content": [], "usage": "lots"}).encode(), {}),
    "unrelated-object": (200, json.dumps({"hello": "world"}).encode(), {}),
    "unknown-encoding": (200, b"xx", {"content-encoding": "snappy"}),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE))
def test_unusable_answer_is_a_coded_traced_provider_error(case, request_, tmp_path):
    status, body, headers = UNUSABLE[case]
    with client_for(lambda req: httpx.Response(status, content=iter([body]), headers=headers), tmp_path) as c:
        with pytest.raises(ProviderError) as info:
            c.complete(request_, max_tokens=8)
    assert info.value.code == "E509", info.value
    rec = json.loads((tmp_path / "trace.jsonl").read_text().splitlines()[-1])
    assert rec["status"] == "error" and rec["error"]["code"] == "E509"


@pytest.mark.parametrize("case", ["html-200", "null", "empty-object", "deeply-nested", "content-is-a-number"])
def test_unusable_answer_is_e509_on_the_async_client_too(case, request_):
    status, body, headers = UNUSABLE[case]

    async def go():
        http = httpx.AsyncClient(transport=httpx.MockTransport(lambda req: httpx.Response(status, content=body,
                                                                                          headers=headers)))
        async with AsyncClient("anthropic/claude-sonnet-4-5", base_url="http://provider.invalid", api_key=KEY,
                               config=CONFIG, async_http_client=http, retry=NO_RETRY) as c:
            await c.complete(request_, max_tokens=8)

    with pytest.raises(ProviderError) as info:
        asyncio.run(go())
    assert info.value.code == "E509"


def test_unusable_stream_events_are_e509(request_):
    bad = b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":1}}}\n\n' \
          b"event: content_block_delta\ndata: not json at all\n\n"
    with client_for(lambda req: httpx.Response(200, content=bad, headers={"content-type": "text/event-stream"})) as c:
        with pytest.raises(ProviderError) as info:
            list(c.stream(request_, max_tokens=8))
    assert info.value.code == "E509"


def test_every_unusable_answer_is_a_promptc_error_never_an_internal_one(request_):
    """No JSONDecodeError / RecursionError / AttributeError / TypeError escapes (the CLI would say
    "internal error")."""
    for status, body, headers in UNUSABLE.values():
        with client_for(lambda req, s=status, b=body, h=headers: httpx.Response(s, content=b, headers=h)) as c:
            try:
                c.complete(request_, max_tokens=8)
            except PromptcError:
                pass


def test_docs_state_the_real_bounds():
    doc = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    section = doc[doc.index("## A hostile provider endpoint"):]
    b = Bounds()
    for name, value in (("max_wire_bytes", b.max_wire_bytes), ("max_body_bytes", b.max_body_bytes),
                        ("max_line_bytes", b.max_line_bytes)):
        row = next(line for line in section.splitlines() if f"`Bounds.{name}`" in line)
        assert f"| {value // 2**20} MiB |" in row, (name, row)
    assert f"| {int(RetryPolicy().deadline_s)} s |" in section
