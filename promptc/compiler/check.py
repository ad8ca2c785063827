"""Checks: template names, value flow, determinism, stability order and append-only placement.

Each check is a small function that returns diagnostics; :mod:`promptc.compiler.build` runs them
all and reports every finding at once.
"""

from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass, field

import jinja2

from promptc.compiler.analysis import (NONDETERMINISTIC_CALLS, NONDETERMINISTIC_FILTERS, IncludeCycleError,
                                      TemplateAnalyzer)
from promptc.compiler.confine import FileRefused
from promptc.compiler.loader import ProjectLoader
from promptc.compiler.resolve import ModuleInfo
from promptc.core.errors import Diagnostic, Span
from promptc.core.templates import is_literal
from promptc.core.vocab import STABILITY_RANK
from promptc.syntax import ast

#: File-level inputs without an annotation are session inputs.
FILE_INPUT_DEFAULT_STABILITY = "session"


@dataclass
class InputRef:
    """An input in a segment's scope: its declaration, effective stability and where it is declared."""

    decl: ast.InputDecl
    stability: str
    owner: str  # "segment" or "module"
    module: ModuleInfo | None = None  # the declaring module of a file-level input


@dataclass
class AnalyzedSegment:
    """A segment after template analysis: what it includes, which inputs it uses."""

    segment: ast.Segment
    info: ModuleInfo
    includes: dict[str, str] = field(default_factory=dict)
    used: dict[str, InputRef] = field(default_factory=dict)
    ok: bool = True


def template_span(seg: ast.Segment, tline: int, tcol: int = 0, width: int = 1) -> Span:
    """Map a 1-based template line and 0-based column back to the .prompt source."""
    body = seg.text
    assert body is not None
    line = body.body_line + tline - 1
    col = (body.body_col + tcol) if tline == 1 else (body.indent + 1 + tcol)
    return Span(seg.span.path, line, col, line, col + width)


def locate_name(seg: ast.Segment, name: str, line: int | None = None) -> Span:
    """Where ``name`` is used in the template (on template ``line`` if given): its first whole-word
    occurrence inside a ``{{ }}``/``{% %}`` tag, else its first occurrence in the prose."""
    src = seg.text.source if seg.text else ""
    lead = "(?<![A-Za-z0-9_])" if line is not None else "(?<![A-Za-z0-9_.])"
    tags = _tag_regions(src)
    tag_starts = [a for a, _ in tags]
    first = None
    start = 0  # offset of the current line in ``src``
    for i, text in enumerate(src.split("\n"), start=1):
        line_start, start = start, start + len(text) + 1
        if line is not None and i != line:
            continue
        for m in re.finditer(rf"{lead}{re.escape(name)}(?![A-Za-z0-9_])", text):
            if first is None:
                first = (i, m.start())
            k = bisect.bisect_right(tag_starts, line_start + m.start()) - 1
            if k >= 0 and line_start + m.start() < tags[k][1]:
                return template_span(seg, i, m.start(), len(name))
    if first is not None:
        return template_span(seg, first[0], first[1], len(name))
    if line is not None and seg.text is not None:
        return template_span(seg, line)
    return seg.text.span if seg.text else seg.span


def _tag_regions(src: str) -> list[tuple[int, int]]:
    """``[start, end)`` offsets of the Jinja tags in ``src``; a plain forward scan (str.find), linear
    in the text, where a ``{{.*?}}`` regex would be quadratic on an unclosed tag."""
    out: list[tuple[int, int]] = []
    i = 0
    while True:
        opens = [p for p in (src.find("{{", i), src.find("{%", i)) if p >= 0]
        if not opens:
            return out
        a = min(opens)
        b = src.find("}}" if src[a + 1] == "{" else "%}", a + 2)
        if b < 0:
            out.append((a, len(src)))
            return out
        out.append((a, b + 2))
        i = b + 2


KNOWN_TYPES = ("string", "int", "float", "bool", "enum", "list", "object")


def type_ok(t: ast.TypeRef) -> bool:
    """False when the type (or a part of it) is unknown; E111 was reported by the parser."""
    if t.name not in KNOWN_TYPES:
        return False
    if t.items is not None and not type_ok(t.items):
        return False
    return all(type_ok(ft) for _, ft in t.fields)


def input_scope(seg: ast.Segment, info: ModuleInfo) -> dict[str, InputRef]:
    """The inputs a segment's template may use: the file-level inputs of its module and of the
    module's unaliased imports, then the segment's own (which shadow them)."""
    scope = {n: InputRef(d, d.stability or FILE_INPUT_DEFAULT_STABILITY, "module", m)
             for n, (d, m) in info.input_scope.items()}
    for d in seg.inputs:
        scope[d.name] = InputRef(d, d.stability or seg.stability, "segment")
    return scope


def check_input_decls(seg: ast.Segment, diags: list[Diagnostic]) -> None:
    seen: dict[str, ast.InputDecl] = {}
    for d in seg.inputs:
        if d.name in seen:
            diags.append(Diagnostic("E116", f"input `{d.name}` is declared twice in segment `{seg.name}`", d.span,
                                    "remove one declaration"))
        seen[d.name] = d
        check_input_decl(d, diags)
        if d.stability is None and seg.stability == "static" and not d.has_default:
            # it inherits @static: the segment renders at build time, when no value can be bound
            diags.append(Diagnostic(
                "E130", f"input `{d.name}` of static segment `{seg.name}` has no default", d.span,
                f"a static segment renders once, at build time: give `{d.name}` a default (`= ...`), "
                f"or make the segment @session so `{d.name}` is bound at run time"))


def check_input_decl(d: ast.InputDecl, diags: list[Diagnostic]) -> None:
    if d.stability == "static" and not d.has_default:
        diags.append(Diagnostic("E125", f"@static input `{d.name}` needs a default", d.span,
                                "a @static input is a build-time constant: write `= value`, or make it @session"))
    if d.has_default and not default_matches(d.type.to_spec(), d.default):
        diags.append(Diagnostic("E126", f"default of input `{d.name}` does not match its type `{type_text(d.type)}`",
                                d.span, "change the default or the type"))


def type_text(t: ast.TypeRef) -> str:
    if t.name == "list":
        s = f"list[{type_text(t.items)}]"
    elif t.name == "enum":
        s = "enum(" + ", ".join(f'"{c}"' for c in t.choices) + ")"
    elif t.name == "object":
        s = "object{" + ", ".join(f"{n}: {type_text(ft)}" for n, ft in t.fields) + "}"
    else:
        s = t.name
    return s + ("?" if t.optional else "")


def default_matches(spec: dict, value) -> bool:
    if value is None:
        return bool(spec.get("optional"))
    t = spec["type"]
    if t == "string":
        return isinstance(value, str)
    if t == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "bool":
        return isinstance(value, bool)
    if t == "enum":
        return value in spec["choices"]
    return False  # list/object defaults have no literal syntax


def analyze_template(seg: ast.Segment, info: ModuleInfo, analyzer: TemplateAnalyzer, loader: ProjectLoader,
                     diags: list[Diagnostic]) -> AnalyzedSegment:
    """Syntax, includes, undefined names, value flow and determinism of one text segment."""
    out = AnalyzedSegment(seg, info)
    body = seg.text
    assert body is not None
    try:
        if not is_literal(body.source):
            analyzer.parse(body.source)
    except jinja2.TemplateSyntaxError as exc:
        line = exc.lineno or 1
        diags.append(Diagnostic(getattr(exc, "code", "E108"), f"template syntax error in segment `{seg.name}`: {exc.message}",
                                template_span(seg, line), getattr(exc, "hint", "check the {{ }} and {% %} pairs; Jinja2 syntax applies")))
        out.ok = False
        return out
    try:
        out.includes = analyzer.collect_includes(body.source, loader)
    except FileRefused as exc:  # outside the allowed roots, not a regular file, or too large (E801-E803)
        diags.append(exc.diagnostic(locate_name(seg, str(exc.name))))
        out.ok = False
        return out
    except IncludeCycleError as exc:
        diags.append(Diagnostic("E804", f"{exc} in segment `{seg.name}`", locate_name(seg, exc.cycle[0]),
                                "an included template must not include itself, directly or through others"))
        out.ok = False
        return out
    except jinja2.TemplateNotFound as exc:
        name = exc.name
        diags.append(Diagnostic("E107", f"included template not found: `{name}`", locate_name(seg, str(name)),
                                f"std templates are std/...; others are relative to {info.display}'s directory"))
        out.ok = False
        return out
    except jinja2.TemplateSyntaxError as exc:
        diags.append(Diagnostic(getattr(exc, "code", "E108"),
                                f"template syntax error in included `{exc.name}` line {exc.lineno}: {exc.message}",
                                body.span, "fix the included file"))
        out.ok = False
        return out
    if not check_filters_and_tests(seg, info, analyzer, out.includes, diags):
        out.ok = False
        return out
    scope = input_scope(seg, info)
    if not all(type_ok(r.decl.type) for r in scope.values()):
        out.ok = False
    try:
        free = analyzer.undeclared_names(body.source, out.includes)
    except jinja2.TemplateAssertionError as exc:  # Jinja2 compiles to find free names; it may still object
        diags.append(Diagnostic("E108", f"template error in segment `{seg.name}`: {exc.message}",
                                template_span(seg, exc.lineno or 1), "Jinja2 syntax applies"))
        out.ok = False
        return out
    flagged = analyzer.nondeterminism(body.source) if seg.stability in ("static", "session") else []
    for tline, reason, word in flagged:
        diags.append(Diagnostic("E203", f"{seg.stability} segment `{seg.name}` {reason}",
                                locate_name(seg, word, tline), nondeterminism_hint(reason, word, seg.stability)))
    if flagged:
        out.ok = False
    for name in sorted(free):
        if name in NONDETERMINISTIC_CALLS and flagged:
            continue  # already reported as E203
        if name not in scope:
            close = difflib.get_close_matches(name, list(scope), n=1)
            hint = (f"did you mean `{close[0]}`?" if close else
                    f"declare it: `input {name}: string` in the segment's {{ ... }} block")
            diags.append(Diagnostic("E102", f"undefined name `{name}` in segment `{seg.name}`", locate_name(seg, name),
                                    hint))
            out.ok = False
            continue
        ref = scope[name]
        out.used[name] = ref
        if STABILITY_RANK[ref.stability] > STABILITY_RANK[seg.stability]:
            diags.append(Diagnostic(
                "E202", f"{ref.stability} input `{name}` flows into {seg.stability} segment `{seg.name}`",
                locate_name(seg, name),
                f"a {ref.stability} value changes more often than the segment; move it to a {ref.stability} segment "
                f"later in the plan, or declare the segment @{ref.stability}",
                notes=(f"`{name}` declared at {ref.decl.span}",)))
    for d in seg.inputs:
        if d.name not in out.used:
            diags.append(Diagnostic("W301", f"input `{d.name}` is never used by segment `{seg.name}`", d.span,
                                    "remove it or use it in the template", severity="warning"))
    return out


def nondeterminism_hint(reason: str, word: str, stability: str) -> str:
    """What to do about one E203 cause (``reason`` as :meth:`TemplateAnalyzer.nondeterminism` words it):
    iterate a mapping in a fixed order; drop a random filter; take a clock/random/id value from outside."""
    if reason.startswith("iterates"):
        return "iterate in a fixed order: `|dictsort` for a mapping, or `|sort` for its keys"
    if reason.startswith("uses the") and word in NONDETERMINISTIC_FILTERS:
        return (f"drop the `{word}` filter: pass the items already in the order you want, as an input "
                "(in a turn segment if the order may change every turn)")
    what = {"uuid": "id", "uuid1": "id", "uuid4": "id", "random": "value", "randint": "value", "choice": "value",
            "shuffle": "order"}.get(word, "time")
    return (f"a {stability} segment cannot compute a fresh {what}: pass it as an input of a turn segment "
            f"(e.g. `input {'request_id' if what == 'id' else 'now'}: string` in a @turn segment), "
            "so the cached prefix before it stays byte-identical")


def check_filters_and_tests(seg: ast.Segment, info: ModuleInfo, analyzer: TemplateAnalyzer,
                            includes: dict[str, str], diags: list[Diagnostic]) -> bool:
    """E131/E132 for filters and tests the template environment does not define (in the segment
    or in a template it includes). False when any was found."""
    ok = True
    codes = {"filter": "E131", "test": "E132"}
    known = {"filter": sorted(analyzer.env.filters), "test": sorted(analyzer.env.tests)}
    for tline, kind, name in analyzer.unknown_names(seg.text.source):
        if kind == "filter" and name in NONDETERMINISTIC_FILTERS:
            continue  # a documented E203 cause (reported with the segment's other E203 findings), not a typo
        close = difflib.get_close_matches(name, known[kind], n=1, cutoff=0.75)
        hint = f"did you mean `{close[0]}`?" if close else f"known {kind}s: {', '.join(known[kind])}"
        diags.append(Diagnostic(codes[kind], f"unknown {kind} `{name}` in segment `{seg.name}`",
                                locate_name(seg, name, tline), hint))
        ok = False
    for include, text in sorted(includes.items()):
        for tline, kind, name in analyzer.unknown_names(text):
            close = difflib.get_close_matches(name, known[kind], n=1, cutoff=0.75)
            hint = f"did you mean `{close[0]}`?" if close else f"known {kind}s: {', '.join(known[kind])}"
            diags.append(Diagnostic(codes[kind], f"unknown {kind} `{name}` in `{include}` line {tline}, included "
                                    f"by segment `{seg.name}`", locate_name(seg, include), hint))
            ok = False
    return ok


def check_append_only_segment(seg: ast.Segment, diags: list[Diagnostic]) -> bool:
    """Shape rules of tools, memory and history segments: tools are static with unique names and
    known parameter types, history is turn-level, memory bound at run time has no body.
    False when the segment cannot be compiled."""
    ok = True
    if seg.kind == "tools":
        if not all(type_ok(p.type) for t in seg.tools for p in t.params):
            ok = False  # E111 was reported by the parser
        if seg.stability != "static":
            diags.append(Diagnostic("E113", f"tools segment `{seg.name}` must be static", seg.span,
                                    "tools are part of the build; write `@append_only tools`"))
            ok = False
        seen: set[str] = set()
        for t in seg.tools:
            if t.name in seen:
                diags.append(Diagnostic("E119", f"tool `{t.name}` is declared twice in `{seg.name}`", t.span,
                                        "rename one tool"))
                ok = False
            seen.add(t.name)
    if seg.kind == "history" and seg.stability != "turn":
        diags.append(Diagnostic("E114", f"history segment `{seg.name}` grows every turn", seg.span,
                                "write `@append_only history` (history is turn-level)"))
        ok = False
    if seg.kind == "memory" and seg.stability != "static" and (seg.entries or seg.from_file):
        diags.append(Diagnostic(
            "E115", f"memory segment `{seg.name}` is {seg.stability}: its entries are bound at run time",
            seg.span, "drop the body (entries come from the input of the same name), or make it static"))
        ok = False
    return ok


def check_plan_order(plan: ast.PlanDecl, segs: list[tuple[ast.Ref, ast.Segment]]) -> list[Diagnostic]:
    """Stability never decreases along a plan; an append-only segment never precedes a more stable one."""
    diags = []
    first_of_rank: dict[int, int] = {}  # rank → index of its first segment: one pass, not O(n²)
    for i in range(len(segs)):
        ref, seg = segs[i]
        rank = STABILITY_RANK[seg.stability]
        later = [first_of_rank[r] for r in first_of_rank if r > rank]
        first_of_rank.setdefault(rank, i)
        for prev in ([segs[min(later)][1]] if later else []):  # the first more stable segment before it
            if prev.append_only:
                diags.append(Diagnostic(
                    "E204", f"append-only {prev.kind} segment `{prev.name}` ({prev.stability}) comes before the more "
                    f"stable {seg.stability} segment `{seg.name}` in plan `{plan.name}`", ref.span,
                    f"every time `{prev.name}` grows, `{seg.name}` leaves the cached prefix; place `{seg.name}` "
                    f"before `{prev.name}`"))
            else:
                diags.append(Diagnostic(
                    "E201", f"stability decreases along plan `{plan.name}`: {seg.stability} segment `{seg.name}` "
                    f"after {prev.stability} segment `{prev.name}`", ref.span,
                    f"order segments static → session → turn; move `{seg.name}` before `{prev.name}`"))
            break
    seen: dict[int, ast.Ref] = {}
    for ref, seg in segs:
        if id(seg) in seen:
            diags.append(Diagnostic("E205", f"segment `{seg.name}` appears twice in plan `{plan.name}`", ref.span,
                                    "a segment is used once per plan; declare a second segment if you need the text twice"))
        seen[id(seg)] = ref
    return diags
