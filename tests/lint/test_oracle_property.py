"""The property of issue 21: over generated projects and random compositions of edits, lint equals a
replay of the wire through the provider simulator (tests/lint/oracle.py), on every provider target with
a simulator (``oracle.targets()``: derived from the simulator's providers, so a new one is drawn too).

A project is drawn (1–3 plans sharing a global block, rules whose size straddles the cache minimum,
0–4 tools, a memory or not, short or long retention) and so is a list of edits applied to it in
order (text, whitespace, role, tool insert/append/reorder/parameter, memory rewrite/append, segment
rename, plan rename, file move, include edit, target and retention changes, shrinking below and
growing above the minimum). Lint (directory baseline) must then agree with the simulator on every
plan and target both versions send to: the same set of broken plans, the same tokens written and
lost (±0), the same cost; an error only where the wire loses cached content; and no finding above
info for a change that sends the same bytes. On a routed cache (``oracle.ROUTED``) a replay whose new key
the simulator's hash happened to put on the baseline's server reads more than the docs guarantee: there
lint must report the documented worst case (everything the baseline read is lost), as in
tests/lint/test_oracle_providers.py.

Every target is exercised in CI: the test is parametrized by target, :data:`EXAMPLES` derandomized
examples each (hypothesis seeds each parametrization from its node id, so each target gets its own
projects and edits).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc import tokenizers
from promptc.compiler.build import compile_project
from promptc.compiler.context import BuildContext
from promptc.lint import lint
from tests.lint.oracle import PYPROJECT, TARGETS, aws_sim_env, cost, replay_plan, simulator, targets

RULE = "Rule {i}: {verb} module {i} small, tested and reviewed before merging."
#: about 15 tokens a rule: 1 rule is below the oracle's minimum (64), 4 straddles it, 12 is well above
#: (12 first: hypothesis starts from the first choice of each draw, which should cache something)
RULE_COUNTS = (12, 4, 1)
TOOLS = (("read_file", 'path: string "Path from the repository root"', "Read a file."),
         ("search_code", 'pattern: string "A regular expression"', "Search the code."),
         ("run_tests", 'selector: string? "A pytest selector"', "Run the tests."),
         ("open_pr", 'title: string "The pull request title"', "Open a pull request."))
NEW_TOOL = ("deploy", 'env: string "The environment to deploy to"', "Deploy the service.")
AGENTS = ("backend", "docs", "frontend")


@dataclass(frozen=True)
class Project:
    """Everything a generated project is written from; an edit is a function ``Project -> Project``."""

    agents: tuple[str, ...]
    rules: int
    tools: tuple[tuple[str, str, str], ...]
    memory: bool
    retention: str
    targets: tuple[str, ...] = TARGETS
    rules_name: str = "rules"
    rules_role: str = "system"
    verb: str = "keep"
    trailing: str = ""
    agent_text: str = "Write a test for every change."
    style: str = "Answer briefly and precisely."
    memories: tuple[str, ...] = ("The CI runs on two cores.", "Releases happen on Fridays.")
    renamed: tuple[str, ...] = ()  #: agents whose plan is now named ``<agent>_agent``
    folder: str = ""  #: where the plan files live ("" = the project root)

    def plan_name(self, agent: str) -> str:
        return f"{agent}_agent" if agent in self.renamed else agent

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True)
        (root / "memory").mkdir()
        rules = "\n".join(RULE.format(i=i, verb=self.verb) for i in range(self.rules)) + self.trailing
        shared = f'global {self.rules_name} @static role {self.rules_role} """\n{rules}\n{{% include "style.md" %}}\n"""\n'
        if self.tools:
            shared += "\nglobal tools @append_only tools {\n" + "".join(
                f'    {n}({p}) "{d}"\n' for n, p, d in self.tools) + "}\n"
        (root / "shared.prompt").write_text(shared)
        # no trailing newline: the rules end in one "\n", a token boundary the compiler accepts on SmolLM2's
        # exact tokenizer (a "\n\n" before the agent's "You" is E601 there)
        (root / "style.md").write_text(self.style)
        (root / "turn.prompt").write_text('task turn @turn role user {\n    input query: string\n'
                                          '    """{{ query }} (Answer briefly.)"""\n}\n')
        up = "../" if self.folder else "./"
        mem = "../" if self.folder else ""
        targets = ", ".join(f'"{t}"' for t in self.targets)
        (root / (self.folder or ".")).mkdir(exist_ok=True)
        for a in self.agents:
            parts = [self.rules_name] + (["tools"] if self.tools else []) + [a] + ([f"{a}_memory"] if self.memory else [])
            text = (f'import "{up}shared.prompt"\nimport "{up}turn.prompt"\n\n'
                    f'agent {a} @static role system """\nYou own the {a} of the acme shop. {self.agent_text}\n"""\n\n')
            if self.memory:
                text += f'agent {a}_memory @append_only memory from "{mem}memory/{a}.md"\n\n'
                (root / "memory" / f"{a}.md").write_text("\n\n".join(self.memories) + "\n")
            text += f"plan {self.plan_name(a)} = {', '.join(parts + ['turn'])} target {targets}\n"
            (root / (self.folder or ".") / f"{a}.prompt").write_text(text)
        py = PYPROJECT + (f'\n[tool.promptc]\ncacheRetention = "{self.retention}"\n' if self.retention != "short" else "")
        (root / "pyproject.toml").write_text(py)
        return root


def _tool_insert(p: Project) -> Project:
    return p if NEW_TOOL in p.tools else replace(p, tools=p.tools[:1] + (NEW_TOOL,) + p.tools[1:])


def _tool_append(p: Project) -> Project:
    return p if NEW_TOOL in p.tools else replace(p, tools=p.tools + (NEW_TOOL,))


def _tool_reorder(p: Project) -> Project:
    return replace(p, tools=p.tools[1:2] + p.tools[:1] + p.tools[2:])


def _tool_parameter(p: Project) -> Project:
    if not p.tools:
        return p
    n, params, d = p.tools[0]
    return replace(p, tools=((n, params.replace('"', '"The ', 1), d),) + p.tools[1:])


#: the edits of the issue, each a pure function of the project (a no-op where it does not apply)
EDITS = {
    "text": lambda p: replace(p, verb="always keep"),
    "agent text": lambda p: replace(p, agent_text="Write one test for every change."),
    "whitespace": lambda p: replace(p, trailing="  "),
    "role": lambda p: replace(p, rules_role="developer" if p.rules_role == "system" else "system"),
    "tool insert": _tool_insert,
    "tool append": _tool_append,
    "tool reorder": _tool_reorder,
    "tool parameter": _tool_parameter,
    "memory rewrite": lambda p: replace(p, memories=("The CI runs on four cores.",) + p.memories[1:]),
    "memory append": lambda p: replace(p, memories=p.memories + ("Deploys need a review.",)),
    "segment rename": lambda p: replace(p, rules_name="house_rules"),
    "plan rename": lambda p: replace(p, renamed=p.agents[:1]),
    "file move": lambda p: replace(p, folder="agents"),
    "include edit": lambda p: replace(p, style="Answer briefly, precisely and politely."),
    "target change": lambda p: replace(p, targets=p.targets[:1] if len(p.targets) > 1 else
                                       p.targets + (next(t for t in TARGETS if t not in p.targets),)),
    "retention change": lambda p: replace(p, retention="long" if p.retention == "short" else "short"),
    "shrink below minimum": lambda p: replace(p, rules=1),
    "grow above minimum": lambda p: replace(p, rules=12),
}

projects = st.builds(
    Project,
    agents=st.integers(1, 3).map(lambda n: AGENTS[:n]),
    rules=st.sampled_from(RULE_COUNTS),
    tools=st.sampled_from((2, 0, 1, 3, 4)).map(lambda n: TOOLS[:n]),
    memory=st.sampled_from((True, False)),
    retention=st.sampled_from(("short", "long")),
)
edit_lists = st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=3, unique=True)


def _same_bytes(old, new) -> bool:
    """Both plans send the same segments (role, content, tools) in the same order."""
    def shape(plan):
        return [(s.role, s.content, s.template, s.tools, s.entries, s.stability) for s in plan.segments]

    return shape(old) == shape(new) and [t.name for t in old.targets] == [t.name for t in new.targets]


def check(sim, cache: Path, old_p: Project, new_p: Project, old_root: Path, new_root: Path,
          context: BuildContext | None = None) -> None:
    old = compile_project([old_root], cache_dir=cache, context=context).raise_on_error().plans
    new = compile_project([new_root], cache_dir=cache, context=context).raise_on_error().plans
    report = lint([new_root], str(old_root), cache_dir=cache, display_root=new_root)
    summary = {p.plan: p for p in report.summary.plans}
    lint_broken = {p.plan for p in report.summary.plans if any(p.lost.values())}
    oracle_broken = set()
    for agent in old_p.agents:
        o, n = old[old_p.plan_name(agent)], new[new_p.plan_name(agent)]
        got = summary.get(n.name)
        for target in [t for t in new_p.targets if t in old_p.targets]:
            r = replay_plan(sim, o, n, target, old_root, new_root)
            where = f"{n.name} on {target}: {r}"
            tokens, lost = (got.tokens.get(target, 0), got.lost.get(target, 0)) if got else (0, 0)
            if r.lucky(target):  # a routed cache's new key on the old server: lint reports the worst case
                assert lost == r.was_read >= r.lost and tokens >= r.written, where
                oracle_broken |= {n.name} if r.was_read else set()
                continue
            if r.lost:
                oracle_broken.add(n.name)
            assert (tokens, lost) == (r.written, r.lost), where
            assert (got.cost.get(target, 0.0) if got else 0.0) == pytest.approx(cost(target, r), abs=2e-6), where
    assert lint_broken == oracle_broken, [(f.code, f.plans, f.message) for f in report.findings]
    failing = {p for f in report.failing("error") for p in f.plans}
    assert failing <= oracle_broken, [(f.code, f.message) for f in report.failing("error")]
    if old_p.retention == new_p.retention and all(
            _same_bytes(old[old_p.plan_name(a)], new[new_p.plan_name(a)]) for a in old_p.agents):
        assert [f for f in report.findings if f.severity != "info"] == [], "a byte-identical change has a finding"


@pytest.fixture(scope="module", autouse=True)
def tokenizers_loaded_once():
    """Each tokenizer loaded once for the module: every build, lint run and replay client would load
    the same o200k tables again (80% of this test's time). The tokenizers are the same objects."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tokenizers, "load_tokenizer", functools.cache(tokenizers.load_tokenizer))
        yield


@pytest.fixture(scope="module", autouse=True)
def aws_env(tmp_path_factory):
    """Bedrock's simulator accepts only SigV4-signed requests: its dummy credentials, nothing of the machine's."""
    with aws_sim_env(tmp_path_factory.mktemp("aws")):
        yield


@pytest.fixture(scope="module")
def sim():
    with simulator() as s:
        yield s


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("oracle-property")


#: derandomized examples per target (every target of oracle.targets() gets its own)
EXAMPLES = 8


@pytest.mark.parametrize("target", targets())
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(project=projects, edits=edit_lists)
def test_lint_equals_the_simulator_on_random_edits_of_generated_projects(target, project, edits, sim, workdir):
    project = replace(project, targets=(target,))
    changed = project
    for e in edits:
        changed = EDITS[e](changed)
    case = workdir / f"case{len(list(workdir.glob('case*')))}"
    old_root, new_root = project.write(case / "old"), changed.write(case / "new")
    try:
        check(sim, workdir / "cache", project, changed, old_root, new_root, BuildContext())
    finally:
        shutil.rmtree(case, ignore_errors=True)
