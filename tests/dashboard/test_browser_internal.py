"""The internal dashboard in a real browser (Debian chromium via Playwright), served by the real server.

Few and solid: the situation map renders its layers offline, a click on a station opens its page,
the event table filters, the language switch works. Any request to a host other than the test
server is blocked and recorded, so "offline" is checked, not assumed.

Set ``ENVTRUST_SCREENSHOTS=docs/screenshots`` to also write the desktop screenshots of each page.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1440, "height": 900}


def _fixture_module():
    spec = importlib.util.spec_from_file_location("internal_fixture", Path(__file__).with_name("internal_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FX = _fixture_module()


class InFlight:
    """WSGI wrapper counting requests being served, so teardown can wait for them."""

    def __init__(self, app):
        self.app = app
        self.count = 0
        self.lock = threading.Condition()

    def __call__(self, environ, start_response):
        with self.lock:
            self.count += 1
        try:
            return list(self.app(environ, start_response))
        finally:
            with self.lock:
                self.count -= 1
                self.lock.notify_all()

    def wait_idle(self, timeout_s: float) -> None:
        with self.lock:
            self.lock.wait_for(lambda: self.count == 0, timeout=timeout_s)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from werkzeug.serving import make_server

    from dashboard.server import close_server, create_server
    from envtrust.record.service import ensure_signing_key
    from envtrust.settings import load_settings

    db = FX.build_internal_store(tmp_path_factory.mktemp("browser") / "store.duckdb")
    settings = load_settings(db_path=db, secret_key="b" * 64)
    ensure_signing_key(settings)  # the recording page signs checkpoints
    app = create_server(settings)
    active = InFlight(app)
    http = make_server("127.0.0.1", 0, active, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)
    active.wait_idle(timeout_s=15)  # a callback still running must finish before the store closes
    close_server(app)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, base_url):
    """A logged-in analyst's page; requests leaving the test server are aborted and recorded."""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    outside: list[str] = []
    host = urlsplit(base_url).netloc

    def guard(route):
        url = route.request.url
        if urlsplit(url).netloc == host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.outside_requests = outside
    pg.goto(f"{base_url}/login")
    pg.fill("#username", FX.ANALYST[0])
    pg.fill("#password", FX.ANALYST[1])
    pg.click("button[type=submit]")
    pg.wait_for_url(f"{base_url}/app/**")
    yield pg
    context.close()


def screenshot(pg, name: str) -> None:
    folder = os.environ.get("ENVTRUST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        pg.wait_for_timeout(1500)
        pg.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


MAP_STATE_JS = """() => {
  const gd = document.querySelector('#situation-map .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullLayout.map) return null;
  const ids = [];
  for (const tr of gd.data) for (const c of (tr.customdata || [])) ids.push(c[0]);
  return {style: gd._fullLayout.map.style, layers: gd._fullLayout.map.layers.length,
          traces: gd.data.length, ids: ids};
}"""


def wait_for_map(pg):
    pg.wait_for_selector("#situation-map .maplibregl-canvas", timeout=30_000)
    pg.wait_for_function(f"({MAP_STATE_JS})() && ({MAP_STATE_JS})().traces > 0", timeout=30_000)
    pg.wait_for_function("""() => { const gd = document.querySelector('#situation-map .js-plotly-plot');
        const m = gd._fullLayout.map._subplot.map; return m.loaded() && m.areTilesLoaded(); }""", timeout=30_000)
    return pg.evaluate(MAP_STATE_JS)


def test_situation_map_renders_layers_offline(page):
    state = wait_for_map(page)
    assert state["style"] == "white-bg"
    assert state["layers"] >= 2  # admin boundaries and rivers from our own GeoJSON
    assert {"1003A", "W9001", "P9001", "M9001"} <= set(state["ids"])
    drawn = page.evaluate("""() => { const gd = document.querySelector('#situation-map .js-plotly-plot');
        const m = gd._fullLayout.map._subplot.map;
        return m.getStyle().layers.filter(l => l.source && String(l.source).includes('source')).length; }""")
    assert drawn >= 2
    assert page.locator("#headline-capture .card-value").inner_text().endswith("%")
    assert page.outside_requests == []
    screenshot(page, "situation")


def test_click_on_station_opens_its_page(page, base_url):
    wait_for_map(page)
    xy = page.evaluate("""() => {
        const gd = document.querySelector('#situation-map .js-plotly-plot');
        const m = gd._fullLayout.map._subplot.map;
        const p = m.project([116.3621, 39.8784]);  // 1001A Wanshouxigong
        const r = m.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""")
    page.mouse.move(xy[0], xy[1])
    page.wait_for_timeout(300)
    page.mouse.click(xy[0], xy[1])
    page.wait_for_url(f"{base_url}/app/station/1001A", timeout=15_000)
    page.wait_for_selector("#station-series .main-svg", timeout=30_000)
    assert "万寿西宫" in page.locator("#station-heading").inner_text()
    assert page.outside_requests == []


def test_event_table_filters(page, base_url):
    page.goto(f"{base_url}/app/events")
    rows = page.locator("#explorer-grid .ag-center-cols-container .ag-row")
    rows.first.wait_for(timeout=30_000)
    assert rows.count() == 2
    page.fill("#explorer-quick", "SO2")
    page.wait_for_function("""() => document.querySelectorAll(
        '#explorer-grid .ag-center-cols-container .ag-row').length === 1""", timeout=15_000)
    assert "1012A" in rows.first.inner_text()
    page.fill("#explorer-quick", "")
    page.wait_for_function("""() => document.querySelectorAll(
        '#explorer-grid .ag-center-cols-container .ag-row').length === 2""", timeout=15_000)
    page.fill("#explorer-min-score", "0.9")
    page.press("#explorer-min-score", "Enter")  # server-side filter
    page.wait_for_function("""() => document.querySelectorAll(
        '#explorer-grid .ag-center-cols-container .ag-row').length === 1""", timeout=15_000)
    assert "1003A" in rows.first.inner_text()
    assert "1" in page.locator("#explorer-count").inner_text()
    page.fill("#explorer-min-score", "")
    page.press("#explorer-min-score", "Enter")
    page.wait_for_function("""() => document.querySelectorAll(
        '#explorer-grid .ag-center-cols-container .ag-row').length === 2""", timeout=15_000)
    screenshot(page, "events")
    page.locator("#explorer-grid .ag-center-cols-container .ag-row").first.locator(".ag-cell").nth(2).click()
    page.wait_for_url(f"{base_url}/app/station/1003A?event=ev-dongsi", timeout=15_000)
    page.wait_for_selector("#station-series .main-svg", timeout=30_000)
    page.wait_for_selector("#station-analysis .main-svg", timeout=30_000)
    screenshot(page, "station")
    page.get_by_text("风向玫瑰浓度图").click()  # polar plot tab (Beijing data has wind)
    page.wait_for_function("""() => { const gd = document.querySelector('#station-analysis .js-plotly-plot');
        return gd && gd.data && gd.data.length && gd.data[0].type === 'barpolar'; }""", timeout=30_000)
    screenshot(page, "station_polar")


def test_language_switch(page):
    nav = page.locator("#shell-nav-situation")
    nav.wait_for()
    page.wait_for_function("() => document.querySelector('#shell-nav-situation').innerText.trim() !== ''")
    assert nav.inner_text() == "态势一张图"
    wait_for_map(page)
    page.check("#situation-resolution input[value=day]")  # a choice that must survive the switch
    page.wait_for_function("""() => /^\\d{4}-\\d{2}-\\d{2} \\(/.test(
        document.querySelector('#situation-time-label').innerText)""", timeout=30_000)
    page.click("#shell-lang-button")
    page.wait_for_function("() => document.querySelector('#shell-nav-situation').innerText === 'Situation map'")
    page.wait_for_function("""() => /^\\d{4}-\\d{2}-\\d{2} \\(Local time\\)$/.test(
        document.querySelector('#situation-time-label').innerText)""", timeout=30_000)
    assert page.is_checked("#situation-resolution input[value=day]")
    page.wait_for_function("() => document.body.innerText.includes('Data capture rate')", timeout=30_000)
    state = wait_for_map(page)
    assert state["traces"] > 0
    legend = page.evaluate("""() => document.querySelector('#situation-map .js-plotly-plot').data
        .map(t => t.name).join('|')""")
    assert "Air stations" in legend
    screenshot(page, "situation_en")
    page.click("#shell-lang-button")
    page.wait_for_function("() => document.querySelector('#shell-nav-situation').innerText === '态势一张图'")


def test_record_page_saves_an_interference(page, base_url):
    """The station head records a phone call (口头) and sees it listed, in Chinese."""
    page.goto(f"{base_url}/app/record")
    page.wait_for_selector("#record-name", timeout=30_000)
    assert "干预留痕" in page.locator("h2").first.inner_text()
    page.fill("#record-name", "王五")
    page.fill("#record-post", "副县长")
    page.fill("#record-unit", "某县人民政府")
    page.get_by_label("口头").check()
    page.fill("#record-occurred-at", "2026-03-01T09:30")
    page.fill("#record-content", "电话要求关注东四站的数据")
    page.fill("#record-stations", "1003A")
    page.click("#record-save")
    page.wait_for_function("() => document.querySelector('#record-status').innerText.includes('已记录')",
                           timeout=30_000)
    table = page.locator("#record-list").inner_text()
    assert "王五" in table and "副县长" in table and "口头" in table and "2026-03-01 09:30" in table
    assert page.outside_requests == []
    screenshot(page, "record")
