"""Our GeoJSON display layers served by URL under /app/ (login required, cached by the browser).

Why: inlining the boundaries in every map figure costs ~0.5 s of JSON work per callback and
~0.5 MB per answer; by URL, MapLibre downloads each layer once and the figure stays small.
"""

from __future__ import annotations

import json
import re

import flask

from dashboard.auth import require_role
from dashboard.figures.situation_map import shifted_layer
from geo.layers import layer_names, load_layer_json

GEO_PATH = "/app/_geo/"
CRS = ("wgs84", "gcj02")
_NAME = re.compile(r"^[a-z0-9_]+$")


def layer_url(name: str, crs: str = "wgs84") -> str:
    """URL of a display layer (``crs`` wgs84, or gcj02 for AutoNavi tiles)."""
    return f"{GEO_PATH}{name}.geojson" + ("?crs=gcj02" if crs == "gcj02" else "")


def layer_body(name: str, crs: str) -> str | None:
    """The layer's GeoJSON text, or None for an unknown layer/CRS (never a path from the request)."""
    if not _NAME.match(name) or name not in layer_names() or crs not in CRS:
        return None
    if crs == "gcj02":
        return json.dumps(shifted_layer(name), ensure_ascii=False, separators=(",", ":"))
    return load_layer_json(name)


def register_geo_route(server: flask.Flask) -> None:
    """Add ``/app/_geo/<name>.geojson`` to the server (guarded like every /app/ path)."""

    def serve(name: str) -> flask.Response:
        require_role()
        body = layer_body(name, flask.request.args.get("crs", "wgs84"))
        if body is None:
            flask.abort(404)
        response = flask.make_response(body)
        response.headers["Content-Type"] = "application/geo+json; charset=utf-8"
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response

    server.add_url_rule(GEO_PATH + "<name>.geojson", "envtrust_internal_geo", serve)
