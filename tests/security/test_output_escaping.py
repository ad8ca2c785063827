"""Issue 22 items 5 and 6: strings from the project (file names, import strings, suppression
reasons, plan and segment names) are escaped for where they land — a terminal or CI log for
text, ``$GITHUB_STEP_SUMMARY`` (markdown + HTML) for markdown.

The markdown oracle is a real CommonMark/GFM renderer (markdown-it-py, which rich depends on),
not promptc: the rendered HTML must hold no tag, image or link from the project."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from promptc.compiler.build import compile_project
from promptc.core.errors import Diagnostic, Span, printable, render_all
from promptc.lint.formats import render
from promptc.lint.formats.common import code_span, md_text
from promptc.lint.model import Finding, LintReport, Location, PlanSummary, Summary, Suppression
from tests.security.compiler_helpers import project, write  # noqa: F401 (fixtures)

WORKFLOW = "\n::warning file=x.prompt::pwned"
TERMINAL = "\x1b]0;owned\x07\x1b[2J\rcarriage\u202eevil"
HTML = '<img src=x onerror=alert(1)> <a href="https://evil.example">click</a> ![i](https://evil.example/i.png) ' \
       "[link](https://evil.example) <script>alert(1)</script> https://evil.example **bold** | cell"
NAME = "we`ird|na<me>.prompt"


def hostile_report() -> LintReport:
    loc = Location(path=NAME, line=1, col=1, end_line=1, end_col=2, excerpt="x" + TERMINAL + WORKFLOW)
    findings = [
        Finding(code="E901", name="static-segment-changed", severity="error", message="changed" + WORKFLOW + TERMINAL,
                location=loc, plans=["p" + WORKFLOW], notes=["n" + TERMINAL], hint="h" + WORKFLOW),
        Finding(code="E901", name="static-segment-changed", severity="error", message="reviewed " + HTML,
                location=loc, suppressed=Suppression(by="comment", reason=HTML + WORKFLOW)),
    ]
    plans = [PlanSummary(plan="p" + HTML, from_segment="seg`` ` x" + HTML, tokens={"t" + HTML: 3},
                         cost_per_request=0.0, suppressed=False)]
    return LintReport(tool_version="0", baseline="main" + WORKFLOW + "`", baseline_kind="git", findings=findings,
                      summary=Summary(errors=1, warnings=0, infos=0, suppressed=1, plans=plans,
                                      cost_per_request=0.0), notes=["note" + TERMINAL])


def assert_terminal_safe(text: str) -> None:
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    assert not any(line.startswith("::") for line in text.split("\n"))


def test_text_lint_output_escapes_control_characters_and_never_starts_a_workflow_command():
    text = render(hostile_report(), "text")
    assert_terminal_safe(text)
    assert "changed\\n::warning file=x.prompt::pwned\\x1b]0;owned\\x07" in text


def test_a_file_name_starting_with_two_colons_cannot_be_a_workflow_command():
    report = hostile_report()
    f = report.findings[0]
    path = "::warning file=a.prompt::pwned.prompt"
    moved = f.model_copy(update={"location": f.location.model_copy(update={"path": path})})
    report = report.model_copy(update={"findings": [moved]})
    text = render(report, "text")
    assert_terminal_safe(text)
    assert "./::warning file=a.prompt::pwned.prompt:1:1: E901" in text


def test_a_newline_in_an_import_string_cannot_start_a_workflow_command(project):
    write(project, {"main.prompt": 'import "./missing\\n::warning file=a.prompt::pwned\\u001b[2J.prompt"\n'})
    diags = compile_project([project], annotate_tokens=False).diagnostics
    assert diags
    text = render_all(diags)
    assert_terminal_safe(text)
    d = Diagnostic("E101", "bad" + WORKFLOW + TERMINAL, Span("a" + TERMINAL + ".prompt", 1, 2, 1, 4),
                   hint="h" + WORKFLOW, notes=("n" + TERMINAL,), excerpt="ab" + TERMINAL)
    assert_terminal_safe(d.render())


def test_printable_keeps_ordinary_text():
    assert printable("tab\tand ünïcödé — fine") == "tab\tand ünïcödé — fine"
    assert printable("a\nb\r\x1b\u202e") == "a\\nb\\r\\x1b\\u202e"


def rendered_html(md: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)


def test_markdown_summary_holds_no_html_image_or_link_from_the_project():
    md = render(hostile_report(), "markdown")
    html = rendered_html(md)
    for tag in ("<img", "<a ", "<script", "<strong", "<del"):
        assert tag not in html, (tag, html)
    assert html.count("<em>") == 1  # promptc's own *(suppressed: …)*, nothing from the project
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown, as text
    # GFM autolinks bare URLs (markdown-it-py does not without linkify), but never inside code spans
    assert "https://" not in re.sub(r"(`+).*?\1", "", md)
    assert_terminal_safe(md)
    # every table row keeps its cell count: no `|` from the project opened a cell
    for line in md.split("\n"):
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) == 5, line


@pytest.mark.parametrize("s", ["plain", "a`b", "``x``", "`", " lead", "trail ", "p|q", "a\nb", "````" * 3])
def test_code_spans_are_fenced_longer_than_any_backtick_run(s):
    html = rendered_html(code_span(s))
    code = re.fullmatch(r"<p><code>(.*)</code></p>\n", html, flags=re.S)
    assert code, html
    shown = code.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    assert shown.replace("\\|", "|").strip() == s.replace("\n", " ").replace("\\|", "|").strip() or \
        shown.replace("\\|", "|") == s.replace("\n", " ").replace("|", "\\|").replace("\\|", "|")


def test_md_text_renders_literally():
    s = "<b>x</b> *y* [z](http://a) ![i](j) _u_ ~~s~~ `c` &amp; # h"
    html = rendered_html(md_text(s))
    assert html == "<p>" + s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "</p>\n"
