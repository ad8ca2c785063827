"""Every docs/integrations/*.md page's Python example runs, against the simulator, and prints exactly
the output the page shows (its ```text block)."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from .conftest import LOW_MIN, REPO

PAGES = sorted((REPO / "docs" / "integrations").glob("*.md"))


def blocks(text, lang):
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_page_example_runs_and_prints_what_the_page_shows(page, sim, tmp_path, monkeypatch):
    text = page.read_text()
    code, = blocks(text, "python")
    shown, = blocks(text, "text")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "docs-example"\n\n'
        f'[tool.promptc.cache_limits."anthropic/"]\nmin_tokens = {LOW_MIN}\n'
        f'\n[tool.promptc.cache_limits."openai/"]\nmin_tokens = {LOW_MIN}\n')
    monkeypatch.chdir(tmp_path)
    sim.advance(2 * 3600 + 1)  # the module's simulator: expire what an earlier page cached (1h TTL)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-sim")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price list
    monkeypatch.setenv("OPENAI_BASE_URL", sim.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sim")
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")  # the Agents SDK exports no traces
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(page), "exec"), {"__name__": "__docs__"})
    assert out.getvalue() == shown


def test_every_integration_has_a_page():
    # a page is named after its module, with "-" for "_" (pydantic_ai.py → pydantic-ai.md)
    modules = {p.stem.replace("_", "-") for p in (REPO / "promptc" / "integrations").glob("*.py")} - {"--init--"}
    assert modules | {"sdk"} == {p.stem for p in PAGES}
