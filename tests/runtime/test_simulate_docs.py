"""docs/providers.md, "Choosing a provider": the documented `promptc simulate` command prints exactly
the output shown, the numbers quoted in the prose are the command's, and the workload example loads."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from promptc import cli as cli_mod
from promptc.compiler.build import compile_project
from promptc.runtime.simulate import load_workload

REPO = Path(__file__).resolve().parents[2]
SECTION = (REPO / "docs" / "providers.md").read_text(encoding="utf-8").split(
    "## Choosing a provider: `promptc simulate`", 1)[1].split("\n## ", 1)[0]


def block(lang: str) -> str:
    (found,) = re.findall(rf"```{lang}\n(.*?)```", SECTION, flags=re.S)
    return found


def test_documented_command_prints_the_documented_output(monkeypatch):
    command, *expected = block("console").rstrip("\n").split("\n")
    assert command.startswith("$ promptc simulate ")
    monkeypatch.chdir(REPO)
    r = CliRunner().invoke(cli_mod.cli, shlex.split(command[2:])[1:])
    assert r.exit_code == 0, r.output
    assert r.stdout.rstrip("\n").split("\n") == expected
    # every percentage the prose quotes is in the table of the target its bullet names
    tables = {}
    for chunk in r.stdout.split("\n\n")[1:]:
        tables[chunk.split(":", 1)[0]] = chunk
    for bullet in re.findall(r"^- \*\*(.+?)\*\*(.*?)(?=^- |\Z)", SECTION.split("What the day says:", 1)[1],
                             flags=re.S | re.M):
        name, text = bullet
        table = next(t for k, t in tables.items() if k.split("/")[0] == name.lower() or k.endswith("/" + name))
        quoted = re.findall(r"-?\d+\.\d%", text)
        assert quoted, name
        for pct in quoted:
            assert re.search(rf"\s{re.escape(pct)}$", table, flags=re.M), (name, pct)


def test_documented_workload_file_loads(tmp_path):
    (tmp_path / "examples").symlink_to(REPO / "examples")  # the example's plans path, relative to the file
    path = tmp_path / "morning.json"
    path.write_text(block("json"), encoding="utf-8")

    def compile_sources(p: Path):
        result = compile_project([p]).raise_on_error()
        return result.root, result.plans

    w = load_workload(path, compile_sources=compile_sources)
    assert w.name == "morning"
    assert [(t.at, t.plan) for t in w.turns] == [(0.0, "backend"), (90.0, "frontend"), (810.0, "backend")]
    assert json.loads(block("json"))["plans"] == ["examples/team"]


def test_issue26_providers_day_is_the_documented_output(monkeypatch):
    """docs/providers.md, the Z.ai/Qwen/MiniMax/xAI/Mistral/Vertex section: the documented command
    prints exactly the table shown, and each percentage its bullets quote is in that provider's table."""
    text = (REPO / "docs" / "providers.md").read_text(encoding="utf-8")
    section = text.split("## Z.ai (GLM), Qwen (DashScope), MiniMax, xAI, Mistral and Claude on Vertex AI", 1)[1]
    section = section.split("\n## ", 1)[0]
    (found,) = re.findall(r"```console\n(.*?)```", section, flags=re.S)
    command, *expected = found.rstrip("\n").split("\n")
    monkeypatch.chdir(REPO)
    r = CliRunner().invoke(cli_mod.cli, shlex.split(command[2:])[1:])
    assert r.exit_code == 0, r.output
    assert r.stdout.rstrip("\n").split("\n") == expected
    tables = {chunk.split(":", 1)[0].split("/")[0]: chunk for chunk in r.stdout.split("\n\n")[1:]}
    names = {"Z.ai": "zai", "Qwen": "dashscope", "xAI": "xai", "Mistral": "mistral"}
    for bullet in re.findall(r"^- \*\*(.+?)\*\*(.*?)(?=^- |^The theoretical|\Z)", section.split("```", 2)[2],
                             flags=re.S | re.M):
        name, body = bullet
        if name in names:  # the MiniMax/Vertex bullet quotes no number of this table
            for pct in re.findall(r"-?\d+\.\d%", body):
                assert re.search(rf"\s{re.escape(pct)}(\s|$)", tables[names[name]], flags=re.M), (name, pct)
