"""One provider simulator per module (real HTTP on loopback) with every cache minimum lowered to
256 tokens on both sides, so the team example's static prefix (~450 tokens) is above every minimum."""

from __future__ import annotations

from pathlib import Path

import pytest

import promptc
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.sim import Simulator

REPO = Path(__file__).resolve().parents[2]
LOW_MIN = 256


@pytest.fixture(scope="module")
def sim():
    with Simulator(min_tokens=LOW_MIN, anthropic_min_tokens={"claude-sonnet-4-5": LOW_MIN},
                   openai_min_tokens=LOW_MIN) as s:
        yield s


@pytest.fixture(scope="session")
def team():
    return promptc.compile(REPO / "examples" / "team")


@pytest.fixture(scope="session")
def low_min_config():
    return RuntimeConfig.from_dict({"cache_limits": {p: {"min_tokens": LOW_MIN} for p in
                                                     ("anthropic/", "openai/", "gemini/", "bedrock/")}})


@pytest.fixture(scope="session")
def turns(team):
    """A 3-turn session of the team example's backend agent: the same static prefix, a new question each turn."""
    agent = team["backend"].bind()
    return [agent.render(file="app.py", query=q) for q in ("Why does it crash?", "Add a test.", "Ship it?")]


@pytest.fixture()
def aws_sim_env(monkeypatch, tmp_path):
    """The simulator's AWS credentials as keyword arguments, with botocore's other credential sources
    (config files, instance metadata) switched off so nothing outside the test is read."""
    from promptc.runtime.sim.bedrock_api import SIM_AWS_CREDENTIALS

    for var, value in {"AWS_CONFIG_FILE": tmp_path / "aws-config", "AWS_SHARED_CREDENTIALS_FILE": tmp_path / "aws-keys",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(var, str(value))
    key, secret = next(iter(SIM_AWS_CREDENTIALS.items()))
    return {"aws_access_key_id": key, "aws_secret_access_key": secret}


def diff(sent, built):
    """The top-level payload keys a framework dropped, added or changed against the kwargs promptc built."""
    built = {k: v for k, v in built.items() if k != "extra_headers"}
    return {"dropped": set(built) - set(sent), "added": set(sent) - set(built),
            "changed": {k for k in built if k in sent and sent[k] != built[k]}}


def received(sim, n):
    """The payload of the simulator's request ``n``, which must be its latest."""
    assert len(sim.requests) == n + 1
    return sim.requests[n]["payload"]
