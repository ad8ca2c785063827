"""Small helpers shared by the formats."""

from __future__ import annotations

import re

from promptc.core.errors import printable
from promptc.lint.model import Finding, PlanImpact

__all__ = ["code_span", "counts", "impact_line", "md_text", "money", "printable", "where"]

# -- escaping for markdown + HTML ($GITHUB_STEP_SUMMARY, pull-request comments) ---------------------
# Hand-written: no maintained library escapes for GitHub-flavoured markdown (markdown-it renders,
# it does not escape). Every ASCII punctuation character may be backslash-escaped in CommonMark;
# the HTML-significant ones become entities so no tag, image or link can form.
_MD_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_MD_PUNCT = set("\\`*_{}[]()#+-.!|~'=:$%^/;,?@")
_BACKTICKS = re.compile(r"`+")


def md_text(s: str) -> str:
    """``s`` as literal text in a markdown table cell: no HTML, emphasis, link, image or cell
    break can form; line breaks and control characters become visible escapes."""
    s = printable(s.replace("\r\n", " ").replace("\n", " "))
    return "".join(_MD_ENTITY.get(c) or ("\\" + c if c in _MD_PUNCT else c) for c in s)


def code_span(s: str) -> str:
    """``s`` as a markdown code span, fenced by a backtick run longer than any inside it (so a
    backtick in a file name cannot close it); ``|`` is escaped, which GFM tables require even
    inside code spans."""
    s = printable(s.replace("\r\n", " ").replace("\n", " ")).replace("|", "\\|")
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(s)), default=0) + 1)
    pad = " " if s.startswith(("`", " ")) or s.endswith(("`", " ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def money(x: float) -> str:
    return f"${x:,.6f}".rstrip("0").rstrip(".") if x else "$0"


def impact_line(imp: PlanImpact) -> str:
    """``backend from `rules`: engine/smollm2 188 tokens; anthropic/… 142 tokens (estimate) $0.0008/request``."""
    parts = []
    for t in imp.targets:
        s = f"{t.target} {t.tokens} tokens" + (" (estimate)" if t.estimate else "")
        if t.cost is not None and t.cost.price_per_mtok:
            s += f" {money(t.cost.per_request)}/request"
            if t.cost.daily is not None:
                s += f" ({money(t.cost.daily)}/day)"
        if t.breakpoints_lost:
            s += f", breakpoints lost after {', '.join(f'`{b}`' for b in t.breakpoints_lost)}"
        parts.append(s)
    return f"{imp.plan} from `{imp.from_segment}`: " + "; ".join(parts)


def where(f: Finding) -> str:
    if f.location is None:
        return "-"
    loc = f"{f.location.path}:{f.location.line}:{f.location.col}"
    return loc + (" (baseline)" if f.location.side == "baseline" else "")


def counts(report) -> str:
    s = report.summary
    def n(k, w):
        return f"{k} {w}{'' if k == 1 else 's'}"
    return f"{n(s.errors, 'error')}, {n(s.warnings, 'warning')}, {s.infos} info, {s.suppressed} suppressed"
