"""Fixtures: the provider simulator on loopback, the team example compiled once, and the tokenizer
that the simulator counts with (so expected numbers are computed from the parts, by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import promptc
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator
from promptc.tokenizers import load_tokenizer

REPO = Path(__file__).resolve().parents[2]

#: The team example's static prefixes are ~450 tokens, below every real model's minimum; these
#: tests lower the minimum on both sides (the project config and the simulator) to 256 tokens.
LOW_MIN = 256


@pytest.fixture(scope="session")
def team():
    return promptc.compile(REPO / "examples" / "team")


@pytest.fixture(scope="session")
def support():
    return promptc.compile(REPO / "examples" / "support")["support"]


@pytest.fixture()
def sim():
    with Simulator(anthropic_min_tokens={"claude-sonnet-4-5": LOW_MIN}, openai_min_tokens=LOW_MIN) as s:
        yield s


@pytest.fixture()
def low_min_config():
    return RuntimeConfig.from_dict({"cache_limits": {"anthropic/": {"min_tokens": LOW_MIN},
                                                     "openai/gpt-5.6": {"min_tokens": LOW_MIN}}})


@pytest.fixture(scope="session")
def ntok():
    tok = load_tokenizer("o200k_base")
    return lambda text: len(tok.encode(text))


def canon(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
