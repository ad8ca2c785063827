"""``--format markdown``: for ``$GITHUB_STEP_SUMMARY`` and pull-request comments."""

from __future__ import annotations

from promptc.lint.formats.common import counts, impact_line, money, where
from promptc.lint.model import LintReport


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render(report: LintReport) -> str:
    s = report.summary
    out = ["## promptc lint: cache review", "", f"Against `{report.baseline}`: {counts(report)}.", ""]
    if s.plans:
        out += ["| plan | from segment | tokens invalidated | cost / request |", "|---|---|---|---|"]
        for p in s.plans:
            toks = ", ".join(f"{t}: {n}" for t, n in p.tokens.items())
            out.append(f"| {_cell(p.plan)}{' (suppressed)' if p.suppressed else ''} | `{p.from_segment}` | {toks} | "
                       f"{money(p.cost_per_request)} |")
        out.append("")
    if report.findings:
        out += ["| | code | location | finding |", "|---|---|---|---|"]
        icon = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
        for f in report.findings:
            msg = f.message + (f" *(suppressed: {f.suppressed.reason})*" if f.suppressed else "")
            out.append(f"| {icon[f.severity]} | `{f.code}` | `{where(f)}` | {_cell(msg)} |")
        out.append("")
        details = [f for f in report.findings if f.impact]
        if details:
            out += ["<details><summary>Impact per plan</summary>", ""]
            for f in details:
                out.append(f"- `{f.code}` {_cell(f.message)}")
                out += [f"  - {_cell(impact_line(i))}" for i in f.impact]
            out += ["", "</details>"]
    else:
        out.append("No cache-relevant changes.")
    return "\n".join(out)
