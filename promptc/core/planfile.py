"""Reading and verifying plan files: a plan is checked once, on load, before anything renders from it.

A plan file is an artifact a runtime may receive from anywhere (a build cache, another repository,
an attacker), so :func:`read_plan_json` bounds the work of reading it and :func:`verify_plan` checks
that it agrees with itself: every static segment's content matches its hash and the prefix-hash
chain, every template parses and uses only the inputs its segment declares, every input a segment
uses is declared with a stability the segment may use, and ``input_schema`` is the schema of
``inputs``. Each reason has its own code (E403–E418), so a bad file fails at ``load_plan`` with a
field path and a hint, never at render time with a ``KeyError``.

This module is part of the dependency-free core: it reads the plan model's attributes (duck-typed)
instead of importing :mod:`promptc.plan`, which builds on it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from promptc.core.errors import PlanFormatError
from promptc.core.hashing import chain, entry_hash, segment_hash
from promptc.core.templates import runtime_environment
from promptc.core.vocab import HISTORY_ENTRY_TYPE, MEMORY_ENTRY_TYPE, SIMPLE_TYPES, STABILITY_RANK

#: The deepest nesting of JSON arrays and objects a plan file may have. Compiled plans nest about
#: ten deep (input types inside input schemas); the bound keeps a hostile file from exhausting the
#: parser's recursion. ``load_plan(path, max_depth=...)`` changes it.
MAX_PLAN_DEPTH = 128

_REBUILD = "rebuild the plan with `promptc build`; plan files are not edited by hand"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# -- reading ---------------------------------------------------------------------------------------
def json_depth(text: str) -> int:
    """The deepest array/object nesting in a JSON text (strings are skipped), in linear time."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range (plans hold finite numbers only)")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (plans hold finite numbers only)")


def read_plan_json(path: Path, max_depth: int = MAX_PLAN_DEPTH) -> Any:
    """The JSON value of a plan file, read with bounded work.

    E403: missing, not a regular file, unreadable. E404: not UTF-8, not JSON, a non-finite number,
    an integer too long to convert, or a string holding a lone surrogate. E405: nested deeper than
    ``max_depth``.
    """
    if not path.exists():
        raise PlanFormatError(f"plan file not found: {path}", "E403", hint="build it with `promptc build`")
    if not path.is_file():  # a directory, FIFO or device: reading it would fail or block
        raise PlanFormatError(f"{path} is not a regular file", "E403", hint="pass a .plan.json file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanFormatError(f"cannot read plan file {path}: {exc.strerror or exc}", "E403") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanFormatError(f"{path} is not UTF-8 text (byte {exc.start})", "E404", hint=_REBUILD) from None
    depth = json_depth(text)
    if depth > max_depth:
        raise PlanFormatError(f"{path} nests JSON {depth} levels deep (the limit is {max_depth})", "E405",
                              hint="compiled plans nest about ten deep; this file was not written by promptc")
    try:
        data = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError, as is an over-long integer
        raise PlanFormatError(f"{path} is not valid JSON: {exc}", "E404", hint=_REBUILD) from None
    bad = surrogate_path(data)
    if bad is not None:
        raise PlanFormatError(f"{path} holds a string that is not valid Unicode (a lone surrogate escape)", "E404",
                              bad, _REBUILD)
    return data


def surrogate_path(value: Any, path: str = "") -> str | None:
    """The field path of the first string (or key) holding a lone surrogate, which is not valid Unicode text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(plan)"
        return None
    pairs = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in pairs:
        where = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)
        found = surrogate_path(key, where) if isinstance(key, str) else None
        found = found or surrogate_path(item, where)
        if found is not None:
            return found
    return None


# -- verifying -------------------------------------------------------------------------------------
def _fail(code: str, message: str, where: str, hint: str = _REBUILD, path: str = ""):
    raise PlanFormatError((f"{path}: " if path else "") + message, code, where, hint)


def type_problem(spec: Any, where: str) -> tuple[str, str] | None:
    """``(field path, reason)`` when ``spec`` is not an input type description (see docs/language.md)."""
    if not isinstance(spec, dict):
        return where, "a type is an object with a `type` field"
    allowed = {"type", "optional"}
    t = spec.get("type")
    if t == "enum":
        allowed.add("choices")
        choices = spec.get("choices")
        if not (isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices)
                and len(set(choices)) == len(choices)):
            return f"{where}.choices", "an enum needs distinct string choices"
    elif t == "list":
        allowed.add("items")
        found = type_problem(spec.get("items"), f"{where}.items")
        if found:
            return found
    elif t == "object":
        allowed.add("fields")
        fields = spec.get("fields")
        if not isinstance(fields, list):
            return f"{where}.fields", "an object type lists its fields as [name, type] pairs"
        names = set()
        for i, pair in enumerate(fields):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and _NAME.match(pair[0])
                    and not pair[0].startswith(("_", "model_")) and pair[0] not in names):
                return f"{where}.fields[{i}]", "a field is a [name, type] pair with a distinct identifier name"
            names.add(pair[0])
            found = type_problem(pair[1], f"{where}.fields[{i}][1]")
            if found:
                return found
    elif t not in SIMPLE_TYPES:
        return f"{where}.type", f"unknown type {t!r}"
    if not isinstance(spec.get("optional", False), bool):
        return f"{where}.optional", "`optional` is true or false"
    extra = sorted(set(spec) - allowed)
    if extra:
        return f"{where}.{extra[0]}", f"unexpected field `{extra[0]}` in a {t} type"
    return None


def _verify_inputs(plan, path: str) -> dict[str, Any]:
    """E407 malformed types, E415 duplicate names or an ``input_schema`` that is not the inputs' schema."""
    specs: dict[str, Any] = {}
    for i, spec in enumerate(plan.inputs):
        if not _NAME.match(spec.name) or spec.name.startswith(("_", "model_")):
            _fail("E407", f"input name {spec.name!r} is not an identifier", f"inputs[{i}].name", path=path)
        found = type_problem(spec.type, f"inputs[{i}].type")
        if found:
            _fail("E407", f"input `{spec.name}` has a malformed type: {found[1]}", found[0], path=path)
        if spec.name in specs:
            _fail("E415", f"input `{spec.name}` is declared twice", f"inputs[{i}]", path=path)
        specs[spec.name] = spec
    if set(plan.input_schema) != {"session", "turn"}:
        _fail("E415", "input_schema must have exactly the levels `session` and `turn`", "input_schema", path=path)
    for level in ("session", "turn"):
        expected = plan.input_model(level).model_json_schema()  # the validator bind/render will use
        if plan.input_schema[level] != expected:
            _fail("E415", f"input_schema.{level} is not the schema of the plan's {level} inputs",
                  f"input_schema.{level}", path=path)
    return specs


def _template_names(env: jinja2.Environment, source: str, includes: dict, where: str, path: str,
                    seen: tuple[str, ...] = ()) -> tuple[dict[str, str], set[str]]:
    """(names a template reads → where each is first read, templates it includes that the plan
    lacks), following includes: a name read inside an include is located at ``includes.<name>``."""
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        _fail("E411", f"template does not parse: {exc.message} (template line {exc.lineno})", where, path=path)
    except RecursionError:
        _fail("E411", "template nests too deeply to parse", where, path=path)
    names = {n: where for n in sorted(set(meta.find_undeclared_variables(tree)) - set(env.globals))}
    missing: set[str] = set()
    for ref in meta.find_referenced_templates(tree):
        if ref is None or ref in seen:  # a computed include is found at render time; a cycle is E419 there
            continue
        if ref not in includes:
            missing.add(ref)
            continue
        sub_names, sub_missing = _template_names(env, includes[ref], includes, f"includes.{ref}", path, seen + (ref,))
        for n, at in sub_names.items():
            names.setdefault(n, at)
        missing |= sub_missing
    return names, missing


def verify_plan(plan, path: str = "") -> None:
    """Raise :class:`PlanFormatError` (E407–E418) unless ``plan`` (a ``promptc.plan.Plan``) agrees with itself."""
    specs = _verify_inputs(plan, path)
    env = runtime_environment(plan.includes)
    parent: str | None = None
    dynamic_seen = False
    rank = 0
    for i, seg in enumerate(plan.segments):
        at = f"segments[{i}]"
        label = f"segment `{seg.id}`"
        if STABILITY_RANK[seg.stability] < rank:
            _fail("E416", f"{label} is {seg.stability} after a more volatile segment (stability never decreases "
                  "along a plan)", f"{at}.stability", path=path)
        rank = STABILITY_RANK[seg.stability]
        if seg.stability == "static":
            _verify_static(seg, at, label, path)
            if not dynamic_seen:
                parent = chain(parent, seg.hash)
                if seg.prefix_hash != parent:
                    _fail("E410", f"{label}'s prefix_hash does not continue the hash chain", f"{at}.prefix_hash",
                          path=path)
            continue
        dynamic_seen = True
        for name in ("content", "hash", "prefix_hash"):
            if getattr(seg, name) is not None:
                _fail("E408", f"{label} is {seg.stability} but carries a `{name}` (computed at run time)",
                      f"{at}.{name}", path=path)
        if seg.kind == "tools":
            _fail("E408", f"tools segment `{seg.id}` is {seg.stability}; tools are static", f"{at}.stability",
                  path=path)
        for j, name in enumerate(seg.inputs):
            spec = specs.get(name)
            if spec is None:
                _fail("E414", f"{label} uses input `{name}`, which the plan does not declare", f"{at}.inputs[{j}]",
                      path=path)
            if STABILITY_RANK[spec.stability] > STABILITY_RANK[seg.stability]:
                _fail("E416", f"{seg.stability} {label} uses the {spec.stability} input `{name}`", f"{at}.inputs[{j}]",
                      path=path)
        if seg.kind == "text":
            if seg.template is None:
                _fail("E408", f"{label} is {seg.stability} text with no template", f"{at}.template", path=path)
            names, missing = _template_names(env, seg.template, plan.includes, f"{at}.template", path)
            if missing:
                _fail("E413", f"{label} includes {', '.join(f'`{m}`' for m in sorted(missing))}, which the plan does "
                      "not carry in `includes`", f"{at}.template", path=path)
            undeclared = sorted(set(names) - set(seg.inputs))
            if undeclared:
                where = names[undeclared[0]]
                via = f" (through {where})" if where != f"{at}.template" else ""
                _fail("E412", f"{label}'s template uses {', '.join(f'`{n}`' for n in undeclared)}{via}, not among "
                      f"its inputs ({', '.join(seg.inputs) or 'none'})", where, path=path)
        else:
            entry_type = HISTORY_ENTRY_TYPE if seg.kind == "history" else MEMORY_ENTRY_TYPE
            if seg.template is not None:
                _fail("E408", f"{seg.kind} {label} has a template; its entries come from its input", f"{at}.template",
                      path=path)
            if len(seg.inputs) != 1 or specs[seg.inputs[0]].type != entry_type:
                _fail("E417", f"{seg.kind} {label} must be bound to exactly one input holding its entries",
                      f"{at}.inputs", path=path)


def _verify_static(seg, at: str, label: str, path: str) -> None:
    """E408 no content, E409 content that does not match its hash, E418 entry hashes that do not match."""
    if seg.content is None or seg.hash is None:
        missing = "content" if seg.content is None else "hash"
        _fail("E408", f"static {label} has no {missing}", f"{at}.{missing}", path=path)
    if seg.template is not None or seg.inputs:
        field = "template" if seg.template is not None else "inputs"
        _fail("E408", f"static {label} carries a `{field}`; static segments are rendered at build time",
              f"{at}.{field}", path=path)
    if segment_hash(seg.role, seg.content) != seg.hash:
        _fail("E409", f"static {label}'s content does not match its hash (the content or role was changed after "
              "the build)", f"{at}.content", path=path)
    items = seg.tools if seg.kind == "tools" else seg.entries if seg.kind == "memory" else None
    if seg.kind in ("tools", "memory"):
        if items is None or seg.entry_hashes is None:
            _fail("E418", f"static {seg.kind} {label} has no {'tools' if seg.kind == 'tools' else 'entries'} or "
                  "entry_hashes", f"{at}.entry_hashes", path=path)
        if [entry_hash(e) for e in items] != list(seg.entry_hashes):
            _fail("E418", f"static {seg.kind} {label}'s entry_hashes do not match its "
                  f"{'tools' if seg.kind == 'tools' else 'entries'}", f"{at}.entry_hashes", path=path)
