"""The situation map (态势一张图): every network as a switchable layer on one offline map.

Offline by default: MapLibre style ``white-bg`` plus our own GeoJSON layers (boundaries, rivers),
so nothing is fetched from the internet (stack-notes.md: tiled styles leave the map blank offline).
No text labels are drawn on the map (MapLibre would ask a public glyph server): names show on hover.

An online tile basemap is a setting: ``osm`` (WGS-84 based web-mercator tiles, points as they are)
or ``amap`` (AutoNavi tiles in GCJ-02: points and our layers are shifted with
``geo.coords.wgs84_to_gcj02`` so they sit on the right street).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.colours import (
    COMPLIANT_COLOUR,
    EXCEEDANCE_COLOUR,
    NO_DATA_COLOUR,
    SUSPICION_COLOUR,
    aqi_colour,
    water_colour,
)
from dashboard.i18n import aqi_level_name, t, water_class_name
from envtrust.settings import BASEMAPS
from geo.coords import wgs84_to_gcj02
from geo.layers import layer_names, load_layer

AMAP_TILES = "https://webrd01.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
STATION_LAYERS: tuple[str, ...] = ("air_station", "air_micro", "water_section", "polluter_outlet")
#: Our GeoJSON layers (geo.layers names) drawn for each switchable map layer.
GEO_LAYERS: dict[str, tuple[str, ...]] = {
    "boundaries": ("provinces", "bth_cities"),
    "rivers": ("haihe_rivers", "haihe_lakes"),
}
ALL_LAYERS: tuple[str, ...] = STATION_LAYERS + ("boundaries", "rivers", "suspicion")
ROLE_COLOURS = {"inbound": "#00897b", "outbound": "#e65100", "control": "#1565c0", "drinking_source": "#283593"}
ARROW_LEN_DEG = 0.035


def _fmt(v: object, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{float(v):.{digits}f}"


HOVER_COLUMNS = ("station_id", "name", "kind", "aqi", "aqi_level", "primary_pollutant", "water_class",
                 "section_role", "river", "enterprise", "limit_ratio", "exceedance", "worst_parameter",
                 "suspicion", "n_events")


def _air_hover_texts(df: pd.DataFrame, lang: str) -> list[str]:
    """:func:`_hover` for air stations with the translations looked up once per trace, not per
    station (the same text; the hover was most of the figure's cost at 2,000 stations)."""
    t_aqi, t_primary, t_none, t_sus = (t(k, lang) for k in ("aqi", "primary_pollutant", "no_data", "suspicion"))
    level_names = {lvl: aqi_level_name(lvl, lang) for lvl in range(1, 7)}
    out = []
    for sid, name, aqi, level, primary, sus, n_ev in zip(
            *(df[c].astype(object).tolist() for c in ("station_id", "name", "aqi", "aqi_level",
                                                      "primary_pollutant", "suspicion", "n_events")), strict=True):
        text = f"<b>{name}</b> ({sid})"
        if level is not None and level == level:  # not NaN
            lvl = int(level)
            text += f"<br>{t_aqi} {_fmt(aqi)} {level_names[lvl] if lvl in level_names else aqi_level_name(lvl, lang)}"
            if isinstance(primary, str):
                text += f"<br>{t_primary}: {primary}"
        else:
            text += f"<br>{t_none}"
        if sus > 0:
            text += f"<br>{t_sus}: {_fmt(sus, 2)} ({int(n_ev)})"
        out.append(text)
    return out


def _hover_texts(df: pd.DataFrame, lang: str) -> list[str]:
    """Hover text per row; only the needed columns are converted (speed at 2,000 stations)."""
    if {"station_id", "name", "aqi", "aqi_level", "primary_pollutant", "suspicion", "n_events"} <= set(df.columns) \
            and df["kind"].isin(["air_station", "air_micro"]).all():
        return _air_hover_texts(df, lang)
    cols = [c for c in HOVER_COLUMNS if c in df.columns]
    return [_hover(dict(zip(cols, values, strict=True)), lang)
            for values in zip(*(df[c].astype(object).tolist() for c in cols), strict=True)]


def _hover(row: dict, lang: str) -> str:
    """Hover text (plain text; plotly escapes it). Names as in the source."""
    lines = [f"<b>{row['name']}</b> ({row['station_id']})"]
    kind = row["kind"]
    if kind in ("air_station", "air_micro"):
        if pd.notna(row.get("aqi_level")):
            lines.append(f"{t('aqi', lang)} {_fmt(row['aqi'])} {aqi_level_name(int(row['aqi_level']), lang)}")
            if isinstance(row.get("primary_pollutant"), str):
                lines.append(f"{t('primary_pollutant', lang)}: {row['primary_pollutant']}")
        else:
            lines.append(t("no_data", lang))
    elif kind == "water_section":
        if pd.notna(row.get("water_class")):
            lines.append(f"{t('water_class', lang)}: {water_class_name(int(row['water_class']), lang)}")
        else:
            lines.append(t("no_data", lang))
        if isinstance(row.get("section_role"), str):
            lines.append(t(row["section_role"], lang) + (f" · {row['river']}" if isinstance(row.get("river"), str) else ""))
    elif kind == "polluter_outlet":
        if isinstance(row.get("enterprise"), str):
            lines.append(row["enterprise"])
        if pd.notna(row.get("limit_ratio")):
            verdict = t("exceeding", lang) if row["exceedance"] else t("compliant", lang)
            lines.append(f"{verdict}: {row['worst_parameter']} {t('limit_ratio', lang)} {_fmt(row['limit_ratio'], 2)}")
        else:
            lines.append(t("no_data", lang))
    if row.get("suspicion", 0) > 0:
        lines.append(f"{t('suspicion', lang)}: {_fmt(row['suspicion'], 2)} ({int(row.get('n_events', 0))})")
    return "<br>".join(lines)


def display_coords(lon: np.ndarray, lat: np.ndarray, basemap: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 points as drawn on the chosen basemap (GCJ-02 for AutoNavi tiles)."""
    if basemap == "amap":
        return wgs84_to_gcj02(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _shift_geojson(obj: object) -> object:
    """Recursively convert a GeoJSON coordinate tree from WGS-84 to GCJ-02."""
    if isinstance(obj, dict):
        out = dict(obj)
        if "coordinates" in out:
            out["coordinates"] = _shift_coords(out["coordinates"])
        for key in ("geometry", "features", "geometries"):
            if key in out:
                out[key] = _shift_geojson(out[key])
        return out
    if isinstance(obj, list):
        return [_shift_geojson(o) for o in obj]
    return obj


def _shift_coords(c: list) -> list:
    if c and isinstance(c[0], (int, float)):
        lon, lat = wgs84_to_gcj02(float(c[0]), float(c[1]))
        return [lon, lat]
    return [_shift_coords(x) for x in c]


def shifted_layer(name: str) -> dict:
    """A display layer converted to GCJ-02 (for AutoNavi tiles)."""
    return _shift_geojson(load_layer(name))


def geo_map_layers(layers: set[str] | list[str], basemap: str = "offline",
                   geojson: dict[str, dict] | None = None,
                   layer_url: Callable[[str, str], str] | None = None) -> list[dict]:
    """MapLibre layer dicts for the boundary/river layers switched on (GeoJSON from geo.layers).

    With ``layer_url(name, crs)`` the layer is referenced by URL (the browser downloads and caches
    it once; the figure stays small); otherwise the GeoJSON is inlined in the figure.
    """
    have = set(layer_names())
    out: list[dict] = []
    if basemap == "amap":
        out.append({"sourcetype": "raster", "source": [AMAP_TILES], "below": "traces"})
    styles = {
        "provinces": {"type": "line", "color": "#616161", "line": {"width": 1.2}},
        "bth_cities": {"type": "line", "color": "#9e9e9e", "line": {"width": 0.8}},
        "haihe_rivers": {"type": "line", "color": "#4fc3f7", "line": {"width": 1.2}},
        "haihe_lakes": {"type": "fill", "color": "#b3e5fc", "opacity": 0.8},
    }
    for group in ("rivers", "boundaries"):
        if group not in layers:
            continue
        for name in GEO_LAYERS[group]:
            if name not in have:
                continue
            crs = "gcj02" if basemap == "amap" else "wgs84"
            if layer_url is not None:
                gj = layer_url(name, crs)
            else:
                gj = (geojson or {}).get(name) or (shifted_layer(name) if crs == "gcj02" else load_layer(name))
            out.append({"source": gj, "sourcetype": "geojson", "below": "traces", **styles[name]})
    return out


def view_for(lon: pd.Series, lat: pd.Series) -> tuple[dict, float]:
    """Centre and zoom that fit the points (web-mercator rule of thumb: 360 deg / 2^zoom per 512 px)."""
    lon = pd.to_numeric(lon, errors="coerce").dropna()
    lat = pd.to_numeric(lat, errors="coerce").dropna()
    if lon.empty:
        return {"lon": 116.4, "lat": 39.9}, 7.0
    span = max(float(lon.max() - lon.min()), float(lat.max() - lat.min()) * 1.3, 0.05)
    zoom = float(np.clip(math.log2(360.0 / span) - 0.6, 2.0, 13.0))
    return {"lon": float((lon.min() + lon.max()) / 2), "lat": float((lat.min() + lat.max()) / 2)}, zoom


def _arrow_paths(df: pd.DataFrame, basemap: str) -> tuple[list, list]:
    """Arrow glyphs (shaft + two head strokes) pointing downstream at each section, as line paths."""
    lons: list = []
    lats: list = []
    for r in df.to_dict("records"):
        b = r.get("flow_bearing_deg")
        if b is None or not np.isfinite(b):
            continue
        rad = math.radians(float(b))
        k = 1.0 / max(math.cos(math.radians(float(r["lat"]))), 0.2)
        x0, y0 = float(r["lon"]), float(r["lat"])
        x1, y1 = x0 + ARROW_LEN_DEG * math.sin(rad) * k, y0 + ARROW_LEN_DEG * math.cos(rad)
        pts = [(x0, y0), (x1, y1)]
        for side in (150, -150):
            hr = rad + math.radians(side)
            pts_head = [(x1, y1), (x1 + 0.4 * ARROW_LEN_DEG * math.sin(hr) * k, y1 + 0.4 * ARROW_LEN_DEG * math.cos(hr))]
            pts += [(None, None)] + pts_head
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        valid = [i for i, v in enumerate(xs) if v is not None]
        tx, ty = display_coords(np.array([xs[i] for i in valid]), np.array([ys[i] for i in valid]), basemap)
        it = iter(zip(tx, ty, strict=True))
        for v in xs:
            if v is None:
                lons.append(None)
                lats.append(None)
            else:
                a, c = next(it)
                lons.append(float(a))
                lats.append(float(c))
        lons.append(None)
        lats.append(None)
    return lons, lats


def _points(df: pd.DataFrame, name: str, colour: str, size: float, lang: str, basemap: str,
            legendgroup: str, opacity: float = 0.95) -> dict:
    """One scattermap trace as a plain dict (no per-point validation cost at 2,000 stations)."""
    lon, lat = display_coords(df["lon"].to_numpy(), df["lat"].to_numpy(), basemap)
    return {
        "type": "scattermap", "lon": lon.tolist(), "lat": lat.tolist(), "mode": "markers", "name": name,
        "legendgroup": legendgroup, "marker": {"size": size, "color": colour, "opacity": opacity},
        "customdata": [[sid] for sid in df["station_id"]],
        "hovertext": _hover_texts(df, lang), "hoverinfo": "text",
    }


def situation_map(status: pd.DataFrame, layers: set[str] | list[str] | None = None, lang: str = "zh",
                  basemap: str = "offline", center: dict | None = None, zoom: float | None = None,
                  geojson: dict[str, dict] | None = None) -> go.Figure:
    """:func:`situation_map_dict` as a validated ``go.Figure`` (GeoJSON inlined)."""
    return go.Figure(situation_map_dict(status, layers, lang, basemap, center, zoom, geojson))


def situation_map_dict(status: pd.DataFrame, layers: set[str] | list[str] | None = None, lang: str = "zh",
                       basemap: str = "offline", center: dict | None = None, zoom: float | None = None,
                       geojson: dict[str, dict] | None = None,
                       layer_url: Callable[[str, str], str] | None = None) -> dict:
    """One scattermap figure (plain dict, as Dash sends it) of the stations in ``status``
    (``data.views.station_status``).

    ``layers`` picks from :data:`ALL_LAYERS`; each trace carries the station id in ``customdata``
    so a click can open the station page. Stations whose integrity is in doubt get a purple ring
    under their marker, its size growing with the suspicion score (0..1). A plain dict because
    plotly's per-point validation costs more than the whole query at 2,000 stations.
    """
    if basemap not in BASEMAPS:
        raise ValueError(f"unknown basemap {basemap!r}; choose one of {', '.join(BASEMAPS)}")
    layers = set(ALL_LAYERS if layers is None else layers)
    data: list[dict] = []
    shown = status[status["kind"].isin([k for k in STATION_LAYERS if k in layers])]

    if "suspicion" in layers:
        sus = shown[shown["suspicion"] > 0]
        if not sus.empty:
            lon, lat = display_coords(sus["lon"].to_numpy(), sus["lat"].to_numpy(), basemap)
            data.append({
                "type": "scattermap", "lon": lon.tolist(), "lat": lat.tolist(), "mode": "markers",
                "name": t("layer_suspicion", lang), "legendgroup": "suspicion",
                "marker": {"size": (14 + 16 * sus["suspicion"].clip(0, 1)).round(1).tolist(),
                           "color": SUSPICION_COLOUR, "opacity": 0.5},
                "customdata": [[sid] for sid in sus["station_id"]],
                "hovertext": _hover_texts(sus, lang), "hoverinfo": "text",
            })

    for kind, size in (("air_station", 13), ("air_micro", 7)):
        part = shown[shown["kind"] == kind]
        if part.empty:
            continue
        levels = part["aqi_level"]
        for level in sorted(levels.dropna().unique()):
            sub = part[levels == level]
            data.append(_points(sub, f"{t('layer_' + kind, lang)} · {aqi_level_name(int(level), lang)}",
                                  aqi_colour(level), size, lang, basemap, kind))
        nodata = part[levels.isna()]
        if not nodata.empty:
            data.append(_points(nodata, f"{t('layer_' + kind, lang)} · {t('no_data', lang)}",
                                NO_DATA_COLOUR, max(5, size - 6), lang, basemap, kind, opacity=0.6))

    water = shown[shown["kind"] == "water_section"]
    if not water.empty:
        for role in ROLE_COLOURS:
            part = water[water["section_role"] == role]
            if part.empty:
                continue
            lons, lats = _arrow_paths(part, basemap)
            if lons:
                data.append({
                    "type": "scattermap", "lon": lons, "lat": lats, "mode": "lines",
                    "name": f"{t(role, lang)} · {t('flow_direction', lang)}", "legendgroup": "water_section",
                    "line": {"width": 3 if role in ("inbound", "outbound") else 1.5, "color": ROLE_COLOURS[role]},
                    "hoverinfo": "skip",
                })
        classes = water["water_class"]
        for cls in sorted(classes.dropna().unique()):
            sub = water[classes == cls]
            data.append(_points(sub, f"{t('layer_water_section', lang)} · {water_class_name(int(cls), lang)}",
                                  water_colour(cls), 12, lang, basemap, "water_section"))
        nodata = water[classes.isna()]
        if not nodata.empty:
            data.append(_points(nodata, f"{t('layer_water_section', lang)} · {t('no_data', lang)}",
                                  NO_DATA_COLOUR, 12, lang, basemap, "water_section"))

    outlets = shown[shown["kind"] == "polluter_outlet"]
    if not outlets.empty:
        for flag, colour, key in ((True, EXCEEDANCE_COLOUR, "exceeding"), (False, COMPLIANT_COLOUR, "compliant")):
            sub = outlets[(outlets["exceedance"] == flag) & outlets["limit_ratio"].notna()]
            if not sub.empty:
                data.append(_points(sub, f"{t('layer_polluter_outlet', lang)} · {t(key, lang)}",
                                      colour, 10, lang, basemap, "polluter_outlet"))
        nodata = outlets[outlets["limit_ratio"].isna()]
        if not nodata.empty:
            data.append(_points(nodata, f"{t('layer_polluter_outlet', lang)} · {t('no_data', lang)}",
                                  NO_DATA_COLOUR, 10, lang, basemap, "polluter_outlet"))

    if center is None or zoom is None:
        # fit the stations that have data in the period (a national list may hold many silent ones)
        focus = status[status["has_data"]] if "has_data" in status and status["has_data"].any() else status
        c, z = view_for(focus["lon"], focus["lat"])
        center = center or c
        zoom = z if zoom is None else zoom
    style = "open-street-map" if basemap == "osm" else "white-bg"
    layout = {
        "map": {"style": style, "center": center, "zoom": zoom,
                "layers": geo_map_layers(layers, basemap, geojson, layer_url)},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "legend": {"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.85)", "font": {"size": 11}},
        "uirevision": "situation",  # keep the user's pan/zoom across time steps
        "clickmode": "event",
    }
    return {"data": data, "layout": layout}
