"""`promptc fmt`: canonical, idempotent, and never a changed compiled byte (the build is the oracle)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from promptc.cli import cli
from promptc.compiler.build import compile_project
from promptc.fmt import _lark, _tokens, format_source

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())
SOURCES = sorted([*(REPO / "examples").rglob("*.prompt"), *(REPO / "stdlib").rglob("*.prompt")])


def _without_spans(value):
    """A plan's JSON with every source location removed (formatting moves lines; nothing else may change)."""
    if isinstance(value, dict):
        return {k: _without_spans(v) for k, v in value.items() if k != "source"}
    if isinstance(value, list):
        return [_without_spans(v) for v in value]
    return value


def _compiled(root: Path, annotate: bool, context=None) -> dict:
    kwargs = {"context": context} if context is not None else {}
    result = compile_project([root], annotate_tokens=annotate, cache_dir=root / ".promptc-test-cache", **kwargs)
    assert not result.errors, [d.render() for d in result.errors]
    return {name: _without_spans(json.loads(plan.to_json())) for name, plan in result.plans.items()}


def _hashes(plans: dict) -> dict:
    return {name: [(s["id"], s.get("hash"), s.get("prefix_hash")) for s in p["segments"]] for name, p in plans.items()}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_sources_are_formatted_and_formatting_is_idempotent(path):
    text = path.read_text(encoding="utf-8")
    once = format_source(text, str(path)).text
    assert once == text, "examples/ and stdlib/ are kept in canonical form (run `promptc fmt`)"
    assert format_source(once, str(path)).text == once


MESSY = '''\ufeff# head comment


import   "./other.prompt"   as  sh   # trailing
input  user : string@session = "x"
## doc for a
global a@static role system """
  keep   this   \t
"""
task   turn@turn   role user {  # open
  input q:string?
  input e: enum("a","b",)


   # lead
  input o : object{ a: string, b: list[int] }
  """
  {{ q }} {{ e }} {{ o.a }} {{ user }}
  """
  # last
}
global t @append_only tools {
 f(a: string "d", b: int?,) "desc"  # tc
}
plan p=a,sh.r ,t, turn
# end
'''

CANONICAL = '''# head comment

import "./other.prompt" as sh  # trailing
input user: string @session = "x"
## doc for a
global a @static role system """
  keep   this   \t
"""
task turn @turn role user {  # open
    input q: string?
    input e: enum("a", "b")

    # lead
    input o: object { a: string, b: list[int] }
    """
  {{ q }} {{ e }} {{ o.a }} {{ user }}
  """
    # last
}
global t @append_only tools {
    f(a: string "d", b: int?) "desc"  # tc
}
plan p = a, sh.r, t, turn
# end
'''


def _project(tmp_path: Path, main: str) -> Path:
    tmp_path.mkdir(parents=True)
    (tmp_path / "other.prompt").write_text('global r @static role system "shared rules"\n', encoding="utf-8")
    (tmp_path / "main.prompt").write_text(main, encoding="utf-8", newline="")
    return tmp_path


def test_layout_rules_on_a_messy_file_and_the_build_is_unchanged(tmp_path):
    out = format_source(MESSY, "main.prompt").text
    assert out == CANONICAL
    before = _compiled(_project(tmp_path / "a", MESSY), annotate=False)
    after = _compiled(_project(tmp_path / "b", out), annotate=False)
    assert before == after
    assert before["p"]["segments"][0]["doc"] == "doc for a"  # the doc comment still documents its segment


def test_crlf_source_formats_to_lf_with_the_same_plans(tmp_path):
    crlf = CANONICAL.replace("\n", "\r\n")
    out = format_source(crlf, "main.prompt").text
    assert out == CANONICAL
    assert _compiled(_project(tmp_path / "a", crlf), False) == _compiled(_project(tmp_path / "b", out), False)


def test_syntax_error_is_reported_not_formatted():
    result = format_source("global x @static role system\nplan = \n", "bad.prompt")
    assert result.text is None
    assert result.diagnostics and result.diagnostics[0].code.startswith("E0")


# -- the property: any re-layout of the shipped examples formats to plans with identical bytes -------

_WS = st.sampled_from([" ", "  ", "\t", "\n", " \n   ", "\t\n "])
_BLANK = st.sampled_from(["\n\n", "\n  \n\t", "\n\n\n\n"])


def _relayouts(text: str):
    """Strategy: the same tokens and comments, with random whitespace in every gap that holds no comment;
    a gap keeps a newline if it had one (so `## doc` comments stay attached) and a blank line if it had
    one (the formatter keeps one blank line where the author left any)."""
    toks = _tokens(_lark().parse(text))
    gaps = []
    prev = 0
    for t in toks:
        gaps.append((prev, t.start_pos))
        prev = t.end_pos
    gaps.append((prev, len(text)))

    @st.composite
    def build(draw):
        out, pos = [], 0
        for a, b in gaps:
            out.append(text[pos:a])
            gap = text[a:b]
            if "#" in gap or a == 0:
                out.append(gap)
            else:
                ws = draw(_BLANK) if re.search(r"\n[ \t]*\n", gap) else draw(_WS)
                if "\n" in gap and "\n" not in ws:
                    ws = "\n" + ws
                out.append(ws if b < len(text) else "\n")
            pos = b
        out.append(text[pos:])
        return "".join(out)

    return build()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_format_then_build_gives_identical_plans(example, tmp_path_factory):
    files = sorted(example.glob("*.prompt"))
    texts = {f.name: f.read_text(encoding="utf-8") for f in files}
    strategies = st.fixed_dictionaries({name: _relayouts(t) for name, t in texts.items()})

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategies)
    def check(messy):
        root = tmp_path_factory.mktemp(example.name)
        shutil.copytree(example, root / "a", ignore=shutil.ignore_patterns("*.prompt", "build", ".promptc"))
        shutil.copytree(root / "a", root / "b")
        for name, t in messy.items():
            (root / "a" / name).write_text(t, encoding="utf-8")
            once = format_source(t, name).text
            assert once is not None
            assert format_source(once, name).text == once  # fmt(fmt(x)) == fmt(x)
            assert once == texts[name]  # the canonical form is the shipped one, whatever the layout
            (root / "b" / name).write_text(once, encoding="utf-8")
        assert _compiled(root / "a", False) == _compiled(root / "b", False)

    check()


def _spread(text: str) -> str:
    """Every one-line gap between two tokens (outside strings and comments) becomes `  \\n\\t`."""
    out, pos = [], 0
    for t in _tokens(_lark().parse(text)):
        gap = text[pos:t.start_pos]
        out.append(gap if ("#" in gap or "\n" in gap or pos == 0) else "  \n\t")
        out.append(str(t))
        pos = t.end_pos
    out.append(text[pos:])
    return "".join(out)


def test_formatted_team_plans_keep_every_hash_and_token_count(tmp_path, build_context):
    """The annotated build (tokens per target, breakpoints, alignment): hashes of the messy and the
    formatted project are identical, and equal the committed lockfile's."""
    team = REPO / "examples" / "team"
    shutil.copytree(team, tmp_path / "a", ignore=shutil.ignore_patterns("build", ".promptc"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for f in team.glob("*.prompt"):
        messy = _spread(f.read_text(encoding="utf-8"))
        (tmp_path / "a" / f.name).write_text(messy, encoding="utf-8")
        formatted = format_source(messy, f.name).text
        assert messy != formatted == f.read_text(encoding="utf-8")
        (tmp_path / "b" / f.name).write_text(formatted, encoding="utf-8")
    a, b = _compiled(tmp_path / "a", True, build_context), _compiled(tmp_path / "b", True, build_context)
    assert a == b
    lock = (team / "promptc.lock").read_text(encoding="utf-8")
    for plan_hashes in _hashes(b).values():
        for _, h, _ in plan_hashes:
            if h:
                assert h in lock


# -- the command ------------------------------------------------------------------------------------

def test_cli_check_write_and_exit_codes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.prompt").write_text('global a  @static role system "x"\nplan p=a\n', encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(cli, ["fmt", "--check", "."])
    assert r.exit_code == 1 and "would reformat" in r.output
    assert (tmp_path / "a.prompt").read_text() == 'global a  @static role system "x"\nplan p=a\n'
    r = runner.invoke(cli, ["fmt", "."])
    assert r.exit_code == 0
    assert (tmp_path / "a.prompt").read_text() == 'global a @static role system "x"\nplan p = a\n'
    assert runner.invoke(cli, ["fmt", "--check", "a.prompt"]).exit_code == 0
    (tmp_path / "bad.prompt").write_text("global\n", encoding="utf-8")
    r = runner.invoke(cli, ["fmt", "bad.prompt"])
    assert r.exit_code == 1 and "E001" in r.output
    assert runner.invoke(cli, ["fmt", "missing.prompt"]).exit_code == 2
    r = runner.invoke(cli, ["fmt", "-"], input="plan p=a\n")
    assert r.exit_code == 0 and r.stdout == "plan p = a\n"
    assert runner.invoke(cli, ["fmt", "--check", "-"], input="plan p=a\n").exit_code == 1
    assert runner.invoke(cli, ["fmt", "-"], input="plan =\n").exit_code == 1


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_refuses_to_write_through_a_symlink_out_of_the_project(tmp_path, monkeypatch):
    outside = tmp_path / "outside.prompt"
    original = 'global a  @static role system "x"\n'
    outside.write_text(original, encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    (project / "promptc.lock").write_text("", encoding="utf-8")
    (project / "link.prompt").symlink_to(outside)
    monkeypatch.chdir(project)
    r = CliRunner().invoke(cli, ["fmt", "."])
    assert r.exit_code == 2 and "E801" in r.output
    assert outside.read_text(encoding="utf-8") == original
    assert (project / "link.prompt").is_symlink()


def test_pre_commit_hook_formats_for_real(tmp_path):
    """`pre-commit try-repo` runs the promptc-fmt hook of this checkout on a temp git repository: the
    first run rewrites the messy file (and fails, as formatters do), the second passes."""
    import subprocess
    import sys

    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
    assert pre_commit, "pre-commit is in the test extra"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO), "PRE_COMMIT_HOME": str(tmp_path / "home")}
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.prompt").write_text('global a  @static role system "x"\nplan p=a\n', encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)

    def run():
        return subprocess.run([pre_commit, "try-repo", str(REPO), "promptc-fmt", "--all-files", "--color", "never"],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=300)

    first = run()
    assert first.returncode == 1 and "files were modified by this hook" in first.stdout, first.stdout + first.stderr
    assert (repo / "a.prompt").read_text(encoding="utf-8") == 'global a @static role system "x"\nplan p = a\n'
    subprocess.run(git + ["add", "-A"], check=True)
    second = run()
    assert second.returncode == 0 and "Passed" in second.stdout, second.stdout + second.stderr


def test_every_diagnostic_fixture_keeps_its_findings_and_plans_when_formatted(tmp_path):
    """The golden fixtures are a corpus of odd programs (every diagnostic code): formatting each one
    that parses keeps the same findings (codes and messages) and the same plans, and is idempotent."""
    checked = rewritten = 0
    for case in sorted((REPO / "tests" / "fixtures" / "diagnostics").glob("*/*")):
        files = sorted(case.glob("*.prompt"))
        try:
            texts = {f.name: f.read_text(encoding="utf-8") for f in files}
        except UnicodeDecodeError:
            continue  # E005's fixtures are not UTF-8: fmt refuses them (test_cli_check_write_and_exit_codes)
        formatted = {name: format_source(t, name).text for name, t in texts.items()}
        if not files or None in formatted.values():
            continue  # a syntax error: not formatted
        for name, out in formatted.items():
            assert format_source(out, name).text == out, f"{case.name}/{name}"
        checked += 1
        if formatted == texts:
            continue  # already canonical: the same bytes compile the same
        a, b = tmp_path / case.parent.name / case.name / "a", tmp_path / case.parent.name / case.name / "b"
        shutil.copytree(case, a)
        shutil.copytree(case, b)
        for name, out in formatted.items():
            (b / name).write_text(out, encoding="utf-8")
        ra, rb = compile_project([a], annotate_tokens=False), compile_project([b], annotate_tokens=False)
        assert sorted((d.code, d.message) for d in ra.diagnostics) == \
            sorted((d.code, d.message) for d in rb.diagnostics), case
        assert {n: _without_spans(json.loads(p.to_json())) for n, p in ra.plans.items()} == \
            {n: _without_spans(json.loads(p.to_json())) for n, p in rb.plans.items()}, case
        rewritten += 1
    assert checked >= 100  # (`rewritten` fixtures went through the build comparison)


_INSERTS = st.sampled_from([" # c\n", "\n# own line\n", "  ", "\n\n", "\t# x\n\n", "\n## doc?\n"])


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SOURCES), st.lists(st.tuples(st.floats(0, 1), _INSERTS), min_size=1, max_size=4))
def test_comments_and_blank_lines_anywhere_between_tokens(path, inserts):
    """Comments and blank lines inserted between random tokens: formatting is idempotent, the result
    parses, and every segment keeps its doc comment and its body text."""
    from promptc.syntax.parser import parse_source

    text = path.read_text(encoding="utf-8")
    toks = _tokens(_lark().parse(text))
    for where, ins in sorted(inserts, reverse=True):
        pos = toks[min(len(toks) - 1, max(1, int(where * len(toks))))].start_pos
        text = text[:pos] + ins + text[pos:]
    before, _ = parse_source(text, path.name)
    if before is None:
        return  # the insertion made a syntax error (a comment cannot split every construct): nothing to format
    once = format_source(text, path.name).text
    assert format_source(once, path.name).text == once
    after, _ = parse_source(once, path.name)
    assert after is not None

    def shape(m):
        return [(s.name, s.doc, s.text.source if s.text else None, [(d.name, d.doc) for d in s.inputs])
                for s in m.segments], [(p.name, [r.dotted for r in p.refs], p.doc) for p in m.plans]

    assert shape(after) == shape(before)
