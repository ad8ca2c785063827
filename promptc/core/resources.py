"""Locate the grammar and the standard library, installed (inside the wheel) or in a checkout."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # promptc/


@lru_cache(maxsize=None)
def data_dir() -> Path:
    """``promptc/_data`` in a wheel; the repository root in a source checkout."""
    installed = _PACKAGE_DIR / "_data"
    if (installed / "grammar").is_dir():
        return installed
    return _PACKAGE_DIR.parent


def grammar_path() -> Path:
    return data_dir() / "grammar" / "promptc.lark"


def stdlib_dir() -> Path:
    return data_dir() / "stdlib"
