"""docs/providers.md's facts block is generated from the specs, `promptc providers` prints them, and
`promptc sim serve --min-tokens` lowers the simulator's minimums."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from click.testing import CliRunner

from promptc.cli import cli
from promptc.core.providers import SPECS, limits_for
from promptc.core.providers.listing import facts_markdown, provider_table

REPO = Path(__file__).resolve().parents[2]


def _gen():
    spec = importlib.util.spec_from_file_location("gen_provider_docs", REPO / "scripts" / "gen_provider_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_facts_block_is_generated_from_the_specs():
    gen = _gen()
    text = (REPO / "docs" / "providers.md").read_text(encoding="utf-8")
    assert gen.block() in text, "docs/providers.md drifted from the specs: run python scripts/gen_provider_docs.py"


def test_the_docs_block_changes_when_a_spec_changes(monkeypatch):
    """The drift check can fail: a changed minimum is a different block."""
    import dataclasses

    from promptc.core import providers

    before = facts_markdown()
    spec = SPECS["anthropic"]
    rows = tuple(dataclasses.replace(r, min_tokens=999) if r.key == "anthropic/claude-opus-4-6" else r
                 for r in spec.models)
    monkeypatch.setitem(providers.SPECS, "anthropic", dataclasses.replace(spec, models=rows))
    after = facts_markdown()
    assert before != after and "| `claude-opus-4-6` | 999 |" in after


def test_providers_command_lists_every_provider_with_limits_ttls_prices_and_sources():
    result = CliRunner().invoke(cli, ["providers", "--format", "json"])
    assert result.exit_code == 0, result.output
    table = json.loads(result.output)
    assert [p["provider"] for p in table] == list(SPECS)
    anthropic = next(p for p in table if p["provider"] == "anthropic")
    assert anthropic["ttls"] == {"5m": 300.0, "1h": 3600.0} and anthropic["tools_first"]
    opus = next(m for m in anthropic["models"] if m["model"] == "claude-opus-4-6")
    assert opus["min_tokens"] == limits_for("anthropic/claude-opus-4-6").min_tokens
    assert opus["source"]["ref"].startswith("https://") and opus["source"]["date"]
    assert all("price" in m for p in table for m in p["models"])
    text = CliRunner().invoke(cli, ["providers"])
    assert text.exit_code == 0 and "claude-opus-4-6" in text.output and "tools first" in text.output
    # prices come from the one price function (None = unpriced, never another model's row)
    assert provider_table()[0]["models"][0]["price"] is None


def test_sim_serve_min_tokens_lowers_every_providers_minimum(monkeypatch):
    import uvicorn

    import promptc.runtime.sim as sim_pkg

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.setdefault("app", app))

    class Recording(sim_pkg.SimApp):
        def __init__(self, **kw):
            super().__init__(**kw)
            served["sim"] = self

    monkeypatch.setattr(sim_pkg, "SimApp", Recording)
    from promptc.runtime.commands import sim

    result = CliRunner().invoke(sim, ["serve", "--min-tokens", "128", "--anthropic-min-tokens",
                                      "claude-opus-4-6=300"])
    assert result.exit_code == 0, result.output
    app = served["sim"]
    assert served["app"] is app.app
    assert app.anthropic.min_tokens("claude-sonnet-4-5") == 128 and app.anthropic.min_tokens("claude-opus-4-6") == 300
    assert app.openai.minimum == 128 and app.gemini_minimum("gemini-3.1-pro") == 128
    bad = CliRunner().invoke(sim, ["serve", "--anthropic-min-tokens", "opus"])
    assert bad.exit_code == 2 and "MODEL=N" in bad.output


def test_sim_app_min_tokens(monkeypatch):
    from promptc.runtime.sim import SimApp

    app = SimApp(min_tokens=128, anthropic_min_tokens={"claude-opus-4-6": 300})
    assert app.anthropic.min_tokens("claude-sonnet-4-5") == 128
    assert app.anthropic.min_tokens("claude-opus-4-6") == 300
    assert app.openai.minimum == 128
    assert app.gemini_minimum("gemini-3.1-pro") == 128
    default = SimApp()
    assert default.anthropic.min_tokens("claude-opus-4-6") == limits_for("anthropic/claude-opus-4-6").min_tokens
