"""Lint rules are units: every lint code is emitted by exactly one rule of the registry
(:data:`promptc.lint.classify.RULES`), and every rule's codes have golden fixture cases.

"Emitted" is read from the source: a lint code written as a literal anywhere in the lint package
(outside a docstring and outside a comparison, which only reads a code) must sit in a function that
only its owning rule reaches. A code emitted outside the registry, or by two rules, fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import promptc.lint as lint_pkg
from promptc.core.codes.lint import LINT_CODES
from promptc.lint import classify
from tests.lint.test_fixtures import CASES, CHANGE_CODES

CODE = re.compile(r"^[EWI]9\d\d$")
#: codes that are not change rules, and the one module that emits each
NOT_RULES = {"E920": "gitref.py", "E921": {"gitref.py", "baseline.py"}, "E922": "baseline.py",  # baseline errors
             "E923": "rules_memory.py",  # the compiler's W312 graded by the wire (a plan shape, not a change)
             "W917": "run.py",  # a suppression without a reason
             "I919": "run.py"}  # a retention change (configuration, not plans)


def _code_literals(tree: ast.Module) -> list[tuple[str, str]]:
    """(code, enclosing top-level function or '<module>') for every emitted code literal."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            skip.update(id(n) for part in [node.left, *node.comparators] for n in ast.walk(part))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            skip.add(id(node.body[0].value))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Rule":
            skip.update(id(n) for arg in node.args[1:2] for n in ast.walk(arg))  # a rule declaring its codes
    out = []
    for top in tree.body:
        name = top.name if isinstance(top, (ast.FunctionDef, ast.ClassDef)) else "<module>"
        for node in ast.walk(top):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value) \
                    and id(node) not in skip:
                out.append((node.value, name))
    return out


def _reach(tree: ast.Module, start: str) -> set[str]:
    """Module-level functions reachable from ``start`` by name."""
    funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    seen, todo = set(), [start]
    while todo:
        f = todo.pop()
        if f in seen or f not in funcs:
            continue
        seen.add(f)
        todo += [n.id for n in ast.walk(funcs[f]) if isinstance(n, ast.Name)]
    return seen


def test_registry_owns_every_change_code_once():
    owned = [c for r in classify.RULES for c in r.codes]
    assert len(owned) == len(set(owned)), "a code owned by two rules"
    assert set(owned) | set(NOT_RULES) == CHANGE_CODES
    assert not set(owned) & set(NOT_RULES)
    assert len({r.name for r in classify.RULES}) == len(classify.RULES)
    assert all(r.plan or r.project or r.regrade for r in classify.RULES)
    assert {c.code for c in LINT_CODES} >= CHANGE_CODES


def test_every_code_is_emitted_only_by_its_rule():
    tree = ast.parse(Path(classify.__file__).read_text(encoding="utf-8"))
    reach = {}
    for rule in classify.RULES:
        hooks = [h.__name__ for h in (rule.plan, rule.project, rule.regrade) if h is not None]
        reach[rule.name] = set().union(*(_reach(tree, h) for h in hooks))
    owner = {c: r.name for r in classify.RULES for c in r.codes}
    literals = _code_literals(tree)
    assert {c for c, _ in literals} == set(owner), "every rule code is emitted somewhere in its rule"
    for code, func in literals:
        assert func in reach[owner[code]], f"{code} written in {func}, outside rule {owner[code]}"
        others = [r for r, fs in reach.items() if func in fs and r != owner[code]]
        assert others == [], f"{code} in {func} is reachable from rules {others} too"
    # no other module of the lint package emits a rule's code; the others sit where NOT_RULES says
    for path in Path(lint_pkg.__file__).parent.glob("*.py"):
        if path.name == "classify.py":
            continue
        for code, func in _code_literals(ast.parse(path.read_text(encoding="utf-8"))):
            assert code not in owner, f"{code} emitted in {path.name}:{func}, outside the rule registry"
            where = NOT_RULES[code]
            assert path.name in (where if isinstance(where, set) else {where}), (code, path.name)


def test_every_rule_code_has_two_fixture_cases():
    per_code: dict[str, int] = {}
    for case in CASES:
        per_code[case.parent.name] = per_code.get(case.parent.name, 0) + 1
    short = {(r.name, c): per_code.get(c, 0) for r in classify.RULES for c in r.codes if per_code.get(c, 0) < 2}
    assert short == {}


def test_code_literal_scan_sees_emits_not_reads():
    tree = ast.parse('"""E901 in a docstring"""\nR = Rule("r", ("E904",))\ndef f(c):\n    if c == "E902":\n'
                     '        return "E903"\n')
    assert _code_literals(tree) == [("E903", "f")]
