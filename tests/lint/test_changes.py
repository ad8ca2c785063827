"""Every change class, in a real git repository: exact codes, locations and impact numbers."""

from __future__ import annotations

from promptc.compiler.build import compile_project
from promptc.lint import lint
from tests.lint.project import PLANS, edit, git, line_of

OPUS = "anthropic/claude-opus-4-8"
ENGINE = "engine/smollm2"


def run(repo, against="main"):
    return lint([repo], against, display_root=repo)


def codes(report):
    return [(f.code, f.plans) for f in report.findings]


def new_plans(repo):
    return compile_project([repo]).raise_on_error().plans


def static_from(plan, seg_id, target):
    """The plan's own count: its static prefix from ``seg_id`` to its end."""
    i = next(k for k, s in enumerate(plan.segments) if s.id == seg_id)
    return sum(s.tokens[target] for s in plan.segments[i:] if s.hash)


def test_static_segment_change_in_the_shared_block_is_one_finding_across_three_plans(repo, base_build):
    edit(repo / "shared.prompt", "Keep changes small", "Keep every change small")
    report = run(repo)
    assert codes(report) == [("E901", list(PLANS))]
    f = report.findings[0]
    assert f.severity == "error" and f.segment == "rules"
    assert (f.location.path, f.location.line, f.location.col) == ("shared.prompt", 4, 6)
    assert f.location.excerpt == "Keep every change small and reviewable."
    plans = new_plans(repo)
    for imp in f.impact:
        assert imp.from_segment == "rules"
        by = {t.target: t for t in imp.targets}
        assert set(by) == {ENGINE, OPUS}
        for t in (ENGINE, OPUS):  # the whole static prefix: the plans' own counts
            assert by[t].tokens == plans[imp.plan].static_tokens[t]
        assert by[OPUS].estimate and not by[ENGINE].estimate
        old = base_build.plans[imp.plan]
        assert by[OPUS].breakpoints_lost == [s.id for s in old.segments if s.breakpoint and OPUS in s.breakpoint]
        assert by[OPUS].breakpoints_lost == ["rules", f"{imp.plan}_memory"]  # wire order: tools first
        assert by[ENGINE].breakpoints_lost == []
    assert [p.plan for p in report.summary.plans] == list(PLANS)
    assert report.failing("error") == report.findings


def test_agent_block_change_reaches_one_plan_from_that_segment_on(repo):
    edit(repo / "docs.prompt", "Write a test for every change.", "Write a test for each change.")
    report = run(repo)
    assert codes(report) == [("E901", ["docs"])]
    f = report.findings[0]
    assert (f.location.path, f.location.line) == ("docs.prompt", line_of(repo / "docs.prompt", "each change"))
    plan = new_plans(repo)["docs"]
    (imp,) = f.impact
    assert imp.from_segment == "docs"
    assert {t.target: t.tokens for t in imp.targets} == {t: static_from(plan, "docs", t) for t in (ENGINE, OPUS)}
    assert [t.breakpoints_lost for t in imp.targets if t.target == OPUS] == [["docs_memory"]]


def test_whitespace_only_changes_are_breaks_that_say_so(repo):
    edit(repo / "shared.prompt", "Keep changes small and reviewable.", "Keep changes small and reviewable.  ")
    assert codes(run(repo)) == [("E903", list(PLANS))]
    edit(repo / "shared.prompt", "Keep changes small and reviewable.  ", "Keep  changes small\nand reviewable.")
    report = run(repo)
    assert codes(report) == [("E902", list(PLANS))]
    assert "only whitespace changed" in report.findings[0].message
    assert report.findings[0].severity == "error"


def test_line_endings_only_change_no_byte(repo):
    """The compiler normalizes CRLF to LF (sources, includes, memory files): nothing to report."""
    for name in ("docs.prompt", "style.md", "memory/docs.md"):
        text = (repo / name).read_text()
        (repo / name).write_bytes(text.replace("\n", "\r\n").encode())
    assert run(repo).findings == []


def test_appending_a_tool_re_writes_what_the_wire_sends_after_it(repo, base_build):
    """Issue 21: a tool appended at the end of the tools block is E904, not I906: the engine keeps plan
    order (the agent text after `tools` is re-written), Anthropic sends every tool before any system
    text (its whole prefix is re-written). The old expectation (I906, info) was wrong against the
    simulator (tests/lint/test_oracle.py)."""
    edit(repo / "shared.prompt", '    run_tests(selector: string? "A pytest selector") "Run the tests."\n',
         '    run_tests(selector: string? "A pytest selector") "Run the tests."\n'
         '    open_pr(title: string "Title") "Open a pull request."\n')
    report = run(repo)
    assert codes(report) == [("E904", list(PLANS))]
    f = report.findings[0]
    assert f.severity == "error" and "`open_pr`" in f.message and report.failing("error") == [f]
    assert (f.location.path, f.location.line, f.location.col) == ("shared.prompt", 12, 5)
    plans = new_plans(repo)
    for imp in f.impact:
        old_tools = next(s for s in base_build.plans[imp.plan].segments if s.id == "tools")
        by = {t.target: t for t in imp.targets}
        # engine: plan order, the existing entries stay cached (the KV tree shares them)
        assert by[ENGINE].tokens == static_from(plans[imp.plan], "tools", ENGINE) - old_tools.tokens[ENGINE]
        # anthropic: no entry ends at the old tools (the breakpoints end the rules and the memory): all of it
        assert by[OPUS].tokens == plans[imp.plan].static_tokens[OPUS] and by[OPUS].read == 0


def test_inserting_removing_reordering_and_rewriting_tools(repo):
    shared = repo / "shared.prompt"
    original = shared.read_text()
    edit(shared, "    search_code(", '    open_pr(title: string "Title") "Open a pull request."\n    search_code(')
    f = run(repo).findings
    assert [(x.code, x.location.line) for x in f] == [("E905", 10)]
    assert "tool `open_pr` was inserted" in f[0].message

    shared.write_text(original)
    edit(shared, '    search_code(pattern: string "A regular expression") "Search the code."\n', "")
    f = run(repo).findings
    assert [x.code for x in f] == ["E905"] and "tool `search_code` was removed" in f[0].message
    assert (f[0].location.side, f[0].location.line) == ("baseline", 10)

    shared.write_text(original)
    lines = original.split("\n")
    lines[8], lines[9] = lines[9], lines[8]
    shared.write_text("\n".join(lines))
    f = run(repo).findings
    assert [x.code for x in f] == ["E905"] and "reordered" in f[0].message and "`search_code`" in f[0].message

    shared.write_text(original)
    edit(shared, '"Search the code."', '"Search the whole repository."')
    f = run(repo).findings
    assert [x.code for x in f] == ["E905"] and "tool `search_code` was rewritten" in f[0].message
    assert f[0].location.line == 10


def test_memory_file_append_and_rewrite_point_into_the_memory_file(repo):
    mem = repo / "memory" / "backend.md"
    mem.write_text(mem.read_text() + "\nDeploys need two approvals.\n")
    report = run(repo)
    # issue 21: E904, not I906: on Anthropic the memory is one text block after the agent text and no
    # breakpoint ends the agent text, so the agent text is re-written too (the simulator agrees:
    # tests/lint/test_oracle.py, "memory append")
    assert codes(report) == [("E904", ["backend"])]
    loc = report.findings[0].location
    assert (loc.path, loc.line) == ("memory/backend.md", 5)
    mem.write_text("The CI runs on four cores.\n\nReleases happen on Fridays.\n")
    report = run(repo)
    assert codes(report) == [("E905", ["backend"])]
    assert (report.findings[0].location.path, report.findings[0].location.line) == ("memory/backend.md", 1)


def test_segment_moved_added_removed_in_one_plan(repo):
    agent = repo / "backend.prompt"
    edit(agent, "plan backend = rules, tools, backend,", "plan backend = tools, rules, backend,")
    report = run(repo)
    assert codes(report) == [("E907", ["backend"])]
    assert report.findings[0].impact[0].from_segment == "tools"
    assert report.findings[0].location.line == line_of(agent, "plan backend")

    git(repo, "checkout", "--", "backend.prompt")
    edit(agent, "plan backend = rules, tools, backend,", "plan backend = rules, tools, extra, backend,")
    edit(agent, "agent backend_memory", 'agent extra @static role system """Be extra careful."""\n\nagent backend_memory')
    report = run(repo)
    assert codes(report) == [("E908", ["backend"])]
    f = report.findings[0]
    assert f.location.line == line_of(agent, "agent extra")
    plan = new_plans(repo)["backend"]
    assert {t.target: t.tokens for t in f.impact[0].targets} == {t: static_from(plan, "extra", t) for t in (ENGINE, OPUS)}

    git(repo, "checkout", "--", "backend.prompt")
    edit(agent, "plan backend = rules, tools, backend, backend_memory,", "plan backend = rules, tools, backend_memory,")
    report = run(repo)
    assert ("E909", ["backend"]) in codes(report)
    assert report.findings[0].impact[0].from_segment == "backend_memory"


def test_stability_lowered(repo):
    agent = repo / "frontend.prompt"
    edit(agent, "agent frontend @static role system", "agent frontend @session role system")
    edit(agent, "frontend, frontend_memory, turn", "frontend_memory, frontend, turn")
    report = run(repo)
    assert sorted(codes(report)) == [("E907", ["frontend"]), ("E910", ["frontend"])]
    f = next(x for x in report.findings if x.code == "E910")
    assert "static → session" in f.message
    assert (f.location.line, f.location.col) == (4, 18)  # "@s|tatic" → "@s|ession"


def test_target_model_change_invalidates_everything(repo):
    edit(repo / "backend.prompt", '"anthropic/claude-opus-4-8"', '"anthropic/claude-sonnet-5"')
    report = run(repo)
    assert codes(report) == [("E911", ["backend"])]
    (imp,) = report.findings[0].impact
    assert imp.from_segment == "rules"
    (t,) = imp.targets
    assert t.target == "anthropic/claude-sonnet-5"
    assert t.tokens == new_plans(repo)["backend"].static_tokens["anthropic/claude-sonnet-5"]


def test_adding_a_target_is_info(repo):
    edit(repo / "backend.prompt", '"anthropic/claude-opus-4-8"', '"anthropic/claude-opus-4-8", "openai/gpt-5.6"')
    assert codes(run(repo)) == [("I912", ["backend"])]


def test_turn_template_change_has_no_cache_impact(repo):
    edit(repo / "turn.prompt", "Question: {{ query }}", "Q: {{ query }}")
    report = run(repo)
    assert codes(report) == [("I913", list(PLANS))]
    f = report.findings[0]
    assert f.impact == [] and report.summary.plans == [] and report.failing("error") == []
    assert (f.location.path, f.location.line, f.location.col) == ("turn.prompt", 3, 9)


def test_include_change_is_located_at_the_include(repo):
    (repo / "style.md").write_text("Answer briefly, precisely and politely.\n")
    report = run(repo)
    assert codes(report) == [("E914", list(PLANS))]
    f = report.findings[0]
    assert (f.location.path, f.location.line, f.location.col) == ("shared.prompt", 5, 13)
    assert f.notes == ["style.md changed at line 1"]


def test_plans_added_and_removed(repo):
    (repo / "docs.prompt").unlink()
    (repo / "ops.prompt").write_text((repo / "backend.prompt").read_text().replace("backend", "ops"))
    (repo / "memory" / "ops.md").write_text("On call rotates weekly.\n")
    report = run(repo)
    assert codes(report) == [("I916", ["docs"]), ("I915", ["ops"])]
    removed = report.findings[0]
    assert (removed.location.side, removed.location.path, removed.location.line) == ("baseline", "docs.prompt", 11)


def test_no_change_is_clean_without_building(repo):
    report = run(repo)
    assert report.findings == [] and report.summary.errors == 0
    assert not (repo / ".promptc").exists(), "an unchanged project is not even built"


def test_new_static_warning_on_a_changed_line_is_shown(repo):
    (repo / "scratch.prompt").write_text('import "./turn.prompt"\nplan scratch = turn\n')
    report = run(repo)
    assert [(f.code, f.location.path, f.location.line) for f in report.findings] == [
        ("I915", "scratch.prompt", 2), ("W310", "scratch.prompt", 2)]


def test_locations_are_relative_to_the_repository_root(tmp_path, template_repo):
    import shutil

    outer = tmp_path / "mono"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    git(outer, "config", "user.name", "t")
    git(outer, "config", "user.email", "t@promptc.invalid")
    shutil.copytree(template_repo, outer / "prompts", ignore=shutil.ignore_patterns(".git", ".promptc"))
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "base")
    edit(outer / "prompts" / "shared.prompt", "Keep changes small", "Keep every change small")
    report = lint([outer / "prompts"], "main")
    assert report.findings[0].location.path == "prompts/shared.prompt"
    assert git(outer, "status", "--porcelain").rstrip("\n").split("\n") == [" M prompts/shared.prompt"]


def test_a_new_tree_that_does_not_compile_reports_its_errors(repo):
    edit(repo / "backend.prompt", "plan backend = rules,", "plan backend = rulez,")
    report = run(repo)
    assert [(f.code, f.severity, f.location.path, f.location.line) for f in report.findings] == [
        ("E103", "error", "backend.prompt", 11)]
    assert report.failing("error") == report.findings


def test_a_baseline_that_does_not_compile_falls_back_to_its_committed_lock(repo):
    import pytest

    from promptc.compiler.emit import write_outputs
    from promptc.lint import BaselineError

    write_outputs(compile_project([repo]).raise_on_error(), repo / ".promptc" / "plans", repo / "promptc.lock")
    git(repo, "add", "promptc.lock")
    git(repo, "commit", "-qm", "lock")
    edit(repo / "backend.prompt", "plan backend = rules,", "plan backend = rulez,")
    git(repo, "commit", "-qam", "broken")
    edit(repo / "backend.prompt", "plan backend = rulez,", "plan backend = rules,")
    edit(repo / "docs.prompt", "Write a test for every change.", "Write a test for each change.")
    report = run(repo, "HEAD")
    assert len(report.notes) == 1 and "does not compile; compared with its committed promptc.lock" in report.notes[0]
    assert codes(report) == [("E901", ["docs"])]

    git(repo, "rm", "-q", "promptc.lock")
    edit(repo / "backend.prompt", "plan backend = rules,", "plan backend = rulez,")
    git(repo, "commit", "-qam", "broken, no lock")
    edit(repo / "backend.prompt", "plan backend = rulez,", "plan backend = rules,")
    with pytest.raises(BaselineError) as exc:
        run(repo, "HEAD")
    assert exc.value.code == "E922"


def test_the_partial_baseline_gives_the_same_report_as_a_full_one(repo):
    """Only plans whose files changed are rebuilt in the baseline (lint/incremental.py): the report
    must be exactly the one a full baseline build gives."""
    from pathlib import Path

    from promptc.lint.baseline import from_git
    from promptc.lint.run import compare
    from promptc.lint.snapshot import Snapshot, view_plans

    (repo / "memory" / "docs.md").write_text("The CI runs on four cores.\n\nReleases happen on Fridays.\n")
    (repo / "frontend.prompt").unlink()
    (repo / "ops.prompt").write_text((repo / "backend.prompt").read_text().replace("backend", "ops"))
    (repo / "memory" / "ops.md").write_text("On call rotates weekly.\n")
    result = compile_project([repo]).raise_on_error()
    new = Snapshot("new", str(repo), view_plans(result.plans), root=Path(repo))
    reports, olds = [], []
    for given in (new, None):
        base = from_git(Path(repo), "main", Path(repo), Path(repo) / ".promptc" / "cache", given)
        try:
            reports.append(compare(base.snapshot, new, diagnostics=result.diagnostics))
            olds.append(base.snapshot.plans)
        finally:
            base.close()
    partial, full = reports
    assert olds[0]["backend"] is new.plans["backend"]  # unaffected: taken from the new build, not rebuilt
    assert olds[1]["backend"] is not new.plans["backend"] and olds[1]["backend"] == new.plans["backend"]
    assert partial.findings == full.findings and partial.summary == full.summary
    assert [(f.code, f.plans) for f in partial.findings] == [
        ("I916", ["frontend"]), ("E905", ["docs"]), ("I915", ["ops"])]
