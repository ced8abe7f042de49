"""Factory of the internal Dash app, mounted by ``dashboard.server.create_server`` at ``/app/``."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Input, Output, State

from dashboard.auth import guarded_callback
from dashboard.i18n import normalise_lang
from dashboard.internal import layout as shell_layout
from dashboard.internal.evidence_route import register_evidence_route
from dashboard.internal.geo_route import register_geo_route
from dashboard.internal.ids import ShellIds
from dashboard.internal.pages import (
    assessment_callbacks,
    cases_callbacks,
    contractors_callbacks,
    explorer_callbacks,
    record_callbacks,
    situation_callbacks,
    station_callbacks,
)
from dashboard.request_state import current_user, db_cursor

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def create_internal_app(server, settings) -> dash.Dash:
    """Build the internal app on ``server`` at ``/app/``: shell, router, and each page's callbacks.

    Every callback is registered with :func:`dashboard.auth.guarded_callback`, which checks the
    login and role before anything else; the layout itself is static (no data), and pages are
    rendered by the router callback, so nothing internal is served without a session. Figures are
    built per request; the app keeps no mutable state.
    """
    app = dash.Dash(
        __name__,
        server=server,
        url_base_pathname=shell_layout.PREFIX,
        assets_folder=str(ASSETS),
        suppress_callback_exceptions=True,
        title="envtrust",
        update_title=None,
        serve_locally=True,
    )
    app.layout = shell_layout.shell
    register_geo_route(server)
    register_evidence_route(server)
    tz = settings.display_tz

    @guarded_callback(
        app,
        Output(ShellIds.PAGE, "children"),
        Input(ShellIds.LOCATION, "pathname"),
        Input(ShellIds.LOCATION, "search"),
        Input(ShellIds.LANG, "data"),
    )
    def render(pathname, search, lang):
        return shell_layout.render_page(db_cursor(), pathname, search, lang, tz, current_user())

    @guarded_callback(
        app,
        Output(ShellIds.TITLE, "children"),
        Output(ShellIds.NAV_SITUATION, "children"),
        Output(ShellIds.NAV_EVENTS, "children"),
        Output(ShellIds.NAV_INBOX, "children"),
        Output(ShellIds.NAV_CASES, "children"),
        Output(ShellIds.USER, "children"),
        Output(ShellIds.LANG_BUTTON, "children"),
        Output(ShellIds.LOGOUT, "children"),
        Output(ShellIds.NAV_RECORD, "children"),
        Output(ShellIds.NAV_ASSESSMENT, "children"),
        Output(ShellIds.NAV_CONTRACTORS, "children"),
        Input(ShellIds.LANG, "data"),
    )
    def header(lang):
        user = current_user()
        return shell_layout.header_texts(lang, f"{user.username} ({user.role})")

    @guarded_callback(
        app,
        Output(ShellIds.LANG, "data"),
        Input(ShellIds.LANG_BUTTON, "n_clicks"),
        State(ShellIds.LANG, "data"),
        prevent_initial_call=True,
    )
    def switch_language(_n, lang):
        return "en" if normalise_lang(lang) == "zh" else "zh"

    situation_callbacks.set_callbacks(app, settings)
    explorer_callbacks.set_callbacks(app, settings)
    station_callbacks.set_callbacks(app, settings)
    cases_callbacks.set_callbacks(app, settings)
    record_callbacks.set_callbacks(app, settings)
    assessment_callbacks.set_callbacks(app, settings)
    contractors_callbacks.set_callbacks(app, settings)
    return app
