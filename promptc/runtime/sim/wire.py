"""Small helpers shared by the simulator's routes."""

from __future__ import annotations

import json
from typing import Any


def canon(value: Any) -> str:
    """Canonical JSON (sorted keys, compact), the identity the simulator hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pieces(text: str, size: int = 8) -> list[str]:
    """``text`` in chunks, as streamed deltas."""
    return [text[i:i + size] for i in range(0, len(text), size)]
