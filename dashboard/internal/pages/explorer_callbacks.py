"""Callbacks of the anomaly explorer: fill the grid, quick filter, CSV export, click -> station page."""

from __future__ import annotations

import dash
from dash import Input, Output, State

from dashboard.auth import guarded_callback
from dashboard.i18n import t
from dashboard.internal.ids import ExplorerIds, ShellIds
from dashboard.internal.pages.explorer import event_href, event_rows, workload_lines
from dashboard.request_state import db_cursor


def set_callbacks(app: dash.Dash, settings) -> None:
    tz = settings.display_tz

    @guarded_callback(
        app,
        Output(ExplorerIds.GRID, "rowData"),
        Output(ExplorerIds.COUNT, "children"),
        Output(ExplorerIds.WORKLOAD, "children"),
        Input(ExplorerIds.KIND, "value"),
        Input(ExplorerIds.STATUS, "value"),
        Input(ExplorerIds.MIN_SCORE, "value"),
        Input(ExplorerIds.DATA_GAPS, "value"),
        State(ShellIds.LANG, "data"),
    )
    def fill_grid(kinds, statuses, min_score, gaps, lang):
        con = db_cursor()
        rows = event_rows(con, kinds, statuses, min_score, lang, tz, data_gaps=bool(gaps))
        return rows, f"{t('n_events', lang)}: {len(rows)}", workload_lines(con, settings.analyst_capacity, lang)

    @guarded_callback(
        app,
        Output(ExplorerIds.GRID, "dashGridOptions"),
        Input(ExplorerIds.QUICK, "value"),
        State(ExplorerIds.GRID, "dashGridOptions"),
        prevent_initial_call=True,
    )
    def quick_filter(text, options):
        return {**(options or {}), "quickFilterText": text or ""}

    @guarded_callback(
        app,
        Output(ExplorerIds.GRID, "exportDataAsCsv"),
        Input(ExplorerIds.EXPORT, "n_clicks"),
        prevent_initial_call=True,
    )
    def export_csv(n_clicks):
        return bool(n_clicks)

    @guarded_callback(
        app,
        Output(ExplorerIds.NAV, "href"),
        Input(ExplorerIds.GRID, "cellClicked"),
        prevent_initial_call=True,
    )
    def open_event(cell):
        href = event_href(db_cursor(), (cell or {}).get("rowId"))
        if href is None:
            raise dash.exceptions.PreventUpdate
        return href
