"""Regression tests for the defects of issue 8 §3 (items 1, 2, 3, 4, 6, 7, 12) and issue 10 item 10.

Each test names the wrong behaviour it guards against; all call the library in-process.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc.cli import cli
from promptc.compiler.build import compile_project
from promptc.compiler.project import build_project

REPO = Path(__file__).resolve().parents[2]
TEAM = REPO / "examples" / "team"


@pytest.fixture()
def team(tmp_path):
    dst = tmp_path / "team"
    shutil.copytree(TEAM, dst, ignore=shutil.ignore_patterns("promptc.lock", ".promptc"))
    return dst


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


# -- 1: a static segment never renders `None` for an unbound input -------------------------------------

def test_static_segment_input_without_a_default_is_an_error_not_None(tmp_path):
    src = write(tmp_path / "p", {"main.prompt": 'global greeting @static {\n    input name: string\n'
                                                '    """Hello {{ name }}."""\n}\nplan p = greeting\n'})
    result = compile_project([src], annotate_tokens=False)
    assert codes(result) == ["E130"]
    e = result.diagnostics[0]
    assert (e.span.line, e.span.col) == (2, 5) and "default" in e.hint
    assert not result.plans


def test_static_segment_input_with_a_default_renders_the_default(tmp_path):
    src = write(tmp_path / "p", {"main.prompt": 'global greeting @static {\n    input name: string = "there"\n'
                                                '    """Hello {{ name }}."""\n}\nplan p = greeting\n'})
    result = compile_project([src], annotate_tokens=False)
    assert not result.diagnostics
    assert result.plans["p"].segments[0].content == "Hello there."


TYPES = {"string": '"v"', "string?": '"v"', "int": "3"}
LEVELS = ["static", "session", "turn"]


@st.composite
def projects(draw):
    """A one-file project whose values only flow where they may (so most builds succeed): file-level
    and segment inputs of every allowed annotation, with and without defaults, used by segments of
    every stability. Nothing in the source is the text `None`."""
    lines, file_inputs = [], {}
    for j in range(draw(st.integers(0, 2))):
        typ = draw(st.sampled_from(sorted(TYPES)))
        ann = draw(st.sampled_from(["", "static", "session", "turn"]))
        default = f" = {TYPES[typ]}" if draw(st.booleans()) else ""
        lines.append(f"input f{j}: {typ}{' @' + ann if ann else ''}{default}")
        file_inputs[f"f{j}"] = ann or "session"
    names = []
    for i, stability in enumerate(sorted(draw(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=3)),
                                         key=LEVELS.index)):
        rank = LEVELS.index(stability)
        own, decls = [], []
        for j in range(draw(st.integers(0, 2))):
            typ = draw(st.sampled_from(sorted(TYPES)))
            ann = draw(st.sampled_from([""] + LEVELS[: rank + 1]))
            default = f" = {TYPES[typ]}" if draw(st.booleans()) else ""
            decls.append(f"    input s{i}_{j}: {typ}{' @' + ann if ann else ''}{default}")
            own.append(f"s{i}_{j}")
        usable = own + [n for n, level in file_inputs.items() if LEVELS.index(level) <= rank]
        used = draw(st.lists(st.sampled_from(usable), unique=True)) if usable else []
        body = "Text " + " ".join("{{ %s }}" % u for u in used)
        lines.append(f"agent seg{i} @{stability} {{\n" + "\n".join(decls) + f'\n    """{body}"""\n}}')
        names.append(f"seg{i}")
    lines.append("plan p = " + ", ".join(names))
    return "\n".join(lines) + "\n"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(projects())
def test_no_plan_ever_contains_None_from_an_unbound_input(tmp_path_factory, source):
    assert "None" not in source
    src = write(tmp_path_factory.mktemp("prop"), {"main.prompt": source})
    result = compile_project([src], annotate_tokens=False)
    for plan in result.plans.values():
        for seg in plan.segments:
            assert seg.content is None or "None" not in seg.content, (source, seg.content)


# -- 2: the no-op shortcut fires with a relative --out ------------------------------------------------------

def test_noop_shortcut_is_taken_with_a_relative_out(team, tmp_path, monkeypatch, build_context):
    monkeypatch.chdir(tmp_path)
    first = build_project(["team"], out="build/plans", context=build_context)
    assert not first.up_to_date and first.exit_code == 0
    second = build_project(["team"], out="build/plans", context=build_context)
    assert second.up_to_date, "the manifest must compare resolved paths"
    assert second.result is None  # nothing was compiled
    (team / "task.prompt").write_text((team / "task.prompt").read_text() + "\n# an edit\n")
    assert not build_project(["team"], out="build/plans", context=build_context).up_to_date


# -- 3: building a subset never deletes what it did not build ------------------------------------------------

def test_building_one_file_keeps_the_other_plans_and_their_lock_entries(team, build_context):
    full = build_project([team], context=build_context)
    assert full.exit_code == 0
    lock = (team / "promptc.lock").read_bytes()
    plans_dir = team / ".promptc" / "plans"
    names = sorted(p.name for p in plans_dir.iterdir())
    assert names == ["backend.plan.json", "docs.plan.json", "frontend.plan.json"]
    for subset in ("backend.prompt", "shared.prompt"):
        outcome = build_project([team / subset], context=build_context)
        assert outcome.exit_code == 0
        assert (team / "promptc.lock").read_bytes() == lock, subset
        assert sorted(p.name for p in plans_dir.iterdir()) == names, subset
        checked = build_project([team / subset], check=True, context=build_context)
        assert checked.changes == [], subset


def test_a_subset_build_removes_only_its_own_deleted_plans(team, build_context):
    build_project([team], context=build_context)
    backend = team / "backend.prompt"
    backend.write_text(backend.read_text().replace("plan backend", "plan backend2"))
    assert build_project([backend], context=build_context).exit_code == 0
    lock = (team / "promptc.lock").read_text()
    assert "[plan.backend2]" in lock and "[plan.backend]" not in lock
    assert "[plan.docs]" in lock and "[plan.frontend]" in lock
    names = sorted(p.name for p in (team / ".promptc" / "plans").iterdir())
    assert names == ["backend2.plan.json", "docs.plan.json", "frontend.plan.json"]


# -- 4: the documented bodyless session memory ---------------------------------------------------------------

def test_bodyless_session_memory_compiles_and_binds_at_run_time(tmp_path):
    src = write(tmp_path / "p", {"main.prompt": 'global rules @static """Rules."""\n'
                                                "agent notes @append_only(session) memory\n"
                                                'task turn @turn {\n    input q: string\n    """{{ q }}"""\n}\n'
                                                "plan p = rules, notes, turn\n"})
    result = compile_project([src], annotate_tokens=False)
    assert not result.diagnostics
    plan = result.plans["p"]
    assert [(s.id, s.stability, s.kind) for s in plan.segments][1] == ("notes", "session", "memory")
    request = plan.bind(notes=["first", "second"]).render(q="hi")
    assert [s.content for s in request.segments] == ["Rules.", "first\n\nsecond\n", "hi"]


def test_bodyless_static_memory_still_needs_entries_and_the_hint_says_how(tmp_path):
    src = write(tmp_path / "p", {"main.prompt": 'agent notes @append_only memory\nplan p = notes\n'})
    result = compile_project([src], annotate_tokens=False)
    assert len(result.errors) == 1
    assert "@append_only(session) memory" in result.errors[0].hint and "drop the body" not in result.errors[0].hint


# -- 6: imports merge file-level inputs into scope --------------------------------------------------------------

def test_an_imported_file_level_input_is_usable_and_counts_as_used(tmp_path):
    src = write(tmp_path / "p", {
        "shared.prompt": 'input team: string @session\nglobal rules @static """Rules."""\n',
        "main.prompt": 'import "./shared.prompt"\nagent who @session """You work for {{ team }}."""\n'
                       "plan p = rules, who\n"})
    result = compile_project([src], annotate_tokens=False)
    assert not result.diagnostics, [d.render() for d in result.diagnostics]
    assert [i.name for i in result.plans["p"].inputs] == ["team"]
    assert result.plans["p"].bind(team="acme").render().segments[1].content == "You work for acme."


def test_an_input_nobody_uses_is_still_W301_and_aliased_imports_bring_no_inputs(tmp_path):
    src = write(tmp_path / "p", {
        "shared.prompt": 'input team: string @session\nglobal rules @static """Rules."""\n',
        "main.prompt": 'import "./shared.prompt" as sh\nagent who @session """You work for {{ team }}."""\n'
                       "plan p = sh.rules, who\n"})
    assert sorted(codes(compile_project([src], annotate_tokens=False))) == ["E102", "W301"]


def test_two_imported_inputs_of_one_name_collide(tmp_path):
    src = write(tmp_path / "p", {
        "a.prompt": "input team: string @session\n", "b.prompt": "input team: int @session\n",
        "main.prompt": 'import "./a.prompt"\nimport "./b.prompt"\nagent who @session """{{ team }}"""\n'
                       "plan p = who\n"})
    result = compile_project([src], annotate_tokens=False)
    assert "E121" in codes(result) and "collides" in next(d for d in result.errors if d.code == "E121").message


# -- 7: unknown filters and tests are coded, located errors at check time ------------------------------------

@pytest.mark.parametrize("template,code,col", [("{{ q | frobnicate }}", "E131", 15),
                                               ("{% if q is frobbed %}x{% endif %}", "E132", 19)])
def test_unknown_filter_or_test_is_a_located_check_error(tmp_path, template, code, col):
    src = write(tmp_path / "p", {"main.prompt": 'task turn @turn {\n    input q: string\n'
                                                f'    """{template}"""\n}}\nplan p = turn\n'})
    result = compile_project([src], annotate_tokens=False)
    assert codes(result) == [code]
    assert (result.errors[0].span.line, result.errors[0].span.col) == (3, col)
    r = CliRunner().invoke(cli, ["check", str(src)])
    assert r.exit_code == 1 and code in r.output and "internal error" not in r.output


def test_unknown_filter_in_an_included_template_is_reported_at_the_include(tmp_path):
    src = write(tmp_path / "p", {"part.md": "{{ 'x' | frobnicate }}\n",
                                 "main.prompt": 'global rules @static """{% include "part.md" %}"""\nplan p = rules\n'})
    result = compile_project([src], annotate_tokens=False)
    assert codes(result) == ["E131"] and "part.md" in result.errors[0].message


# -- 12: E203 hints per cause; project-level targets -----------------------------------------------------------

def test_E203_hint_matches_the_cause(tmp_path):
    src = write(tmp_path / "p", {"main.prompt": 'global a @static """{{ now() }}"""\n'
                                                'global b @static """{{ uuid4() }}"""\n'
                                                'agent c @session {\n    input m: object { x: int }\n'
                                                '    """{% for k, v in m.items() %}{{ k }}{% endfor %}"""\n}\n'
                                                'global d @static """{{ [1, 2] | random }}"""\n'
                                                'global e @static """{{ random() }}"""\n'
                                                "plan p = a, b, c, d, e\n"})
    hints = {d.span.line: d.hint for d in compile_project([src], annotate_tokens=False).diagnostics
             if d.code == "E203"}
    assert "sort" not in hints[1] and "turn segment" in hints[1] and "time" in hints[1]
    assert "sort" not in hints[2] and "id" in hints[2]
    assert "dictsort" in hints[5]
    assert "drop the `random` filter" in hints[7]
    assert "drop" not in hints[8] and "value" in hints[8]


def test_pyproject_target_is_the_project_default_and_declarations_win(tmp_path):
    src = write(tmp_path / "p", {
        "pyproject.toml": '[tool.promptc]\ntarget = ["openai/gpt-5.6", "engine/smollm2"]\n',
        "a.prompt": 'global rules @static """Rules."""\nplan a = rules\nplan b = rules target "openai/gpt-4.1"\n',
        "c.prompt": 'import "./a.prompt"\ntarget "anthropic/claude-opus-4-8"\nplan c = rules\n'})
    result = compile_project([src], annotate_tokens=False)
    assert not result.diagnostics
    assert [t.name for t in result.plans["a"].targets] == ["openai/gpt-5.6", "engine/smollm2"]
    assert [t.name for t in result.plans["b"].targets] == ["openai/gpt-4.1"]
    assert [t.name for t in result.plans["c"].targets] == ["anthropic/claude-opus-4-8"]


def test_an_unknown_project_target_is_located_in_pyproject(tmp_path):
    src = write(tmp_path / "p", {"pyproject.toml": '[project]\nname = "x"\n\n[tool.promptc]\ntarget = "openia/gpt-5"\n',
                                 "a.prompt": 'global rules @static """Rules."""\nplan a = rules\n'})
    result = compile_project([src], annotate_tokens=False)
    assert codes(result) == ["E110"]
    assert (result.errors[0].span.path, result.errors[0].span.line) == ("pyproject.toml", 5)


# -- issue 10 item 10: --align=fix as a project setting; a fix never splits a word -------------------------

E601_SOURCE = ('target "raw/smollm2"\nglobal rules @static """Always answer in """\n'
               'global language @static """English, even when asked in another language."""\nplan p = rules, language\n')


def test_align_fix_project_setting_makes_build_and_check_agree(tmp_path, build_context):
    src = write(tmp_path / "p", {"main.prompt": E601_SOURCE})
    assert "E601" in codes(compile_project([src], context=build_context))
    (src / "pyproject.toml").write_text('[tool.promptc]\nalign = "fix"\n')
    fixed = compile_project([src], context=build_context)
    assert codes(fixed) == ["W603"] and fixed.plans["p"].segments[0].content == "Always answer in"
    assert build_project([src], context=build_context).exit_code == 0
    assert build_project([src], check=True, context=build_context).changes == []
    assert CliRunner().invoke(cli, ["check", str(src)]).exit_code == 0
    assert "E601" in codes(compile_project([src], align="check", context=build_context))  # the flag still wins


def test_align_fix_never_splits_a_word(tmp_path, build_context):
    src = write(tmp_path / "p", {"main.prompt": 'target "raw/smollm2"\nglobal a @static """Say hello wor"""\n'
                                                'global b @static """ld and smile."""\nplan p = a, b\n'})
    result = compile_project([src], align="fix", context=build_context)
    assert codes(result) == ["E601"], "no W603: inserting a newline inside `world` is not a fix"
    assert "without splitting a word" in result.errors[0].hint


def test_fix_boundary_inserts_a_newline_only_at_whitespace(build_context):
    from promptc.compiler.align import Aligner, fix_boundary
    from promptc.compiler.token_cache import TokenCache
    from promptc.plan import PlanSegment, SourceSpan

    def seg(i, text):
        return PlanSegment(id=f"s{i}", module="m", level="global", stability="static", append_only=False, kind="text", role="system",
                           content=text, source=SourceSpan(path="m", line=i, col=1, end_line=i, end_col=2))

    aligner = Aligner(build_context.tokenizer("gguf:smollm2"), TokenCache(None))
    left, right, done = fix_boundary(aligner, seg(1, "Say hello wor"), seg(2, "ld and smile."))
    assert done == [] and (left.content, right.content) == ("Say hello wor", "ld and smile.")
