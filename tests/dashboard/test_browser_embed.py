"""Browser tests (Playwright + Debian chromium) of the public embeds and the login redirect.

A host page on another origin (standing in for a bureau's website) frames /embed/map; the embed must render its
offline map, show no internal wording, and make no request to any third party. The request body a
logged-in browser really sends to an internal callback is captured and replayed from the public
side, which must be refused. Screenshots go to ``tmp_path`` (and to $ENVTRUST_SCREENSHOT_DIR if set).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import waitress

from dashboard.server import close_server, create_server
from data.users import add_user
from envtrust.settings import load_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser-test-pass"
INTERNAL_WORDS = ("score", "event", "suspect", "suppression", "可信", "嫌疑", "干扰", "事件")


def _load_fixture_module():
    spec = importlib.util.spec_from_file_location("public_fixture", Path(__file__).with_name("public_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The real server (the internal app + the embeds) behind waitress on an ephemeral port."""
    settings = load_settings(db_path=tmp_path_factory.mktemp("browser") / "b.duckdb", secret_key="b" * 64)
    server = create_server(settings)
    con = server.extensions["envtrust"].con
    fixture = _load_fixture_module()
    fixture.fill_public_store(con)
    fixture.release_public_store(con)
    add_user(con, "ana", PASSWORD, "analyst")
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=6)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _save(page_or_frame, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    page_or_frame.screenshot(path=str(path))
    target = os.environ.get("ENVTRUST_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def _host_page(embed_url: str, height: str) -> str:
    return (f"<!doctype html><html><head><meta name='viewport' content='width=device-width'></head>"
            f"<body style='margin:0'><h1 style='font:16px sans-serif'>Bureau website</h1>"
            f"<iframe id='aq' src='{embed_url}' style='width:100%;height:{height};border:0'></iframe>"
            f"</body></html>")


@pytest.fixture(scope="module")
def host_site():
    """A second local web site (another origin: its own port) whose page frames an embed.

    The page is /news.html?src=<embed URL>&h=<iframe height>; a real server (not a routed fake)
    so Chromium treats both origins as local network and allows the framing.
    """
    from urllib.parse import parse_qs

    def app(environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        body = _host_page(query["src"][0], query.get("h", ["600px"])[0]).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    wsgi = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)


def _open_framed(browser, live: str, host: str, embed_path: str, viewport: dict, height: str):
    from urllib.parse import urlencode

    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    page.goto(f"{host}/news.html?" + urlencode({"src": live + embed_path, "h": height}))
    frame = page.frame_locator("#aq")
    return context, page, frame, requested


def _embed_frame(page):
    return next(f for f in page.frames if "/embed/" in f.url)


def test_framed_map_renders_offline_without_internal_content(browser, live, host_site, tmp_path):
    host = host_site
    context, page, frame, requested = _open_framed(browser, live, host, "/embed/map", {"width": 1200, "height": 800},
                                                   "640px")
    try:
        frame.locator(".maplibregl-canvas").first.wait_for(timeout=30_000)
        frame.locator(".scatterlayer, .js-plot-link-container, .main-svg").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # let the offline layers draw
        embed = _embed_frame(page)
        text = embed.evaluate("document.body.innerText")
        assert "实时空气质量与水质" in text
        html = embed.content().lower()
        for word in INTERNAL_WORDS:
            assert word not in text.lower(), word
        for word in ("score", "嫌疑", "可信", "shell-", "situation-", "explorer-"):
            assert word not in html, word
        third_party = [u for u in requested if urlsplit(u).scheme in ("http", "https")
                       and not u.startswith((live + "/embed/", host + "/news.html"))]
        assert third_party == []
        assert any("/embed/layers/provinces.geojson" in u for u in requested)
        _save(page, "embed-map-desktop.png", tmp_path)
    finally:
        context.close()


def test_phone_width_embed_sizes_to_the_iframe(browser, live, host_site, tmp_path):
    context, page, frame, _ = _open_framed(browser, live, host_site, "/embed/map?lang=en", {"width": 390, "height": 844},
                                           "560px")
    try:
        frame.locator(".maplibregl-canvas").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        embed = _embed_frame(page)
        assert "Air and water quality now" in embed.evaluate("document.body.innerText")
        width = embed.evaluate("document.querySelector('.maplibregl-canvas').getBoundingClientRect().width")
        height = embed.evaluate("document.querySelector('.js-plotly-plot').getBoundingClientRect().height")
        assert 330 <= width <= 390 and height > 300
        assert embed.evaluate("document.documentElement.scrollWidth") <= 390
        _save(page, "embed-map-phone.png", tmp_path)
    finally:
        context.close()


def test_station_card_in_phone_iframe(browser, live, host_site, tmp_path):
    context, page, frame, _ = _open_framed(browser, live, host_site, "/embed/station/1001A", {"width": 390, "height": 700},
                                           "420px")
    try:
        frame.locator(".embed-badge").wait_for(timeout=30_000)
        frame.locator("#embed-chart-24h .js-plotly-plot, #embed-chart-24h.js-plotly-plot").first.wait_for(timeout=30_000)
        frame.locator("#embed-chart-30d .js-plotly-plot, #embed-chart-30d.js-plotly-plot").first.wait_for(timeout=30_000)
        embed = _embed_frame(page)
        text = embed.evaluate("document.body.innerText")
        assert "万寿西宫" in text and "首要污染物" in text
        assert "发布状态" in text and "不予发布" in text  # each value with its release status
        assert embed.evaluate("document.documentElement.scrollWidth") <= 390
        for word in INTERNAL_WORDS:
            assert word not in text.lower(), word
        _save(page, "embed-station-phone.png", tmp_path)
    finally:
        context.close()


def test_unauthenticated_visit_lands_on_login(browser, live):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(live + "/app/")
        assert urlsplit(page.url).path == "/login"
        assert page.locator("input[type=password]").count() == 1
    finally:
        context.close()


def test_real_internal_request_replayed_from_public_side_is_refused(browser, live):
    """Log in, capture the exact body the browser POSTs to an internal callback, replay it without
    a session and against the public endpoint: both refused; the logged-in call itself succeeds."""
    context = browser.new_context()
    page = context.new_page()
    captured: list[tuple[str, str]] = []
    page.on("request", lambda req: captured.append((req.url, req.post_data or ""))
            if urlsplit(req.url).path == "/app/_dash-update-component" else None)
    try:
        page.goto(live + "/login?next=/app/")
        page.fill("#username", "ana")
        page.fill("#password", PASSWORD)
        with page.expect_response(lambda r: urlsplit(r.url).path == "/app/_dash-update-component"
                                  and r.status == 200):
            page.click("button[type=submit]")
        assert captured, "the internal app made no callback request"
        body = captured[0][1]
        assert '"output"' in body
        stranger = browser.new_context()
        try:
            api = stranger.request
            headers = {"Content-Type": "application/json"}
            refused_public = api.post(live + "/embed/_dash-update-component", data=body, headers=headers)
            refused_internal = api.post(live + "/app/_dash-update-component", data=body, headers=headers)
            assert refused_public.status == 403
            assert refused_internal.status == 401
        finally:
            stranger.close()
        # even the logged-in browser cannot reach internal outputs through the public endpoint
        with_session = context.request.post(live + "/embed/_dash-update-component", data=body,
                                            headers={"Content-Type": "application/json"})
        assert with_session.status == 403
    finally:
        context.close()
