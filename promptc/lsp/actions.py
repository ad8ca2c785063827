"""Mechanical quick fixes: text edits computed from a diagnostic and the project's modules.

Each fix is a function ``(state, path, diagnostic) -> list[Fix]``, collected in :data:`FIXES` by code
(one small function per fix, like the lint rules). A fix is offered only where the edit is fully
determined by the source; everything else keeps its hint.

* E201 stability-decreases: reorder the plan so stability never decreases (a stable sort);
* E202 volatile-value-in-stable-segment: move the line that uses the value into a new segment of the
  value's level, placed in every plan of the file right after the last segment at most that volatile;
  or declare the segment at the value's level;
* E203 nondeterministic-template (``.items()`` iteration): iterate with ``|dictsort``;
* E601/W602 unstable token boundary: end the left segment with a newline (the alignment
  ``promptc build --align=fix`` would otherwise apply at build time);
* lint findings (E9xx/W9xx): add an acknowledged suppression comment above the declaration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from promptc.compiler.resolve import lookup
from promptc.core.errors import Diagnostic
from promptc.core.vocab import STABILITY_RANK
from promptc.lsp.analysis import ProjectState, plan_order_fix, span_contains


@dataclass(frozen=True)
class Edit:
    """Replace the text between two 1-based (line, col) positions (end exclusive) of ``path``."""

    path: Path
    line: int
    col: int
    end_line: int
    end_col: int
    new_text: str


@dataclass(frozen=True)
class Fix:
    title: str
    edits: tuple[Edit, ...]
    preferred: bool = False


def _lines(state: ProjectState, path: Path) -> list[str]:
    return (state.text_of(path) or "").split("\n")


def fix_plan_order(state: ProjectState, path: Path, d: Diagnostic) -> list[Fix]:
    info = state.module(path)
    if info is None or d.span is None:
        return []
    for plan in info.module.plans:
        if any(span_contains(r.span, d.span.line, d.span.col) for r in plan.refs):
            order = plan_order_fix(info, plan)
            if order is None:
                return []
            first, last = plan.refs[0].span, plan.refs[-1].span
            edit = Edit(path, first.line, first.col, last.end_line or last.line, last.end_col, ", ".join(order))
            return [Fix(f"Reorder plan `{plan.name}` so stability never decreases", (edit,), True)]
    return []


def fix_dictsort(state: ProjectState, path: Path, d: Diagnostic) -> list[Fix]:
    if d.span is None or "items()" not in d.message:
        return []
    src = _lines(state, path)[d.span.line - 1]
    m = re.compile(r"([A-Za-z_][\w.]*)\.items\(\)").search(src, max(0, d.span.col - 1 - 64))
    if m is None:
        return []
    edit = Edit(path, d.span.line, m.start() + 1, d.span.line, m.end() + 1, f"{m.group(1)}|dictsort")
    return [Fix(f"Iterate `{m.group(1)}` in sorted order (`|dictsort`)", (edit,), True)]


_E202 = re.compile(r"(?P<level>\w+) input `(?P<name>\w+)` flows into \w+ segment `(?P<seg>\w+)`")


def fix_move_volatile(state: ProjectState, path: Path, d: Diagnostic) -> list[Fix]:
    m = _E202.search(d.message)
    info = state.module(path)
    if m is None or info is None or d.span is None:
        return []
    level, name, seg_name = m["level"], m["name"], m["seg"]
    seg = info.own_segments.get(seg_name)
    if seg is None or seg.text is None:
        return []
    fixes = []
    lines = _lines(state, path)
    # 1. declare the segment at the value's level
    header = lines[seg.span.line - 1]
    ann = re.compile(r"@" + re.escape(seg.stability) + r"\b").search(header, seg.name_span.end_col - 1)
    if ann is not None:
        fixes.append(Fix(f"Declare segment `{seg_name}` @{level}",
                         (Edit(path, seg.span.line, ann.start() + 1, seg.span.line, ann.end() + 1, f"@{level}"),)))
    # 2. move the line into a new segment (the line must be a whole body line, not the quotes' line)
    body = seg.text.span
    use_line = d.span.line
    if not lines[body.line - 1][body.col - 1:].startswith('"""'):
        return fixes
    if use_line <= body.line or use_line >= (body.end_line or body.line):
        return fixes
    moved = lines[use_line - 1]
    decl = next((x for x in seg.inputs if x.name == name), None)
    edits = [Edit(path, use_line, 1, use_line + 1, 1, "")]
    new_name = f"{seg_name}_{name}"
    new_body = f'"""\n{moved}\n"""'
    if decl is not None:
        if decl.span.line == (decl.span.end_line or decl.span.line) and lines[decl.span.line - 1].strip().startswith("input"):
            decl_text = lines[decl.span.line - 1].strip()
            edits.append(Edit(path, decl.span.line, 1, decl.span.line + 1, 1, ""))
            new_body = "{\n    " + decl_text + '\n    """\n' + moved + '\n    """\n}'
        else:
            return fixes
    end_line = seg.span.end_line or seg.span.line
    new_seg = f"\ntask {new_name} @{level} role {seg.role} {new_body}\n"
    edits.append(Edit(path, end_line, len(lines[end_line - 1]) + 1, end_line, len(lines[end_line - 1]) + 1, new_seg))
    rank = STABILITY_RANK[level]
    for plan in info.module.plans:
        idx = None
        for i, ref in enumerate(plan.refs):
            found = lookup(info, ref)
            if found is None:
                break
            if found[0] is seg:
                idx = i
        if idx is None:
            continue
        after = idx
        for i, ref in enumerate(plan.refs):
            found = lookup(info, ref)
            if found is not None and STABILITY_RANK[found[0].stability] <= rank and i >= idx:
                after = i
        r = plan.refs[after].span
        edits.append(Edit(path, r.end_line or r.line, r.end_col, r.end_line or r.line, r.end_col, f", {new_name}"))
    edits.sort(key=lambda e: (e.line, e.col), reverse=True)
    fixes.insert(0, Fix(f"Move the line using `{name}` into a new @{level} segment `{new_name}`", tuple(edits), True))
    return fixes


_BOUNDARY = re.compile(r"between `(?P<left>\w+)` and `(?P<right>\w+)`")


def _body_edges(state: ProjectState, info, seg):
    """``(path, open line, col after the opening quotes, close line, col of the closing quotes, quote)``
    of a text segment's body, or None when it is not a plain string body."""
    if seg.text is None:
        return None
    span = seg.text.span
    lines = _lines(state, info.file)
    end_line, end_col = span.end_line or span.line, span.end_col
    quote = '"""' if lines[span.line - 1][span.col - 1:].startswith('"""') else '"'
    return info.file, span.line, span.col + len(quote), end_line, end_col - len(quote), quote


def fix_boundary(state: ProjectState, path: Path, d: Diagnostic) -> list[Fix]:
    """The source form of ``--align=fix``'s first two steps: move the left segment's trailing spaces to
    the start of the right one (when its text starts on the quotes' line), else end the left segment
    with a newline."""
    m = _BOUNDARY.search(d.message)
    if m is None:
        return []
    found = {}
    for info in state.project.modules.values():
        for name in (m["left"], m["right"]):
            seg = info.own_segments.get(name)
            if seg is not None and not info.display.startswith("std/") and name not in found:
                found[name] = _body_edges(state, info, seg)
    left, right = found.get(m["left"]), found.get(m["right"])
    if left is None:
        return []
    lpath, _, _, lline, lcol, lquote = left
    before = _lines(state, lpath)[lline - 1][:lcol - 1]
    spaces = len(before) - len(before.rstrip(" \t"))
    if spaces and right is not None:
        rpath, rline, rcol, _, _, rquote = right
        rest = _lines(state, rpath)[rline - 1][rcol - 1:]
        if rquote == '"' or (rest.strip() and not rest.startswith(rquote)):
            moved = before[len(before) - spaces:]
            edits = (Edit(rpath, rline, rcol, rline, rcol, moved), Edit(lpath, lline, lcol - spaces, lline, lcol, ""))
            return [Fix(f"Move the trailing space of `{m['left']}` to the start of `{m['right']}` "
                        "(stable token boundary)", edits, True)]
    if before.endswith("\\n") or (lquote == '"""' and not before.strip() and lline > 1):
        return []  # already ends with a newline: the boundary needs a person
    text = "\n" if lquote == '"""' else "\\n"
    return [Fix(f"End `{m['left']}` with a newline (stable token boundary)", (Edit(lpath, lline, lcol, lline, lcol, text),),
                True)]


def fix_suppress(state: ProjectState, path: Path, d: Diagnostic) -> list[Fix]:
    """An acknowledged suppression (``# promptc: allow CODE — reason``) above the declaration the
    finding points into; the reason is a placeholder the author must replace."""
    info = state.module(path)
    if info is None or d.span is None:
        return []
    decls = [(s.span, s.name) for s in info.module.segments] + [(p.span, p.name) for p in info.module.plans]
    for span, name in decls:
        if span_contains(span, d.span.line, d.span.col) or span.line == d.span.line:
            lines = _lines(state, path)
            indent = re.match(r"\s*", lines[span.line - 1]).group()
            at = span.line
            while at > 1 and lines[at - 2].lstrip().startswith("##"):
                at -= 1  # above the `## doc` block, which must stay directly above its declaration
            text = f"{indent}# promptc: allow {d.code} — intended: say why this cache reset is worth it\n"
            return [Fix(f"Acknowledge {d.code} on `{name}` (suppression comment)", (Edit(path, at, 1, at, 1, text),))]
    return []


FIXES = {
    "E201": (fix_plan_order,),
    "E202": (fix_move_volatile,),
    "E203": (fix_dictsort,),
    "E601": (fix_boundary,),
    "W602": (fix_boundary,),
}


def fixes_for(state: ProjectState, path: Path, d: Diagnostic, lint: bool = False) -> list[Fix]:
    out: list[Fix] = []
    for fn in FIXES.get(d.code, ()):
        out.extend(fn(state, path, d))
    if lint:
        out.extend(fix_suppress(state, path, d))
    return out


__all__ = ["Edit", "FIXES", "Fix", "fixes_for"]
