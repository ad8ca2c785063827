"""Every docs/integrations/*.md page's Python examples run, against the simulator, and each prints exactly
the output the page shows after it (the n-th ```python block, the n-th ```text block)."""

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
    from promptc.runtime.sim.bedrock_api import SIM_AWS_CREDENTIALS

    text = page.read_text()
    codes, shown = blocks(text, "python"), blocks(text, "text")
    assert codes and len(codes) == len(shown), "each example is followed by the output it prints"
    (tmp_path / "examples").symlink_to(REPO / "examples")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "docs-example"\n\n'
        + "".join(f'\n[tool.promptc.cache_limits."{p}/"]\nmin_tokens = {LOW_MIN}\n'
                  for p in ("anthropic", "openai", "bedrock", "gemini")))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", sim.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-sim")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price list
    monkeypatch.setenv("OPENAI_BASE_URL", sim.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sim")
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")  # the Agents SDK exports no traces
    key, secret = next(iter(SIM_AWS_CREDENTIALS.items()))  # Bedrock: the simulator's credentials, no other source
    for var, value in {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-west-2",
                       "AWS_REGION_NAME": "us-west-2", "AWS_BEDROCK_RUNTIME_ENDPOINT": sim.url,
                       "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": sim.url, "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-keys")}.items():
        monkeypatch.setenv(var, value)
    for code, expected in zip(codes, shown):
        sim.advance(2 * 3600 + 1)  # the module's simulator: expire what an earlier example cached (1h TTL)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(page), "exec"), {"__name__": "__docs__"})
        assert out.getvalue() == expected


def test_every_integration_has_a_page():
    # a page is named after its module, with "-" for "_" (pydantic_ai.py → pydantic-ai.md)
    modules = {p.stem.replace("_", "-") for p in (REPO / "promptc" / "integrations").glob("*.py")} - {"--init--"}
    assert modules | {"sdk"} == {p.stem for p in PAGES}
