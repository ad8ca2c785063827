"""A regular (non-editable) install carries the grammar and the standard library inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_grammar_and_stdlib_and_works_from_anywhere(tmp_path):
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("promptc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "promptc/_data/grammar/promptc.lark" in names
    assert "promptc/_data/stdlib/tools/filesystem.prompt" in names
    assert "promptc/_data/stdlib/style/concise.md" in names

    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    code = ("import promptc, promptc.core.resources as r; "
            "assert r.data_dir().name == '_data', r.data_dir(); "
            f"b = promptc.compile({str(REPO / 'examples' / 'stdlib_tour')!r}); print(sorted(b.plans))")
    env = dict(os.environ, PYTHONPATH=str(site))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['reviewer']"
