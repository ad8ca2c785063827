"""`promptc report` and `promptc show --tree` on the command line: output, determinism, and a coded,
located error for every user mistake (E960–E962, and lint's E920 / the runtime's E508 reused)."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass

import pytest

from promptc.cli import main
from promptc.core.codes import lookup
from tests.report.conftest import REPO

TEAM = str(REPO / "examples" / "team")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys, monkeypatch):
    """The real entry point, main(), in-process: exit code, stdout and stderr (main() renders the errors)."""
    def call(*args: str, cwd=None, columns: str = "100") -> Result:
        monkeypatch.setenv("COLUMNS", columns)
        monkeypatch.chdir(cwd or REPO)
        monkeypatch.setattr(sys, "argv", ["promptc", *args])
        capsys.readouterr()
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return call


def test_report_writes_one_file_byte_identical_across_runs(run, tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    for out in (a, b):
        r = run("report", TEAM, "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"wrote {out}"
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    for needle in ("rules", "repo_tools", "backend_memory", "shared.prompt:21:1"):
        assert needle in text
    assert "://" not in text and "<link" not in text and "src=" not in text  # nothing outside the file


def test_without_paths_or_output_it_maps_the_enclosing_project_into_cache_report_html(run, tmp_path):
    project = tmp_path / "team"
    shutil.copytree(REPO / "examples" / "team", project, ignore=shutil.ignore_patterns(".promptc"))
    (project / "memory").mkdir(exist_ok=True)
    r = run("report", cwd=project / "memory")  # no PATHS: the project around the current directory
    assert r.returncode == 0, r.stderr
    assert (project / "memory" / "cache-report.html").is_file()


@pytest.mark.parametrize("args,code,where", [
    (["-o", "{tmp}"], "E960", "--output {tmp}: is a directory"),
    (["-o", "{tmp}/missing/r.html"], "E960", "the directory {tmp}/missing does not exist"),
    (["--target", "openai/gpt-5.6", "-o", "{tmp}/r.html"], "E961", "--target openai/gpt-5.6"),
    (["--trace", "{repo}/README.md", "-o", "{tmp}/r.html"], "E508", "README.md:1: not a trace record"),
    (["--trace", "{tmp}/nothing.jsonl", "-o", "{tmp}/r.html"], "E508", "cannot read trace"),
    (["--against", "no-such-ref", "-o", "{tmp}/r.html"], "E920", "`no-such-ref`"),
])
def test_user_mistakes_are_coded_usage_errors(run, tmp_path, args, code, where):
    args = [a.format(tmp=tmp_path, repo=REPO) for a in args]
    r = run("report", TEAM, *args)
    assert r.returncode == 2
    assert f"error[{code}]" in r.stderr and where.format(tmp=tmp_path) in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert lookup(code) is not None
    assert not (tmp_path / "r.html").exists()


def test_a_project_without_plans_is_e962(run, tmp_path):
    (tmp_path / "blocks.prompt").write_text('global rules @static role system """Be brief."""\n')
    r = run("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert r.returncode == 2 and "error[E962]" in r.stderr and str(tmp_path) in r.stderr
    r = run("show", "--tree", str(tmp_path))
    assert r.returncode == 2 and "error[E962]" in r.stderr


def test_a_project_that_does_not_compile_reports_its_diagnostics(run, tmp_path):
    (tmp_path / "bad.prompt").write_text("plan p = nothing\n")
    r = run("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert r.returncode == 1 and "error[E" in r.stderr and "Traceback" not in r.stderr


def test_show_tree_fits_the_width_and_names_every_plan(run):
    for width in ("50", "100"):
        r = run("show", "--tree", TEAM, "--width", width)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert all(len(line) <= int(width) for line in lines)
        for plan in ("backend", "docs", "frontend"):
            assert f"= plan {plan}: static prefix" in r.stdout


def test_show_tree_takes_the_terminal_width_from_columns(run):
    r = run("show", "--tree", TEAM, columns="64")
    assert r.returncode == 0 and max(len(x) for x in r.stdout.splitlines()) <= 64


def test_show_tree_of_a_compiled_plan_file_uses_its_siblings(run, tmp_path):
    r = run("build", TEAM, "--out", str(tmp_path / "plans"), "--lock", str(tmp_path / "promptc.lock"))
    assert r.returncode == 0, r.stderr
    tree = run("show", "--tree", str(tmp_path / "plans" / "docs.plan.json"), "--width", "120")
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout == run("show", "--tree", TEAM, "--width", "120").stdout


def test_show_tree_with_an_unknown_target_is_e961(run):
    r = run("show", "--tree", TEAM, "--target", "nope/nope")
    assert r.returncode == 2 and "error[E961]" in r.stderr and "engine/smollm2" in r.stderr


def test_the_page_is_the_same_bytes_under_any_hash_seed_and_cwd(tmp_path, trace_file):
    """Deterministic output (no timestamps, ids or set order): two processes, two PYTHONHASHSEEDs, two cwds."""
    import os
    import subprocess

    code = ("import hashlib, sys; from promptc.report import make_report; "
            f"sys.stdout.write(hashlib.sha256(make_report([{TEAM!r}], trace={str(trace_file)!r}).encode()).hexdigest())")
    digests = set()
    for seed, cwd in (("1", tmp_path), ("2", REPO)):
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, check=True)
        digests.add(r.stdout)
    assert len(digests) == 1 and len(digests.pop()) == 64
