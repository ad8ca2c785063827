"""Fixtures: compiled examples, a generated 100-plan project, a real cache trace from the provider
simulator, and one headless Chromium per session (Debian's `chromium`, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from promptc.compiler.build import compile_project

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("team", "support", "stdlib_tour")


def write_many(root: Path, n: int = 100) -> Path:
    """A project of ``n`` plans sharing two global blocks (rules, tools), each with its own agent block."""
    root.mkdir(parents=True, exist_ok=True)
    parts = ['global rules @static role system """\nYou are one of many agents of the acme shop. Keep answers short.\n"""\n',
             'global tools @append_only tools {\n    read_file(path: string "Path from the repository root") '
             '"Read a file."\n}\n',
             'task turn @turn role user {\n    input query: string\n    """Question: {{ query }}"""\n}\n']
    for i in range(n):
        parts.append(f'agent a{i:03d} @static role system """\nYou are agent {i}; you own area {i} of the shop'
                     f'{" in depth" * (i % 7)}.\n"""\n'
                     f'plan p{i:03d} = rules, tools, a{i:03d}, turn target "engine/smollm2", "anthropic/claude-sonnet-5"\n')
    (root / "agents.prompt").write_text("\n".join(parts), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def example_plans():
    """name → {plan name → Plan} for every example."""
    return {name: dict(compile_project([REPO / "examples" / name]).raise_on_error().plans) for name in EXAMPLES}


@pytest.fixture(scope="session")
def many(tmp_path_factory):
    """(root, plans) of the generated 100-plan project."""
    root = write_many(tmp_path_factory.mktemp("many") / "project")
    return root, dict(compile_project([root]).raise_on_error().plans)


def make_trace(path: Path) -> Path:
    """A real trace: the team example's backend and docs plans against the Anthropic simulator, a
    warm hit, an expiry (ttl_expired invalidation) and a keep-warm event."""
    import promptc
    from promptc.runtime.client import Client
    from promptc.runtime.config import RuntimeConfig
    from promptc.runtime.sim import Simulator
    from promptc.runtime.trace import Tracer

    team = promptc.compile(REPO / "examples" / "team")
    config = RuntimeConfig.from_dict({"cache_limits": {"anthropic/": {"min_tokens": 256}}})
    with Simulator(anthropic_min_tokens={"claude-sonnet-4-5": 256}) as sim:
        tracer = Tracer(path, clock=sim.sim.state.clock)
        client = Client("anthropic/claude-sonnet-4-5", base_url=sim.url, api_key="k", retention="short",
                        config=config, trace=tracer)
        for plan in ("backend", "docs"):
            session = team[plan].bind()
            for q in range(2):
                client.complete(session.render(file="api/app.py", query=f"question {q}"), max_tokens=8)
            sim.advance(400)  # the 5-minute entries expire
            client.complete(session.render(file="api/app.py", query="later"), max_tokens=8)
        tracer.event(event="keepwarm", plan="backend", segment="rules", tokens=378)
    return path


@pytest.fixture(scope="session")
def trace_file(tmp_path_factory):
    return make_trace(tmp_path_factory.mktemp("trace") / "trace.jsonl")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the browser tests: the system's `chromium` (never a downloaded one).

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread while
    it is open, and later tests that call ``asyncio.run`` would fail."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    assert exe, "Debian's chromium is not installed: scripts/test.sh installs it (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()
