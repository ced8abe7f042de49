"""Browser test (Playwright + Debian chromium): the API's interactive docs page renders every
operation from /api/v1/openapi.json, runs a call with "Try it out", and loads nothing from any
other host (the Swagger UI files are served locally: the page works offline)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import waitress

from dashboard.server import close_server, create_server
from envtrust import release
from envtrust.settings import load_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FIXTURE = Path(__file__).resolve().parent.parent / "envtrust" / "release_fixture.py"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("release_fixture", FIXTURE)
    fixture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture)
    settings = load_settings(db_path=tmp_path_factory.mktemp("docs") / "d.duckdb", secret_key="d" * 64)
    server = create_server(settings)
    con = server.extensions["envtrust"].con
    fixture.fill_release_store(con)
    release.publish_preliminary(con, "2017-01-01", "2017-01-11")
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def test_docs_page_lists_the_operations_and_tries_one_offline(live, tmp_path):
    from playwright.sync_api import sync_playwright

    hosts: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc) if r.url.startswith("http") else None)
            page.goto(live + "/api/v1/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            assert {"/api/v1/measurements", "/api/v1/latest", "/api/v1/rankings/cities",
                    "/api/v1/measurements/history"} <= {t.strip().replace("\u200b", "") for t in paths}
            page.locator("#operations-api_v1-get_api_v1_parameters .opblock-summary").click()
            page.locator("button.try-out__btn").click()
            page.locator("button.execute").click()
            page.wait_for_selector(".live-responses-table tr.response .response-col_status", timeout=30_000)
            status = page.locator(".live-responses-table tr.response .response-col_status").first.inner_text()
            assert status.strip().startswith("200")
            assert "PM2.5" in page.locator(".live-responses-table .microlight").first.inner_text()
            page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)
        finally:
            browser.close()
    assert hosts == {urlsplit(live).netloc}, f"requests to other hosts: {hosts}"
