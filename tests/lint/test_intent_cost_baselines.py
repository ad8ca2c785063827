"""Suppressions, cache_epoch, the cost arithmetic by hand, and every kind of baseline."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from promptc.compiler.build import compile_project
from promptc.compiler.emit import write_outputs
from promptc.lint import BaselineError, lint
from promptc.lint.pricing import price_for
from tests.lint.project import PLANS, edit, git

OPUS = "anthropic/claude-opus-4-8"


def run(repo, against="main"):
    return lint([repo], against, display_root=repo)


def test_allow_comment_suppresses_but_keeps_the_finding(repo):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    edit(repo / "shared.prompt", "# Shared by every agent.\n",
         "# Shared by every agent.\n# promptc: allow E901 — new wording agreed with the team\n")
    report = run(repo)
    (f,) = report.findings
    assert f.code == "E901" and f.suppressed is not None
    assert (f.suppressed.by, f.suppressed.reason) == ("comment", "new wording agreed with the team")
    assert f.suppressed.location.line == 2
    assert report.failing("error") == [] and report.summary.suppressed == 1 and report.summary.errors == 0
    assert [p.suppressed for p in report.summary.plans] == [True, True, True]


def test_allow_comment_without_reason_is_a_finding_and_suppresses_nothing(repo):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    edit(repo / "shared.prompt", "# Shared by every agent.\n", "# Shared by every agent.\n# promptc: allow E901\n")
    report = run(repo)
    assert [(f.code, f.location.line, f.suppressed) for f in report.findings] == [("W917", 2, None), ("E901", 5, None)]
    assert [f.code for f in report.failing("error")] == ["E901"]
    assert [f.code for f in report.failing("warning")] == ["W917", "E901"]


def test_allow_comment_for_another_code_does_not_apply(repo):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    edit(repo / "shared.prompt", "# Shared by every agent.\n", "# Shared by every agent.\n# promptc: allow E905 — tools\n")
    assert run(repo).findings[0].suppressed is None


def test_cache_epoch_bump_acknowledges_a_global_reset(repo):
    edit(repo / "pyproject.toml", "[tool.promptc.cache_limits", "[tool.promptc]\ncache_epoch = 1\n\n[tool.promptc.cache_limits")
    git(repo, "commit", "-qam", "epoch 1")
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    edit(repo / "pyproject.toml", "cache_epoch = 1", "cache_epoch = 2")
    report = run(repo)
    (f,) = report.findings
    assert f.suppressed.by == "cache_epoch" and "from 1 to 2" in f.suppressed.reason
    assert report.failing("error") == []
    edit(repo / "pyproject.toml", "cache_epoch = 2", "cache_epoch = 1")  # no bump: the break counts again
    assert run(repo).findings[0].suppressed is None


def test_cost_is_the_multipliers_times_the_tokens_by_hand(repo):
    (repo / "pyproject.toml").write_text(
        (repo / "pyproject.toml").read_text() + "\n[tool.promptc.lint]\nrequests_per_day = 1000\nsessions = 40\n")
    git(repo, "commit", "-qam", "traffic model")
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    report = run(repo)
    t = next(t for t in report.findings[0].impact[0].targets if t.target == OPUS)
    # anthropic/claude-opus-4-8: $5 per MTok; a 5-minute write is 1.25×, a read 0.1×
    assert (t.cost.price_per_mtok, t.cost.write_multiplier, t.cost.read_multiplier) == (5.0, 1.25, 0.1)
    per_request = t.tokens * 5.0 / 1_000_000 * (1.25 - 0.1)
    assert t.cost.per_request == pytest.approx(per_request, abs=1e-6)
    assert t.cost.daily == pytest.approx(per_request * 40, abs=1e-6)  # min(sessions, requests_per_day) caches
    # the total counts the shared prefix once, as the wire does (issue 21): the first plan re-writes
    # tools+rules, the other two read it and re-write only their own agent text and memory
    plans = compile_project([repo]).raise_on_error().plans
    shared = plans["backend"].segment("rules").prefix_tokens[OPUS]  # tools + rules, in wire order
    writes = [plans[p].static_tokens[OPUS] - (shared if k else 0) for k, p in enumerate(sorted(plans))]
    assert [p.tokens[OPUS] for p in report.summary.plans] == [plans[p].static_tokens[OPUS] for p in sorted(plans)]
    assert report.summary.cost[OPUS] == pytest.approx(sum(writes) * 5.0 / 1_000_000 * (1.25 - 0.1), abs=1e-5)
    assert report.summary.cost_per_request == report.summary.cost[OPUS]  # never a sum across targets
    assert t.estimate  # Anthropic's tokenizer is not public: counted with a proxy


def test_pricing_overridable_in_pyproject():
    over = {"anthropic/": {"input": 3.0, "write": 2.0}}
    p = price_for("anthropic/claude-sonnet-5", over)
    assert (p.input, p.write, p.read, p.source) == (3.0, 2.0, 0.1, "pyproject.toml")
    assert price_for("nosuch/model") is None  # no row and no override: no invented price
    assert price_for("engine/smollm2").input == 0.0
    # the runtime bills replies from the same table (promptc.core.prices)
    from promptc.core.prices import price_for as table_price

    row = table_price("anthropic/claude-opus-4-8")
    lint_row = price_for("anthropic/claude-opus-4-8")
    assert (lint_row.input, lint_row.write, lint_row.read) == (row.input, row.write_multiplier("5m"), row.read)


def test_lockfile_baseline(repo, tmp_path):
    base = compile_project([repo]).raise_on_error()
    lock = tmp_path / "old.lock"
    write_outputs(base, tmp_path / "plans", lock)
    edit(repo / "docs.prompt", "Write a test for every change.", "Write a test for each change.")
    report = lint([repo], str(lock), display_root=repo)
    assert report.baseline_kind == "lock"
    assert [(f.code, f.plans) for f in report.findings] == [("E901", ["docs"])]
    f = report.findings[0]
    assert (f.location.path, f.location.line) == ("docs.prompt", 4)  # the declaration: a lock has no old text
    plan = compile_project([repo]).plans["docs"]
    i = [s.id for s in plan.segments].index("docs")
    by = {t.target: t.tokens for t in f.impact[0].targets}
    assert by == {t: sum(s.tokens[t] for s in plan.segments[i:] if s.hash) for t in ("engine/smollm2", OPUS)}


def test_directory_baseline(repo, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(repo, old, ignore=shutil.ignore_patterns(".git", ".promptc"))
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    report = lint([repo], str(old), display_root=repo)
    assert report.baseline_kind == "dir"
    assert [(f.code, f.plans, f.location.line) for f in report.findings] == [("E901", list(PLANS), 4)]


def test_default_baseline_is_the_merge_base_with_main(repo):
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo / "docs.prompt", "Write a test for every change.", "Write a test for each change.")
    git(repo, "commit", "-qam", "feature work")
    report = lint([repo], None, display_root=repo)
    assert [(f.code, f.plans) for f in report.findings] == [("E901", ["docs"])]
    assert report.baseline == git(repo, "rev-parse", "main").strip()


def test_shallow_clone_missing_ref_names_fetch_depth(repo, tmp_path):
    edit(repo / "docs.prompt", "every change", "each change")
    git(repo, "commit", "-qam", "second")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True)
    with pytest.raises(BaselineError) as exc:
        lint([shallow], "HEAD~1")
    assert exc.value.code == "E920"
    assert "fetch-depth" in str(exc.value) and "shallow clone" in str(exc.value)


def test_unknown_baseline_is_a_usage_error(tmp_path):
    (tmp_path / "a.prompt").write_text('global r @static role system """x"""\nplan p = r\n')
    with pytest.raises(BaselineError) as exc:
        lint([tmp_path], "no/such/thing")
    assert exc.value.code == "E921"


def test_lint_never_writes_into_the_working_tree_besides_the_build_cache(repo):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    before = git(repo, "status", "--porcelain", "--ignored")
    run(repo)
    after = git(repo, "status", "--porcelain", "--ignored")
    assert [ln for ln in after.split("\n") if ".promptc" not in ln] == [ln for ln in before.split("\n")
                                                                        if ".promptc" not in ln]
    assert git(repo, "stash", "list") == "" and git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
