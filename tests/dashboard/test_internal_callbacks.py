"""The internal dashboard's callbacks: the pure functions they call, on a real store built from the
sample, and the mounted callbacks themselves through the real server (roles enforced server-side)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import flask
import pandas as pd
import plotly.graph_objects as go
import pytest
from dash import dcc, html

from dashboard.internal.app import create_internal_app
from dashboard.internal.ids import ExplorerIds, RecordIds, ShellIds, SituationIds, StationIds
from dashboard.internal.layout import header_texts, render_page, route
from dashboard.internal.pages.explorer import event_href, event_rows
from dashboard.internal.pages.situation import admin_options, period_for, situation_view
from dashboard.internal.pages.situation_callbacks import next_offset, station_href
from dashboard.internal.pages.station import analysis_view, series_view, submit_review
from dashboard.internal.timefmt import local_day_bounds_utc
from data import views
from data.store import connect

TZ = "Asia/Shanghai"


def _fixture_module():
    spec = importlib.util.spec_from_file_location("internal_fixture", Path(__file__).with_name("internal_fixture.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FX = _fixture_module()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return FX.build_internal_store(tmp_path_factory.mktemp("callbacks") / "store.duckdb")


@pytest.fixture(scope="module")
def con(template):
    c = connect(template, read_only=True)
    yield c
    c.close()


def ids_in(component) -> set[str]:
    """Every component id in a Dash component tree."""
    found = set()

    def walk(c):
        if isinstance(c, (list, tuple)):
            for x in c:
                walk(x)
            return
        if not hasattr(c, "to_plotly_json"):
            return
        cid = getattr(c, "id", None)
        if isinstance(cid, str):
            found.add(cid)
        walk(getattr(c, "children", None))

    walk(component)
    return found


def visible_text(component) -> str:
    """The words a person sees: every string child of the component tree (figures left out)."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(visible_text(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else visible_text(children)


def text_in(component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json()
                      if hasattr(o, "to_plotly_json") else str(o), ensure_ascii=False)


# ---------------------------------------------------------------- routing and shell

@pytest.mark.parametrize("path,search,expected", [
    ("/app/", "", ("situation", {})),
    ("/app", "", ("situation", {})),
    ("/app/events", "", ("events", {})),
    ("/app/station/1003A", "?event=ev-dongsi", ("station", {"station_id": "1003A", "event_id": "ev-dongsi"})),
    ("/app/station/1003A", "", ("station", {"station_id": "1003A", "event_id": None})),
    ("/app/station/%E4%B8%9C", "", ("station", {"station_id": "东", "event_id": None})),
    ("/app/nope", "", ("not_found", {})),
])
def test_route(path, search, expected):
    assert route(path, search) == expected


def test_render_page_each_page_in_both_languages(con):
    sit = render_page(con, "/app/", "", "zh", TZ)
    assert {SituationIds.MAP, SituationIds.TIME_SLIDER, SituationIds.HEADLINE, SituationIds.LAYERS} <= ids_in(sit)
    assert "省" in text_in(sit)
    ev = render_page(con, "/app/events", "", "en", TZ)
    assert {ExplorerIds.GRID, ExplorerIds.KIND, ExplorerIds.EXPORT} <= ids_in(ev)
    assert "Ranked suspected-interference events" in text_in(ev)
    st = render_page(con, "/app/station/1003A", "?event=ev-dongsi", "zh", TZ)
    assert {StationIds.SERIES, StationIds.MINIMAP, StationIds.CONFIRM, StationIds.TABS} <= ids_in(st)
    no_event = render_page(con, "/app/station/1003A", "", "zh", TZ)
    assert StationIds.CONFIRM not in ids_in(no_event)  # nothing to review
    unknown = render_page(con, "/app/station/XX", "", "en", TZ)
    assert "Unknown station" in text_in(unknown)
    assert "Page not found" in text_in(render_page(con, "/app/x/y", "", "en", TZ))


def test_header_texts_switch_language():
    assert header_texts("zh", "ana")[1] == "态势一张图"
    assert header_texts("en", "ana")[1] == "Situation map" and header_texts("en", "ana")[6] == "中文"


# ---------------------------------------------------------------- situation map

def test_situation_view_hour(con):
    first, _ = views.time_extent(con)
    n = int((FX.SAMPLE_LAST_UTC - pd.Timestamp(first)) / pd.Timedelta(hours=1))
    raw, cards, label = situation_view(con, pd.Timestamp(first), n, "hour", ["air_station", "suspicion"],
                                       "", "", "", "en", TZ)
    fig = go.Figure(raw)  # the plain dict sent to the browser must be a valid plotly figure
    assert fig.layout.map.style == "white-bg"
    shown = {sid for tr in fig.data for (sid,) in tr.customdata}
    assert shown == set(views.stations(con, kinds=["air_station"])["station_id"])
    assert label.startswith("2017-01-10 23:00")  # 15:00 UTC is 23:00 in Beijing
    assert "Data capture rate" in text_in(html.Div(cards))


def test_situation_view_day_and_filters(con):
    first, _ = views.time_extent(con)
    raw, cards, label = situation_view(con, pd.Timestamp(first), 24 * 10, "day", list(views_layers()),
                                       "北京市", "", "", "zh", TZ)
    fig = go.Figure(raw)
    assert [layer.source for layer in fig.layout.map.layers][:1] == ["/app/_geo/haihe_rivers.geojson"]
    assert label.startswith("2016-12-11")
    assert any(tr.name.startswith("空气质量标准站") for tr in fig.data)
    raw, _, _ = situation_view(con, pd.Timestamp(first), 0, "hour", list(views_layers()), "河北省", "", "", "zh", TZ)
    empty_fig = go.Figure(raw)
    assert not [tr for tr in empty_fig.data if tr.customdata is not None and len(tr.customdata)]


def views_layers():
    from dashboard.figures.situation_map import ALL_LAYERS

    return ALL_LAYERS


def test_period_for_local_day():
    start, end = period_for(pd.Timestamp("2016-11-30 16:00"), 30, "day", TZ)
    assert (start, end) == local_day_bounds_utc(pd.Timestamp("2016-12-01 22:00"), TZ)
    assert start == pd.Timestamp("2016-12-01 16:00") and end - start == pd.Timedelta(hours=24)
    assert period_for(pd.Timestamp("2016-11-30 16:00"), 3, "hour", TZ) == \
        (pd.Timestamp("2016-11-30 19:00"), pd.Timestamp("2016-11-30 20:00"))


def test_admin_options_cascade():
    areas = pd.DataFrame({"province": ["北京市", "北京市", "河北省"], "city": ["北京市", "北京市", "保定市"],
                          "county": ["东城区", "西城区", "竞秀区"]})
    provinces, cities, counties = admin_options(areas, "河北省", None, "en")
    assert [o["value"] for o in provinces] == ["", "北京市", "河北省"]
    assert [o["value"] for o in cities] == ["", "保定市"] and [o["value"] for o in counties] == ["", "竞秀区"]


def test_playback_and_click_helpers():
    assert next_offset(10, 100, "hour") == 11 and next_offset(90, 100, "day") == 0
    assert station_href({"points": [{"customdata": ["1003A"]}]}) == "/app/station/1003A"
    assert station_href({"points": []}) is None and station_href(None) is None


# ---------------------------------------------------------------- explorer

def test_event_rows_local_time_and_filters(con):
    rows = event_rows(con, None, None, None, "zh", TZ)
    assert [r["event_id"] for r in rows] == ["ev-dongsi", "ev-gucheng"]
    assert rows[0]["start_local"] == "2016-12-20 08:00" and rows[0]["kind_label"] == "压低数据"
    assert rows[0]["station"] == "东四 (1003A)" and rows[0]["status_label"] == "待核查"
    assert [r["event_id"] for r in event_rows(con, ["flatline"], None, None, "en", TZ)] == ["ev-gucheng"]
    assert event_rows(con, None, None, 0.95, "en", TZ) == []
    assert event_href(con, "ev-dongsi") == "/app/station/1003A?event=ev-dongsi"
    assert event_href(con, "nope") is None


# ---------------------------------------------------------------- station page

def test_series_view_with_event(con):
    raw, raw_mini, evidence = series_view(con, "1003A", "ev-dongsi", None, "en", TZ)
    fig, mini = go.Figure(raw), go.Figure(raw_mini)
    names = {tr.name for tr in fig.data}
    assert {"ensemble", "spatial", "seasonal"} <= names
    assert "天坛 (Tiantan)" in names  # a neighbour overlaid, named as in the source
    shades = [s for s in fig.layout.shapes if s.type == "rect"]
    assert shades and pd.Timestamp(shades[0].x0) == pd.Timestamp("2016-12-20 08:00")  # local time
    xs = pd.to_datetime(fig.data[-1].x) if fig.data[-1].x is not None else None
    assert xs is None or xs.min() >= pd.Timestamp("2016-12-17 08:00")
    assert mini.layout.map.style == "white-bg" and "1003A" in [c[0] for c in mini.data[0].customdata]
    text = visible_text(html.Div(evidence))
    # the evidence reads as sentences with the numbers, never as the engine's JSON
    assert "PM2.5 69% below what 2 neighbouring stations predict (180) for 12 h" in text
    assert "PM2.5 -69%" in text and "Dongsi: PM2.5 -69% vs neighbours" in text and "东四" not in text
    assert "kind_mass" not in text and "{" not in text and "spatial_low" not in text
    charts = [c for c in html.Div(evidence).children if isinstance(c, dcc.Graph)]
    assert len(charts) == 1 and len(charts[0].figure.data) == 2  # station against its neighbour prediction
    zh = visible_text(html.Div(series_view(con, "1003A", "ev-dongsi", None, "zh", TZ)[2]))
    assert "PM2.5比2个邻站的预测值(180)低69%" in zh and "suspected" not in zh


def test_series_view_without_event_and_unknown(con):
    fig = go.Figure(series_view(con, "1001A", None, ["PM2.5", "TEMP"], "zh", TZ)[0])
    assert fig.layout.annotations[0].text == "PM2.5"  # subplot titles: one panel per parameter
    ts = pd.to_datetime(fig.data[0].x)
    assert ts.max() == pd.Timestamp("2017-01-10 23:00")  # last UTC hour shown in local time
    fig = go.Figure(series_view(con, "NOPE", None, None, "en", TZ)[0])
    assert fig.layout.annotations[0].text == "Unknown station"
    # an event of another station is not shown on this one
    fig = go.Figure(series_view(con, "1001A", "ev-dongsi", None, "en", TZ)[0])
    assert not [s for s in fig.layout.shapes if s.type == "rect"]


@pytest.mark.parametrize("tab", ["profiles", "calendar", "polar", "scatter"])
def test_analysis_tabs_render_real_data(con, tab):
    fig = analysis_view(con, "1001A", tab, "PM2.5", "1006A", "en", TZ)
    assert fig.data, f"{tab} drew nothing"
    assert not fig.layout.annotations or "No data" not in fig.layout.annotations[0].text


def test_analysis_polar_without_wind_says_so(con):
    fig = analysis_view(con, "P9001", "polar", "flue_SO2", None, "en", TZ)
    assert fig.layout.annotations[0].text == "No wind data at this station"
    with pytest.raises(ValueError, match="tab"):
        analysis_view(con, "1001A", "pie", "PM2.5", None, "en", TZ)


def test_submit_review_writes(template, tmp_path):
    with connect(FX.copy_store(template, tmp_path / "rw.duckdb")) as rw:
        message, history = submit_review(rw, "ev-gucheng", "confirmed", "operator admitted", "ana", "en", TZ)
        assert message == "Saved: Confirmed"
        assert "operator admitted" in text_in(html.Ul(history))
        assert views.event(rw, "ev-gucheng")["status"] == "confirmed"


# ---------------------------------------------------------------- through the real server

PASSWORD_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def server(template, tmp_path):
    from dashboard.server import close_server, create_server
    from envtrust.settings import load_settings

    db = FX.copy_store(template, tmp_path / "served.duckdb")
    app = create_server(load_settings(db_path=db, secret_key="s" * 64))
    yield app
    close_server(app)


def login(client, username, password):
    token = PASSWORD_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def review_body(event_id: str) -> str:
    from dashboard.server import dash_callback_body

    out = f"..{StationIds.REVIEW_STATUS}.children...{StationIds.REVIEW_HISTORY}.children.."
    return dash_callback_body(
        out, [{"id": StationIds.CONFIRM, "property": "n_clicks", "value": 1},
              {"id": StationIds.FALSE_ALARM, "property": "n_clicks", "value": 0},
              {"id": StationIds.REOPEN, "property": "n_clicks", "value": 0}],
        [{"id": StationIds.COMMENT, "property": "value", "value": "checked on site"},
         {"id": StationIds.EVENT, "property": "data", "value": event_id},
         {"id": ShellIds.LANG, "property": "data", "value": "en"}])


def test_review_callback_needs_analyst_role(server):
    leader = server.test_client()
    login(leader, *FX.LEADER[:2])
    refused = leader.post("/app/_dash-update-component", data=review_body("ev-dongsi"),
                          content_type="application/json")
    assert refused.status_code == 403
    analyst = server.test_client()
    login(analyst, *FX.ANALYST[:2])
    ok = analyst.post("/app/_dash-update-component", data=review_body("ev-dongsi"), content_type="application/json")
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert "Saved: Confirmed" in ok.get_data(as_text=True)
    with server.app_context():
        con = server.extensions["envtrust"].con
        assert views.event(con, "ev-dongsi")["status"] == "confirmed"
        assert views.event_reviews(con, "ev-dongsi").loc[0, "username"] == "ana"


def test_map_callback_through_the_server(server):
    from dashboard.server import dash_callback_body

    client = server.test_client()
    body = dash_callback_body(
        f"..{SituationIds.MAP}.figure...{SituationIds.HEADLINE}.children...{SituationIds.TIME_LABEL}.children..",
        [{"id": SituationIds.TIME_SLIDER, "property": "value", "value": 983},
         {"id": SituationIds.RESOLUTION, "property": "value", "value": "hour"},
         {"id": SituationIds.LAYERS, "property": "value", "value": ["air_station"]},
         {"id": SituationIds.PROVINCE, "property": "value", "value": ""},
         {"id": SituationIds.CITY, "property": "value", "value": ""},
         {"id": SituationIds.COUNTY, "property": "value", "value": ""}],
        [{"id": SituationIds.EXTENT, "property": "data", "value": {"start": "2016-11-30T16:00:00"}},
         {"id": ShellIds.LANG, "property": "data", "value": "zh"}])
    assert client.post("/app/_dash-update-component", data=body, content_type="application/json").status_code == 401
    login(client, *FX.LEADER[:2])
    ok = client.post("/app/_dash-update-component", data=body, content_type="application/json")
    assert ok.status_code == 200
    assert "2017-01-10 23:00" in ok.get_data(as_text=True)


def test_every_internal_callback_checks_the_role(template, tmp_path):
    """Each registered callback checks the role: outside a logged-in request it must refuse."""
    from dashboard.auth import AuthError
    from envtrust.settings import load_settings

    server = flask.Flask("t")
    app = create_internal_app(server, load_settings(db_path=tmp_path / "unused.duckdb"))
    assert len(app.callback_map) >= 12
    with server.test_request_context("/app/_dash-update-component", method="POST"):
        for _key, cb in app.callback_map.items():
            fn = cb["callback"]
            n_args = len(cb["inputs"]) + len(cb["state"])
            with pytest.raises(AuthError):
                fn.__wrapped__(*([None] * n_args))


def test_every_internal_callback_goes_through_the_guard(tmp_path):
    """Each callback the internal app registers is the function ``guarded_callback`` built, with the
    roles it checks; only the review, the case pages and the record's checkpoint need more than a login."""
    from dashboard.auth import GUARD_ATTRIBUTE
    from envtrust.settings import load_settings

    app = create_internal_app(flask.Flask("t"), load_settings(db_path=tmp_path / "unused.duckdb"))
    roles = {key: getattr(cb["callback"].__wrapped__, GUARD_ATTRIBUTE, None) for key, cb in app.callback_map.items()}
    assert len(roles) >= 12
    assert [key for key, r in roles.items() if r is None] == []
    review = f"..{StationIds.REVIEW_STATUS}.children...{StationIds.REVIEW_HISTORY}.children.."
    assert roles.pop(review) == ("analyst", "admin")
    case_roles = ("leader", "analyst", "enforcement")   # the case pages (issue 13)
    assert roles.pop("case-fields.children") == case_roles
    assert roles.pop("..case-body.children...case-message.children..") == case_roles
    assert roles.pop("inbox-message.children") == ("analyst", "leader")
    assert roles.pop(f"{RecordIds.CHECKPOINT_DOWNLOAD}.data") == ("admin",)
    assert set(roles.values()) == {()}


def test_internal_callbacks_are_registered_only_through_the_guard():
    """No ``app.callback`` / ``dash.callback`` / ``@callback`` in the internal app's code: a global
    ``dash.callback`` would not even appear in ``app.callback_map`` until the first request."""
    import ast

    root = Path(__file__).resolve().parents[2] / "dashboard" / "internal"
    direct = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("callback", "clientside_callback"):
                direct.append(f"{path.name}:{node.lineno}")
    assert direct == []


def test_geo_layers_served_by_url_behind_login(server):
    from geo.coords import wgs84_to_gcj02
    from geo.layers import load_layer

    client = server.test_client()
    assert client.get("/app/_geo/haihe_lakes.geojson").status_code == 401
    login(client, *FX.LEADER[:2])
    ok = client.get("/app/_geo/haihe_lakes.geojson")
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("application/geo+json")
    body = json.loads(ok.get_data(as_text=True))
    assert body == load_layer("haihe_lakes")
    shifted = json.loads(client.get("/app/_geo/haihe_lakes.geojson?crs=gcj02").get_data(as_text=True))
    lon, lat = body["features"][0]["geometry"]["coordinates"][0][0][:2] if \
        body["features"][0]["geometry"]["type"] == "Polygon" else body["features"][0]["geometry"]["coordinates"][0][0][0]
    first = shifted["features"][0]["geometry"]["coordinates"][0][0]
    first = first if isinstance(first[0], float) else first[0]
    assert first == pytest.approx(list(wgs84_to_gcj02(lon, lat)))
    assert client.get("/app/_geo/nope.geojson").status_code == 404
    assert client.get("/app/_geo/provinces.geojson?crs=bd09").status_code == 404


def test_basemap_setting(monkeypatch):
    from envtrust.settings import load_settings

    monkeypatch.delenv("ENVTRUST_BASEMAP", raising=False)
    assert load_settings().basemap == "offline"
    monkeypatch.setenv("ENVTRUST_BASEMAP", "osm")
    assert load_settings().basemap == "osm"
    monkeypatch.setenv("ENVTRUST_BASEMAP", "google")
    with pytest.raises(ValueError, match="offline, osm, amap"):
        load_settings()  # a typo fails at start-up with the choices named


def test_explorer_ranks_by_the_graded_figure_and_lists_data_gaps_apart(template):
    """Events sort by rank_score (the 0-1 score ties at the top), data gaps have their own list
    and count, and the workload line sets the events against the analysts' capacity."""
    import shutil
    import tempfile
    from pathlib import Path

    from dashboard.internal.pages.explorer import workload_lines
    from data.scoring import save_events

    tmp = Path(tempfile.mkdtemp()) / "copy.duckdb"
    shutil.copy(template, tmp)
    c = connect(tmp)
    try:
        t0 = pd.Timestamp("2016-12-20 00:00")
        ev = pd.DataFrame([
            {"event_id": f"e{k}", "station_id": sid, "start": t0 + pd.Timedelta(hours=10 * k),
             "end": t0 + pd.Timedelta(hours=10 * k + 3), "kind": kind, "score": 1.0, "rank_score": rank,
             "parameters": "PM2.5", "summary": f"S{k} | 站{k}", "evidence": {}}
            for k, (sid, kind, rank) in enumerate([("1001A", "spike", 6.5), ("1002A", "outage", 9.25),
                                                    ("1003A", "data_gap", 12.0), ("1004A", "drift", 7.75)])])
        save_events(c, ev, "run-test")
        rows = event_rows(c, None, None, None, "zh", TZ)
        assert [r["event_id"] for r in rows] == ["e1", "e3", "e0"]  # by rank_score; the data gap is apart
        assert rows[0]["summary"] == "站1" and "1.8e+09" in rows[0]["rarity"]
        gaps = event_rows(c, None, None, None, "en", TZ, data_gaps=True)
        assert [r["event_id"] for r in gaps] == ["e2"] and gaps[0]["summary"] == "S2"
        lines = visible_text(workload_lines(c, {"air": 0.3, "water": 0.3, "polluter": 0.3}, "en"))
        assert "Air: 3 suspected-interference events" in lines and "Data-completeness alarms: 1" in lines
    finally:
        c.close()
