"""Diagnostic codes of ``promptc report`` and ``promptc show --tree`` (see :mod:`promptc.core.codes`): E960–E964.

The exception carrying them is :class:`promptc.report.errors.ReportError`; docs/report.md describes
when each is raised. A bad ``--against`` ref is lint's E920/E921 and an unreadable ``--trace`` is the
runtime's E508: the report reuses those codes rather than giving one mistake two names.
"""

from promptc.core.codes.base import Code

REPORT_CODES: tuple[Code, ...] = (
    Code("E960", "report-output-unwritable", "error", "the report's output path cannot be written",
         "`promptc report -o PATH` writes one HTML file; a directory, a missing parent directory or a read-only "
         "location is refused before anything is built.",
         "promptc report examples/team -o no/such/dir/report.html",
         "name a file in an existing, writable directory (e.g. -o cache-report.html)"),
    Code("E961", "report-target-unknown", "error", "`--target` names no target of any plan",
         "The map's widths are tokens for one target; the target must be one the plans were compiled for.",
         "promptc report examples/team --target openai/gpt-5.6  (the team plans target engine/smollm2)",
         "pick one of the targets the error lists, or leave --target out for the most common one"),
    Code("E962", "report-no-plans", "error", "the paths declare no plan to map",
         "A report maps plans; sources that compile but declare no `plan` leave nothing to draw.",
         "promptc report shared-segments-only/", "point at the project (or files) declaring `plan ... = ...`"),
)
