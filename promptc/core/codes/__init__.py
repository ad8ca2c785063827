"""The diagnostic registry: every code promptc can report, with its one meaning.

A code is a promise of one meaning (as in ruff and buf). Each entry says what the check does, why
it matters, a failing example and what to write instead; ``promptc explain CODE`` prints it and the
diagnostics section of ``docs/language.md`` is generated from it (a test fails when they drift).

The tables live in one module per family, so each family's owners edit one file:
:mod:`.compiler` (syntax, names, types, stability, templates, alignment, run-time binding),
:mod:`.lint` (``promptc lint`` change findings), :mod:`.engine` (engine and server configuration),
:mod:`.report` (``promptc report``), :mod:`.project` (``promptc init``), :mod:`.observe` (``promptc observe``/``import``).

Adding a code: add its entry to the family's table, emit it, add at least two cases under
``tests/fixtures/diagnostics/<CODE>/`` and run ``python scripts/gen_diagnostics_docs.py``. The tests
in ``tests/core/test_codes.py`` fail until all four agree; a code is never reused for a new meaning.
"""

from __future__ import annotations

import difflib

from promptc.core.codes.base import Code
from promptc.core.codes.compiler import COMPILER_CODES
from promptc.core.codes.engine import ENGINE_CODES
from promptc.core.codes.lint import LINT_CODES
from promptc.core.codes.observe import OBSERVE_CODES
from promptc.core.codes.project import PROJECT_CODES
from promptc.core.codes.report import REPORT_CODES
from promptc.core.codes.runtime import RUNTIME_CODES


def all_codes() -> dict[str, Code]:
    """Every registered code, by code, in code order. Raises if two tables claim one code."""
    out: dict[str, Code] = {}
    for c in (*COMPILER_CODES, *RUNTIME_CODES, *LINT_CODES, *ENGINE_CODES, *REPORT_CODES, *PROJECT_CODES, *OBSERVE_CODES):
        if c.code in out:
            raise ValueError(f"diagnostic code {c.code} is registered twice")
        out[c.code] = c
    return dict(sorted(out.items()))


def lookup(code: str) -> Code | None:
    """The registry entry for ``code`` (case-insensitive), or None."""
    return all_codes().get(code.upper())


def did_you_mean(code: str) -> list[str]:
    """Registered codes close to ``code`` (a typo'd or retired code), best first."""
    codes = list(all_codes())
    return difflib.get_close_matches(code.upper(), codes, n=3, cutoff=0.5)


def explain(c: Code) -> str:
    """The text ``promptc explain CODE`` prints: what, why, an example and what to write instead."""
    out = [f"{c.code} ({c.name}, {c.severity}): {c.summary}", "", c.explanation]
    if c.example:
        out += ["", "Example:", *("    " + line if line else "" for line in c.example.split("\n"))]
    if c.fix:
        out += ["", f"Instead: {c.fix}"]
    return "\n".join(out) + "\n"


def markdown(codes: dict[str, Code] | None = None) -> str:
    """The diagnostics reference in ``docs/language.md`` (between the GENERATED markers), one section
    per code. ``scripts/gen_diagnostics_docs.py`` writes it; a test fails when the two drift."""
    parts = []
    for c in (codes or all_codes()).values():
        part = [f"### {c.code} {c.name}", "", f"*{c.severity}* — {c.summary}.", "", c.explanation]
        if c.example:
            part += ["", "```", c.example, "```"]
        if c.fix:
            part += ["", f"Instead: {c.fix}."]
        parts.append("\n".join(part))
    return "\n\n".join(parts) + "\n"


__all__ = ["Code", "all_codes", "did_you_mean", "explain", "lookup", "markdown"]
