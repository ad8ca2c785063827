"""lark parse tree → AST (:mod:`promptc.syntax.ast`), with located diagnostics for every mistake.

Each grammar rule has one Transformer method of the same name returning one AST dataclass (clauses
such as :class:`~promptc.syntax.ast.Annotation` for the parts of a declaration). Semantic checks the
grammar cannot express well happen here, so they are reported with the exact span and a hint:

* literals: string escapes (E004, E022), integer and float range (E021, E023);
* types: unknown names (E111), duplicate enum values and object fields (E124, E117), nesting depth
  (E020, checked before the transformer runs so deep input can never exhaust Python's stack);
* segments: the shape rules in :data:`SEGMENT_RULES`, one small function per rule.

Parsing is pure: :func:`parse_source` reads nothing but its arguments and keeps no state between
calls; every diagnostic carries its own source excerpt. A file with syntax errors (E0xx) yields no
module: every syntax error in it is reported, and nothing downstream reports their consequences.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from promptc.core.errors import Diagnostic, Span, source_line
from promptc.core.resources import grammar_path
from promptc.core.vocab import APPEND_ONLY_DEFAULT, ROLES, SIMPLE_TYPES, STABILITIES
from promptc.syntax import ast

#: Deepest allowed nesting of ``list[...]`` / ``object{...}`` types (E020). Real schemas nest a few levels.
MAX_TYPE_DEPTH = 32
#: Integer literals are 64-bit signed (E021): JSON consumers and tokenizers' APIs agree on that range.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_TOKEN_NAMES = {
    "NAME": "a name", "STRING": "a string", "LEVEL": "`global`, `agent` or `task`",
    "KIND": "a kind (`text`, `tools`, `memory`, `history`)", "SIGNED_NUMBER": "a number",
    "LPAR": "`(`", "RPAR": "`)`", "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`", "RSQB": "`]`",
    "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "AT": "`@`", "DOT": "`.`", "QMARK": "`?`",
    "OPTIONAL": "`?`", "$END": "end of file",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    # The compiled grammar is immutable and depends only on the packaged grammar file.
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", propagate_positions=True,
                maybe_placeholders=False)


class _Collector:
    """The state of one parse: the file's path and lines, and the diagnostics found so far."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.lines = text.split("\n")
        self.diagnostics: list[Diagnostic] = []

    def span(self, node) -> Span:
        if isinstance(node, Token):
            return Span(self.path, node.line, node.column, node.end_line or node.line,
                        node.end_column or node.column + len(node))
        m = node
        return Span(self.path, m.line, m.column, m.end_line, m.end_column)

    def raw(self, tok: Token) -> ast.RawString:
        return ast.RawString(str(tok), self.span(tok))

    def diagnostic(self, code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
        return Diagnostic(code, message, span, hint, excerpt=source_line(self.text, span.line))

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(self.diagnostic(code, message, span, hint))

    def doc_before(self, line: int) -> str | None:
        """``## doc`` comment lines directly above ``line``."""
        docs = []
        i = line - 2
        while i >= 0 and self.lines[i].lstrip().startswith("##"):
            docs.append(self.lines[i].lstrip()[2:].strip())
            i -= 1
        return "\n".join(reversed(docs)) if docs else None


# -- literals ---------------------------------------------------------------------------------------

def _string_value(s: ast.RawString, c: _Collector) -> str:
    """The value of a string literal: triple-quoted strings are raw, others use JSON escapes."""
    if s.triple:
        return s.raw[3:-3]
    try:
        value = json.loads(s.raw)
    except json.JSONDecodeError as exc:
        c.error("E004", f"invalid escape in string: {exc.msg}", s.span,
                "strings use JSON escapes (\\n, \\t, \\\", \\\\, \\uXXXX); use \"\"\"...\"\"\" for raw text")
        return s.raw[1:-1]
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        c.error("E022", "string escape encodes a lone surrogate (\\ud800-\\udfff), which is not text", s.span,
                "write the character itself, or a surrogate pair (\\ud83d\\ude00) for characters beyond U+FFFF")
        return s.raw[1:-1]
    return value


def _text_body(s: ast.RawString, c: _Collector) -> ast.TextBody:
    raw, span = s.raw, s.span
    if not s.triple:
        return ast.TextBody(_string_value(s, c), span, span.line, span.col + 1)
    inner = raw[3:-3]
    line, col = span.line, span.col + 3
    dropped = False
    if inner.startswith("\r\n"):
        inner, line, dropped = inner[2:], line + 1, True
    elif inner.startswith("\n"):
        inner, line, dropped = inner[1:], line + 1, True
    dedented = textwrap.dedent(inner)
    indent = 0
    for a, b in zip(inner.split("\n"), dedented.split("\n")):
        if b.strip():
            indent = len(a) - len(b)
            break
    if dropped:
        col = 1 + indent  # the template's first line starts after the removed indentation
    return ast.TextBody(dedented, span, line, col, indent)


def _number_value(tok: Token, c: _Collector) -> int | float | None:
    text, span = str(tok), c.span(tok)
    if any(ch in text for ch in ".eE"):
        value = float(text)
        if not math.isfinite(value):
            c.error("E023", f"number `{text[:20]}{'...' if len(text) > 20 else ''}` is out of the float range",
                    span, "a float default must be finite (about ±1.8e308)")
            return None
        return value
    digits = text.lstrip("+-")
    if len(digits) > 19 or not INT_MIN <= int(text) <= INT_MAX:  # length first: int() refuses >4300 digits
        c.error("E021", f"integer `{text[:20]}{'...' if len(text) > 20 else ''}` is out of range", span,
                "integers are 64-bit signed (-2**63 .. 2**63-1); use a string for longer numbers")
        return None
    return int(text)


# -- segment shape rules ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentParts:
    """A segment declaration as written, before its shape is checked."""

    level: str
    name: str
    annotation: ast.Annotation
    kind: str
    kind_span: Span | None
    role: ast.RoleClause | None
    body: ast.TextClause | ast.FromClause | ast.BlockClause | None
    span: Span

    @property
    def append_only(self) -> bool:
        return self.annotation.words[0] == "append_only"

    @property
    def stability(self) -> str:
        """The declared stability, or the kind's default for ``@append_only`` (unknown words: static)."""
        words = self.annotation.words
        if self.append_only:
            if len(words) == 2 and words[1] in STABILITIES:
                return words[1]
            return APPEND_ONLY_DEFAULT[self.kind]
        return words[0] if words[0] in STABILITIES else "static"


def rule_known_stability(p: SegmentParts, c: _Collector) -> None:
    """E007: the annotation is @static, @session, @turn, @append_only or @append_only(stability)."""
    words = p.annotation.words
    if p.append_only:
        if len(words) == 2 and words[1] not in STABILITIES:
            c.error("E007", f"unknown stability `{words[1]}` in `{p.annotation.text}`", p.annotation.span,
                    "write @append_only, or @append_only(static|session|turn)")
    elif words[0] not in STABILITIES or len(words) != 1:
        c.error("E007", f"unknown stability `{p.annotation.text}`", p.annotation.span,
                "segments are @static, @session, @turn or @append_only")


def rule_append_only_needs_kind(p: SegmentParts, c: _Collector) -> None:
    """E009: an @append_only segment says what grows: tools, memory or history."""
    if p.append_only and p.kind == "text":
        c.error("E009", "an @append_only segment needs a kind: tools, memory or history", p.annotation.span,
                f"write `{p.level} {p.name} @append_only memory ...`")


def rule_kind_is_append_only(p: SegmentParts, c: _Collector) -> None:
    """E010: tools, memory and history segments only grow at their end: they are @append_only."""
    if not p.append_only and p.kind != "text" and p.annotation.words[0] in STABILITIES:
        c.error("E010", f"a {p.kind} segment is append-only: annotate it `@append_only`", p.annotation.span,
                f"write `{p.level} {p.name} @append_only {p.kind} ...`")


def rule_known_role(p: SegmentParts, c: _Collector) -> None:
    """E011: roles are system, developer, user, assistant."""
    if p.role is not None and p.role.role not in ROLES:
        c.error("E011", f"unknown role `{p.role.role}`", p.role.span, "roles are system, developer, user, assistant")


def rule_has_body(p: SegmentParts, c: _Collector) -> None:
    """E012: every segment has a body, except history and a session/turn memory (bound at run time)."""
    if p.body is not None or p.kind == "history":
        return
    if p.kind == "memory" and p.append_only and p.stability != "static":
        return  # entries come from the input of the same name at run time
    hint = 'give it a text body """...""", a { ... } block, or `from "file"`'
    if p.kind == "memory":
        hint = ('give it entries { "..." } or `from "file"`, or write `@append_only(session) memory` '
                "to bind its entries at run time")
    c.error("E012", f"segment `{p.name}` has no body", p.span, hint)


def rule_text_body_fits_kind(p: SegmentParts, c: _Collector) -> None:
    """E013: tools and history segments take no text (tools are declared in a block)."""
    if p.kind not in ("tools", "history"):
        return
    strings = ([p.body.string] if isinstance(p.body, ast.TextClause) else
               [i for i in p.body.items if isinstance(i, ast.RawString)] if isinstance(p.body, ast.BlockClause) else [])
    for s in strings:
        c.error("E013", f"a {p.kind} segment cannot contain text", s.span,
                "declare tools as name(param: type \"desc\") \"description\"" if p.kind == "tools"
                else "history has no body: its entries are bound at run time")


def rule_from_is_memory(p: SegmentParts, c: _Collector) -> None:
    """E014: ``from "file"`` reads memory entries; text segments include files with {% include %}."""
    if isinstance(p.body, ast.FromClause) and p.kind != "memory":
        c.error("E014", "`from \"file\"` is only for memory segments", p.body.string.span,
                "use {% include \"file\" %} inside a text body")


def rule_inputs_in_text(p: SegmentParts, c: _Collector) -> None:
    """E015: only text segments (and files) declare inputs."""
    if isinstance(p.body, ast.BlockClause) and p.kind != "text":
        for item in p.body.items:
            if isinstance(item, ast.InputDecl):
                c.error("E015", f"inputs cannot be declared in a {p.kind} segment", item.span,
                        "declare inputs in a text segment or at file level")


def rule_tools_in_tools(p: SegmentParts, c: _Collector) -> None:
    """E016: tools are declared in a tools segment."""
    if isinstance(p.body, ast.BlockClause) and p.kind != "tools":
        for item in p.body.items:
            if isinstance(item, ast.ToolDecl):
                c.error("E016", f"tool `{item.name}` declared outside a tools segment", item.span,
                        f"write `{p.level} {p.name} @append_only tools {{ ... }}`")


def rule_one_template(p: SegmentParts, c: _Collector) -> None:
    """E017 and E018: a text segment's block holds exactly one template string."""
    if not isinstance(p.body, ast.BlockClause) or p.kind != "text":
        return
    strings = [i for i in p.body.items if isinstance(i, ast.RawString)]
    for extra in strings[1:]:
        c.error("E017", f"segment `{p.name}` has more than one text body", extra.span,
                "join them into one \"\"\"...\"\"\" string")
    if not strings:
        c.error("E018", f"segment `{p.name}` has no text body", p.span, 'add a """...""" string after the inputs')


def rule_tools_not_empty(p: SegmentParts, c: _Collector) -> None:
    """E019: a tools segment declares at least one tool."""
    if p.kind == "tools" and isinstance(p.body, ast.BlockClause):
        if not any(isinstance(i, ast.ToolDecl) for i in p.body.items):
            c.error("E019", f"tools segment `{p.name}` declares no tools", p.span, "declare at least one tool")


#: The segment shape rules, run in order on every segment declaration.
SEGMENT_RULES: tuple[Callable[[SegmentParts, _Collector], None], ...] = (
    rule_known_stability, rule_append_only_needs_kind, rule_kind_is_append_only, rule_known_role, rule_has_body,
    rule_text_body_fits_kind, rule_from_is_memory, rule_inputs_in_text, rule_tools_in_tools, rule_one_template,
    rule_tools_not_empty,
)


def _build_segment(p: SegmentParts, c: _Collector, doc: str | None, name_span: Span) -> ast.Segment:
    """The finished declaration: the body's parts sorted into text, inputs, tools and entries."""
    for rule in SEGMENT_RULES:
        rule(p, c)
    role = p.role.role if p.role is not None else ("user" if p.level == "task" else "system")
    text, inputs, tools, entries, from_file, from_span = None, [], [], [], None, None
    body = p.body
    if isinstance(body, ast.TextClause):
        if p.kind == "memory":
            entries.append(ast.Entry(_string_value(body.string, c).strip("\n"), body.string.span))
        elif p.kind == "text":
            text = _text_body(body.string, c)
    elif isinstance(body, ast.FromClause):
        from_file, from_span = _string_value(body.string, c), body.string.span
    elif isinstance(body, ast.BlockClause):
        for item in body.items:
            if isinstance(item, ast.InputDecl):
                inputs.append(item)
            elif isinstance(item, ast.ToolDecl):
                tools.append(item)
            elif p.kind == "memory":
                entries.append(ast.Entry(_string_value(item, c).strip("\n"), item.span))
            elif p.kind == "text" and text is None:
                text = _text_body(item, c)
    return ast.Segment(p.level, p.name, p.stability, p.append_only, p.kind, role, p.span, name_span, doc, text,
                       tuple(inputs), tuple(tools), tuple(entries), from_file, from_span)


# -- the transformer ---------------------------------------------------------------------------------

@v_args(meta=True)
class _ToAst(Transformer):
    """One method per grammar rule; each returns one AST dataclass."""

    def __init__(self, c: _Collector):
        super().__init__()
        self.c = c

    # -- types -------------------------------------------------------------------------------
    def named_type(self, meta, children):
        (name,) = children
        if str(name) not in SIMPLE_TYPES:
            self.c.error("E111", f"unknown type `{name}`", self.c.span(name),
                         "types are string, int, float, bool, enum(...), list[T], object{...}; add `?` for optional")
        return ast.TypeRef(str(name), self.c.span(name))

    def enum_type(self, meta, children):
        values = tuple(_string_value(self.c.raw(t), self.c) for t in children)
        if len(set(values)) != len(values):
            self.c.error("E124", "enum has duplicate values", self.c.span(meta), "list each value once")
        return ast.TypeRef("enum", self.c.span(meta), choices=values)

    def list_type(self, meta, children):
        return ast.TypeRef("list", self.c.span(meta), items=children[0])

    def field(self, meta, children):
        return ast.FieldDecl(str(children[0]), children[1], self.c.span(meta))

    def object_type(self, meta, children):
        seen: set[str] = set()
        for f in children:
            if f.name in seen:
                self.c.error("E117", f"object type declares field `{f.name}` twice", f.span, "rename one field")
            seen.add(f.name)
        return ast.TypeRef("object", self.c.span(meta), fields=tuple((f.name, f.type) for f in children))

    def type(self, meta, children):
        base = children[0]
        if len(children) > 1:
            return ast.TypeRef(base.name, base.span, True, base.items, base.choices, base.fields)
        return base

    # -- literals -------------------------------------------------------------------------------
    def string_lit(self, meta, children):
        return _string_value(self.c.raw(children[0]), self.c)

    def number_lit(self, meta, children):
        return _number_value(children[0], self.c)

    def true_lit(self, meta, children):
        return True

    def false_lit(self, meta, children):
        return False

    def none_lit(self, meta, children):
        return None

    def default(self, meta, children):
        return ast.Default(children[0], self.c.span(meta))

    # -- declarations -----------------------------------------------------------------------------
    def annotation(self, meta, children):
        return ast.Annotation(tuple(str(t) for t in children), self.c.span(meta))

    def input_decl(self, meta, children):
        name, typ = children[0], children[1]
        stability, default, has_default = None, None, False
        for extra in children[2:]:
            if isinstance(extra, ast.Annotation):
                if len(extra.words) != 1 or extra.words[0] not in STABILITIES:
                    self.c.error("E008", f"an input's stability must be @static, @session or @turn, not `{extra.text}`",
                                 extra.span, "inputs take @static, @session or @turn; omit it to inherit the segment's")
                else:
                    stability = extra.words[0]
            else:
                default, has_default = extra.value, True
        return ast.InputDecl(str(name), typ, self.c.span(meta), stability, default, has_default,
                             self.c.doc_before(meta.line))

    def param(self, meta, children):
        desc = _string_value(self.c.raw(children[2]), self.c) if len(children) > 2 else None
        return ast.Param(str(children[0]), children[1], desc, self.c.span(meta))

    def tool_decl(self, meta, children):
        name = children[0]
        params = tuple(ch for ch in children[1:] if isinstance(ch, ast.Param))
        descs = [ch for ch in children[1:] if isinstance(ch, Token)]
        desc = _string_value(self.c.raw(descs[0]), self.c) if descs else None
        seen = set()
        for p in params:
            if p.name in seen:
                self.c.error("E118", f"tool `{name}` declares parameter `{p.name}` twice", p.span, "rename one")
            seen.add(p.name)
        return ast.ToolDecl(str(name), params, desc, self.c.span(meta))

    def entry(self, meta, children):
        return self.c.raw(children[0])  # a template (text segment) or a memory entry: the segment decides

    def block_body(self, meta, children):
        return ast.BlockClause(tuple(children), self.c.span(meta))

    def text_body(self, meta, children):
        return ast.TextClause(self.c.raw(children[0]))

    def from_body(self, meta, children):
        return ast.FromClause(self.c.raw(children[0]))

    def kind(self, meta, children):
        return ast.KindClause(str(children[0]), self.c.span(meta))

    def role(self, meta, children):
        return ast.RoleClause(str(children[0]), self.c.span(children[0]))

    def segment(self, meta, children):
        level, name, annotation = children[0], children[1], children[2]
        kind = next((ch for ch in children[3:] if isinstance(ch, ast.KindClause)), None)
        role = next((ch for ch in children[3:] if isinstance(ch, ast.RoleClause)), None)
        body = next((ch for ch in children[3:] if isinstance(ch, (ast.TextClause, ast.FromClause, ast.BlockClause))),
                    None)
        parts = SegmentParts(str(level), str(name), annotation, kind.kind if kind else "text",
                             kind.span if kind else None, role, body, self.c.span(meta))
        return _build_segment(parts, self.c, self.c.doc_before(meta.line), self.c.span(name))

    def ref(self, meta, children):
        return ast.Ref(tuple(str(t) for t in children), self.c.span(meta))

    def plan(self, meta, children):
        name = children[0]
        refs = tuple(ch for ch in children[1:] if isinstance(ch, ast.Ref))
        targets = tuple((_string_value(self.c.raw(t), self.c), self.c.span(t))
                        for t in children[1:] if isinstance(t, Token))
        return ast.PlanDecl(str(name), refs, self.c.span(meta), self.c.span(name), targets,
                            self.c.doc_before(meta.line))

    def import_stmt(self, meta, children):
        alias = str(children[1]) if len(children) > 1 else None
        return ast.Import(_string_value(self.c.raw(children[0]), self.c), alias, self.c.span(meta))

    def target_stmt(self, meta, children):
        return ast.TargetDecl(tuple((_string_value(self.c.raw(t), self.c), self.c.span(t)) for t in children),
                              self.c.span(meta))

    def start(self, meta, children):
        module = ast.Module(self.c.path)
        for item in children:
            if isinstance(item, ast.Import):
                module.imports.append(item)
            elif isinstance(item, ast.TargetDecl):
                module.targets.append(item)
            elif isinstance(item, ast.InputDecl):
                module.inputs.append(item)
            elif isinstance(item, ast.Segment):
                module.segments.append(item)
            elif isinstance(item, ast.PlanDecl):
                module.plans.append(item)
        return module


# -- syntax errors ------------------------------------------------------------------------------------

def _describe(tok_type: str) -> str:
    if tok_type in _TOKEN_NAMES:
        return _TOKEN_NAMES[tok_type]
    if tok_type.isupper() and tok_type.isalpha():
        return f"`{tok_type.lower()}`"  # a keyword: ROLE → `role`
    return tok_type.lower()


def _expected(tokens) -> str:
    """Every expected token, keywords first (`role`, `from`, ...), then punctuation and names."""
    described = {_describe(t) for t in tokens}
    return ", ".join(sorted(described, key=lambda d: (not d.startswith("`"), d)))


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


#: A line inside a string that looks like the start of a declaration: the string probably ran on.
_DECLARATION_LINE = re.compile(r'^[ \t]*(?:(?:global|agent|task)[ \t]+\w+[ \t]+@|plan[ \t]+\w+[ \t]*=|import[ \t]+")',
                               re.M)


def _strings(text: str) -> tuple[list[tuple[int, int]], int | None]:
    """The ``(start, end)`` offsets of the triple-quoted strings, and the offset of the first string
    that never closes (or None).

    A hand-written scan (comments, both string forms, escapes), run only after lark failed: lark reports
    where it gave up, often many lines below the quotes that opened the runaway string.
    """
    triples: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith('"""', i):
            j = i + 3
            while True:
                k = text.find('"""', j)
                if k < 0:
                    return triples, i
                backslashes = len(text[j:k]) - len(text[j:k].rstrip("\\"))
                if backslashes % 2 == 0:
                    triples.append((i, k + 3))
                    i = k + 3
                    break
                j = k + 1
        elif ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            if j >= n or text[j] == "\n":
                return triples, i
            i = j + 1
        else:
            i += 1
    return triples, None


def _runaway_string(text: str, stop: int) -> int | None:
    """Where the string that caused a syntax error at ``stop`` opens, or None.

    Either a string that never closes before ``stop``, or a triple-quoted string ending before ``stop``
    that swallowed a declaration (its own closing quotes are missing, so the next string's opening
    quotes closed it and that string's text was read as code).
    """
    triples, opened = _strings(text)
    if opened is not None and opened <= stop:
        return opened
    for start, end in triples:
        if end <= stop and _DECLARATION_LINE.search(text, text.find("\n", start, end) + 1 or end, end - 3):
            return start
    return None


def _syntax_diagnostic(exc: UnexpectedInput, c: _Collector) -> Diagnostic:
    text, path = c.text, c.path
    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    stop = getattr(exc, "pos_in_stream", None)
    opened = _runaway_string(text, len(text) if stop is None else stop)
    if opened is not None:
        sline, scol = _position(text, opened)
        triple = text.startswith('"""', opened)
        return c.diagnostic("E002", "unterminated string: these quotes are never closed",
                            Span(path, sline, scol, sline, scol + (3 if triple else 1)),
                            'close it with """' if triple else
                            'close it with " on the same line, or use """...""" for multi-line text')
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        return c.diagnostic("E003", f"unexpected character {ch!r}", Span(path, line, col, line, col + 1),
                            "check for a typo; comments start with #")
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        lines = text.split("\n")
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = getattr(exc, "expected", ()) or ()
        return c.diagnostic("E001", "unexpected end of file", Span(path, line, col, line, col + 1),
                            f"expected {_expected(expected)}" if expected else "the last declaration is incomplete")
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    width = max(1, len(str(tok).split("\n")[0]))
    hint = f"expected {_expected(exc.expected)}" if exc.expected else None
    return c.diagnostic("E001", f"unexpected {str(tok)[:40]!r}", Span(path, line, col, line, col + width), hint)


def _too_deep(tree: Tree, c: _Collector) -> Diagnostic | None:
    """E020 for the first type nested deeper than :data:`MAX_TYPE_DEPTH` (an iterative walk: the
    transformer and everything after it recurse over types)."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.data in ("list_type", "object_type"):
            depth += 1
            if depth > MAX_TYPE_DEPTH:
                return c.diagnostic("E020", f"type nested more than {MAX_TYPE_DEPTH} levels deep", c.span(node.meta),
                                    "flatten the type; deeply nested inputs are better passed as a string")
        stack.extend((ch, depth) for ch in node.children if isinstance(ch, Tree))
    return None


def parse_source(text: str, path: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file's text. Returns the module (None on a syntax error) and its diagnostics.

    A leading UTF-8 byte order mark is ignored, as editors do.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    c = _Collector(path, text)
    if "\x00" in text:
        line, col = _position(text, text.index("\x00"))
        return None, [c.diagnostic("E006", "NUL byte in source", Span(path, line, col, line, col + 1),
                                   "a .prompt file is UTF-8 text")]
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        return None, [_syntax_diagnostic(exc, c)]
    deep = _too_deep(tree, c)
    if deep is not None:
        return None, [deep]
    try:
        module = _ToAst(c).transform(tree)
    except VisitError as exc:  # a bug in a transformer method: surface it, it is not the user's fault
        raise exc.orig_exc from exc
    # A file with syntax errors (E0xx: a malformed segment, an unrepresentable literal) is reported
    # but not compiled: later stages would only see placeholders and report consequences of them.
    if any(d.code.startswith("E0") for d in c.diagnostics):
        return None, c.diagnostics
    return module, c.diagnostics
