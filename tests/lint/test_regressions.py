"""Issue 21's defects, one regression case each (the numbers themselves are held to the simulator in
tests/lint/test_oracle.py): wrong words, identity by content, suppressions bound to what they
acknowledge, linear-time allow parsing, one lockfile location, E920 as JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promptc.lint import BaselineError, lint, suppress
from tests.lint.project import PLANS, PYPROJECT, edit, git, line_of

OPUS = "anthropic/claude-opus-4-8"
#: the CLI of this checkout (not an installed copy), as tests/lint/test_pre_commit.py runs it
CLI = [sys.executable, "-m", "promptc.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def run(repo, against="main"):
    return lint([repo], against, display_root=repo)


def codes(report):
    return [(f.code, f.plans) for f in report.findings]


def test_a_role_only_change_is_called_a_role_change_not_whitespace(repo):
    edit(repo / "shared.prompt", "global rules @static role system", "global rules @static role developer")
    (f,) = run(repo).findings
    assert f.code == "E901" and "role changed (system → developer)" in f.message
    assert "whitespace" not in f.message + (f.hint or "") and "restore `role system`" in f.hint


def test_a_role_change_is_reported_on_the_targets_whose_wire_carries_it(repo):
    # engine/smollm2's chat template renders the role; Anthropic sends system and developer text alike
    # in its top-level `system` (the same bytes: tests below render both through every adapter)
    edit(repo / "shared.prompt", "global rules @static role system", "global rules @static role developer")
    report = run(repo)
    (f,) = report.findings
    assert {t.target for i in f.impact for t in i.targets} == {"engine/smollm2"}
    assert any(f"the wire of {OPUS} sends both roles as the same bytes" in n for n in f.notes)
    assert all(p.lost.get(OPUS) == 0 and p.tokens.get(OPUS) == 0 for p in report.summary.plans)
    assert all(p.lost["engine/smollm2"] > 0 for p in report.summary.plans)


def test_a_role_change_the_wire_does_not_carry_has_no_finding(repo):
    for a in PLANS:
        edit(repo / f"{a}.prompt", ' target "engine/smollm2", "anthropic/claude-opus-4-8"', f' target "{OPUS}"')
    git(repo, "commit", "-qam", "anthropic only")
    edit(repo / "shared.prompt", "global rules @static role system", "global rules @static role developer")
    assert run(repo).findings == []
    edit(repo / "shared.prompt", "global rules @static role developer", "global rules @static role user")
    (f,) = run(repo).findings  # a user turn is a message on Anthropic's wire: a change there
    assert f.code == "E901" and "role changed (system → user)" in f.message and f.notes == []


def _payloads(target: str, plans) -> list[str]:
    """What ``target``'s adapter sends for each plan's request (payload, cache key, headers), canonical."""
    import warnings

    from promptc.runtime.client import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W509: an unpriced model (prices play no part here)
        client = Client(target, api_key="k", base_url="http://127.0.0.1:9")
        calls = [client.build(p.bind().render(query="q")) for p in plans]
    return [json.dumps([c.payload, c.cache_key, c.headers], sort_keys=True) for c in calls]


def _provider_targets() -> list[str]:
    from promptc.core.providers import SPECS
    from promptc.runtime.providers import ADAPTERS

    out = []
    for name, spec in sorted(SPECS.items()):
        if name in ADAPTERS:
            models = [row.key for row in spec.models if not row.key.endswith("/")]
            out.append(models[0] if models else f"{name}/model")
    return out


@pytest.fixture(scope="module")
def role_plans(tmp_path_factory):
    from promptc.compiler.build import compile_project

    root = tmp_path_factory.mktemp("roles")
    plans = {}
    for role in ("system", "developer", "user"):
        (root / role).mkdir()
        (root / role / "a.prompt").write_text(
            f'global rules @static role {role} """\nReview every change with care.\n"""\n'
            'agent own @static role system """\nYou own the backend.\n"""\n'
            'task turn @turn role user {\n    input query: string\n    """Q: {{ query }}"""\n}\n'
            f'plan p = rules, own, turn target "{OPUS}"\n')
        plans[role] = compile_project([root / role], cache_dir=root / "cache").raise_on_error().plans["p"]
    return plans


@pytest.mark.parametrize("target", _provider_targets())
def test_the_wire_role_fact_is_what_every_adapter_renders(target, role_plans, monkeypatch):
    """promptc.core.wire.wire_role (from the specs' ``system_roles``), against the real adapter: two roles
    are the same on the wire exactly when the adapter sends the same bytes for them."""
    from promptc.core.wire import wire_role

    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "promptc-tests")  # the Vertex adapter needs a project
    a, b, c = _payloads(target, [role_plans["system"], role_plans["developer"], role_plans["user"]])
    for other, payload in (("developer", b), ("user", c)):
        same = wire_role(target, role_plans["system"].segments, 0) == wire_role(target, role_plans[other].segments, 0)
        assert same == (payload == a), (target, other)


def test_memory_before_an_agent_block_is_reported_at_the_plan_line(repo):
    edit(repo / "backend.prompt", "tools, backend, backend_memory", "tools, backend_memory, backend")
    report = run(repo)
    assert [f.code for f in report.findings if f.code in ("W312", "E923")] == ["E923"]  # the wire re-writes `backend`
    (w,) = [f for f in report.findings if f.code == "E923"]
    assert w.severity == "error" and w in report.failing("error")
    assert (w.location.path, w.location.line) == ("backend.prompt", line_of(repo / "backend.prompt", "plan backend"))


def test_a_target_changed_in_pyproject_points_at_pyproject(repo):
    for a in PLANS:
        edit(repo / f"{a}.prompt", ' target "engine/smollm2", "anthropic/claude-opus-4-8"', "")
    (repo / "pyproject.toml").write_text('[tool.promptc]\ntarget = ["engine/smollm2", "anthropic/claude-opus-4-8"]\n\n'
                                         + PYPROJECT)
    git(repo, "commit", "-qam", "targets in pyproject")
    edit(repo / "pyproject.toml", "claude-opus-4-8", "claude-sonnet-5")
    report = run(repo)
    found = [f for f in report.findings if f.code == "E911"]
    assert sorted(p for f in found for p in f.plans) == list(PLANS)
    assert {(f.location.path, f.location.line) for f in found} == {("pyproject.toml", 2)}  # never a plan line


def test_a_byte_identical_segment_rename_is_info_only(repo):
    edit(repo / "backend.prompt", "agent backend @static", "agent backend_agent @static")
    edit(repo / "backend.prompt", "tools, backend, backend_memory", "tools, backend_agent, backend_memory")
    report = run(repo)
    assert codes(report) == [("I918", ["backend"])] and report.failing("error") == []


def test_git_mv_plus_a_static_edit_is_the_edit_not_a_new_plan(repo):
    git(repo, "mv", "backend.prompt", "backend_agent.prompt")
    edit(repo / "backend_agent.prompt", "Write a test for every change.", "Write two tests for every change.")
    report = run(repo)
    assert codes(report) == [("E901", ["backend"])]
    assert report.findings[0].location.path == "backend_agent.prompt"


def test_a_plain_mv_of_a_plan_file_with_an_edit_is_the_edit_at_the_new_path(repo):
    (repo / "backend.prompt").rename(repo / "backend_agent.prompt")  # no `git mv`: an untracked new file
    edit(repo / "backend_agent.prompt", "Write a test for every change.", "Write two tests for every change.")
    report = run(repo)
    assert codes(report) == [("E901", ["backend"])]
    assert report.findings[0].location.path == "backend_agent.prompt"


def test_a_renamed_plan_is_matched_by_its_segments_not_added_and_removed(repo, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(repo, base, ignore=shutil.ignore_patterns(".git", ".promptc"))
    edit(repo / "backend.prompt", "plan backend =", "plan backend_agent =")
    for against in ("main", str(base)):  # git and directory baselines
        report = run(repo, against)
        (f,) = report.findings  # its own code (issue 21): info, naming the old and the new name, at the plan line
        assert (f.code, f.severity, f.plans) == ("I924", "info", ["backend_agent"]), against
        assert "plan `backend` was renamed `backend_agent`" in f.message
        assert (f.location.path, f.location.line) == ("backend.prompt", line_of(repo / "backend.prompt", "plan backend"))
        assert report.failing("error") == []
    edit(repo / "backend.prompt", "Write a test for every change.", "Write two tests for every change.")
    (repo / "backend.prompt").rename(repo / "agents.prompt")
    for against in ("main", str(base)):
        report = run(repo, against)
        assert codes(report) == [("E901", ["backend_agent"]), ("I924", ["backend_agent"])], against
        assert {f.location.path for f in report.findings} == {"agents.prompt"}  # the edit, at the new path


def test_a_plan_that_only_shares_the_global_block_with_a_removed_one_is_new(repo):
    (repo / "backend.prompt").unlink()
    (repo / "ops.prompt").write_text((repo / "docs.prompt").read_text().replace("docs", "ops"))
    (repo / "memory" / "ops.md").write_text("Pages go to the on-call engineer.\n")
    assert sorted(codes(run(repo))) == [("I915", ["ops"]), ("I916", ["backend"])]


def _hash_hint(finding) -> str:
    return re.search(r"@([0-9a-f]{12})", finding.hint).group(1)


def test_an_allow_bound_to_a_hash_acknowledges_those_bytes_only(repo):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    (f,) = run(repo).findings
    digest = _hash_hint(f)
    edit(repo / "shared.prompt", "# Shared by every agent.\n",
         f"# Shared by every agent.\n# promptc: allow E901 @{digest} — new wording agreed with the team\n")
    (f,) = run(repo).findings
    assert f.suppressed is not None and f.suppressed.reason == "new wording agreed with the team"
    git(repo, "commit", "-qam", "acknowledged")
    edit(repo / "shared.prompt", "Keep every change small", "Keep every single change small")  # a later change
    (f,) = run(repo).findings
    assert f.suppressed is None and f.code == "E901"
    assert any("an older acknowledgement exists" in n and f"@{digest}" in n for n in f.notes)


def test_an_allow_without_a_hash_is_bound_to_the_change_it_is_committed_with(repo):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    edit(repo / "shared.prompt", "# Shared by every agent.\n",
         "# Shared by every agent.\n# promptc: allow E901 — new wording agreed with the team\n")
    assert run(repo).findings[0].suppressed is not None
    git(repo, "commit", "-qam", "acknowledged")
    edit(repo / "shared.prompt", "Keep every change small", "Keep every single change small")
    (f,) = run(repo).findings
    assert f.suppressed is None and any("already in the baseline" in n for n in f.notes)


def test_allow_parsing_reads_a_bounded_prefix_of_a_hostile_line(monkeypatch):
    seen = []
    real = suppress.ALLOW

    class Recording:
        def search(self, text):
            seen.append(len(text))
            return real.search(text)

    monkeypatch.setattr(suppress, "ALLOW", Recording())
    line = "# promptc: allow E901 — " + " " * 100_000 + "x"
    assert suppress.parse_allow(line) == (("E901",), None, "")  # the reason lies past the parsed prefix
    assert suppress.parse_allow("# promptc: allow E901, E905 @abcdef12 — why") == (("E901", "E905"), "abcdef12", "why")
    assert suppress.parse_allow("#promptc:allow E9011 x") is None
    assert max(seen) <= suppress.MAX_COMMENT
    # the pattern has no nested or adjacent unbounded repeats: a 100 KB run of each character it can
    # repeat on is rejected or accepted on the bounded prefix alone
    for filler in (" ", "\t", ",", "E901,"):
        suppress.parse_allow("# promptc: allow E901" + filler * 100_000)
    assert max(seen) <= suppress.MAX_COMMENT


def test_retention_change_is_reported_and_later_breaks_are_priced_at_its_write_rate(repo):
    edit(repo / "pyproject.toml", "[tool.promptc.cache_limits", '[tool.promptc]\ncacheRetention = "long"\n\n'
                                                              "[tool.promptc.cache_limits")
    report = run(repo)
    assert codes(report) == [("I919", list(PLANS))] and report.failing("error") == []
    assert report.findings[0].location.path == "pyproject.toml"
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    f = next(f for f in run(repo).findings if f.code == "E901")
    t = next(t for t in f.impact[0].targets if t.target == OPUS)
    assert (t.cost.ttl, t.cost.write_multiplier) == ("1h", 2.0)  # Anthropic's 1-hour write: 2× input


def test_e920_is_one_json_document_under_format_json(repo):
    proc = subprocess.run(CLI + ["lint", "--against", "no-such-ref", "--format", "json"], cwd=repo, env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    data = json.loads(proc.stdout)
    assert data["error"]["code"] == "E920" and "no-such-ref" in data["error"]["message"]


def test_the_e921_example_is_e921_outside_a_git_repository(tmp_path):
    from tests.lint.project import write_project

    write_project(tmp_path / "p")
    with pytest.raises(BaselineError) as err:
        lint([tmp_path / "p"], "nothing/here")
    assert err.value.code == "E921"


def test_one_lockfile_location_whatever_path_build_is_given(tmp_path):
    from tests.lint.project import write_project

    root = tmp_path / "proj"
    write_project(root / "prompts")
    (root / "prompts" / "pyproject.toml").rename(root / "pyproject.toml")
    py = CLI
    subprocess.run(py + ["build", "prompts"], cwd=root, env=ENV, check=True, capture_output=True)
    assert (root / "promptc.lock").is_file() and not (root / "prompts" / "promptc.lock").exists()
    first = (root / "promptc.lock").read_bytes()
    subprocess.run(py + ["build"], cwd=root, env=ENV, check=True, capture_output=True)
    assert (root / "promptc.lock").read_bytes() == first
    assert subprocess.run(py + ["build", "--check"], cwd=root, env=ENV, capture_output=True).returncode == 0
    assert subprocess.run(py + ["build", "prompts", "--check"], cwd=root, env=ENV,
                          capture_output=True).returncode == 0


def test_a_lockfile_above_a_checkout_does_not_capture_its_root(tmp_path):
    from promptc.compiler.sources import find_sources
    from tests.lint.project import init_repo

    (tmp_path / "promptc.lock").write_text("not ours\n")
    repo = init_repo(tmp_path / "repo")
    assert find_sources([repo])[0] == repo.resolve()
    assert find_sources([repo / "memory"])[0] == repo.resolve()  # a subfolder: its project's root
