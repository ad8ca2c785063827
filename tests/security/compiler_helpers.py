"""Helpers for the hostile-input suite: small projects written into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

SECRET = "TOP-SECRET-7f3a9c: do not leak"


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A directory outside the project holding files whose content must never appear anywhere."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.prompt").write_text(f"{SECRET}\n", encoding="utf-8")
    (d / "secret.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    (d / "shared.prompt").write_text('global shared @static role system """\nShared rules.\n"""\n', encoding="utf-8")
    return d


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    return d


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def static(body: str, name: str = "rules") -> str:
    """A module with one static system segment ``name`` with ``body`` and plan ``p`` using it."""
    return f'global {name} @static role system """\n{body}\n"""\n\nplan p = {name}\n'
