"""Diagnostic codes of the compiler family (see :mod:`promptc.core.codes`).

Ranges: E0xx syntax (the parser), E1xx names, imports, types and templates, E2xx stability and plan
order, W3xx warnings, E4xx run-time binding and plan files, E5xx the engine client, E6xx/W6xx token
alignment and cache limits. Reserved for other families: E130-E139, E206-E209, W305-W309, E404-E419,
E7xx, E8xx/W8xx.

Each ``example`` is checked by ``tests/core/test_codes.py``: a ``.prompt`` example (files separated
by ``# --- name.prompt ---`` lines) must produce its code when compiled; examples starting with
``$`` (a shell session) or ``>>>`` (Python) are illustrations covered by fixtures and runtime tests.
"""

from promptc.core.codes.base import Code

_TYPES = "types are string, int, float, bool, enum(...), list[T], object{...}, each optionally `?`"

COMPILER_CODES: tuple[Code, ...] = (
    # -- E0xx: syntax ------------------------------------------------------------------------------
    Code("E001", "syntax-error", "error", "the source does not match the grammar",
         "The parser met a token that cannot continue the declaration (or the file ended inside one). "
         "Nothing in the file is compiled, so its plans are missing until the file parses. The hint lists "
         "every token that would have been accepted at that point.",
         'global rules @static role system """Hello"""\nplan p = rules,',
         "complete or remove the declaration; the hint names what may come next"),
    Code("E002", "unterminated-string", "error", "a string's opening quotes are never closed",
         "An unclosed string swallows the rest of the file, so the parser would fail far below the real "
         'mistake. promptc reports the opening quotes instead. `"..."` strings end on their line; '
         '`"""..."""` strings may span lines.',
         'global rules @static """You are terse.\n\nplan p = rules',
         'close the string: `"""` for a triple-quoted string, `"` on the same line otherwise'),
    Code("E003", "unexpected-character", "error", "a character that no token of the language starts with",
         "The language has no meaning for the character (for example `;`, `$` or a stray backtick), so "
         "the file cannot be tokenized past it.",
         'global rules @static """Rules.""";\nplan p = rules',
         "remove the character; comments start with `#`"),
    Code("E004", "invalid-escape", "error", "a string uses an escape sequence JSON does not define",
         'Single-quoted strings use JSON escapes (`\\n`, `\\t`, `\\"`, `\\\\`, `\\uXXXX`). An unknown escape '
         "such as `\\q` would otherwise silently change the text that is hashed.",
         'global rules @static "Use \\q here."\nplan p = rules',
         'write the escape JSON\'s way, or use a """...""" string, whose text is taken as written'),
    Code("E005", "not-utf8", "error", "a .prompt file is not UTF-8 text",
         "Sources are hashed as UTF-8; a file in another encoding would hash differently on every "
         "machine that guesses its encoding differently, so it is refused.",
         "$ printf 'global r @static \"caf\\xe9\"' > main.prompt && promptc check",
         "save the file as UTF-8 (a byte order mark is allowed)"),
    Code("E006", "nul-byte", "error", "a .prompt file contains a NUL byte",
         "A NUL byte means the file is binary or corrupted; no prompt text contains one.",
         "$ printf 'global r @static \"a\\0b\"' > main.prompt && promptc check",
         "remove the NUL byte; check that the file is the text you meant"),
    Code("E007", "unknown-stability", "error", "a segment's annotation is not a known stability",
         "The stability decides where a segment may sit in a plan and when it is rendered; an unknown "
         "word cannot be ordered.",
         'global rules @stable """Rules."""\nplan p = rules',
         "write @static, @session, @turn, @append_only or @append_only(static|session|turn)"),
    Code("E008", "invalid-input-stability", "error", "an input's annotation is not @static, @session or @turn",
         "An input's stability says how often its value changes; @append_only describes segments, not "
         "values.",
         'task turn @turn {\n    input q: string @append_only\n    """{{ q }}"""\n}\nplan p = turn',
         "write @static, @session or @turn, or omit it to inherit the segment's stability"),
    Code("E009", "append-only-without-kind", "error", "an @append_only segment has no kind",
         "Append-only means the segment only grows at its end between turns; only tools, memory and "
         "history segments have entries to grow.",
         'agent notes @append_only """Notes."""\nplan p = notes',
         "add the kind: `@append_only memory`, `@append_only tools` or `@append_only history`"),
    Code("E010", "kind-not-append-only", "error", "a tools, memory or history segment is not @append_only",
         "These kinds grow between turns and versions; declaring them append-only is what lets the "
         "compiler and runtime check that they only grow at their end.",
         'agent notes @static memory { "first" }\nplan p = notes',
         "annotate it `@append_only` (optionally `@append_only(session)`)"),
    Code("E011", "unknown-role", "error", "a segment's role is not system, developer, user or assistant",
         "The role decides the message a segment becomes in every provider's request; an unknown role "
         "has no message.",
         'global rules @static role admin """Rules."""\nplan p = rules',
         "use one of: system, developer, user, assistant"),
    Code("E012", "missing-body", "error", "a segment has no body",
         "A segment's body is its content. Only history segments and session/turn memory segments "
         "(whose entries are bound at run time) may be declared without one.",
         "global rules @static\nplan p = rules",
         'add a text body """...""", a { ... } block, or `from "file"` for memory'),
    Code("E013", "text-in-tools-or-history", "error", "a tools or history segment contains text",
         "A tools segment's content is its tool declarations, compiled to canonical JSON Schema; a "
         "history segment's content is bound at run time. Text has no place in either.",
         'global tools_ @append_only tools """read_file"""\nplan p = tools_',
         "declare tools as `name(param: type \"desc\") \"description\"` in a { ... } block; give history no body"),
    Code("E014", "from-outside-memory", "error", "`from \"file\"` is used by a segment that is not memory",
         "`from` reads memory entries from a file (one entry per block). Text segments pull in files "
         "with `{% include %}`, which the compiler tracks as a build dependency.",
         'global rules @static from "rules.md"\nplan p = rules',
         'use `{% include "rules.md" %}` inside a text body'),
    Code("E015", "input-outside-text-segment", "error", "an input is declared in a tools, memory or history segment",
         "Only templates read inputs; tools and memory content is fixed at build time or bound as the "
         "segment's own entries.",
         'agent notes @append_only memory {\n    input q: string\n    "entry"\n}\nplan p = notes',
         "declare the input in a text segment or at file level"),
    Code("E016", "tool-outside-tools-segment", "error", "a tool is declared outside a tools segment",
         "Tools compile to JSON Schema only inside a tools segment; elsewhere the declaration would be "
         "silently meaningless.",
         'global rules @static {\n    read_file(path: string) "Read."\n    """Rules."""\n}\nplan p = rules',
         "move it into a `@append_only tools { ... }` segment"),
    Code("E017", "multiple-templates", "error", "a text segment's block holds more than one template string",
         "A text segment renders exactly one template; two strings would leave their order and "
         "joining ambiguous.",
         'global rules @static {\n    """One."""\n    """Two."""\n}\nplan p = rules',
         "join them into one \"\"\"...\"\"\" string"),
    Code("E018", "missing-template", "error", "a text segment's block declares no template string",
         "The block declares inputs but no text that uses them, so the segment would render nothing.",
         "task turn @turn {\n    input q: string\n}\nplan p = turn",
         'add a """...""" string after the inputs'),
    Code("E019", "empty-tools", "error", "a tools segment declares no tools",
         "An empty tools segment hashes like a real one and is almost always an unfinished edit.",
         "global tools_ @append_only tools { }\nplan p = tools_",
         "declare at least one tool, or remove the segment"),
    Code("E020", "type-too-deep", "error", "a type is nested more than 32 levels deep",
         "Types become nested JSON Schema and validators; unbounded nesting would exhaust the "
         "compiler's stack on hostile input. No real input needs more than a few levels.",
         "input x: " + "list[" * 33 + "string" + "]" * 33 + "\nglobal g @static \"{{ x }}\"\nplan p = g",
         "flatten the type, or pass deeply structured data as a string"),
    Code("E021", "integer-out-of-range", "error", "an integer literal does not fit in 64 bits",
         "Plans store defaults as JSON numbers; consumers (and promptc's own loader) read 64-bit "
         "integers, and a 5,000-digit literal would make Python refuse to convert it.",
         "input n: int = 99999999999999999999\nglobal g @static \"{{ n }}\"\nplan p = g",
         "use a number between -2**63 and 2**63-1, or a string"),
    Code("E022", "lone-surrogate", "error", "a string escape encodes half of a UTF-16 surrogate pair",
         "`\\ud800` alone is not a character: it cannot be encoded as UTF-8, so it could never be "
         "hashed or sent to a provider.",
         'global rules @static "bad \\ud800 escape"\nplan p = rules',
         "write the character itself, or a complete pair such as `\\ud83d\\ude00`"),
    Code("E023", "float-out-of-range", "error", "a number literal is too large for a float",
         "`1e999` is infinity, which JSON cannot represent: it would be written as `null` and change "
         "the input's default without a word.",
         "input x: float = 1e999\nglobal g @static \"{{ x }}\"\nplan p = g",
         "use a finite number (at most about 1.8e308)"),
    # -- E1xx: names, imports, types, templates -------------------------------------------------------
    Code("E101", "duplicate-segment", "error", "a file declares two segments with the same name",
         "A plan names segments; two of one name in a file would make the reference ambiguous.",
         'global rules @static """One."""\nglobal rules @static """Two."""\nplan p = rules',
         "rename one of them"),
    Code("E102", "undefined-name", "error", "a template uses a name that is not a declared input",
         "Templates render with StrictUndefined: an undeclared name would fail at run time, after the "
         "plan shipped. The hint suggests the closest declared name.",
         'task turn @turn {\n    input query: string\n    """{{ querry }}"""\n}\nplan p = turn',
         "declare the input (`input name: type`), or fix the name"),
    Code("E103", "unknown-segment", "error", "a plan references a segment that is not in scope",
         "A plan is an ordered list of segments in scope: declared in the file, merged by an unaliased "
         "import, or reached as `ns.name`. When another project file declares the name, the hint names "
         "that file and the import to add.",
         'global rules @static """Rules."""\nplan p = rules, ruls',
         "fix the name, or import the file that declares it"),
    Code("E104", "import-not-found", "error", "an imported file does not exist",
         "Relative imports resolve against the importing file's directory; `.prompt` may be omitted.",
         'import "./missing.prompt"\nglobal rules @static """Rules."""\nplan p = rules',
         "fix the path (relative to the importing file)"),
    Code("E105", "unknown-std-module", "error", "an import names a standard-library module that does not exist",
         "`std/...` imports come from the standard library bundled with promptc; the hint suggests the "
         "closest module.",
         'import "std/roles/reviewr"\nglobal rules @static """Rules."""\nplan p = rules',
         "use an existing module (the hint lists the closest)"),
    Code("E106", "import-cycle", "error", "files import each other in a cycle",
         "Scopes are built from imports in order; a cycle has no first file.",
         'import "./b.prompt"\nglobal a_rules @static """A."""\nplan p = a_rules\n'
         '# --- b.prompt ---\nimport "./main.prompt"\nglobal b_rules @static """B."""',
         "move what both files need into a third module both import"),
    Code("E107", "include-not-found", "error", "an `{% include %}` names a template that does not exist",
         "Includes are resolved and hashed at build time; a missing one would fail at render time.",
         'global rules @static """{% include "std/style/verbose.md" %}"""\nplan p = rules',
         "fix the name: `std/...` for the standard library, otherwise relative to the including file"),
    Code("E108", "template-syntax-error", "error", "a template (or a template it includes) is not valid Jinja2",
         "Bodies are Jinja2 templates; a syntax error is located in the `.prompt` file (or names the "
         "included file and line).",
         'task turn @turn {\n    input items: list[string]\n    """{% for i in items %}{{ i }}"""\n}\nplan p = turn',
         "close every `{% %}` block and `{{ }}` expression"),
    Code("E109", "memory-file-not-found", "error", "a memory segment's `from` file is missing or not UTF-8",
         "Static memory entries are read and hashed at build time.",
         'agent notes @append_only memory from "memory/notes.md"\nplan p = notes',
         "create the file (relative to the .prompt file), or fix the path"),
    Code("E110", "unknown-target", "error", "a target is not a known provider/model",
         "Targets choose the tokenizer used for boundary proofs and the provider's cache limits.",
         'global rules @static """Rules."""\nplan p = rules target "openia/gpt-5.6"',
         "write provider/model, e.g. engine/smollm2, openai/gpt-5.6, anthropic/claude-opus-4-8"),
    Code("E111", "unknown-type", "error", "an input or parameter names an unknown type",
         f"Input types compile to JSON Schema and run-time validators; {_TYPES}.",
         'task turn @turn {\n    input when: datetime\n    """{{ when }}"""\n}\nplan p = turn',
         "use a known type; pass other values as string"),
    Code("E112", "static-render-failed", "error", "a static template raised while rendering at build time",
         "Static segments render once at build time, with only @static defaults; an exception there "
         "(a division by zero, a sandbox violation) means the segment has no content to hash.",
         'global rules @static """{{ 1 // 0 }}"""\nplan p = rules',
         "fix the expression, or move the computation to a session or turn segment"),
    Code("E113", "tools-not-static", "error", "a tools segment is declared session or turn",
         "Tool schemas are compiled and hashed at build time; they cannot be bound at run time.",
         'global tools_ @append_only(session) tools {\n    read(path: string) "Read."\n}\nplan p = tools_',
         "write `@append_only tools` (static)"),
    Code("E114", "history-not-turn", "error", "a history segment is declared static or session",
         "History grows every turn; declaring it more stable would claim a cache hit that cannot happen.",
         "task history @append_only(session) history\nplan p = history",
         "write `@append_only history` (turn)"),
    Code("E115", "dynamic-memory-with-entries", "error", "a session or turn memory segment has a body",
         "A session/turn memory's entries are bound at run time from the input of the segment's name; "
         "entries in the source would be silently ignored.",
         'agent notes @append_only(session) memory { "first" }\nplan p = notes',
         "drop the body (bind the entries at run time), or make the memory static"),
    Code("E116", "duplicate-input", "error", "an input is declared twice in one scope",
         "Two declarations of one input (in a segment's block, or at file level) would make its type "
         "and default ambiguous.",
         'task turn @turn {\n    input q: string\n    input q: int\n    """{{ q }}"""\n}\nplan p = turn',
         "remove one declaration, or rename it"),
    Code("E117", "duplicate-field", "error", "an object type declares a field twice",
         "Object types compile to JSON Schema properties, which are unique.",
         'task turn @turn {\n    input c: object { name: string, name: int }\n    """{{ c.name }}"""\n}\nplan p = turn',
         "rename or remove one field"),
    Code("E118", "duplicate-parameter", "error", "a tool declares a parameter twice",
         "Parameters compile to JSON Schema properties, which are unique.",
         'global tools_ @append_only tools {\n    read(path: string, path: int) "Read."\n}\nplan p = tools_',
         "rename or remove one parameter"),
    Code("E119", "duplicate-tool", "error", "a tools segment declares two tools with the same name",
         "A provider calls a tool by name; two tools of one name cannot both be called.",
         'global tools_ @append_only tools {\n    read(path: string) "Read."\n    read(path: string) "Again."\n}\n'
         "plan p = tools_",
         "rename one tool"),
    Code("E120", "duplicate-namespace", "error", "two imports use the same `as` name",
         "`ns.name` must reach exactly one module.",
         'import "std/roles/reviewer" as r\nimport "std/roles/planner" as r\n'
         'global rules @static """Rules."""\nplan p = rules',
         "give each import its own `as` name"),
    Code("E121", "import-name-collision", "error",
         "two different segments, or two different file-level inputs, of one name are merged into a scope",
         "An unaliased import merges the imported file's segments and file-level inputs into the importing "
         "scope; two different ones of one name would make references ambiguous.",
         'import "./b.prompt"\nglobal rules @static """A."""\nplan p = rules\n'
         '# --- b.prompt ---\nglobal rules @static """B."""',
         'import one file under a namespace: `import "./b.prompt" as b`, then `b.rules`'),
    Code("E122", "conflicting-plan-inputs", "error", "a plan uses two different inputs of one name",
         "A plan's inputs are one flat namespace at bind time; two declarations of one name with "
         "different types, stabilities or defaults cannot both be satisfied.",
         'agent a @session {\n    input who: string\n    """{{ who }}"""\n}\n'
         'task b @turn {\n    input who: int\n    """{{ who }}"""\n}\nplan p = a, b',
         "rename one input, or import one module under a namespace"),
    Code("E123", "duplicate-plan", "error", "two plans in a project have the same name",
         "Each plan is one output file, `<name>.plan.json`; two of one name would overwrite each other.",
         'global rules @static """Rules."""\nplan p = rules\nplan p = rules',
         "rename one plan"),
    Code("E124", "duplicate-enum-value", "error", "an enum type lists a value twice",
         "Enum values compile to a JSON Schema `enum`, whose values are unique.",
         'task turn @turn {\n    input tier: enum("free", "pro", "free")\n    """{{ tier }}"""\n}\nplan p = turn',
         "list each value once"),
    Code("E125", "static-input-without-default", "error", "a @static input has no default",
         "A @static input is a build-time constant: static segments render at build time, when no "
         "input is bound, so the default is its only value.",
         'input tone: string @static\nglobal rules @static """Be {{ tone }}."""\nplan p = rules',
         "add `= value`, or make the input @session"),
    Code("E126", "default-type-mismatch", "error", "an input's default does not match its type",
         "The default is validated against the input's type once, at build time, rather than failing "
         "for every run that relies on it.",
         'task turn @turn {\n    input count: int = "three"\n    """{{ count }}"""\n}\nplan p = turn',
         "change the default or the type"),
    Code("E127", "path-not-found", "error", "a path given to promptc does not exist",
         "`promptc build`/`check` take directories of .prompt files or .prompt files.",
         "$ promptc check no/such/dir",
         "pass an existing directory or .prompt file"),
    Code("E128", "no-prompt-files", "error", "a directory given to promptc contains no .prompt files",
         "Nothing would be built; this is almost always the wrong directory.",
         "$ mkdir empty && promptc check empty",
         "pass the project's directory (the one with the .prompt files)"),
    # -- E2xx: stability and plan order --------------------------------------------------------------
    Code("E201", "stability-decreases", "error", "a more stable segment follows a more volatile one in a plan",
         "A prefix cache reuses work only up to the first changed byte: a static segment after a turn "
         "segment is re-sent (and re-billed) every turn.",
         'task turn @turn {\n    input q: string\n    """{{ q }}"""\n}\n'
         'global rules @static """Rules."""\nplan p = turn, rules',
         "order segments static → session → turn"),
    Code("E202", "volatile-value-in-stable-segment", "error", "an input flows into a segment more stable than itself",
         "A turn input in a session segment (or a session input in a static one) changes the segment's "
         "bytes more often than its stability promises, so the cached prefix breaks.",
         'input user_name: string @turn\nglobal rules @session """Hi {{ user_name }}."""\nplan p = rules',
         "move the value to a segment at least as volatile as the value"),
    Code("E203", "nondeterministic-template", "error", "a static or session template differs between runs",
         "Clock, random and uuid calls (`now()`, `random()`, `uuid4()`), the `random`/`shuffle` filters, "
         "and iterating a mapping's `.items()/.keys()/.values()` in insertion order change the bytes — "
         "and the cache key — from one run to the next.",
         'global clock @static """Today is {{ now() }}."""\nplan p = clock',
         "pass the value as a turn input in a turn segment; sort mappings with |dictsort"),
    Code("E204", "append-only-before-stable", "error", "an append-only segment precedes a more stable segment",
         "Every time the append-only segment grows, everything after it leaves the cached prefix.",
         'task history @append_only history\nagent rules @session """Rules."""\nplan p = history, rules',
         "place the more stable segment before the append-only one"),
    Code("E205", "segment-used-twice", "error", "a plan uses one segment twice",
         "A segment's hash identifies one position in the prefix chain; using it twice is almost "
         "always a copy-paste slip.",
         'global rules @static """Rules."""\nplan p = rules, rules',
         "declare a second segment if the text is really needed twice"),
    # -- W3xx: warnings --------------------------------------------------------------------------------
    Code("W301", "unused-input", "warning", "a declared input is never used",
         "An unused input is still part of the plan's input schema, so callers must bind a value that "
         "changes nothing. The build succeeds.",
         'task turn @turn {\n    input q: string\n    input unused: int\n    """{{ q }}"""\n}\nplan p = turn',
         "remove it, or use it in a template"),
    # -- E4xx: run time (binding inputs, loading plans) ------------------------------------------------
    Code("E401", "invalid-inputs", "error", "inputs given to bind or render are missing, extra or mistyped",
         "Inputs are validated against the plan's schema before anything is rendered; the error lists "
         "each field path.",
         '>>> load_plan("p.plan.json").bind(tier="platinum")',
         "pass each declared input with its declared type"),
    Code("E402", "append-only-violation", "error", "an append-only segment changed other than at its end",
         "History and memory may only grow at their end between turns; a rewritten entry moves every "
         "later byte out of the cached prefix.",
         '>>> session.render(history=[edited_first_message, ...])',
         "append new entries; start a new session to rewrite history"),
    Code("E501", "engine-request-failed", "error", "a running engine server rejected a request",
         "`promptc run --engine URL` and `EngineClient` report the server's error status, message and "
         "the offending parameter.",
         "$ promptc run p.plan.json --engine http://127.0.0.1:8000 -i q=hi",
         "fix the request as the message says (the parameter is named), or check the server's log"),
    # -- E6xx/W6xx: token alignment and cache limits -----------------------------------------------------
    Code("E601", "unstable-token-boundary", "error", "two segments tokenize together differently than apart",
         "With an exact tokenizer, the end of one segment and the start of the next merge into other "
         "tokens, so a prefix cache misses at that boundary (or a naive engine reuses the wrong KV).",
         'target "raw/smollm2"\nglobal rules @static """Always answer in """\n'
         'global language @static """English."""\nplan p = rules, language',
         "end the first segment with a newline, or run `promptc build --align=fix`"),
    Code("W602", "estimated-unstable-token-boundary", "warning",
         "an unstable boundary measured with a proxy tokenizer",
         "The provider's tokenizer is not public; the finding is measured with the proxy named in the "
         "message and may differ for the real one.",
         'target "anthropic/claude-opus-4-8"\nglobal rules @static """Always answer in """\n'
         'global language @static """English."""\nplan p = rules, language',
         "end the first segment with a newline, or run `promptc build --align=fix`"),
    Code("W603", "boundary-normalized", "warning", "`--align=fix` changed a segment to make a boundary stable",
         "The change is part of the segment's hash; it is reported so it is reviewed, never silent.",
         "$ promptc build --align=fix",
         "review the change; make it in the source to silence the warning"),
    Code("W604", "prefix-below-cache-minimum", "warning",
         "the static prefix is shorter than the provider's minimum cacheable length",
         "Below the minimum, the provider silently does not cache the prefix, so the breakpoint buys "
         "nothing.",
         'global rules @static role system """Be terse."""\ntask turn @turn {\n    input q: string\n'
         '    """{{ q }}"""\n}\nplan p = rules, turn target "anthropic/claude-opus-4-6"',
         "grow the shared static prefix, or override the limit in [tool.promptc.cache_limits]"),
    Code("W313", "shared-block-cut-on-the-wire", "warning",
         "the plan's shared block is not a shared prefix on a provider that sends tools first",
         "Anthropic, Bedrock, OpenAI and most providers serialize every tool definition before any system text, "
         "whatever the plan's order. A tools segment that is not global (an agent's or task's tools, or tools "
         "bound at run time) therefore goes on the wire before the shared global block, and the prefix every "
         "plan was meant to share differs per plan: each plan caches its own copy.",
         'global rules @static role system """Be terse."""\nagent own_tools @append_only tools {\n'
         '    lookup(id: string "An id") "Look an id up."\n}\nagent helper @static role system """Help."""\n'
         'plan p = rules, own_tools, helper target "anthropic/claude-opus-4-8"',
         "make the tools segment global (one shared tools block every plan lists), or accept per-plan caching "
         "on these targets"),
)


# --- late compiler stages, templates and project settings (issue 8: section 3 defects 1, 7, 12) ---
# Kept in their own block so the table of today's codes can be filled alongside without conflicts.
COMPILER_CODES += (
    Code(
        "E130", "static-segment-input-without-default", "error",
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
         '["../common-prompts"]` in pyproject.toml, or `promptc build --allow-root ../common-prompts`'),
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
    Code("E810", "memory-too-many-entries", "error",
         "a memory segment has more than 10000 entries (paragraphs)",
         "Every entry gets its own hash in the plan and the lockfile: a 4 MB memory file of one-word paragraphs "
         "made a 116 MB plan and took 2 GB of memory to build. The bound is fixed (a pull request controls "
         "pyproject.toml).",
         "$ python -c \"print('a\\n\\n' * 10001)\" > memory/notes.md && promptc build",
         "merge small entries into larger paragraphs"),
    Code("E811", "output-path-blocked", "error",
         "the lockfile path is a directory, or the plans directory is a file",
         "promptc never deletes something it did not write; the path must be freed by hand.",
         "mkdir promptc.lock", "remove it, or pass --lock/--out"),
    Code("E812", "output-path-leaves-project", "error",
         "an output path (lockfile, plans, build cache, report, lint output) is or sits under a symlink leading "
         "out of the project",
         "A pull request can commit `promptc.lock` or `.promptc/plans` as a link to a file or directory outside "
         "the checkout; following it would overwrite or delete files there. promptc writes through no such link "
         "and deletes nothing outside the project.",
         "$ ln -s ~/.bashrc promptc.lock && promptc build", "remove the link, or pass --lock/--out/--output"),
    Code("W801", "lock-unreadable", "warning",
         "promptc.lock is not TOML, not UTF-8, a directory, or TOML of the wrong shape",
         "`promptc build --check` cannot compare against it; `promptc build` rewrites it.",
         "plan = 3", "run `promptc build` and commit the new lock"),
)

COMPILER_CODES = COMPILER_CODES + SECURITY_CODES
