"""Compiled plans in the frameworks agents are written in: one module per framework, each imported
only when used (its framework is an optional extra, e.g. ``pip install 'promptc[langchain]'``).

The official SDKs need no integration: :func:`promptc.runtime.sdk.to_sdk` returns their create() kwargs.

A framework package that is not installed is a coded error (``E529``, :class:`IntegrationExtraMissing`)
naming the extra to install, never a bare ``ImportError`` from deep inside the integration.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from promptc.core.errors import Diagnostic, PromptcError


class IntegrationExtraMissing(PromptcError, ImportError):
    """An integration's framework package is not installed (``E529``); also an ``ImportError``, so code
    that already catches one keeps working."""

    code = "E529"

    def __init__(self, feature: str, package: str, extra: str):
        self.feature, self.package, self.extra = feature, package, extra
        hint = f"pip install 'promptc[{extra}]'"
        super().__init__(Diagnostic(self.code, f"{feature} needs `{package}`, which is not installed",
                                    hint=hint).render())
        self.name = package  # ImportError's own field: the module that could not be imported


def require(module: str, feature: str, extra: str, package: str | None = None) -> ModuleType:
    """``module`` imported, or :class:`IntegrationExtraMissing` naming ``extra`` (``package``: the
    distribution's name when it differs from the module's)."""
    try:
        importlib.import_module(module.partition(".")[0])  # the distribution's top package first: it is what is absent
        return importlib.import_module(module)
    except ImportError:
        raise IntegrationExtraMissing(feature, package or module, extra) from None


__all__ = ["IntegrationExtraMissing", "require"]
