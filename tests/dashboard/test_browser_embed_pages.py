"""Browser tests (Playwright + Debian chromium) of the embed pages users of the national release
platforms expect: the city ranking (by AQI and by composite index), the water sections with their
class and target class, the station card's last 24 h and 30 days, and the data description page.
Each page is framed by another origin's page, as on a bureau's website; Chinese first."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import waitress

from dashboard.server import close_server, create_server
from envtrust.release import set_section_target
from envtrust.settings import load_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


embed_tests = _load("test_browser_embed")
fixture = _load("public_fixture")
browser = embed_tests.browser      # the shared Chromium fixture
host_site = embed_tests.host_site  # the other origin that frames the embeds
INTERNAL_WORDS = embed_tests.INTERNAL_WORDS


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The real server over a released store with two cities and one section target."""
    settings = load_settings(db_path=tmp_path_factory.mktemp("embed-pages") / "p.duckdb", secret_key="p" * 64)
    server = create_server(settings)
    con = server.extensions["envtrust"].con
    fixture.fill_public_store(con)
    con.execute("UPDATE stations SET city = '北京市', province = '北京市', river = '潮河' "
                "WHERE station_id IN ('1001A', 'W0001')")
    con.execute("UPDATE stations SET city = '承德市', province = '河北省' WHERE station_id = '1002A'")
    fixture.release_public_store(con)
    set_section_target(con, "W0001", 3, "test plan", "ana")
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=6)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def _framed(browser, live, host, path, width=1000, height="640px"):
    return embed_tests._open_framed(browser, live, host, path, {"width": width, "height": 800}, height)


def _no_internal_words(text: str) -> None:
    for word in INTERNAL_WORDS:
        assert word not in text.lower(), word


def _rows(frame, table_id: str) -> list[list[str]]:
    return frame.locator(f"#{table_id} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


def test_city_ranking_by_aqi_and_by_composite_index(browser, live, host_site, tmp_path):
    context, page, frame, requested = _framed(browser, live, host_site, "/embed/ranking")
    try:
        frame.locator("#embed-ranking").wait_for(timeout=30_000)
        embed = embed_tests._embed_frame(page)
        text = embed.evaluate("document.body.innerText")
        assert "城市空气质量排名" in text and "2017-01-10" in text  # the latest complete CST day
        by_aqi = _rows(frame, "embed-ranking")
        assert [r[1] for r in by_aqi] == ["承德市", "北京市"]  # 1002A's values are lower: better AQI
        assert [r[0] for r in by_aqi] == ["1", "2"]
        assert all(r[-1] == "实时发布（未经审核）" for r in by_aqi)  # the day has preliminary hours
        aqis = [int(r[2]) for r in by_aqi]
        assert aqis == sorted(aqis)
        frame.locator("#embed-by-composite").click()
        frame.locator("#embed-by-composite.embed-switch-on").wait_for(timeout=30_000)
        by_composite = _rows(frame, "embed-ranking")
        composites = [float(r[5]) for r in by_composite]
        assert composites == sorted(composites) and len(by_composite) == 2
        _no_internal_words(embed.evaluate("document.body.innerText"))
        assert all(urlsplit(u).netloc in (urlsplit(live).netloc, urlsplit(host_site).netloc) for u in requested)
        embed_tests._save(page, "embed-ranking.png", tmp_path)
    finally:
        context.close()


def test_a_bad_ranking_date_is_named_not_crashed(browser, live, host_site):
    context, page, frame, _ = _framed(browser, live, host_site, "/embed/ranking?date=2017-13-45%27%3B--")
    try:
        frame.locator("#embed-bad-date").wait_for(timeout=30_000)
        assert "YYYY-MM-DD" in embed_tests._embed_frame(page).evaluate("document.body.innerText")
    finally:
        context.close()


def test_water_sections_show_class_and_target_class(browser, live, host_site, tmp_path):
    context, page, frame, _ = _framed(browser, live, host_site, "/embed/water")
    try:
        frame.locator("#embed-water").wait_for(timeout=30_000)
        rows = _rows(frame, "embed-water")
        assert len(rows) == 1
        name, river, water_class, target, met, when, status = rows[0]
        assert (name, river, water_class, target, met) == ("古北口", "潮河", "II类", "III类", "达标")
        assert when == "2017-01-10 23:00" and status == "实时发布（未经审核）"
        embed_tests._save(page, "embed-water.png", tmp_path)
    finally:
        context.close()


def test_station_card_has_24_hours_and_30_days(browser, live, host_site, tmp_path):
    context, page, frame, _ = _framed(browser, live, host_site, "/embed/station/1001A", width=390, height="760px")
    try:
        frame.locator("#embed-chart-30d .main-svg").first.wait_for(timeout=30_000)
        frame.locator("#embed-chart-24h .main-svg").first.wait_for(timeout=30_000)
        embed = embed_tests._embed_frame(page)
        text = embed.evaluate("document.body.innerText")
        assert "最近 24 小时" in text and "最近 30 天（日均值）" in text
        bars_24h = embed.evaluate("document.querySelectorAll('#embed-chart-24h .point').length")
        assert bars_24h == 24
        values = _rows(frame, "embed-values")
        assert ["NO2", "—", "不予发布"] in values  # the withheld value has no number
        assert all(r[2] == "实时发布（未经审核）" for r in values if r[0] != "NO2")
        _no_internal_words(text)
        embed_tests._save(page, "embed-station-30d.png", tmp_path)
    finally:
        context.close()


def test_data_description_page(browser, live, host_site, tmp_path):
    context, page, frame, _ = _framed(browser, live, host_site, "/embed/about")
    try:
        frame.locator("#embed-about-licence").wait_for(timeout=30_000)
        text = embed_tests._embed_frame(page).evaluate("document.body.innerText")
        for words in ("数据说明", "实时发布（未经审核）", "已审核", "终审", "不予发布", "ug/m3", "mg/L",
                      "HJ 633-2012", "GB 3095-2012", "GB 3838-2002", "CC-BY-4.0", "/api/v1"):
            assert words in text, words
        english = _framed(browser, live, host_site, "/embed/about?lang=en")
        try:
            english[2].locator("#embed-about-licence").wait_for(timeout=30_000)
            assert "About the data" in embed_tests._embed_frame(english[1]).evaluate("document.body.innerText")
        finally:
            english[0].close()
        embed_tests._save(page, "embed-about.png", tmp_path)
    finally:
        context.close()
