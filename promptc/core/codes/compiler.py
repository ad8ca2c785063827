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

# -- run time: plan files verified on load, rendering (E403–E419) ----------------------------------
# `promptc.load_plan` checks a plan before anything renders from it (promptc/core/planfile.py); each
# reason has its own code. E419 is raised while rendering (promptc/plan.py).
_REBUILD = "Rebuild the plan with `promptc build`; plan files are artifacts, not edited by hand."

PLAN_FILE_CODES: tuple[Code, ...] = (
    Code("E403", "plan-file-unreadable", "error", "the plan file is missing, not a regular file, or unreadable",
         "`load_plan` needs a regular file it can read; a directory, FIFO or device is refused rather than read.",
         "promptc.load_plan('build/missing.plan.json')", "Build the plan, or pass the path `promptc build` printed."),
    Code("E404", "plan-file-not-json", "error", "the plan file is not UTF-8 JSON text",
         "A plan is canonical JSON: UTF-8, finite numbers, valid Unicode strings. NaN, 1e999, an integer too long to "
         "convert, or a lone surrogate escape (\\ud800) cannot come from `promptc build`.",
         '{"format_version": 1, "name": "p", ', _REBUILD),
    Code("E405", "plan-file-too-deep", "error", "the plan file nests JSON deeper than the limit",
         "Compiled plans nest about ten levels; a deeper file is refused before parsing so a hostile file cannot "
         "exhaust the parser's recursion. The limit is `promptc.plan.MAX_PLAN_DEPTH` (128), or "
         "`load_plan(path, max_depth=...)`.", "[[[[ … 10,000 levels … ]]]]", _REBUILD),
    Code("E406", "plan-format-version", "error", "the plan file has an unsupported format_version",
         "The plan format is versioned; a runtime only reads the version it was built for.",
         '{"format_version": 99, ...}', _REBUILD),
    Code("E407", "plan-schema-mismatch", "error", "the plan file does not match the plan schema",
         "A field is missing, has the wrong type or is unknown, or an input's type description is malformed. "
         "`promptc schema` prints the schema; the error names the field path.",
         '{"format_version": 1, "name": "x"}', _REBUILD),
    Code("E408", "plan-segment-shape", "error", "a segment's fields contradict its stability or kind",
         "A static segment carries its rendered content and hash; a session or turn segment carries a template "
         "(text) or an entries input (memory, history) and no content or hash; tools are static.",
         '{"stability": "static", "content": null, ...}', _REBUILD),
    Code("E409", "plan-content-hash-mismatch", "error", "a static segment's content does not match its hash",
         "The hash is what caches key on: content changed after the build would be sent under a hash that "
         "names other text.", 'segments[1].content edited by hand', _REBUILD),
    Code("E410", "plan-prefix-chain-broken", "error", "a segment's prefix_hash does not continue the hash chain",
         "`prefix_hash = sha256(parent prefix_hash || hash)`: equal prefix hashes must mean equal prefixes.",
         'segments[1].prefix_hash copied from another plan', _REBUILD),
    Code("E411", "plan-template-syntax", "error", "a template or include in the plan does not parse",
         "Every session and turn template (and every include the plan carries) is parsed on load, so a broken "
         "template fails at `load_plan`, not in the middle of a conversation.",
         'segments[3].template = "{{ question "', _REBUILD),
    Code("E412", "plan-template-undeclared-name", "error", "a template reads a name its segment does not declare",
         "A segment's `inputs` list the names its template (and its includes) read; rendering passes exactly those.",
         'template "{{ secret }}" with inputs ["question"]', _REBUILD),
    Code("E413", "plan-include-missing", "error", "a template includes a template the plan does not carry",
         "A plan carries every template its session and turn segments include, in `includes`.",
         '{% include "std/style/concise.md" %} with includes {}', _REBUILD),
    Code("E414", "plan-input-undeclared", "error", "a segment uses an input the plan does not declare",
         "Each name in a segment's `inputs` must be one of the plan's `inputs`, so binding can validate it.",
         'segments[2].inputs = ["customer"] with no input `customer`', _REBUILD),
    Code("E415", "plan-inputs-inconsistent", "error", "the plan's inputs contradict each other or input_schema",
         "An input is declared twice, or `input_schema` is not the JSON Schema of the declared inputs: agents that "
         "validate against the schema would accept what `bind`/`render` reject.",
         'input_schema.turn edited by hand', _REBUILD),
    Code("E416", "plan-stability-order", "error", "the plan breaks the stability order",
         "Stability never decreases along a plan, and a segment only uses inputs at most as volatile as itself "
         "(a session segment is rendered once per session, so it cannot read a turn input).",
         'a session segment with inputs ["question"] (a turn input)', _REBUILD),
    Code("E417", "plan-entries-input", "error", "a memory or history segment is not bound to its entries input",
         "A session or turn memory/history segment takes its entries from exactly one input of its entry type.",
         'a history segment with inputs []', _REBUILD),
    Code("E418", "plan-entry-hashes", "error", "a static tools or memory segment's entry_hashes do not match",
         "Entry hashes let `promptc lint` tell appending from rewriting; they must be the hashes of the entries.",
         'segments[1].entry_hashes reordered', _REBUILD),
    Code("E419", "template-render-failed", "error", "a template failed while rendering at run time",
         "A session or turn template raised (`{{ 10 // n }}` with n = 0, a missing attribute, a sandbox "
         "violation, an include cycle) or produced text that is not valid Unicode. The error names the segment.",
         '{{ 10 // n }} rendered with n = 0',
         "Guard the expression in the template (`{% if n %}`), or validate the input before `render`."),
)

COMPILER_CODES = COMPILER_CODES + PLAN_FILE_CODES
