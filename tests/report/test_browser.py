"""The report in a real headless Chromium: it loads with no console errors and no network request,
the expected segments and numbers are in the DOM (equal to `promptc show`, `promptc lint --format
json` and `promptc trace stats` for the same inputs), and a screenshot is not blank."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageStat

from promptc.cli import cli
from promptc.report import prefix_map, render_html
from promptc.runtime.trace import read_trace, stats
from promptc.show import shared_with
from tests.lint.project import edit, init_repo
from tests.report.conftest import EXAMPLES, REPO


def open_page(browser, html_path: Path, scheme: str = "light"):
    """Load ``html_path``; return (page, console errors, every requested URL)."""
    page = browser.new_page(viewport={"width": 1150, "height": 800}, color_scheme=scheme)
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html_path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


def assert_clean(html_path: Path, errors, requests) -> None:
    assert errors == []
    assert requests == [html_path.as_uri()], "the page requested something besides itself"


def assert_not_blank(page) -> None:
    """Decode the screenshot: many distinct colours and real variance, not one flat fill."""
    img = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= 8
    assert min(ImageStat.Stat(img).stddev) > 10


def dom_nodes(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#segments-table tbody tr",
        "rows => rows.map(r => ({id: r.id, segment: r.dataset.segment, plans: r.dataset.plans.split(' '),"
        " cells: Array.from(r.cells).map(c => c.dataset.v === undefined ? c.textContent : c.dataset.v)}))")


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_reports_load_and_show_every_plan(browser, example_plans, example, tmp_path):
    plans = example_plans[example]
    pm = prefix_map(plans)
    out = tmp_path / f"{example}.html"
    out.write_text(render_html(pm), encoding="utf-8")
    page, errors, requests = open_page(browser, out)
    try:
        assert_clean(out, errors, requests)
        # every segment of every plan is a node of the map, with the shared-with of `promptc show`
        rows = {(r["segment"], tuple(r["plans"])): r for r in dom_nodes(page)}
        for name, plan in plans.items():
            others = [p for n, p in plans.items() if n != name]
            for seg, shared in zip(plan.segments, shared_with(plan, others)):
                plans_here = tuple(sorted([name, *shared])) if seg.prefix_hash else None
                match = [r for (s, ps), r in rows.items() if s == seg.id and name in ps
                         and (plans_here is None or ps == plans_here)]
                assert len(match) == 1, (name, seg.id)
                box = page.locator(f"#box-{match[0]['id'].removeprefix('row-')}")
                assert box.count() == 1
                assert box.get_attribute("data-tokens") == str((seg.tokens or {}).get(pm.target, ""))
            # the lane total is the static prefix `promptc show` prints
            total = page.locator(f'#map text.total[data-plan="{name}"]')
            assert total.get_attribute("data-v") == str((plan.static_tokens or {})[pm.target])
        assert page.locator("#map a.seg").count() == len(pm.nodes())
        assert_not_blank(page)
    finally:
        page.close()


def test_show_prints_the_numbers_the_report_holds(example_plans):
    """`promptc show` (the CLI table) and the report agree on each segment's tokens and the total."""
    plans = example_plans["team"]
    html = render_html(prefix_map(plans))
    out = CliRunner().invoke(cli, ["show", str(REPO / "examples" / "team"), "--plan", "backend"],
                             env={"COLUMNS": "200"}).output
    for seg in plans["backend"].segments:
        n = (seg.tokens or {}).get("engine/smollm2")
        if n is not None:
            assert f"│ {seg.id} " in out.replace("│  ", "│ ") and f" {n} │" in out
            assert f'data-segment="{seg.id}" data-tokens="{n}"' in html
    assert f'data-plan="backend" data-v="{plans["backend"].static_tokens["engine/smollm2"]}"' in html
    assert f" {plans['backend'].static_tokens['engine/smollm2']} │" in out


def test_a_100_plan_project_is_aggregated_and_readable(browser, many, tmp_path):
    root, plans = many
    out = tmp_path / "many.html"
    result = CliRunner().invoke(cli, ["report", str(root), "-o", str(out), "--target", "engine/smollm2"])
    assert result.exit_code == 0, result.output
    page, errors, requests = open_page(browser, out, scheme="dark")
    try:
        assert_clean(out, errors, requests)
        lanes = page.locator("#map text.lane")
        assert lanes.count() == 8  # seven plans and one "+93 more" lane, not a wall of 100
        more = page.locator("#map a.more")
        assert more.count() == 1 and "+93 more plans" in more.text_content()
        assert len(more.get_attribute("data-plans").split()) == 93
        assert page.locator("#plans-table tbody tr").count() == 100  # the table lists them all
        shared = page.locator('#map a.seg[data-segment="tools"]')
        assert shared.count() == 1 and len(shared.get_attribute("data-plans").split()) == 100
        for name in ("p000", "p057", "p099"):
            row = page.locator(f'#plans-table tr[data-plan="{name}"] td')
            assert row.nth(4).get_attribute("data-v") == str(plans[name].static_tokens["engine/smollm2"])
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"  # dark mode
        assert_not_blank(page)
        # readable without JS: the map and tables are in the served HTML itself
        text = out.read_text(encoding="utf-8")
        assert "<svg" in text and 'id="plans-table"' in text and "http" not in text.replace("http-equiv", "")
    finally:
        page.close()


def test_against_a_git_ref_matches_lint_json(browser, tmp_path):
    """--against: the per-plan invalidated tokens and costs, and the findings, are lint's own."""
    repo = init_repo(tmp_path / "repo")
    edit(repo / "backend.prompt", "Write a test for every change.", "Write a test for every behaviour change.")
    runner = CliRunner()
    lint = runner.invoke(cli, ["lint", str(repo), "--against", "HEAD", "--format", "json"])
    expected = json.loads(lint.output)
    assert expected["summary"]["plans"], lint.output
    out = tmp_path / "pr-report.html"
    result = runner.invoke(cli, ["report", str(repo), "--against", "HEAD", "-o", str(out),
                                 "--target", "anthropic/claude-opus-4-8"])
    assert result.exit_code == 0, result.output
    page, errors, requests = open_page(browser, out)
    try:
        assert_clean(out, errors, requests)
        targets = sorted({t for p in expected["summary"]["plans"] for t in p["tokens"]})
        for p in expected["summary"]["plans"]:
            cells = page.locator(f'#impact-table tr[data-plan="{p["plan"]}"] td')
            assert cells.nth(1).inner_text() == p["from_segment"]
            for i, t in enumerate(targets):
                assert cells.nth(2 + i).get_attribute("data-v") == str(p["tokens"][t])
            assert float(cells.nth(2 + len(targets)).get_attribute("data-v")) == p["cost_per_request"]
            # the plan's path is hatched from the changed segment on
            box = page.locator(f'#map a.seg[data-segment="{p["from_segment"]}"]').first
            assert "inval" in box.get_attribute("class") and "✗" in box.text_content()
        assert float(page.locator("#impact b.cost").get_attribute("data-v")) == expected["summary"]["cost_per_request"]
        codes = page.eval_on_selector_all("#findings-table tbody tr", "rs => rs.map(r => r.dataset.code)")
        assert codes == [f["code"] for f in expected["findings"]]
        # each finding with a segment links to that segment's row in the map's table
        for f, link in zip(expected["findings"], page.locator("#findings-table tbody tr").all()):
            if f.get("segment"):
                href = link.locator("td").nth(4).locator("a").get_attribute("href")
                assert page.locator(href).get_attribute("data-segment") == f["segment"]
        # only the changed plan's part is hatched: the shared blocks and the other plans stay cached
        hatched = page.eval_on_selector_all("#map a.seg.inval", "a => a.map(x => x.dataset.plans)")
        assert hatched and set(hatched) == {"backend"}
        assert "inval" not in page.locator('#map a.seg[data-segment="rules"]').get_attribute("class")
        assert_not_blank(page)
    finally:
        page.close()


def test_trace_view_matches_trace_stats(browser, trace_file, example_plans, tmp_path):
    out = tmp_path / "usage.html"
    result = CliRunner().invoke(cli, ["report", str(REPO / "examples" / "team"), "--trace", str(trace_file),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = json.loads(CliRunner().invoke(cli, ["trace", "stats", str(trace_file), "--json"]).output)
    assert expected == stats(read_trace(trace_file))
    page, errors, requests = open_page(browser, out)
    try:
        assert_clean(out, errors, requests)
        for key, p in expected["plans"].items():
            cells = page.locator(f'#trace-plans tr[data-key="{key}"] td')
            got = [cells.nth(i).get_attribute("data-v") for i in range(1, 10)]
            want = [p[k] for k in ("requests", "errors", "hit_rate", "cache_read", "cache_write", "uncached",
                                   "output", "cost", "invalidations")]
            assert got == ["" if v is None else str(v) for v in want]
        for key, s in expected["segments"].items():
            cells = page.locator(f'#trace-segments tr[data-key="{key}"] td')
            assert [cells.nth(1).get_attribute("data-v"), cells.nth(2).get_attribute("data-v")] == \
                [str(s["requests"]), str(s["invalidations"])]
        reasons = page.eval_on_selector_all("#trace-invalidations tbody tr td:nth-child(4)", "c => c.map(x => x.textContent)")
        recs = [r for r in read_trace(trace_file) if "event" not in r and r.get("invalidation")]
        assert reasons == [r["invalidation"]["reason"] for r in recs] and reasons  # the expiries, in order
        assert page.locator('#trace-events tr[data-event="keepwarm"]').count() == 1
        assert page.locator("svg.tl").count() == len(expected["plans"])
        assert page.locator("svg.tl .iv").count() == len(recs)
        assert_not_blank(page)
    finally:
        page.close()


def test_clicking_a_segment_fills_the_details_panel(browser, example_plans, tmp_path):
    """JS only adds interaction: a click shows the segment's row in the details panel."""
    out = tmp_path / "team.html"
    out.write_text(render_html(prefix_map(example_plans["team"])), encoding="utf-8")
    page, errors, requests = open_page(browser, out)
    try:
        page.locator('#map a.seg[data-segment="repo_tools"]').click()
        details = page.locator("#details")
        assert "repo_tools" in details.inner_text() and "shared.prompt:21:1" in details.inner_text()
        assert page.evaluate("location.hash").startswith("#row-n")
        assert_clean(out, errors, [r for r in requests if "#" not in r])
    finally:
        page.close()


def test_the_page_is_complete_without_javascript_and_follows_light_mode(browser, example_plans, tmp_path):
    out = tmp_path / "team.html"
    pm = prefix_map(example_plans["team"])
    out.write_text(render_html(pm), encoding="utf-8")
    context = browser.new_context(java_script_enabled=False, color_scheme="light", viewport={"width": 1150, "height": 800})
    page = context.new_page()
    try:
        page.goto(out.as_uri())
        assert page.locator("#map a.seg").count() == len(pm.nodes())
        assert page.locator("#segments-table tbody tr").count() == len(pm.nodes())
        box = page.locator('#map a.seg[data-segment="rules"]')
        assert "shared.prompt:6:1" in box.locator("title").text_content()  # the tooltip needs no script
        box.click()  # a plain link: the row becomes the :target
        assert page.evaluate("location.hash") == box.get_attribute("href")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        assert_not_blank(page)
    finally:
        context.close()
