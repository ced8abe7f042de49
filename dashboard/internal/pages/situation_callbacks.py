"""Callbacks of the situation map. Thin: guarded (login checked), the request's cursor, a pure view."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State

from dashboard.auth import guarded_callback
from dashboard.i18n import t
from dashboard.internal.ids import ShellIds, SituationIds
from dashboard.internal.pages.situation import admin_options, situation_view
from dashboard.request_state import current_user, db_cursor
from data import views
from envtrust.cases import parse_clocks


def next_offset(current: int, maximum: int, resolution: str) -> int:
    """Playback step: one hour or one day forward, wrapping to the start at the end."""
    step = 24 if resolution == "day" else 1
    nxt = int(current or 0) + step
    return 0 if nxt > int(maximum) else nxt


def station_href(click: dict | None) -> str | None:
    """The station page for a map click (the station id travels in ``customdata``)."""
    try:
        sid = click["points"][0]["customdata"][0]
    except (TypeError, KeyError, IndexError):
        return None
    return f"/app/station/{sid}" if sid else None


def set_callbacks(app: dash.Dash, settings) -> None:
    tz = settings.display_tz
    basemap = settings.basemap
    clocks = parse_clocks(settings.case_clocks)

    @guarded_callback(
        app,
        Output(SituationIds.MAP, "figure"),
        Output(SituationIds.HEADLINE, "children"),
        Output(SituationIds.TIME_LABEL, "children"),
        Input(SituationIds.TIME_SLIDER, "value"),
        Input(SituationIds.RESOLUTION, "value"),
        Input(SituationIds.LAYERS, "value"),
        Input(SituationIds.PROVINCE, "value"),
        Input(SituationIds.CITY, "value"),
        Input(SituationIds.COUNTY, "value"),
        State(SituationIds.EXTENT, "data"),
        State(ShellIds.LANG, "data"),
    )
    def update_map(offset, resolution, layers, province, city, county, extent, lang):
        user = current_user()
        return situation_view(db_cursor(), pd.Timestamp(extent["start"]), int(offset or 0), resolution or "hour",
                              layers or [], province, city, county, lang, tz, basemap, settings.aqi_table,
                              role=user.role if user else None, clocks=clocks)

    @guarded_callback(
        app,
        Output(SituationIds.CITY, "options"),
        Output(SituationIds.COUNTY, "options"),
        Input(SituationIds.PROVINCE, "value"),
        Input(SituationIds.CITY, "value"),
        State(ShellIds.LANG, "data"),
    )
    def update_admin(province, city, lang):
        _, cities, counties = admin_options(views.admin_areas(db_cursor()), province, city, lang)
        return cities, counties

    @guarded_callback(
        app,
        Output(SituationIds.INTERVAL, "disabled"),
        Output(SituationIds.PLAY, "children"),
        Input(SituationIds.PLAY, "n_clicks"),
        State(ShellIds.LANG, "data"),
    )
    def toggle_play(n_clicks, lang):
        playing = bool(n_clicks) and n_clicks % 2 == 1
        return (not playing), t("pause" if playing else "play", lang)

    @guarded_callback(
        app,
        Output(SituationIds.TIME_SLIDER, "value"),
        Input(SituationIds.INTERVAL, "n_intervals"),
        State(SituationIds.TIME_SLIDER, "value"),
        State(SituationIds.TIME_SLIDER, "max"),
        State(SituationIds.RESOLUTION, "value"),
        prevent_initial_call=True,
    )
    def play_step(_n, value, maximum, resolution):
        return next_offset(value, maximum, resolution)

    @guarded_callback(
        app,
        Output(SituationIds.NAV, "href"),
        Input(SituationIds.MAP, "clickData"),
        prevent_initial_call=True,
    )
    def open_station(click):
        href = station_href(click)
        if href is None:
            raise dash.exceptions.PreventUpdate
        return href
