"""``promptc lint``: review every prompt change for what it does to the cache, and what it costs.

One small module per rule family: :mod:`.baseline` (git ref, lockfile, directory; git plumbing in
:mod:`.gitref`), :mod:`.classify` (change classes), :mod:`.impact` (tokens, breakpoints, cost, in each
target's wire order: :mod:`.wire`),
:mod:`.pricing` (the dated price table), :mod:`.suppress` (allow comments, ``cache_epoch``),
:mod:`.formats` (text, json, github, sarif, markdown). :func:`lint` is the library call behind the
command; :func:`check_against_lock` is ``build --check``'s.
"""

from __future__ import annotations

from importlib import import_module

# Resolved on first use, not at import: `promptc lint` on an unchanged tree (a pre-commit hook's
# usual case) imports only promptc.lint.gitref and the report model, never the compiler.
_EXPORTS = {"lint": "run", "compare": "run", "check_against_lock": "run", "BaselineError": "gitref",
            "Finding": "model", "LintReport": "model", "lint_json_schema": "model"}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"promptc.lint.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'promptc.lint' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
