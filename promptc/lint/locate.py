"""Locations of changes: the first changed line of a segment, an include, an append-only entry.

Everything here reads source text through :class:`Snapshot` (the baseline's text comes from its
extracted tree); when a side has no sources (a lockfile), the location falls back to the segment's
declaration in the other side.
"""

from __future__ import annotations

import difflib
import posixpath
import re

from promptc.lint.model import Location
from promptc.lint.snapshot import SegView, Snapshot

INCLUDE = re.compile(r"""\{%-?\s*include\s+["']([^"']+)["']""")
FROM_FILE = re.compile(r"""\bfrom\s+"([^"]+)\"""")


def _lines(snap: Snapshot | None, path: str) -> list[str] | None:
    text = snap.text(path) if snap is not None else None
    return text.split("\n") if text is not None else None


def at(snap: Snapshot | None, path: str, line: int, col: int = 1, end_col: int | None = None,
       side: str = "new") -> Location:
    """A location with the source line as excerpt (when the text is known)."""
    lines = _lines(snap, path)
    excerpt = lines[line - 1].rstrip("\r") if lines and 1 <= line <= len(lines) else None
    if end_col is None:
        end_col = (len(excerpt) + 1) if excerpt is not None else col + 1
    return Location(path=path, line=line, col=col, end_line=line, end_col=max(end_col, col + 1), side=side,
                    excerpt=excerpt)


def declaration(snap: Snapshot | None, seg: SegView, side: str = "new") -> Location | None:
    """The first line of a segment's declaration."""
    if seg.span is None:
        return None
    return at(snap, seg.span.path, seg.span.line, seg.span.col, side=side)


def decl_lines(snap: Snapshot | None, seg: SegView | None) -> list[str] | None:
    if seg is None or seg.span is None:
        return None
    lines = _lines(snap, seg.span.path)
    if lines is None:
        return None
    return lines[seg.span.line - 1: (seg.span.end_line or seg.span.line)]


def first_change(old_snap: Snapshot | None, old: SegView | None, new_snap: Snapshot, new: SegView) -> Location | None:
    """The first changed line inside the segment's declaration (new side; baseline side for a pure
    deletion at the end), or None when the declarations are identical."""
    a, b = decl_lines(old_snap, old), decl_lines(new_snap, new)
    if b is None:
        return None
    if a is None:
        return declaration(new_snap, new)
    if a == b:
        return None
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if j1 < j2:  # a changed or inserted line in the new source
            col, end = 1, None
            if i1 < i2:
                old_line, new_line = a[i1], b[j1]
                col = next((k + 1 for k, (x, y) in enumerate(zip(old_line, new_line)) if x != y),
                           min(len(old_line), len(new_line)) + 1)
                suffix = 0
                while suffix < min(len(old_line), len(new_line)) - col + 1 and \
                        old_line[len(old_line) - 1 - suffix] == new_line[len(new_line) - 1 - suffix]:
                    suffix += 1
                end = max(col + 1, len(new_line) - suffix + 1)
            return at(new_snap, new.span.path, new.span.line + j1, col, end)
        return at(old_snap, old.span.path, old.span.line + i1, side="baseline")  # lines deleted
    return None


def _resolve(module: str | None, name: str) -> str:
    base = posixpath.dirname(module or "")
    return posixpath.normpath(posixpath.join(base, name))


def changed_include(old_snap: Snapshot | None, new_snap: Snapshot, new: SegView) -> tuple[Location, str] | None:
    """The include (or ``from`` memory file) of ``new`` whose file differs between the two sides."""
    lines = decl_lines(new_snap, new)
    if lines is None or old_snap is None or old_snap.root is None:
        return None
    for k, line in enumerate(lines):
        for m in list(INCLUDE.finditer(line)) + list(FROM_FILE.finditer(line)):
            name = m.group(1)
            if name.startswith("std/"):
                continue
            rel = _resolve(new.module, name)
            if old_snap.text(rel) != new_snap.text(rel):
                return at(new_snap, new.span.path, new.span.line + k, m.start(1) + 1,
                          m.end(1) + 1), rel
    return None


def file_first_change(old_snap: Snapshot | None, new_snap: Snapshot, rel: str) -> Location | None:
    """The first changed line of a whole file (an included file)."""
    a, b = _lines(old_snap, rel), _lines(new_snap, rel)
    if a is None or b is None:
        return None
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            return at(new_snap, rel, j1 + 1) if j1 < len(b) else at(old_snap, rel, i1 + 1, side="baseline")
    return None


def entry_location(snap: Snapshot | None, seg: SegView, index: int, side: str) -> Location | None:
    """Where entry ``index`` of an append-only segment is written: the tool's line, the memory
    paragraph's line (in the memory file for ``from`` memories)."""
    lines = decl_lines(snap, seg)
    if lines is None:
        return None
    if seg.kind == "tools" and seg.labels and index < len(seg.labels):
        pat = re.compile(rf"^\s*{re.escape(seg.labels[index])}\s*\(")
        for k, line in enumerate(lines):
            if pat.match(line):
                col = len(line) - len(line.lstrip()) + 1
                return at(snap, seg.span.path, seg.span.line + k, col, side=side)
    if seg.kind == "memory" and seg.entry_texts and index < len(seg.entry_texts):
        first = seg.entry_texts[index].split("\n")[0].strip()
        for k, line in enumerate(lines):
            m = FROM_FILE.search(line)
            if m:
                rel = _resolve(seg.module, m.group(1))
                flines = _lines(snap, rel) or []
                for n, fl in enumerate(flines):
                    if fl.strip() == first:
                        return at(snap, rel, n + 1, side=side)
            if first and first in line:
                return at(snap, seg.span.path, seg.span.line + k, line.index(first) + 1, side=side)
    return declaration(snap, seg, side)
