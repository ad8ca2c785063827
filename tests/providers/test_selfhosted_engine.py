"""The vLLM (OpenAI-compatible) adapter end to end against a real ``promptc serve`` on loopback: plain
chat requests — no ``segments[]`` — are cached by prefix (whole messages, plus the tokens a new message
shares with a cached one), and ``cached_tokens`` is the engine's own count of the prefix it read (exact
token numbers from the engine's tokenizer)."""

from __future__ import annotations

from promptc.engine import Engine
from promptc.engine.server import EngineServer, ServerConfig, ServerThread, cache_scope
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers.selfhosted import cache_salt

AGENTS = ("backend", "frontend", "docs")


def shared(ids: tuple, siblings) -> int:
    """Tokens a new message shares with its longest-matching cached sibling (never its last token)."""
    best = 0
    for other in siblings:
        n = next((i for i, (a, b) in enumerate(zip(ids, other)) if a != b), min(len(ids), len(other)))
        best = max(best, n)
    return min(best, len(ids) - 1)


def test_vllm_adapter_against_promptc_serve_reads_each_agents_prefix(team, smollm_weights):
    engine = Engine(weights=smollm_weights, budget_bytes=1 << 28)
    with ServerThread(EngineServer(engine, ServerConfig())) as t:
        client = Client("vllm/smollm2-135m-instruct", base_url=t.url + "/v1", tenant="acme", config=RuntimeConfig())
        sessions = {a: team[a].bind() for a in AGENTS}
        seen: dict[str, list] = {a: [] for a in AGENTS}
        cached: dict[tuple, list[tuple]] = {}  # the tree's shape: system message ids -> user message ids under it
        for turn in range(3):
            for agent in AGENTS:
                req = sessions[agent].render(file=f"{agent}.py", query=f"Turn {turn}: what changed?")
                call = client.build(req, max_tokens=2)
                # a plain OpenAI chat request: two messages, no promptc extension
                assert "segments" not in call.payload and [m["role"] for m in call.payload["messages"]] == \
                    ["system", "user"]
                assert call.payload["cache_salt"] == cache_salt("acme")
                reply = client.complete(req, max_tokens=2)
                # the engine renders and tokenizes the same messages: one piece each, then the generation prompt
                _, msg_ids, gen = engine.tokenize([], call.payload["messages"])
                system, user = (len(ids) for ids in msg_ids)
                assert reply.usage.prompt == system + user + len(gen)
                seen[agent].append(reply)
                sys_ids, user_ids = (tuple(ids) for ids in msg_ids)
                if turn == 0:  # the agent's system message is new: only the tokens it shares with another
                    # agent's (the global block) are read
                    assert sys_ids not in cached
                    read = shared(sys_ids, cached)
                    assert (read > 0) == bool(cached)
                else:  # its whole system message (its stable prefix) is read, plus the tokens the turn shares
                    # with an earlier turn ("<|im_start|>user\nTurn ")
                    read = system + shared(user_ids, cached[sys_ids])
                    assert read > system
                assert (reply.usage.cache_read, reply.usage.uncached) == (read, system + user + len(gen) - read)
                cached.setdefault(sys_ids, []).append(user_ids)
                assert reply.usage.cache_write == {} and reply.cost == 0.0
        ext = seen["docs"][-1].raw["promptc"]
        assert [(s["id"], s["status"]) for s in ext["segments"]] == [("message.0", "hit"), ("message.1", "computed")]
        stats = engine.tree.tenant_stats(cache_scope("default", cache_salt("acme")))  # the salt scopes the cache
        assert stats.cached_tokens == sum(r.usage.cache_read for rs in seen.values() for r in rs)
        client.close()
