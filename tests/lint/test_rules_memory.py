"""Memory before a cached block (issue 21): the compiler's W312, graded by what each target's wire loses.

The oracle is the simulator (tests/lint/oracle.py): a memory append is replayed on the plan that puts
the memory before its agent block, and on the same plan without that block. What the first replay
loses beyond the second is what every memory change re-writes after the memory; lint's E923 must name
exactly that many tokens per target (none where the wire loses nothing), and stay the warning W312
when no target loses anything after the memory.
"""

from __future__ import annotations

import re
import shutil

import pytest

from promptc.compiler.build import compile_project
from promptc.lint import lint
from tests.lint.oracle import replay_plan, simulator
from tests.lint.test_oracle import EDITS, project, sub

#: breakpoint caches (Anthropic, OpenAI gpt-5.6), whole-part and whole-message caches (Gemini, Z.ai), and
#: token-step caches (OpenAI gpt-5, Kimi) where the blocks after the memory fall in no cached step
TARGETS = ("anthropic/claude-opus-4-8", "openai/gpt-5.6", "gemini/gemini-2.5-flash", "zai/glm-5.3", "openai/gpt-5",
           "moonshot/kimi-k3")
#: targets on which nothing after the memory is cached in this project (the static prefix ends inside a step)
STEP_TARGETS = ("openai/gpt-5", "moonshot/kimi-k3")
REWRITES = re.compile(r"^on (\S+) every change of `\w+` re-writes (\d+) cached tokens after it")


@pytest.fixture(scope="module")
def sim():
    with simulator() as s:
        yield s


def _variants(root, targets):
    """The good plan, the plan with memory first, the same without the agent block; each with its memory append."""
    good = project(root / "good", plans=("backend",), targets=targets)
    out = {"good": good}
    for name, order in (("first", "tools, backend_memory, backend"), ("alone", "tools, backend_memory")):
        r = shutil.copytree(good, root / name)
        sub(r / "backend.prompt", "tools, backend, backend_memory", order)
        out[name] = r
        grown = shutil.copytree(r, root / f"{name}+")
        EDITS["memory append"](grown)
        out[f"{name}+"] = grown
    return out


def _rewrites(finding) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for n in finding.notes if (m := REWRITES.match(n))}


def _wire_rewrites(sim, roots, targets) -> dict[str, int]:
    plans = {k: compile_project([r], cache_dir=r.parent / "cache").raise_on_error().plans["backend"]
             for k, r in roots.items() if k != "good"}
    out = {}
    for t in targets:
        first = replay_plan(sim, plans["first"], plans["first+"], t, roots["first"], roots["first+"])
        alone = replay_plan(sim, plans["alone"], plans["alone+"], t, roots["alone"], roots["alone+"])
        out[t] = first.lost - alone.lost  # what the blocks after the memory add to a memory change's loss
    return out


def test_memory_before_a_cached_block_is_an_error_with_the_wires_tokens(sim, tmp_path):
    roots = _variants(tmp_path, TARGETS)
    report = lint([roots["first"]], str(roots["good"]), cache_dir=tmp_path / "cache", display_root=roots["first"])
    (f,) = [f for f in report.findings if f.code in ("W312", "E923")]
    assert (f.code, f.severity, f.plans) == ("E923", "error", ["backend"])
    assert (f.location.path, f.location.line) == ("backend.prompt", 10)  # the plan line that puts memory first
    assert "`backend_memory` is sent before cached `backend`" in f.message
    wire = _wire_rewrites(sim, roots, TARGETS)
    assert {t: n for t, n in wire.items() if n} == _rewrites(f)
    assert all(wire[t] == 0 for t in STEP_TARGETS) and all(wire[t] > 0 for t in TARGETS if t not in STEP_TARGETS)


def test_memory_first_stays_a_warning_where_no_wire_caches_past_it(sim, tmp_path):
    roots = _variants(tmp_path, STEP_TARGETS)
    report = lint([roots["first"]], str(roots["good"]), cache_dir=tmp_path / "cache", display_root=roots["first"])
    (f,) = [f for f in report.findings if f.code in ("W312", "E923")]
    assert (f.code, f.severity) == ("W312", "warning") and f not in report.failing("error")
    assert any("nothing else is re-written yet" in n for n in f.notes)
    assert _wire_rewrites(sim, roots, STEP_TARGETS) == {t: 0 for t in STEP_TARGETS}
