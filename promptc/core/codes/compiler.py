"""Diagnostic codes of the compiler family (see :mod:`promptc.core.codes`)."""

from promptc.core.codes.base import Code

COMPILER_CODES: tuple[Code, ...] = ()
