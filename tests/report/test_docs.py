"""docs/report.md is executed: every command of its session runs for real, the terminal tree is
exactly what `promptc show --tree` prints, the CI workflow's report command runs and uploads the
file it writes, and the Python example works. The README shows the generated screenshot.

Regenerate the documented tree after an intentional change with
``PROMPTC_REGEN=1 pytest tests/report/test_docs.py``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from promptc.cli import main
from tests.report.conftest import REPO

DOC = REPO / "docs" / "report.md"
BLOCK = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```", re.S | re.M)


def block(lang: str, info: str) -> str:
    (body,) = [m.group(3) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))
               if m.group(1) == lang and m.group(2).strip() == info]
    return body


def promptc(argv: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str]:
    assert argv[0] == "promptc"
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", argv)
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


def project(tmp: Path, trace: Path) -> Path:
    """A git repository holding a copy of examples/team at examples/team, and a trace.jsonl."""
    shutil.copytree(REPO / "examples" / "team", tmp / "examples" / "team",
                    ignore=shutil.ignore_patterns(".promptc", "*.html"))
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=A", "-c", "user.email=a@promptc.invalid", "commit", "-qm", "team"]):
        subprocess.run(["git", *args], cwd=tmp, env=env, check=True, capture_output=True)
    shutil.copy(trace, tmp / "trace.jsonl")
    return tmp


def test_the_session_runs_and_the_tree_is_what_promptc_prints(tmp_path, trace_file, monkeypatch, capsys):
    root = project(tmp_path, trace_file)
    outputs = []
    for line in block("sh", "session").strip().split("\n"):
        argv = shlex.split(line)
        _, out = promptc(argv, root, monkeypatch, capsys)
        outputs.append(out)
        if "-o" in argv:
            page = (root / argv[argv.index("-o") + 1]).read_text(encoding="utf-8")
            assert out.strip() == f"wrote {argv[argv.index('-o') + 1]}" and 'id="map"' in page
            if "--against" in argv:
                assert 'id="impact"' in page
            if "--trace" in argv:
                assert 'id="runtime"' in page and "ttl_expired" in page
    tree = outputs[-1]
    documented = block("text", "tree")
    if os.environ.get("PROMPTC_REGEN"):
        DOC.write_text(DOC.read_text(encoding="utf-8").replace("```text tree\n" + documented, "```text tree\n" + tree),
                       encoding="utf-8")
        documented = tree
    assert tree == documented


def test_the_ci_workflow_writes_the_file_it_uploads(tmp_path, trace_file, monkeypatch, capsys):
    root = project(tmp_path, trace_file)
    (root / "prompts").symlink_to(root / "examples" / "team")
    steps = yaml.safe_load(block("yaml", "workflow"))["jobs"]["cache-report"]["steps"]
    (report,) = [s["run"] for s in steps if "promptc report" in s.get("run", "")]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert any(s.get("with", {}).get("fetch-depth") == 0 for s in steps)  # --against needs the base branch
    # the base branch of a pull request is a commit of this repository here
    argv = shlex.split(report.replace("origin/${{ github.base_ref }}", "HEAD"))
    promptc(argv, root, monkeypatch, capsys)
    assert (root / upload["with"]["path"]).is_file()


def test_the_python_example_runs(monkeypatch):
    monkeypatch.chdir(REPO)
    scope: dict = {}
    exec(block("python", ""), scope)
    assert scope["html"].startswith("<!DOCTYPE html>") and "repo_tools" in scope["html"]
    assert "= plan backend: static prefix" in scope["tree"]


def test_readme_shows_the_generated_screenshot():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/img/team-report.png)" in readme
    png = REPO / "docs" / "img" / "team-report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "scripts/report_screenshot.py" in readme and (REPO / "scripts" / "report_screenshot.py").is_file()
    # the README's report commands are the documented session's (run above)
    section = readme.split("## See the cache", 1)[1].split("\n## ", 1)[0]
    session = block("sh", "session")
    commands = [ln.split("#")[0].strip() for ln in section.split("\n") if ln.startswith("promptc ")]
    assert commands and all(c in session for c in commands)
    # the first two commands stay the README's first lines
    assert readme.split("\n")[3].startswith("bash scripts/demo.sh") and readme.split("\n")[4].startswith("bash scripts/test.sh")
