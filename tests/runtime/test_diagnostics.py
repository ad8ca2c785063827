"""Golden run-time diagnostics (E4xx binding and plan files, E5xx the engine client): each case in
tests/fixtures/diagnostics/<CODE>/<case>/ is a small project plus ``steps.json``, run in order:

* ``["bind", {session inputs}]`` — compile ``main.prompt`` and bind plan ``p``;
* ``["render", {turn inputs}]`` — render a turn of the bound session;
* ``["load", "file.plan.json"]`` — ``load_plan`` (relative to the case folder);
* ``["engine", {turn inputs}, status, body]`` — send the rendered turn to an engine server that
  answers ``status`` with ``body`` (JSON, or text when a string).

The last step must raise the case's code; ``expected.txt`` holds its message. Regenerate with
``PROMPTC_REGEN=1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from promptc.compiler.build import compile_project
from promptc.core.errors import PromptcError
from promptc.plan import load_plan
from promptc.runtime.engine_client import EngineClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diagnostics"
RUNTIME_PREFIXES = ("E4", "E5")
CASES = sorted((code.name, case.name) for code in FIXTURES.iterdir() if code.is_dir()
               and code.name.startswith(RUNTIME_PREFIXES) for case in code.iterdir() if case.is_dir() and not case.name.startswith("."))


def engine_answering(status: int, body) -> EngineClient:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    client = EngineClient("http://engine.invalid")
    client.http = httpx.Client(base_url="http://engine.invalid",
                               transport=httpx.MockTransport(lambda request: httpx.Response(status, content=content)))
    return client


def run_steps(case: Path) -> None:
    session = None
    for step in json.loads((case / "steps.json").read_text(encoding="utf-8")):
        if step[0] == "load":
            load_plan(step[1])
        elif step[0] == "bind":
            result = compile_project([case], annotate_tokens=False).raise_on_error()
            session = result.plans["p"].bind(**step[1])
        elif step[0] == "render":
            session.render(**step[1])
        elif step[0] == "engine":
            with engine_answering(step[2], step[3]) as client:
                client.run(session.render(**step[1]), max_tokens=4)


@pytest.mark.parametrize(("code", "case"), CASES, ids=[f"{c}/{k}" for c, k in CASES])
def test_golden_runtime_diagnostics(code, case, monkeypatch):
    folder = FIXTURES / code / case
    monkeypatch.chdir(folder)
    with pytest.raises(PromptcError) as err:
        run_steps(folder)
    assert err.value.code == code
    text = str(err.value) + "\n"
    golden = folder / "expected.txt"
    if os.environ.get("PROMPTC_REGEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
