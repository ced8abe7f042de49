"""openair-style analysis figures (diurnal/weekly profiles, calendar heatmap, polar plot, scatter vs
neighbour) from the frames computed by ``analytics.profiles``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.station import empty_figure
from dashboard.i18n import t, weekday_names


def profiles_figure(diurnal: pd.DataFrame, weekly: pd.DataFrame, parameter: str, lang: str = "zh") -> go.Figure:
    """Left: mean by hour of day with the inter-quartile band; right: mean by weekday x hour (168 points)."""
    if diurnal["n"].sum() == 0:
        return empty_figure(t("no_data", lang))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65],
                        subplot_titles=[t("diurnal", lang), t("weekly", lang)])
    fig.add_trace(go.Scatter(x=diurnal["hour"], y=diurnal["q75"], mode="lines", line={"width": 0},
                             showlegend=False, hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=diurnal["hour"], y=diurnal["q25"], mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor="rgba(21,101,192,0.2)", name=t("iqr", lang)), row=1, col=1)
    fig.add_trace(go.Scatter(x=diurnal["hour"], y=diurnal["mean"], mode="lines+markers", name=t("mean", lang),
                             line={"color": "#1565c0"}), row=1, col=1)
    x = weekly["weekday"] * 24 + weekly["hour"]
    fig.add_trace(go.Scatter(x=x, y=weekly["mean"], mode="lines", name=t("weekly", lang),
                             line={"color": "#2e7d32"}, showlegend=False), row=1, col=2)
    names = weekday_names(lang)
    fig.update_xaxes(title_text=t("hour_of_day", lang), dtick=3, row=1, col=1)
    fig.update_xaxes(tickvals=[d * 24 + 12 for d in range(7)], ticktext=names, row=1, col=2)
    fig.update_yaxes(title_text=parameter, row=1, col=1)
    fig.update_layout(template="plotly_white", height=360, margin={"l": 50, "r": 10, "t": 40, "b": 40})
    return fig


def calendar_figure(cal: pd.DataFrame, parameter: str, lang: str = "zh") -> go.Figure:
    """Calendar heatmap of daily means (openair ``calendarPlot``): weeks across, weekdays down."""
    if cal.empty or cal["mean"].notna().sum() == 0:
        return empty_figure(t("no_data", lang))
    n_weeks = int(cal["week"].max()) + 1
    z = np.full((7, n_weeks), np.nan)
    text = np.full((7, n_weeks), "", dtype=object)
    for _, r in cal.iterrows():
        z[int(r["weekday"]), int(r["week"])] = r["mean"]
        text[int(r["weekday"]), int(r["week"])] = (
            f"{r['date']:%Y-%m-%d}: " + ("-" if pd.isna(r["mean"]) else f"{r['mean']:.1f}") + f" ({r['n_hours']} h)")
    week_starts = [cal.loc[cal["week"] == w, "date"].min() for w in range(n_weeks)]
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{d:%m-%d}" if pd.notna(d) else "" for d in week_starts], y=weekday_names(lang),
        text=text, hoverinfo="text", colorscale="YlOrRd", xgap=2, ygap=2,
        colorbar={"title": {"text": f"{t('daily_mean', lang)} {parameter}"}, "thickness": 10}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(template="plotly_white", height=300, margin={"l": 50, "r": 10, "t": 20, "b": 40})
    return fig


def polar_figure(bins: pd.DataFrame, parameter: str, lang: str = "zh", sector_deg: float = 22.5) -> go.Figure:
    """Mean concentration by wind direction (from) and speed band: a wind-rose shaped heat map."""
    if bins.empty:
        return empty_figure(t("no_wind", lang))
    vmax = float(bins["mean"].max())
    fig = go.Figure(go.Barpolar(
        r=bins["ws_high_m_s"] - bins["ws_low_m_s"], base=bins["ws_low_m_s"], theta=bins["wd_center_deg"],
        width=[sector_deg] * len(bins),
        marker={"color": bins["mean"], "colorscale": "YlOrRd", "cmin": float(bins["mean"].min()), "cmax": vmax,
                "showscale": True, "colorbar": {"title": {"text": parameter}, "thickness": 10}},
        customdata=np.stack([bins["mean"], bins["n"], bins["ws_low_m_s"], bins["ws_high_m_s"]], axis=1),
        hovertemplate="%{theta}°, %{customdata[2]}-%{customdata[3]} m/s<br>"
                      + parameter + ": %{customdata[0]:.1f} (n=%{customdata[1]})<extra></extra>",
    ))
    fig.update_layout(
        template="plotly_white", height=380, margin={"l": 30, "r": 30, "t": 30, "b": 30},
        polar={"angularaxis": {"direction": "clockwise", "rotation": 90},
               "radialaxis": {"title": {"text": t("wind_speed", lang)}}})
    return fig


def scatter_figure(pairs: pd.DataFrame, fit: dict, x_name: str, y_name: str, parameter: str,
                   lang: str = "zh") -> go.Figure:
    """This station (y) against a neighbour (x), hour by hour, with the least-squares line and r."""
    if pairs.empty:
        return empty_figure(t("no_data", lang))
    fig = go.Figure(go.Scattergl(x=pairs["x"], y=pairs["y"], mode="markers", name=parameter,
                                 marker={"size": 4, "opacity": 0.5, "color": "#1565c0"},
                                 text=pairs["ts"].astype(str), hovertemplate="%{text}<br>%{x:.1f}, %{y:.1f}<extra></extra>"))
    lim = float(np.nanmax([pairs["x"].max(), pairs["y"].max()]))
    fig.add_trace(go.Scatter(x=[0, lim], y=[0, lim], mode="lines", line={"dash": "dot", "color": "#9e9e9e"},
                             name="1:1"))
    if np.isfinite(fit.get("slope", np.nan)):
        fig.add_trace(go.Scatter(x=[0, lim], y=[fit["intercept"], fit["intercept"] + fit["slope"] * lim],
                                 mode="lines", line={"color": "#d32f2f"},
                                 name=f"{t('fit', lang)}: y={fit['slope']:.2f}x+{fit['intercept']:.1f}, r={fit['r']:.2f}"))
    fig.update_layout(template="plotly_white", height=380, margin={"l": 50, "r": 10, "t": 20, "b": 40},
                      xaxis_title=f"{x_name} {parameter}", yaxis_title=f"{y_name} {parameter}",
                      legend={"orientation": "h", "y": -0.2})
    return fig
