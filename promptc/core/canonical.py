"""Canonical JSON, the one byte form every hash, plan and lock is built from (DESIGN.md §3.1)."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (not ASCII-escaped), no NaN/Infinity."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
