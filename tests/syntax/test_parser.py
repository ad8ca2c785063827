"""The parser: AST dataclasses between stages, small shape rules, pure parsing, and syntax errors
that point at the cause."""

from __future__ import annotations

import ast as pyast
import inspect
from pathlib import Path

import promptc.core.errors as errors
from promptc.compiler.build import compile_project
from promptc.syntax import ast, parse_source
from promptc.syntax import parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T = '"""'


def test_no_string_tagged_tuples_between_stages():
    """Every transformer method returns a dataclass (or a plain value), never ``("kind", ...)``."""
    tree = pyast.parse(Path(parser.__file__).read_text(encoding="utf-8"))
    returns = [n for n in pyast.walk(tree) if isinstance(n, pyast.Return) and isinstance(n.value, pyast.Tuple)]
    tagged = [n.lineno for n in returns if n.value.elts and isinstance(n.value.elts[0], pyast.Constant)
              and isinstance(n.value.elts[0].value, str)]
    assert not tagged, f"string-tagged tuples returned at lines {tagged}"


def test_segment_shape_rules_are_small_functions():
    assert len(parser.SEGMENT_RULES) >= 10
    for rule in parser.SEGMENT_RULES:
        assert rule.__doc__ and len(inspect.getsource(rule).splitlines()) <= 15, rule.__name__
    assert len(inspect.getsource(parser._ToAst.segment).splitlines()) <= 12


def test_every_example_parses_to_dataclasses():
    for path in EXAMPLES.rglob("*.prompt"):
        module, diags = parse_source(path.read_text(encoding="utf-8"), path.name)
        assert module is not None and not diags, path
        for seg in module.segments:
            assert isinstance(seg, ast.Segment) and all(isinstance(i, ast.InputDecl) for i in seg.inputs)


def test_parsing_is_pure_and_diagnostics_carry_their_excerpt():
    assert not hasattr(errors, "SourceCache")
    _, first = parse_source("global a @stable \"x\"\n", "same.prompt")
    _, second = parse_source("\n\nglobal b @sometimes \"y\"\n", "same.prompt")
    # Parsing a second text under the same path does not change the first diagnostic's excerpt.
    assert "global a @stable" in first[0].render()
    assert "global b @sometimes" in second[0].render()


def test_utf8_bom_is_accepted():
    text = f"global rules @static {T}Rules.{T}\nplan p = rules\n"
    plain, d1 = parse_source(text, "a.prompt")
    bom, d2 = parse_source("\ufeff" + text, "a.prompt")
    assert not d1 and not d2 and bom.segments == plain.segments and bom.plans == plain.plans


def test_utf8_bom_file_compiles_to_the_same_plan(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    text = f"global rules @static {T}Rules.{T}\nplan p = rules\n"
    (a / "main.prompt").write_text(text, encoding="utf-8")
    (b / "main.prompt").write_bytes(b"\xef\xbb\xbf" + text.encode())
    pa, pb = compile_project([a], annotate_tokens=False), compile_project([b], annotate_tokens=False)
    assert not pb.errors and pa.plans["p"].model_dump_json() == pb.plans["p"].model_dump_json()


def test_unclosed_triple_quote_is_reported_at_the_opening_quotes():
    text = f"global rules @static {T}\nYou are terse.\n" + "more text\n" * 22 + "plan p = rules\n"
    module, diags = parse_source(text, "a.prompt")
    assert module is None and [(d.code, d.span.line, d.span.col) for d in diags] == [("E002", 1, 22)]


def test_a_closed_string_before_the_error_is_not_blamed():
    module, diags = parse_source(f'global rules @static {T}a "quoted" b{T}\nplan = rules\n', "a.prompt")
    assert [(d.code, d.span.line) for d in diags] == [("E001", 2)]


def test_unclosed_string_in_an_imported_file_causes_no_follow_on_errors(tmp_path):
    (tmp_path / "shared.prompt").write_text(f"global rules @static {T}Rules.\nglobal more @static {T}x{T}\n",
                                            encoding="utf-8")
    for i in range(10):
        (tmp_path / f"agent{i}.prompt").write_text(f'import "./shared.prompt"\nplan p{i} = rules, more\n',
                                                   encoding="utf-8")
    result = compile_project([tmp_path], annotate_tokens=False)
    assert [(d.code, d.span.path, d.span.line) for d in result.diagnostics] == [("E002", "shared.prompt", 1)]


def test_an_unrelated_unknown_name_is_still_reported_next_to_a_broken_import(tmp_path):
    (tmp_path / "shared.prompt").write_text(f"global rules @static {T}Rules.\n", encoding="utf-8")
    (tmp_path / "main.prompt").write_text('import "./shared.prompt"\nplan p = rules, typo\n', encoding="utf-8")
    result = compile_project([tmp_path], annotate_tokens=False)
    assert sorted(d.code for d in result.diagnostics) == ["E002", "E103"]


def test_expected_tokens_include_role():
    _, diags = parse_source(f"global rules @static system {T}x{T}\n", "a.prompt")
    assert diags[0].code == "E001" and "`role`" in diags[0].hint


def test_bodyless_session_memory_is_the_documented_form(tmp_path):
    (tmp_path / "main.prompt").write_text(
        f"global rules @static {T}Rules.{T}\nagent notes @append_only(session) memory\nplan p = rules, notes\n",
        encoding="utf-8")
    result = compile_project([tmp_path], annotate_tokens=False)
    assert not result.errors, [d.render() for d in result.errors]
    assert [i.name for i in result.plans["p"].inputs] == ["notes"]
