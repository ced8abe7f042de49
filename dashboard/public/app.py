"""The public embed app: a separate Dash app at /embed/ on the dashboard's Flask server.

It is a :class:`PublicDash`, which never adopts callbacks registered globally with
``dash.callback`` (Dash would otherwise copy them into whichever app sets itself up first), so its
``_dash-dependencies`` lists exactly the callbacks in :mod:`dashboard.public.callbacks`.
"""

from __future__ import annotations

import dash
from dash import _callback, dcc, html
from flask import Flask, Response, abort

from dashboard.public.callbacks import register_callbacks
from dashboard.public.ids import EmbedIds
from envtrust.settings import Settings
from geo.layers import layer_names, load_layer_json

# Fills the iframe whatever its size; no external fonts or scripts (embeds make no third-party requests).
INDEX_STRING = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
{%css%}
<style>
html, body { margin: 0; padding: 0; height: 100%; overflow: hidden;
  font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; background: #fff; }
#react-entry-point, #react-entry-point > div { height: 100%; }
.embed-page { height: 100%; display: flex; flex-direction: column; box-sizing: border-box; overflow-y: auto; }
.embed-head { padding: .3rem .6rem; font-size: clamp(.75rem, 2.5vw, 1rem); display: flex;
  justify-content: space-between; flex-wrap: wrap; gap: .3rem; border-bottom: 1px solid #e5e7eb; }
.embed-head small { color: #555; }
.embed-body { flex: 1 1 auto; min-height: 0; }
.embed-card { padding: .6rem; display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; }
.embed-badge { border-radius: 8px; padding: .4rem .8rem; font-size: clamp(1.4rem, 8vw, 2.6rem);
  font-weight: 700; min-width: 4.5rem; text-align: center; }
.embed-facts { font-size: clamp(.8rem, 3vw, 1rem); line-height: 1.5; }
.embed-foot { font-size: .7rem; color: #777; padding: .2rem .6rem; }
.embed-status { border-radius: 4px; padding: 0 .3rem; font-size: .85em; white-space: nowrap; }
.embed-status-preliminary { background: #fff4ce; color: #5c4400; }
.embed-status-audited { background: #dbeafe; color: #1e3a8a; }
.embed-status-final { background: #dcfce7; color: #14532d; }
.embed-status-withheld, .embed-status-none { background: #e5e7eb; color: #374151; }
.embed-values, .embed-table { border-collapse: collapse; font-size: clamp(.75rem, 2.8vw, .9rem); margin: 0 .6rem; }
.embed-values td, .embed-values th, .embed-table td, .embed-table th { padding: .15rem .5rem;
  border-bottom: 1px solid #eee; text-align: left; }
.embed-text { padding: .4rem .8rem; font-size: .9rem; line-height: 1.6; }
.embed-subhead { font-size: 1rem; margin: .4rem 0 .2rem; }
.embed-swatch { border-radius: 4px; padding: 0 .4rem; display: inline-block; min-width: 2rem; text-align: center; }
.embed-switches { padding: .3rem .6rem; display: flex; gap: .6rem; font-size: .85rem; }
.embed-switch { color: #1d4ed8; text-decoration: none; }
.embed-switch-on { font-weight: 700; text-decoration: underline; }
.embed-missed { color: #b42318; }
</style>
</head>
<body>
{%app_entry%}
<footer>
{%config%}
{%scripts%}
{%renderer%}
</footer>
</body>
</html>"""


class PublicDash(dash.Dash):
    """A Dash app that keeps only the callbacks registered on it with ``app.callback``."""

    def _setup_server(self):
        if self._got_first_request.get("setup_server"):
            return
        saved_map = dict(_callback.GLOBAL_CALLBACK_MAP)
        saved_list = list(_callback.GLOBAL_CALLBACK_LIST)
        _callback.GLOBAL_CALLBACK_MAP.clear()
        _callback.GLOBAL_CALLBACK_LIST.clear()
        try:
            super()._setup_server()
        finally:
            _callback.GLOBAL_CALLBACK_MAP.update(saved_map)
            _callback.GLOBAL_CALLBACK_LIST.extend(saved_list)


def build_layout() -> html.Div:
    """A URL reader and one page container; pages are rendered by the server per URL."""
    return html.Div([
        dcc.Location(id=EmbedIds.URL, refresh=False),
        dcc.Loading(html.Div(id=EmbedIds.PAGE, className="embed-page"), type="dot",
                    parent_style={"height": "100%"}),
    ], style={"height": "100%"})


def serve_layer(name: str) -> Response:
    """An offline map layer as GeoJSON (WGS-84), e.g. /embed/layers/provinces.geojson.

    Boundaries and rivers are public geography, so every layer of :mod:`geo.layers` is served here,
    for the embeds and for the internal maps alike (``dashboard.public.pages.layer_url``). Answers carry
    Cache-Control public + ETag, so a browser downloads each layer once instead of inside every
    map callback answer.
    """
    if name not in layer_names():
        abort(404)
    return Response(load_layer_json(name), mimetype="application/json")


def create_public_app(server: Flask, settings: Settings) -> dash.Dash:
    """Mount the embeds on ``server`` at /embed/ (``/embed/map``, ``/embed/station/<id>``,
    ``/embed/ranking``, ``/embed/water``, ``/embed/about``)."""
    server.add_url_rule("/embed/layers/<name>.geojson", "embed_layer", serve_layer)
    app = PublicDash(
        "dashboard.public",
        server=server,
        url_base_pathname="/embed/",
        title="envtrust",
        update_title=None,
        serve_locally=True,
        include_assets_files=False,
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.index_string = INDEX_STRING
    app.layout = build_layout
    register_callbacks(app, settings)
    return app
