"""The server's protocol-free half: incremental re-checks and quick fixes (no server process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from promptc.compiler.build import compile_project
from promptc.lsp.actions import fixes_for
from promptc.lsp.analysis import ProjectState, render_preview

REPO = Path(__file__).resolve().parents[2]


def _apply(state: ProjectState, fix) -> None:
    by_file: dict[Path, list] = {}
    for e in fix.edits:
        by_file.setdefault(e.path, []).append(e)
    for path, edits in by_file.items():
        lines = state.text_of(path).split("\n")

        def offset(line: int, col: int) -> int:
            return sum(len(x) + 1 for x in lines[:line - 1]) + col - 1

        text = state.text_of(path)
        for e in sorted(edits, key=lambda e: offset(e.line, e.col), reverse=True):
            text = text[:offset(e.line, e.col)] + e.new_text + text[offset(e.end_line, e.end_col):]
        state.set_text(path, text)


@pytest.fixture()
def team(tmp_path, build_context) -> ProjectState:
    shutil.copytree(REPO / "examples" / "team", tmp_path / "team", ignore=shutil.ignore_patterns("build", ".promptc"))
    state = ProjectState((tmp_path / "team").resolve(), build_context)
    state.check()
    return state


def test_an_edit_rechecks_the_file_and_its_dependents_only(team):
    root = team.root
    assert team.dependents(root / "backend.prompt") == {root / "backend.prompt"}
    assert team.dependents(root / "shared.prompt") == {root / n for n in
                                                       ("shared.prompt", "backend.prompt", "frontend.prompt",
                                                        "docs.prompt")}
    text = (root / "backend.prompt").read_text(encoding="utf-8")
    team.set_text(root / "backend.prompt", text.replace("Python 3.11", "Python 3.12"))
    covered = team.check(root / "backend.prompt")
    assert set(covered) == {"backend.prompt", "shared.prompt", "task.prompt"}  # not frontend/docs
    team.set_text(root / "backend.prompt", text.replace("Python 3.11", "Python 3.12"))
    # the plans the edit reached are replaced, the others kept: the merged set equals a full build
    full = compile_project([root], context=team.context)
    assert {n: [s.hash for s in p.segments] for n, p in team.plans.items()} != {}
    (root / "backend.prompt").write_text(text.replace("Python 3.11", "Python 3.12"), encoding="utf-8")
    full = compile_project([root], context=team.context)
    assert {n: [s.prefix_hash for s in p.segments] for n, p in team.plans.items()} == \
        {n: [s.prefix_hash for s in p.segments] for n, p in full.plans.items()}


def test_an_unsaved_buffer_is_what_gets_checked(team):
    path = team.root / "task.prompt"
    team.set_text(path, path.read_text(encoding="utf-8").replace("{{ query }}", "{{ qurey }}"))
    found = team.check(path)
    assert sorted(d.code for d in found["task.prompt"]) == ["E102", "W301"]  # and `query` is now unused
    assert "{{ qurey }}" not in path.read_text(encoding="utf-8")  # nothing was written


def test_boundary_alignment_fix_makes_the_boundary_stable(tmp_path, build_context):
    src = REPO / "tests" / "fixtures" / "diagnostics" / "E601" / "basic"
    shutil.copytree(src, tmp_path / "p")
    (tmp_path / "p" / "promptc.lock").write_text("", encoding="utf-8")
    state = ProjectState((tmp_path / "p").resolve(), build_context)
    main = state.root / "main.prompt"
    d = next(d for d in state.check()["main.prompt"] if d.code == "E601")
    fix = next(f for f in fixes_for(state, main, d) if "trailing space" in f.title)
    _apply(state, fix)
    text = state.text_of(main)
    assert 'global rules @static """Always answer in"""' in text
    assert 'global language @static """ English, even' in text
    assert [x.code for x in state.check(main)["main.prompt"]] == []


def test_boundary_fix_ends_the_left_segment_with_a_newline_when_no_space_can_move(tmp_path, build_context):
    src = REPO / "tests" / "fixtures" / "diagnostics" / "E601" / "split-word"
    shutil.copytree(src, tmp_path / "p")
    (tmp_path / "p" / "promptc.lock").write_text("", encoding="utf-8")
    state = ProjectState((tmp_path / "p").resolve(), build_context)
    main = state.root / "main.prompt"
    d = next(d for d in state.check()["main.prompt"] if d.code == "E601")
    fix = next(f for f in fixes_for(state, main, d) if "newline" in f.title)
    _apply(state, fix)
    assert 'global rules @static """Answer in Engl\n"""' in state.text_of(main)
    assert [x.code for x in state.check(main)["main.prompt"]] == []


def test_render_preview_equals_binding_the_compiled_plan(team):
    plan = team.plans["frontend"]
    preview = render_preview(plan, {"query": "q"})
    assert preview["inputs"]["turn"] == {"query": "q", "file": "example file"}  # a sample for the missing one
    request = plan.bind().render(query="q", file="example file")
    assert [s["prefix_hash"] for s in preview["segments"]] == [s.prefix_hash for s in request.segments]


def test_completion_inside_templates_offers_inputs_then_filters(team):
    from promptc.lsp.analysis import completions_for

    path = team.root / "task.prompt"
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    line = next(i for i, x in enumerate(lines, 1) if "{{ query }}" in x)
    col = lines[line - 1].index("{{ query") + 4  # just after `{{ `
    labels = {label: kind for label, kind, _ in completions_for(team, path, line, col)}
    assert labels["query"] == "input" and labels["file"] == "input" and labels["dictsort"] == "filter"
    team.set_text(path, text.replace("{{ query }}", "{{ query | }}"))
    col = lines[line - 1].index("{{ query") + len("{{ query | ") + 1
    after_bar = completions_for(team, path, line, col)
    assert {k for _, k, _ in after_bar} == {"filter"} and "tojson" in {label for label, _, _ in after_bar}


def test_namespace_references_and_rename(tmp_path, build_context):
    shutil.copytree(REPO / "examples" / "stdlib_tour", tmp_path / "tour", ignore=shutil.ignore_patterns("build", ".promptc"))
    state = ProjectState((tmp_path / "tour").resolve(), build_context)
    state.check()
    path = state.root / "reviewer.prompt"
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    line = next(i for i, x in enumerate(lines, 1) if x.startswith("plan "))
    col = lines[line - 1].index("fmt.") + 1
    loc = state.locate(path, line, col)
    assert loc.kind == "namespace" and loc.name == "fmt"
    refs = state.references(loc)
    assert [(s.line, lines[s.line - 1][s.col - 1:s.end_col - 1]) for _, s in refs] == \
        [(next(i for i, x in enumerate(lines, 1) if 'as fmt' in x), "fmt"), (line, "fmt")]
    before = compile_project([state.root], annotate_tokens=False)
    for _, s in sorted(refs, key=lambda r: (r[1].line, r[1].col), reverse=True):
        src = lines[s.line - 1]
        lines[s.line - 1] = src[:s.col - 1] + "formats" + src[s.end_col - 1:]
    path.write_text("\n".join(lines), encoding="utf-8")
    after = compile_project([state.root], annotate_tokens=False)
    assert not after.errors
    assert [s.hash for s in after.plans["reviewer"].segments] == [s.hash for s in before.plans["reviewer"].segments]
