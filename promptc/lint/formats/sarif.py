"""``--format sarif``: SARIF 2.1.0 (validated against the OASIS schema in the tests)."""

from __future__ import annotations

import json

from promptc.core.codes import all_codes
from promptc.lint.formats.common import impact_line
from promptc.lint.model import LintReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render(report: LintReport) -> str:
    codes = all_codes()
    used = sorted({f.code for f in report.findings})
    rules = []
    for c in used:
        entry = codes.get(c)
        rule = {"id": c, "name": entry.name if entry else c,
                "shortDescription": {"text": entry.summary if entry else c},
                "defaultConfiguration": {"level": LEVEL[entry.severity] if entry else "error"}}
        if entry and entry.explanation:
            rule["fullDescription"] = {"text": entry.explanation}
        if entry and entry.fix:
            rule["help"] = {"text": entry.fix}
        rules.append(rule)
    index = {c: i for i, c in enumerate(used)}
    results = []
    for f in report.findings:
        text = f.message + "".join(f"\nimpact: {impact_line(i)}" for i in f.impact)
        res: dict = {"ruleId": f.code, "ruleIndex": index[f.code], "level": LEVEL[f.severity], "message": {"text": text},
                     "properties": {"plans": f.plans, "impact": [i.model_dump(mode="json") for i in f.impact]}}
        if f.location is not None:
            loc = f.location
            region = {"startLine": loc.line, "startColumn": loc.col, "endLine": loc.end_line, "endColumn": loc.end_col}
            if loc.excerpt is not None:
                region["snippet"] = {"text": loc.excerpt}
            res["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": loc.path}, "region": region},
                                 "properties": {"side": loc.side}}]
        if f.suppressed is not None:
            res["suppressions"] = [{"kind": "inSource" if f.suppressed.by == "comment" else "external",
                                    "justification": f.suppressed.reason}]
        results.append(res)
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "promptc", "version": report.tool_version, "rules": rules}},
                     "results": results, "properties": {"baseline": report.baseline,
                                                        "summary": report.summary.model_dump(mode="json")}}]}
    return json.dumps(log, indent=2, ensure_ascii=False)
