"""The embed pages, built fresh per request from released values (no module-level state).

``/embed/map``: the public map of the latest released hour: air stations coloured by HJ 633-2012
AQI level, water sections by GB 3838-2002 class, on our own offline boundary layer. Markers only:
no text labels on the map, because MapLibre would fetch glyphs from a public font server.
``/embed/station/<id>``: a station card with the latest released AQI, level and primary pollutant
(or water class) and the last 24 hours.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, unquote

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from analytics.vocabulary import CST_UTC_OFFSET_H, PARAMETERS
from dashboard.public import lists, quality
from dashboard.public.about import about_page
from dashboard.public.quality import status_tag
from dashboard.public.text import status_label, t
from data import public_views
from geo.layers import layer_names

PUBLIC_PREFIX = "/embed/"
MAP_STYLE = "white-bg"  # renders offline; tiled styles would fetch from the internet
BOUNDARY_LAYER = "provinces"
RIVER_LAYER = "haihe_rivers"
GRAPH_CONFIG = {"displayModeBar": False, "responsive": True, "scrollZoom": True}
NO_DATA_COLOUR = "#9e9e9e"


def render_path(con: duckdb.DuckDBPyConnection, pathname: str, lang: str, display_tz: str,
                aqi_table: str | None = None, query: dict[str, str] | None = None):
    """Dispatch on the URL path: map, station card, ranking, water sections, data description, or a
    not-found note. ``query``: the page's own query arguments (see :data:`PAGE_QUERY`)."""
    rest = pathname[len(PUBLIC_PREFIX):] if pathname.startswith(PUBLIC_PREFIX) else ""
    rest = rest.strip("/")
    if rest == "map":
        return map_page(con, lang, display_tz, aqi_table)
    if rest.startswith("station/"):
        return station_page(con, unquote(rest[len("station/"):]), lang, display_tz, aqi_table)
    if rest == "ranking":
        return lists.ranking_page(con, lang, query or {})
    if rest == "water":
        return lists.water_page(con, lang, lambda ts: local_time_label(ts, display_tz))
    if rest == "about":
        return about_page(lang)
    return html.Div(t("not_found_page", lang), className="embed-head")


#: the query arguments a page reads (anything else in the URL is ignored and not part of the cache key)
PAGE_QUERY: tuple[str, ...] = ("by", "date")


def page_query(search: str | None) -> dict[str, str]:
    """The page's own query arguments from the URL's query string, each at most 32 characters."""
    values = parse_qs((search or "").lstrip("?"))
    return {k: values[k][0][:32] for k in PAGE_QUERY if values.get(k)}


def local_time_label(ts_utc: pd.Timestamp | None, display_tz: str) -> str:
    """A naive-UTC hour as 'YYYY-MM-DD HH:00' in the display time zone (Asia/Shanghai by default)."""
    if ts_utc is None or pd.isna(ts_utc):
        return "-"
    return pd.Timestamp(ts_utc).tz_localize("UTC").tz_convert(display_tz).strftime("%Y-%m-%d %H:00")


def _mercator_y(lat_deg: float) -> float:
    lat = math.radians(max(min(lat_deg, 85.0), -85.0))
    return math.log(math.tan(math.pi / 4 + lat / 2))


def map_view(lons: pd.Series, lats: pd.Series, width_px: int = 600, height_px: int = 420) -> dict:
    """Centre and zoom that fit every point in a ``width_px`` x ``height_px`` view.

    Web-Mercator: at zoom z the world is 512 * 2**z px wide and tall (2 pi in Mercator y). The size
    is a typical iframe (the server does not know the real one); larger iframes show more around.
    """
    if len(lons) == 0:
        return {"center": {"lon": 104.0, "lat": 35.0}, "zoom": 2.6}
    lon_span = max(float(lons.max() - lons.min()), 0.05)
    y_span = max(_mercator_y(float(lats.max())) - _mercator_y(float(lats.min())), 0.001)
    zoom = min(math.log2(width_px * 360.0 / (512 * lon_span)), math.log2(height_px * 2 * math.pi / (512 * y_span)))
    centre_y = (_mercator_y(float(lats.max())) + _mercator_y(float(lats.min()))) / 2
    centre_lat = math.degrees(2 * math.atan(math.exp(centre_y)) - math.pi / 2)
    return {"center": {"lon": float((lons.max() + lons.min()) / 2), "lat": centre_lat},
            "zoom": round(max(min(zoom - 0.1, 11.0), 1.0), 2)}


def base_layers() -> list[dict]:
    """Offline map layers by URL (served, cached and ETagged under /embed/layers/), so the map
    callback answer stays small and many readers share one cached copy of each layer."""
    return [
        {"source": layer_url(BOUNDARY_LAYER), "sourcetype": "geojson", "type": "line", "color": "#8a8f98",
         "line": {"width": 0.8}, "below": "traces"},
        {"source": layer_url(RIVER_LAYER), "sourcetype": "geojson", "type": "line", "color": "#7fb3e6",
         "line": {"width": 1.0}, "below": "traces"},
    ]


def layer_url(name: str) -> str:
    """Where the server serves the offline map layer ``name`` (see dashboard.public.app.serve_layer)."""
    if name not in layer_names():
        raise ValueError(f"unknown map layer {name!r}; known: {', '.join(layer_names())}")
    return f"{PUBLIC_PREFIX}layers/{name}.geojson"


def public_map_figure(air: pd.DataFrame, water: pd.DataFrame, lang: str, layers: list[dict],
                      silent: pd.DataFrame | None = None) -> go.Figure:
    """Markers per AQI level / water class (one trace each, so the legend is the colour key).

    ``air`` needs station columns + ``aqi``, ``level``; ``water`` station columns + ``water_class``;
    ``silent``: official stations with nothing released at the hour shown (grey, drawn first).
    Hover text is the only text (DOM tooltips, not map glyphs).
    """
    fig = go.Figure()
    name_col = "name" if lang == "zh" else "display_name"
    if silent is not None and len(silent):
        fig.add_trace(go.Scattermap(
            lon=silent["lon"], lat=silent["lat"], mode="markers",
            marker={"size": 6, "color": NO_DATA_COLOUR, "opacity": 0.6}, name=t("no_data", lang),
            customdata=silent[[name_col]].to_numpy(),
            hovertemplate="%{customdata[0]}<extra>" + t("no_data", lang) + "</extra>",
        ))
    for water_class, group in water.groupby("water_class", dropna=False, sort=True):
        style = quality.water_style(water_class, lang)
        fig.add_trace(go.Scattermap(
            lon=group["lon"], lat=group["lat"], mode="markers",
            marker={"size": 11, "color": style["colour"], "symbol": "circle"},
            name=f"{t('water_short', lang)} {style['label']}",
            customdata=np.column_stack([group[name_col].to_numpy(dtype=object), _status_words(group, lang)]),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<extra>" + style["label"] + "</extra>",
        ))
    for level, group in air.groupby("level", dropna=False, sort=True):
        style = quality.aqi_style(level, lang)
        fig.add_trace(go.Scattermap(
            lon=group["lon"], lat=group["lat"], mode="markers",
            marker={"size": 9, "color": style["colour"], "opacity": 0.9},
            name=f"AQI {style['label']}",
            customdata=np.column_stack([group[name_col].to_numpy(dtype=object),
                                        group["aqi"].round(0).to_numpy(dtype=object), _status_words(group, lang)]),
            hovertemplate="%{customdata[0]}<br>AQI %{customdata[1]}<br>%{customdata[2]}<extra>" + style["label"]
                          + "</extra>",
        ))
    shown = [f[["lon", "lat"]] for f in (air, water, silent) if f is not None and len(f)]
    points = pd.concat(shown) if shown else pd.DataFrame({"lon": [], "lat": []})
    fig.update_layout(
        map={"style": MAP_STYLE, "layers": layers, **map_view(points["lon"], points["lat"])},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"orientation": "h", "yanchor": "bottom", "y": 0.0, "x": 0.0, "bgcolor": "rgba(255,255,255,0.8)",
                "font": {"size": 11}},
        autosize=True,
        uirevision="embed-map",
    )
    return fig


def _status_words(df: pd.DataFrame, lang: str) -> np.ndarray:
    """'发布状态: 已审核' per row (the status column of released values)."""
    statuses = df["status"] if "status" in df else pd.Series(None, index=df.index, dtype=object)
    return np.array([f"{t('status', lang)}: {status_label(s, lang)}" for s in statuses], dtype=object)


def _display_names(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Station names as in the source; English pages use name_en where the source has one."""
    out = df.copy()
    if "name_en" in out:
        out["display_name"] = out["name_en"].where(out["name_en"].notna() & (out["name_en"] != ""), out["name"])
    else:
        out["display_name"] = out["name"]
    return out


def map_page(con: duckdb.DuckDBPyConnection, lang: str, display_tz: str, aqi_table: str | None = None) -> list:
    """The public map of the latest released hour of each network."""
    air_ts = public_views.latest_released_ts(con, "air_station")
    water_ts = public_views.latest_released_ts(con, "water_section")
    air = public_views.released_hour_wide(con, "air_station", air_ts) if air_ts is not None else None
    water = public_views.released_hour_wide(con, "water_section", water_ts) if water_ts is not None else None
    air = public_views.with_air_quality(air, aqi_table)
    water = public_views.with_water_class(water)
    official = public_views.released_stations(con)
    silent = official[~official["station_id"].isin(pd.concat([air["station_id"], water["station_id"]]))]
    fig = public_map_figure(_display_names(air, lang), _display_names(water, lang), lang, base_layers(),
                            _display_names(silent, lang))
    shown = air_ts if air_ts is not None else water_ts
    return [
        html.Div([
            html.Span(t("map_title", lang)),
            html.Small(f"{t('as_of', lang)} {local_time_label(shown, display_tz)} ({t('hour_cst', lang)})"),
        ], className="embed-head"),
        dcc.Graph(figure=fig, config=GRAPH_CONFIG, className="embed-body", style={"height": "100%"}),
        html.Div(t("source", lang), className="embed-foot"),
    ]


def station_page(con: duckdb.DuckDBPyConnection, station_id: str, lang: str, display_tz: str,
                 aqi_table: str | None = None) -> list:
    """Card: the latest released hour (AQI, level, primary pollutant, or water class), each value of
    that hour with its release status, the last 24 h and the last 30 days (daily values of China
    Standard Time days, as GB 3095 counts them)."""
    station = public_views.released_station(con, station_id)
    if station is None:
        return [html.Div(t("unknown_station", lang), className="embed-head")]
    name = station["name"] if lang == "zh" or not station.get("name_en") else station["name_en"]
    latest = public_views.latest_released_station_ts(con, station_id)
    head = html.Div([html.Span(name), html.Small(
        f"{t('as_of', lang)} {local_time_label(latest, display_tz)} ({t('hour_cst', lang)})")],
        className="embed-head")
    if latest is None:
        return [head, html.Div(t("no_data", lang), className="embed-card")]
    month = public_views.released_long(con, station_id, latest - pd.Timedelta(days=DAYS_SHOWN) + pd.Timedelta(hours=1),
                                       latest)
    day_long = month[month["ts"] > latest - pd.Timedelta(hours=24)]
    series = public_views.released_series(con, station_id, latest - pd.Timedelta(hours=23), latest)
    if station["kind"] == "air_station":
        hourly = public_views.with_air_quality(series, aqi_table)
        daily = public_views.daily_air_quality(month, CST_UTC_OFFSET_H, aqi_table)
        card, chart, days = _air_card(hourly, lang), air_chart(hourly, lang, display_tz), daily_air_chart(daily, lang)
    else:
        body = station.get("waterbody_type") or "river"
        hourly = public_views.with_water_class(series, body)
        daily = public_views.daily_water_class(month, CST_UTC_OFFSET_H, body)
        card, chart = _water_card(hourly, lang), water_chart(hourly, lang, display_tz)
        days = daily_water_chart(daily, lang)
    values = value_table(day_long[day_long["ts"] == latest], lang)
    return [head, card, values,
            dcc.Graph(figure=chart, config=GRAPH_CONFIG, className="embed-body", id="embed-chart-24h",
                      style={"height": "100%", "minHeight": "160px"}),
            dcc.Graph(figure=days, config=GRAPH_CONFIG, className="embed-body", id="embed-chart-30d",
                      style={"height": "100%", "minHeight": "160px"}),
            html.Div(t("source", lang), className="embed-foot")]


DAYS_SHOWN = 30


def value_table(hour: pd.DataFrame, lang: str) -> html.Table:
    """Each released value of one hour with its unit and release status (withheld: no value)."""
    rows = []
    for r in hour.itertuples(index=False):
        unit = PARAMETERS[r.parameter].unit if r.parameter in PARAMETERS else ""
        value = "—" if pd.isna(r.value) else f"{r.value:g} {unit}"
        rows.append(html.Tr([html.Td(r.parameter), html.Td(value), html.Td(status_tag(r.status, lang))]))
    head = html.Tr([html.Th(t("parameter", lang)), html.Th(t("value", lang)), html.Th(t("status", lang))])
    return html.Table([html.Thead(head), html.Tbody(rows)], className="embed-values", id="embed-values")


def _air_card(hourly: pd.DataFrame, lang: str) -> html.Div:
    last = hourly.iloc[-1]
    style = quality.aqi_style(last["level"], lang)
    primary = last.get("primary_pollutant")
    primary_text = primary if isinstance(primary, str) and primary else t("none", lang)
    aqi_text = "-" if pd.isna(last["aqi"]) else f"{last['aqi']:.0f}"
    return html.Div([
        html.Div(aqi_text, className="embed-badge",
                 style={"background": style["colour"], "color": style["text_colour"]}),
        html.Div([
            html.Div(f"{t('aqi', lang)}"),
            html.Div(f"{t('level', lang)}: {style['label']}"),
            html.Div(f"{t('primary', lang)}: {primary_text}"),
            html.Div([f"{t('status', lang)}: ", status_tag(last.get("status"), lang)]),
        ], className="embed-facts"),
    ], className="embed-card")


def _water_card(hourly: pd.DataFrame, lang: str) -> html.Div:
    last = hourly.iloc[-1]
    style = quality.water_style(last["water_class"], lang)
    return html.Div([
        html.Div(style["label"], className="embed-badge",
                 style={"background": style["colour"], "color": style["text_colour"]}),
        html.Div([html.Div(t("water_class", lang)),
                  html.Div([f"{t('status', lang)}: ", status_tag(last.get("status"), lang)])],
                 className="embed-facts"),
    ], className="embed-card")


def _local_index(ts: pd.Series, display_tz: str) -> pd.Series:
    return pd.to_datetime(ts).dt.tz_localize("UTC").dt.tz_convert(display_tz).dt.tz_localize(None)


def _hover_status(frame: pd.DataFrame, lang: str) -> list[str]:
    return [status_label(x, lang) for x in frame.get("status", pd.Series(None, index=frame.index, dtype=object))]


def _chart_layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title={"text": title, "font": {"size": 12}}, margin={"l": 36, "r": 8, "t": 28, "b": 28},
                      autosize=True, bargap=0.1, plot_bgcolor="#fff", yaxis={"gridcolor": "#eee"})
    return fig


WATER_AXIS = {"tickvals": [1, 2, 3, 4, 5, 6], "ticktext": ["I", "II", "III", "IV", "V", "劣V"], "range": [0, 6.5]}


def air_chart(hourly: pd.DataFrame, lang: str, display_tz: str) -> go.Figure:
    """Bars of hourly AQI over the last 24 h, each coloured by its HJ 633 level; the hover names the
    hour's release status."""
    colours = [quality.aqi_style(level, lang)["colour"] for level in hourly["level"]]
    fig = go.Figure(go.Bar(x=_local_index(hourly["ts"], display_tz), y=hourly["aqi"], marker_color=colours,
                           customdata=_hover_status(hourly, lang),
                           hovertemplate="%{x|%m-%d %H:00}<br>AQI %{y:.0f}<br>%{customdata}<extra></extra>"))
    return _chart_layout(fig, t("last_24h", lang))


def water_chart(hourly: pd.DataFrame, lang: str, display_tz: str) -> go.Figure:
    """Bars of the hourly water class over the last 24 h (height = class number, colour = class)."""
    codes = [quality.water_class_number(c) for c in hourly["water_class"]]
    colours = [quality.water_style(c, lang)["colour"] for c in hourly["water_class"]]
    labels = [f"{quality.water_style(c, lang)['label']}<br>{s}"
              for c, s in zip(hourly["water_class"], _hover_status(hourly, lang), strict=True)]
    fig = go.Figure(go.Bar(x=_local_index(hourly["ts"], display_tz), y=codes, marker_color=colours,
                           customdata=labels, hovertemplate="%{x|%m-%d %H:00}<br>%{customdata}<extra></extra>"))
    fig = _chart_layout(fig, t("last_24h", lang))
    fig.update_layout(yaxis=WATER_AXIS)
    return fig


def daily_air_chart(daily: pd.DataFrame, lang: str) -> go.Figure:
    """Bars of the daily AQI (GB 3095 daily statistics of released hours) over the last 30 days."""
    colours = [quality.aqi_style(level, lang)["colour"] for level in daily["level"]]
    fig = go.Figure(go.Bar(x=pd.to_datetime(daily["date"]), y=daily["aqi"], marker_color=colours,
                           customdata=_hover_status(daily, lang),
                           hovertemplate="%{x|%Y-%m-%d}<br>" + t("daily_aqi", lang)
                                         + " %{y:.0f}<br>%{customdata}<extra></extra>"))
    return _day_axis(_chart_layout(fig, t("last_30d", lang)))


def _day_axis(fig: go.Figure) -> go.Figure:
    """Daily bars: one tick label per day (month-day), no clock times."""
    fig.update_xaxes(tickformat="%m-%d", dtick=86_400_000 * 7, ticklabelmode="instant")
    return fig


def daily_water_chart(daily: pd.DataFrame, lang: str) -> go.Figure:
    """Bars of the daily water class over the last 30 days."""
    codes = [quality.water_class_number(c) for c in daily["water_class"]]
    colours = [quality.water_style(c, lang)["colour"] for c in daily["water_class"]]
    labels = [f"{quality.water_style(c, lang)['label']}<br>{s}"
              for c, s in zip(daily["water_class"], _hover_status(daily, lang), strict=True)]
    fig = go.Figure(go.Bar(x=pd.to_datetime(daily["date"]), y=codes, marker_color=colours, customdata=labels,
                           hovertemplate="%{x|%Y-%m-%d}<br>%{customdata}<extra></extra>"))
    fig = _day_axis(_chart_layout(fig, t("last_30d", lang)))
    fig.update_layout(yaxis=WATER_AXIS)
    return fig
