"""Change impact on the map (``promptc report --against REF``): lint's findings and per-plan
invalidated tokens and cost (:func:`promptc.lint.run.lint`, the same engine and numbers as
``promptc lint --format json``), placed on the prefix tree.

A plan's invalidated part is its path from the summary's ``from_segment`` to its end: everything
after the first changed segment is written to the cache again on the next request (after an append
at the end of an append-only segment, only the new tail: the hatch starts where lint's re-written
tokens start). A finding links
to the node of its segment on the first plan it reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptc.lint.model import Finding, LintReport, PlanSummary
from promptc.report.model import PrefixMap


@dataclass
class MapImpact:
    """Lint's report, with the invalidated nodes of each plan and each finding's node."""

    report: LintReport
    invalidated: dict[str, list[str]] = field(default_factory=dict)  # node id → plans invalidated there
    plans: dict[str, PlanSummary] = field(default_factory=dict)  # plan → lint's summary row
    finding_nodes: list[tuple[Finding, str | None]] = field(default_factory=list)
    hatch_start: dict[str, float] = field(default_factory=dict)  # node id → token offset the re-written part starts at

    def is_invalidated(self, node_id: str) -> bool:
        """True when some plan re-writes this node on its next request."""
        return node_id in self.invalidated


def lint_against(paths: list[str], against: str | None):
    """Lint's report for ``paths`` against ``against`` (lint's own coded errors, E920–E922, on a bad ref)."""
    from promptc.lint.run import lint

    return lint(paths, against)


def place(prefix_map: PrefixMap, report: LintReport) -> MapImpact:
    """Put ``report``'s per-plan impact and its findings on ``prefix_map``."""
    out = MapImpact(report=report)
    for row in report.summary.plans:
        if row.plan not in prefix_map.plans:
            continue
        out.plans[row.plan] = row
        path = prefix_map.path(row.plan)
        start = next((i for i, n in enumerate(path) if n.segment == row.from_segment), None)
        if start is None:
            continue
        # lint's tokens are what is written again: after an append only the new tail, else all from the
        # changed segment on; the map hatches exactly that stretch of the prefix
        lost = row.tokens.get(prefix_map.target)
        begin = float(prefix_map.static_tokens(row.plan) - lost if lost is not None else path[start].offset)
        for n in path[start:]:
            out.invalidated.setdefault(n.id, []).append(row.plan)
            out.hatch_start[n.id] = min(out.hatch_start.get(n.id, begin), begin)
    for f in report.findings:
        node = None
        if f.segment:
            for plan in f.plans or sorted(prefix_map.plans):
                n = prefix_map.node_of(plan, f.segment) if plan in prefix_map.plans else None
                if n is not None:
                    node = n.id
                    break
        out.finding_nodes.append((f, node))
    for plans in out.invalidated.values():
        plans.sort()
    return out
