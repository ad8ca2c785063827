"""Shape checks for the build cache under ``.promptc/cache`` (token cache files).

A cache file may be truncated, hand-edited or left by another version; anything that is not
exactly the expected shape is dropped (the entries are recomputed and the file is rewritten), so a
bad cache costs time once and never fails a build.
"""

from __future__ import annotations

import re

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def token_cache_entries(data: object) -> tuple[dict[str, list], dict[str, bool]]:
    """The usable ``(entries, boundaries)`` of a parsed token-cache file (format 2); malformed
    entries are left out, a malformed file gives two empty tables."""
    if not isinstance(data, dict) or data.get("format") != 2:
        return {}, {}
    raw_entries = data.get("entries")
    raw_bounds = data.get("boundaries")
    entries: dict[str, list] = {}
    if isinstance(raw_entries, dict):
        for key, e in raw_entries.items():
            if _entry_ok(e):
                entries[key] = e
    bounds = {k: v for k, v in raw_bounds.items() if isinstance(v, bool)} if isinstance(raw_bounds, dict) else {}
    return entries, bounds


def _entry_ok(e: object) -> bool:
    if not (isinstance(e, list) and len(e) == 2 and type(e[0]) is int and e[0] >= 0 and isinstance(e[1], str)):
        return False
    # 4 bytes per id, base64-encoded; checked without decoding (a no-op build reads only the counts)
    return len(e[1]) == 4 * -(-4 * e[0] // 3) and _B64.fullmatch(e[1]) is not None
