"""Callbacks of the recording page: save, attachment names, receipt and (admin) checkpoint."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html

from dashboard.auth import guarded_callback
from dashboard.internal.ids import RecordIds, ShellIds
from dashboard.internal.pages.record import receipt_text, save_record
from dashboard.request_state import current_user, db_cursor, settings
from envtrust.record import service


def set_callbacks(app: dash.Dash, _settings) -> None:
    @guarded_callback(
        app,
        Output(RecordIds.STATUS, "children"),
        Output(RecordIds.LIST, "children"),
        Output(RecordIds.LAST_INDEX, "data"),
        Input(RecordIds.SAVE, "n_clicks"),
        State(RecordIds.NAME, "value"), State(RecordIds.POST, "value"), State(RecordIds.UNIT, "value"),
        State(RecordIds.CHANNEL, "value"), State(RecordIds.OCCURRED_AT, "value"), State(RecordIds.CONTENT, "value"),
        State(RecordIds.STATIONS, "value"), State(RecordIds.CASES, "value"),
        State(RecordIds.UPLOAD, "contents"), State(RecordIds.UPLOAD, "filename"),
        State(ShellIds.LANG, "data"),
        prevent_initial_call=True,
    )
    def save(_n, name, post, unit, channel, occurred_at, content, stations, cases, contents, filenames, lang):
        user = current_user()
        form = {"name": name, "post": post, "unit": unit, "channel": channel, "occurred_at": occurred_at,
                "content": content, "stations": stations, "cases": cases, "contents": contents,
                "filenames": filenames}
        return save_record(db_cursor(), settings(), form, user.username, user.role, lang)

    @guarded_callback(
        app,
        Output(RecordIds.ATTACHED, "children"),
        Input(RecordIds.UPLOAD, "filename"),
        prevent_initial_call=True,
    )
    def attached(filenames):
        return [html.Div(name) for name in filenames or []]

    @guarded_callback(
        app,
        Output(RecordIds.RECEIPT_DOWNLOAD, "data"),
        Input(RecordIds.RECEIPT, "n_clicks"),
        State(RecordIds.LAST_INDEX, "data"),
        prevent_initial_call=True,
    )
    def receipt(_n, index):
        user = current_user()
        if not isinstance(index, int):
            raise dash.exceptions.PreventUpdate
        text = receipt_text(db_cursor(), settings(), index, user.username, user.role)
        if text is None:
            raise dash.exceptions.PreventUpdate
        return dcc.send_string(text, filename=f"receipt-{index}.json")

    @guarded_callback(
        app,
        Output(RecordIds.CHECKPOINT_DOWNLOAD, "data"),
        Input(RecordIds.CHECKPOINT, "n_clicks"),
        prevent_initial_call=True,
        roles=("admin",),
    )
    def checkpoint(_n):
        note = service.checkpoint(db_cursor(), service.signer_from_settings(settings()))
        return dcc.send_string(note, filename="checkpoint.txt")
