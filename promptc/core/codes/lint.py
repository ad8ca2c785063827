"""Diagnostic codes of the lint family (see :mod:`promptc.core.codes`)."""

from promptc.core.codes.base import Code

LINT_CODES: tuple[Code, ...] = ()
