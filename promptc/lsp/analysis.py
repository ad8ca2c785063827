"""What the language server knows about one project, independent of the protocol.

A :class:`ProjectState` owns one project (a directory with ``promptc.lock`` or ``[tool.promptc]``,
else the directory of the opened file): the editor's unsaved buffers (read by the compiler through
:class:`promptc.compiler.confine.overlay`, so the diagnostics are those of the text on screen), the
last compiled plans, and the parsed modules for navigation. Everything here is a plain function of
that state, so it is tested without a server (``tests/lsp/test_analysis.py``) and over stdio
(``tests/lsp/test_server.py``).

Incremental checking: an edit re-compiles the changed file and the files that import it,
transitively (:meth:`ProjectState.check`), never the rest of the project; opening and saving a file
re-check the whole project (cross-plan findings such as a duplicate plan name need every file).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from promptc.compiler.build import BuildResult, compile_project
from promptc.compiler.confine import overlay
from promptc.compiler.context import BuildContext
from promptc.compiler.resolve import ModuleInfo, Project, import_path, load_project, lookup, std_modules
from promptc.compiler.sources import find_project_root, find_sources
from promptc.core.errors import Diagnostic, Span
from promptc.core.inputs import sample_value
from promptc.core.resources import stdlib_dir
from promptc.core.vocab import ROLES, STABILITIES, STABILITY_RANK
from promptc.plan import Plan, PlanSegment
from promptc.syntax import ast
from promptc.syntax.parser import parse_source

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOCATION = re.compile(r"(?P<path>[^\s`'\"]+\.prompt):(?P<line>\d+):(?P<col>\d+)")
_INCLUDE = re.compile(r"""\{%-?\s*(?:include|import|extends|from)\s+(["'])(?P<name>[^"']+)\1""")


def project_root_for(path: Path) -> Path | None:
    """The project a file belongs to: the nearest directory with promptc.lock or ``[tool.promptc]``
    (None for a file outside any project: the server then checks that file and what it imports)."""
    return find_project_root(path.parent)


@dataclass
class Located:
    """A thing under the cursor: what it is, its name, and the declaration it resolves to."""

    kind: str  # segment | input | plan | import | include | from
    name: str
    span: Span  # where the cursor's token is (display path)
    target: Path | None = None  # the file it points to (import/include/from) or declares it
    segment: ast.Segment | None = None
    segment_module: ModuleInfo | None = None
    input: ast.InputDecl | None = None
    input_module: ModuleInfo | None = None
    input_segment: ast.Segment | None = None  # set when the input is declared inside a segment
    plan: ast.PlanDecl | None = None
    module: ModuleInfo | None = None  # the importing module, for a namespace


@dataclass
class ProjectState:
    """One project's buffers, plans and modules. ``context`` is shared by every project of a server so
    each tokenizer loads once."""

    root: Path
    context: BuildContext = field(default_factory=BuildContext)
    overlays: dict[Path, str] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    #: display path → diagnostics from the last check that covered that file
    diagnostics: dict[str, list[Diagnostic]] = field(default_factory=dict)
    #: what a full check compiles: the project root, or one file outside any project (a loose file in
    #: a home directory must not make the server scan the whole directory tree under it)
    files: list[Path] | None = None
    _project: Project | None = None
    _graph: dict[Path, tuple[set[Path], set[str]]] | None = None

    @property
    def scope(self) -> list[Path]:
        return list(self.files) if self.files else [self.root]

    # -- paths ---------------------------------------------------------------------------------------
    def path_of(self, display: str) -> Path:
        if display.startswith("std/"):
            return (stdlib_dir() / display[4:]).resolve()
        p = Path(display)
        return p if p.is_absolute() else (self.root / p).resolve()

    def display_of(self, path: Path) -> str:
        path = path.resolve()
        try:
            return "std/" + path.relative_to(stdlib_dir().resolve()).as_posix()
        except ValueError:
            return Path(os.path.relpath(path, self.root)).as_posix()

    def text_of(self, path: Path) -> str | None:
        path = path.resolve()
        if path in self.overlays:
            return self.overlays[path]
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    # -- buffers -------------------------------------------------------------------------------------
    def set_text(self, path: Path, text: str) -> None:
        self.overlays[path.resolve()] = text
        self._project = None

    def close(self, path: Path) -> None:
        self.overlays.pop(path.resolve(), None)
        self._project = None

    # -- checking ------------------------------------------------------------------------------------
    @property
    def project(self) -> Project:
        """The parsed modules of the whole project (with the buffers), reloaded after a change."""
        if self._project is None:
            with overlay(self.overlays):
                self._project = load_project(self.scope)
        return self._project

    def _file_graph(self) -> dict[Path, tuple[set[Path], set[str]]]:
        """file → (the files it imports, the plans it declares), from the last full parse; an edited
        file's own entry is refreshed from its buffer alone (:meth:`_refresh`), so an edit never
        re-parses the project."""
        if self._graph is None:
            self._graph = {}
            for info in self.project.modules.values():
                self._graph[info.file.resolve()] = self._edges(info)
        return self._graph

    @staticmethod
    def _edges(info: ModuleInfo) -> tuple[set[Path], set[str]]:
        targets = {t.resolve() for t in (import_path(info, imp.path) for imp in info.module.imports) if t is not None}
        return targets, {p.name for p in info.module.plans}

    def _refresh(self, path: Path) -> None:
        graph = self._file_graph()
        text = self.text_of(path)
        if text is None:
            return
        module, _ = parse_source(text, self.display_of(path))
        if module is not None:  # a file that does not parse keeps its last known imports and plans
            graph[path.resolve()] = self._edges(ModuleInfo(path.resolve(), self.display_of(path), module))

    def dependents(self, path: Path) -> set[Path]:
        """``path`` and every project file that imports it, transitively."""
        importers: dict[Path, set[Path]] = {}
        for file, (targets, _) in self._file_graph().items():
            for target in targets:
                importers.setdefault(target, set()).add(file)
        out, todo = set(), [path.resolve()]
        while todo:
            p = todo.pop()
            if p in out:
                continue
            out.add(p)
            todo.extend(importers.get(p, ()))
        return out

    def check(self, changed: Path | None = None) -> dict[str, list[Diagnostic]]:
        """Compile (the whole project, or ``changed`` and its dependents) and return the diagnostics of
        every file the compile covered, by display path (an empty list clears a file)."""
        if changed is None:
            paths = list(self.scope)
            covered_prev = set(self.diagnostics)
        else:
            self._refresh(changed)
            entries = set(find_sources(self.scope)[1])
            paths = sorted(p for p in self.dependents(changed) if p in entries) or [changed.resolve()]
            covered_prev = set()
        with overlay(self.overlays):
            result = compile_project(paths, context=self.context)
        shown = self._by_file(result)
        covered = {self.display_of(p) for p in result.dependencies if p.suffix == ".prompt" and p.exists()}
        covered |= set(shown) | covered_prev
        out: dict[str, list[Diagnostic]] = {}
        for display in covered:
            out[display] = shown.get(display, [])
            self.diagnostics[display] = out[display]
        if changed is None:
            self.plans = dict(result.plans)
            self._graph = None
        else:
            graph = self._file_graph()
            for p in paths:
                for name in graph.get(p.resolve(), (set(), set()))[1]:
                    self.plans.pop(name, None)
            self.plans.update(result.plans)
        return out

    def _by_file(self, result: BuildResult) -> dict[str, list[Diagnostic]]:
        """Diagnostics by display path; paths (span and notes) re-expressed relative to this project's
        root (a partial compile's root is the common directory of the files it was given)."""
        def display(p: str) -> str:
            return p if p.startswith("std/") or os.path.isabs(p) else self.display_of(result.root / p)

        shown: dict[str, list[Diagnostic]] = {}
        for d in result.diagnostics:
            if d.span is None:
                continue
            d = d.relocated(display)
            shown.setdefault(d.span.path, []).append(d)
        return shown

    # -- navigation ----------------------------------------------------------------------------------
    def module(self, path: Path) -> ModuleInfo | None:
        return self.project.modules.get(path.resolve())

    def locate(self, path: Path, line: int, col: int) -> Located | None:
        """What the 1-based ``line``/``col`` of ``path`` refers to (a declaration or a use)."""
        info = self.module(path)
        text = self.text_of(path)
        if info is None or text is None:
            return None
        lines = text.split("\n")
        if not 1 <= line <= len(lines):
            return None
        src = lines[line - 1]
        word, wstart = _word_at(src, col)
        mod = info.module
        for imp in mod.imports:
            if span_contains(imp.span, line, col):
                alias = self.alias_span(info, imp)
                if alias is not None and span_contains(alias, line, col):
                    return Located("namespace", imp.alias, alias, target=import_path(info, imp.path), module=info)
                return Located("import", imp.path, imp.span, target=import_path(info, imp.path))
        for plan in mod.plans:
            if span_contains(plan.name_span, line, col):
                return Located("plan", plan.name, plan.name_span, plan=plan, target=info.file)
            for ref in plan.refs:
                if span_contains(ref.span, line, col):
                    if len(ref.parts) > 1 and col < ref.span.col + len(ref.parts[0]) + 1 and \
                            ref.parts[0] in info.namespaces:
                        imp = next(i for i in mod.imports if i.alias == ref.parts[0])
                        return Located("namespace", ref.parts[0], Span(info.display, ref.span.line, ref.span.col,
                                                                       ref.span.line,
                                                                       ref.span.col + len(ref.parts[0])),
                                       target=import_path(info, imp.path), module=info)
                    found = lookup(info, ref)
                    if found is None:
                        return None
                    seg, where = found
                    return Located("segment", seg.name, ref.span, target=where.file, segment=seg,
                                   segment_module=where)
        for seg in mod.segments:
            if span_contains(seg.name_span, line, col):
                return Located("segment", seg.name, seg.name_span, target=info.file, segment=seg, segment_module=info)
            if seg.from_span is not None and span_contains(seg.from_span, line, col) and seg.from_file:
                return Located("from", seg.from_file, seg.from_span, target=(info.base_dir / seg.from_file).resolve())
            for d in seg.inputs:
                if d.span.line == line and word == d.name:
                    return Located("input", d.name, _word_span(info.display, line, wstart, word), target=info.file,
                                   input=d, input_module=info, input_segment=seg)
            if span_contains(seg.span, line, col):
                m = next((m for m in _INCLUDE.finditer(src) if m.start("name") <= col - 1 <= m.end("name")), None)
                if m is not None:
                    name = m.group("name")
                    target = stdlib_dir() / name[4:] if name.startswith("std/") else info.base_dir / name
                    return Located("include", name, Span(info.display, line, m.start("name") + 1, line,
                                                         m.end("name") + 1), target=target.resolve())
                if word and seg.text is not None and _in_body(seg, line, col):
                    decl, where, owner = _input_in_scope(info, seg, word)
                    if decl is not None:
                        return Located("input", word, _word_span(info.display, line, wstart, word),
                                       target=where.file, input=decl, input_module=where, input_segment=owner)
        for d in mod.inputs:
            if d.span.line == line and word == d.name:
                return Located("input", d.name, _word_span(info.display, line, wstart, word), target=info.file,
                               input=d, input_module=info)
        return None

    def alias_span(self, info: ModuleInfo, imp: ast.Import) -> Span | None:
        """Where ``as NAME`` names the namespace of an import (None without one)."""
        if not imp.alias:
            return None
        lines = (self.text_of(info.file) or "").split("\n")
        for ln in range(imp.span.line, (imp.span.end_line or imp.span.line) + 1):
            src = lines[ln - 1] if ln <= len(lines) else ""
            start = imp.span.col - 1 if ln == imp.span.line else 0
            m = re.compile(r"\bas\s+(" + re.escape(imp.alias) + r")\b").search(src, start)
            if m:
                return Span(info.display, ln, m.start(1) + 1, ln, m.end(1) + 1)
        return None

    def definition(self, loc: Located) -> tuple[Path, Span] | None:
        if loc.kind == "namespace" and loc.module is not None:
            imp = next(i for i in loc.module.module.imports if i.alias == loc.name)
            return loc.module.file, self.alias_span(loc.module, imp) or imp.span
        if loc.kind == "segment" and loc.segment is not None:
            return loc.segment_module.file, loc.segment.name_span
        if loc.kind == "input" and loc.input is not None:
            return loc.input_module.file, self.input_name_span(loc.input_module, loc.input)
        if loc.kind == "plan" and loc.plan is not None:
            return loc.target, loc.plan.name_span
        if loc.kind in ("import", "include", "from") and loc.target is not None and loc.target.exists():
            return loc.target, Span(self.display_of(loc.target), 1, 1, 1, 1)
        return None

    def input_name_span(self, info: ModuleInfo, decl: ast.InputDecl) -> Span:
        text = self.text_of(info.file) or ""
        lines = text.split("\n")
        src = lines[decl.span.line - 1] if decl.span.line <= len(lines) else ""
        m = re.compile(r"\binput\s+(" + re.escape(decl.name) + r")\b").search(src, max(0, decl.span.col - 1))
        col = m.start(1) + 1 if m else decl.span.col
        return Span(info.display, decl.span.line, col, decl.span.line, col + len(decl.name))

    def references(self, loc: Located) -> list[tuple[Path, Span]]:
        """The declaration and every use of the segment or input ``loc`` resolves to."""
        out: list[tuple[Path, Span]] = []
        if loc.kind == "namespace" and loc.module is not None:
            info = loc.module
            out.append(self.definition(loc))
            for plan in info.module.plans:
                for ref in plan.refs:
                    if len(ref.parts) > 1 and ref.parts[0] == loc.name:
                        out.append((info.file, Span(info.display, ref.span.line, ref.span.col, ref.span.line,
                                                    ref.span.col + len(loc.name))))
        elif loc.kind == "segment" and loc.segment is not None:
            out.append((loc.segment_module.file, loc.segment.name_span))
            for info in self.project.modules.values():
                for plan in info.module.plans:
                    for ref in plan.refs:
                        found = lookup(info, ref)
                        if found is not None and found[0] is loc.segment:
                            last = ref.parts[-1]
                            out.append((info.file, Span(info.display, ref.span.end_line or ref.span.line,
                                                        ref.span.end_col - len(last), ref.span.end_line or
                                                        ref.span.line, ref.span.end_col)))
        elif loc.kind == "input" and loc.input is not None:
            out.append((loc.input_module.file, self.input_name_span(loc.input_module, loc.input)))
            for info in self.project.modules.values():
                text = self.text_of(info.file)
                if text is None:
                    continue
                lines = text.split("\n")
                for seg in info.module.segments:
                    if seg.text is None:
                        continue
                    decl, _, _ = _input_in_scope(info, seg, loc.name)
                    if decl is not loc.input:
                        continue
                    for ln in range(seg.text.span.line, (seg.text.span.end_line or seg.text.span.line) + 1):
                        src = lines[ln - 1] if ln <= len(lines) else ""
                        for m in re.finditer(r"(?<![\w.])" + re.escape(loc.name) + r"\b", src):
                            if span_contains(seg.text.span, ln, m.start() + 1) and _in_jinja(src, m.start()):
                                out.append((info.file, Span(info.display, ln, m.start() + 1, ln, m.end() + 1)))
        return out

    # -- plans ---------------------------------------------------------------------------------------
    def plan_segments(self, info: ModuleInfo, seg: ast.Segment) -> list[tuple[Plan, int]]:
        """Every compiled plan that holds ``seg`` (declared in ``info``), with its index there."""
        out = []
        for plan in self.plans.values():
            for i, ps in enumerate(plan.segments):
                if ps.id == seg.name and ps.module == info.display:
                    out.append((plan, i))
        return out


# -- helpers ------------------------------------------------------------------------------------------

def span_contains(span: Span, line: int, col: int) -> bool:
    """True when the 1-based ``line``/``col`` lies within ``span`` (its end column included)."""
    end_line = span.end_line or span.line
    end_col = span.end_col or span.col + 1
    if line < span.line or line > end_line:
        return False
    if line == span.line and col < span.col:
        return False
    if line == end_line and col > end_col:
        return False
    return True


def _word_at(src: str, col: int) -> tuple[str | None, int]:
    for m in _WORD.finditer(src):
        if m.start() <= col - 1 <= m.end():
            return m.group(), m.start() + 1
    return None, 0


def _word_span(display: str, line: int, start: int, word: str) -> Span:
    return Span(display, line, start, line, start + len(word))


def _in_body(seg: ast.Segment, line: int, col: int) -> bool:
    return seg.text is not None and span_contains(seg.text.span, line, col)


def _in_jinja(src: str, index: int) -> bool:
    """True when ``src[index]`` sits inside ``{{ }}`` or ``{% %}`` on its line."""
    opened = max(src.rfind("{{", 0, index), src.rfind("{%", 0, index))
    closed = max(src.rfind("}}", 0, index), src.rfind("%}", 0, index))
    return opened > closed


def _input_in_scope(info: ModuleInfo, seg: ast.Segment, name: str):
    for d in seg.inputs:
        if d.name == name:
            return d, info, seg
    found = info.input_scope.get(name)
    if found is not None:
        return found[0], found[1], None
    return None, None, None


def input_level(decl: ast.InputDecl, owner: ast.Segment | None) -> str:
    """The stability of an input: its own annotation, else its segment's."""
    if decl.stability:
        return decl.stability
    return owner.stability if owner is not None else "session"


def plan_order_fix(info: ModuleInfo, plan: ast.PlanDecl) -> list[str] | None:
    """The plan's references stably sorted so stability never decreases (E201's mechanical fix), or
    None when a reference does not resolve."""
    ranked = []
    for i, ref in enumerate(plan.refs):
        found = lookup(info, ref)
        if found is None:
            return None
        ranked.append((STABILITY_RANK[found[0].stability], i, ref.dotted))
    return [dotted for _, _, dotted in sorted(ranked)]


def related(d: Diagnostic) -> list[tuple[str, int, int, str]]:
    """``(display path, line, col, note)`` for every ``path:line:col`` a diagnostic's notes mention."""
    out = []
    for note in d.notes:
        for m in _LOCATION.finditer(note):
            out.append((m["path"], int(m["line"]), int(m["col"]), note))
    return out


def completions_for(state: ProjectState, path: Path, line: int, col: int) -> list[tuple[str, str, str]]:
    """``(label, kind, detail)`` completions at a 1-based position: annotations after ``@``, roles
    after ``role``, std modules in an import string, inputs and filters inside ``{{ }}``/``{% %}``,
    segment names in a plan, else keywords and segment names."""
    text = state.text_of(path) or ""
    lines = text.split("\n")
    src = lines[line - 1][: col - 1] if 1 <= line <= len(lines) else ""
    info = state.module(path)
    if re.search(r"@\w*$", src):
        return [(s, "annotation", "stability") for s in STABILITIES] + [("append_only", "annotation", "append-only")]
    if re.search(r"\brole\s+\w*$", src):
        return [(r, "role", "role") for r in ROLES]
    if re.search(r'\bimport\s+"[^"]*$', src):
        here = path.parent
        local = sorted("./" + Path(os.path.relpath(p, here)).as_posix().removesuffix(".prompt")
                       for p in find_sources(state.scope)[1] if p.resolve() != path.resolve())
        return [(m, "module", "standard library") for m in std_modules()] + [(m, "module", "file") for m in local]
    if re.search(r"\|\s*\w*$", src) and _in_jinja(src, len(src)):
        return [(f, "filter", "filter") for f in _filters()]
    if _in_jinja(src, len(src)):
        names: dict[str, str] = {}
        if info is not None:
            for name, (decl, _) in info.input_scope.items():
                names[name] = "file input"
            for seg in info.module.segments:
                if span_contains(seg.span, line, col):
                    for d in seg.inputs:
                        names[d.name] = f"input of {seg.name}"
        return [(n, "input", d) for n, d in sorted(names.items())] + [(f, "filter", "filter") for f in _filters()]
    if re.match(r"\s*plan\s+\w+\s*=", src) and info is not None:
        names = sorted(info.scope) + sorted(f"{a}.{n}" for a, ns in info.namespaces.items() for n in ns.own_segments)
        return [(n, "segment", "segment") for n in names]
    out = [(k, "keyword", "keyword") for k in ("import", "target", "input", "global", "agent", "task", "plan",
                                                 "role", "from", "text", "tools", "memory", "history")]
    if info is not None:
        out += [(n, "segment", "segment") for n in sorted(info.scope)]
    return out


def _filters() -> list[str]:
    import jinja2

    from promptc.core.templates import make_environment

    return sorted(make_environment(jinja2.DictLoader({})).filters)


def render_preview(plan: Plan, inputs: dict | None = None) -> dict:
    """A plan's rendered request for ``inputs`` (sample values for required inputs not given)."""
    given = dict(inputs or {})
    values: dict[str, dict] = {"session": {}, "turn": {}}
    for spec in plan.inputs:
        if spec.stability not in values:
            continue
        if spec.name in given:
            values[spec.stability][spec.name] = given[spec.name]
        elif not spec.has_default and not spec.type.get("optional"):
            values[spec.stability][spec.name] = sample_value(spec.type, spec.name)
    request = plan.bind(**values["session"]).render(**values["turn"])
    return {"plan": plan.name, "inputs": values,
            "segments": [{"id": s.id, "role": s.role, "stability": s.stability, "hash": s.hash,
                          "prefix_hash": s.prefix_hash, "tokens": s.tokens, "breakpoint": s.breakpoint,
                          "content": s.content} for s in request.segments]}


def segment_hover(state: ProjectState, info: ModuleInfo, seg: ast.Segment) -> str:
    """Markdown: stability, tokens per target, hash, prefix tokens per target (wire order), breakpoint,
    and the plans that hold it (and which of them share its cached prefix)."""
    head = f"**{seg.level} {seg.name}** `@{seg.stability}`{' append-only' if seg.append_only else ''} · " \
           f"{seg.kind} · role {seg.role}"
    lines = [head]
    if seg.doc:
        lines += ["", seg.doc]
    held = state.plan_segments(info, seg)
    if not held:
        lines += ["", "_not in any compiled plan (or the project has errors)_"]
        return "\n".join(lines)
    first: PlanSegment = held[0][0].segments[held[0][1]]
    if first.hash:
        lines += ["", f"hash `{first.hash[:19]}…`"]
    if first.tokens:
        lines += ["", "tokens: " + ", ".join(f"{t} {n}" for t, n in sorted(first.tokens.items()))]
    lines += ["", "| plan | position | prefix tokens (wire order) | breakpoint |", "|---|---|---|---|"]
    by_prefix: dict[str, list[str]] = {}
    for plan, i in held:
        ps = plan.segments[i]
        prefix = ", ".join(f"{t} {n}" for t, n in sorted((ps.prefix_tokens or {}).items())) or "—"
        lines.append(f"| {plan.name} | {i + 1}/{len(plan.segments)} | {prefix} | {', '.join(ps.breakpoint or []) or '—'} |")
        if ps.prefix_hash:
            by_prefix.setdefault(ps.prefix_hash, []).append(plan.name)
    shared = [names for names in by_prefix.values() if len(names) > 1]
    if shared:
        lines += ["", "shares its cached prefix: " + "; ".join(", ".join(n) for n in shared)]
    return "\n".join(lines)


def input_hover(state: ProjectState, loc: Located) -> str:
    decl = loc.input
    level = input_level(decl, loc.input_segment)
    where = f"segment `{loc.input_segment.name}`" if loc.input_segment else f"{loc.input_module.display}"
    lines = [f"**input {decl.name}**: `{_type_text(decl.type)}` · level `{level}` · declared in {where}"]
    if decl.doc:
        lines += ["", decl.doc]
    flows = []
    for plan in state.plans.values():
        for ps in plan.segments:
            if decl.name in ps.inputs:
                flows.append(f"- plan `{plan.name}` → `{ps.id}` (`@{ps.stability}`)")
    lines += ["", "flows into:" if flows else "_used by no compiled plan_"] + flows
    return "\n".join(lines)


def _type_text(t: ast.TypeRef) -> str:
    from promptc.compiler.check import type_text

    return type_text(t)


__all__ = ["Located", "ProjectState", "completions_for", "input_hover", "input_level", "plan_order_fix",
           "project_root_for", "related", "render_preview", "sample_value", "segment_hover", "span_contains"]
