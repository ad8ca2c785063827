"""Diagnostic codes of ``promptc observe`` and ``promptc import`` (E560–E569, W560–W569).

The exceptions carrying them are :class:`promptc.observe.errors.ObserveConfigError` (E560) and
:class:`promptc.observe.importer.ImportTraceError` (E561); W560/W561 are the findings
:func:`promptc.observe.importer.import_trace` reports. ``promptc import`` refusing to overwrite a
file is E970 (the project-writing commands' code). docs/observe.md describes each.
"""

from promptc.core.codes.base import Code

OBSERVE_CODES: tuple[Code, ...] = (
    Code("E560", "observe-config", "error", "a `promptc observe` setting that cannot work",
         "The proxy forwards credentials, so it binds loopback unless told otherwise, and off loopback it needs a key "
         "that agents send as x-promptc-key; upstreams must be http(s) URLs and overrides PREFIX=N.",
         "promptc observe --host 0.0.0.0", "bind 127.0.0.1, or give --key (PROMPTC_OBSERVE_KEY)"),
    Code("E561", "import-no-bodies", "error", "a trace has no recorded request bodies to import",
         "Without --record-bodies the observer stores hashes and bounded excerpts only, which cannot rebuild a "
         "prompt byte for byte.",
         "promptc import cache-trace.jsonl  # recorded without --record-bodies",
         "record the traffic again with `promptc observe --record-bodies`"),
    Code("W560", "imported-volatile-value", "warning", "an observed stable block carries a volatile value",
         "A date, time, uuid or counter inside a block that is otherwise identical in every request changes the "
         "bytes at that point, so every request re-sends everything after it uncached.",
         'system: "Current time: 09:10:07 ... (2,000 stable tokens)"',
         "keep the stable text static and pass the value in a turn input after the cached prefix"),
    Code("W561", "imported-tool-unexpressible", "warning", "an observed tool schema the language cannot declare",
         "Tool declarations have typed scalar parameters; a nested or exotic JSON Schema is left out of the imported "
         "tools segment (kept as a comment) rather than approximated.",
         '{"name": "query", "input_schema": {"type": "object", "properties": {"filter": {"type": "object"}}}}',
         "declare the tool by hand"),
)
