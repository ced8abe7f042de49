"""Contractor scorecard (/app/contractors): grade with its reasons (shrunk towards the mean for
contractors with few stations), the blacklist in force, the credit history and the labs."""

from __future__ import annotations

import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import html

from dashboard.i18n import t
from dashboard.internal.ids import ContractorIds
from dashboard.internal.pages.explorer import grid_locale
from data.contractors import blacklist, credit_history
from envtrust.contractors import default_window, lab_summary, scorecard

#: the credit entry kinds (data.contractors.CREDIT_KINDS) as the Chinese page names them
CREDIT_KIND_ZH: dict[str, str] = {"commendation": "表彰", "warning": "警示", "penalty": "处罚", "blacklist": "黑名单"}
GRADE_STYLE = {"function": "({'A': {'backgroundColor': '#2e7d32', 'color': 'white'}, "
                           "'B': {'backgroundColor': '#1565c0', 'color': 'white'}, "
                           "'C': {'backgroundColor': '#f9a825'}, "
                           "'D': {'backgroundColor': '#c62828', 'color': 'white'}})[params.value] || {}"}


def _clean(frame: pd.DataFrame) -> list[dict]:
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]) or out[c].dtype == object:
            out[c] = out[c].astype(str).replace({"NaT": "", "None": "", "nan": ""})
    return out.replace({np.nan: None}).to_dict("records")


def scorecard_rows(card: pd.DataFrame, lang: str = "zh") -> list[dict]:
    """The grid's rows; the reasons in the page's language."""
    if card.empty:
        return []
    cols = ["rank", "contractor_id", "name", "grade", "score", "score_raw", "n_stations", "capture_rate",
            "pass_rate", "rel_bias", "ooc_hours", "reasons"]
    out = card.assign(reasons=card["reasons" if lang == "zh" else "reasons_en"])[cols].copy()
    for c in ("score", "score_raw"):
        out[c] = out[c].round(1)
    for c in ("capture_rate", "pass_rate", "rel_bias"):
        out[c] = out[c].round(4)
    out["ooc_hours"] = out["ooc_hours"].round(0)
    return _clean(out)


def scorecard_columns(lang: str) -> list[dict]:
    pct = {"function": "params.value == null ? '' : d3.format('.1%')(params.value)"}
    return [
        {"field": "rank", "headerName": "#", "width": 60},
        {"field": "grade", "headerName": t("col_grade", lang), "width": 80, "cellStyle": GRADE_STYLE},
        {"field": "name", "headerName": t("col_contractor", lang)},
        {"field": "score", "headerName": t("col_credit_score", lang), "width": 90},
        {"field": "score_raw", "headerName": t("col_score_raw", lang), "width": 100},
        {"field": "n_stations", "headerName": t("col_n_stations", lang), "width": 90},
        {"field": "capture_rate", "headerName": t("col_capture", lang), "valueFormatter": pct},
        {"field": "pass_rate", "headerName": t("col_pass_rate", lang), "valueFormatter": pct},
        {"field": "rel_bias", "headerName": t("col_bias", lang), "valueFormatter": pct},
        {"field": "ooc_hours", "headerName": t("col_ooc", lang), "width": 110},
        {"field": "reasons", "headerName": t("col_reasons", lang), "flex": 3, "wrapText": True, "autoHeight": True},
    ]


def lab_rows(labs: pd.DataFrame) -> list[dict]:
    """The labs grid's rows: samples, share evaluated and pass rate as fractions (shown as %)."""
    cols = [c for c in ("contractor_id", "name", "n_samples", "evaluated", "pass_rate") if c in labs.columns]
    return _clean(labs[cols].round(4))


def lab_columns(lang: str) -> list[dict]:
    pct = {"function": "params.value == null ? '' : d3.format('.1%')(params.value)"}
    return [{"field": "name", "headerName": t("col_contractor", lang)},
            {"field": "n_samples", "headerName": t("col_samples", lang)},
            {"field": "evaluated", "headerName": t("col_evaluated", lang), "valueFormatter": pct},
            {"field": "pass_rate", "headerName": t("col_pass_rate", lang), "valueFormatter": pct}]


def _grid(grid_id, columns, rows, lang, height="auto", file_name=None) -> dag.AgGrid:
    return dag.AgGrid(id=grid_id, columnDefs=columns, rowData=rows,
                      defaultColDef={"sortable": True, "resizable": True},
                      dashGridOptions={"localeText": grid_locale(lang), "animateRows": False,
                                       "domLayout": "autoHeight"},
                      columnSize="responsiveSizeToFit", csvExportParams={"fileName": file_name or f"{grid_id}.csv"},
                      style={"height": height}, className="ag-theme-alpine")


def layout(con, lang: str) -> html.Div:
    """Scorecard (CSV export), blacklist in force, credit history, labs."""
    window = default_window(con)
    if window is None:
        return html.Div([html.H2(t("contractors_title", lang)), html.P(t("contractors_none", lang))],
                        className="page page-contractors")
    card = scorecard(con, window)
    black = blacklist(con, on=window.last.date())
    credit = credit_history(con)
    if not credit.empty and lang == "zh":
        credit = credit.assign(kind=credit["kind"].map(CREDIT_KIND_ZH).fillna(credit["kind"]))
    labs = lab_summary(con, window)
    local = (window.first + pd.Timedelta(hours=8), window.last + pd.Timedelta(hours=8))
    simple = lambda fields: [{"field": f, "headerName": t(h, lang)} for f, h in fields]  # noqa: E731
    credit_fields = [("name", "col_contractor"), ("kind", "col_kind_credit"), ("reason", "col_reason"),
                     ("legal_basis", "col_legal_basis"), ("start_date", "col_start_date"), ("end_date", "col_end_date")]
    return html.Div([
        html.H2(t("contractors_title", lang)),
        html.Div([html.P(t("contractors_window", lang).format(first=f"{local[0]:%Y-%m-%d}", last=f"{local[1]:%Y-%m-%d}"),
                         className="caption"),
                  html.Button(t("export_csv", lang), id=ContractorIds.EXPORT, n_clicks=0, className="btn")],
                 className="toolbar"),
        _grid(ContractorIds.GRID, scorecard_columns(lang), scorecard_rows(card, lang), lang,
              file_name="envtrust_contractor_scorecard.csv"),
        html.H3(t("blacklist_title", lang)),
        _grid(ContractorIds.BLACKLIST, simple([f for f in credit_fields if f[0] != "kind"]), _clean(black), lang),
        html.H3(t("credit_title", lang)),
        _grid(ContractorIds.CREDIT, simple(credit_fields), _clean(credit), lang),
        html.H3(t("labs_title", lang)),
        _grid(ContractorIds.LABS, lab_columns(lang), lab_rows(labs), lang),
    ], className="page page-contractors")
