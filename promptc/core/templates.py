"""The template environment shared by compile time and run time.

Templates run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a template cannot
mutate its inputs, reach Python internals, or silently render a missing name as "". The compiler
(with a project loader) and the runtime (with the includes stored in the plan) build their
environments here, so a static segment's content is exactly what the plan stores.
"""

from __future__ import annotations

from typing import Mapping

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

_MARKERS = ("{{", "{%", "{#")


def make_environment(loader: jinja2.BaseLoader) -> ImmutableSandboxedEnvironment:
    """A sandboxed, strict environment over ``loader`` (the one configuration promptc renders with)."""
    env = ImmutableSandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                                        keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False,
                                        auto_reload=False, cache_size=0)
    # lipsum is random text: keep the surface small and deterministic.
    env.globals.pop("lipsum", None)
    return env


def is_literal(source: str) -> bool:
    """True when a template has no Jinja syntax at all: its output is its source."""
    return not any(m in source for m in _MARKERS)


def render_template(env: jinja2.Environment, source: str, values: Mapping) -> str:
    """Render ``source`` with ``values`` (a literal template is returned as is, without parsing)."""
    if is_literal(source):
        return source
    return env.from_string(source).render(**values)


def runtime_environment(includes: Mapping[str, str]) -> ImmutableSandboxedEnvironment:
    """The environment used at bind time: same settings, includes served from the plan itself."""
    return make_environment(jinja2.DictLoader(dict(includes)))
