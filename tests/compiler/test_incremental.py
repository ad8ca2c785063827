"""`promptc build` is a no-op when nothing it read changed, and rebuilds whenever anything did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptc.cli import cli

REPO = Path(__file__).resolve().parents[2]


def build(root: Path, out: Path, *extra):
    """`promptc build` in-process (the CLI end to end, without a subprocess per build)."""
    r = CliRunner().invoke(cli, ["build", str(root), "--out", str(out), *extra])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture()
def team(tmp_path):
    dst = tmp_path / "team"
    shutil.copytree(REPO / "examples" / "team", dst, ignore=shutil.ignore_patterns("promptc.lock", ".promptc"))
    (dst / "shared.prompt").write_text((dst / "shared.prompt").read_text().replace(
        '{% include "std/style/concise.md" %}', '{% include "style.md" %}'))
    (dst / "style.md").write_text("Be brief.\n")
    return dst


def edit(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a distinct mtime even on coarse clocks


@pytest.mark.parametrize("change", ["source", "include", "memory", "new_file", "pyproject", "output", "options"])
def test_rebuilds_exactly_when_an_input_changes(team, tmp_path, change):
    out = tmp_path / "out"
    assert "up to date" not in build(team, out)
    assert "up to date" in build(team, out)
    (team / "shared.prompt").touch()  # a new mtime with the same bytes is still a no-op
    assert "up to date" in build(team, out)
    extra = ()
    if change == "source":
        edit(team / "task.prompt", (team / "task.prompt").read_text().replace("Current file", "Open file"))
    elif change == "include":
        edit(team / "style.md", "Be very brief.\n")
    elif change == "memory":
        edit(team / "memory" / "docs.md", (team / "memory" / "docs.md").read_text() + "\nNew lesson.\n")
    elif change == "new_file":
        (team / "extra.prompt").write_text('global extra @static """x"""\nplan extra = extra\n')
    elif change == "pyproject":
        (team / "pyproject.toml").write_text('[tool.promptc.cache_limits."engine/"]\nmin_tokens = 2\n')
    elif change == "output":
        (out / "docs.plan.json").unlink()
    elif change == "options":
        extra = ("--align", "fix")
    stdout = build(team, out, *extra)
    assert "up to date" not in stdout
    assert (out / "docs.plan.json").is_file()
    assert "up to date" in build(team, out, *extra)


def test_check_mode_never_takes_the_shortcut(team, tmp_path):
    out = tmp_path / "out"
    build(team, out)
    (team / "promptc.lock").write_text((team / "promptc.lock").read_text().replace("sha256:", "sha256:0", 1))
    r = subprocess.run([sys.executable, "-m", "promptc.cli", "build", str(team), "--out", str(out), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 1
