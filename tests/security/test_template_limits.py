"""Issue 9 (2, template part): template evaluation is bounded at build time and at bind/render time.

Deep nesting, include cycles, long import chains, huge strings, huge integers and runaway loops each
end in a coded, located error (E804–E809) — never a RecursionError, MemoryError or a hang — and
every limit can be changed in ``[tool.promptc]``.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import promptc
from promptc.compiler.build import compile_project
from promptc.core.templates import (TemplateLimitError, TemplateLimits, TemplateNestingError, make_environment,
                                    render_template, runtime_environment)
from tests.security.compiler_helpers import project, static, write  # noqa: F401 (fixtures)

HOSTILE = {
    "E807": "{{ 'a' * 10**12 }}",
    "E809": "{{ 9 ** (9 ** 9) }}",
    "E806": "{{ " + "(" * 100 + "1" + ")" * 100 + " }}",
    "E808": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
}
MORE_BIG = [
    "{{ '%999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:{}}'.format(1, 10**12) }}",
    "{{ 'a'.ljust(10**10) }}",
    "{{ 'a'|center(10**10) }}",
    "{{ range(100000)|join('x' * 50000) }}",
    "{{ ('a' * 100000)|replace('', 'b' * 40) }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    "{% for i in range(100000) %}{{ 'x' * 50 }}{% endfor %}",
]


def build(root: Path):
    return compile_project([root], annotate_tokens=False)


@pytest.mark.parametrize("code", sorted(HOSTILE))
def test_hostile_static_templates_give_located_codes(project, code):
    write(project, {"main.prompt": static("Rules:\n" + HOSTILE[code])})
    r = build(project)
    assert {d.code for d in r.diagnostics} == {code}
    d = r.diagnostics[0]
    assert d.span.path == "main.prompt" and d.span.line == 3
    assert d.hint


@pytest.mark.parametrize("source", MORE_BIG)
def test_ways_to_build_huge_values_are_refused_before_allocating(source):
    env = make_environment(jinja2.DictLoader({}))
    with pytest.raises(TemplateLimitError) as exc:
        render_template(env, source, {})
    assert exc.value.code == "E807"


@pytest.mark.parametrize("source", [
    "{{ [1, 2, 3]|slice(10**12)|list }}",
    "{% macro f() %}{% for i in range(100) %}{% endfor %}{% endmacro %}{% for i in range(20000) %}{{ f() }}{% endfor %}",
])
def test_runaway_work_is_refused(source):
    with pytest.raises(TemplateLimitError) as exc:
        render_template(make_environment(jinja2.DictLoader({})), source, {})
    assert exc.value.code == "E808"


@pytest.mark.parametrize("source", [
    "{% for a in [1] %}" * 40 + "x" + "{% endfor %}" * 40,
    "{% if true %}" * 40 + "x" + "{% endif %}" * 40,
    "{{ " + "[" * 50 + "1" + "]" * 50 + " }}",
])
def test_deep_blocks_and_brackets_are_refused_when_parsing(source):
    env = make_environment(jinja2.DictLoader({}))
    with pytest.raises(TemplateNestingError) as exc:
        env.parse(source)
    assert exc.value.code == "E806" and exc.value.lineno == 1


def test_unbounded_recursion_is_a_coded_error():
    env = make_environment(jinja2.DictLoader({}))
    with pytest.raises((TemplateLimitError, TemplateNestingError)) as exc:
        render_template(env, "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", {})
    assert exc.value.code == "E806"


def test_ordinary_templates_are_unaffected():
    env = make_environment(jinja2.DictLoader({"x.txt": "X"}))
    src = ("{{ 2 ** 64 }}|{{ 'ab' * 3 }}|{{ 'x%5dy' % 3 }}|{{ 'Order 12345678901 %s' % 'a' }}|"
           "{% for i in range(3) %}{{ i ~ '-' }}{% endfor %}|{{ [1, 2]|join(', ') }}|{{ 'a b'|replace(' ', '_') }}|"
           "{{ '{:>5}'.format(1) }}|{{ 'hi'|center(6) }}|{% include 'x.txt' %}|{{ 'a\\nb'|indent(2) }}|"
           "{{ items|map('upper')|join }}|{{ 7 // 2 }}|{{ 1.5 * 2 }}")
    assert render_template(env, src, {"items": ["p", "q"]}) == (
        "18446744073709551616|ababab|x    3y|Order 12345678901 a|0-1-2-|1, 2|a_b|    1|  hi  |X|a\n  b|PQ|3|3.0")


def test_loops_keep_their_semantics_through_the_step_counter():
    env = make_environment(jinja2.DictLoader({}))
    assert render_template(env, "{% for x in [1,2,3] %}{{ loop.index }}/{{ loop.length }}/{{ loop.revindex }}"
                                "{% if loop.last %}!{% endif %}{% endfor %}", {}) == "1/3/32/3/23/3/1!"
    assert render_template(env, "{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}"
                                "{% for x in [] %}x{% else %}empty{% endfor %}", {"d": {"b": 1, "a": 2}}) == "a=2;b=1;empty"
    assert render_template(env, "{% for i in t recursive %}[{{ i.n }}{{ loop(i.c) }}]{% endfor %}",
                           {"t": [{"n": 1, "c": [{"n": 2, "c": []}]}]}) == "[1[2]]"
    assert render_template(env, "{% for x in xs if x > 1 %}{{ x }}{% endfor %}", {"xs": [1, 2, 3]}) == "23"


def test_build_time_include_cycle_is_e804(project):
    write(project, {"a.txt": "A {% include 'b.txt' %}", "b.txt": "B {% include 'a.txt' %}",
                    "self.txt": "{% include 'self.txt' %}",
                    "main.prompt": static("{% include 'a.txt' %}") +
                    'task t @turn role user """\n{% include "self.txt" %}\n"""\n\nplan q = t\n'})
    r = build(project)
    assert [d.code for d in r.diagnostics] == ["E804", "E804"]
    assert "a.txt → b.txt → a.txt" in r.diagnostics[0].message


def _turn_plan(project: Path, template: str):
    write(project, {"a.txt": "A", "main.prompt": 'task t @turn role user {\n    input q: string\n    """' + template +
                                   '"""\n}\n\nplan p = t\n'})
    return promptc.compile(project, annotate_tokens=False)["p"]


@pytest.mark.parametrize("code", ["E807", "E808", "E809"])
def test_the_same_limits_apply_at_render_time(project, code):
    hostile = {"E807": "{{ q * 10**12 }}", "E809": "{{ q|length ** (9 ** 9) }}",
               "E808": "{% for i in range(100000) %}{% for j in range(100000) %}{{ q[:0] }}{% endfor %}{% endfor %}"}
    plan = _turn_plan(project, hostile[code])
    with pytest.raises(TemplateLimitError) as exc:
        plan.bind().render(q="ab")
    assert exc.value.code == code
    assert isinstance(exc.value, promptc.PromptcError)


def test_runtime_include_cycle_from_a_hand_edited_plan_is_a_coded_error(project):
    plan = _turn_plan(project, '{{ q }}{% include "a.txt" %}')
    bad = plan.model_copy(update={"includes": {"a.txt": "{% include 'a.txt' %}"}})
    with pytest.raises((TemplateLimitError, TemplateNestingError)) as exc:
        bad.bind().render(q="x")
    assert exc.value.code == "E806"


def test_runtime_output_is_bounded_even_without_huge_single_values():
    env = runtime_environment({})
    with pytest.raises(TemplateLimitError) as exc:
        render_template(env, "{% for i in range(100000) %}{{ q }}{% endfor %}", {"q": "x" * 20})
    assert exc.value.code == "E807"


def test_import_chain_of_1500_files_is_e805_not_a_crash(project):
    files = {f"m{i}.prompt": f'import "./m{i + 1}.prompt"\n' for i in range(1500)}
    files["m1500.prompt"] = static("End.", name="end")
    write(project, files)
    r = build(project)
    assert "E805" in {d.code for d in r.diagnostics}
    assert all(d.code == "E805" for d in r.errors)


def test_limits_are_configurable(project):
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_output = 10\nmax_import_depth = 3\n",
                    "main.prompt": static("{{ 'x' * 20 }}")})
    assert {d.code for d in build(project).diagnostics} == {"E807"}
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_output = 100\n"})
    r = build(project)
    assert not r.errors and r.plans["p"].segments[0].content == "x" * 20 + "\n"
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_steps = 5\n",
                    "main.prompt": static("{% for i in range(10) %}{{ i }}{% endfor %}")})
    assert {d.code for d in build(project).diagnostics} == {"E808"}
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_nesting = 2\n",
                    "main.prompt": static("{{ ((1)) + (((2))) }}")})
    assert {d.code for d in build(project).diagnostics} == {"E806"}
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_template_int_bits = 8\n",
                    "main.prompt": static("{{ 2 ** 10 }}")})
    assert {d.code for d in build(project).diagnostics} == {"E809"}


def test_limits_object_drives_the_environment():
    env = make_environment(jinja2.DictLoader({}), TemplateLimits(max_output=5))
    assert render_template(env, "{{ 'abcde' }}", {}) == "abcde"
    with pytest.raises(TemplateLimitError):
        render_template(env, "{{ 'abc' ~ 'def' }}", {})


# -- fuzz ------------------------------------------------------------------------------------------

_ATOMS = st.sampled_from(["1", "2", "9", "10", "'ab'", "q", "[1, 2]", "(q)", "99999", "-3"])
_OPS = st.sampled_from(["+", "*", "**", "~", "//", "%", "-"])


@st.composite
def _expr(draw, depth=0):
    if depth > 4 or draw(st.booleans()):
        return draw(_ATOMS)
    return f"({draw(_expr(depth + 1))} {draw(_OPS)} {draw(_expr(depth + 1))})"


@settings(max_examples=300, deadline=None)
@given(_expr(), st.sampled_from(["{{ %s }}", "{%% for i in range(%s) %%}{{ i }}{%% endfor %%}",
                                 "{{ range(%s)|join(',') }}", "{{ 'x'.ljust(%s) }}"]))
def test_random_arithmetic_never_crashes(expr, shape):
    env = make_environment(jinja2.DictLoader({}), TemplateLimits(max_steps=20000, max_output=20000))
    try:
        out = render_template(env, shape % expr, {"q": "qq"})
    except (jinja2.TemplateError, promptc.PromptcError, TypeError, ValueError, ArithmeticError, LookupError):
        return
    assert len(out) <= 20000


# -- file limits: a pull request's pyproject.toml raises them only up to a ceiling; the CI job caps them --
def test_file_limits_from_a_pull_request_are_clamped_to_their_ceilings(project, monkeypatch):
    from promptc.compiler.config import FILE_CEILINGS, load_config

    monkeypatch.delenv("PROMPTC_MAX_FILE_BYTES", raising=False)
    monkeypatch.delenv("PROMPTC_MAX_IMPORT_DEPTH", raising=False)
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_file_bytes = 1000000000000\nmax_import_depth = 100000\n"})
    cfg = load_config(project)
    assert cfg.max_file_bytes == FILE_CEILINGS["max_file_bytes"] < 10**12
    assert cfg.max_import_depth == FILE_CEILINGS["max_import_depth"] < 100000


def test_the_ci_job_lowers_the_file_size_limit_and_a_typo_never_lifts_it(project, monkeypatch):
    write(project, {"pyproject.toml": "[tool.promptc]\nmax_file_bytes = 50000000\n",
                    "main.prompt": static("Rules. " * 40)})
    monkeypatch.setenv("PROMPTC_MAX_FILE_BYTES", "100")  # the CI job's environment, not the checkout
    r = build(project)
    assert any(d.code == "E803" for d in r.diagnostics)
    monkeypatch.setenv("PROMPTC_MAX_FILE_BYTES", "lots")  # not a positive integer: the default, not the ceiling
    from promptc.compiler.config import load_config
    from promptc.compiler.confine import DEFAULT_MAX_FILE_BYTES
    assert load_config(project).max_file_bytes == DEFAULT_MAX_FILE_BYTES
