"""Checks: template names, value flow, determinism, stability order and append-only placement.

Each check is a small function that returns diagnostics; :mod:`promptc.compiler.build` runs them
all and reports every finding at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import jinja2

from promptc.compiler.analysis import NONDETERMINISTIC_CALLS, TemplateAnalyzer
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
    decl: ast.InputDecl
    stability: str
    owner: str  # "segment" or "module"


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
    """The first occurrence of ``name`` as a whole word in the template (on template ``line`` if given)."""
    src = seg.text.source if seg.text else ""
    for i, text in enumerate(src.split("\n"), start=1):
        if line is not None and i != line:
            continue
        lead = "(?<![A-Za-z0-9_])" if line is not None else "(?<![A-Za-z0-9_.])"
        m = re.search(rf"{lead}{re.escape(name)}(?![A-Za-z0-9_])", text)
        if m:
            return template_span(seg, i, m.start(), len(name))
    if line is not None and seg.text is not None:
        return template_span(seg, line)
    return seg.text.span if seg.text else seg.span


KNOWN_TYPES = ("string", "int", "float", "bool", "enum", "list", "object")


def type_ok(t: ast.TypeRef) -> bool:
    """False when the type (or a part of it) is unknown; E111 was reported by the parser."""
    if t.name not in KNOWN_TYPES:
        return False
    if t.items is not None and not type_ok(t.items):
        return False
    return all(type_ok(ft) for _, ft in t.fields)


def input_scope(seg: ast.Segment, info: ModuleInfo) -> dict[str, InputRef]:
    scope = {n: InputRef(d, d.stability or FILE_INPUT_DEFAULT_STABILITY, "module") for n, d in info.own_inputs.items()}
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
        diags.append(Diagnostic("E108", f"template syntax error in segment `{seg.name}`: {exc.message}",
                                template_span(seg, line), "check the {{ }} and {% %} pairs; Jinja2 syntax applies"))
        out.ok = False
        return out
    try:
        out.includes = analyzer.collect_includes(body.source, loader)
    except jinja2.TemplateNotFound as exc:
        name = exc.name
        diags.append(Diagnostic("E107", f"included template not found: `{name}`", locate_name(seg, str(name)),
                                f"std templates are std/...; others are relative to {info.display}'s directory"))
        out.ok = False
        return out
    except jinja2.TemplateSyntaxError as exc:
        diags.append(Diagnostic("E108", f"template syntax error in included `{exc.name}` line {exc.lineno}: {exc.message}",
                                body.span, "fix the included file"))
        out.ok = False
        return out
    scope = input_scope(seg, info)
    if not all(type_ok(r.decl.type) for r in scope.values()):
        out.ok = False
    free = analyzer.undeclared_names(body.source, out.includes)
    flagged = analyzer.nondeterminism(body.source) if seg.stability in ("static", "session") else []
    for tline, reason, word in flagged:
        diags.append(Diagnostic("E203", f"{seg.stability} segment `{seg.name}` {reason}",
                                locate_name(seg, word, tline),
                                "pass the value as a turn input in a turn segment, or sort it (|dictsort, |sort)"))
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


def check_plan_order(plan: ast.PlanDecl, segs: list[tuple[ast.Ref, ast.Segment]]) -> list[Diagnostic]:
    """Stability never decreases along a plan; an append-only segment never precedes a more stable one."""
    diags = []
    for i in range(1, len(segs)):
        ref, seg = segs[i]
        for _, prev in segs[:i]:
            if STABILITY_RANK[seg.stability] >= STABILITY_RANK[prev.stability]:
                continue
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
