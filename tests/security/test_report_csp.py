"""Extra of issue 22: the report page carries a Content-Security-Policy that allows only its own
inline script (by hash) and loads nothing. Checked two ways: the hash against an independent
sha256 of the script the page holds, and in a real Chromium, where markup injected into the page
(as escaping would have had to miss it) runs no script while the page's own script still runs."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from promptc.compiler.build import compile_project
from promptc.report import prefix_map, render_html
from tests.report.conftest import REPO, browser  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def page_html() -> str:
    plans = dict(compile_project([REPO / "examples" / "team"]).raise_on_error().plans)
    return render_html(prefix_map(plans))


def test_the_policy_hashes_the_one_inline_script(page_html):
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page_html).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page_html, flags=re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert not re.search(r"\son[a-z]+=", page_html)  # no inline event handler (the hash would not cover it)


def test_injected_markup_runs_nothing_in_a_browser(page_html, browser, tmp_path):  # noqa: F811
    hostile = ('<script>document.title="pwned-script"</script>'
               '<img src=x onerror="document.title=\'pwned-img\'">'
               '<svg><a href="javascript:document.title=\'pwned-link\'"><text>x</text></a></svg>')
    path = tmp_path / "report.html"
    path.write_text(page_html.replace("<h1>", hostile + "<h1>", 1), encoding="utf-8")
    page = browser.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert not page.title().startswith("pwned")
    assert violations  # Chromium reports the blocked script
    # the page's own script still runs: clicking a segment fills the details panel
    before = page.inner_text("#details")
    page.click("#map a.seg >> nth=0")
    assert page.inner_text("#details") != before
    page.close()
