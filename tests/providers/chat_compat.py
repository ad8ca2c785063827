"""Helpers of the tests of the providers added by issue 26 (Z.ai, DashScope, MiniMax, xAI, Mistral):
the expected prefix hit of a chat request computed from the bytes the simulator received, genai-prices'
own price of a usage (its public API, not promptc.core.prices), a small team workload for
`promptc simulate`, and the SDK-type check of a payload."""

from __future__ import annotations

import json

from genai_prices import Usage as GenaiUsage, calc_price

from promptc.runtime.simulate.workload import Turn, render_requests

#: promptc provider → genai-prices provider id, written out here on purpose (not imported from promptc)
GENAI_IDS = {"zai": "zai", "minimax": "minimax", "xai": "x-ai", "mistral": "mistral"}
AGENTS = ("backend", "frontend", "docs")


def canon(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def wire_blocks(tok, payload) -> list[tuple[int, str]]:
    """(tokens, identity) of each tool definition and content part of a chat payload, in wire order."""
    out = [(len(tok.encode(canon(t))), canon(t)) for t in payload.get("tools") or []]
    for m in payload["messages"]:
        parts = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
        for p in parts:
            ident = canon({"role": m["role"], **{k: v for k, v in p.items() if k != "cache_control"}})
            out.append((len(tok.encode(p["text"])), ident))
    return out


def common_prefix_tokens(a: list[tuple[int, str]], b: list[tuple[int, str]]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += x[0]
    return n


def genai_cost(target: str, *, uncached: int, cache_read: int = 0, cache_write: int = 0, output: int = 0) -> float:
    provider, _, model = target.partition("/")
    usage = GenaiUsage(input_tokens=uncached + cache_read + cache_write, cache_read_tokens=cache_read or None,
                       cache_write_tokens=cache_write or None, output_tokens=output or None)
    return float(calc_price(usage, model, provider_id=GENAI_IDS[provider]).total_price)


def small_day(team, turns: int = 18, gap_s: float = 50.0):
    """``turns`` turns of the three agents in rotation, ``gap_s`` apart (inside every 5-minute TTL)."""
    ts = [Turn(i * gap_s, AGENTS[i % 3], {"file": "api/users.py", "query": f"question {i}"}) for i in range(turns)]
    return render_requests("small", team.plans, ts, {})
