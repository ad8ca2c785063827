"""docs/providers.md: every python block runs (in order, one namespace), every toml block is a
valid runtime configuration, and the shell block runs against `promptc sim serve`."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
from click.testing import CliRunner

from promptc import cli as cli_mod
from promptc.core.prices import price_for
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "providers.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def test_python_examples_run(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the Bedrock example sets (and clears) them
        monkeypatch.setenv(name, "restored-after-the-test")
    code = blocks("python")
    assert len(code) >= 8
    ns: dict = {}
    for i, src in enumerate(code):
        exec(compile(src, f"docs/providers.md[python {i}]", "exec"), ns)  # noqa: S102
    assert "Simulated anthropic reply" in capsys.readouterr().out
    assert not ns["sim"].thread.is_alive()  # the last block stops the simulator


def test_toml_examples_are_valid_configuration():
    tables = blocks("toml")
    assert len(tables) == 7
    for src in tables:
        data = tomllib.loads(src)["tool"]["promptc"]
        cfg = RuntimeConfig.from_dict(data)
        for provider in sorted({"vllm", "sglang"} & set(cfg.providers)):  # the client checks their settings (E507)
            Client(f"{provider}/m", config=cfg)
        for name, over in cfg.prices.items():
            assert price_for(name, cfg.prices).input == over["input"]
        for provider in cfg.providers:
            assert cfg.base_url(provider).startswith("http://")


def test_shell_example_runs_against_sim_serve(monkeypatch):
    (script,) = blocks("bash")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = [line.replace("8700", str(port)) for line in script.strip().splitlines()]
    serve = shlex.split(lines[0].rstrip("&").strip())
    assert serve[:3] == ["promptc", "sim", "serve"]
    proc = subprocess.Popen([sys.executable, "-m", "promptc.cli", *serve[1:]], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(400):
            try:
                httpx.get(f"http://127.0.0.1:{port}/_sim/requests")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        for assignment in shlex.split(lines[1])[1:]:
            k, v = assignment.split("=", 1)
            monkeypatch.setenv(k, v)
        monkeypatch.chdir(REPO)
        run = shlex.split(lines[2])
        r = CliRunner().invoke(cli_mod.cli, run[1:])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["text"].startswith("Simulated anthropic reply")
        received = httpx.get(f"http://127.0.0.1:{port}/_sim/requests").json()
        assert received[-1]["payload"]["model"] == "claude-sonnet-4-5"
        assert "x-api-key" not in received[-1]["headers"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _section(title: str) -> str:
    return DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_cache_objects_console_example_runs_against_the_simulator(monkeypatch, tmp_path):
    """`promptc warm` as the cache-objects section shows it (the real 1,024-token minimum: the team
    example's prefixes are below it, so every plan is reported and nothing is sent)."""
    from promptc.runtime.sim import Simulator

    (console,) = re.findall(r"```console\n(.*?)```", _section("Cache objects, pre-warm and keep-warm"), flags=re.S)
    argv = shlex.split(console.strip().lstrip("$ "))
    assert argv[:2] == ["promptc", "warm"]
    monkeypatch.chdir(REPO)
    with Simulator() as s:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sim")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the default registry file goes here
        r = CliRunner().invoke(cli_mod.cli, argv[1:])
        assert s.requests == []
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert sorted(p for x in out for p in x["plans"]) == ["backend", "docs", "frontend"]
    assert all(x["reason"].startswith("below the minimum") for x in out)


def test_redis_backend_the_docs_describe_overrides_every_transaction():
    """The documented RedisBackend (shipped: promptc/runtime/registry_redis.py) implements every
    RegistryBackend method itself: none falls back to the in-process lock of the defaults."""
    from promptc.runtime.registry import RegistryBackend
    from promptc.runtime.registry_redis import RedisBackend

    assert "`RedisBackend`" in DOC and "promptc[redis]" in DOC
    required = {"get", "put", "delete", "entries", "claim", "release", "commit", "update", "active_claims"}
    assert required <= {n for n in dir(RegistryBackend) if not n.startswith("_")}
    assert all(n in RedisBackend.__dict__ for n in required)
