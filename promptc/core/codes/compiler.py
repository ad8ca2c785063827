"""Diagnostic codes of the compiler family (see :mod:`promptc.core.codes`)."""

from promptc.core.codes.base import Code

COMPILER_CODES: tuple[Code, ...] = ()

# --- late compiler stages, templates and project settings (issue 8: section 3 defects 1, 7, 12) ---
# Kept in their own block so the table of today's codes can be filled alongside without conflicts.
COMPILER_CODES += (
    Code(
        "E130", "static-input-without-default", "error",
        "an input of a static segment has no default",
        "A static segment renders once, at build time, when no input can be bound. An input declared in "
        "its block inherits @static; without a default it would render as the literal text `None` and "
        "be hashed into every plan that uses the segment.",
        'global greeting @static {\n    input name: string\n    """Hello {{ name }}."""\n}',
        'give the input a default (`input name: string = "there"`), or declare the segment @session so the '
        "value is bound at run time",
    ),
    Code(
        "E131", "unknown-template-filter", "error",
        "a template uses a filter that does not exist",
        "Templates render in promptc's sandboxed Jinja2 environment, which has Jinja2's built-in filters "
        "only. An unknown filter would fail when the template renders, possibly only at run time.",
        'task turn @turn {\n    input q: string\n    """{{ q | frobnicate }}"""\n}',
        "use one of Jinja2's built-in filters (the hint suggests the closest name)",
    ),
    Code(
        "E132", "unknown-template-test", "error",
        "a template uses a test (`is NAME`) that does not exist",
        "Tests such as `is defined` or `is none` come from Jinja2's built-in set. An unknown test passes "
        "parsing and fails only when the template renders — at run time for session and turn segments.",
        'task turn @turn {\n    input q: string\n    """{% if q is frobbed %}x{% endif %}"""\n}',
        "use one of Jinja2's built-in tests (the hint lists them or suggests the closest)",
    ),
    Code(
        "E133", "invalid-project-setting", "error",
        "a `[tool.promptc]` setting in pyproject.toml has the wrong shape",
        "Project settings apply to every build and check; a malformed one is reported rather than ignored, "
        "so CI and local builds never silently disagree.",
        '[tool.promptc]\nalign = "always"',
        'write `align = "check"` or `align = "fix"`, and `target = "provider/model"` (or a list of them)',
    ),
)
