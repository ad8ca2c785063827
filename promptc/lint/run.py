"""``promptc lint``: compare the working tree with a baseline and report every change in cache terms.

The pipeline: baseline (:mod:`.baseline`) → build the new plans → classify (:mod:`.classify`) →
impact (:mod:`.impact`) → suppressions (:mod:`.suppress`) → one :class:`LintReport`, which the
formats (:mod:`.formats`) render. ``build --check`` uses the same engine against the lockfile
(:func:`check_against_lock`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import posixpath
from pathlib import Path

from promptc.compiler.build import BuildResult, compile_project
from promptc.compiler.context import BuildContext
from promptc.compiler.sources import find_sources
from promptc.core.codes import lookup
from promptc.core.errors import Diagnostic, Span
from promptc.core.version import __version__
from promptc.lint import rules_memory, suppress
from promptc.lint.baseline import load_baseline, repo_root
from promptc.lint.gitref import BaselineError, unchanged_since
from promptc.lint.classify import Change, classify, match_plans, regrade
from promptc.lint.config import LintConfig, load_lint_config
from promptc.lint.impact import plan_impact, totals as impact_totals, whole_plan_impact
from promptc.lint.model import REPORT_VERSION, Finding, LintReport, Location, PlanImpact, PlanSummary, Summary, Suppression
from promptc.lint.snapshot import PlanView, Snapshot, view_lock, view_plans
from promptc.lint.wire import WireCounter
from promptc.lock import read_lock

#: Warnings of the new build that lint repeats when they sit on a changed line.
STATIC_WARNINGS = ("W31", "W60")


def _location(d: Diagnostic, snap: Snapshot) -> Location | None:
    if d.span is None:
        return None
    from promptc.lint.locate import at

    return at(snap, d.span.path, d.span.line, d.span.col, d.span.end_col if d.span.end_line in (0, d.span.line) else None)


def _changed_lines(old: Snapshot, new: Snapshot, path: str) -> set[int]:
    a, b = old.text(path), new.text(path)
    if b is None:
        return set()
    if a is None:
        return set(range(1, b.count("\n") + 2))
    out: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a.split("\n"), b.split("\n"), autojunk=False).get_opcodes():
        if tag != "equal":
            out.update(range(j1 + 1, max(j2, j1 + 1) + 1))
    return out


def _rel(loc: Location | None, prefix: str) -> Location | None:
    if loc is None or not prefix:
        return loc
    return loc.model_copy(update={"path": posixpath.normpath(posixpath.join(prefix, loc.path))})


def compare(old: Snapshot, new: Snapshot, *, diagnostics: list[Diagnostic] = (), config: LintConfig | None = None,
            prefix: str = "", notes: tuple[str, ...] = ()) -> LintReport:
    """The report for the change from ``old`` to ``new`` (both :class:`Snapshot`)."""
    config = config or LintConfig()
    counter = WireCounter()  # tool definitions counted as each provider's wire carries them
    renamed = match_plans(old.plans, new.plans)
    if renamed:  # a renamed plan is compared with its old self under its new name (I924, not I915 + I916)
        old = dataclasses.replace(old, plans={
            renamed.get(n, n): dataclasses.replace(v, name=renamed[n], renamed_from=n) if n in renamed else v
            for n, v in old.plans.items()})
    changes = classify(old.plans, new.plans, old if old.root is not None else None, new)
    groups: dict[tuple, list[Change]] = {}
    for c in changes:
        groups.setdefault(c.group or (c.code, c.plan, c.message), []).append(c)
    epoch = suppress.epoch_reason(old.config, new.config, old.kind)
    findings: list[Finding] = []
    per_plan: dict[str, list[tuple[int, PlanImpact, bool]]] = {}
    seen_allows: set[tuple] = set()
    for key, cs in groups.items():
        first = cs[0]
        entry = lookup(first.code)
        impacts = []
        for c in cs:
            imp = plan_impact(c, old.plans.get(c.plan), new.plans[c.plan], config, counter) if c.plan in new.plans \
                else None
            if imp is not None:
                impacts.append(imp)
        code, wire_notes = _by_wire(first.code, impacts, first.segment)
        if code != first.code:
            entry = lookup(code)
        sup = None
        older: list[str] = []
        allows = suppress.allows_above(new, first.suppress_at.span) if first.suppress_at is not None else []
        seg_hash, old_span = _acknowledged(first, old)
        for a in allows:
            if not a.reason:
                k = (a.location.path, a.location.line)
                if k not in seen_allows:
                    seen_allows.add(k)
                    findings.append(Finding(code="W917", name="suppression-without-reason", severity="warning",
                                            message=f"`# promptc: allow {', '.join(a.codes)}` gives no reason, so it "
                                                    "suppresses nothing", location=_rel(a.location, prefix),
                                            hint="write the reason after a dash: # promptc: allow E901 — why"))
            elif code in a.codes and sup is None:
                stale = suppress.acknowledges(a, seg_hash, old if old.root is not None else None, old_span)
                if stale is None:
                    sup = Suppression(by="comment", reason=a.reason, location=_rel(a.location, prefix))
                else:
                    older.append(stale)
        if sup is None and epoch and entry is not None and entry.severity == "error":
            sup = Suppression(by="cache_epoch", reason=epoch)
        findings.append(Finding(
            code=code, name=entry.name if entry else "", severity=entry.severity if entry else "error",
            message=first.message, location=_rel(first.location, prefix), segment=first.segment,
            plans=sorted({c.plan for c in cs}), impact=sorted(impacts, key=lambda p: p.plan),
            notes=list(first.notes) + wire_notes + older, hint=first.hint if code == first.code else entry.fix, suppressed=sup))
        for c, imp in zip([c for c in cs if c.break_at is not None], impacts):
            per_plan.setdefault(c.plan, []).append((c.break_at, imp, sup is not None))
    findings.extend(_retention_changes(old, new, prefix))
    # static warnings of the new build, where they sit on a changed line
    if old.root is not None:
        changed: dict[str, set[int]] = {}
        for d in diagnostics:
            if d.is_error or not d.code.startswith(STATIC_WARNINGS) or d.span is None:
                continue
            lines = changed.setdefault(d.span.path, _changed_lines(old, new, d.span.path))
            if lines & set(range(d.span.line, (d.span.end_line or d.span.line) + 1)):
                entry = lookup(d.code)
                code, name, severity, message, f_notes = d.code, entry.name if entry else "", "warning", d.message, \
                    list(d.notes)
                f_plans: list[str] = []
                if d.code == "W312":  # graded by what the wire loses: E923 where a target re-writes content after it
                    plan = next((p for p in new.plans.values() if p.span is not None
                                 and (p.span.path, p.span.line) == (d.span.path, d.span.line)), None)
                    g = rules_memory.grade(d.message, plan, config.cache_limits, counter)
                    f_plans = [plan.name] if plan is not None else []
                    code, name, severity, message, f_notes = g.code, g.name, g.severity, g.message, \
                        list(d.notes) + list(g.notes)
                findings.append(Finding(code=code, name=name, severity=severity, message=message,
                                        location=_rel(_location(d, new), prefix), notes=f_notes, hint=d.hint,
                                        plans=f_plans))
    findings.sort(key=lambda f: ((f.location.path, f.location.line, f.location.col) if f.location else ("~", 0, 0),
                                 f.code, f.message))
    plans = []
    broken = sorted(n for n in per_plan if n in new.plans)
    for name in broken:
        _, imp, _ = min(per_plan[name], key=lambda x: x[0])
        all_sup = all(s for _, _, s in per_plan[name])
        whole = whole_plan_impact(old.plans.get(name), new.plans[name], config, counter)
        costs = {t: w.cost.per_request for t, w in whole.items() if w.cost is not None}
        daily = [w.cost.daily for w in whole.values() if w.cost and w.cost.daily is not None]
        plans.append(PlanSummary(plan=name, from_segment=imp.from_segment,
                                 tokens={t: w.tokens for t, w in whole.items()},
                                 lost={t: w.lost for t, w in whole.items()}, cost=costs,
                                 cost_per_request=round(max(costs.values(), default=0.0), 6),
                                 cost_daily=round(max(daily), 6) if daily else None, suppressed=all_sup))
    per_target = impact_totals(old.plans, new.plans, broken, config, counter)
    cost_by_target = {t: c for t, (_, c) in per_target.items() if c is not None}
    daily_all = [p.cost_daily for p in plans if p.cost_daily is not None]
    summary = Summary(
        errors=sum(f.severity == "error" and f.suppressed is None for f in findings),
        warnings=sum(f.severity == "warning" and f.suppressed is None for f in findings),
        infos=sum(f.severity == "info" for f in findings), suppressed=sum(f.suppressed is not None for f in findings),
        plans=plans, cost=cost_by_target, cost_per_request=round(max(cost_by_target.values(), default=0.0), 6),
        cost_daily=round(max(daily_all), 6) if daily_all else None)
    return LintReport(tool_version=__version__, baseline=old.label, baseline_kind=old.kind if old.kind != "new" else "dir",
                      findings=findings, summary=summary, notes=list(notes))


def _retention_changes(old: Snapshot, new: Snapshot, prefix: str) -> list[Finding]:
    """I919 per plan whose ``cacheRetention`` changed: no prefix is lost, later writes buy a new TTL
    at its price (the impact of every other finding is priced at the new one)."""
    def retention(cfg: dict, plan: str) -> str:
        return (cfg.get("plan_retention") or {}).get(plan) or cfg.get("retention") or "short"

    if old.kind == "lock":  # a lockfile records no configuration
        return []
    changed = {}
    for name in sorted(set(old.plans) & set(new.plans)):
        a, b = retention(old.config, name), retention(new.config, name)
        if a != b:
            changed.setdefault((a, b), []).append(name)
    out = []
    entry = lookup("I919")
    for (a, b), plans in changed.items():
        loc = None
        text = new.text("pyproject.toml") if new.root is not None else None
        if text is not None:
            from promptc.lint.locate import at

            k = next((i for i, row in enumerate(text.split("\n")) if "cacheRetention" in row), None)
            loc = _rel(at(new, "pyproject.toml", k + 1), prefix) if k is not None else None
        out.append(Finding(code="I919", name=entry.name, severity="info", location=loc, plans=plans,
                           message=f"cache retention {a} → {b}: cached prefixes stay readable; later writes use the "
                                   f"{b} TTL and its write price", hint=entry.fix))
    return out


def _acknowledged(change: Change, old: Snapshot) -> tuple[str | None, Span | None]:
    """The new hash a suppression of ``change`` must name, and where the same declaration sits in the
    baseline (to tell an older acknowledgement from one written for this change)."""
    at = change.suppress_at
    if isinstance(at, PlanView):
        prev = old.plans.get(at.name)
        return None, prev.span if prev is not None else None
    if at is None:
        return None, None
    prev = next((s for p in old.plans.values() for s in p.segments if s.id == at.id), None)
    return at.hash, prev.span if prev is not None else None


def _by_wire(code: str, impacts: list[PlanImpact], segment: str | None) -> tuple[str, list[str]]:
    """The code a change gets from what the wire loses: the rules' ``regrade`` hooks decide it
    (:func:`promptc.lint.classify.regrade`), with the targets' notes (nothing cached before / after)."""
    return regrade(code, impacts, segment)


def _empty(label: str, kind: str) -> LintReport:
    return LintReport.empty(label, kind, __version__)


def _compile_errors(result: BuildResult, label: str, kind: str, new: Snapshot, prefix: str) -> LintReport:
    report = _empty(label, kind)
    findings = [Finding(code=d.code, name=(lookup(d.code).name if lookup(d.code) else ""), severity="error",
                        message=d.message, location=_rel(_location(d, new), prefix), notes=list(d.notes), hint=d.hint)
                for d in result.errors]
    return report.model_copy(update={"findings": findings,
                                     "summary": report.summary.model_copy(update={"errors": len(findings)})})


def lint(paths=(".",), against: str | None = None, *, cache_dir: Path | None = None,
         display_root: Path | None = None) -> LintReport:
    """Lint the project under ``paths`` against ``against`` (a git ref, a lockfile or a directory;
    default: the merge-base with the default branch). Locations are relative to ``display_root``
    (default: the git work tree's top, else the working directory)."""
    root = find_sources([Path(p) for p in paths])[0]
    cache_dir = cache_dir or root / ".promptc" / "cache"
    display_root = (display_root or repo_root(root) or Path.cwd()).resolve()
    prefix = Path(os.path.relpath(root, display_root)).as_posix()
    prefix = "" if prefix == "." else prefix
    label = unchanged_since(root, against)
    if label is not None:  # nothing under the project changed since the ref: nothing to build
        return _empty(label, "git")
    context = BuildContext()  # both versions' builds load each tokenizer once
    result = compile_project([Path(p) for p in paths], cache_dir=cache_dir, context=context)
    new = Snapshot("new", str(root), view_plans(result.plans), root=root, config=load_lint_config(root).__dict__)
    baseline = load_baseline(against, root, cache_dir, None if result.errors else new, context)
    try:
        if baseline.identical:
            return _empty(baseline.label, "git")
        old = baseline.snapshot
        if result.errors:
            return _compile_errors(result, old.label, old.kind, new, prefix)
        return compare(old, new, diagnostics=result.diagnostics, config=load_lint_config(root), prefix=prefix,
                       notes=baseline.notes)
    finally:
        baseline.close()


def check_against_lock(result: BuildResult, lock_path: Path, display_root: Path | None = None) -> LintReport:
    """``build --check``: the coded findings between the committed lockfile and a fresh build."""
    data = read_lock(lock_path)
    root = result.root
    if data is None or data.get("version", -1) < 0:  # a missing or unreadable lock is reported as stale
        return _empty(str(lock_path), "lock")
    old = Snapshot("lock", str(lock_path), view_lock(data))
    new = Snapshot("new", str(root), view_plans(result.plans), root=root, config=load_lint_config(root).__dict__)
    display_root = (display_root or Path.cwd()).resolve()
    prefix = Path(os.path.relpath(root, display_root)).as_posix()
    return compare(old, new, config=load_lint_config(root), prefix="" if prefix == "." else prefix)


def error_json(exc: BaselineError) -> str:
    """``--format json`` for a lint that cannot start (E920, E921, E922): one JSON document with the
    coded error, so a CI step that parses the report gets the reason, not an empty stream."""
    import json

    d = exc.diagnostic
    entry = lookup(d.code)
    return json.dumps({"version": REPORT_VERSION, "tool": "promptc", "tool_version": __version__,
                       "error": {"code": d.code, "name": entry.name if entry else "", "severity": "error",
                                 "message": d.message, "hint": d.hint}}, sort_keys=True, ensure_ascii=False)
