"""``promptc fmt``: the canonical layout of a .prompt file.

The formatter re-lays out only what sits *between* tokens; it never touches a token's text:

* every string (template bodies, tool and input descriptions, entries) is copied byte for byte, so
  nothing a plan compiles from can change (``tests/fmt`` builds every example and the standard
  library before and after formatting and compares every segment hash and every plan byte but spans);
* one declaration per line; one space between words, none inside ``( ) [ ]`` or before ``, : ?``;
  ``= `` and ``, `` spaced; items of a ``{ ... }`` segment body one per line, indented four spaces;
  trailing commas dropped; trailing whitespace outside strings removed; LF line endings; no BOM;
  one final newline;
* comments stay where they are: a comment on its own line stays on its own line above the same
  declaration (so ``## doc`` comments keep documenting their segment), an end-of-line comment stays
  at the end of its line; runs of blank lines collapse to one;
* a declaration with a comment *inside* it (between two of its tokens, not at a line end we keep)
  is copied verbatim: there is no canonical place for such a comment, and moving it could detach it.

The layout is a function of the token sequence, the comments and where blank lines were, so
formatting twice equals formatting once. A file with syntax errors is not formatted (its
diagnostics are returned instead). Files are read and written through the build's
:class:`~promptc.compiler.confine.FileGuard`: a symlink leading out of the project is refused (E801)
and never written through.

The layout is hand-written over lark's parse tree rather than delegated to a pretty-printer library:
no maintained formatter library knows this grammar, and keeping string tokens verbatim is the whole
point, which a reconstructing printer (``lark.reconstruct``) does not promise for ignored comments.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree

from promptc.compiler.confine import FileGuard, FileRefused, project_root
from promptc.compiler.sources import find_project_root
from promptc.core import safewrite
from promptc.core.errors import Diagnostic, Span
from promptc.core.resources import grammar_path
from promptc.syntax.parser import parse_source

INDENT = "    "

# Tokens that take no space before them / after them.
_NO_SPACE_BEFORE = {",", ")", "]", ":", "?", ".", "("}
_NO_SPACE_AFTER = {"(", "[", "@", "."}
_COMMENT = re.compile(r"#[^\n]*")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    # Immutable once built; the same grammar file as the parser, keeping every token so the layout
    # can be computed from the complete token sequence.
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", propagate_positions=True,
                maybe_placeholders=False, keep_all_tokens=True)


@dataclass
class FormatResult:
    """The formatted text (None when the source has syntax errors) and the parser's diagnostics."""

    text: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass(frozen=True)
class _Comment:
    text: str
    start: int  # offset in the source
    line: int
    trailing: bool  # on the same line as the token before it


def _tokens(tree: Tree) -> list[Token]:
    return sorted((t for t in tree.scan_values(lambda v: isinstance(v, Token))), key=lambda t: t.start_pos)


def _join(tokens: list[Token]) -> str:
    """Tokens laid out on one line (strings verbatim, possibly spanning lines)."""
    out: list[str] = []
    prev: Token | None = None
    kept = [t for i, t in enumerate(tokens)
            if not (str(t) == "," and i + 1 < len(tokens) and str(tokens[i + 1]) in (")", "}", "]"))]
    for t in kept:
        s = str(t)
        if prev is not None:
            p = str(prev)
            tight = s in _NO_SPACE_BEFORE or p in _NO_SPACE_AFTER or (s == "[" and p == "list")
            if not tight:
                out.append(" ")
        out.append(s)
        prev = t
    return "".join(out)


class _Layout:
    def __init__(self, text: str, tokens: list[Token]):
        self.text = text
        self.comments: list[_Comment] = []
        # Comments live only in the gaps between tokens (the grammar ignores them).
        prev_end, prev_line = 0, 0
        for t in tokens + [None]:
            start = t.start_pos if t is not None else len(text)
            for m in _COMMENT.finditer(text, prev_end, start):
                line = text.count("\n", 0, m.start()) + 1
                self.comments.append(_Comment(m.group().rstrip(), m.start(), line, prev_line == line))
            if t is not None:
                prev_end, prev_line = t.end_pos, t.end_line
        self.lines: list[str] = []

    def comments_between(self, a: int, b: int) -> list[_Comment]:
        return [c for c in self.comments if a <= c.start < b]

    def blank_between(self, a: int, b: int) -> bool:
        """A blank line somewhere in text[a:b] (a gap between tokens and comments)."""
        return re.search(r"\n[ \t]*\n", self.text[a:b]) is not None

    def emit_leading(self, comments: list[_Comment], start: int, indent: str) -> None:
        """Own-line comments before a unit starting at offset ``start``; a blank line between two of
        them, or between the last one and the unit, is kept (as one)."""
        pos = None
        for c in comments:
            if pos is not None and self.blank_between(pos, c.start):
                self.lines.append("")
            self.lines.append(indent + c.text)
            pos = c.start + len(c.text)
        if pos is not None and self.blank_between(pos, start):
            self.lines.append("")


def format_source(text: str, path: str = "<input>") -> FormatResult:
    """The canonical layout of ``text`` (a whole .prompt file), or its syntax diagnostics."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as the compiler reads it
    module, diags = parse_source(text, path)
    if module is None:
        return FormatResult(None, diags)
    tree = _lark().parse(text)
    tokens = _tokens(tree)
    lay = _Layout(text, tokens)
    items = [ch for ch in tree.children if isinstance(ch, Tree)]
    prev_end = 0
    for index, item in enumerate(items):
        toks = _tokens(item)
        start, end = toks[0].start_pos, toks[-1].end_pos
        before = lay.comments_between(prev_end, start)
        trailing_prev = [c for c in before if c.trailing]
        if trailing_prev and lay.lines:
            lay.lines[-1] += "  " + trailing_prev[0].text
        leading = [c for c in before if not c.trailing]
        if index > 0:
            gap_start = prev_end if not trailing_prev else trailing_prev[0].start + len(trailing_prev[0].text)
            first_at = leading[0].start if leading else start
            if lay.blank_between(gap_start, first_at):
                lay.lines.append("")
        lay.emit_leading(leading, start, "")
        _item(lay, item, toks)
        prev_end = end
    tail = lay.comments_between(prev_end, len(text))
    for c in tail:
        if c.trailing and lay.lines:
            lay.lines[-1] += "  " + c.text
        else:
            if lay.lines and lay.blank_between(prev_end, c.start):
                lay.lines.append("")
            lay.lines.append(c.text)
        prev_end = c.start + len(c.text)
    out = "\n".join(lay.lines)
    return FormatResult(out + "\n" if out else "", diags)


def _inside(lay: _Layout, toks: list[Token]) -> bool:
    """True when a comment sits between two of ``toks``."""
    return bool(lay.comments_between(toks[0].start_pos, toks[-1].end_pos))


def _item(lay: _Layout, item: Tree, toks: list[Token]) -> None:
    block = next((ch for ch in item.children if isinstance(ch, Tree) and ch.data == "block_body"), None)
    if block is None:
        if _inside(lay, toks):
            lay.lines.extend(lay.text[toks[0].start_pos:toks[-1].end_pos].split("\n"))
            return
        lay.lines.extend(_join(toks).split("\n"))
        return
    btoks = _tokens(block)
    open_, close = btoks[0], btoks[-1]
    header = [t for t in toks if t.start_pos < open_.start_pos]
    if _inside(lay, header + [open_]):
        lay.lines.extend(lay.text[toks[0].start_pos:toks[-1].end_pos].split("\n"))
        return
    units = [ch for ch in block.children if isinstance(ch, Tree)]
    unit_toks = [_tokens(u) for u in units]
    if any(_inside(lay, ut) for ut in unit_toks):
        lay.lines.extend(lay.text[toks[0].start_pos:toks[-1].end_pos].split("\n"))
        return
    lay.lines.extend((_join(header) + " {").split("\n"))
    prev_end = open_.end_pos
    for n, ut in enumerate(unit_toks):
        before = lay.comments_between(prev_end, ut[0].start_pos)
        trailing = [c for c in before if c.trailing]
        if trailing:
            lay.lines[-1] += "  " + trailing[0].text
        leading = [c for c in before if not c.trailing]
        gap_start = prev_end if not trailing else trailing[0].start + len(trailing[0].text)
        first_at = leading[0].start if leading else ut[0].start_pos
        if n > 0 and lay.blank_between(gap_start, first_at):
            lay.lines.append("")
        lay.emit_leading(leading, ut[0].start_pos, INDENT)
        lay.lines.extend((INDENT + _join(ut)).split("\n"))
        prev_end = ut[-1].end_pos
    for c in lay.comments_between(prev_end, close.start_pos):
        if c.trailing:
            lay.lines[-1] += "  " + c.text
        else:
            lay.lines.append(INDENT + c.text)
    lay.lines.append("}")


# -- files ------------------------------------------------------------------------------------------

@dataclass
class FileOutcome:
    """What formatting one file found: ``changed`` (it was, or in check mode would be, rewritten),
    ``diagnostics`` (syntax errors or a refusal: the file was left alone)."""

    path: Path
    changed: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _files(paths: list[Path]) -> tuple[list[Path], list[Diagnostic]]:
    files, diags = [], []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.prompt")
                                if not any(part.startswith(".") for part in q.relative_to(p).parts)))
        elif p.exists() or p.is_symlink():
            files.append(p)
        else:
            diags.append(Diagnostic("E127", f"no such file or directory: {p}", None,
                                    "pass a directory of .prompt files or a .prompt file"))
    return files, diags


def format_files(paths, *, check: bool = False) -> tuple[list[FileOutcome], list[Diagnostic]]:
    """Format the .prompt files under ``paths`` in place (``check``: write nothing).

    Each file is read through a :class:`FileGuard` rooted at its project (the nearest directory with
    ``promptc.lock`` or ``[tool.promptc]``, else the directory given): a file whose real path lies
    outside it (a symlink out of the project) is refused with E801 and never written. Writes go to
    the checked real path through :mod:`promptc.core.safewrite` (a temporary file renamed over it),
    so a half-written file is never left behind. Returns the per-file outcomes and the diagnostics about ``paths`` themselves.
    """
    files, diags = _files([Path(p) for p in paths])
    outcomes = []
    for f in files:
        base = f if f.is_dir() else f.parent
        given = next((Path(p) for p in paths if Path(p).is_dir() and _under(f, Path(p))), base)
        root = find_project_root(given) or given.resolve()
        guard = FileGuard(project_root(root))
        outcome = FileOutcome(f)
        outcomes.append(outcome)
        try:
            real = guard.check(f, str(f))
            data = guard.read_bytes(f, str(f))
        except FileRefused as exc:
            outcome.diagnostics.append(exc.diagnostic(Span(str(f), 1, 1)))
            continue
        except FileNotFoundError:
            outcome.diagnostics.append(Diagnostic("E127", f"no such file or directory: {f}", None,
                                                  "pass a directory of .prompt files or a .prompt file"))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            outcome.diagnostics.append(Diagnostic("E005", f"{f} is not UTF-8 text ({exc.reason} at byte {exc.start})",
                                                  Span(str(f), 1, 1), "save the file as UTF-8"))
            continue
        result = format_source(text, str(f))
        if result.text is None:
            outcome.diagnostics.extend(d for d in result.diagnostics if d.is_error)
            continue
        new = result.text.encode("utf-8")
        if new == data:
            continue
        outcome.changed = True
        if not check:
            _replace(real, new, guard.root)
    return outcomes, diags


def _under(f: Path, d: Path) -> bool:
    try:
        f.relative_to(d)
        return True
    except ValueError:
        return False


def _replace(real: Path, data: bytes, root: Path) -> None:
    """Write ``data`` over the (already confined, real) file ``real`` through
    :mod:`promptc.core.safewrite` (a fresh temporary file renamed over it), keeping its mode."""
    mode = os.stat(real).st_mode & 0o7777
    safewrite.write_bytes(real, data, root, mkdir=False)
    os.chmod(real, mode)


__all__ = ["FileOutcome", "FormatResult", "format_files", "format_source"]
