"""Issue 22 items 3 and 4: no quadratic scan of `.prompt` content, and template limits a
pull request cannot lift.

The scans are checked by counting the characters they examine (never by timing): linear means a
small constant times the input length, on exactly the inputs that made the old regular
expressions quadratic (41 s and 16 s). The old expressions serve as the oracle of *what* matches.
"""

from __future__ import annotations

import re

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptc.compiler.build import compile_project
from promptc.core.errors import Diagnostic, Span, note_locations, relocate_note
from promptc.core.templates import (CEILINGS, DEFAULT_LIMITS, TemplateLimitError, TemplateLimits, effective_limits,
                                    make_environment, render_template, scan_format)
from tests.security.compiler_helpers import project, static, write  # noqa: F401 (fixtures)

#: The expression core/errors.py used before (the oracle for which locations a note holds).
OLD_LOCATION = re.compile(r"(?P<path>[^\s`'\"]+\.prompt)(?P<pos>:\d+:\d+)")

HOSTILE_FORMATS = {
    "brace then 100k colons": "{" + ":" * 100_000,
    "percent then 100k zeros": "%" + "0" * 100_000,
    "50k unclosed keys": "%(" * 50_000,
    "zeros then a star": "%" + "0" * 100_000 + ".*",
    "braces with colons": "{:" * 50_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FORMATS))
def test_format_scan_is_linear_on_hostile_strings(name):
    fmt = HOSTILE_FORMATS[name]
    assert scan_format(fmt).steps <= 3 * len(fmt)


def test_hostile_format_strings_in_a_template_end_quickly_and_correctly():
    env = make_environment(jinja2.DictLoader({}))
    src = "{{ '" + "{" + ":" * 100_000 + "'.format(1) }}"
    with pytest.raises(ValueError):  # Python's own "Invalid format specifier", after a linear scan
        render_template(env, src, {})
    with pytest.raises(TemplateLimitError):  # a dynamic width behind 100k zeros is still found
        render_template(env, "{{ '%" + "0" * 100_000 + ".*f' % (10**9, 1.0) }}", {})


@pytest.mark.parametrize(("fmt", "specs", "dynamic"), [
    ("%5d", ["5"], False), ("%(a)-10.3f", ["-10.3"], False), ("%*d", ["*"], True), ("%.*f", [".*"], True),
    ("{:>10}", [">10"], False), ("{0:{1}}", [""], True), ("{{:5}}", [], False), ("%%5d", [], False),
    ("%(a(b))9s", ["9"], False), ("%(x{:99}", ["99"], False),
])
def test_format_scan_finds_every_width(fmt, specs, dynamic):
    scan = scan_format(fmt)
    assert (scan.specs, scan.dynamic) == (specs, dynamic)


@pytest.mark.parametrize("note", ["x" * 60_000, "a.prompt:" * 20_000, ".prompt:1:" * 10_000,
                                  "a" * 30_000 + ".prompt:1:" + "2" * 30_000])
def test_note_location_scan_is_linear(note):
    found, steps = note_locations(note)
    assert steps <= 4 * len(note)


def test_relocating_a_60k_identifier_note():
    d = Diagnostic("E101", "unknown", Span("a.prompt", 1, 1), notes=("x" * 60_000 + " at b.prompt:3:4",))
    assert d.relocated(lambda p: "dir/" + p).notes == ("x" * 60_000 + " at dir/b.prompt:3:4",)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", ".prompt", ":", "1", "2", " ", "`", "x.prompt:3:4", ".prompt:1", ":9", "'"]),
                max_size=14))
def test_note_locations_match_the_old_expression(parts):
    note = "".join(parts)
    mark = lambda p: f"<{p}>"  # noqa: E731
    assert relocate_note(note, mark) == OLD_LOCATION.sub(lambda m: mark(m["path"]) + m["pos"], note)


# -- item 4: ceilings -------------------------------------------------------------------------------

def test_pyproject_cannot_lift_the_limits_past_the_ceilings(project):
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_steps = 1000000000000000\n"
                                      "max_template_output = 2000000000\nmax_template_int_bits = 100000000\n",
                    "main.prompt": static("{% for i in range(10**9) %}{% endfor %}")})
    assert {d.code for d in compile_project([project], annotate_tokens=False).diagnostics} == {"E808"}
    write(project, {"main.prompt": static("{{ 'a' * 10**9 }}")})  # 1 GB, refused before it is built
    assert {d.code for d in compile_project([project], annotate_tokens=False).diagnostics} == {"E807"}
    write(project, {"main.prompt": static("{{ 2 ** 100000 }}")})
    assert {d.code for d in compile_project([project], annotate_tokens=False).diagnostics} == {"E809"}


def test_the_ci_job_lowers_a_limit_with_the_environment(project, monkeypatch):
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_steps = 1000\n",
                    "main.prompt": static("{% for i in range(10) %}{{ i }}{% endfor %}")})
    assert not compile_project([project], annotate_tokens=False).errors
    monkeypatch.setenv("PROMPTC_MAX_TEMPLATE_STEPS", "5")
    assert {d.code for d in compile_project([project], annotate_tokens=False).diagnostics} == {"E808"}


def test_effective_limits():
    huge = TemplateLimits(10**9, 10**15, 10**12, 10**9)
    assert effective_limits(huge, {}) == CEILINGS
    assert effective_limits(huge, {"PROMPTC_MAX_TEMPLATE_OUTPUT": "100"}).max_output == 100
    # a malformed or non-positive cap falls back to the default, never lifts
    assert effective_limits(huge, {"PROMPTC_MAX_TEMPLATE_STEPS": "lots"}).max_steps == DEFAULT_LIMITS.max_steps
    assert effective_limits(huge, {"PROMPTC_MAX_TEMPLATE_STEPS": "-1"}).max_steps == DEFAULT_LIMITS.max_steps
    assert effective_limits(DEFAULT_LIMITS, {"PROMPTC_MAX_TEMPLATE_STEPS": str(10**12)}) == DEFAULT_LIMITS
