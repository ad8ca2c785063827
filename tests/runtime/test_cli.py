"""``promptc run --target``, ``promptc trace stats`` and ``promptc sim``, in process."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from promptc import cli as cli_mod


REPO_TEAM = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "team")


@pytest.fixture()
def env(sim, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-cli-test-000000")
    monkeypatch.setenv("OPENAI_BASE_URL", sim.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test-000000")
    monkeypatch.chdir(tmp_path)  # no pyproject.toml above: defaults apply
    return sim


def test_run_target_json_prints_reply_usage_and_cost(env):
    r = CliRunner().invoke(cli_mod.cli, ["run", REPO_TEAM, "--plan", "backend", "--target",
                                         "anthropic/claude-sonnet-4-5", "-i", "file=api/users.py", "-i",
                                         "query=Why 500?", "--json", "--max-tokens", "40"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["text"].startswith("Simulated anthropic reply")
    u = out["usage"]
    assert u["uncached"] + u["cache_read"] + u["cache_write_total"] == int(out["text"].split("-token")[0].split()[-1])
    assert out["cost"] == pytest.approx(out["cost_detail"]["total"]) and out["cost"] > 0
    payload = env.requests[-1]["payload"]
    assert payload["messages"][0]["content"][0]["text"] == "Current file: api/users.py\n\nWhy 500?\n"


def test_run_target_text_output_and_openai(env):
    r = CliRunner().invoke(cli_mod.cli, ["run", REPO_TEAM, "--plan", "docs", "--target", "openai/gpt-5",
                                         "-i", "file=a.md", "-i", "query=q"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Simulated openai reply") and "cache read" in r.stderr


def test_run_target_errors_are_coded_without_traceback(env, monkeypatch, capsys):
    env.inject(status=401, message="invalid x-api-key sk-ant-cli-test-000000")
    monkeypatch.setattr(sys, "argv", ["promptc", "run", REPO_TEAM, "--plan", "docs", "--target",
                                      "anthropic/claude-sonnet-4-5", "-i", "file=a", "-i", "query=q"])
    with pytest.raises(SystemExit) as e:
        cli_mod.main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "error[E502]: anthropic returned 401" in err
    assert "Traceback" not in err and "sk-ant-cli-test-000000" not in err
    monkeypatch.setattr(sys, "argv", ["promptc", "run", REPO_TEAM, "--plan", "docs", "--target", "raw/smollm2",
                                      "-i", "file=a", "-i", "query=q"])
    with pytest.raises(SystemExit) as e:
        cli_mod.main()
    assert e.value.code == 2 and "E507" in capsys.readouterr().err


def test_target_and_engine_are_exclusive(env):
    r = CliRunner().invoke(cli_mod.cli, ["run", REPO_TEAM, "--plan", "docs", "--target", "openai/gpt-5",
                                         "--embedded", "-i", "file=a", "-i", "query=q"])
    assert r.exit_code == 2 and "one of --target" in r.output


def test_trace_stats_command(env, tmp_path):
    from promptc.runtime.client import Client
    import promptc

    trace = tmp_path / "t.jsonl"
    plan = promptc.compile(REPO_TEAM)["backend"]
    with Client("anthropic/claude-sonnet-4-5", trace=trace) as c:
        s = plan.bind()
        c.complete(s.render(file="a", query="1"), max_tokens=8)
        c.complete(s.render(file="a", query="2"), max_tokens=8)
    r = CliRunner().invoke(cli_mod.cli, ["trace", "stats", str(trace), "--json"])
    assert r.exit_code == 0
    st = json.loads(r.stdout)
    assert st["plans"]["backend @ anthropic/claude-sonnet-4-5"]["requests"] == 2
    r = CliRunner().invoke(cli_mod.cli, ["trace", "stats", str(trace)])
    assert "backend @ anthropic/claude-sonnet-4-5" in r.stdout and "hit rate" in r.stdout


def test_sim_serve_refuses_non_loopback():
    r = CliRunner().invoke(cli_mod.cli, ["sim", "serve", "--host", "0.0.0.0"])
    assert r.exit_code == 2 and "loopback" in r.output
