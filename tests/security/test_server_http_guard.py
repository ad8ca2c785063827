"""Issue 22 items 13 and 15, and the server extras: slow clients, cross-origin posts, DNS
rebinding, invisible keys and constant-time key comparison — each performed against a real
uvicorn server on loopback (timeouts configured short for the test; nothing asserts a duration)."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from promptc.core.engine_errors import KeysFileError, MetricsKeyError
from promptc.engine import Engine
from promptc.engine.limits import ServerConfig
from promptc.engine.server import EngineServer, ServerThread, host_allowed
from tests.engine.tiny import tiny_weights

from .conftest import seg

CAP = 6
#: How long a test waits for the server to act (a guard against hanging, not a timing assertion).
PATIENCE_S = 20


@pytest.fixture(scope="module")
def open_server(smollm_weights):
    """A no-key (loopback) server with short header/body timeouts and a small connection cap."""
    engine = Engine(weights=tiny_weights(smollm_weights), budget_bytes=32 << 20)
    config = ServerConfig(header_timeout_s=0.5, body_timeout_s=0.5, max_connections=CAP, max_tokens_limit=4,
                          default_max_tokens=1)
    with ServerThread(EngineServer(engine, config)) as st:
        yield st


def connect(st) -> socket.socket:
    s = socket.create_connection((st.host, st.port))
    s.settimeout(PATIENCE_S)
    return s


def read_until_closed(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_half_open_requests_are_timed_out_and_closed(open_server):
    socks = [connect(open_server) for _ in range(3)]
    for s in socks:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n")  # ... and never the rest
    for s in socks:
        reply = read_until_closed(s)  # the old server kept these open for good: recv would time out
        assert reply.startswith(b"HTTP/1.1 408 ")
        s.close()


def test_headers_dripped_byte_by_byte_are_cut_off(open_server):
    s = connect(open_server)
    request = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: " + b"a" * 10_000
    s.settimeout(0.1)
    closed = False
    for i in range(len(request)):  # one byte per 0.1 s would take ~17 minutes to finish
        try:
            s.sendall(request[i:i + 1])
        except OSError:  # the server closed the connection
            closed = True
            break
        try:
            reply = s.recv(65536)  # the 408 or the close: either way the server acted
        except socket.timeout:
            continue
        closed = reply == b"" or reply.startswith(b"HTTP/1.1 408 ")
        break
    s.close()
    assert closed and i < len(request) - 1


def test_a_body_dripped_slowly_is_408(open_server):
    s = connect(open_server)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
              b"content-length: 100\r\n\r\n{\"max")
    head, _, body = read_until_closed(s).partition(b"\r\n\r\n")  # head and body may come in two reads
    s.close()
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_the_connection_cap_keeps_health_reachable(open_server):
    idle = [connect(open_server) for _ in range(CAP)]
    extra = connect(open_server)
    assert read_until_closed(extra) == b""  # over the cap: closed at once, no file descriptor held
    extra.close()
    for s in idle:
        read_until_closed(s)  # the header deadline reaps them
        s.close()
    assert httpx.get(open_server.url + "/health").status_code == 200


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
def test_a_post_that_needs_no_cors_preflight_is_refused(open_server, ctype):
    headers = {"content-type": ctype} if ctype else {}
    body = json.dumps({"segments": [seg("q", "user", "Hi")], "max_tokens": 1})
    r = httpx.post(open_server.url + "/v1/chat/completions", content=body, headers=headers)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    ok = httpx.post(open_server.url + "/v1/chat/completions", content=body,
                    headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "localhost.evil.example:{port}", ""])
def test_a_rebound_host_name_is_refused_without_keys(open_server, host):
    r = httpx.get(open_server.url + "/v1/cache/stats", headers={"host": host.format(port=open_server.port)})
    assert r.status_code == 421 and r.json()["error"]["code"] == "misdirected_request"


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.1"])
def test_the_loopback_names_are_served(open_server, host):
    r = httpx.get(open_server.url + "/v1/cache/stats", headers={"host": host.format(port=open_server.port)})
    assert r.status_code == 200


def test_with_keys_any_host_reaches_authentication(tiny_server):
    r = httpx.get(tiny_server.url + "/v1/cache/stats", headers={"host": "evil.example"})
    assert r.status_code == 401


def test_host_allowed_for_other_addresses():
    assert host_allowed("10.0.0.5:8000", ("10.0.0.5", 8000))
    assert not host_allowed("localhost:8000", ("10.0.0.5", 8000))  # not loopback: its own address only
    assert host_allowed("[::1]:8000", ("::1", 8000)) and host_allowed("localhost:8000", ("::1", 8000))


@pytest.mark.parametrize("key", ["key\u200b-a", "k\u00e9y", "key\u2060", "ke\x7fy"])
def test_a_key_with_invisible_or_non_ascii_characters_is_refused_at_start(key):
    with pytest.raises(KeysFileError) as exc:
        ServerConfig(api_keys={key: "tenant"})
    assert exc.value.code == "E703"
    with pytest.raises(MetricsKeyError):
        ServerConfig(api_keys={"key-a": "a"}, metrics_key=key)


def test_keys_are_compared_in_constant_time(tiny_server, monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    r = httpx.get(tiny_server.url + "/metrics", headers={"authorization": "Bearer key-a"})
    assert r.status_code == 200 and calls
