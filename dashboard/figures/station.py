"""Figures of the station drill-down: series with the suspicious period shaded, neighbours overlaid,
model contributions, data flags, and a small neighbour map. Times are already local (the caller
converts from the store's UTC); these builders never change clocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sequential

from dashboard.figures.colours import NO_DATA_COLOUR, SHADE_COLOUR, SUSPICION_COLOUR
from dashboard.figures.situation_map import view_for
from dashboard.i18n import t

NEIGHBOUR_COLOURS = ("#90a4ae", "#a1887f", "#9575cd", "#4db6ac", "#f06292", "#aed581", "#ffb74d", "#7986cb")
MODEL_COLOURS = ("#1b5e20", "#0d47a1", "#e65100", "#4a148c", "#006064", "#827717", "#bf360c", "#263238")
MAX_MODELS = 5
YLORRD = sequential.YlOrRd  # explicit list: plotly.js's named "YlOrRd" runs the other way
FLAG_COLOURS = {"F": "#616161", "M": "#f9a825", "S": "#d81b60", "D": "#c62828", "C": "#1e88e5",
                "T": "#6d4c41", "B": "#8e24aa"}


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why it is blank (no data, unknown station)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 16, "color": "#757575"})
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      template="plotly_white")
    return fig


def _xs(ts: pd.Series) -> list[str]:
    """Timestamps as ISO strings (what plotly.js reads), cheap to serialise."""
    return pd.to_datetime(ts).dt.strftime("%Y-%m-%d %H:%M").tolist()


def _ys(values: pd.Series) -> list:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return [None if not np.isfinite(x) else float(x) for x in v]


def series_figure_dict(series: pd.DataFrame, parameters: list[str], lang: str = "zh",
                       neighbour_series: pd.DataFrame | None = None, neighbour_names: dict[str, str] | None = None,
                       contributions: pd.DataFrame | None = None, shade: tuple | None = None,
                       station_name: str = "") -> dict:
    """Stacked panels sharing the time axis: one per parameter (this station bold, neighbours thin),
    then each model's score over time, then a strip of non-normal HJ 212 data flags.

    ``series``/``neighbour_series``: long ``station_id, ts, parameter, value, flag`` (local ts);
    ``contributions``: long ``ts, parameter, model, score``; ``shade``: (start, end) local times of
    the suspicious period, drawn on every panel. A plain figure dict: plotly's subplot machinery
    costs several times the queries behind it.
    """
    parameters = [p for p in parameters if p in set(series["parameter"])] if not series.empty else []
    if not parameters:
        return empty_figure(t("no_data", lang)).to_plotly_json()
    has_scores = contributions is not None and not contributions.empty
    titles = parameters + ([t("model_contributions", lang)] if has_scores else []) + [t("data_flags", lang)]
    heights = [1.0] * len(parameters) + ([0.8] if has_scores else []) + [0.35]
    n_rows = len(titles)
    gap = 0.035
    usable = 1.0 - gap * (n_rows - 1)
    total = sum(heights)
    domains, top = [], 1.0
    for h in heights:
        bottom = top - usable * h / total
        domains.append((max(bottom, 0.0), top))
        top = bottom - gap
    layout: dict = {"template": "plotly_white", "height": max(420, 170 * n_rows), "hovermode": "x unified",
                    "margin": {"l": 50, "r": 10, "t": 30, "b": 30}, "legend": {"orientation": "h", "y": -0.06},
                    "annotations": [], "shapes": []}
    data: list[dict] = []
    for i, (title, (lo, hi)) in enumerate(zip(titles, domains, strict=True), start=1):
        layout[f"yaxis{i}"] = {"domain": [lo, hi], "anchor": "x"}
        layout["annotations"].append({"text": title, "x": 0.5, "y": hi, "xref": "paper", "yref": "paper",
                                      "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                                      "font": {"size": 13}})
        if shade is not None and shade[0] is not None:
            layout["shapes"].append({"type": "rect", "xref": "x", "yref": "y domain" if i == 1 else f"y{i} domain",
                                     "x0": pd.Timestamp(shade[0]).strftime("%Y-%m-%d %H:%M"),
                                     "x1": pd.Timestamp(shade[1]).strftime("%Y-%m-%d %H:%M"),
                                     "y0": 0, "y1": 1, "fillcolor": SHADE_COLOUR, "line": {"width": 0},
                                     "layer": "below"})
    # free x axis at the bottom edge: it stays there even when the bottom panel has no trace
    layout["xaxis"] = {"anchor": "free", "position": 0.0, "type": "date"}
    names = neighbour_names or {}
    nb_ids = [] if neighbour_series is None or neighbour_series.empty else list(dict.fromkeys(neighbour_series["station_id"]))
    for i, param in enumerate(parameters, start=1):
        axis = "y" if i == 1 else f"y{i}"
        for j, sid in enumerate(nb_ids):
            nb = neighbour_series[(neighbour_series["station_id"] == sid) & (neighbour_series["parameter"] == param)]
            if nb.empty:
                continue
            data.append({"type": "scatter", "x": _xs(nb["ts"]), "y": _ys(nb["value"]), "mode": "lines",
                         "name": names.get(sid, sid), "legendgroup": sid, "showlegend": i == 1, "opacity": 0.8,
                         "line": {"width": 1, "color": NEIGHBOUR_COLOURS[j % len(NEIGHBOUR_COLOURS)]},
                         "xaxis": "x", "yaxis": axis})
        own = series[series["parameter"] == param]
        data.append({"type": "scatter", "x": _xs(own["ts"]), "y": _ys(own["value"]), "mode": "lines",
                     "name": station_name or t("this_station", lang), "legendgroup": "self", "showlegend": i == 1,
                     "line": {"width": 2, "color": "#212121"}, "xaxis": "x", "yaxis": axis})
    row = len(parameters) + 1
    if has_scores:
        # the ensemble plus the models that scored highest in this window (a dozen lines hide the signal)
        peak = contributions[contributions["model"] != "ensemble"].groupby("model")["score"].max()
        shown_models = (["ensemble"] if (contributions["model"] == "ensemble").any() else []) + \
            peak.sort_values(ascending=False).index[:MAX_MODELS].tolist()
        for j, model in enumerate(shown_models):
            part = contributions[contributions["model"] == model]
            agg = part.groupby("ts", as_index=False)["score"].max()  # strongest over the shown parameters
            data.append({"type": "scatter", "x": _xs(agg["ts"]), "y": _ys(agg["score"]), "mode": "lines",
                         "name": model, "legendgroup": f"model-{model}", "xaxis": "x", "yaxis": f"y{row}",
                         "line": {"width": 2.5 if model == "ensemble" else 1.3,
                                  "color": SUSPICION_COLOUR if model == "ensemble"
                                  else MODEL_COLOURS[j % len(MODEL_COLOURS)],
                                  "dash": "solid" if model == "ensemble" else "dot"}})
        layout[f"yaxis{row}"]["range"] = [0, 1.05]
        row += 1
    flagged = series[(series["flag"] != "N") & series["parameter"].isin(parameters)]
    for flag, part in flagged.groupby("flag"):
        data.append({"type": "scatter", "x": _xs(part["ts"]), "y": part["parameter"].tolist(), "mode": "markers",
                     "name": f"{t('data_flags', lang)} {flag}", "xaxis": "x", "yaxis": f"y{row}",
                     "marker": {"symbol": "square", "size": 7, "color": FLAG_COLOURS.get(flag, NO_DATA_COLOUR)}})
    layout[f"yaxis{row}"].update({"type": "category", "categoryorder": "array", "categoryarray": parameters})
    layout["yaxis"] = layout.pop("yaxis1")
    return {"data": data, "layout": layout}


def series_figure(*args, **kwargs) -> go.Figure:
    """:func:`series_figure_dict` as a validated ``go.Figure``."""
    return go.Figure(series_figure_dict(*args, **kwargs))


def neighbour_map_dict(me: dict, neighbours: pd.DataFrame, values: pd.DataFrame, parameter: str,
                       lang: str = "zh", basemap_layers: list[dict] | None = None) -> dict:
    """Small offline map: this station and its neighbours coloured by ``parameter`` at the moment of
    the event (mean over the suspicious period), so an analyst sees whether the station disagrees."""
    pts = pd.concat([pd.DataFrame([{"station_id": me["station_id"], "name": me["name"], "lon": me["lon"],
                                    "lat": me["lat"], "is_self": True}]),
                     neighbours.assign(is_self=False)[["station_id", "name", "lon", "lat", "is_self"]]],
                    ignore_index=True)
    pts = pts.merge(values, on="station_id", how="left")
    vals = pd.to_numeric(pts["value"], errors="coerce")
    hover = [f"<b>{name}</b> ({sid})<br>{parameter}: " + ("-" if not np.isfinite(v) else f"{v:.1f}")
             for name, sid, v in zip(pts["name"], pts["station_id"], vals, strict=True)]
    have = vals.notna().any()
    center, zoom = view_for(pts["lon"], pts["lat"])
    data = [
        {"type": "scattermap", "lon": pts["lon"].tolist(), "lat": pts["lat"].tolist(), "mode": "markers",
         "name": parameter, "customdata": [[sid] for sid in pts["station_id"]], "hovertext": hover,
         "hoverinfo": "text",
         "marker": {"size": [20 if s else 14 for s in pts["is_self"]], "color": _ys(vals.fillna(-1)),
                    "colorscale": [[i / (len(YLORRD) - 1), c] for i, c in enumerate(YLORRD)], "cmin": float(np.nanmin(vals)) if have else 0.0,
                    "cmax": float(np.nanmax(vals)) if have else 1.0, "showscale": True,
                    "colorbar": {"title": {"text": parameter}, "thickness": 10}}},
        {"type": "scattermap", "lon": [me["lon"]], "lat": [me["lat"]], "mode": "markers",
         "name": t("this_station", lang), "marker": {"size": 30, "color": SUSPICION_COLOUR, "opacity": 0.35},
         "hoverinfo": "skip"},
    ]
    layout = {"map": {"style": "white-bg", "center": center, "zoom": min(zoom - 1.2, 11.0),
                      "layers": basemap_layers or []},
              "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False, "height": 300}
    return {"data": data, "layout": layout}


def neighbour_map(*args, **kwargs) -> go.Figure:
    """:func:`neighbour_map_dict` as a validated ``go.Figure``."""
    return go.Figure(neighbour_map_dict(*args, **kwargs))


def evidence_chart(series: dict, lang: str, station_label_text: str) -> go.Figure:
    """The small chart of an event: the station against its neighbour prediction over the event
    (``evidence["series"]`` as the engine wrote it), the event's hours shaded. Times are the
    engine's clock (the store's UTC) shifted by the caller's ``start`` label only."""
    hours = int(series.get("hours", 0))
    x = pd.date_range(pd.Timestamp(series["start"]), periods=hours, freq="h")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=series.get("neighbours"), name=t("neighbour_prediction", lang),
                             line={"color": "#90a4ae", "dash": "dash"}, connectgaps=False))
    fig.add_trace(go.Scatter(x=x, y=series.get("station"), name=station_label_text,
                             line={"color": SUSPICION_COLOUR}, connectgaps=False))
    a, b = int(series.get("event_from", 0)), int(series.get("event_to", hours - 1))
    if hours:
        fig.add_vrect(x0=x[a], x1=x[min(b, hours - 1)], fillcolor=SHADE_COLOUR, opacity=0.25, line_width=0)
    fig.update_layout(height=180, margin={"l": 40, "r": 10, "t": 10, "b": 30}, showlegend=True,
                      legend={"orientation": "h", "y": -0.3}, yaxis_title=str(series.get("parameter", "")))
    return fig
