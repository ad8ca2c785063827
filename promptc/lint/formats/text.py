"""``--format text``: ruff-like lines with a caret excerpt, then a summary table."""

from __future__ import annotations

from promptc.lint.formats.common import counts, impact_line, money, printable, where
from promptc.lint.model import LintReport


def render(report: LintReport) -> str:
    """The report as text; every string from the project (file names, messages quoting sources,
    suppression reasons, excerpts) is escaped by :func:`printable`, and no line starts with ``::``
    (a GitHub workflow command when CI prints it)."""
    return "\n".join(("./" + line if line.startswith("::") else line) for line in _lines(report))


def _lines(report: LintReport) -> list[str]:
    out: list[str] = []
    for f in report.findings:
        plans = f" [{', '.join(f.plans)}]" if f.plans else ""
        tag = f" (suppressed: {f.suppressed.reason})" if f.suppressed else ""
        out.append(printable(f"{where(f)}: {f.code} [{f.severity}] {f.message}{plans}{tag}"))
        loc = f.location
        if loc is not None and loc.excerpt is not None:
            g = " " * len(str(loc.line))
            width = max(1, (loc.end_col - loc.col) if loc.end_line == loc.line else 1)
            out += [f" {g} |", f" {loc.line} | {printable(loc.excerpt)}", f" {g} | {' ' * (loc.col - 1)}{'^' * width}"]
        for imp in f.impact:
            out.append(f"   = impact: {printable(impact_line(imp))}")
        for n in f.notes:
            out.append(f"   = note: {printable(n)}")
        if f.hint and not f.suppressed:
            out.append(f"   = hint: {printable(f.hint)}")
        out.append("")
    s = report.summary
    if s.plans:
        rows = [("plan", "from segment", "tokens invalidated", "cost/request")]
        for p in s.plans:
            toks = ", ".join(f"{t} {n}" for t, n in p.tokens.items())
            rows.append((printable(p.plan) + (" (suppressed)" if p.suppressed else ""), printable(p.from_segment),
                         printable(toks),
                         money(p.cost_per_request) + (f" ({money(p.cost_daily)}/day)" if p.cost_daily is not None else "")))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for k, r in enumerate(rows):
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
            if k == 0:
                out.append("  ".join("-" * w for w in widths))
        out.append("")
    out += [f"note: {printable(n)}" for n in report.notes]
    cost = f"; estimated extra cost {money(s.cost_per_request)} on the next request of each plan" if s.plans else ""
    daily = f" ({money(s.cost_daily)}/day with the traffic model)" if s.cost_daily is not None else ""
    out.append(f"promptc lint against {printable(report.baseline)}: {counts(report)}{cost}{daily}")
    return out
