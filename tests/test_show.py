"""``promptc show`` (issue 8 defect 13): fits the terminal, explains its columns, shows history's roles
as per entry, and takes the paths ``promptc run`` takes (.plan.json, .prompt, project folder)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import promptc
from promptc.cli import cli
from promptc.show import LEGEND, show_plan

REPO = Path(__file__).resolve().parents[1]
SUPPORT = REPO / "examples" / "support"
TEAM = REPO / "examples" / "team"


@pytest.fixture(scope="module")
def team():
    return promptc.compile(TEAM).plans


def shown(plan, siblings=(), width=200) -> str:
    buf = io.StringIO()
    show_plan(plan, list(siblings), Console(file=buf, width=width, color_system=None))
    return buf.getvalue()


@pytest.mark.parametrize("width", [80, 100, 140, 220])
def test_the_table_fits_the_console_width(team, width):
    out = shown(team["backend"], [team["docs"], team["frontend"]], width)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "backend_memory" in out and "519" in out  # the segments and the static prefix total are there


def test_a_wide_console_shows_every_column_and_a_narrow_one_says_what_it_hid(team):
    wide = shown(team["backend"], [team["docs"], team["frontend"]], 220)
    header = next(line for line in wide.splitlines() if "segment" in line)
    for col in ("level", "stability", "role", "kind", "hash", "prefix", "bp", "shared with"):
        assert col in header
    assert "docs, frontend" in wide and "hidden to fit" not in wide
    narrow = shown(team["backend"], [team["docs"], team["frontend"]], 80)
    assert "hidden to fit 80 columns: level" in narrow


def test_columns_env_sets_the_width_when_not_a_terminal(team, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "90")
    show_plan(team["backend"], [])
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 90


def test_a_pipe_gets_the_full_table(team, monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    show_plan(team["backend"], [team["docs"]])
    out = capsys.readouterr().out
    assert "hidden to fit" not in out and "prefix" in out


def test_the_legend_explains_bp_and_the_hashes(team):
    out = " ".join(shown(team["backend"]).split())
    assert "bp: the targets whose provider places a cache breakpoint after this segment" in out
    assert all(" ".join(line.split()) in out for line in LEGEND)


def test_history_is_shown_per_entry_not_as_user():
    plan = promptc.compile(SUPPORT)["support"]
    row = next(line for line in shown(plan).splitlines() if " history " in line)
    assert "per entry" in row and "user" not in row


def run_cli(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_show_takes_a_prompt_file_like_run(tmp_path):
    r = run_cli("show", str(SUPPORT / "support.prompt"))
    assert r.exit_code == 0, r.output
    assert "plan support" in r.output and "per entry" in r.output


def test_show_takes_a_project_and_a_plan_name():
    r = run_cli("show", str(TEAM), "--plan", "backend")
    assert r.exit_code == 0, r.output
    assert "plan backend" in r.output and "docs, frontend" in " ".join(r.output.split())
    r = run_cli("show", str(TEAM))
    assert r.exit_code == 2 and "declares 3 plans" in r.output and "--plan" in r.output


def test_show_still_takes_a_compiled_plan_with_its_siblings(team, tmp_path):
    for name, plan in team.items():
        (tmp_path / f"{name}.plan.json").write_text(plan.to_json(), encoding="utf-8")
    r = run_cli("show", str(tmp_path / "backend.plan.json"))
    assert r.exit_code == 0, r.output
    assert "docs, frontend" in " ".join(r.output.split())
