"""Hostile .prompt input to the parser: every case is a coded, located error, never a traceback
(issue 9, item 2, parser part). Limits: promptc.syntax.parser.MAX_TYPE_DEPTH, INT_MIN/INT_MAX."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from promptc.compiler.build import compile_project
from promptc.syntax import parse_source
from promptc.syntax.parser import INT_MAX, INT_MIN, MAX_TYPE_DEPTH


def codes_of(text: str) -> list[str]:
    module, diags = parse_source(text, "main.prompt")
    assert all(d.span is not None and d.span.line >= 1 and d.span.col >= 1 for d in diags)
    for d in diags:
        d.render()
    return [d.code for d in diags]


def compile_text(tmp_path, text: str):
    (tmp_path / "main.prompt").write_text(text, encoding="utf-8")
    return compile_project([tmp_path], annotate_tokens=False)


def nested(depth: int, kinds: list[str]) -> str:
    opens = "".join("list[" if k == "list" else "object { f: " for k in kinds[:depth])
    closes = "".join("]" if k == "list" else " }" for k in reversed(kinds[:depth]))
    return opens + "string" + closes


# -- deep types ------------------------------------------------------------------------------------

def test_list_nested_300_deep_is_e020_not_recursion_error(tmp_path):
    text = "input x: " + "list[" * 300 + "string" + "]" * 300 + '\nglobal g @static "{{ x }}"\nplan p = g\n'
    assert codes_of(text) == ["E020"]
    result = compile_text(tmp_path, text)
    assert [d.code for d in result.errors] == ["E020"] and not result.plans
    assert result.errors[0].span.line == 1


def test_very_deep_type_is_bounded():
    assert codes_of("input x: " + "list[" * 20_000 + "string" + "]" * 20_000) == ["E020"]


@settings(max_examples=40, deadline=None)
@given(st.integers(MAX_TYPE_DEPTH + 1, 400), st.lists(st.sampled_from(["list", "object"]), min_size=400, max_size=400))
def test_any_type_deeper_than_the_limit_is_e020(depth, kinds):
    assert codes_of(f"input x: {nested(depth, kinds)}\n") == ["E020"]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, MAX_TYPE_DEPTH), st.lists(st.sampled_from(["list", "object"]), min_size=40, max_size=40))
def test_types_within_the_limit_parse(depth, kinds):
    assert codes_of(f"input x: {nested(depth, kinds)} @session\n") == []


def test_type_at_the_limit_compiles(tmp_path):
    text = (f"agent a @session {{\n    input x: {'list[' * MAX_TYPE_DEPTH}string{']' * MAX_TYPE_DEPTH}\n"
            '    """{{ x }}"""\n}\nplan p = a\n')
    result = compile_text(tmp_path, text)
    assert not result.errors, [d.render() for d in result.errors]


# -- integers --------------------------------------------------------------------------------------

def test_5000_digit_integer_is_e021_not_value_error(tmp_path):
    text = "input n: int @static = " + "9" * 5000 + '\nglobal g @static "{{ n }}"\nplan p = g\n'
    result = compile_text(tmp_path, text)
    assert [d.code for d in result.errors] == ["E021"]
    assert "…" in result.errors[0].render(), "the excerpt of a 5,000-character line is clipped"


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.integers(INT_MAX + 1, 10**400), st.integers(-(10**400), INT_MIN - 1)))
def test_integers_outside_64_bits_are_e021(n):
    assert codes_of(f"input n: int = {n}\n") == ["E021"]


@settings(max_examples=60, deadline=None)
@given(st.integers(INT_MIN, INT_MAX))
def test_64_bit_integers_are_kept_exactly(n):
    module, diags = parse_source(f"input n: int = {n}\n", "main.prompt")
    assert not diags and module.inputs[0].default == n


# -- lone surrogates ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.integers(0xD800, 0xDFFF), st.sampled_from(["default", "body", "enum", "param", "target"]))
def test_lone_surrogate_escapes_are_e022(cp, where):
    esc = f"\\u{cp:04x}"
    text = {
        "default": f'input s: string = "{esc}"\n',
        "body": f'global g @static "x{esc}y"\n',
        "enum": f'input e: enum("a", "{esc}")\n',
        "param": f'global t @append_only tools {{\n    f(x: string "{esc}") "d"\n}}\n',
        "target": f'target "engine/{esc}"\n',
    }[where]
    assert codes_of(text) == ["E022"]


def test_surrogate_pairs_are_text(tmp_path):
    result = compile_text(tmp_path, 'global g @static "smile \\ud83d\\ude00"\nplan p = g\n')
    assert not result.errors
    assert result.plans["p"].segments[0].content == "smile \U0001F600"


def test_lone_surrogate_compiles_to_an_error_not_a_unicode_error(tmp_path):
    result = compile_text(tmp_path, 'global g @static "\\ud800"\nplan p = g\n')
    assert [d.code for d in result.errors] == ["E022"] and not result.plans


# -- floats ----------------------------------------------------------------------------------------

def test_float_1e999_is_e023_not_null_in_the_plan(tmp_path):
    result = compile_text(tmp_path, 'input x: float @static = 1e999\nglobal g @static "{{ x }}"\nplan p = g\n')
    assert [d.code for d in result.errors] == ["E023"] and not result.plans


@settings(max_examples=60, deadline=None)
@given(st.integers(309, 100_000), st.sampled_from(["", "-"]))
def test_non_finite_floats_are_e023(exp, sign):
    assert codes_of(f"input x: float = {sign}1.5e{exp}\n") == ["E023"]


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_finite_float_defaults_survive_into_the_plan(tmp_path_factory, value):
    d = tmp_path_factory.mktemp("f")
    (d / "main.prompt").write_text(f"agent a @session {{\n    input x: float = {value!r}\n"
                                   '    """{{ x }}"""\n}\nplan p = a\n', encoding="utf-8")
    result = compile_project([d], annotate_tokens=False)
    assert not result.errors, [e.render() for e in result.errors]
    default = json.loads(result.plans["p"].model_dump_json())["inputs"][0]["default"]
    assert default is not None and math.isfinite(default) and default == value
