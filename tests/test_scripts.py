"""scripts/demo.sh says what it is doing at each step (a CI log shows progress), and its note about the
W604 warnings names exactly the examples that produce them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from promptc.compiler.build import compile_project

REPO = Path(__file__).resolve().parent.parent
DEMO = (REPO / "scripts" / "demo.sh").read_text(encoding="utf-8")


def test_demo_sh_is_valid_bash_and_prints_each_step():
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / "demo.sh")]).returncode == 0
    steps = re.findall(r'^step (\d) "', DEMO, flags=re.M)
    assert steps == ["1", "2", "3", "4"]
    # each slow command comes after its step line
    for step, command in (("1", "bash scripts/setup.sh"), ("2", "promptc build"), ("4", "promptc demo")):
        assert DEMO.index(f"step {step} ") < DEMO.index(command)


def test_the_w604_note_names_the_examples_that_warn(build_context):
    warned = set()
    for example in sorted(p for p in (REPO / "examples").iterdir() if p.is_dir()):
        result = compile_project([example], context=build_context)
        assert not result.errors
        w604 = [d for d in result.diagnostics if d.code == "W604"]
        if w604:
            warned.add(example.name)
            for d in w604:  # "a few hundred tokens ... below ... 1024"
                tokens = int(re.search(r"static prefix \((\d+) tokens", d.message).group(1))
                assert tokens < 1000 and "minimum of 1024" in d.message, d.message
    note = DEMO.split("NOTE", 2)[1]
    assert warned == {"support", "stdlib_tour"}
    assert all(name in note for name in warned) and "W604" in note and "team" not in note
