"""Shared pieces of the Gemini tests: the simulator with lowered minimums, the client config, and
expected payloads and token counts built by hand from the plan's segments (not by the adapter)."""

from __future__ import annotations

import pytest

from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator

from .conftest import LOW_MIN, canon

MODEL = "gemini-2.5-flash"
TARGET = f"gemini/{MODEL}"
AGENTS = ("backend", "frontend", "docs")
PRICE_IN, PRICE_OUT, READ = 0.30, 2.50, 0.1  # gemini-2.5-flash, USD per MTok (promptc/core/prices.py)
STORAGE = 1.0  # USD per MTok-hour


@pytest.fixture(scope="module")
def _gsim_server():
    with Simulator() as s:
        yield s


@pytest.fixture()
def gsim(_gsim_server):
    """One simulator per module (loading its tokenizer takes seconds), reset for every test: no
    requests, faults, implicit entries or cache objects carry over."""
    s = _gsim_server
    with s.sim.state.lock:
        s.sim.state.requests.clear()
        s.sim.state.faults.clear()
        s.sim.__dict__.pop("_gemini_state", None)
    s.sim.gemini_config(min_tokens={MODEL: LOW_MIN})
    return s


@pytest.fixture(scope="session")
def gcounter():
    """One token counter for the clients of these tests (each client would load o200k_base again)."""
    from promptc.runtime.layout import TokenCounter

    return TokenCounter("o200k_base")


@pytest.fixture()
def gconfig():
    return RuntimeConfig.from_dict({"cache_limits": {"gemini/": {"min_tokens": LOW_MIN}}})


def declarations(plan):
    return [{"name": t["name"], "description": t["description"], "parametersJsonSchema": t["parameters"]}
            for t in plan.segment("repo_tools").tools]


def system_parts(plan, agent):
    return [{"text": plan.segment(s).content} for s in ("rules", agent, f"{agent}_memory")]


def expected_payload(plan, agent, turn_text, max_tokens=64):
    return {"contents": [{"role": "user", "parts": [{"text": turn_text}]}],
            "systemInstruction": {"parts": system_parts(plan, agent)},
            "tools": [{"functionDeclarations": declarations(plan)}],
            "generationConfig": {"maxOutputTokens": max_tokens}}


def block_tokens(plan, agent, ntok):
    """Token counts of the simulator's blocks, in its documented order: declarations, system parts."""
    return [ntok(canon(d)) for d in declarations(plan)] + [ntok(p["text"]) for p in system_parts(plan, agent)]


def reply_tokens(ntok, total):
    return ntok(f"Simulated gemini reply to a {total}-token prompt.")


def cost(uncached, read, output):
    return (uncached * PRICE_IN + read * PRICE_IN * READ + output * PRICE_OUT) / 1e6
