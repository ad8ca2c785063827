"""``promptc report`` and ``promptc show --tree``: see the cache.

The stages, one module each: :mod:`.model` (all plans as one prefix tree), :mod:`.impact` (lint's
findings and per-plan invalidation, ``--against``), :mod:`.runtime` (a cache trace, ``--trace``),
:mod:`.layout` (where each box of the map goes, with aggregation), :mod:`.render_html` (one
self-contained page) and :mod:`.render_text` (the terminal tree). :func:`make_report` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from promptc.plan import Plan
from promptc.report.errors import ReportError, check_output, no_plans, unknown_target, write_output
from promptc.report.impact import MapImpact, lint_against, place
from promptc.report.model import Node, PrefixMap, build_map
from promptc.report.render_html import render_html
from promptc.report.render_text import render_tree
from promptc.report.runtime import RunView, load


def compile_plans(paths: Sequence[str]) -> dict[str, Plan]:
    """Every plan under ``paths`` (a CompileError with every diagnostic when they do not compile)."""
    from promptc.compiler.build import compile_project

    return dict(compile_project([Path(p) for p in paths]).raise_on_error().plans)


def prefix_map(plans: Mapping[str, Plan], target: str | None = None, where: Sequence[str] = ()) -> PrefixMap:
    """The map of ``plans`` for ``target`` (E962 without plans, E961 for a target no plan has)."""
    if not plans:
        raise no_plans(list(where))
    pm = build_map(plans, target)
    if target is not None and target not in pm.targets:
        raise unknown_target(target, pm.targets)
    return pm


def plans_at(path: str | Path) -> dict[str, Plan]:
    """The plans a path names: a ``.plan.json`` and the other compiled plans in its folder (as ``promptc
    show`` finds siblings), or every plan a ``.prompt`` file or project builds."""
    from promptc.plan import load_plan
    from promptc.runtime.plans import is_plan_file

    path = Path(path)
    if not is_plan_file(path):
        return compile_plans([str(path)])
    out = {}
    for p in sorted(path.parent.glob("*.plan.json")):
        try:
            plan = load_plan(p)
        except Exception:  # noqa: BLE001 - a broken sibling only means less sharing; the plan itself must load
            if p.resolve() == path.resolve():
                raise
            continue
        out.setdefault(plan.name, plan)
    return out


def tree_text(path: str | Path, target: str | None = None, width: int | None = None) -> str:
    """``promptc show --tree PATH``: the map of the plans at ``path`` as text, ``width`` columns wide
    (default: the terminal's width, or ``$COLUMNS``)."""
    import shutil

    pm = prefix_map(plans_at(path), target, [str(path)])
    return render_tree(pm, width or shutil.get_terminal_size().columns)


def make_report(paths: Sequence[str], *, target: str | None = None, against: str | None = None,
                trace: str | Path | None = None, plans: Mapping[str, Plan] | None = None) -> str:
    """The HTML report of the project under ``paths``: the map, with lint's impact against ``against``
    and the run-time view of the trace file ``trace`` when given. ``plans`` skips compiling."""
    plans = compile_plans(paths) if plans is None else plans
    pm = prefix_map(plans, target, paths)
    run = load(trace) if trace is not None else None
    impact = place(pm, lint_against(list(paths), against)) if against is not None else None
    return render_html(pm, impact, run)


def write_report(paths: Sequence[str], output: str | Path, **options) -> Path:
    """:func:`make_report` written to ``output`` (E960 when it cannot be; checked before building)."""
    out = Path(output)
    check_output(out)
    write_output(out, make_report(paths, **options))
    return out


__all__ = ["MapImpact", "Node", "PrefixMap", "ReportError", "RunView", "build_map", "compile_plans", "make_report",
           "plans_at", "prefix_map", "render_html", "render_tree", "tree_text", "write_report"]
