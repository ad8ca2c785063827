"""Shape checks for the build cache under ``.promptc/cache`` (token cache files).

A cache file may be truncated, hand-edited or left by another version; anything that is not
exactly the expected shape is dropped (the entries are recomputed and the file is rewritten), so a
bad cache costs time once and never fails a build.
"""

from __future__ import annotations


def token_cache_tables(data: object, fmt: int) -> tuple[dict[str, int], dict[str, bool]]:
    """The usable ``(counts, boundaries)`` of a parsed token-cache file of format ``fmt``; malformed
    entries are left out, a malformed file (or another format) gives two empty tables."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        return {}, {}
    raw_counts = data.get("counts")
    raw_bounds = data.get("boundaries")
    counts = ({k: v for k, v in raw_counts.items() if type(v) is int and v >= 0}
              if isinstance(raw_counts, dict) else {})
    bounds = {k: v for k, v in raw_bounds.items() if v is True} if isinstance(raw_bounds, dict) else {}
    return counts, bounds
