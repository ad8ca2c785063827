"""lark parse tree → AST (:mod:`promptc.syntax.ast`), with located diagnostics for every mistake.

Each grammar rule has one Transformer method of the same name returning an AST node; semantic
checks that a grammar cannot express well (known stabilities, kinds, roles, types, string escapes)
happen here, so they are reported with the exact span and a hint.
"""

from __future__ import annotations

import json
import textwrap
from functools import lru_cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from promptc.core.errors import Diagnostic, SourceCache, Span
from promptc.core.resources import grammar_path
from promptc.core.vocab import APPEND_ONLY_DEFAULT, KINDS, ROLES, SIMPLE_TYPES, STABILITIES
from promptc.syntax import ast


_TOKEN_NAMES = {
    "NAME": "a name", "STRING": "a string", "LEVEL": "`global`, `agent` or `task`",
    "KIND": "a kind (`text`, `tools`, `memory`, `history`)", "SIGNED_NUMBER": "a number",
    "LPAR": "`(`", "RPAR": "`)`", "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`", "RSQB": "`]`",
    "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "AT": "`@`", "DOT": "`.`", "QMARK": "`?`",
    "OPTIONAL": "`?`", "$END": "end of file",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", propagate_positions=True,
                maybe_placeholders=False)


class _Collector:
    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.split("\n")
        self.diagnostics: list[Diagnostic] = []

    def span(self, node) -> Span:
        if isinstance(node, Token):
            return Span(self.path, node.line, node.column, node.end_line or node.line,
                        node.end_column or node.column + len(node))
        m = node
        return Span(self.path, m.line, m.column, m.end_line, m.end_column)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    def doc_before(self, line: int) -> str | None:
        """``## doc`` comment lines directly above ``line``."""
        docs = []
        i = line - 2
        while i >= 0 and self.lines[i].lstrip().startswith("##"):
            docs.append(self.lines[i].lstrip()[2:].strip())
            i -= 1
        return "\n".join(reversed(docs)) if docs else None


def _string_value(tok: Token, c: _Collector) -> str:
    raw = str(tok)
    if raw.startswith('"""'):
        return raw[3:-3]
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        c.error("E001", f"invalid escape in string: {exc.msg}", c.span(tok),
                "strings use JSON escapes (\\n, \\t, \\\", \\\\, \\uXXXX); use \"\"\"...\"\"\" for raw text")
        return raw[1:-1]


def _text_body(tok: Token, c: _Collector) -> ast.TextBody:
    raw = str(tok)
    span = c.span(tok)
    if not raw.startswith('"""'):
        return ast.TextBody(_string_value(tok, c), span, tok.line, tok.column + 1)
    inner = raw[3:-3]
    line, col = tok.line, tok.column + 3
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


@v_args(meta=True)
class _ToAst(Transformer):
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
        values = tuple(_string_value(t, self.c) for t in children)
        if len(set(values)) != len(values):
            self.c.error("E111", "enum has duplicate values", self.c.span(meta), "list each value once")
        return ast.TypeRef("enum", self.c.span(meta), choices=values)

    def list_type(self, meta, children):
        return ast.TypeRef("list", self.c.span(meta), items=children[0])

    def field(self, meta, children):
        return (str(children[0]), children[1])

    def object_type(self, meta, children):
        names = [n for n, _ in children]
        if len(set(names)) != len(names):
            self.c.error("E101", "object type declares a field twice", self.c.span(meta), "rename one field")
        return ast.TypeRef("object", self.c.span(meta), fields=tuple(children))

    def type(self, meta, children):
        base = children[0]
        if len(children) > 1:
            return ast.TypeRef(base.name, base.span, True, base.items, base.choices, base.fields)
        return base

    # -- literals -------------------------------------------------------------------------------
    def string_lit(self, meta, children):
        return _string_value(children[0], self.c)

    def number_lit(self, meta, children):
        text = str(children[0])
        return float(text) if any(ch in text for ch in ".eE") else int(text)

    def true_lit(self, meta, children):
        return True

    def false_lit(self, meta, children):
        return False

    def none_lit(self, meta, children):
        return None

    def default(self, meta, children):
        return ("default", children[0])

    # -- declarations -----------------------------------------------------------------------------
    def annotation(self, meta, children):
        return ("annotation", [str(t) for t in children], self.c.span(meta))

    def input_decl(self, meta, children):
        name, typ = children[0], children[1]
        stability, default, has_default = None, None, False
        for extra in children[2:]:
            if extra[0] == "annotation":
                words, span = extra[1], extra[2]
                if len(words) != 1 or words[0] not in STABILITIES:
                    self.c.error("E001", f"an input's stability must be @static, @session or @turn, not `@{'('.join(words)}`",
                                 span, "inputs take @session or @turn; omit it to inherit the segment's")
                else:
                    stability = words[0]
            else:
                default, has_default = extra[1], True
        return ast.InputDecl(str(name), typ, self.c.span(meta), stability, default, has_default,
                             self.c.doc_before(meta.line))

    def param(self, meta, children):
        desc = _string_value(children[2], self.c) if len(children) > 2 else None
        return ast.Param(str(children[0]), children[1], desc, self.c.span(meta))

    def tool_decl(self, meta, children):
        name = children[0]
        params = tuple(ch for ch in children[1:] if isinstance(ch, ast.Param))
        descs = [ch for ch in children[1:] if isinstance(ch, Token)]
        desc = _string_value(descs[0], self.c) if descs else None
        seen = set()
        for p in params:
            if p.name in seen:
                self.c.error("E101", f"tool `{name}` declares parameter `{p.name}` twice", p.span, "rename one")
            seen.add(p.name)
        return ast.ToolDecl(str(name), params, desc, self.c.span(meta))

    def entry(self, meta, children):
        return children[0]  # the STRING token; interpreted by the segment (text body or memory entry)

    def block_body(self, meta, children):
        return ("block", children)

    def text_body(self, meta, children):
        return ("text", children[0])

    def from_body(self, meta, children):
        return ("from", children[0])

    def kind(self, meta, children):
        return ("kind", str(children[0]), self.c.span(meta))

    def role(self, meta, children):
        return ("role", str(children[0]), self.c.span(children[0]))

    def segment(self, meta, children):
        c = self.c
        level, name, ann = children[0], children[1], children[2]
        kind, role, role_span, body = "text", None, None, None
        for ch in children[3:]:
            if ch[0] == "kind":
                kind = ch[1]
            elif ch[0] == "role":
                role, role_span = ch[1], ch[2]
            else:
                body = ch
        words, ann_span = ann[1], ann[2]
        append_only = words[0] == "append_only"
        stability = "static"
        if append_only:
            if kind == "text":
                c.error("E001", "an @append_only segment needs a kind: tools, memory or history", ann_span,
                        f"write `{level} {name} @append_only memory ...`")
            stability = APPEND_ONLY_DEFAULT[kind]
            if len(words) == 2:
                if words[1] not in STABILITIES:
                    c.error("E001", f"unknown stability `{words[1]}`", ann_span, "use static, session or turn")
                else:
                    stability = words[1]
        elif words[0] in STABILITIES and len(words) == 1:
            stability = words[0]
            if kind != "text":
                c.error("E001", f"a {kind} segment is append-only: annotate it `@append_only`", ann_span,
                        f"write `{level} {name} @append_only {kind} ...`")
        else:
            c.error("E001", f"unknown stability `@{'('.join(words)}{')' if len(words) > 1 else ''}`", ann_span,
                    "segments are @static, @session, @turn or @append_only")
        if role is None:
            role = "user" if level == "task" else "system"
        elif role not in ROLES:
            c.error("E001", f"unknown role `{role}`", role_span, "roles are system, developer, user, assistant")
        text, inputs, tools, entries, from_file, from_span = None, [], [], [], None, None
        if body is None:
            # history, and memory bound at run time (`@append_only(session) memory`), take their entries
            # from an input named after the segment: they have no body
            if kind == "memory" and stability == "static":
                c.error("E001", f"static memory segment `{name}` has no body", c.span(meta),
                        'give it entries { "..." } or `from "file"`, or write `@append_only(session) memory` '
                        "to bind its entries at run time")
            elif kind not in ("history", "memory"):
                c.error("E001", f"segment `{name}` has no body", c.span(meta),
                        'give it a text body """...""", a { ... } block, or `from "file"`')
        elif body[0] == "text":
            if kind in ("tools", "history"):
                c.error("E001", f"a {kind} segment cannot have a text body", c.span(body[1]),
                        "declare tools in a { ... } block" if kind == "tools" else "history has no body")
            elif kind == "memory":
                entries.append(ast.Entry(_string_value(body[1], c).strip("\n"), c.span(body[1])))
            else:
                text = _text_body(body[1], c)
        elif body[0] == "from":
            if kind != "memory":
                c.error("E001", "`from \"file\"` is only for memory segments", c.span(body[1]),
                        "use {% include \"file\" %} inside a text body")
            from_file, from_span = _string_value(body[1], c), c.span(body[1])
        else:
            for item in body[1]:
                if isinstance(item, ast.InputDecl):
                    if kind != "text":
                        c.error("E001", f"inputs cannot be declared in a {kind} segment", item.span,
                                "declare inputs in a text segment or at file level")
                    inputs.append(item)
                elif isinstance(item, ast.ToolDecl):
                    if kind != "tools":
                        c.error("E001", f"tool `{item.name}` declared outside a tools segment", item.span,
                                f"write `{level} {name} @append_only tools {{ ... }}`")
                    tools.append(item)
                else:  # a STRING token
                    if kind == "memory":
                        entries.append(ast.Entry(_string_value(item, c).strip("\n"), c.span(item)))
                    elif kind == "text":
                        if text is not None:
                            c.error("E001", f"segment `{name}` has more than one text body", c.span(item),
                                    "join them into one \"\"\"...\"\"\" string")
                        else:
                            text = _text_body(item, c)
                    else:
                        c.error("E001", f"a {kind} segment cannot contain text", c.span(item),
                                "declare tools as name(param: type \"desc\") \"description\"")
            if kind == "text" and text is None:
                c.error("E001", f"segment `{name}` has no text body", c.span(meta),
                        'add a """...""" string after the inputs')
            if kind == "tools" and not tools:
                c.error("E001", f"tools segment `{name}` declares no tools", c.span(meta), "declare at least one tool")
        return ast.Segment(str(level), str(name), stability, append_only, kind, role, c.span(meta), c.span(name),
                           c.doc_before(meta.line), text, tuple(inputs), tuple(tools), tuple(entries),
                           from_file, from_span)

    def ref(self, meta, children):
        return ast.Ref(tuple(str(t) for t in children), self.c.span(meta))

    def plan(self, meta, children):
        name = children[0]
        refs = tuple(ch for ch in children[1:] if isinstance(ch, ast.Ref))
        targets = tuple((_string_value(t, self.c), self.c.span(t)) for t in children[1:] if isinstance(t, Token))
        return ast.PlanDecl(str(name), refs, self.c.span(meta), self.c.span(name), targets,
                            self.c.doc_before(meta.line))

    def import_stmt(self, meta, children):
        alias = str(children[1]) if len(children) > 1 else None
        return ast.Import(_string_value(children[0], self.c), alias, self.c.span(meta))

    def target_stmt(self, meta, children):
        return ast.TargetDecl(tuple((_string_value(t, self.c), self.c.span(t)) for t in children), self.c.span(meta))

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


def _describe(tok_type: str) -> str:
    if tok_type in _TOKEN_NAMES:
        return _TOKEN_NAMES[tok_type]
    if tok_type.startswith("__ANON") or tok_type.isupper():
        return tok_type.lower()
    return tok_type


def _syntax_diagnostic(exc: UnexpectedInput, path: str, text: str) -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch == '"':
            return Diagnostic("E001", "unterminated string", Span(path, line, col, line, col + 1),
                              'close it with " on the same line, or use """...""" for multi-line text')
        return Diagnostic("E001", f"unexpected character {ch!r}", Span(path, line, col, line, col + 1),
                          "check for a typo; comments start with #")
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        lines = text.split("\n")
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = sorted(_describe(t) for t in getattr(exc, "expected", ()) or ())
        return Diagnostic("E001", "unexpected end of file", Span(path, line, col, line, col + 1),
                          f"expected {', '.join(expected[:6])}" if expected else "the last declaration is incomplete")
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = sorted({_describe(t) for t in exc.expected})
    width = max(1, len(str(tok)))
    if "\n" in str(tok):
        width = max(1, len(str(tok).split("\n")[0]))
    hint = f"expected {', '.join(expected[:8])}" if expected else None
    return Diagnostic("E001", f"unexpected {str(tok)[:40]!r}", Span(path, line, col, line, col + width), hint)


def parse_source(text: str, path: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file's text. Returns the module (None on a syntax error) and its diagnostics."""
    SourceCache.remember(path, text)
    c = _Collector(path, text)
    if "\x00" in text:
        pos = text.index("\x00")
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return None, [Diagnostic("E001", "NUL byte in source", Span(path, line, col, line, col + 1),
                                 "a .prompt file is UTF-8 text")]
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        return None, [_syntax_diagnostic(exc, path, text)]
    try:
        module = _ToAst(c).transform(tree)
    except VisitError as exc:  # a bug in a transformer method: surface it, it is not the user's fault
        raise exc.orig_exc from exc
    return module, c.diagnostics
