"""Issue 21's defects, one regression case each (the numbers themselves are held to the simulator in
tests/lint/test_oracle.py): wrong words, identity by content, suppressions bound to what they
acknowledge, linear-time allow parsing, one lockfile location, E920 as JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from promptc.lint import BaselineError, lint, suppress
from tests.lint.project import PLANS, PYPROJECT, edit, git

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
