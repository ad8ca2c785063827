"""Diagnostic codes of the compiler family (see :mod:`promptc.core.codes`)."""

from promptc.core.codes.base import Code

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
    Code("E810", "bad-security-setting", "error",
         "a resource limit or `allow_roots` in `[tool.promptc]` has the wrong type",
         "A malformed setting must not silently widen what a build may read or do; the default applies and the "
         "build reports the mistake.",
         "max_file_bytes = \"big\"", "write a positive integer (limits) or a list of paths (allow_roots)"),
    Code("E811", "output-path-blocked", "error",
         "the lockfile path is a directory, or the plans directory is a file",
         "promptc never deletes something it did not write; the path must be freed by hand.",
         "mkdir promptc.lock", "remove it, or pass --lock/--out"),
    Code("W801", "lock-unreadable", "warning",
         "promptc.lock is not TOML, not UTF-8, a directory, or TOML of the wrong shape",
         "`promptc build --check` cannot compare against it; `promptc build` rewrites it.",
         "plan = 3", "run `promptc build` and commit the new lock"),
)

COMPILER_CODES: tuple[Code, ...] = () + SECURITY_CODES
