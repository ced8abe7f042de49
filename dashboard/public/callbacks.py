"""The embeds' only callback: render the page the URL names, from released values.

Registered with ``app.callback`` on the public app (never ``dash.callback``), so it exists only there.
"""

from __future__ import annotations

import dash
from dash import Input, Output

from dashboard.public.ids import EmbedIds
from dashboard.public.pages import render_path
from dashboard.public.text import language_from_query
from envtrust.settings import Settings


def register_callbacks(app: dash.Dash, settings: Settings) -> None:
    """Attach the page renderer to ``app``; the answer depends only on the URL and released data."""

    @app.callback(
        Output(EmbedIds.PAGE, "children"),
        Input(EmbedIds.URL, "pathname"),
        Input(EmbedIds.URL, "search"),
    )
    def render_embed_page(pathname: str | None, search: str | None):
        from dashboard.server import db_cursor  # imported late: the server imports this package

        return render_path(db_cursor(), pathname or "", language_from_query(search), settings.display_tz)
