"""The assessment and contractor pages in a real browser (Debian chromium via Playwright) on a real
server and store: the sample's Beijing stations assessed by county with one engine event confirmed
as interference by a case (a penalty decision), and the seeded contractor season. ``ENVTRUST_SCREENSHOTS=docs/screenshots`` writes
assessment.png and contractors.png."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FX = _module("internal_fixture")
BROWSER = _module("test_browser_internal")
browser = BROWSER.browser
page = BROWSER.page
BEIJING = [f"{n}A" for n in range(1001, 1013)]


def _confirm_by_case(con, event_id: str) -> None:
    """A case from the event, walked to a penalty decision: what confirms interference."""
    from envtrust import cases

    case_id = cases.open_case(con, "ana", "analyst", "东四 PM2.5 压低", event_ids=[event_id], legal_type="tampering")
    steps = [("transfer_clue", "analyst", {}), ("accept", "enforcement", {}),
             ("decide_penalty", "enforcement", {"finding": "采样头被堵", "penalty": "罚款", "legal_basis": "大气法"})]
    for version, (action, role, fields) in enumerate(steps, start=1):
        cases.transition(con, case_id, action, actor="u", role=role, expected_version=version, fields=fields)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from werkzeug.serving import make_server

    from analytics.standards.penalty import resolve_policy
    from dashboard.server import close_server, create_server
    from data.store import connect
    from envtrust.assessment import run_assessment
    from envtrust.contractors import build_demo_contractors
    from envtrust.settings import load_settings

    db = FX.build_internal_store(tmp_path_factory.mktemp("accountability") / "store.duckdb")
    con = connect(db)
    try:
        from data.stations import load_stations, upsert_stations
        from geo.admin import assign_admin

        air = load_stations(con, "air_station")[["station_id", "name", "kind", "lon", "lat"]]
        coded = assign_admin(air)
        upsert_stations(con, coded[[c for c in coded.columns if c in ("station_id", "name", "kind", "lon", "lat",
                                    "province_code", "province", "city_code", "city", "county_code", "county")]])
        _confirm_by_case(con, "ev-dongsi")
        build_demo_contractors(con, pd.Timestamp("2016-11-30 16:00"), FX.SAMPLE_LAST_UTC, seed=7, beijing_air=BEIJING)
        run_assessment(con, "2016-12", "county", resolve_policy("jinan-2018"))
    finally:
        con.close()
    app = create_server(load_settings(db_path=db, secret_key="c" * 64))
    active = BROWSER.InFlight(app)
    http = make_server("127.0.0.1", 0, active, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(timeout=10)
    active.wait_idle(timeout_s=15)
    close_server(app)


def test_assessment_page_shows_map_table_and_rank_changes(page, base_url):
    page.goto(f"{base_url}/app/assessment")
    page.wait_for_selector("#assessment-grid .ag-row", timeout=60_000)
    page.wait_for_selector("#assessment-map .js-plotly-plot", timeout=60_000)
    assert "考核排名" in page.inner_text("h2")
    rows = page.locator("#assessment-grid .ag-center-cols-container .ag-row")
    assert rows.count() >= 8
    text = page.inner_text("#assessment-grid")
    assert "东城区" in text and "干扰" in text  # Dongsi's confirmed interference hours are named
    assert "jinan-2018" in page.inner_text("#assessment-run")
    BROWSER.screenshot(page, "assessment")
    assert page.outside_requests == []


def test_contractor_page_ranks_the_drifting_operator_last(page, base_url):
    page.goto(f"{base_url}/app/contractors")
    page.wait_for_selector("#contractors-grid .ag-row", timeout=60_000)
    last = page.locator("#contractors-grid .ag-center-cols-container .ag-row[row-index='3']")
    assert "信远环保" in last.inner_text() and "比对合格率" in last.inner_text()
    assert "旧城环保" in page.inner_text("#contractors-blacklist")
    credit = page.inner_text("#contractors-credit")
    assert "警示" in credit and "warning" not in credit                  # the zh page speaks Chinese
    labs = page.inner_text("#contractors-labs")
    assert "83.8%" in labs and "0.838" not in labs                       # pass rates as percentages
    assert "低于网络均值" in last.inner_text() and "below" not in last.inner_text()
    BROWSER.screenshot(page, "contractors")
    assert page.outside_requests == []
