"""Callbacks of the station page. Reviews need the analyst or admin role (checked on the server)."""

from __future__ import annotations

import dash
from dash import Input, Output, State, ctx

from dashboard.auth import guarded_callback
from dashboard.internal.ids import ShellIds, StationIds
from dashboard.internal.pages.station import analysis_view, series_view, submit_review
from dashboard.request_state import current_user, db_cursor

VERDICT_BY_BUTTON = {
    StationIds.CONFIRM: "confirmed",
    StationIds.FALSE_ALARM: "false_alarm",
    StationIds.REOPEN: "reopened",
}


def set_callbacks(app: dash.Dash, settings) -> None:
    tz = settings.display_tz

    @guarded_callback(
        app,
        Output(StationIds.SERIES, "figure"),
        Output(StationIds.MINIMAP, "figure"),
        Output(StationIds.EVIDENCE, "children"),
        Input(StationIds.PARAMETERS, "value"),
        State(StationIds.STATION, "data"),
        State(StationIds.EVENT, "data"),
        State(ShellIds.LANG, "data"),
    )
    def update_series(parameters, station_id, event_id, lang):
        return series_view(db_cursor(), station_id, event_id, parameters or None, lang, tz)

    @guarded_callback(
        app,
        Output(StationIds.ANALYSIS, "figure"),
        Input(StationIds.TABS, "value"),
        Input(StationIds.ANALYSIS_PARAMETER, "value"),
        Input(StationIds.NEIGHBOUR, "value"),
        State(StationIds.STATION, "data"),
        State(ShellIds.LANG, "data"),
    )
    def update_analysis(tab, parameter, neighbour_id, station_id, lang):
        return analysis_view(db_cursor(), station_id, tab, parameter, neighbour_id, lang, tz)

    @guarded_callback(
        app,
        Output(StationIds.REVIEW_STATUS, "children"),
        Output(StationIds.REVIEW_HISTORY, "children"),
        Input(StationIds.CONFIRM, "n_clicks"),
        Input(StationIds.FALSE_ALARM, "n_clicks"),
        Input(StationIds.REOPEN, "n_clicks"),
        State(StationIds.COMMENT, "value"),
        State(StationIds.EVENT, "data"),
        State(ShellIds.LANG, "data"),
        prevent_initial_call=True,
        roles=("analyst", "admin"),
    )
    def review(_c, _f, _r, comment, event_id, lang):
        user = current_user()
        verdict = VERDICT_BY_BUTTON.get(ctx.triggered_id)
        if verdict is None or not event_id:
            raise dash.exceptions.PreventUpdate
        return submit_review(db_cursor(), event_id, verdict, comment, user.username, lang, tz)
