"""Anomaly explorer (/app/events): a ranked, filterable events table (dash-ag-grid)."""

from __future__ import annotations

from urllib.parse import quote

import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import dcc, html

from analytics.vocabulary import EVENT_KINDS
from dashboard.i18n import kind_name, status_name, summary_in, t
from dashboard.internal.ids import ExplorerIds
from dashboard.internal.timefmt import to_local
from data import views

EVENT_STATUSES: tuple[str, ...] = ("open", "confirmed", "false_alarm", "closed")
PAGE_SIZE = 20
KEEP = {"persistence": True, "persistence_type": "session"}  # survive the language switch


#: AG Grid's own labels in Chinese (the grid ships English only).
GRID_LOCALE_ZH: dict[str, str] = {
    "page": "第", "of": "/", "to": "至", "more": "更多", "firstPage": "首页", "previousPage": "上一页",
    "nextPage": "下一页", "lastPage": "末页", "pageSizeSelectorLabel": "每页:", "filterOoo": "筛选…",
    "contains": "包含", "notContains": "不包含", "equals": "等于", "notEqual": "不等于", "startsWith": "开头是",
    "endsWith": "结尾是", "blank": "为空", "notBlank": "不为空", "lessThan": "小于", "greaterThan": "大于",
    "lessThanOrEqual": "小于等于", "greaterThanOrEqual": "大于等于", "inRange": "介于", "andCondition": "且",
    "orCondition": "或", "noRowsToShow": "无数据", "loadingOoo": "加载中…",
}


def grid_locale(lang: str) -> dict[str, str]:
    """Labels of the grid itself (pager, filter menus) in ``lang``; {} keeps AG Grid's English."""
    return dict(GRID_LOCALE_ZH) if lang == "zh" else {}


def column_defs(lang: str) -> list[dict]:
    """Grid columns (header text in the chosen language; sortable and filterable)."""
    wrapped = {"wrapText": True, "autoHeight": True}  # an analyst reads the whole sentence, not its start
    return [
        {"field": "rank", "headerName": "#", "width": 60, "minWidth": 56, "filter": "agNumberColumnFilter"},
        {"field": "kind_label", "headerName": t("col_kind", lang), "filter": "agTextColumnFilter", "width": 110,
         "minWidth": 96},
        {"field": "station", "headerName": t("col_station", lang), "filter": "agTextColumnFilter", "width": 170,
         "minWidth": 140, **wrapped},
        {"field": "city", "headerName": t("col_city", lang), "filter": "agTextColumnFilter", "width": 90, "minWidth": 84,
         **wrapped},
        {"field": "start_local", "headerName": t("col_start", lang), "filter": "agTextColumnFilter", "width": 110,
         "minWidth": 100, **wrapped},
        {"field": "end_local", "headerName": t("col_end", lang), "filter": "agTextColumnFilter", "width": 110,
         "minWidth": 100, **wrapped},
        {"field": "rarity", "headerName": t("col_rarity", lang), "filter": "agTextColumnFilter", "width": 140, "minWidth": 120,
         "tooltipField": "rarity", **wrapped,
         "comparator": {"function": "(a, b, nodeA, nodeB) => nodeA.data.rank_score - nodeB.data.rank_score"}},
        {"field": "score", "headerName": t("col_score", lang), "filter": "agNumberColumnFilter",
         "valueFormatter": {"function": "d3.format('.3f')(params.value)"}, "width": 90, "minWidth": 80},
        {"field": "parameters", "headerName": t("col_parameters", lang), "filter": "agTextColumnFilter",
         "width": 130, "minWidth": 110, **wrapped},
        {"field": "status_label", "headerName": t("col_status", lang), "filter": "agTextColumnFilter", "width": 90,
         "minWidth": 80},
        {"field": "summary", "headerName": t("col_summary", lang), "filter": "agTextColumnFilter", "flex": 3,
         "minWidth": 320, "tooltipField": "summary", **wrapped},
    ]


def rarity_text(rank_score: float | None, lang: str) -> str:
    """The graded figure in words: "1 in N clean hours" (N = 10 ** rank_score)."""
    if rank_score is None or not np.isfinite(rank_score):
        return ""
    n = 10.0 ** min(float(rank_score), 15.0)
    return t("rarity_text", lang).format(n=f"{n:,.0f}" if n < 1e6 else f"{n:.1e}")


def event_rows(con, kinds: list[str] | None, statuses: list[str] | None, min_score: float | None,
               lang: str, tz: str, data_gaps: bool = False) -> list[dict]:
    """Events ranked by their graded figure as grid rows, periods in local time, labels in the
    chosen language. ``data_gaps``: the data-completeness alarms instead of suspected interference."""
    df = views.events_table(con, kinds=kinds or None, statuses=statuses or None,
                            min_score=float(min_score) if min_score not in (None, "") else None,
                            data_gaps=data_gaps)
    if df.empty:
        return []
    out = pd.DataFrame({
        "rank": range(1, len(df) + 1),
        "event_id": df["event_id"],
        "station_id": df["station_id"],
        "station": df["station_name"].fillna(df["station_id"]) + " (" + df["station_id"] + ")",
        "city": df["city"].fillna(""),
        "kind": df["kind"],
        "kind_label": [kind_name(k, lang) for k in df["kind"]],
        "start_local": to_local(df["start"], tz).dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "end_local": to_local(df["end"], tz).dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "score": df["score"].round(4),
        "rank_score": pd.to_numeric(df["rank_score"], errors="coerce").fillna(0.0).round(6),
        "rarity": [rarity_text(x, lang) for x in pd.to_numeric(df["rank_score"], errors="coerce")],
        "parameters": df["parameters"].fillna("").str.replace(",", ", "),  # lets the cell wrap
        "status": df["status"],
        "status_label": [status_name(s, lang) for s in df["status"]],
        "summary": [summary_in(x, lang) for x in df["summary"]],
    })
    return out.to_dict("records")


def event_href(con, event_id: str | None) -> str | None:
    """The station page of a clicked event (grid row id = event id); None for an unknown event."""
    ev = views.event(con, event_id) if event_id else None
    if ev is None:
        return None
    return f"/app/station/{quote(ev['station_id'], safe='')}?event={quote(ev['event_id'], safe='')}"


def workload_lines(con, capacity: dict[str, float], lang: str) -> list:
    """The operating point: per network with stations, the events against the analysts' capacity,
    and the data-completeness alarms counted apart."""
    wl = views.workload(con, capacity)
    wl = wl[wl["stations"] > 0]
    lines = [html.Div(t("workload_line", lang).format(net=t(f"net_{r.network}", lang), events=r.events,
                                                     cap=r.capacity, rate=r.rate, above=r.above))
             for r in wl.itertuples(index=False)]
    lines.append(html.Div(t("data_gap_count", lang).format(n=int(wl["data_gaps"].sum()))))
    return lines


def layout(con, lang: str, tz: str) -> html.Div:
    """Filters, the grid (sort, filter, page, CSV export) and a count of shown events."""
    kinds = [{"label": kind_name(k, lang), "value": k} for k in EVENT_KINDS]
    statuses = [{"label": status_name(s, lang), "value": s} for s in EVENT_STATUSES]
    return html.Div([
        dcc.Location(id=ExplorerIds.NAV, refresh="callback-nav"),
        html.H2(t("events_title", lang)),
        html.Div([
            html.Div([html.Label(t("filter_kind", lang)),
                      dcc.Dropdown(id=ExplorerIds.KIND, options=kinds, multi=True, value=[], **KEEP)], className="filter wide"),
            html.Div([html.Label(t("filter_status", lang)),
                      dcc.Dropdown(id=ExplorerIds.STATUS, options=statuses, multi=True, value=[], **KEEP)],
                     className="filter wide"),
            html.Div([html.Label(t("filter_min_score", lang)),
                      dcc.Input(id=ExplorerIds.MIN_SCORE, type="number", min=0, max=1, step=0.05, value=None,
                                debounce=True, **KEEP)], className="filter"),
            html.Div([html.Label(" "),
                      dcc.Input(id=ExplorerIds.QUICK, type="text", placeholder=t("quick_filter", lang),
                                debounce=False)], className="filter"),
            dcc.Checklist(id=ExplorerIds.DATA_GAPS, options=[{"label": t("show_data_gaps", lang), "value": "gaps"}],
                          value=[], className="filter"),
            html.Button(t("export_csv", lang), id=ExplorerIds.EXPORT, n_clicks=0, className="btn"),
            html.Span(id=ExplorerIds.COUNT, className="count"),
        ], className="toolbar"),
        html.Div(id=ExplorerIds.WORKLOAD, className="workload"),
        dcc.Loading(dag.AgGrid(
            id=ExplorerIds.GRID,
            columnDefs=column_defs(lang),
            rowData=[],
            defaultColDef={"sortable": True, "filter": True, "resizable": True, "floatingFilter": True,
                           "wrapHeaderText": True, "autoHeaderHeight": True},
            dashGridOptions={"localeText": grid_locale(lang), "pagination": True, "paginationPageSize": PAGE_SIZE,
                             "animateRows": False,
                             "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}},
            columnSize="responsiveSizeToFit",
            csvExportParams={"fileName": "envtrust_events.csv"},
            getRowId="params.data.event_id",
            style={"height": "70vh"},
            className="ag-theme-alpine",
        ), type="circle"),
    ], className="page page-explorer")
