"""Situation map page (态势一张图, the landing page): layout and the pure view function its callbacks call."""

from __future__ import annotations

import math

import pandas as pd
from dash import dcc, html

from dashboard.figures.colours import aqi_colour, water_colour
from dashboard.figures.situation_map import ALL_LAYERS, display_coords, situation_map_dict
from dashboard.i18n import aqi_level_name, t, water_class_name
from dashboard.internal.geo_route import layer_url
from dashboard.internal.ids import SituationIds
from dashboard.internal.timefmt import fmt_local, local_day_bounds_utc, one_to_local
from data import views
from envtrust import cases as case_service

PLAY_INTERVAL_MS = 1500
#: the roles that see cases on the map (the case roles; admin manages users, the public sees none)
CASE_ROLES: frozenset[str] = frozenset({"analyst", "enforcement", "leader"})
OPEN_CASE_COLOUR = "#b71c1c"
#: Keep what the user chose when the page is re-rendered (language switch) within the browser session.
KEEP = {"persistence": True, "persistence_type": "session"}
DEFAULT_LAYERS: tuple[str, ...] = ALL_LAYERS


def period_for(extent_start: pd.Timestamp, offset_h: int, resolution: str, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC ``[start, end)`` shown for a slider position: that hour, or the local day containing it."""
    at = pd.Timestamp(extent_start) + pd.Timedelta(hours=int(offset_h))
    if resolution == "day":
        return local_day_bounds_utc(at, tz)
    return at, at + pd.Timedelta(hours=1)


def admin_options(areas: pd.DataFrame, province: str | None, city: str | None, lang: str) -> tuple[list, list, list]:
    """Options of the three level filters; a lower level lists only places inside the chosen upper one."""
    def opts(values: pd.Series) -> list[dict]:
        return [{"label": t("all", lang), "value": ""}] + [
            {"label": v, "value": v} for v in sorted({x for x in values.dropna() if x})]

    cities = areas if not province else areas[areas["province"] == province]
    counties = cities if not city else cities[cities["city"] == city]
    return opts(areas["province"]), opts(cities["city"]), opts(counties["county"])


def _trend(cur: float, prev: float, lang: str, pct: bool = False, good_when_up: bool = False) -> html.Span:
    if cur is None or prev is None or (isinstance(cur, float) and math.isnan(cur)) or \
            (isinstance(prev, float) and math.isnan(prev)):
        return html.Span("")
    delta = cur - prev
    if abs(delta) < 1e-9:
        return html.Span(f"= {t('vs_previous', lang)}", className="trend trend-flat")
    arrow = "▲" if delta > 0 else "▼"
    better = (delta > 0) == good_when_up
    text = f"{arrow} {abs(delta) * 100:.1f} pt" if pct else f"{arrow} {abs(delta):.0f}"
    return html.Span(f"{text} {t('vs_previous', lang)}", className="trend " + ("trend-good" if better else "trend-bad"))


def headline_cards(h: dict, lang: str) -> list:
    """Headline figures with their trend vs the previous period of the same length."""
    cur, prev = h["current"], h["previous"]
    cap = cur["capture_rate"]
    cards = [
        html.Div([html.Div(t("capture_rate", lang), className="card-label"),
                  html.Div("-" if math.isnan(cap) else f"{cap * 100:.1f}%", className="card-value"),
                  _trend(cap, prev["capture_rate"], lang, pct=True, good_when_up=True)],
                 className="headline-card", id="headline-capture"),
    ]
    cards.append(_class_card("aqi_levels", "headline-aqi", cur["aqi_levels"], prev["aqi_levels"],
                             aqi_colour, aqi_level_name, good_up_to=2, lang=lang))
    if cur["water_classes"] or prev["water_classes"]:
        cards.append(_class_card("water_classes", "headline-water", cur["water_classes"], prev["water_classes"],
                                 water_colour, water_class_name, good_up_to=3, lang=lang))
    for key in ("exceedances", "open_events", "suspected_stations"):
        cards.append(html.Div([html.Div(t(key, lang), className="card-label"),
                               html.Div(str(cur[key]), className="card-value"),
                               _trend(cur[key], prev[key], lang)], className="headline-card", id=f"headline-{key}"))
    return cards


def _class_card(label_key: str, card_id: str, current: dict, previous: dict, colour, name,
                good_up_to: int, lang: str) -> html.Div:
    """A headline card with one chip per class 1..6 (AQI level or water class) and its trend;
    a rise counts as good only for classes up to ``good_up_to``."""
    chips = []
    for cls in range(1, 7):
        n = current.get(cls, 0)
        chips.append(html.Div([
            html.Span(className="chip-swatch", style={"background": colour(cls)}),
            html.Span(f"{name(cls, lang)} {n}"),
            _trend(n, previous.get(cls, 0), lang, good_when_up=cls <= good_up_to)], className="chip"))
    return html.Div([html.Div(t(label_key, lang), className="card-label"), *chips],
                    className="headline-card", id=card_id)


def open_case_trace(status: pd.DataFrame, open_cases: dict[str, int], lang: str, basemap: str) -> dict | None:
    """A dark-red halo under each shown station with open cases (hover: how many), or None."""
    marked = status[status["station_id"].isin(list(open_cases))]
    if marked.empty:
        return None
    lon, lat = display_coords(marked["lon"].to_numpy(), marked["lat"].to_numpy(), basemap)
    label = t("cases_open", lang)
    return {
        "type": "scattermap", "lon": lon.tolist(), "lat": lat.tolist(), "mode": "markers",
        "name": t("layer_open_cases", lang), "legendgroup": "open_cases",
        "marker": {"size": 30, "color": OPEN_CASE_COLOUR, "opacity": 0.35},
        "customdata": [[sid] for sid in marked["station_id"]],
        "hovertext": [f"<b>{name}</b> ({sid})<br>{label}: {open_cases[sid]}"
                      for sid, name in zip(marked["station_id"], marked["name"], strict=True)],
        "hoverinfo": "text",
    }


def overdue_card(n_overdue: int, lang: str) -> html.Div:
    """The headline's overdue-cases figure (open cases past the clock of their state)."""
    return html.Div([html.Div(t("cases_overdue", lang), className="card-label"),
                     html.Div(str(n_overdue), className="card-value")],
                    className="headline-card" + (" alert" if n_overdue else ""), id="headline-overdue_cases")


def with_cases(fig: dict, cards: list, con, status: pd.DataFrame, layers: list[str], filtered: bool, lang: str,
               basemap: str, clocks: dict[str, str] | None = None) -> tuple[dict, list]:
    """The map with open-case halos under the stations of the layers shown, and the headline with the
    overdue count; with an area filter only the cases of the area's stations count."""
    shown = status[status["kind"].isin(layers)]
    trace = open_case_trace(shown, case_service.stations_with_open_cases(con), lang, basemap)
    if trace is not None:
        fig = {**fig, "data": [trace, *fig["data"]]}
    station_ids = sorted(status["station_id"]) if filtered else None
    return fig, [*cards, overdue_card(case_service.overdue_count(con, clocks, station_ids=station_ids), lang)]


def situation_view(con, extent_start: pd.Timestamp, offset_h: int, resolution: str, layers: list[str],
                   province: str | None, city: str | None, county: str | None, lang: str, tz: str,
                   basemap: str = "offline", aqi_table: str | None = None, role: str | None = None,
                   clocks: dict[str, str] | None = None):
    """Everything the map callback returns: (figure, headline cards, time label). Pure given the store.

    ``aqi_table``: the AQI breakpoint table (the ``aqi_table`` setting; None = the standard's default).
    ``role``: the user's; the case roles also see stations with open cases and the overdue count.
    """
    start, end = period_for(extent_start, offset_h, resolution, tz)
    # one pass for the map and both periods of the headline (see data.views.situation)
    status, h = views.situation(con, start.to_pydatetime(), end.to_pydatetime(),
                                province=province or None, city=city or None, county=county or None,
                                aqi_table=aqi_table)
    fig = situation_map_dict(status, layers=layers, lang=lang, basemap=basemap, layer_url=layer_url)
    cards = headline_cards(h, lang)
    if role in CASE_ROLES:
        fig, cards = with_cases(fig, cards, con, status, layers, bool(province or city or county), lang, basemap,
                                clocks)
    local = one_to_local(start, tz)
    label = fmt_local(local, "%Y-%m-%d" if resolution == "day" else "%Y-%m-%d %H:00") + f" ({t('local_time', lang)})"
    return fig, cards, label


def layout(con, lang: str, tz: str) -> html.Div:
    """The page: filters and time control on top, the map with headline figures beside it."""
    first, last = views.time_extent(con)
    if first is None:
        return html.Div(t("no_data", lang), className="page-empty")
    n_hours = int((pd.Timestamp(last) - pd.Timestamp(first)) / pd.Timedelta(hours=1))
    areas = views.admin_areas(con)
    prov_opts, city_opts, county_opts = admin_options(areas, None, None, lang)
    layer_opts = [{"label": t(f"layer_{name}", lang), "value": name} for name in ALL_LAYERS]
    return html.Div([
        dcc.Location(id=SituationIds.NAV, refresh="callback-nav"),
        dcc.Store(id=SituationIds.EXTENT, data={"start": pd.Timestamp(first).isoformat()}),
        dcc.Interval(id=SituationIds.INTERVAL, interval=PLAY_INTERVAL_MS, disabled=True),
        html.Div([
            html.Div([html.Label(t("province", lang)),
                      dcc.Dropdown(id=SituationIds.PROVINCE, options=prov_opts, value="", clearable=False, **KEEP)],
                     className="filter"),
            html.Div([html.Label(t("city", lang)),
                      dcc.Dropdown(id=SituationIds.CITY, options=city_opts, value="", clearable=False, **KEEP)],
                     className="filter"),
            html.Div([html.Label(t("county", lang)),
                      dcc.Dropdown(id=SituationIds.COUNTY, options=county_opts, value="", clearable=False, **KEEP)],
                     className="filter"),
            html.Div([html.Label(t("resolution", lang)),
                      dcc.RadioItems(id=SituationIds.RESOLUTION, value="hour", inline=True, **KEEP,
                                     options=[{"label": t("hour", lang), "value": "hour"},
                                              {"label": t("day", lang), "value": "day"}])], className="filter"),
            html.Button(t("play", lang), id=SituationIds.PLAY, n_clicks=0, className="btn"),
            html.Span(id=SituationIds.TIME_LABEL, className="time-label"),
        ], className="toolbar"),
        dcc.Slider(id=SituationIds.TIME_SLIDER, min=0, max=n_hours, step=1, value=n_hours, marks=None,
                   updatemode="mouseup", tooltip=None, allow_direct_input=False, **KEEP),
        html.Div([
            html.Div([
                dcc.Checklist(id=SituationIds.LAYERS, options=layer_opts, value=list(DEFAULT_LAYERS), inline=True, **KEEP,
                              className="layer-list"),
                dcc.Loading(dcc.Graph(id=SituationIds.MAP, className="situation-map",
                                      config={"displaylogo": False, "scrollZoom": True}), type="circle"),
                html.Div(t("click_station_hint", lang), className="hint"),
            ], className="map-column"),
            html.Div([html.H3(t("headline", lang)),
                      dcc.Loading(html.Div(id=SituationIds.HEADLINE, className="headline"), type="dot")],
                     className="side-column"),
        ], className="map-row"),
    ], className="page page-situation")
