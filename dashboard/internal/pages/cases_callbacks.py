"""Callbacks of the case page and the inbox: thin - read the form, call :mod:`envtrust.cases`
(which checks role, state, fields and version on the server), show the outcome."""

from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, dcc, html

from dashboard.auth import guarded_callback
from dashboard.i18n import t
from dashboard.internal.ids import CaseIds, InboxIds, ShellIds
from dashboard.internal.pages.cases import CASE_ROLES, case_href, state_label
from dashboard.internal.pages.cases_detail import case_body, field_inputs
from dashboard.internal.pages.cases_inbox import open_case_from
from dashboard.request_state import current_user, db_cursor
from envtrust import cases


def set_callbacks(app: dash.Dash, settings) -> None:
    tz = settings.display_tz
    clocks = cases.parse_clocks(settings.case_clocks)

    @guarded_callback(
        app,
        Output(CaseIds.FIELDS, "children"),
        Input(CaseIds.ACTION, "value"),
        State(ShellIds.LANG, "data"),
        roles=CASE_ROLES,
        prevent_initial_call=True,
    )
    def show_fields(action, lang):
        return field_inputs(action, lang)

    @guarded_callback(
        app,
        Output(CaseIds.BODY, "children"),
        Output(CaseIds.MESSAGE, "children"),
        Input(CaseIds.SUBMIT, "n_clicks"),
        State(CaseIds.CASE, "data"),
        State(CaseIds.VERSION, "data"),
        State(CaseIds.ACTION, "value"),
        State(CaseIds.REASON, "value"),
        State({"type": CaseIds.FIELD, "name": ALL}, "value"),
        State({"type": CaseIds.FIELD, "name": ALL}, "id"),
        State(ShellIds.LANG, "data"),
        roles=CASE_ROLES,
        prevent_initial_call=True,
    )
    def submit(n_clicks, case_id, version, action, reason, values, ids, lang):
        if not n_clicks or not action:
            raise dash.exceptions.PreventUpdate
        user = current_user()
        fields = {i["name"]: v for i, v in zip(ids or [], values or [], strict=True) if v}
        con = db_cursor()
        try:
            result = cases.transition(con, str(case_id), str(action), actor=user.username, role=user.role,
                                      expected_version=int(version or 0), reason=reason, fields=fields)
        except cases.CaseError as exc:
            return dash.no_update, html.Div(str(exc), className="alert alert-danger")
        body = case_body(con, str(case_id), user.role, lang, tz, clocks)
        note = "; ".join(result.side_effects)
        return body, html.Div(f"{t('case_done', lang)}: {state_label(result.from_state, lang)} -> "
                              f"{state_label(result.to_state, lang)}"
                              + (f" ({note})" if note else ""), className="alert alert-success")

    @guarded_callback(
        app,
        Output(InboxIds.MESSAGE, "children"),
        Input({"type": InboxIds.OPEN_ALARM, "ref": ALL}, "n_clicks"),
        Input({"type": InboxIds.OPEN_TIP, "ref": ALL}, "n_clicks"),
        State(ShellIds.LANG, "data"),
        roles=tuple(sorted(cases.OPEN_ROLES)),
        prevent_initial_call=True,
    )
    def open_case(_alarm_clicks, _tip_clicks, lang):
        trigger = dash.ctx.triggered_id
        if not isinstance(trigger, dict) or not any(_alarm_clicks + _tip_clicks):
            raise dash.exceptions.PreventUpdate
        user = current_user()
        try:
            case_id = open_case_from(db_cursor(), user.username, user.role, trigger["type"], str(trigger["ref"]), lang)
        except cases.CaseError as exc:
            return html.Div(str(exc), className="alert alert-danger")
        return html.Div([f"{t('case_opened', lang)}: ", dcc.Link(case_id, href=case_href(case_id), id=InboxIds.NEW_CASE)],
                        className="alert alert-success")
