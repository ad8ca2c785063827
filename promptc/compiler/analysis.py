"""Template analysis at compile time: includes, free names and nondeterminism of a template.

A :class:`TemplateAnalyzer` belongs to one build: it parses each distinct source once (parsing long
texts is the compiler's slowest step) and forgets everything when the build ends.
"""

from __future__ import annotations

from typing import Iterable

import jinja2
from jinja2 import meta, nodes

from promptc.compiler.loader import ProjectLoader
from promptc.core.errors import PromptcError
from promptc.core.templates import is_literal

#: Names a template may call that make output differ between runs.
NONDETERMINISTIC_CALLS = {"now", "today", "utcnow", "random", "randint", "choice", "shuffle", "uuid", "uuid1",
                          "uuid4", "time", "datetime", "timestamp"}
NONDETERMINISTIC_FILTERS = {"random", "shuffle"}
_JINJA_GLOBALS = {"range", "loop", "dict", "lipsum", "cycler", "joiner", "namespace", "self", "varargs", "kwargs",
                  "caller"}


class IncludeCycleError(PromptcError):
    """Templates include each other in a cycle (E804): rendering would recurse without end."""

    code = "E804"

    def __init__(self, cycle: list[str]):
        self.cycle = cycle
        super().__init__("include cycle: " + " → ".join(cycle))


def _find_cycle(edges: dict[str, list[str]]) -> list[str]:
    """One cycle in the include graph as ``[a, b, ..., a]``, or [] (iterative: no recursion limit)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(edges):
        if state.get(start):
            continue
        path: list[str] = [start]
        its = [iter(edges.get(start, []))]
        state[start] = 1
        while its:
            nxt = next(its[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                its.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                its.append(iter(edges.get(nxt, [])))
    return []


def _passthrough(value, *args, **kwargs):
    return value


class TemplateAnalyzer:
    """Parses and analyses templates for one build; ``env`` gives the parser its settings."""

    def __init__(self, env: jinja2.Environment):
        self.env = env
        self._parsed: dict[str, nodes.Template] = {}
        # Name analysis compiles the template; a nondeterministic filter the sandbox leaves out
        # (`shuffle`) is reported as E203 with the segment's other findings, not as a compile failure.
        self._names_env = env.overlay()
        self._names_env.filters = {**env.filters, **{f: _passthrough for f in NONDETERMINISTIC_FILTERS
                                                      if f not in env.filters}}

    def parse(self, source: str) -> nodes.Template:
        """The Jinja AST of ``source`` (parsed once per distinct source in this build)."""
        tree = self._parsed.get(source)
        if tree is None:
            tree = self._parsed[source] = self.env.parse(source)
        return tree

    def included_names(self, source: str) -> list[str]:
        """Template names a source includes/imports/extends (constant names only)."""
        if is_literal(source):
            return []
        return sorted({n for n in meta.find_referenced_templates(self.parse(source)) if n is not None})

    def collect_includes(self, source: str, loader: ProjectLoader) -> dict[str, str]:
        """All templates reachable from ``source`` by include, as ``{name: source}``, for runtime rendering.

        Raises ``TemplateNotFound`` (or ``FileRefused`` for a file outside the allowed roots, not a
        regular file or too large) and :class:`IncludeCycleError` when includes form a cycle.
        """
        found: dict[str, str] = {}
        edges: dict[str, list[str]] = {}
        stack = self.included_names(source)
        while stack:
            name = stack.pop()
            if name in found:
                continue
            text = loader.read(name)
            found[name] = text
            edges[name] = self.included_names(text)
            stack.extend(edges[name])
        cycle = _find_cycle(edges)
        if cycle:
            raise IncludeCycleError(cycle)
        return found

    def undeclared_names(self, source: str, includes: dict[str, str]) -> set[str]:
        """Free variables of a template and everything it includes."""
        names = set() if is_literal(source) else self._free_names(source)
        for text in includes.values():
            if not is_literal(text):
                names |= self._free_names(text)
        return names - _JINJA_GLOBALS

    def _free_names(self, source: str) -> set[str]:
        codegen = meta.TrackingCodeGenerator(self._names_env)
        codegen.visit(self.parse(source))
        return set(codegen.undeclared_identifiers)

    def unknown_names(self, source: str) -> list[tuple[int, str, str]]:
        """``(template line, "filter" | "test", name)`` for each filter or test the environment does not
        define. Jinja2 only notices them when it compiles (or renders) the template; finding them in
        the parse tree lets ``check`` report them, located, before anything renders."""
        if is_literal(source):
            return []
        tree = self.parse(source)
        found = [(f.lineno, "filter", f.name) for f in tree.find_all(nodes.Filter) if f.name not in self.env.filters]
        found += [(t.lineno, "test", t.name) for t in tree.find_all(nodes.Test) if t.name not in self.env.tests]
        return sorted(set(found))

    def nondeterminism(self, source: str, unordered_names: Iterable[str] = ()) -> list[tuple[int, str, str]]:
        """``(template line, reason, offending word)`` for each construct that may render differently between runs.

        Flags calls to clock/random/uuid-like names, the ``random``/``shuffle`` filters, and ``for`` loops
        over ``.items()``/``.keys()``/``.values()`` of a mapping without ``|dictsort`` (mapping order is
        an accident of how the caller built it).
        """
        unordered = set(unordered_names)
        if is_literal(source):
            return []
        tree = self.parse(source)
        found: list[tuple[int, str]] = []
        for call in tree.find_all(nodes.Call):
            target = call.node
            name = None
            if isinstance(target, nodes.Name):
                name = target.name
            elif isinstance(target, nodes.Getattr):
                name = target.attr
            if name in NONDETERMINISTIC_CALLS:
                found.append((call.lineno, f"calls `{name}()`, which differs between runs", name))
        for flt in tree.find_all(nodes.Filter):
            if flt.name in NONDETERMINISTIC_FILTERS:
                found.append((flt.lineno, f"uses the `{flt.name}` filter, which differs between runs", flt.name))
        for loop in tree.find_all(nodes.For):
            it = loop.iter
            if isinstance(it, nodes.Call) and isinstance(it.node, nodes.Getattr) and it.node.attr in ("items", "keys", "values"):
                found.append((loop.lineno, f"iterates `.{it.node.attr}()` of a mapping in insertion order", it.node.attr))
            elif isinstance(it, nodes.Name) and it.name in unordered:
                found.append((loop.lineno, f"iterates the mapping `{it.name}` in insertion order", it.name))
        return sorted(found)
