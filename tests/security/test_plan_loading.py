"""Plan files are verified on load (issue 9 item 4): a bad file is a coded PlanFormatError at
``load_plan``, never a TypeError/KeyError/RecursionError at render time; template failures while
rendering are coded too (E419), and so is text that is not valid Unicode (E401 for an input)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptc
from promptc.core.errors import AppendOnlyError, InputError, PlanFormatError, PromptcError, RenderError
from promptc.core.hashing import chain, segment_hash
from promptc.core.planfile import MAX_PLAN_DEPTH, verify_plan
from promptc.plan import Plan, Request, load_plan

REPO = Path(__file__).resolve().parents[2]
CUSTOMER = {"name": "Ada", "plan": "pro", "open_tickets": 1}

#: A project exercising every dynamic shape: a session text segment, an include carried by the plan, a
#: static input used at turn level, history and a turn text segment.
PROJECT = {
    "a.prompt": '''
input tone: string @static = "calm"
global rules @static role system """Be {{ tone }}."""
agent tools @append_only tools {
    look(path: string "a path") "Look at a file."
}
input customer: object { name: string, tier: enum("free", "pro") } @session
agent profile @session role system """Customer {{ customer.name }} ({{ customer.tier }}). {% include "style.md" %}"""
task history @append_only history
task ask @turn role user {
    input question: string
    input n: int = 2
    """{{ tone }}: {{ question }} x{{ n }}"""
}
plan p = rules, tools, profile, history, ask
''',
    "style.md": "Answer in {{ customer.tier }} style.",
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, dict]:
    """Plan JSON (as dicts) of the support example and of PROJECT."""
    root = tmp_path_factory.mktemp("proj")
    for name, text in PROJECT.items():
        (root / name).write_text(text, encoding="utf-8")
    return {"support": json.loads(promptc.compile(REPO / "examples" / "support")["support"].to_json()),
            "p": json.loads(promptc.compile(root)["p"].to_json())}


def write(tmp_path: Path, data, name="x.plan.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def load_code(path: Path) -> str:
    with pytest.raises(PlanFormatError) as e:
        load_plan(path)
    assert re.fullmatch(r"E4(0[3-9]|1[0-8])", e.value.code), e.value
    assert str(e.value).startswith(f"error[{e.value.code}]") and e.value.hint
    return e.value.code


def seg_index(data: dict, seg_id: str) -> int:
    return next(i for i, s in enumerate(data["segments"]) if s["id"] == seg_id)


# -- every compiled plan verifies ------------------------------------------------------------------
@pytest.mark.parametrize("example", ["team", "support", "stdlib_tour"])
@pytest.mark.parametrize("align", ["check", "fix"])
def test_every_example_plan_verifies_and_loads(example, align, tmp_path):
    for name, plan in promptc.compile(REPO / "examples" / example, align=align).plans.items():
        verify_plan(plan)
        loaded = load_plan(write(tmp_path, plan.to_json(), f"{name}.plan.json"))
        assert loaded == plan


def test_the_test_project_loads_and_renders(plans, tmp_path):
    plan = load_plan(write(tmp_path, plans["p"]))
    req = plan.bind(customer={"name": "Ada", "tier": "pro"}).render(question="why?")
    assert [s.id for s in req.segments] == ["rules", "tools", "profile", "ask"]
    assert req.segments[2].content == "Customer Ada (pro). Answer in pro style."
    # a @static input used by a turn template gets its default (this was a KeyError at render time)
    assert req.segments[-1].content == "calm: why? x2"


# -- one code per reason ---------------------------------------------------------------------------
def test_unreadable_files_are_e403(tmp_path):
    assert load_code(tmp_path / "missing.plan.json") == "E403"
    (tmp_path / "dir.plan.json").mkdir()
    assert load_code(tmp_path / "dir.plan.json") == "E403"


@pytest.mark.parametrize("text", [
    "{not json", '{"format_version": NaN}', '{"format_version": 1, "x": 1e999}', '{"x": Infinity}',
    '{"format_version": 1, "name": "\\ud800"}', '{"n": ' + "9" * 5000 + "}", ""])
def test_text_that_is_not_plan_json_is_e404(tmp_path, text):
    assert load_code(write(tmp_path, text)) == "E404"


def test_bytes_that_are_not_utf8_are_e404(tmp_path):
    path = tmp_path / "x.plan.json"
    path.write_bytes(b'{"name": "\xff"}')
    assert load_code(path) == "E404"


@pytest.mark.parametrize("depth", [MAX_PLAN_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, depth):
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        assert load_code(write(tmp_path, opener * depth + "1" + closer * depth)) == "E405"


def test_the_depth_limit_is_configurable_and_deep_types_below_it_do_not_crash(plans, tmp_path):
    data = copy.deepcopy(plans["support"])
    t = {"type": "string"}
    for _ in range(90):  # a 90-deep list type nests the file ~95 deep
        t = {"type": "list", "items": t}
    data["inputs"][-1]["type"] = t
    path = write(tmp_path, data)
    with pytest.raises(PlanFormatError) as e:
        load_plan(path, max_depth=50)
    assert e.value.code == "E405" and "the limit is 50" in str(e.value)
    assert load_code(path) == "E415"  # read and checked (its schema is not the inputs'), not a RecursionError


def test_brackets_inside_strings_do_not_count_as_depth(plans, tmp_path):
    data = copy.deepcopy(plans["support"])
    data["doc"] = "[" * 500 + '\\"{' * 100
    assert load_plan(write(tmp_path, data)).doc == data["doc"]


def test_format_version_and_schema(plans, tmp_path):
    assert load_code(write(tmp_path, {"format_version": 99})) == "E406"
    assert load_code(write(tmp_path, [1, 2])) == "E406"
    assert load_code(write(tmp_path, {"format_version": 1, "name": "x"})) == "E407"
    data = copy.deepcopy(plans["support"])
    data["inputs"][0]["type"] = {"type": "object", "fields": [["name", {"type": "strnig"}]]}
    with pytest.raises(PlanFormatError) as e:
        load_plan(write(tmp_path, data))
    assert e.value.code == "E407" and e.value.where == "inputs[0].type.fields[0][1].type"


def mutate(plans, which, fn):
    data = copy.deepcopy(plans[which])
    fn(data)
    return data


def _seg(data, seg_id):
    return data["segments"][seg_index(data, seg_id)]


CASES = {
    "static content is null": ("support", lambda d: _seg(d, "policy").update(content=None), "E408"),
    "session segment carries content": ("support", lambda d: _seg(d, "profile").update(content="x"), "E408"),
    "turn text has no template": ("support", lambda d: _seg(d, "question").update(template=None), "E408"),
    "static segment with a template": ("support", lambda d: _seg(d, "policy").update(template="{{ x }}"), "E408"),
    "tools that are not static": ("p", lambda d: _seg(d, "tools").update(stability="session", content=None,
                                                                      hash=None, prefix_hash=None), "E408"),
    "content edited": ("support", lambda d: _seg(d, "policy").update(content="You are evil."), "E409"),
    "role edited": ("support", lambda d: _seg(d, "policy").update(role="user"), "E409"),
    "prefix hash from elsewhere": ("support", lambda d: _seg(d, "policy").update(prefix_hash=_seg(d, "honesty")["prefix_hash"]), "E410"),
    "static segments reordered": ("support", lambda d: d["segments"].insert(0, d["segments"].pop(1)), "E410"),
    "template does not parse": ("support", lambda d: _seg(d, "question").update(template="{{ question "), "E411"),
    "template nests 300 deep": ("support", lambda d: _seg(d, "question").update(template="{{ " + "(" * 300 + "1" + ")" * 300 + " }}"), "E411"),
    "include does not parse": ("p", lambda d: d["includes"].update({"style.md": "{% if %}"}), "E411"),
    "undeclared name": ("support", lambda d: _seg(d, "question").update(template="{{ question }} {{ secret }}"), "E412"),
    "undeclared name in an include": ("p", lambda d: d["includes"].update({"style.md": "{{ question }}"}), "E412"),
    "include not carried": ("p", lambda d: d.update(includes={}), "E413"),
    "segment input not declared": ("support", lambda d: _seg(d, "question").update(inputs=["question", "ghost"]), "E414"),
    "input declared twice": ("support", lambda d: d["inputs"].append(d["inputs"][-1]), "E415"),
    "input_schema disagrees": ("support", lambda d: d["input_schema"]["turn"].update(required=[]), "E415"),
    "input_schema level missing": ("support", lambda d: d["input_schema"].pop("session"), "E415"),
    "input type changed without the schema": ("support", lambda d: d["inputs"][-1].update(type={"type": "int"}), "E415"),
    "session segment uses a turn input": ("support", lambda d: _seg(d, "profile").update(inputs=["customer", "question"], template="{{ customer }}{{ question }}"), "E416"),
    "stability decreases": ("support", lambda d: d["segments"].append(copy.deepcopy(_seg(d, "profile"))), "E416"),
    "history without its input": ("support", lambda d: _seg(d, "history").update(inputs=[]), "E417"),
    "history bound to a string input": ("support", lambda d: _seg(d, "history").update(inputs=["question"]), "E417"),
    "tool entry hashes reordered": ("p", lambda d: _seg(d, "tools").update(entry_hashes=["sha256:00"]), "E418"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_inconsistent_plan_is_refused_with_its_own_code(plans, tmp_path, case):
    which, fn, code = CASES[case]
    assert load_code(write(tmp_path, mutate(plans, which, fn))) == code


def test_the_error_names_the_field_and_the_file(plans, tmp_path):
    path = write(tmp_path, mutate(plans, "support", lambda d: _seg(d, "question").update(template="{{ q }")))
    with pytest.raises(PlanFormatError) as e:
        load_plan(path)
    assert e.value.where == f"segments[{seg_index(plans['support'], 'question')}].template"
    assert str(path) in str(e.value) and "--> segments[" in str(e.value)


def test_the_cli_reports_a_bad_plan_as_a_usage_error_not_a_traceback(plans, tmp_path, capsys, monkeypatch):
    from promptc.cli import main

    path = write(tmp_path, mutate(plans, "support", lambda d: _seg(d, "policy").update(content=None)))
    monkeypatch.setattr("sys.argv", ["promptc", "show", str(path)])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and "error[E408]" in err and "Traceback" not in err


# -- run-time template errors are coded ------------------------------------------------------------
def _plan_with_template(plans, template: str, inputs: dict) -> Plan:
    """The support plan with its question segment's template replaced (inputs: name → spec)."""
    def fn(d):
        _seg(d, "question").update(template=template, inputs=sorted(inputs))
        d["inputs"] = [i for i in d["inputs"] if i["name"] != "question"] + [
            {"name": n, "type": t, "stability": "turn", "has_default": False, "default": None, "doc": None}
            for n, t in inputs.items()]
        d["inputs"].sort(key=lambda i: i["name"])
        from promptc.core.inputs import inputs_model
        d["input_schema"]["turn"] = inputs_model("support_turn_inputs", [
            i for i in d["inputs"] if i["stability"] == "turn"]).model_json_schema()
    return Plan.model_validate(mutate(plans, "support", fn))


def test_division_by_zero_in_a_template_is_e419(plans, tmp_path):
    plan = load_plan(write(tmp_path, _plan_with_template(plans, "{{ 10 // n }}", {"n": {"type": "int"}}).to_json()))
    session = plan.bind(customer=CUSTOMER)
    assert session.render(n=5).segments[-1].content == "2"
    with pytest.raises(RenderError) as e:
        session.render(n=0)
    assert e.value.code == "E419" and "`question`" in str(e.value) and "ZeroDivisionError" in str(e.value)


@pytest.mark.parametrize("template,values", [
    ("{{ q.upper().nope }}", {"q": "a"}),                      # a missing attribute (StrictUndefined)
    ("{{ q ~ 1 + 1 }}{{ (q|int) + q }}", {"q": "1"}),            # TypeError
    ("{{ q.__class__.__mro__ }}", {"q": "a"}),                  # sandbox violation
    ('{% include q %}', {"q": "nowhere.md"}),                   # a computed include the plan lacks
    ('{{ "\\ud800" }}{{ q }}', {"q": "a"}),                     # text that is not valid Unicode
])
def test_template_failures_at_run_time_are_e419(plans, template, values):
    plan = _plan_with_template(plans, template, {k: {"type": "string"} for k in values})
    with pytest.raises(RenderError) as e:
        plan.bind(customer=CUSTOMER).render(**values)
    assert e.value.code == "E419"


def test_an_include_cycle_at_run_time_is_e806(plans):
    """A computed include that recurses hits the template nesting limit (E806, as at build time),
    a coded error, never a RecursionError."""
    data = json.loads(_plan_with_template(plans, '{% include q %}', {"q": {"type": "string"}}).to_json())
    data["includes"] = {"loop.md": '{% include "loop.md" %}'}
    plan = Plan.model_validate(data)
    with pytest.raises(PromptcError) as exc:
        plan.bind(customer=CUSTOMER).render(q="loop.md")
    assert exc.value.code == "E806"


@pytest.mark.parametrize("where", ["session", "turn", "nested"])
def test_a_lone_surrogate_in_an_input_is_e401(plans, where):
    plan = Plan.model_validate(plans["support"])
    bad = "caf\ud800"
    with pytest.raises(InputError) as e:
        if where == "session":
            plan.bind(customer={**CUSTOMER, "name": bad})
        elif where == "turn":
            plan.bind(customer=CUSTOMER).render(question=bad)
        else:
            plan.bind(customer=CUSTOMER).render(question="q", history=[{"role": "user", "content": bad}])
    assert e.value.code == "E401"
    path = {"session": "customer.name", "turn": "question", "nested": "history[0].content"}[where]
    assert dict(e.value.errors).keys() == {path}


# -- fuzz: random mutations of real plan files -----------------------------------------------------
def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _get(value, path):
    for p in path:
        value = value[p]
    return value


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "static", "turn", "text"]),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["type", "name", "x"]), c,
                                                                          max_size=2), max_leaves=6)
SNIPPETS = st.sampled_from(["{{", "}}", "{%", "%}", "{{ x }}", "{{ question }}", "{% include 'style.md' %}",
                            "{{ customer.name }}", "{{ 1 // 0 }}", "\ud800", "sha256:00", "static", "session", "turn",
                            "history", "memory", "tools", "user", "(", "[", "é"])


@st.composite
def mutated(draw, plans) -> str:
    data = copy.deepcopy(plans[draw(st.sampled_from(sorted(plans)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))[1:]
        path = draw(st.sampled_from(paths))
        parent, key = _get(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "delete", "snippet", "copy", "swap"]))
        if op == "replace":
            parent[key] = draw(JSON)
        elif op == "delete":
            del parent[key]
        elif op == "snippet" and isinstance(parent[key], str):
            s = parent[key]
            i = draw(st.integers(0, len(s)))
            parent[key] = s[:i] + draw(SNIPPETS) + s[i + draw(st.integers(0, 3)):]
        elif op == "copy":
            parent[key] = copy.deepcopy(_get(data, draw(st.sampled_from(paths))))
        elif op == "swap" and isinstance(parent, list) and len(parent) > 1:
            j = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[j] = parent[j], parent[key]
    text = json.dumps(data)
    if draw(st.booleans()):  # sometimes damage the bytes too
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(["", "[", "}", '"', "\\", "1e999", "NaN"])) + text[i + draw(st.integers(0, 2)):]
    return text


def sample(spec: dict):
    """A valid value for an input type description."""
    t = spec["type"]
    value = {"string": "s", "int": 1, "float": 1.5, "bool": True}.get(t)
    if t == "enum":
        value = spec["choices"][0]
    elif t == "list":
        value = [sample(spec["items"])]
    elif t == "object":
        value = {name: sample(s) for name, s in spec["fields"]}
    return value


def _check_loads_or_refuses(plans, tmp_path, text):
    path = tmp_path / "fuzz.plan.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        plan = load_plan(path)
    except PlanFormatError as exc:
        assert re.fullmatch(r"E4(0[3-9]|1[0-8])", exc.code), exc
        return
    session_values = {s.name: sample(s.type) for s in plan.inputs if s.stability == "session"}
    turn_values = {s.name: sample(s.type) for s in plan.inputs if s.stability == "turn"}
    try:
        session = plan.bind(**session_values)
        requests = [session.render(**turn_values), session.render(**turn_values)]
    except RenderError as exc:  # the template itself fails (e.g. `{{ 1 // 0 }}` spliced in): coded
        assert exc.code == "E419"
        return
    for req in requests:
        assert isinstance(req, Request)
        parent = None
        for seg in req.segments:
            assert seg.hash == segment_hash(seg.role, seg.content)
            parent = chain(parent, seg.hash)
            assert seg.prefix_hash == parent
    static = [s for s in plan.segments if s.is_static]
    assert [s.content for s in requests[0].segments[: len(static)]] == [s.content for s in static]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_plan_loads_and_renders_or_is_refused_with_a_code(plans, tmp_path, data):
    """``load_plan`` either returns a plan whose bind/render works (or fails with E419 from the template
    itself), or raises a PlanFormatError with its code: never a TypeError, KeyError or RecursionError."""
    _check_loads_or_refuses(plans, tmp_path, data.draw(mutated(plans)))


def test_any_exception_outside_the_hierarchy_would_fail_the_fuzz(plans, tmp_path, monkeypatch):
    """The fuzz's oracle is not vacuous: a render that raises a raw error fails the check."""
    monkeypatch.setattr("promptc.plan.Session.render", lambda self, **kw: {}["boom"])
    with pytest.raises(KeyError):
        _check_loads_or_refuses(plans, tmp_path, json.dumps(plans["support"]))


def test_append_only_and_prompterror_codes_are_in_the_hierarchy():
    for cls, code in ((PlanFormatError, "E403"), (RenderError, "E419"), (AppendOnlyError, "E402")):
        assert issubclass(cls, PromptcError) and cls.code == code
