"""The provider registry: a provider of issue 26 (Z.ai, Qwen, MiniMax, xAI, Mistral, Vertex) is its own
files plus ONE registration line in total — the simulator's ``ROUTES`` entry.

- Outside its own files (facts module, wire module, simulator route module, its test) each provider's
  name appears on exactly one line of the package: its ``ROUTES`` line in the simulator. ``SPECS``
  (core) and ``ADAPTERS`` (runtime) are discovered from the facts and wire modules' ``SPEC`` /
  ``ADAPTER`` exports, and the ``promptc simulate`` row is derived from the provider's own files.
- :class:`~promptc.runtime.sim.server.SimApp` is composed from ``ROUTES``: a fake provider written in a
  tmp module, added by one ``ROUTES`` line, is served (and caches) next to every real route.
- Discovery is deterministic and complete: every facts module's ``SPEC`` is registered, in module-name
  order, and every wire module's ``ADAPTER``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from promptc.core.providers import SPECS, parse_target
from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers import ADAPTERS
from promptc.runtime.sim import server
from promptc.runtime.simulate.replay import simulation_config
from promptc.runtime.simulate.rules import RULES, derived_row, served, sim_prefixes

REPO = Path(__file__).resolve().parents[2]
NEW = ("zai", "dashscope", "minimax", "xai", "mistral", "vertex")
MODELS = {"zai": "glm-4.6", "dashscope": "qwen-max", "minimax": "MiniMax-M2", "xai": "grok-4",
          "mistral": "mistral-medium-latest", "vertex": "claude-sonnet-4-5@20250929"}
#: the one registration line a provider has outside its own files
REGISTRY = "promptc/runtime/sim/server.py"


def own_files(name: str) -> set[str]:
    return {f"promptc/core/providers/{name}.py", f"promptc/runtime/providers/{name}.py",
            f"promptc/runtime/sim/{name}_api.py"}


def mentions(name: str) -> dict[str, list[str]]:
    """``path -> lines`` of the package's code (docstrings and comments dropped) naming ``name`` as a word."""
    pattern = re.compile(rf"(?<![\w.-]){re.escape(name)}(?:_api)?(?![\w-])")
    out: dict[str, list[str]] = {}
    for path in sorted((REPO / "promptc").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in own_files(name) or rel.startswith("promptc/engine/"):  # the engine's "mistral" is a GGUF arch
            continue
        text = re.sub(r'"""(?:.|\n)*?"""', "", path.read_text(encoding="utf-8"))
        lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
        found = [ln.strip() for ln in lines if pattern.search(ln.split("#", 1)[0])]
        if found:
            out[rel] = found
    return out


@pytest.mark.parametrize("name", NEW)
def test_a_new_provider_is_its_files_plus_one_registration_line(name):
    found = mentions(name)
    # nowhere but the simulator's ROUTES: no SPECS/ADAPTERS entry or import, no simulate row, no path table
    assert list(found) == [REGISTRY], found
    (sim_line,) = found[REGISTRY]  # exactly one line in total
    assert sim_line == f'"{name}_api:{next(r.split(":")[1] for r in server.ROUTES if r.startswith(name + "_api:"))}",'
    # the spec, adapter, route and simulate row that those lines (and nothing else) register
    assert name in SPECS and ADAPTERS[name]().provider == name
    assert any(cls.__module__ == f"promptc.runtime.sim.{name}_api" for cls in server.SimApp.__mro__)
    row, derived = RULES[name], derived_row(name)
    assert not row.generic and row.naive is derived.naive and row.sim_settings == derived.sim_settings
    assert row.ttl("m", "short") == derived.ttl("m", "short") and row.sim_min("m", 7) == {"min_tokens": 7}


def test_specs_and_adapters_are_discovered_from_the_provider_modules():
    """Every facts module's ``SPEC``/``SPECS`` and every wire module's ``ADAPTER``/``ADAPTERS`` is
    registered, in module-name order; nothing else is."""
    import importlib
    import pkgutil

    import promptc.core.providers as core
    import promptc.runtime.providers as runtime

    def modules(pkg):
        return [importlib.import_module(f"{pkg.__name__}.{m.name}")
                for m in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name)]

    specs = [s for m in modules(core) if m.__name__.rsplit(".", 1)[1] not in core.SUPPORT_MODULES
             for s in (getattr(m, "SPECS", None) or (m.SPEC,))]
    assert list(SPECS.items()) == [(s.name, s) for s in specs]
    assert [s.name for s in specs][:3] == ["anthropic", "bedrock", "dashscope"]  # module-name order
    adapters = [pair for m in modules(runtime) for pair in (
        ((m.ADAPTER.provider, m.ADAPTER),) if hasattr(m, "ADAPTER") else getattr(m, "ADAPTERS", ()))]
    assert list(ADAPTERS.items()) == adapters
    assert set(SPECS) - {"raw"} == {k.split(":")[0] for k in ADAPTERS}  # raw runs through the engine adapter


@pytest.fixture(scope="module")
def routes():
    return server.SimApp().app.routes


@pytest.mark.parametrize("name", NEW)
def test_the_simulator_serves_the_path_the_adapter_builds(name, team, routes):
    """No path table: the route serves what the provider's own adapter sends (the built call's path)."""
    target = f"{name}/{MODELS[name]}"
    config = simulation_config(parse_target(target), RuntimeConfig())
    client = Client(target, api_key="sim", base_url="http://127.0.0.1:9", config=config)
    try:
        path = client.build(team.plans["backend"].bind().render(file="a.py", query="q")).path
    finally:
        client.close()
    assert any(served(routes, p + path) for p in sim_prefixes(name, client.adapter.default_base_url)), (name, path)


def test_the_check_sees_a_registration_written_outside_the_registries(tmp_path, monkeypatch):
    """The scan can fail: a provider's name in another module (e.g. a hand-written rules row) is found."""
    fake = REPO / "promptc" / "runtime" / "simulate" / "rules.py"
    text = fake.read_text(encoding="utf-8") + '\nEXTRA = {"minimax": 1}\n'
    real_read = Path.read_text

    def read_text(self, *a, **k):
        return text if self == fake else real_read(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert mentions("minimax")["promptc/runtime/simulate/rules.py"] == ['EXTRA = {"minimax": 1}']


def test_simapp_is_composed_from_the_routes_tuple():
    assert server.SimApp.__mro__[1:-1] == (server.SimCore, *server.route_classes())
    assert len(set(server.ROUTES)) == len(server.ROUTES)
    for cls in server.route_classes():
        assert "sim_routes" in vars(cls), cls


FAKE_ROUTE = '''
    """A provider that exists only in this tmp module: implicit prefix caching on a chat route."""
    from starlette.requests import Request as HTTPRequest
    from starlette.routing import Route

    from promptc.runtime.sim.compat import PrefixCache, bearer, chat_blocks, chat_reply, valid_chat


    class FakeRoutes:
        def sim_routes(self):
            self.fake = PrefixCache(self.state.clock, None, 0)
            return [Route("/fakeprov/v1/chat/completions", self.fake_chat, methods=["POST"])]

        async def fake_chat(self, req: HTTPRequest):
            p, fault, err = await self._begin(req, "fakeprov")
            if err is not None:
                return err
            if not valid_chat(p):
                return self._error("fakeprov", 400, "invalid_request_error", "model and messages are required")
            blocks = chat_blocks(self.count, p)
            with self.state.lock:
                hit = self.fake.run((bearer(req), p["model"]), blocks)
            return chat_reply(self, "fakeprov", p, sum(b.tokens for b in blocks), {"cached_tokens": hit}, fault)
'''


def test_one_routes_line_adds_a_provider_the_simulator_serves(tmp_path, monkeypatch):
    (tmp_path / "h26fake").mkdir()
    (tmp_path / "h26fake" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "h26fake" / "fakeprov_api.py").write_text(textwrap.dedent(FAKE_ROUTE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    app_cls = server.sim_app_class(server.ROUTES + ("h26fake.fakeprov_api:FakeRoutes",))  # the one line
    app = app_cls()
    body = {"model": "m", "messages": [{"role": "system", "content": "rules " * 50},
                                       {"role": "user", "content": "hello"}]}
    with TestClient(app.app) as http:
        auth = {"authorization": "Bearer k"}
        first = http.post("/fakeprov/v1/chat/completions", json=body, headers=auth).json()["usage"]
        second = http.post("/fakeprov/v1/chat/completions", json=body, headers=auth).json()["usage"]
        # the real routes are still there, in their order
        assert http.post("/v1/messages", json={}, headers=auth).status_code == 400
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == second["prompt_tokens"] > 0
    assert "h26fake.fakeprov_api" not in {c.__module__ for c in server.SimApp.__mro__}  # the shipped app is untouched
