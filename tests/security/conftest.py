"""A fast engine server for the security suite: a tiny random model with SmolLM2's tokenizer and template."""

from __future__ import annotations

import httpx
import pytest

from promptc.core.hashing import segment_hash
from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread
from tests.engine.tiny import tiny_weights

KEYS = {"key-a": "tenant-a", "key-b": "tenant-b"}


def seg(id_: str, role: str, content: str) -> dict:
    return {"id": id_, "hash": segment_hash(role, content), "role": role, "content": content}


def rss_mb() -> float:
    """This process's resident set size (the server runs in a thread of the test process)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def tiny_server(smollm_weights):
    engine = Engine(weights=tiny_weights(smollm_weights), budget_bytes=64 << 20, token_cache_bytes=8 << 20)
    config = ServerConfig(api_keys=KEYS, max_body_bytes=4 << 20, max_tokens_limit=64, default_max_tokens=8,
                          max_segments=16, max_messages=16)
    with ServerThread(EngineServer(engine, config)) as st:
        st.engine = engine
        yield st


@pytest.fixture(scope="module")
def http_a(tiny_server):
    with httpx.Client(base_url=tiny_server.url, headers={"authorization": "Bearer key-a"}, timeout=120) as c:
        yield c
