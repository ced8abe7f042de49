"""The situation map for the case roles: stations with open cases are marked and the headline counts
overdue cases - through the real server's callback endpoint, roles checked there."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboard.internal.ids import ShellIds, SituationIds
from data.store import connect
from data.users import add_user
from envtrust import cases

spec = importlib.util.spec_from_file_location("internal_fixture", Path(__file__).with_name("internal_fixture.py"))
FX = importlib.util.module_from_spec(spec)
spec.loader.exec_module(FX)

OPEN_STATION, CLOSED_STATION = "1001A", "1002A"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from dashboard.server import close_server, create_server
    from envtrust.settings import load_settings

    db = FX.build_internal_store(tmp_path_factory.mktemp("sitcases") / "store.duckdb", map_cache=False)
    con = connect(db)
    add_user(con, "root", "root-password-1", "admin")
    old = datetime.now() - timedelta(days=30)          # found for 30 days: past its 5-working-day clock
    cases.open_case(con, "ana", "analyst", "悬而未决", station_id=OPEN_STATION, now=old)
    cases.open_case(con, "ana", "analyst", "新线索", station_id=OPEN_STATION)
    done = cases.open_case(con, "ana", "analyst", "误报", station_id=CLOSED_STATION, now=old)
    cases.transition(con, done, "dismiss", actor="ana", role="analyst", expected_version=1, reason="校准", now=old)
    cases.transition(con, done, "close", actor="boss", role="leader", expected_version=2, now=old)
    con.close()
    app = create_server(load_settings(db_path=db, secret_key="s" * 64))
    yield app
    close_server(app)


def _map_body(province: str = "") -> str:
    from dashboard.server import dash_callback_body

    return dash_callback_body(
        f"..{SituationIds.MAP}.figure...{SituationIds.HEADLINE}.children...{SituationIds.TIME_LABEL}.children..",
        [{"id": SituationIds.TIME_SLIDER, "property": "value", "value": 983},
         {"id": SituationIds.RESOLUTION, "property": "value", "value": "hour"},
         {"id": SituationIds.LAYERS, "property": "value", "value": ["air_station"]},
         {"id": SituationIds.PROVINCE, "property": "value", "value": province},
         {"id": SituationIds.CITY, "property": "value", "value": ""},
         {"id": SituationIds.COUNTY, "property": "value", "value": ""}],
        [{"id": SituationIds.EXTENT, "property": "data", "value": {"start": "2016-11-30T16:00:00"}},
         {"id": ShellIds.LANG, "property": "data", "value": "zh"}])


def _login(client, username, password):
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def _map(server, user, province: str = ""):
    client = server.test_client()
    _login(client, *user)
    answer = client.post("/app/_dash-update-component", data=_map_body(province), content_type="application/json")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    response = json.loads(answer.get_data(as_text=True))["response"]
    return response[SituationIds.MAP]["figure"], json.dumps(response[SituationIds.HEADLINE]["children"],
                                                             ensure_ascii=False)


def _overdue_card(headline: str) -> str:
    cards = json.loads(headline)
    card = next(c for c in cards if c["props"].get("id") == "headline-overdue_cases")
    return card["props"]["children"][1]["props"]["children"]


def test_leader_sees_open_cases_and_the_overdue_count(server):
    fig, headline = _map(server, FX.LEADER[:2])
    marked = [tr for tr in fig["data"] if tr.get("legendgroup") == "open_cases"]
    assert len(marked) == 1 and fig["data"][0] is marked[0]              # drawn under the stations
    assert marked[0]["customdata"] == [[OPEN_STATION]]                  # the closed case is not marked
    assert "在办案件: 2" in marked[0]["hovertext"][0]
    assert _overdue_card(headline) == "1"                               # only the 30-day-old case


def test_an_area_without_the_case_counts_none(server):
    fig, headline = _map(server, FX.ANALYST[:2], province="河北省")      # no station of the store there
    assert not [tr for tr in fig["data"] if tr.get("legendgroup") == "open_cases"]
    assert _overdue_card(headline) == "0"
    fig, headline = _map(server, FX.ANALYST[:2], province="北京市")
    assert _overdue_card(headline) == "1"


def test_admin_is_not_a_case_role_and_sees_no_cases(server):
    fig, headline = _map(server, ("root", "root-password-1"))
    assert not [tr for tr in fig["data"] if tr.get("legendgroup") == "open_cases"]
    assert "headline-overdue_cases" not in headline
