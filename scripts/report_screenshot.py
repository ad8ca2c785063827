"""Regenerate docs/img/team-report.png, the README's picture of the team example's cache map.

    python scripts/report_screenshot.py [--out docs/img/team-report.png] [--dark]

Renders the report of examples/team exactly as `promptc report examples/team` does, opens it in
headless Debian `chromium` (through Playwright; no browser is downloaded) and captures the
summary and the map.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def screenshot(out: Path, dark: bool = False) -> Path:
    """Write the PNG of the team example's map to ``out``."""
    from playwright.sync_api import sync_playwright

    from promptc.report import compile_plans, prefix_map, render_html

    exe = shutil.which("chromium")
    if exe is None:
        sys.exit("chromium is not installed (scripts/setup.sh installs it with apt-get)")
    html = render_html(prefix_map(compile_plans([str(REPO / "examples" / "team")])))
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "team-report.html"
        page_file.write_text(html, encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1120, "height": 700}, device_scale_factor=1,
                                    color_scheme="dark" if dark else "light")
            page.goto(page_file.as_uri())
            top = page.locator("h1").bounding_box()
            bottom = page.locator("#details").bounding_box()
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), clip={"x": 0, "y": top["y"] - 12, "width": 1120,
                                                 "height": bottom["y"] + bottom["height"] - top["y"] + 24})
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "team-report.png")
    ap.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = ap.parse_args()
    print(f"wrote {screenshot(args.out, args.dark)}")


if __name__ == "__main__":
    main()
