"""Callbacks of the assessment page: level switch -> caption, map, table; CSV export."""

from __future__ import annotations

import dash
from dash import Input, Output, State

from dashboard.auth import guarded_callback
from dashboard.figures.situation_map import geo_map_layers
from dashboard.internal.ids import AssessmentIds, ShellIds
from dashboard.internal.pages.assessment import level_view
from dashboard.request_state import db_cursor


def set_callbacks(app: dash.Dash, settings) -> None:
    @guarded_callback(
        app,
        Output(AssessmentIds.RUN, "children"),
        Output(AssessmentIds.MAP, "figure"),
        Output(AssessmentIds.GRID, "rowData"),
        Input(AssessmentIds.LEVEL, "value"),
        State(ShellIds.LANG, "data"),
    )
    def show_level(level, lang):
        return level_view(db_cursor(), level or "county", lang, geo_map_layers({"boundaries"}, settings.basemap))

    @guarded_callback(
        app,
        Output(AssessmentIds.GRID, "exportDataAsCsv"),
        Input(AssessmentIds.EXPORT, "n_clicks"),
        prevent_initial_call=True,
    )
    def export_csv(n_clicks):
        return bool(n_clicks)
