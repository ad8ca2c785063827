"""``--format github``: GitHub Actions workflow commands (``::error file=…,line=…::message``).

Escaping follows the runner's rules: in the message ``%``, CR and LF are percent-encoded; in
properties ``:`` and ``,`` are too. Info findings and suppressed ones are notices.
"""

from __future__ import annotations

from promptc.lint.formats.common import counts, impact_line
from promptc.lint.model import LintReport


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render(report: LintReport) -> str:
    out = []
    for f in report.findings:
        level = {"error": "error", "warning": "warning", "info": "notice"}[f.severity]
        if f.suppressed:
            level = "notice"
        props = [f"title={escape_property(f'{f.code} {f.name}')}"]
        msg = f.message
        loc = f.location
        if loc is not None and loc.side == "new":
            props = [f"file={escape_property(loc.path)}", f"line={loc.line}", f"col={loc.col}",
                     f"endLine={loc.end_line}", f"endColumn={loc.end_col}"] + props
        elif loc is not None:
            msg += f" (baseline {loc.path}:{loc.line})"
        lines = [msg] + [f"impact: {impact_line(i)}" for i in f.impact] + [f"note: {n}" for n in f.notes]
        if f.suppressed:
            lines.append(f"suppressed ({f.suppressed.by}): {f.suppressed.reason}")
        elif f.hint:
            lines.append(f"hint: {f.hint}")
        out.append(f"::{level} {','.join(props)}::{escape_data(chr(10).join(lines))}")
    out.append(f"::notice title=promptc lint::{escape_data(f'against {report.baseline}: {counts(report)}')}")
    return "\n".join(out)
