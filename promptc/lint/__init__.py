"""``promptc lint``: review every prompt change for what it does to the cache, and what it costs.

One small module per rule family: :mod:`.baseline` (git ref, lockfile, directory),
:mod:`.classify` (change classes), :mod:`.impact` (tokens, breakpoints, cost), :mod:`.pricing`
(the dated price table), :mod:`.suppress` (allow comments, ``cache_epoch``), :mod:`.formats`
(text, json, github, sarif, markdown). :func:`lint` is the library call behind the command.
"""

from promptc.lint.baseline import BaselineError
from promptc.lint.model import Finding, LintReport, lint_json_schema
from promptc.lint.run import check_against_lock, compare, lint

__all__ = ["BaselineError", "Finding", "LintReport", "check_against_lock", "compare", "lint", "lint_json_schema"]
