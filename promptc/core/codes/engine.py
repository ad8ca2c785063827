"""Diagnostic codes of the engine family (see :mod:`promptc.core.codes`)."""

from promptc.core.codes.base import Code

ENGINE_CODES: tuple[Code, ...] = ()
