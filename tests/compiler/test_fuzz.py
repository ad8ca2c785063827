"""Malformed input of any kind gives located diagnostics, never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptc.compiler.build import compile_project
from promptc.syntax import parse_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VALID = (EXAMPLES / "support" / "support.prompt").read_text(encoding="utf-8")
ALPHABET = st.sampled_from(list('abcdefgimnoprstuvwxyz_@{}()[]<>"=,.:?#\n \t\\%|-1234567890') +
                           ["global", "agent", "task", "plan", "import", "input", "@static", "@turn", "@session",
                            "@append_only", "tools", "memory", "history", "role", "system", "user", '"""', "{{", "}}",
                            "{%", "%}", "string", "list[", "enum(", "object {", "from", "target", "é", "🎉", "\r\n"])


def _check(text: str) -> None:
    module, diags = parse_source(text, "fuzz.prompt")
    if module is None:
        assert diags and all(d.span is not None and d.span.line >= 1 and d.span.col >= 1 for d in diags)
        for d in diags:
            d.render()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_parser_never_raises_on_token_soup(text):
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_raises_on_arbitrary_text(text):
    _check(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(VALID)), st.integers(0, 40), st.lists(ALPHABET, max_size=6).map("".join))
def test_mutated_valid_source_compiles_or_reports(tmp_path_factory, at, cut, insert):
    """Deleting and inserting text anywhere in a real example: the whole compiler reports, never crashes."""
    src = VALID[:at] + insert + VALID[at + cut:]
    d = tmp_path_factory.mktemp("fuzz")
    (d / "main.prompt").write_text(src, encoding="utf-8")
    result = compile_project([d], annotate_tokens=False)
    for diag in result.diagnostics:
        assert diag.code and diag.message
        diag.render()
    if result.errors:
        assert not result.plans
