"""`promptc warm` (promptc/runtime/warm.py): every plan's static prefix is warmed once per target,
shared prefixes once — against the provider simulator (Anthropic, OpenAI) and the in-process engine
server; through the library and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import promptc
from promptc import cli as cli_mod
from promptc.runtime.warm import WarmError, prefix_request, static_request, warm_plans

REPO = Path(__file__).resolve().parents[2]
ANTHROPIC = "anthropic/claude-sonnet-4-5"


def plans(team):
    return [team["backend"], team["docs"], team["frontend"]]


def seg_tokens(ntok, plan, ids):
    return sum(ntok(plan.segment(i).content) for i in ids)


def test_static_request_is_the_leading_static_run(team):
    req = static_request(team["backend"])
    assert [s.id for s in req.segments] == ["rules", "repo_tools", "backend", "backend_memory"]
    assert req.segments[-1].prefix_hash == team["backend"].segment("backend_memory").prefix_hash
    ping = prefix_request(req)
    assert ping.segments[:-1] == req.segments and ping.segments[-1].content == "." and ping.segments[-1].role == "user"


def test_anthropic_writes_the_global_block_once_and_each_agent_block_once(sim, team, low_min_config):
    client = promptc.Client(ANTHROPIC, base_url=sim.url, api_key="sim", config=low_min_config)
    results = warm_plans(plans(team), [client])
    sent = [r["payload"] for r in sim.requests]
    assert len(sent) == 3 and all(p["max_tokens"] == 0 for p in sent)  # max_tokens 0: documented pre-warm
    created = [h for r in results for h in r.created]
    assert len(created) == len(set(created)) == 4  # global block + three agent blocks, each once
    glob = results[0].created[0]  # the global block's cache point (rules, after the tools in Anthropic's order)
    assert glob == team["backend"].segment("rules").prefix_hash
    assert all(glob in r.prefixes and glob not in r.created for r in results[1:])
    # the simulator agrees: the first request wrote the global block, the others read it
    assert results[0].tokens_read == 0
    assert results[1].tokens_read == results[2].tokens_read > 0
    assert results[1].tokens_read + results[1].tokens_written < results[0].tokens_written + results[1].tokens_written
    # warming again writes nothing new: every prefix is read
    again = warm_plans(plans(team), [client])
    assert sum(r.tokens_written for r in again) == 0 and all(r.tokens_read > 0 for r in again)
    assert all(r.cost is not None and r.cost > 0 for r in results)


def test_below_the_minimum_nothing_is_sent(sim, team):
    client = promptc.Client(ANTHROPIC, base_url=sim.url, api_key="sim")  # real minimum: 1,024 tokens
    results = warm_plans(plans(team), [client])
    assert sim.requests == []
    assert all(r.action == "skipped" and r.reason.startswith("below the minimum") for r in results)


def test_nothing_static_is_a_coded_error(support):
    with pytest.raises(WarmError) as err:
        warm_plans([support.model_copy(update={"segments": support.segments[-1:]})], [])
    assert err.value.code == "E532" and "hint" in str(err.value)


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "team"
    shutil.copytree(REPO / "examples" / "team", root)
    (root / "pyproject.toml").write_text('[tool.promptc.cache_limits."anthropic/"]\nmin_tokens = 256\n'
                                         '[tool.promptc.cache_limits."openai/gpt-5.6"]\nmin_tokens = 256\n')
    return root


def test_cli_warms_each_shared_prefix_once_per_target(sim, tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sim")
    monkeypatch.setenv("OPENAI_API_KEY", "sim")
    args = ["warm", ".", "--target", ANTHROPIC, "--target", "openai/gpt-5.6", "--base-url", f"anthropic={sim.url}",
            "--base-url", f"openai={sim.url}/v1", "--registry", str(tmp_path / "reg.sqlite3"), "--format", "json"]
    r = CliRunner().invoke(cli_mod.cli, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for target in (ANTHROPIC, "openai/gpt-5.6"):
        mine = [x for x in out if x["target"] == target]
        created = [h for x in mine for h in x["created"]]
        assert len(created) == len(set(created)) > 0  # no prefix created twice on a target
        assert sorted(p for x in mine for p in x["plans"]) == ["backend", "docs", "frontend"]
    paths = [q["path"] for q in sim.requests]
    assert paths.count("/v1/messages") == 3 and paths.count("/v1/chat/completions") == 3
    assert all(q["payload"]["max_completion_tokens"] == 1 for q in sim.requests if q["path"].endswith("completions"))
    text = CliRunner().invoke(cli_mod.cli, args[:-2])
    assert text.exit_code == 0 and "total" in text.stdout and "backend" in text.stdout


def test_cli_usage_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path))
    r = CliRunner().invoke(cli_mod.cli, ["warm", ".", "--target", ANTHROPIC, "--plan", "nosuch"])
    assert r.exit_code == 2 and "no plan nosuch" in r.output


def test_engine_warm_computes_each_shared_segment_once(team, smollm_weights):
    from promptc.engine import Engine
    from promptc.engine.server import EngineServer, ServerConfig, ServerThread

    engine = Engine(weights=smollm_weights, budget_bytes=256 << 20)
    with ServerThread(EngineServer(engine, ServerConfig())) as st:
        client = promptc.Client("engine/smollm2", base_url=st.url + "/v1")
        results = warm_plans(plans(team), [client])
    assert [r.action for r in results] == ["engine"] * 3
    created = [h for r in results for h in r.created]
    shared = {team["backend"].segment("rules").hash, team["backend"].segment("repo_tools").hash}
    assert len(created) == len(set(created))
    assert shared <= set(results[0].created) and not shared & set(results[1].created + results[2].created)
    assert results[1].tokens_read == results[2].tokens_read > 0


class _ObjectManager:
    """A cache-object manager like Gemini's: prepare() creates one object per static prefix through
    the registry; list_remote/delete_remote for reconciliation (backed by the fake file provider)."""

    def __init__(self, registry, provider):
        self.registry, self.provider, self.prepared = registry, provider, 0

    def prepare(self, call, request, opts, ctx):
        from promptc.runtime.registry import CacheEntry, CacheKey

        self.prepared += 1
        prefix = [s for s in request.segments if s.stability == "static"][-1].prefix_hash
        key = CacheKey("anthropic", "default", opts.model, prefix)

        def create():
            rid = self.provider.create(prefix, self.registry.owner, tokens=500)
            now = self.registry.clock()
            return CacheEntry(key, rid, now + 3600, 500, now, now)

        self.registry.acquire(key, create, slot=request.plan)
        return call

    def list_remote(self):
        return self.provider.list_remote()

    def delete_remote(self, rid):
        self.provider.delete_remote(rid)


def test_cache_object_targets_create_through_the_registry_after_reconciling(team, tmp_path):
    from promptc.runtime.registry import CacheRegistry, SQLiteBackend
    from tests.runtime.fake_cache_provider import FileProvider

    registry = CacheRegistry(SQLiteBackend(tmp_path / "r.sqlite3"))
    provider = FileProvider(tmp_path / "remote")
    orphan = provider.create("sha256:" + "9" * 64, registry.owner)  # left by a crashed run
    client = promptc.Client(ANTHROPIC, api_key="k", registry=registry)
    manager = _ObjectManager(registry, provider)
    client.resources = lambda: manager
    results = warm_plans(plans(team), [client])
    assert [r.action for r in results] == ["object"] * 3 and manager.prepared == 3
    assert provider.log("deletes.log") == [orphan]
    created = [rid for r in results for rid in r.created]
    assert sorted(created) == sorted(provider.log("creates.log")[1:]) and len(created) == 3
    assert all(r.tokens_written == 500 and r.cost == pytest.approx(500 * 3.0e-6) for r in results)
    again = warm_plans(plans(team), [client])  # live objects: nothing new
    assert [r.created for r in again] == [[], [], []] and len(provider.log("creates.log")) == 4
