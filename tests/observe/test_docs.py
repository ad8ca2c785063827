"""docs/observe.md runs as written: every `$ ` command of its console blocks (the simulator and the
observer in the background, on free ports), its agent.py, and the output it shows."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "observe.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else proc.returncode
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def test_the_walkthrough_runs_as_written(tmp_path):
    commands = [line[2:] for block in _blocks("console") for line in block.splitlines() if line.startswith("$ ")]
    agent = next(b for b in _blocks("python") if b.startswith("# agent.py"))
    (tmp_path / "agent.py").write_text(agent)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "promptc").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m promptc "$@"\n')
    (bin_dir / "promptc").chmod(0o755)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    env.pop("ANTHROPIC_API_KEY", None)
    ports = {"8700": str(_free_port()), "8787": str(_free_port())}
    background: list[subprocess.Popen] = []
    outputs = {}
    try:
        for cmd in commands:
            for old, new in ports.items():
                cmd = cmd.replace(old, new)
            if cmd.endswith("&"):
                proc = subprocess.Popen(cmd[:-1], shell=True, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
                background.append(proc)
                port = ports["8700"] if "sim serve" in cmd else ports["8787"]
                _wait(f"http://127.0.0.1:{port}/", proc)
                continue
            r = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, (cmd, r.stdout, r.stderr)
            outputs[cmd.split()[1] if cmd.startswith("promptc") else cmd] = r.stdout + r.stderr
    finally:
        for proc in background:
            os.killpg(proc.pid, 15)
        logs = [p.communicate(timeout=20) for p in background]
    observe_log = logs[1][1]
    # the lines the doc shows are the lines the observer printed
    shown = next(b for b in _blocks("text") if "MISS" in b).strip().splitlines()
    for line in shown:
        assert line in observe_log, (line, observe_log[-600:])
    recs = [json.loads(x) for x in (tmp_path / "cache-trace.jsonl").read_text().splitlines()]
    assert [r["invalidation"] and r["invalidation"]["reason"] for r in recs] == [None, "segment_changed",
                                                                              "segment_changed"]
    assert "release @ anthropic/claude-sonnet-4-5" in outputs["trace"]
    assert "W560" in outputs["import"]
    assert (tmp_path / "imported" / "release.prompt").exists()


def test_the_in_process_example_runs_and_writes_records(tmp_path, monkeypatch):
    from promptc.runtime.sim import Simulator

    snippet = next(b for b in _blocks("python") if "instrument(" in b)
    with Simulator() as sim:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sim")
        scope: dict = {}
        exec(compile(snippet, "docs/observe.md", "exec"), scope)  # noqa: S102 - the doc's own example
        scope["client"].messages.create(model="claude-sonnet-4-5", max_tokens=8,
                                        messages=[{"role": "user", "content": "hi"}])
    recs = [json.loads(x) for x in (tmp_path / "cache-trace.jsonl").read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["target"] == "anthropic/claude-sonnet-4-5" and recs[0]["usage"]["output"] > 0
