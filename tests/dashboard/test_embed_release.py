"""The public embeds read the release records only, over real HTTP (waitress on 127.0.0.1, the real
dashboard server, a real DuckDB store): crafted embed requests never bring out an unreleased, withheld
or superseded value, and each value shows its release status in Chinese first."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from pathlib import Path

import pandas as pd
import pytest
import requests
import waitress

from dashboard.server import close_server, create_server, dash_callback_body
from envtrust import release
from envtrust.settings import load_settings

spec = importlib.util.spec_from_file_location("public_fixture", Path(__file__).with_name("public_fixture.py"))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)

LATEST = fixture.LATEST
EXTRA = LATEST  # the hour of 1002A whose values we craft below
UNPUBLISHED = 321.4      # a valid reading added after the release step: no release record
WITHHELD = 654.3         # published, then withheld (confirmed interference)
SUPERSEDED = 777.7       # published, then corrected to CORRECTED
CORRECTED = 12.5
#: values that must never be shown: the calibration hour (flag M), the micro-station, the outlet, and the above
NEVER = {999.0, 480.0, 900.0, UNPUBLISHED, WITHHELD, SUPERSEDED}
INTERNAL_WORDS = ("score", "suspect", "suppression", "嫌疑", "干扰", "可信", "ev-1", "run-1", "0.97")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    settings = load_settings(db_path=tmp_path_factory.mktemp("embed-release") / "e.duckdb", secret_key="e" * 64)
    server = create_server(settings)
    con = server.extensions["envtrust"].con
    fixture.fill_public_store(con)
    # 1002A's SO2 and CO at EXTRA carry distinctive values; SO2 is then withheld, CO corrected
    for param, value in (("SO2", WITHHELD), ("CO", SUPERSEDED)):
        con.execute("UPDATE readings SET value = ? WHERE station_id = '1002A' AND ts = ? AND parameter = ?",
                    [value, EXTRA, param])
    fixture.release_public_store(con)
    release.correct_value(con, "1002A", EXTRA, "SO2", None, "ana", "confirmed interference", status="withheld")
    release.correct_value(con, "1002A", EXTRA, "CO", CORRECTED, "ana", "analyser drift corrected")
    con.execute("INSERT INTO readings (station_id, ts, parameter, value, flag) VALUES ('1001A', ?, 'PM2.5', ?, 'N'), "
                "('1002A', ?, 'PM10', ?, 'N')", [LATEST + pd.Timedelta(hours=3), UNPUBLISHED,
                                                 LATEST + pd.Timedelta(hours=4), UNPUBLISHED])
    wsgi = waitress.create_server(server, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{wsgi.effective_port}"
    wsgi.close()
    wsgi.task_dispatcher.shutdown()
    thread.join(timeout=5)
    close_server(server)


def embed(base: str, path: str, search: str = "") -> tuple[int, str]:
    body = dash_callback_body("embed-page.children", [
        {"id": "embed-url", "property": "pathname", "value": path},
        {"id": "embed-url", "property": "search", "value": search},
    ])
    answer = requests.post(base + "/embed/_dash-update-component", data=body, headers=JSON, timeout=60)
    return answer.status_code, json.dumps(answer.json(), ensure_ascii=False) if answer.ok else answer.text


CRAFTED_PATHS = [
    "/embed/map", "/embed/station/1001A", "/embed/station/1002A", "/embed/station/W0001",
    "/embed/station/M0001", "/embed/station/P0001", "/embed/station/1001A' OR '1'='1",
    "/embed/station/1001A%27%20OR%201%3D1--", "/embed/station/../../app/", "/embed/station/%2e%2e%2fscores",
    "/embed/events", "/embed/scores", "/embed/station/1002A/../../events",
    "/embed/ranking", "/embed/water",  # read the time-sorted copy of the release records (release_by_ts)
]


@pytest.mark.parametrize("path", CRAFTED_PATHS)
@pytest.mark.parametrize("search", ["", "?lang=en", "?lang=en&station=M0001&table=readings"])
def test_crafted_embed_requests_show_no_unreleased_value(live, path, search):
    status, text = embed(live, path, search)
    assert status == 200, text[:200]
    shown = {float(n) for n in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", text)}
    assert not shown & NEVER, (path, shown & NEVER)
    for word in INTERNAL_WORDS:
        assert word not in text.lower(), (path, word)


def test_station_card_shows_each_value_with_its_status_in_chinese(live):
    _, text = embed(live, "/embed/station/1001A")
    assert "发布状态" in text and "实时发布（未经审核）" in text  # the latest hour is preliminary
    assert "不予发布" in text  # its NO2 was withheld: listed without a value
    assert "最近 30 天" in text and "最近 24 小时" in text
    _, english = embed(live, "/embed/station/1001A", "?lang=en")
    assert "preliminary (not yet audited)" in english and "withheld" in english


def test_corrected_value_shows_its_current_version_only(live):
    _, text = embed(live, "/embed/station/1002A")
    assert f"{CORRECTED} mg/m" in text and str(SUPERSEDED) not in text
    assert "已审核" in text  # the audited hours of the last 24 h
    assert "不予发布" in text  # SO2 of the latest hour


def test_the_map_names_the_release_status(live):
    _, text = embed(live, "/embed/map")
    assert "实时发布（未经审核）" in text
