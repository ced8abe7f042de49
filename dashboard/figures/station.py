"""Figures of the station drill-down: series with the suspicious period shaded, neighbours overlaid,
model contributions, data flags, and a small neighbour map. Times are already local (the caller
converts from the store's UTC); these builders never change clocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.colours import NO_DATA_COLOUR, SHADE_COLOUR, SUSPICION_COLOUR
from dashboard.i18n import t

NEIGHBOUR_COLOURS = ("#90a4ae", "#a1887f", "#9575cd", "#4db6ac", "#f06292", "#aed581", "#ffb74d", "#7986cb")
MODEL_COLOURS = ("#1b5e20", "#0d47a1", "#e65100", "#4a148c", "#006064", "#827717", "#bf360c", "#263238")
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


def series_figure(series: pd.DataFrame, parameters: list[str], lang: str = "zh",
                  neighbour_series: pd.DataFrame | None = None, neighbour_names: dict[str, str] | None = None,
                  contributions: pd.DataFrame | None = None, shade: tuple | None = None,
                  station_name: str = "") -> go.Figure:
    """Stacked panels sharing the time axis: one per parameter (this station bold, neighbours thin
    grey-ish), then each model's score over time, then a strip of non-normal HJ 212 data flags.

    ``series``/``neighbour_series``: long ``station_id, ts, parameter, value, flag`` (local ts);
    ``contributions``: long ``ts, parameter, model, score``; ``shade``: (start, end) local times of
    the suspicious period, drawn on every panel.
    """
    parameters = [p for p in parameters if p in set(series["parameter"])] if not series.empty else []
    if not parameters:
        return empty_figure(t("no_data", lang))
    has_scores = contributions is not None and not contributions.empty
    n_rows = len(parameters) + (1 if has_scores else 0) + 1
    heights = [1.0] * len(parameters) + ([0.8] if has_scores else []) + [0.35]
    titles = parameters + ([t("model_contributions", lang)] if has_scores else []) + [t("data_flags", lang)]
    fig = make_subplots(rows=n_rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=heights, subplot_titles=titles)
    names = neighbour_names or {}
    nb_ids = [] if neighbour_series is None or neighbour_series.empty else list(dict.fromkeys(neighbour_series["station_id"]))
    for i, param in enumerate(parameters, start=1):
        if neighbour_series is not None and not neighbour_series.empty:
            for j, sid in enumerate(nb_ids):
                nb = neighbour_series[(neighbour_series["station_id"] == sid) & (neighbour_series["parameter"] == param)]
                if nb.empty:
                    continue
                fig.add_trace(go.Scatter(
                    x=nb["ts"], y=nb["value"], mode="lines", name=names.get(sid, sid), legendgroup=sid,
                    showlegend=i == 1, line={"width": 1, "color": NEIGHBOUR_COLOURS[j % len(NEIGHBOUR_COLOURS)]},
                    opacity=0.8), row=i, col=1)
        own = series[series["parameter"] == param]
        fig.add_trace(go.Scatter(
            x=own["ts"], y=own["value"], mode="lines", name=station_name or t("this_station", lang),
            legendgroup="self", showlegend=i == 1, line={"width": 2, "color": "#212121"}), row=i, col=1)
    row = len(parameters) + 1
    if has_scores:
        models = list(dict.fromkeys(contributions["model"]))
        for j, model in enumerate(models):
            part = contributions[contributions["model"] == model]
            agg = part.groupby("ts", as_index=False)["score"].max()  # strongest over the shown parameters
            fig.add_trace(go.Scatter(
                x=agg["ts"], y=agg["score"], mode="lines", name=model, legendgroup=f"model-{model}",
                line={"width": 2.5 if model == "ensemble" else 1.3,
                      "color": SUSPICION_COLOUR if model == "ensemble" else MODEL_COLOURS[j % len(MODEL_COLOURS)],
                      "dash": "solid" if model == "ensemble" else "dot"}), row=row, col=1)
        fig.update_yaxes(range=[0, 1.05], row=row, col=1)
        row += 1
    flagged = series[(series["flag"] != "N") & series["parameter"].isin(parameters)]
    for flag, part in flagged.groupby("flag"):
        fig.add_trace(go.Scatter(
            x=part["ts"], y=part["parameter"], mode="markers", name=f"{t('data_flags', lang)} {flag}",
            marker={"symbol": "square", "size": 7, "color": FLAG_COLOURS.get(flag, NO_DATA_COLOUR)}),
            row=row, col=1)
    fig.update_yaxes(type="category", categoryarray=parameters, row=row, col=1)
    if shade is not None and shade[0] is not None:
        for r in range(1, n_rows + 1):
            fig.add_vrect(x0=shade[0], x1=shade[1], fillcolor=SHADE_COLOUR, line_width=0, layer="below", row=r, col=1)
    fig.update_layout(template="plotly_white", height=max(420, 170 * n_rows), hovermode="x unified",
                      margin={"l": 50, "r": 10, "t": 30, "b": 30}, legend={"orientation": "h", "y": -0.06})
    return fig


def neighbour_map(me: dict, neighbours: pd.DataFrame, values: pd.DataFrame, parameter: str,
                  lang: str = "zh", basemap_layers: list[dict] | None = None) -> go.Figure:
    """Small offline map: this station and its neighbours sized/coloured by ``parameter`` at the moment
    of the event (mean over the suspicious period), so an analyst sees whether the station disagrees."""
    pts = pd.concat([pd.DataFrame([{"station_id": me["station_id"], "name": me["name"], "lon": me["lon"],
                                    "lat": me["lat"], "is_self": True}]),
                     neighbours.assign(is_self=False)[["station_id", "name", "lon", "lat", "is_self"]]],
                    ignore_index=True)
    pts = pts.merge(values, on="station_id", how="left")
    vals = pd.to_numeric(pts["value"], errors="coerce")
    hover = [f"<b>{r['name']}</b> ({r['station_id']})<br>{parameter}: "
             + ("-" if not np.isfinite(v) else f"{v:.1f}") for (_, r), v in zip(pts.iterrows(), vals, strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Scattermap(
        lon=pts["lon"], lat=pts["lat"], mode="markers", name=parameter,
        marker={"size": np.where(pts["is_self"], 20, 14), "color": vals.fillna(-1),
                "colorscale": "YlOrRd", "cmin": float(np.nanmin(vals)) if vals.notna().any() else 0,
                "cmax": float(np.nanmax(vals)) if vals.notna().any() else 1, "showscale": True,
                "colorbar": {"title": {"text": parameter}, "thickness": 10}},
        customdata=pts[["station_id"]].to_numpy(), hovertext=hover, hoverinfo="text"))
    fig.add_trace(go.Scattermap(
        lon=[me["lon"]], lat=[me["lat"]], mode="markers", name=t("this_station", lang),
        marker={"size": 30, "color": SUSPICION_COLOUR, "opacity": 0.35}, hoverinfo="skip"))
    from dashboard.figures.situation_map import view_for

    center, zoom = view_for(pts["lon"], pts["lat"])
    fig.update_layout(map={"style": "white-bg", "center": center, "zoom": min(zoom - 1.2, 11.0),
                           "layers": basemap_layers or []},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False, height=300)
    return fig
