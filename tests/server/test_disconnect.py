"""A non-streaming client that drops its connection stops its generation (engine-side counters)."""

from __future__ import annotations

import json
import socket
import time

from promptc.core.hashing import segment_hash
from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread

from tests.engine.tiny import tiny_weights

MAX_TOKENS = 4000


def _wait(cond, what: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"gave up waiting for: {what}"
        time.sleep(0.01)


def test_non_streaming_disconnect_cancels_generation(smollm_weights):
    # a random tiny model practically never samples end-of-sequence: only a cancel can stop it early
    engine = Engine(weights=tiny_weights(smollm_weights, layers=4), budget_bytes=64 << 20)
    content = "Write forever."
    body = json.dumps({"segments": [{"id": "q", "role": "user", "content": content,
                                     "hash": segment_hash("user", content)}],
                       "max_tokens": MAX_TOKENS}).encode()
    with ServerThread(EngineServer(engine, ServerConfig(max_tokens_limit=MAX_TOKENS))) as st:
        sock = socket.create_connection((st.host, st.port))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                     b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        stats = engine.scheduler.stats
        _wait(lambda: stats.generated_tokens > 0, "generation to start")
        assert any(n.refs > 0 for n in engine.tree.nodes())
        sock.close()  # the client goes away without reading a byte
        _wait(lambda: engine.scheduler.active() == 0, "the request to leave the scheduler")
        assert stats.cancelled == 1 and stats.finished == 0
        generated = stats.generated_tokens
        assert 0 < generated < MAX_TOKENS
        assert all(n.refs == 0 for n in engine.tree.nodes())
        time.sleep(0.2)
        assert stats.generated_tokens == generated  # nothing runs on after the cancel
    engine.close()
