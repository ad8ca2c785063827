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

# ------------------------------------------------------------------------------------------------
# Hostile input: file confinement, bounded template evaluation, lock and build cache (E801–E829,
# W801–W809; docs/security.md "Untrusted .prompt files"). Kept as one block for an easy merge.
# ------------------------------------------------------------------------------------------------
SECURITY_CODES: tuple[Code, ...] = (
    Code("E801", "file-outside-project", "error",
         "an import, include or `memory from` names a file outside the project root and the standard library",
         "A .prompt file may come from an untrusted pull request; letting it read any file would copy secrets "
         "(keys, /etc files, other checkouts) into plans and diagnostics. Symlinks count where they point. The "
         "file is never read, so its content is never shown.",
         'import "/etc/passwd"',
         "keep shared files inside the project, or allow the directory explicitly: `[tool.promptc] allow_roots = "
         '["../shared"]` in pyproject.toml, or `promptc build --allow-root ../shared`'),
    Code("E802", "not-a-regular-file", "error",
         "an import, include or `memory from` names a directory, device, FIFO or socket",
         "Reading a FIFO or a device can block a build forever or never end; only regular files are read.",
         'agent notes @append_only memory from "/dev/zero"', "name a regular file"),
    Code("E803", "file-too-large", "error",
         "a file the build reads is larger than `max_file_bytes`",
         "Sizes are bounded so one file cannot exhaust memory; the default is 4 MiB.",
         "a 10 MB memory file", "split the file, or raise `[tool.promptc] max_file_bytes`"),
    Code("E804", "include-cycle", "error",
         "templates include each other in a cycle",
         "Rendering an include cycle recurses without end.",
         '{% include "a.txt" %} where a.txt includes itself',
         "remove the cycle; move the shared part into a third template"),
    Code("E805", "import-chain-too-deep", "error",
         "an import chain is longer than `max_import_depth` files",
         "Imports are followed depth-first; a bounded chain keeps the compiler's work and stack bounded.",
         "1,500 files, each importing the next",
         "import shared modules directly, or raise `[tool.promptc] max_import_depth`"),
    Code("E806", "template-too-deep", "error",
         "a template nests brackets and blocks deeper than `max_template_nesting`, or recurses without end",
         "Parsing and compiling deeply nested templates exhausts the stack; a bound turns that into a located "
         "error at build time and at bind/render time.",
         "{{ ((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))) }}",
         "flatten it with {% set %}; or raise `[tool.promptc] max_template_nesting`"),
    Code("E807", "template-output-too-large", "error",
         "a template's output, or a string or list it builds, exceeds `max_template_output` characters",
         "`{{ 'a' * 10**12 }}` would exhaust memory; the size is checked before the value is built.",
         "{{ 'a' * 10**12 }}", "produce less text, or raise `[tool.promptc] max_template_output`"),
    Code("E808", "template-too-much-work", "error",
         "a template's evaluation exceeds `max_template_steps` loop iterations, calls and operators",
         "Nested loops can run for hours; the step budget bounds the work of one render.",
         "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
         "do less work in the template, or raise `[tool.promptc] max_template_steps`"),
    Code("E809", "template-integer-too-large", "error",
         "template arithmetic produces an integer over `max_template_int_bits` bits",
         "`{{ 9 ** (9 ** 9) }}` takes minutes of CPU and gigabytes; the size is estimated before computing.",
         "{{ 9 ** (9 ** 9) }}", "use smaller numbers, or raise `[tool.promptc] max_template_int_bits`"),
    Code("E811", "output-path-blocked", "error",
         "the lockfile path is a directory, or the plans directory is a file",
         "promptc never deletes something it did not write; the path must be freed by hand.",
         "mkdir promptc.lock", "remove it, or pass --lock/--out"),
    Code("W801", "lock-unreadable", "warning",
         "promptc.lock is not TOML, not UTF-8, a directory, or TOML of the wrong shape",
         "`promptc build --check` cannot compare against it; `promptc build` rewrites it.",
         "plan = 3", "run `promptc build` and commit the new lock"),
)

COMPILER_CODES = COMPILER_CODES + SECURITY_CODES
