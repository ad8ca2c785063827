"""Lint against the wire (issue 21): every impact lint reports equals a replay through the simulator.

For each edit, the baseline project and the changed one are compiled, linted (directory baseline),
and replayed through the in-process provider simulator per plan and target (:mod:`tests.lint.oracle`):
the plans lint says are broken are exactly those whose next request reads less than the baseline's;
the tokens lint says are written are the tokens the simulator wrote (±0); the cost is the
simulator's written tokens at the TTL the wire reports; a byte-identical change has no finding.
The hypothesis property over generated projects and random edits is tests/lint/test_oracle_property.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from promptc.compiler.build import compile_project
from promptc.lint import lint
from tests.lint.oracle import PYPROJECT, TARGETS, cost, replay_all, replay_plan, simulator

RULES_LONG = " ".join(f"Rule {i}: keep module {i} small, tested and reviewed before merging." for i in range(12))
RULES_SHORT = "Be brief."
TOOLS = [('read_file', 'path: string "Path from the repository root"', "Read a file."),
         ('search_code', 'pattern: string "A regular expression"', "Search the code."),
         ('run_tests', 'selector: string? "A pytest selector"', "Run the tests.")]


def project(root: Path, *, plans=("backend", "docs"), rules=RULES_LONG, tools=TOOLS, retention=None,
            rules_name="rules", rules_role="system", targets=None) -> Path:
    """A small team project: a shared global block (rules + tools), per plan an agent text, an
    append-only memory file and a turn; targets: every simulated provider target."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "memory").mkdir(exist_ok=True)
    tool_lines = "\n".join(f'    {n}({p}) "{d}"' for n, p, d in tools)
    (root / "shared.prompt").write_text(
        f'global {rules_name} @static role {rules_role} """\n{rules}\n"""\n\n'
        f'global tools @append_only tools {{\n{tool_lines}\n}}\n')
    (root / "turn.prompt").write_text('task turn @turn role user {\n    input query: string\n'
                                      '    """{{ query }} (Answer briefly.)"""\n}\n')
    targets = ", ".join(f'"{t}"' for t in targets or _targets_of(root))
    for a in plans:
        (root / f"{a}.prompt").write_text(
            f'import "./shared.prompt"\nimport "./turn.prompt"\n\n'
            f'agent {a} @static role system """\nYou own the {a} of the acme shop. Write a test for every change.\n"""\n\n'
            f'agent {a}_memory @append_only memory from "memory/{a}.md"\n\n'
            f'plan {a} = {rules_name}, tools, {a}, {a}_memory, turn target {targets}\n')
        if not (root / "memory" / f"{a}.md").exists():
            (root / "memory" / f"{a}.md").write_text("The CI runs on two cores.\n\nReleases happen on Fridays.\n")
    py = PYPROJECT + (f'\n[tool.promptc]\ncacheRetention = "{retention}"\n' if retention else "")
    (root / "pyproject.toml").write_text(py)
    return root


def _targets_of(root: Path) -> tuple[str, ...]:
    """The targets an existing project's plans name (an edit that re-generates it keeps them)."""
    first = next(iter(sorted(root.glob("*.prompt"))), None)
    line = next((x for x in first.read_text().splitlines() if x.startswith("plan ")), "") if first else ""
    return tuple(re.findall(r'"([^"]+)"', line.partition(" target ")[2])) or TARGETS


def sub(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1))


# -- the edits of the issue, each a function of a project directory ------------------------------
EDITS = {
    "rules text": lambda r: sub(r / "shared.prompt", "Rule 3: keep", "Rule 3: always keep"),
    "rules whitespace": lambda r: sub(r / "shared.prompt", "merging.\n", "merging.  \n"),
    "agent text": lambda r: sub(r / "backend.prompt", "Write a test", "Write one test"),
    "tool append": lambda r: sub(r / "shared.prompt", '"Run the tests."\n', '"Run the tests."\n'
                                 '    open_pr(title: string "Title") "Open a pull request."\n'),
    "tool insert": lambda r: sub(r / "shared.prompt", "    search_code(",
                                 '    open_pr(title: string "Title") "Open a pull request."\n    search_code('),
    "tool reorder": lambda r: project(r, tools=[TOOLS[1], TOOLS[0], TOOLS[2]]),
    "tool parameter": lambda r: sub(r / "shared.prompt", '"A regular expression"', '"A Python regular expression"'),
    "memory append": lambda r: sub(r / "memory" / "backend.md", "Fridays.\n", "Fridays.\n\nDeploys need a review.\n"),
    "memory rewrite": lambda r: sub(r / "memory" / "backend.md", "two cores", "four cores"),
    "segment rename": lambda r: project(r, rules_name="house_rules"),
    "turn text": lambda r: sub(r / "turn.prompt", "(Answer briefly.)", "(Answer in full.)"),
    "byte-identical": lambda r: sub(r / "shared.prompt", "global tools", "# the tools every agent gets\nglobal tools"),
    "retention long": lambda r: project(r, retention="long"),
    "shrink below minimum": lambda r: project(r, rules=RULES_SHORT),
    "plan added": lambda r: project(r, plans=("backend", "docs", "frontend")),
}


def _check(sim, old_root: Path, new_root: Path, *, shared: bool = True, targets=TARGETS) -> None:
    """Lint ``new_root`` against ``old_root`` and hold every number to the simulator."""
    old = compile_project([old_root], cache_dir=old_root.parent / "cache").raise_on_error().plans
    new = compile_project([new_root], cache_dir=new_root.parent / "cache").raise_on_error().plans
    report = lint([new_root], str(old_root), cache_dir=new_root.parent / "cache", display_root=new_root)
    summary = {p.plan: p for p in report.summary.plans}
    lint_broken = {p.plan for p in report.summary.plans if any(p.lost.values())}
    oracle_broken = set()
    for name in sorted(new):
        for target in targets:
            if name not in old:
                continue
            r = replay_plan(sim, old[name], new[name], target, old_root, new_root)
            if r.lost:
                oracle_broken.add(name)
            got = summary.get(name)
            where = f"{name} on {target}"
            assert (got.tokens[target] if got else 0) == r.written, where
            assert (got.lost[target] if got else 0) == r.lost, where
            assert (got.cost.get(target, 0.0) if got else 0.0) == pytest.approx(cost(target, r), abs=2e-6), where
    assert lint_broken == oracle_broken
    # an error breaks other cached content; an append that re-writes only its own memory block is info
    failing = {p for f in report.failing("error") for p in f.plans}
    assert failing <= oracle_broken, [(f.code, f.message) for f in report.failing("error")]
    for name in oracle_broken - failing:
        (f,) = [f for f in report.findings if name in f.plans and f.impact]
        assert f.code == "I906" and any(t.lost for i in f.impact for t in i.targets)
    if shared and lint_broken:  # totals: one cache for every plan, a shared prefix re-written once
        for target in targets:
            rs = replay_all(sim, old, new, sorted(lint_broken), target, old_root, new_root)
            assert report.summary.cost.get(target, 0.0) == pytest.approx(sum(cost(target, r) for r in rs.values()),
                                                                        abs=5e-6), target


@pytest.fixture(scope="module")
def sim():
    with simulator() as s:
        yield s


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return project(tmp_path_factory.mktemp("oracle") / "base")


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_lint_equals_the_simulator(edit, base, sim, tmp_path):
    new = shutil.copytree(base, tmp_path / "new", ignore=shutil.ignore_patterns(".promptc"))
    EDITS[edit](new)
    _check(sim, base, new)


def test_a_byte_identical_change_has_no_finding(base, tmp_path):
    new = shutil.copytree(base, tmp_path / "new", ignore=shutil.ignore_patterns(".promptc"))
    EDITS["byte-identical"](new)
    EDITS["segment rename"](new)
    report = lint([new], str(base), cache_dir=tmp_path / "cache", display_root=new)
    assert [f for f in report.findings if f.severity != "info"] == []
    assert {f.code for f in report.findings} <= {"I918"}
