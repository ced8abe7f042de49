"""Callbacks of the contractor page: CSV export of the scorecard (the page itself is rendered by the router)."""

from __future__ import annotations

import dash
from dash import Input, Output

from dashboard.auth import guarded_callback
from dashboard.internal.ids import ContractorIds


def set_callbacks(app: dash.Dash, settings) -> None:
    @guarded_callback(
        app,
        Output(ContractorIds.GRID, "exportDataAsCsv"),
        Input(ContractorIds.EXPORT, "n_clicks"),
        prevent_initial_call=True,
    )
    def export_csv(n_clicks):
        return bool(n_clicks)
