"""Assessment page (/app/assessment): the stored ranking, raw and penalised side by side, on a map
and in a table with each unit's rank change and the stations that caused it."""

from __future__ import annotations

import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import dcc, html

from dashboard.figures.situation_map import view_for
from dashboard.i18n import t
from dashboard.internal.ids import AssessmentIds
from dashboard.internal.pages.explorer import grid_locale
from envtrust.assessment import latest_run, stored_run

INDEX_COLOURS = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]


def run_caption(run: pd.Series | None, lang: str) -> str:
    if run is None:
        return t("assessment_none", lang)
    return t("assessment_run", lang).format(period=run["period"], level=t(f"level_{run['level']}", lang),
                                            policy=f"{run['policy_id']} v{run['policy_version']}",
                                            factor=f"{run['policy_factor']:g}", window=run["policy_window"])


def unit_rows(units: pd.DataFrame, causes: pd.DataFrame) -> list[dict]:
    """Grid rows: one per unit, raw and penalised side by side, with the stations behind the change."""
    if units.empty:
        return []
    text = {}
    for unit, g in causes.groupby("unit"):
        parts = []
        for sid, name, hours, interf in g[["station_id", "name", "substituted_hours", "interference"]].head(3).itertuples(
                index=False):
            label = name if isinstance(name, str) else sid
            parts.append(f"{label} ({sid}) {hours} h" + (f", 干扰 {interf} h" if interf else ""))
        text[unit] = "; ".join(parts)
    rows = []
    for u in units.itertuples():
        rows.append({"unit": u.unit, "name": u.name, "rank_raw": _num(u.rank_raw), "rank_pen": _num(u.rank_pen),
                     "rank_change": _num(u.rank_change), "index_raw": _num(u.index_raw, 3),
                     "index_pen": _num(u.index_pen, 3), "capture_rate": _num(u.capture_rate, 4),
                     "substituted_hours": int(u.substituted_hours), "valid_period": bool(u.valid_period),
                     "causes": text.get(u.unit, "")})
    return rows


def _num(v, digits: int = 0):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return round(float(v), digits) if digits else int(round(float(v)))


def column_defs(lang: str) -> list[dict]:
    pct = {"function": "params.value == null ? '' : d3.format('.1%')(params.value)"}
    return [
        {"field": "rank_pen", "headerName": t("col_rank_pen", lang), "width": 110, "sort": "asc"},
        {"field": "rank_raw", "headerName": t("col_rank_raw", lang), "width": 110},
        {"field": "rank_change", "headerName": t("col_rank_change", lang), "width": 110,
         "cellStyle": {"function": "params.value > 0 ? {'color': '#c62828', 'fontWeight': 'bold'} : {}"}},
        {"field": "name", "headerName": t("col_unit", lang)},
        {"field": "index_raw", "headerName": t("col_index_raw", lang)},
        {"field": "index_pen", "headerName": t("col_index_pen", lang)},
        {"field": "capture_rate", "headerName": t("col_capture", lang), "valueFormatter": pct},
        {"field": "substituted_hours", "headerName": t("col_substituted", lang)},
        {"field": "valid_period", "headerName": t("col_valid", lang), "width": 110},
        {"field": "causes", "headerName": t("col_causes", lang), "flex": 2},
    ]


def assessment_map_dict(units: pd.DataFrame, lang: str, layers: list[dict] | None = None) -> dict:
    """Units at the mean position of their stations, coloured by the penalised index, ranks in the hover (map text would fetch glyphs from a font server)."""
    u = units.dropna(subset=["lon", "lat"])
    center, zoom = view_for(u["lon"], u["lat"])
    idx = pd.to_numeric(u["index_pen"], errors="coerce")
    hover = [f"<b>{n}</b><br>{t('col_rank_raw', lang)} {_num(rr) or '-'} → {t('col_rank_pen', lang)} {_num(rp) or '-'}"
             f"<br>{t('col_index_raw', lang)} {ir:.2f} / {t('col_index_pen', lang)} {ip:.2f}"
             for n, rr, rp, ir, ip in zip(u["name"], u["rank_raw"], u["rank_pen"], u["index_raw"], u["index_pen"],
                                          strict=True)]
    data = [{"type": "scattermap", "lon": u["lon"].tolist(), "lat": u["lat"].tolist(), "mode": "markers",
             "hovertext": hover, "hoverinfo": "text",
             "marker": {"size": [30 if (c or 0) > 0 else 24 for c in u["rank_change"].fillna(0)],
                        "color": idx.fillna(idx.mean()).tolist(),
                        "colorscale": [[i / (len(INDEX_COLOURS) - 1), c] for i, c in enumerate(INDEX_COLOURS)],
                        "showscale": True, "colorbar": {"title": {"text": t("col_index_pen", lang)}, "thickness": 10}}}]
    layout = {"map": {"style": "white-bg", "center": center, "zoom": min(zoom, 11.0), "layers": layers or []},
              "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "showlegend": False, "height": 420}
    return {"data": data, "layout": layout}


def layout(con, lang: str) -> html.Div:
    """Level switch, run caption, map, table (CSV export)."""
    run = latest_run(con)
    level = run["level"] if run is not None else "county"
    return html.Div([
        html.H2(t("assessment_title", lang)),
        html.Div([
            dcc.RadioItems(id=AssessmentIds.LEVEL, value=level, inline=True,
                           options=[{"label": t("level_county", lang), "value": "county"},
                                    {"label": t("level_city", lang), "value": "city"}]),
            html.Button(t("export_csv", lang), id=AssessmentIds.EXPORT, n_clicks=0, className="btn"),
        ], className="toolbar"),
        html.P(id=AssessmentIds.RUN, className="caption"),
        dcc.Graph(id=AssessmentIds.MAP, config={"displaylogo": False}),
        dag.AgGrid(id=AssessmentIds.GRID, columnDefs=column_defs(lang), rowData=[],
                   defaultColDef={"sortable": True, "filter": True, "resizable": True},
                   dashGridOptions={"localeText": grid_locale(lang), "animateRows": False},
                   columnSize="responsiveSizeToFit", csvExportParams={"fileName": "envtrust_assessment.csv"},
                   getRowId="params.data.unit", style={"height": "45vh"}, className="ag-theme-alpine"),
    ], className="page page-assessment")


def level_view(con, level: str, lang: str, layers: list[dict] | None = None) -> tuple[str, dict, list[dict]]:
    """(caption, map figure, grid rows) of the newest run at ``level``."""
    run = latest_run(con, level)
    if run is None:
        return run_caption(None, lang), {"data": [], "layout": {"height": 60}}, []
    units, causes = stored_run(con, run["run_id"])
    return run_caption(run, lang), assessment_map_dict(units, lang, layers), unit_rows(units, causes)
