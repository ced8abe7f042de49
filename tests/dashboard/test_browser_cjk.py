"""Chinese renders with real glyphs in the browser (Debian chromium via Playwright), not tofu boxes.

The dashboards label stations, parameters and releases in Chinese; on a machine without a CJK font
chromium draws every Han character as the same empty box, and screenshots and browser tests look
fine to a script while showing nothing to a person. ``make test`` installs Debian ``fonts-noto-cjk``
beside chromium; this test fails on a machine without it.

Two checks on a page that uses the dashboards' own font stack (from ``dashboard/assets/internal.css``):
chromium reports a CJK font as the platform font that drew the text (DevTools protocol
``CSS.getPlatformFontsForNode``), and distinct characters draw distinct pixels, none of them equal
to the drawing of a code point no font has.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INTERNAL_CSS = Path(__file__).resolve().parents[2] / "dashboard" / "assets" / "internal.css"
#: words the dashboards show (the embed title, parameter and role labels)
CHINESE = "实时空气质量与水质 细颗粒物 氨氮 入境断面"
#: a private-use code point of plane 16: no font in the test image has a glyph for it
MISSING = "\U0010fffd"


def _app_font_stack() -> str:
    match = re.search(r"body\s*\{[^}]*font-family:\s*([^;]+);", INTERNAL_CSS.read_text(encoding="utf-8"))
    assert match, f"no body font-family in {INTERNAL_CSS}"
    return match.group(1).strip()


def _page_html(font_stack: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'></head>"
            f"<body style='margin:16px;font-family:{font_stack};font-size:32px'>"
            f"<p id='zh'>{CHINESE}</p><canvas id='c' width='64' height='64'></canvas></body></html>")


# draws one string on the canvas in the page's font and returns its pixels as a string
_GLYPH_PIXELS = """([text, font]) => {
  const canvas = document.getElementById('c');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = font;
  ctx.fillStyle = '#000';
  ctx.textBaseline = 'top';
  ctx.fillText(text, 8, 8);
  return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data).join(',');
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def test_chinese_renders_with_a_cjk_font_not_tofu(browser, tmp_path):
    font_stack = _app_font_stack()
    context = browser.new_context(viewport={"width": 900, "height": 240})
    page = context.new_page()
    try:
        page.set_content(_page_html(font_stack))
        page.evaluate("document.fonts.ready")

        cdp = context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#zh"})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        cjk = [f for f in fonts if "CJK" in f["familyName"]]
        assert cjk, f"Chinese drawn without a CJK font (install fonts-noto-cjk: make chromium): {fonts}"
        han = sum(1 for ch in CHINESE if not ch.isspace())
        assert sum(f["glyphCount"] for f in cjk) >= han

        canvas_font = f"32px {font_stack}"
        missing = page.evaluate(_GLYPH_PIXELS, [MISSING, canvas_font])
        drawn = {ch: page.evaluate(_GLYPH_PIXELS, [ch, canvas_font]) for ch in dict.fromkeys("实空气质氨氮")}
        assert all(pixels != missing for pixels in drawn.values()), "a Han character is drawn as the missing glyph"
        assert len(set(drawn.values())) == len(drawn), "distinct Han characters draw the same box"

        path = tmp_path / "cjk-text.png"
        page.screenshot(path=str(path))
        target = os.environ.get("ENVTRUST_SCREENSHOT_DIR")
        if target:
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / path.name)
    finally:
        context.close()
