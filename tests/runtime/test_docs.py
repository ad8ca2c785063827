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
    assert len(tables) == 3
    for src in tables:
        data = tomllib.loads(src)["tool"]["promptc"]
        cfg = RuntimeConfig.from_dict(data)
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
