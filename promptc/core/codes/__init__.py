"""The diagnostic registry: every code promptc can report, with its one meaning.

A code is a promise of one meaning (as in ruff and buf). Each entry says what the check does, why
it matters, a failing example and what to write instead; ``promptc explain CODE`` prints it and the
diagnostics section of ``docs/language.md`` is generated from it (a test fails when they drift).

The tables live in one module per family, so each family's owners edit one file:
:mod:`.compiler` (syntax, names, types, stability, templates, alignment, run-time binding),
:mod:`.lint` (``promptc lint`` change findings), :mod:`.engine` (engine and server configuration).
"""

from __future__ import annotations

from promptc.core.codes.base import Code
from promptc.core.codes.compiler import COMPILER_CODES
from promptc.core.codes.engine import ENGINE_CODES
from promptc.core.codes.lint import LINT_CODES


def all_codes() -> dict[str, Code]:
    """Every registered code, by code, in code order. Raises if two tables claim one code."""
    out: dict[str, Code] = {}
    for c in (*COMPILER_CODES, *LINT_CODES, *ENGINE_CODES):
        if c.code in out:
            raise ValueError(f"diagnostic code {c.code} is registered twice")
        out[c.code] = c
    return dict(sorted(out.items()))


def lookup(code: str) -> Code | None:
    """The registry entry for ``code`` (case-insensitive), or None."""
    return all_codes().get(code.upper())


__all__ = ["Code", "all_codes", "lookup"]
