"""``--format markdown``: for ``$GITHUB_STEP_SUMMARY`` and pull-request comments."""

from __future__ import annotations

from promptc.lint.formats.common import code_span, counts, impact_line, md_text, money, where
from promptc.lint.model import LintReport

_cell = md_text  # every string from the project is literal text: no HTML, link, image or cell break


def render(report: LintReport) -> str:
    s = report.summary
    out = ["## promptc lint: cache review", "", f"Against {code_span(report.baseline)}: {counts(report)}.", ""]
    if s.plans:
        out += ["| plan | from segment | tokens invalidated | cost / request |", "|---|---|---|---|"]
        for p in s.plans:
            toks = _cell(", ".join(f"{t}: {n}" for t, n in p.tokens.items()))
            out.append(f"| {_cell(p.plan)}{' (suppressed)' if p.suppressed else ''} | {code_span(p.from_segment)} "
                       f"| {toks} | "
                       f"{money(p.cost_per_request)} |")
        out.append("")
    if report.findings:
        out += ["| | code | location | finding |", "|---|---|---|---|"]
        icon = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
        for f in report.findings:
            msg = _cell(f.message) + (f" *(suppressed: {_cell(f.suppressed.reason)})*" if f.suppressed else "")
            out.append(f"| {icon[f.severity]} | `{f.code}` | {code_span(where(f))} | {msg} |")
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
