"""Diagnostics and the exception hierarchy.

Every user mistake becomes a :class:`Diagnostic` with a stable code, a location (a source span or a
field path) and a hint. Diagnostics render rustc/ruff style::

    error[E201]: stability decreases along plan `backend`: ...
      --> examples/team/backend.prompt:12:22
       |
    12 | plan backend = turn, rules
       |                      ^^^^^
       = hint: move `rules` before every turn segment

All exceptions the library raises for user mistakes derive from :class:`PromptcError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; ``end_col`` is exclusive."""

    path: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def to_json(self) -> dict:
        return {"path": self.path, "line": self.line, "col": self.col,
                "end_line": self.end_line or self.line, "end_col": self.end_col or self.col + 1}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable code, a severity, a message, a location and a hint.

    ``excerpt`` is the source line at ``span.line``, captured when the source is known (the parser
    sets it; the compiler attaches it with :func:`with_excerpts`), so rendering needs no global state.
    """

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: str = "error"  # "error" | "warning"
    notes: tuple[str, ...] = field(default=())
    excerpt: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        s = self.span
        return (s.path, s.line, s.col) if s else ("", 0, 0), self.code, self.message

    def render(self) -> str:
        """Render as text with a caret excerpt when the source is known."""
        out = [f"{self.severity}[{self.code}]: {printable(self.message)}"]
        if self.span is not None:
            s = self.span
            out.append(f"  --> {printable(str(s))}")
            src = self.excerpt
            if src is not None:
                src = printable(src)  # user text: escaped before it is measured for the caret
                gutter = " " * len(str(s.line))
                width = 1
                if s.end_line in (0, s.line) and s.end_col > s.col:
                    width = s.end_col - s.col
                elif s.end_line > s.line:
                    width = max(1, len(src) - s.col + 1)
                src, start = _window(src, s.col)
                col = s.col - start
                width = max(1, min(width, len(src) - col + 1))
                out.append(f" {gutter} |")
                out.append(f" {s.line} | {src}")
                out.append(f" {gutter} | {' ' * (col - 1)}{'^' * width}")
        for note in self.notes:
            out.append(f"   = note: {printable(note)}")
        if self.hint:
            out.append(f"   = hint: {printable(self.hint)}")
        return "\n".join(out)

    def relocated(self, display: Callable[[str], str]) -> "Diagnostic":
        """The same finding with every path (the span's and ``path:line:col`` in notes) mapped by
        ``display``: the CLI shows paths relative to the current directory, while the compiler keeps
        them relative to the project root (plans and locks record those)."""
        span = replace(self.span, path=display(self.span.path)) if self.span else None
        notes = tuple(relocate_note(n, display) for n in self.notes)
        return replace(self, span=span, notes=notes)

    def to_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "span": self.span.to_json() if self.span else None, "hint": self.hint,
                "notes": list(self.notes)}


#: Characters a terminal or a CI log interprets rather than shows: C0 controls but the tab (a newline
#: would start a line of its own, e.g. a GitHub ``::warning`` command; ESC, BEL and CR drive the
#: terminal), DEL and C1 controls, line/paragraph separators and bidirectional overrides
#: ("Trojan source" reordering).
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(s: str) -> str:
    """``s`` with every character of :data:`_UNPRINTABLE` written as a visible escape
    (``\\n``, ``\\x1b``, ``\\u202e``): safe to print to a terminal or a CI log."""
    def esc(m: re.Match) -> str:
        c = m.group()
        return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return _UNPRINTABLE.sub(esc, s)


#: Excerpts show at most this many characters of a line: a window around the column.
EXCERPT_WIDTH = 120


def _window(line: str, col: int) -> tuple[str, int]:
    """``line`` clipped to :data:`EXCERPT_WIDTH` characters around ``col`` (1-based), and how many
    characters were cut at the start (an ellipsis marks each cut)."""
    if len(line) <= EXCERPT_WIDTH:
        return line, 0
    start = max(0, min(col - 1 - EXCERPT_WIDTH // 3, len(line) - EXCERPT_WIDTH))
    clipped = line[start:start + EXCERPT_WIDTH]
    if start + EXCERPT_WIDTH < len(line):
        clipped += "…"
    if start:
        return "…" + clipped, start - 1
    return clipped, 0


_TOKEN = re.compile(r"[^\s`'\"]+")  # a plain class: each character is in one token, linear


def note_locations(note: str) -> tuple[list[tuple[int, int, int]], int]:
    """The ``path.prompt:LINE:COL`` locations in ``note`` as ``(start, path_end, end)`` offsets,
    and the characters examined (``steps``).

    The same matches as ``[^\\s`'"]+\\.prompt:\\d+:\\d+`` (leftmost, greedy: the path runs to the
    last ``.prompt:LINE:COL`` of its token), found in linear time: that regular expression
    backtracked quadratically over a long token (a 60k-character identifier in a note took 16 s)."""
    found, steps = [], 0
    for tok in _TOKEN.finditer(note):
        start, stop = tok.span()
        steps += stop - start
        end = stop
        while True:
            k = note.rfind(".prompt:", start + 1, end)
            if k < 0:
                break
            steps += end - k
            j, ok = k + 8, False
            d = j
            while d < stop and note[d].isdecimal():
                d += 1
            if d > j and d < stop and note[d] == ":":
                e = d + 1
                while e < stop and note[e].isdecimal():
                    e += 1
                steps += e - j
                if e > d + 1:
                    found.append((start, k + 7, e))
                    break
            end = k + 7  # an earlier ".prompt:" may still match
    return found, steps


def relocate_note(note: str, display: Callable[[str], str]) -> str:
    """``note`` with the path of each ``path.prompt:LINE:COL`` mapped by ``display``."""
    out, last = [], 0
    for start, path_end, end in note_locations(note)[0]:
        out += [note[last:start], display(note[start:path_end]), note[path_end:end]]
        last = end
    return "".join(out) + note[last:]


def source_line(text: str, line: int) -> str | None:
    """Line ``line`` (1-based) of ``text`` without its line ending, or None when out of range."""
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip("\r")
    return None


def with_excerpts(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> list[Diagnostic]:
    """Attach the source line under each diagnostic's span, from ``sources`` (display path → text)."""
    out = []
    for d in diagnostics:
        if d.excerpt is None and d.span is not None and d.span.path in sources:
            d = replace(d, excerpt=source_line(sources[d.span.path], d.span.line))
        out.append(d)
    return out


def relative_to_cwd(root: str | os.PathLike, cwd: str | os.PathLike | None = None) -> Callable[[str], str]:
    """A path mapper for :meth:`Diagnostic.relocated`: a path relative to ``root`` becomes relative
    to ``cwd`` (default: the current directory). ``std/...`` paths name the standard library and stay."""
    base = os.path.abspath(cwd if cwd is not None else os.getcwd())

    def display(path: str) -> str:
        if path.startswith("std/") or os.path.isabs(path):
            return path
        return os.path.relpath(os.path.join(os.fspath(root), path), base).replace(os.sep, "/")

    return display


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n\n".join(d.render() for d in diagnostics)


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return sorted(set(diagnostics), key=Diagnostic.sort_key)


class PromptcError(Exception):
    """Root of every error promptc raises for a user mistake."""

    code = "E000"


class CompileError(PromptcError):
    """Compilation failed; ``diagnostics`` holds every finding (errors and warnings)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted_diagnostics(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        self.code = errors[0].code if errors else "E000"
        super().__init__(render_all(errors or self.diagnostics))


class InputError(PromptcError):
    """Inputs given to ``Plan.bind`` or ``Session.render`` are missing or of the wrong type.

    ``errors`` is a list of ``(field_path, message)``.
    """

    code = "E401"

    def __init__(self, plan: str, errors: list[tuple[str, str]]):
        self.plan = plan
        self.errors = errors
        lines = [f"error[{self.code}]: invalid inputs for plan `{plan}`"]
        for path, msg in errors:
            lines.append(f"  - {path}: {msg}")
        super().__init__("\n".join(lines))


class AppendOnlyError(PromptcError):
    """An append-only segment changed somewhere other than at its end between turns."""

    code = "E402"


class PlanFormatError(PromptcError):
    """A plan file is unreadable, malformed, inconsistent or from an incompatible format version.

    ``load_plan`` verifies a plan before returning it; each reason has its own code (E403–E418,
    see ``promptc explain``). ``where`` is the field path of the offending value (``segments[2].hash``),
    or ``None`` when the whole file is at fault.
    """

    code = "E403"

    def __init__(self, message: str, code: str | None = None, where: str | None = None, hint: str | None = None):
        if code is not None:
            self.code = code
        self.where, self.hint = where, hint
        self.reason = message
        text = message if message.startswith("error[") else f"error[{self.code}]: {message}"
        if where:
            text += f"\n  --> {where}"
        if hint:
            text += f"\n   = hint: {hint}"
        super().__init__(text)


class RenderError(PromptcError):
    """A template failed while rendering a session or turn segment (``10 // n`` with ``n = 0``, text that is
    not valid Unicode, a missing attribute): the segment and the template's own message are named."""

    code = "E419"



__all__ = ["AppendOnlyError", "CompileError", "Diagnostic", "InputError", "PlanFormatError", "PromptcError",
           "RenderError", "Span", "note_locations", "printable", "relative_to_cwd", "relocate_note", "render_all",
           "sorted_diagnostics", "source_line", "with_excerpts"]
