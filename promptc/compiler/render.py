"""Sandboxed Jinja2 templates: build-time rendering, include resolution, and template analysis.

Templates run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a template cannot
mutate its inputs, reach Python internals, or silently render a missing name as "".
The same environment settings are used at build time and at bind time, so a static segment's
content is exactly what the plan stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptc.compiler import deps
from promptc.resources import stdlib_dir

#: Names a template may call that make output differ between runs.
NONDETERMINISTIC_CALLS = {"now", "today", "utcnow", "random", "randint", "choice", "shuffle", "uuid", "uuid1",
                          "uuid4", "time", "datetime", "timestamp"}
NONDETERMINISTIC_FILTERS = {"random", "shuffle"}
_JINJA_GLOBALS = {"range", "loop", "dict", "lipsum", "cycler", "joiner", "namespace", "self", "varargs", "kwargs",
                  "caller"}


def make_environment(loader: jinja2.BaseLoader) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                                        keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False,
                                        auto_reload=False, cache_size=0)
    # lipsum is random text; cycler/joiner are fine but keep the surface small and deterministic.
    env.globals.pop("lipsum", None)
    return env


class ProjectLoader(jinja2.BaseLoader):
    """Resolves ``std/...`` to the standard library and other names relative to ``base_dir``."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir

    def resolve(self, name: str) -> Path | None:
        if name.startswith("std/"):
            path = stdlib_dir() / name[4:]
        else:
            path = self.base_dir / name
        deps.record(path)
        return path if path.is_file() else None

    def get_source(self, environment, template):
        path = self.resolve(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        text = path.read_text(encoding="utf-8")
        return text, str(path), lambda: True


_MARKERS = ("{{", "{%", "{#")
_PARSED: dict[str, nodes.Template] = {}


_LITERAL: dict[str, bool] = {}


def is_literal(source: str) -> bool:
    """True when a template has no Jinja syntax at all: its output is its source."""
    known = _LITERAL.get(source)
    if known is None:
        known = not any(m in source for m in _MARKERS)
        if len(_LITERAL) > 8192:
            _LITERAL.clear()
        _LITERAL[source] = known
    return known


def parse(env: jinja2.Environment, source: str) -> nodes.Template:
    """Parse once per distinct source (parsing long texts is the compiler's slowest step)."""
    tree = _PARSED.get(source)
    if tree is None:
        tree = env.parse(source)
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[source] = tree
    return tree


def included_names(env: jinja2.Environment, source: str) -> list[str]:
    """Template names a source includes/imports/extends (constant names only)."""
    if is_literal(source):
        return []
    return sorted({n for n in meta.find_referenced_templates(parse(env, source)) if n is not None})


def collect_includes(env: jinja2.Environment, source: str, loader: ProjectLoader) -> dict[str, str]:
    """All templates reachable from ``source`` by include, as ``{name: source}``, for runtime rendering."""
    found: dict[str, str] = {}
    stack = included_names(env, source)
    while stack:
        name = stack.pop()
        if name in found:
            continue
        path = loader.resolve(name)
        if path is None:
            raise jinja2.TemplateNotFound(name)
        text = path.read_text(encoding="utf-8")
        found[name] = text
        stack.extend(included_names(env, text))
    return found


def undeclared_names(env: jinja2.Environment, source: str, includes: dict[str, str]) -> set[str]:
    """Free variables of a template and everything it includes."""
    names = set() if is_literal(source) else set(meta.find_undeclared_variables(parse(env, source)))
    for text in includes.values():
        if not is_literal(text):
            names |= meta.find_undeclared_variables(parse(env, text))
    return names - _JINJA_GLOBALS


def nondeterminism(env: jinja2.Environment, source: str,
                   unordered_names: Iterable[str] = ()) -> list[tuple[int, str, str]]:
    """``(template line, reason, offending word)`` for each construct that may render differently between runs.

    Flags calls to clock/random/uuid-like names, the ``random``/``shuffle`` filters, and ``for`` loops
    over ``.items()``/``.keys()``/``.values()`` of a mapping without ``|dictsort`` (mapping order is
    an accident of how the caller built it).
    """
    unordered = set(unordered_names)
    if is_literal(source):
        return []
    tree = parse(env, source)
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


def render_template(env: jinja2.Environment, source: str, values: dict) -> str:
    if is_literal(source):
        return source
    return env.from_string(source).render(**values)


def runtime_environment(includes: dict[str, str]) -> ImmutableSandboxedEnvironment:
    """The environment used at bind time: same settings, includes served from the plan itself."""
    return make_environment(jinja2.DictLoader(dict(includes)))


Locator = Callable[[int], tuple[int, int]]
