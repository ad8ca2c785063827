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

from dataclasses import dataclass, field
from typing import Iterable


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


class SourceCache:
    """Remembers source text by display path so diagnostics can show caret excerpts lazily."""

    _texts: dict[str, str] = {}

    @classmethod
    def remember(cls, display_path: str, text: str) -> None:
        cls._texts[display_path] = text

    @classmethod
    def line(cls, display_path: str, line: int) -> str | None:
        text = cls._texts.get(display_path)
        if text is None:
            return None
        lines = text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        return None


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable code, a severity, a message, a location and a hint."""

    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: str = "error"  # "error" | "warning"
    notes: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        s = self.span
        return (s.path, s.line, s.col) if s else ("", 0, 0), self.code, self.message

    def render(self) -> str:
        """Render as text with a caret excerpt when the source is known."""
        out = [f"{self.severity}[{self.code}]: {self.message}"]
        if self.span is not None:
            s = self.span
            out.append(f"  --> {s}")
            src = SourceCache.line(s.path, s.line)
            if src is not None:
                gutter = " " * len(str(s.line))
                width = 1
                if s.end_line in (0, s.line) and s.end_col > s.col:
                    width = s.end_col - s.col
                elif s.end_line > s.line:
                    width = max(1, len(src) - s.col + 1)
                out.append(f" {gutter} |")
                out.append(f" {s.line} | {src}")
                out.append(f" {gutter} | {' ' * (s.col - 1)}{'^' * width}")
        for note in self.notes:
            out.append(f"   = note: {note}")
        if self.hint:
            out.append(f"   = hint: {self.hint}")
        return "\n".join(out)

    def to_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "span": self.span.to_json() if self.span else None, "hint": self.hint,
                "notes": list(self.notes)}


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
