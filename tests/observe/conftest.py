"""Fixtures: the provider simulator upstream, `promptc observe` in front of it (real HTTP on loopback),
and the official SDK clients pointed at the proxy."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptc.observe.explain import Observer
from promptc.observe.proxy import ObserveProxy, ProxyServer
from promptc.runtime.sim import Simulator

#: The simulator's and the observer's minimum are lowered together so prompts stay small (as in
#: tests/providers/conftest.py).
LOW_MIN = 256
MODEL = "claude-sonnet-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
LIMITS = {"anthropic/": {"min_tokens": LOW_MIN}, "openai/": {"min_tokens": LOW_MIN}, "gemini/": {"min_tokens": LOW_MIN}}
ANTHROPIC_KEY = "sk-ant-api03-OBSERVE-TEST-SECRET"
OPENAI_KEY = "sk-proj-OBSERVE-TEST-SECRET"


@dataclass
class Rig:
    sim: Simulator
    proxy: ProxyServer
    trace: Path
    observer: Observer

    def records(self, n: int) -> list[dict]:
        """The first ``n`` records (the proxy writes a record just after the last chunk leaves)."""
        deadline = time.monotonic() + 20
        while True:
            recs = [json.loads(x) for x in self.trace.read_text().splitlines()] if self.trace.exists() else []
            if len(recs) >= n or time.monotonic() > deadline:
                assert len(recs) >= n, f"{len(recs)} records, expected {n}"
                return recs[:n]
            time.sleep(0.02)

    def anthropic(self):
        import anthropic

        return anthropic.Anthropic(base_url=self.proxy.url, api_key=ANTHROPIC_KEY, max_retries=0)

    def openai(self):
        import openai

        return openai.OpenAI(base_url=self.proxy.url + "/v1", api_key=OPENAI_KEY, max_retries=0)


@pytest.fixture()
def rig(tmp_path):
    yield from _rig(tmp_path, False)


@pytest.fixture()
def recording_rig(tmp_path):
    """The proxy as `promptc observe --record-bodies` runs it (for `promptc import`)."""
    yield from _rig(tmp_path, True)


def _rig(tmp_path, record_bodies: bool):
    with Simulator(anthropic_min_tokens={MODEL: LOW_MIN}, openai_min_tokens=LOW_MIN) as sim:
        obs = Observer(clock=sim.clock, cache_limits=LIMITS, record_bodies=record_bodies)
        trace = tmp_path / ("trace-bodies.jsonl" if record_bodies else "trace.jsonl")
        sim.sim.gemini_config(min_tokens={GEMINI_MODEL: LOW_MIN})
        proxy = ObserveProxy(obs, str(trace), upstreams={"anthropic": sim.url, "openai": sim.url, "gemini": sim.url})
        with ProxyServer(proxy) as px:
            yield Rig(sim, px, trace, obs)
