"""The engine adapter: ``promptc.Client("engine/smollm2")`` against a real ``promptc serve`` on loopback."""

from __future__ import annotations

from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.engine_client import payload as engine_payload


def test_payload_is_the_engine_clients(team):
    req = team["backend"].bind().render(file="a.py", query="q")
    call = Client("engine/smollm2", config=RuntimeConfig()).build(req, max_tokens=8)
    ref = engine_payload(req, max_tokens=8)
    assert call.payload == ref and call.marks == []


def test_second_request_reads_the_prefix_from_the_kv_tree(team, smollm_weights):
    server = EngineServer(Engine(weights=smollm_weights, budget_bytes=1 << 28), ServerConfig())
    with ServerThread(server) as t:
        c = Client("engine/smollm2", base_url=t.url + "/v1", config=RuntimeConfig())
        s = team["docs"].bind()
        first = c.complete(s.render(file="a.md", query="Hi"), max_tokens=2)
        second = c.complete(s.render(file="b.md", query="Hello"), max_tokens=2)
        c.close()
    assert first.usage.cache_read == 0 and first.cost == 0.0
    static = sum(seg.tokens["engine/smollm2"] for seg in team["docs"].segments if seg.tokens)
    assert second.usage.cache_read >= static and second.usage.cache_write == {}
