"""The incremental token cache: token counts and boundary verdicts per tokenizer, kept on disk.

Keys are derived from the tokenizer's digest and the sha256 of the text, so an unchanged segment is
never re-tokenized and a changed tokenizer never reuses a stale count. Only what a build reads is
stored: the count of each text and the verdict of each proven boundary (``True``: stable).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from promptc.compiler.cachefiles import token_cache_tables
from promptc.core import safewrite

#: Bumped whenever the file's layout changes; a file of another format is ignored (rebuilt).
FORMAT = 3


def text_key(text: str) -> str:
    """The cache key of a text (a truncated sha256: collisions are not a practical concern)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class TokenCache:
    """Token counts by text key and boundary verdicts, for one tokenizer; ``path`` None: memory only."""

    path: Path | None
    counts: dict[str, int] = field(default_factory=dict)
    boundaries: dict[str, bool] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: Path | None) -> "TokenCache":
        """The cache stored at ``path``; empty when the file is missing, unreadable or of another format."""
        if path is not None and path.is_file():
            try:
                counts, boundaries = token_cache_tables(json.loads(path.read_text(encoding="utf-8")), FORMAT)
                return cls(path, counts, boundaries)
            except (ValueError, OSError):
                pass  # unreadable: start empty; save() rewrites it
        return cls(path)

    def count(self, key: str) -> int | None:
        """The cached token count of the text with this key, or None."""
        return self.counts.get(key)

    def put(self, key: str, count: int) -> None:
        self.counts[key] = count
        self.dirty = True

    def stable(self, key: str) -> bool:
        """True when the boundary with this key was proven stable before."""
        return self.boundaries.get(key) is True

    def mark_stable(self, key: str) -> None:
        self.boundaries[key] = True
        self.dirty = True

    def save(self) -> None:
        """Write the cache when it changed (atomically); a read-only checkout only costs speed."""
        if self.path is None or not self.dirty:
            return
        try:
            safewrite.write_text(self.path, json.dumps({"format": FORMAT, "counts": self.counts,
                                                        "boundaries": self.boundaries},
                                                       separators=(",", ":"), sort_keys=True))
            self.dirty = False
        except OSError:
            pass
