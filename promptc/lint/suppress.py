"""Intent: a cache reset that is meant must not fail CI forever.

* A comment directly above a segment (or plan) declaration acknowledges findings on it::

      # promptc: allow E901 — the new refund policy; one cache rewrite is expected
      global rules @static role system "..."

  Codes are comma-separated; the reason (after ``—``, ``--``, ``-`` or ``:``) is required, and a
  comment without one is itself a finding (W917) and suppresses nothing.
* Bumping ``cache_epoch`` in ``[tool.promptc]`` acknowledges a global reset: every cache-breaking
  finding against a baseline with a lower epoch is suppressed (git and directory baselines; a
  lockfile does not record the epoch).

Suppressed findings stay in the report (JSON, summary) with the reason; they do not fail the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptc.core.errors import Span
from promptc.lint import locate
from promptc.lint.model import Location
from promptc.lint.snapshot import Snapshot

ALLOW = re.compile(r"#\s*promptc:\s*allow\s+([A-Z]\d{3}(?:\s*,\s*[A-Z]\d{3})*)\s*(?:(?:—|–|--|-|:)\s*(.*?))?\s*$")


@dataclass(frozen=True)
class Allow:
    """One ``# promptc: allow`` comment."""

    codes: tuple[str, ...]
    reason: str
    location: Location


def allows_above(snap: Snapshot, span: Span | None) -> list[Allow]:
    """The allow comments in the comment block directly above ``span``'s first line."""
    if span is None:
        return []
    text = snap.text(span.path)
    if text is None:
        return []
    lines = text.split("\n")
    out = []
    n = span.line - 2
    while n >= 0 and lines[n].strip().startswith("#"):
        m = ALLOW.search(lines[n])
        if m:
            codes = tuple(c.strip() for c in m.group(1).split(","))
            col = lines[n].index("#") + 1
            out.append(Allow(codes, (m.group(2) or "").strip(), locate.at(snap, span.path, n + 1, col)))
        n -= 1
    return out


def epoch_reason(old: dict, new: dict, baseline_kind: str) -> str | None:
    """The suppression reason when ``cache_epoch`` was bumped since the baseline, else None."""
    if baseline_kind == "lock":
        return None
    a, b = old.get("cache_epoch"), new.get("cache_epoch")
    if b is None or (a is not None and b <= a):
        return None
    return f"cache_epoch bumped from {a if a is not None else 'unset'} to {b}: a global cache reset is acknowledged"
