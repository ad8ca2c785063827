"""Renderers of a :class:`~promptc.lint.model.LintReport`: one module per output format."""

from __future__ import annotations

from promptc.lint.formats import github, markdown, sarif, text
from promptc.lint.model import LintReport

FORMATS = ("text", "json", "github", "sarif", "markdown")


def render(report: LintReport, fmt: str) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending without a trailing newline."""
    if fmt == "json":
        return report.model_dump_json(indent=2)
    return {"text": text.render, "github": github.render, "sarif": sarif.render, "markdown": markdown.render}[fmt](report)


__all__ = ["FORMATS", "render"]
