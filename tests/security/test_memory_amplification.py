"""Issue 22 item 14: a memory file of tiny paragraphs cannot amplify into a huge plan or a huge
build. The attack file of the issue (4 MB of one-letter paragraphs, within the default file size
limit) is refused with E810 before any per-entry work; memory use is measured with tracemalloc."""

from __future__ import annotations

import json
import tracemalloc

from promptc.compiler.build import MAX_MEMORY_ENTRIES, compile_project
from promptc.compiler.confine import DEFAULT_MAX_FILE_BYTES
from tests.security.compiler_helpers import project, write  # noqa: F401 (fixtures)

MAIN = 'agent notes @append_only memory from "memory/notes.md"\n\nplan p = notes\n'


def test_the_4mb_file_of_tiny_paragraphs_is_refused_small(project):
    write(project, {"main.prompt": MAIN, "memory/notes.md": "a\n\n" * (DEFAULT_MAX_FILE_BYTES // 3)})
    tracemalloc.start()
    try:
        result = compile_project([project], annotate_tokens=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [d.code for d in result.errors] == ["E810"] and not result.plans
    assert peak < 200 << 20  # the old build peaked at 2.1 GB RSS on this file


def test_a_memory_at_the_limit_builds_a_plan_linear_in_its_entries(project):
    write(project, {"main.prompt": MAIN, "memory/notes.md": "a\n\n" * MAX_MEMORY_ENTRIES})
    result = compile_project([project], annotate_tokens=False)
    assert not result.errors
    seg = result.plans["p"].segments[0]
    assert len(seg.entry_hashes) == MAX_MEMORY_ENTRIES
    size = len(result.plans["p"].to_json())
    assert size < MAX_MEMORY_ENTRIES * 120  # a hash (71 bytes) + the entry + JSON punctuation each
    assert json.loads(result.plans["p"].to_json())["segments"][0]["entry_hashes"][0].startswith("sha256:")
