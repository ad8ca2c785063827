"""The report's coded user errors (E960–E962, registered in :mod:`promptc.core.codes.report`)."""

from __future__ import annotations

import os
from pathlib import Path

from promptc.core import safewrite
from promptc.core.errors import Diagnostic, PromptcError


class ReportError(PromptcError):
    """A mistake in the report's arguments: a usage error (exit 2) with a coded diagnostic whose
    location is the option at fault (``--output``, ``--target``) or the path given."""

    def __init__(self, code: str, where: str, message: str, hint: str):
        self.code = code
        self.diagnostic = Diagnostic(code, f"{where}: {message}", None, hint)
        super().__init__(self.diagnostic.render())


def check_output(path: Path) -> None:
    """E960 unless ``path`` can be written as a file (checked before anything is built)."""
    where = f"--output {path}"
    if path.is_dir():
        raise ReportError("E960", where, "is a directory", "name a file, e.g. -o cache-report.html")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ReportError("E960", where, f"the directory {parent} does not exist",
                          "create the directory first, or write the report elsewhere")
    if (path.exists() and not os.access(path, os.W_OK)) or not os.access(parent, os.W_OK):
        raise ReportError("E960", where, "is not writable", "write the report to a writable location")


def write_output(path: Path, text: str) -> None:
    """Write the report (E960 when the file system refuses it after all)."""
    try:
        safewrite.write_text(path, text, mkdir=False)
    except OSError as exc:
        raise ReportError("E960", f"--output {path}", f"cannot be written ({exc.strerror or exc})",
                          "write the report to a writable location") from None


def unknown_target(target: str, targets: list[str]) -> ReportError:
    """E961: ``target`` is none of the plans' targets."""
    return ReportError("E961", f"--target {target}", "no plan is compiled for this target",
                       f"use one of: {', '.join(targets) or '(none)'}")


def no_plans(paths: list[str]) -> ReportError:
    """E962: the paths compiled but declare no plan."""
    return ReportError("E962", ", ".join(paths) or ".", "declares no plan",
                       "point at the project (or the files) declaring `plan NAME = ...`")
