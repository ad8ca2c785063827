"""Diagnostic codes of the lint family (see :mod:`promptc.core.codes`).

``E9xx``/``W9xx``/``I9xx`` are the findings of ``promptc lint`` and ``promptc build --check``: one
code per kind of change between a baseline and the working tree, in cache terms. ``W31x`` are the
static warnings of ``promptc check`` (reported by every build, and by lint on changed lines).
"""

from promptc.core.codes.base import Code

LINT_CODES: tuple[Code, ...] = (
    # -- static warnings (check) -------------------------------------------------------------------
    Code("W310", "no-static-prefix", "warning", "a plan has no static prefix at all",
         "The first segment is session- or turn-level, so no part of the prompt is the same across sessions: "
         "nothing is ever cached between users, and every request pays full input price.",
         'task turn @turn role user { input q: string """{{ q }}""" }\nplan p = turn',
         "start the plan with a static segment (the instructions, the tools)"),
    Code("W311", "shared-block-below-minimum", "warning",
         "a shared global block alone is below a provider's cache minimum while the plan is above it",
         "A breakpoint after the shared global block would let every plan reuse it; below the provider's minimum "
         "cacheable length that breakpoint is silently dropped, so each plan caches its own copy of the shared text.",
         'global rules @static role system """Be brief."""  # 3 tokens, minimum 1024',
         "grow the shared block past the minimum (move more shared text into it), or accept per-plan caching"),
    Code("W312", "append-only-memory-before-static-block", "warning",
         "an append-only static memory is placed before a static block",
         "Appending to the memory changes every prefix after it: the static block placed after it is re-written "
         "to the cache on every append instead of staying cached.",
         "plan p = rules, memory, agent_rules, turn",
         "place append-only memory after every static text block: plan p = rules, agent_rules, memory, turn"),
    # -- change findings (lint, build --check) -----------------------------------------------------
    Code("E901", "static-segment-changed", "error", "a static segment's bytes changed",
         "A static segment is part of the cached prefix: any byte that changes invalidates the cached prefix "
         "from this segment on, in every plan that uses it; the next request of each pays a cache write.",
         'global rules @static role system """Be brief."""  →  """Be concise."""',
         "keep static text stable; if the reset is intended, acknowledge it (`# promptc: allow E901 — reason`)"),
    Code("E902", "static-segment-whitespace-changed", "error", "only whitespace changed in a static segment",
         "Whitespace is bytes: the cache breaks exactly as for any other edit, even though the text reads the same.",
         "re-indenting or re-wrapping a static block", "revert the whitespace change"),
    Code("E903", "static-segment-trailing-whitespace-changed", "error",
         "only trailing whitespace changed in a static segment",
         "An editor that strips trailing spaces breaks the cache without a visible change.",
         "a line that ended in a space no longer does", "revert the change, or configure the editor for .prompt files"),
    Code("E904", "append-only-grown-before-cached-content", "error",
         "an append-only segment grew at its end, but the wire sends it before other cached content",
         "Providers serialize in their own order (Anthropic, Bedrock and OpenAI send every tool before any system "
         "text): the new entries land before cached content, which is re-written on the next request.",
         "a tool appended to a tools block of a plan with system text, on anthropic/claude-opus-4-8",
         "expected when adding a tool: acknowledge it (`# promptc: allow E904 — reason`); put growing memory last"),
    Code("E905", "append-only-rewritten", "error", "an append-only segment changed anywhere but at its end",
         "Tools, memory and history may only grow at their end; an entry inserted, removed, reordered or rewritten "
         "changes the prefix from that entry on.",
         "a tool inserted before the last existing tool", "append new entries at the end"),
    Code("I906", "append-only-grown", "info", "an append-only segment grew at its end",
         "The cached prefix through the existing entries stays valid: only the new entries (and what follows the "
         "segment) are written to the cache.", "a tool appended after the last one",
         "nothing to do: only the new entries are written to the cache"),
    Code("E907", "segment-moved", "error", "a cached segment moved within a plan",
         "The cached prefix is ordered: moving a segment changes the prefix from the first moved position on.",
         "plan p = a, b, turn  →  plan p = b, a, turn", "keep the order; append new segments after the static ones"),
    Code("E908", "segment-added", "error", "a segment was added inside a plan's cached prefix",
         "Everything after the new segment shifts: the cached prefix from there on is lost.",
         "plan p = rules, agent, turn  →  plan p = rules, extra, agent, turn",
         "add static segments at the end of the static prefix"),
    Code("E909", "segment-removed", "error", "a segment was removed from a plan's cached prefix",
         "Everything after the removed segment shifts: the cached prefix from there on is lost.",
         "plan p = rules, extra, agent, turn  →  plan p = rules, agent, turn",
         "keep the segment (empty it instead); if the reset is intended, acknowledge it (`# promptc: allow E909 — reason`)"),
    Code("E910", "stability-changed", "error", "a cached segment's stability was raised or lowered",
         "A static segment is cached across sessions; a session or turn segment is not. Changing the level moves the "
         "end of the cached prefix.", "agent a @static ...  →  agent a @session ...",
         "keep the stability; if the reset is intended, acknowledge it (`# promptc: allow E910 — reason`)"),
    Code("E911", "target-changed", "error", "a plan's target, model or tokenizer changed",
         "Caches are per model and tokenizer: everything cached for the old target is invalidated, and the whole "
         "static prefix is written again for the new one.",
         'target "anthropic/claude-opus-4-8"  →  target "anthropic/claude-sonnet-5"',
         "expected when moving models: acknowledge the global reset with `cache_epoch` in [tool.promptc]"),
    Code("I912", "target-added-or-removed", "info", "a target was added to or removed from a plan",
         "The other targets keep their caches; an added target starts an empty cache.",
         'target "openai/gpt-5.6"  →  target "openai/gpt-5.6", "anthropic/claude-opus-4-8"',
         "nothing to do: the new target starts cold"),
    Code("I913", "no-cache-impact", "info", "a change outside every cached prefix (session or turn level)",
         "Turn and session templates are rendered per request or session: changing them never invalidates a cached "
         "static prefix.", "editing the text of a turn template", "nothing to do"),
    Code("E914", "included-file-changed", "error", "a file included by a static segment changed",
         "An include (template include or memory file) is part of the static segment's bytes: changing the file "
         "breaks the cached prefix of every plan using the segment. The finding points at the include.",
         '{% include "style.md" %} where style.md changed',
         "keep files included by static segments stable; if the reset is intended, acknowledge it"),
    Code("I915", "plan-added", "info", "a plan was added", "A new plan starts with an empty cache; nothing is lost.",
         "plan reviewer = rules, reviewer, turn  (new)", "nothing to do: the new plan starts cold"),
    Code("I916", "plan-removed", "info", "a plan was removed",
         "The removed plan's caches are no longer read; no other plan is affected.",
         "plan reviewer = ...  (deleted)", "nothing to do: its cached prefixes expire"),
    Code("I918", "segment-renamed", "info", "a cached segment was renamed or moved to another file, bytes unchanged",
         "Segments are matched by content first: the provider caches bytes, not names, so a rename or a file move "
         "that keeps every byte keeps every cached prefix.",
         "global rules ...  →  global house_rules ...  (same text)", "nothing to do: the cached prefix stays valid"),
    Code("I919", "retention-changed", "info", "a plan's cache retention changed",
         "Retention picks the TTL of every cache write: `long` writes 1-hour entries at a higher write price, "
         "`short` 5-minute ones; existing entries stay readable, later breaks are priced at the new rate.",
         'cacheRetention = "short"  →  cacheRetention = "long"', "nothing to do: later writes use the new TTL"),
    Code("I924", "plan-renamed", "info", "a plan was renamed (matched to its baseline by its segments)",
         "Plans are matched as segments are, by content first: a plan gone under its old name whose segments are "
         "present under a new plan name is that plan renamed. A provider caches bytes, not plan names, so a rename "
         "alone keeps every cached prefix; an edit made with the rename is reported on its own, at the new path.",
         "plan backend = rules, tools, backend, turn  →  plan backend_agent = rules, tools, backend, turn",
         "nothing to do: the renamed plan keeps its cache"),
    Code("E923", "memory-before-cached-block", "error",
         "append-only memory is sent before other cached content: every memory change re-writes it",
         "W312 graded by the wire: where a target writes a cache entry that reaches past the memory (its minimum, "
         "its breakpoints, its wire order), every append to the memory changes the prefix of the blocks after it, "
         "which are re-written to the cache on every memory change instead of staying cached. Where no target "
         "caches anything after the memory, the finding stays the warning W312.",
         "plan p = rules, memory, agent_rules, turn  (agent_rules cached on anthropic/claude-opus-4-8)",
         "place append-only memory after every static text block: plan p = rules, agent_rules, memory, turn"),
    Code("W917", "suppression-without-reason", "warning", "a `# promptc: allow` comment gives no reason",
         "A suppression documents an intended cache reset; without a reason it does not apply.",
         "# promptc: allow E901", "# promptc: allow E901 — new policy wording, reviewed by the team"),
    Code("E920", "baseline-ref-missing", "error", "the git ref to lint against is not in this clone",
         "Shallow CI clones (actions/checkout fetches one commit by default) lack the base branch.",
         "promptc lint --against origin/main in a depth-1 clone",
         "fetch the history: `fetch-depth: 0` in actions/checkout, or `git fetch --deepen`"),
    Code("E921", "baseline-unreadable", "error", "the baseline is not a git ref, a readable lockfile or a directory",
         "Lint compares against a baseline; an argument that names none of the three is refused before anything "
         "is built.", "promptc lint --against nothing/here  (run outside a git repository)", "name a git ref, a promptc.lock file or a project directory"),
    Code("E922", "baseline-does-not-compile", "error", "the baseline project does not compile, and has no lockfile",
         "Without a baseline there is nothing to compare with.",
         "promptc lint --against HEAD~1  (HEAD~1 has a syntax error and no promptc.lock)", "lint against a ref that builds"),
)
