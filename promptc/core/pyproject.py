"""The ONE reader of ``[tool.promptc]``: find the nearest ``pyproject.toml`` and return its table, or a
located, coded error (``E525``) when the file cannot be used — never silent defaults.

The compiler (:mod:`promptc.compiler.config`), the runtime (:mod:`promptc.runtime.config`) and lint
(:mod:`promptc.lint.config`) all read through :func:`read_tool_table`, so a broken ``pyproject.toml``
means the same thing to every command: not UTF-8, not TOML (with the line and column), or a ``tool`` /
``tool.promptc`` that is not a table.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptc.core.errors import Diagnostic, PromptcError, Span

CODE = "E525"
_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


class PyprojectError(PromptcError):
    """``E525``: a ``pyproject.toml`` that cannot be read as promptc's configuration."""

    code = CODE

    def __init__(self, path: Path, message: str, line: int | None = None, col: int | None = None):
        self.path, self.line, self.col, self.reason = path, line, col, message
        where = f"{path}:{line}:{col}" if line is not None else str(path)
        super().__init__(f"error[{CODE}]: {where}: {message}\n   = hint: fix the file (promptc reads its "
                         "[tool.promptc] table; every command refuses a broken one rather than using defaults)")

    def diagnostic(self, display: str | None = None) -> Diagnostic:
        span = Span(display or str(self.path), self.line or 1, self.col or 1)
        return Diagnostic(CODE, f"cannot read pyproject.toml: {self.reason}", span,
                          "fix the file: a broken pyproject.toml is never read as defaults")


@dataclass(frozen=True)
class ToolTable:
    """``[tool.promptc]`` of ``path`` (None: no pyproject.toml found, ``table`` empty) and the file's text."""

    table: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    text: str = ""


def find(start: Path, stop: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (not above ``stop`` when given)."""
    d = Path(start).resolve()
    stop = stop.resolve() if stop is not None else None
    while True:
        f = d / "pyproject.toml"
        if f.is_file():
            return f
        if d == stop or d.parent == d:
            return None
        d = d.parent


def parse(path: Path) -> ToolTable:
    """``[tool.promptc]`` of ``path``; :class:`PyprojectError` (E525) when the file is unusable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PyprojectError(path, f"cannot read it ({exc.strerror or type(exc).__name__})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PyprojectError(path, "it is not UTF-8", line, col) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _AT.search(str(exc))
        msg = _AT.sub("", str(exc)).strip() or "invalid TOML"
        raise PyprojectError(path, f"not valid TOML: {msg}", int(m.group(1)) if m else None,
                             int(m.group(2)) if m else None) from None
    except RecursionError:
        raise PyprojectError(path, "not valid TOML: nested too deeply") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise PyprojectError(path, "`tool` is not a table")
    table = tool.get("promptc", {})
    if not isinstance(table, dict):
        raise PyprojectError(path, "`tool.promptc` is not a table")
    return ToolTable(table, path, text)


def read_tool_table(start: Path, stop: Path | None = None) -> ToolTable:
    """``[tool.promptc]`` of the nearest ``pyproject.toml`` at or above ``start``; an empty table when there
    is none; :class:`PyprojectError` (E525) when the nearest one is broken."""
    path = find(start, stop)
    return ToolTable() if path is None else parse(path)
