"""A framework package that is not installed is a coded diagnostic (E529) naming the extra to install, never a
bare ImportError: each integration is called with its framework's import blocked (sys.modules[name] = None,
which makes `import name` raise ImportError exactly as an absent package does)."""

from __future__ import annotations

import pytest

from promptc.core.codes import lookup
from promptc.core.errors import PromptcError
from promptc.integrations import IntegrationExtraMissing
from promptc.integrations.langchain import to_langchain
from promptc.integrations.openai_agents import to_openai_agents
from promptc.integrations.pydantic_ai import to_pydantic_ai

CASES = [  # (blocked module, call, the package and extra the diagnostic must name)
    ("langchain_core", lambda r: to_langchain(r, "anthropic/claude-sonnet-4-5"), "langchain-core", "langchain"),
    ("langchain_anthropic", lambda r: to_langchain(r, "anthropic/claude-sonnet-4-5").model(api_key="k"),
     "langchain-anthropic", "langchain"),
    ("langchain_openai", lambda r: to_langchain(r, "openai/gpt-5.6").model(api_key="k"), "langchain-openai",
     "langchain"),
    ("pydantic_ai", lambda r: to_pydantic_ai(r), "pydantic-ai-slim", "pydantic-ai"),
    ("agents", lambda r: to_openai_agents(r), "openai-agents", "openai-agents"),
]


@pytest.mark.parametrize("blocked,call,package,extra", CASES, ids=[c[0] for c in CASES])
def test_a_missing_framework_is_a_coded_error_naming_the_extra(blocked, call, package, extra, turns, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, blocked, None)
    with pytest.raises(IntegrationExtraMissing) as err:
        call(turns[0])
    e = err.value
    assert isinstance(e, PromptcError) and isinstance(e, ImportError)  # `except ImportError` keeps working
    assert e.code == "E529" and lookup("E529").name == "integration-extra-missing"
    assert str(e).splitlines() == [f"error[E529]: {str(e).splitlines()[0].split(': ', 1)[1]}",
                                   f"   = hint: pip install 'promptc[{extra}]'"]
    assert f"`{package}`, which is not installed" in str(e)
    assert e.__cause__ is None and e.__suppress_context__  # no chained traceback from deep inside


def test_the_named_extras_exist_in_the_package_metadata():
    """The extra each diagnostic names installs the package it says is missing (directly, or as a
    requirement of one it lists: langchain-core comes with langchain-anthropic)."""
    import re
    import tomllib
    from importlib.metadata import requires

    from .conftest import REPO

    def name(requirement):
        return re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0]

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for _, _, package, extra in CASES:
        listed = {name(d) for d in extras[extra]}
        assert package in listed or any(package in {name(r) for r in requires(d) or []} for d in listed), \
            (extra, package)
