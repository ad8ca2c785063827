"""Intent: a cache reset that is meant must not fail CI forever.

* A comment directly above a segment (or plan) declaration acknowledges findings on it::

      # promptc: allow E901 @3f9c0a1b2d4e — the new refund policy; one cache rewrite is expected
      global rules @static role system "..."

  Codes are comma-separated; the reason (after ``—``, ``--``, ``-`` or ``:``) is required, and a
  comment without one is itself a finding (W917) and suppresses nothing.
* An acknowledgement is bound to what it acknowledges: ``@HEX`` (8 to 64 hex digits, the start of
  the segment's new hash, printed in the finding's hint) binds it to those bytes; without ``@HEX``
  it is bound to the change it is committed with. Either way, a later change to the segment is
  reported again, with a note that an older acknowledgement exists (a hash that no longer matches,
  or a comment the baseline already had).
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

#: Only the start of a comment line is parsed: a pull request controls every byte of the file, and
#: the pattern below runs in time linear in what it is given (no nested or adjacent open repeats).
MAX_COMMENT = 1000
ALLOW = re.compile(r"#[ \t]*promptc:[ \t]*allow[ \t]+([A-Z]\d{3}(?:[ \t]*,[ \t]*[A-Z]\d{3})*)(?:[ \t]+@([0-9a-f]{8,64}))?")
SEPARATORS = ("—", "–", "--", "-", ":")


@dataclass(frozen=True)
class Allow:
    """One ``# promptc: allow`` comment."""

    codes: tuple[str, ...]
    reason: str
    location: Location
    hash: str | None = None  #: the start of the segment hash it acknowledges (``@HEX``)
    text: str = ""  #: the comment as written (to find it on the baseline side)


def parse_allow(line: str) -> tuple[tuple[str, ...], str | None, str] | None:
    """(codes, hash prefix, reason) of an allow comment line, or None."""
    head = line[:MAX_COMMENT]
    m = ALLOW.search(head)
    if m is None:
        return None
    rest = head[m.end():].strip()
    if rest and not rest.startswith(SEPARATORS):
        return None  # e.g. "allow E901x": not a suppression
    for sep in SEPARATORS:
        if rest.startswith(sep):
            rest = rest[len(sep):].strip()
            break
    return tuple(c.strip() for c in m.group(1).split(",")), m.group(2), rest


def _comment_block(snap: Snapshot, span: Span | None) -> list[tuple[int, str]]:
    """(0-based line number, text) of the comment lines directly above ``span``'s first line."""
    if span is None:
        return []
    text = snap.text(span.path)
    if text is None:
        return []
    lines = text.split("\n")
    out = []
    n = span.line - 2
    while 0 <= n < len(lines) and lines[n].strip().startswith("#"):
        out.append((n, lines[n]))
        n -= 1
    return out


def allows_above(snap: Snapshot, span: Span | None) -> list[Allow]:
    """The allow comments in the comment block directly above ``span``'s first line."""
    out = []
    for n, line in _comment_block(snap, span):
        parsed = parse_allow(line)
        if parsed is not None:
            codes, digest, reason = parsed
            col = line.index("#") + 1
            out.append(Allow(codes, reason, locate.at(snap, span.path, n + 1, col), digest, line.strip()))
    return out


def acknowledges(allow: Allow, seg_hash: str | None, old: Snapshot | None, old_span: Span | None) -> str | None:
    """None when ``allow`` acknowledges this change; else the note saying why an older
    acknowledgement does not cover it."""
    where = f"{allow.location.path}:{allow.location.line}"
    if allow.hash is not None:
        if seg_hash is not None and seg_hash.removeprefix("sha256:").startswith(allow.hash):
            return None
        return (f"an older acknowledgement exists ({where}, for bytes @{allow.hash}); the segment changed again "
                f"(now @{(seg_hash or '').removeprefix('sha256:')[:12]})")
    if old is not None and old.root is not None and old_span is not None and \
            any(line.strip() == allow.text for _, line in _comment_block(old, old_span)):
        return (f"an older acknowledgement exists ({where}, already in the baseline): it acknowledged an earlier "
                "change, not this one")
    return None


def epoch_reason(old: dict, new: dict, baseline_kind: str) -> str | None:
    """The suppression reason when ``cache_epoch`` was bumped since the baseline, else None."""
    if baseline_kind == "lock":
        return None
    a, b = old.get("cache_epoch"), new.get("cache_epoch")
    if b is None or (a is not None and b <= a):
        return None
    return f"cache_epoch bumped from {a if a is not None else 'unset'} to {b}: a global cache reset is acknowledged"
