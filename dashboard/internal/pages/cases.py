"""Cases (/app/cases): the leaders' view of the loop - headline (open, overdue, time to close), the
funnel by state, overdue cases first, and the counts by district, enterprise and contractor.

Everything on it comes from :func:`envtrust.cases.leader_summary`; analysts and enforcement
officers see the same page (it is their list of cases too). The public never reaches it.
"""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
from dash import dcc, html

from dashboard.i18n import t
from dashboard.internal.ids import CasesIds
from envtrust import cases
from envtrust.alarms import RULE_NAMES

CASE_ROLES: tuple[str, ...] = ("leader", "analyst", "enforcement")
PREFIX = "/app/"


def case_href(case_id: str) -> str:
    return f"{PREFIX}case/{quote(case_id, safe='')}"


def local_text(ts, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A naive-UTC time as local wall-clock text ('' for none)."""
    if ts is None or pd.isna(ts):
        return ""
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert(tz).strftime(fmt)


def state_label(state: str, lang: str) -> str:
    zh, en = cases.STATE_NAMES.get(state, (state, state))
    return zh if lang == "zh" else en


def rule_label(rule: str, lang: str) -> str:
    zh, en = RULE_NAMES.get(rule, (rule, rule))
    return zh if lang == "zh" else en


def forbidden(lang: str) -> html.Div:
    return html.Div(html.H2(t("forbidden", lang)), className="page")


def _card(label: str, value: str, card_id: str, alert: bool = False) -> html.Div:
    return html.Div([html.Div(label, className="card-label"), html.Div(value, className="card-value")],
                    id=card_id, className="headline-card" + (" alert" if alert else ""))


def _funnel(funnel: dict[str, int], lang: str) -> html.Div:
    top = max(funnel.values(), default=0) or 1
    rows = []
    for state in (*cases.MAIN_LINE, *[s for s in cases.STATES if s not in cases.MAIN_LINE]):
        n = funnel.get(state, 0)
        rows.append(html.Div([
            html.Span(state_label(state, lang), className="funnel-label"),
            html.Span(style={"width": f"{max(n / top * 60, 0.5):.1f}%"}, className="funnel-bar"),
            html.Span(str(n), className="funnel-count"),
        ], className="funnel-row", **{"data-state": state}))
    return html.Div(rows, id=CasesIds.FUNNEL, className="funnel")


def _group_table(df: pd.DataFrame, lang: str) -> html.Table:
    head = html.Tr([html.Th("")] + [html.Th(t(k, lang)) for k in ("cases_total", "cases_open", "cases_overdue")])
    body = [html.Tr([html.Td(str(r.key)), html.Td(int(r.cases)), html.Td(int(r.open)), html.Td(int(r.overdue))])
            for r in df.head(15).itertuples(index=False)]
    return html.Table([html.Thead(head), html.Tbody(body)], className="table table-sm")


def case_table(df: pd.DataFrame, lang: str, tz: str, table_id: str) -> html.Table:
    """Cases with state, station, opened, due and days left; overdue rows marked."""
    cols = ("col_case", "col_title", "case_state", "col_station", "col_opened", "case_due", "case_days_left")
    head = html.Tr([html.Th(t(k, lang)) for k in cols])
    body = []
    for r in df.itertuples(index=False):
        due = local_text(r.due_at, tz)
        left = "" if pd.isna(r.days_left) else f"{r.days_left:g}"
        body.append(html.Tr([
            html.Td(dcc.Link(r.case_id, href=case_href(r.case_id))), html.Td(r.title),
            html.Td(state_label(r.state, lang)), html.Td(r.station_name if isinstance(r.station_name, str) else "-"),
            html.Td(local_text(r.opened_at, tz, "%Y-%m-%d")), html.Td(due),
            html.Td(left + (f" ({t('case_overdue', lang)})" if r.overdue else "")),
        ], className="overdue" if r.overdue else "", **{"data-case": r.case_id}))
    return html.Table([html.Thead(head), html.Tbody(body)], id=table_id, className="table table-sm")


def layout(con, role: str, lang: str, tz: str, clocks: dict[str, str]) -> html.Div:
    if role not in CASE_ROLES:
        return forbidden(lang)
    s = cases.leader_summary(con, clocks)
    median = "-" if s["median_days_to_close"] is None else f"{s['median_days_to_close']:.1f}"
    table = cases.cases_with_clocks(con, clocks).sort_values(["overdue", "opened_at"], ascending=False)
    return html.Div([
        html.H2(t("cases_title", lang)),
        html.Div([
            _card(t("cases_open", lang), str(s["open"]), CasesIds.OPEN),
            _card(t("cases_overdue", lang), str(s["overdue"]), CasesIds.OVERDUE, alert=s["overdue"] > 0),
            _card(t("cases_total", lang), str(s["total"]), CasesIds.TOTAL),
            _card(t("cases_median_close", lang), median, CasesIds.MEDIAN),
        ], className="headline"),
        html.H3(t("cases_funnel", lang)), _funnel(s["funnel"], lang),
        html.H3(t("cases_list", lang)), case_table(table, lang, tz, CasesIds.TABLE),
        html.Div([
            html.Div([html.H3(t("cases_by_county", lang)), _group_table(s["by_county"], lang)]),
            html.Div([html.H3(t("cases_by_enterprise", lang)), _group_table(s["by_enterprise"], lang)]),
            html.Div([html.H3(t("cases_by_contractor", lang)), _group_table(s["by_contractor"], lang)]),
        ], className="case-groups"),
    ], className="page cases-page")
