"""Every standard-library module compiles into a plan, and the tool sets carry full schemas."""

from __future__ import annotations

import json

import pytest

import promptc
from promptc.compiler.resolve import std_modules

MODULES = std_modules()


def test_stdlib_has_the_promised_modules():
    assert {"std/formats/json", "std/formats/markdown", "std/safety/honesty", "std/tools/filesystem",
            "std/tools/shell", "std/tools/http", "std/tools/search", "std/roles/planner",
            "std/roles/reviewer"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_each_std_module_compiles(tmp_path, module):
    (tmp_path / "main.prompt").write_text(f'import "{module}" as m\n')
    from promptc.compiler.resolve import load_project

    project = load_project([tmp_path])
    info = next(i for i in project.modules.values() if i.display.startswith("std/"))
    names = sorted(info.own_segments)
    assert names
    refs = ", ".join(f"m.{n}" for n in names)
    (tmp_path / "main.prompt").write_text(f'import "{module}" as m\nplan p = {refs}\n')
    plan = promptc.compile(tmp_path)["p"]
    for seg in plan.segments:
        assert seg.content and seg.hash and seg.doc
        if seg.kind == "tools":
            for tool in seg.tools:
                params = tool["parameters"]
                assert tool["description"] and params["type"] == "object" and params["additionalProperties"] is False
                assert all("description" in p for p in params["properties"].values())
            assert seg.content == "".join(json.dumps(t, sort_keys=True, separators=(",", ":")) + "\n" for t in seg.tools)
