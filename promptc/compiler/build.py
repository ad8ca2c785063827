"""The compiler driver: resolve → check → render → align/fix → hash once → annotate.

:func:`compile_project` runs the stages in one direction: each takes the previous stage's plans and
returns its own. Rendering (here) produces unhashed plans; :mod:`.align` proves or fixes token
boundaries; :mod:`.hashes` hashes every static segment once; :mod:`.annotate` adds token counts and
breakpoints. Writing files belongs to :mod:`.project` / :mod:`.emit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from promptc.compiler import deps
from promptc.compiler.align import Aligner, prove_boundaries
from promptc.compiler.analysis import TemplateAnalyzer
from promptc.compiler.annotate import annotate_plans
from promptc.compiler.check import (AnalyzedSegment, analyze_template, check_append_only_segment, check_input_decl,
                                    check_input_decls, check_plan_order, template_span)
from promptc.compiler.config import ProjectConfig
from promptc.compiler.confine import FileGuard, FileRefused
from promptc.compiler.context import BuildContext
from promptc.compiler.hashes import hash_plans
from promptc.compiler.loader import ProjectLoader
from promptc.compiler.resolve import ModuleInfo, Project, load_project, lookup, unknown_segment_hint
from promptc.compiler.warnings import plan_warnings
from promptc.core.content import memory_content, memory_entries, tools_content
from promptc.core import safewrite
from promptc.core.errors import CompileError, Diagnostic, sorted_diagnostics, with_excerpts
from promptc.core.hashing import entry_hash
from promptc.core.inputs import inputs_model, tool_schema
from promptc.core.providers import DEFAULT_TARGET, Target, parse_target
from promptc.core.templates import TemplateLimitError, make_environment, render_template, template_line
from promptc.core.vocab import HISTORY_ENTRY_TYPE, MEMORY_ENTRY_TYPE
from promptc.plan import InputSpec, Plan, PlanSegment, SourceSpan
from promptc.syntax import ast



@dataclass
class BuildResult:
    """Everything one compilation produced."""

    root: Path
    plans: dict[str, Plan] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    dependencies: set[Path] = field(default_factory=set)
    sources: list[Path] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    def raise_on_error(self) -> "BuildResult":
        if self.errors:
            raise CompileError(self.diagnostics)
        return self

    def __getitem__(self, name: str) -> Plan:
        return self.plans[name]


#: The most entries one memory segment may have: a 4 MB file of tiny paragraphs made 1.3M entries,
#: a 116 MB plan (105 MB of entry hashes) and 2.1 GB of memory. A fixed ceiling, not a setting: a
#: pull request controls pyproject.toml.
MAX_MEMORY_ENTRIES = 10_000


def span_model(s) -> SourceSpan:
    return SourceSpan(path=s.path, line=s.line, col=s.col, end_line=s.end_line or s.line, end_col=s.end_col or s.col + 1)


class _Compiler:
    def __init__(self, project: Project, config: ProjectConfig):
        self.project = project
        self.config = config
        self.diags: list[Diagnostic] = list(project.diagnostics)  # includes the config's findings
        self.analyzed: dict[int, AnalyzedSegment] = {}
        self.static_content: dict[int, PlanSegment] = {}
        self.envs: dict[Path, tuple[jinja2.Environment, ProjectLoader]] = {}
        self.analyzer: TemplateAnalyzer | None = None
        self.used_file_inputs: set[int] = set()  # ids of file-level input declarations some template uses
        self.guard = project.guard or FileGuard(project.root)

    def env_for(self, info: ModuleInfo) -> tuple[jinja2.Environment, ProjectLoader]:
        """The build-time environment and loader for templates of modules in ``info``'s directory."""
        if info.base_dir not in self.envs:
            loader = ProjectLoader(info.base_dir, self.guard)
            self.envs[info.base_dir] = (make_environment(loader, self.project.config.template_limits), loader)
            if self.analyzer is None:  # parsing does not depend on the loader: one analyzer per build
                self.analyzer = TemplateAnalyzer(self.envs[info.base_dir][0])
        return self.envs[info.base_dir]

    # -- per segment -----------------------------------------------------------------------------
    def analyze_module(self, info: ModuleInfo) -> None:
        for d in info.module.inputs:
            check_input_decl(d, self.diags)
        for seg in info.module.segments:
            check_input_decls(seg, self.diags)
            a = self.analyze_segment(seg, info)
            self.used_file_inputs |= {id(r.decl) for r in a.used.values() if r.owner == "module"}

    def unused_file_inputs(self) -> None:
        """W301 for file-level inputs no template uses, in their module or in a module importing it."""
        for info in sorted(self.project.modules.values(), key=lambda m: m.display):
            for name, d in info.own_inputs.items():
                if id(d) not in self.used_file_inputs:
                    self.diags.append(Diagnostic("W301", f"input `{name}` is never used in {info.display}", d.span,
                                                 "remove it or use it in a template", severity="warning"))

    def analyze_segment(self, seg: ast.Segment, info: ModuleInfo) -> AnalyzedSegment:
        key = id(seg)
        if key in self.analyzed:
            return self.analyzed[key]
        env, loader = self.env_for(info)
        if seg.kind == "text" and seg.text is not None:
            a = analyze_template(seg, info, self.analyzer, loader, self.diags)
        else:
            a = AnalyzedSegment(seg, info, ok=check_append_only_segment(seg, self.diags))
        self.analyzed[key] = a
        return a

    def static_segment(self, seg: ast.Segment, info: ModuleInfo) -> PlanSegment | None:
        """Render a static segment once; shared by every plan that uses it (hashed later, once)."""
        key = id(seg)
        if key in self.static_content:
            return self.static_content[key]
        a = self.analyzed[key]
        if not a.ok:
            return None
        tools = entries = entry_hashes = None
        if seg.kind == "text":
            env, _ = self.env_for(info)
            values = {n: r.decl.default for n, r in a.used.items()}
            try:
                content = render_template(env, seg.text.source, values)
            except (FileRefused, TemplateLimitError) as exc:  # E801-E803, E806-E809
                line = template_line(exc)
                self.diags.append(Diagnostic(exc.code, f"segment `{seg.name}`: {exc.reason if isinstance(exc, FileRefused) else exc}",
                                             template_span(seg, line) if line else seg.text.span, exc.hint))
                return None
            except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
                self.diags.append(Diagnostic("E112", f"segment `{seg.name}` failed to render: {exc}", seg.text.span,
                                             "static templates render at build time with no inputs"))
                return None
        elif seg.kind == "tools":
            tools = [tool_schema(t.name, t.description, [(p.name, p.type.to_spec(), p.description) for p in t.params])
                     for t in seg.tools]
            content = tools_content(tools)
            entry_hashes = [entry_hash(t) for t in tools]
        else:  # static memory
            if seg.from_file is not None:
                path = info.base_dir / seg.from_file
                deps.record(path)
                try:
                    entries = memory_entries(self.guard.read_text(path, seg.from_file))
                except FileRefused as exc:  # outside the allowed roots, not a regular file, or too large
                    self.diags.append(exc.diagnostic(seg.from_span))
                    return None
                except (OSError, UnicodeDecodeError):
                    self.diags.append(Diagnostic("E109", f"memory file not found or unreadable: `{seg.from_file}`",
                                                 seg.from_span, f"paths are relative to {info.display}'s directory"))
                    return None
            else:
                entries = [e.text for e in seg.entries]
            if len(entries) > MAX_MEMORY_ENTRIES:  # each entry costs a hash in the plan and the lock
                self.diags.append(Diagnostic(
                    "E810", f"memory segment `{seg.name}` has {len(entries)} entries, over the limit of "
                            f"{MAX_MEMORY_ENTRIES}", seg.from_span if seg.from_file is not None else seg.span,
                    "merge small entries into larger paragraphs (entries are separated by blank lines)"))
                return None
            content = memory_content(entries)
            entry_hashes = [entry_hash(e) for e in entries]
        ps = PlanSegment(id=seg.name, module=info.display, level=seg.level, stability="static",
                         append_only=seg.append_only, kind=seg.kind, role=seg.role, doc=seg.doc, content=content,
                         tools=tools, entries=entries, entry_hashes=entry_hashes, source=span_model(seg.span))
        self.static_content[key] = ps
        return ps

    # -- per plan -----------------------------------------------------------------------------------
    def targets(self, plan: ast.PlanDecl, info: ModuleInfo) -> list[Target] | None:
        named = (list(plan.targets) or [t for decl in info.module.targets for t in decl.targets]
                 or list(self.config.targets))
        if not named:
            return [parse_target(DEFAULT_TARGET)]
        out, ok = [], True
        for text, span in named:
            try:
                out.append(parse_target(text))
            except ValueError as exc:
                self.diags.append(Diagnostic("E110", str(exc), span,
                                             "targets are provider/model, e.g. engine/smollm2, openai/gpt-5.6, "
                                             "anthropic/claude-opus-4-8"))
                ok = False
        seen, uniq = set(), []
        for t in out:
            if t.name not in seen:
                seen.add(t.name)
                uniq.append(t)
        return uniq if ok else None

    def build_plan(self, plan: ast.PlanDecl, info: ModuleInfo) -> Plan | None:
        resolved: list[tuple[ast.Ref, ast.Segment, ModuleInfo]] = []
        ok = True
        for ref in plan.refs:
            found = lookup(info, ref)
            if found is None:
                ok = False
                if info.may_lack(ref):
                    continue  # a consequence of the failed import, which is already reported
                self.diags.append(Diagnostic("E103", f"unknown segment `{ref.dotted}` in plan `{plan.name}`", ref.span,
                                             unknown_segment_hint(self.project, info, ref)))
                continue
            resolved.append((ref, found[0], found[1]))
        order = check_plan_order(plan, [(r, s) for r, s, _ in resolved])
        self.diags.extend(order)
        targets = self.targets(plan, info)
        if not ok or targets is None or any(d.is_error for d in order):
            return None
        for _, seg, minfo in resolved:
            self.analyze_segment(seg, minfo)
        if not all(self.analyzed[id(s)].ok for _, s, _ in resolved):
            return None

        segments: list[PlanSegment] = []
        inputs: dict[str, tuple[InputSpec, ast.Span]] = {}
        includes: dict[str, str] = {}
        dynamic_seen = False

        def add_input(spec: InputSpec, span) -> bool:
            prev = inputs.get(spec.name)
            if prev and prev[0] != spec:
                self.diags.append(Diagnostic(
                    "E122", f"plan `{plan.name}` uses two different inputs named `{spec.name}`", span,
                    "rename one of them, or import one module under a namespace",
                    notes=(f"the other is declared at {prev[1]}",)))
                return False
            inputs[spec.name] = (spec, span)
            return True

        for ref, seg, minfo in resolved:
            if seg.stability == "static" and not dynamic_seen:
                ps = self.static_segment(seg, minfo)
                if ps is None:
                    return None
                segments.append(ps.model_copy(update={"id": ref.dotted}))
                continue
            dynamic_seen = True
            a = self.analyzed[id(seg)]
            used_names: list[str] = []
            if seg.kind == "text":
                for name, r in sorted(a.used.items()):
                    d = r.decl
                    spec = InputSpec(name=name, type=d.type.to_spec(), stability=r.stability,
                                     has_default=d.has_default, default=d.default, doc=d.doc)
                    if not add_input(spec, d.span):
                        return None
                    used_names.append(name)
                includes.update(a.includes)
            elif seg.kind in ("memory", "history"):
                spec = InputSpec(name=seg.name, type=HISTORY_ENTRY_TYPE if seg.kind == "history" else MEMORY_ENTRY_TYPE,
                                 stability=seg.stability, has_default=True, default=[],
                                 doc=seg.doc or f"entries of the append-only {seg.kind} segment `{seg.name}`")
                if not add_input(spec, seg.span):
                    return None
                used_names.append(seg.name)
            segments.append(PlanSegment(
                id=ref.dotted, module=minfo.display, level=seg.level, stability=seg.stability,
                append_only=seg.append_only, kind=seg.kind, role=seg.role, doc=seg.doc,
                template=seg.text.source if seg.text else None, inputs=used_names, source=span_model(seg.span)))

        specs = [s for s, _ in sorted(inputs.values(), key=lambda x: x[0].name)]
        schema = {}
        for level in ("session", "turn"):
            level_specs = [s.model_dump() for s in specs if s.stability == level]
            schema[level] = inputs_model(f"{plan.name}_{level}_inputs", level_specs).model_json_schema()
        return Plan(name=plan.name, doc=plan.doc, source=span_model(plan.span), targets=targets, input_schema=schema,
                    inputs=specs, includes=dict(sorted(includes.items())), segments=segments)

    def run(self) -> BuildResult:
        result = BuildResult(self.project.root)
        for info in sorted(self.project.modules.values(), key=lambda m: m.display):
            self.analyze_module(info)
        self.unused_file_inputs()
        plan_sites: dict[str, ast.PlanDecl] = {}
        for f in self.project.entries:
            info = self.project.modules.get(f)
            if info is None:
                continue
            for p in info.module.plans:
                if p.name in plan_sites:
                    self.diags.append(Diagnostic("E123", f"plan `{p.name}` is declared twice", p.name_span,
                                                 "plan names are unique in a project (each is one output file)",
                                                 notes=(f"first declared at {plan_sites[p.name].name_span}",)))
                    continue
                plan_sites[p.name] = p
                built = self.build_plan(p, info)
                if built is not None:
                    result.plans[p.name] = built
        result.diagnostics = sorted_diagnostics(self.diags)
        if result.errors:
            result.plans = {}
        else:
            result.plans = dict(sorted(result.plans.items()))
        return result


def compile_project(paths, *, annotate_tokens: bool = True, cache_dir: Path | None = None,
                    align: str | None = None, context: BuildContext | None = None, allow_roots=()) -> BuildResult:
    """Compile every plan declared in the .prompt files under ``paths``.

    Returns a :class:`BuildResult`; diagnostics are sorted and complete (the build never stops at
    the first error). With ``annotate_tokens`` boundaries are proven (or, with ``align="fix"``,
    normalized) per target tokenizer and the plans carry token counts and breakpoints. ``align``
    None takes the project's ``[tool.promptc] align`` setting (default ``"check"``). Pass one
    ``context`` to many builds to load each tokenizer once (see :class:`BuildContext`). Files are
    read only from the project root, the standard library, the configured ``allow_roots`` and the
    ``allow_roots`` given here (docs/security.md).
    """
    context = context if context is not None else BuildContext()
    with deps.tracking() as read:
        project = load_project([Path(p) for p in paths], tuple(Path(r) for r in allow_roots))
        config = project.config
        result = _Compiler(project, config).run()
        if not result.errors and result.plans:
            result.plans, late = _late_stages(result.plans, project.root, config, context, annotate_tokens,
                                              align or config.align or "check", cache_dir)
            result.diagnostics = sorted_diagnostics(result.diagnostics + late)
            if result.errors:
                result.plans = {}
        result.diagnostics = sorted_diagnostics(result.diagnostics + plan_warnings(result.plans, config.cache_limits))
    result.diagnostics = with_excerpts(result.diagnostics, project.sources)
    result.dependencies = read
    result.sources = list(project.entries)
    return result


def _late_stages(plans: dict[str, Plan], root: Path, config: ProjectConfig, context: BuildContext, annotate: bool,
                 align: str, cache_dir: Path | None) -> tuple[dict[str, Plan], list[Diagnostic]]:
    """align/fix → hash once → annotate, in that order."""
    if not annotate:
        return hash_plans(plans), []
    cache_dir = cache_dir or (root / ".promptc" / "cache")
    safewrite.check_output_path(cache_dir, root)  # E812 before a cache file is written through a link
    tools: dict[str, tuple] = {}
    for plan in plans.values():
        for t in plan.targets:
            if t.tokenizer not in tools:
                tok = context.tokenizer(t.tokenizer)
                if getattr(tok, "source", None):
                    deps.record(Path(tok.source))  # the model/data file the tokenizer came from
                tools[t.tokenizer] = (tok, context.token_cache(cache_dir, tok))
    aligners = {tok_id: Aligner(tok, cache) for tok_id, (tok, cache) in tools.items()}
    plans, diags = prove_boundaries(plans, aligners, align)
    plans, notes = annotate_plans(hash_plans(plans), tools.__getitem__, context.chat_template, config.cache_limits)
    context.save()
    return plans, diags + notes


__all__ = ["BuildResult", "compile_project"]
