"""Inbox (/app/inbox): what waits for the logged-in user - new alarms for enforcement and public
tips (analysts open cases from them), the engine's suspected interference waiting for the analyst's
determination (confirming the event on the station page, or transferring a case, pushes it to
enforcement), the monitoring stations' data-completeness and flag alarms on their own list
(analysts and leaders; :func:`envtrust.alarms.alarm_audience`), cases whose
current step is the user's role, and the webhook push log (a failing push shows here with its
error; it is never silent). Summaries show in the user's language.
"""

from __future__ import annotations

import pandas as pd
from dash import html

from dashboard.i18n import summary_in, t
from dashboard.internal.ids import InboxIds
from dashboard.internal.pages.cases import CASE_ROLES, case_table, forbidden, local_text, rule_label
from dashboard.internal.pages.explorer import rarity_text
from data import alarms as alarm_sql
from data import cases as case_sql
from data.views import station
from envtrust import cases
from envtrust.alarms import (
    ENFORCEMENT,
    REVIEW,
    alarm_audiences,
    rank_alarms,
    readable_summaries,
    severity_text,
)

MAX_ROWS = 200


def _open_button(kind: str, ref_id: str, lang: str, can_open: bool):
    if not can_open:
        return ""
    return html.Button(t("case_open_button", lang), id={"type": kind, "ref": ref_id}, n_clicks=0,
                       className="btn btn-sm btn-outline-primary")


def severity_cell(rule: str, severity: float, event_rank_score: float | None, lang: str) -> str:
    """The rule's severity; for an engine event's alarm its rarity ("1 in N clean hours"), which
    ranks where the 0-1 scores tie."""
    rarity = rarity_text(event_rank_score, lang) if rule == "suspected_interference" else ""
    return rarity or severity_text(rule, severity)


def alarm_table(df: pd.DataFrame, lang: str, tz: str, can_open: bool, table_id: str = InboxIds.ALARMS) -> html.Table:
    cols = ("col_rule", "col_station", "col_episode", "col_severity", "col_summary")
    head = html.Tr([html.Th(t(k, lang)) for k in cols] + [html.Th("")])
    body = [html.Tr([
        html.Td(rule_label(r.rule, lang)), html.Td(r.station_name if isinstance(r.station_name, str) else r.station_id),
        html.Td(f"{local_text(r.episode_start, tz)} .. {local_text(r.episode_end, tz)}"),
        html.Td(severity_cell(r.rule, float(r.severity), r.event_rank_score, lang)),
        html.Td(summary_in(r.summary, lang)),
        html.Td(_open_button(InboxIds.OPEN_ALARM, r.alarm_id, lang, can_open)),
    ], **{"data-alarm": r.alarm_id, "data-rule": r.rule}) for r in df.head(MAX_ROWS).itertuples(index=False)]
    return html.Table([html.Thead(head), html.Tbody(body)], id=table_id, className="table table-sm")


def tip_table(df: pd.DataFrame, lang: str, tz: str, can_open: bool) -> html.Table:
    cols = ("time", "tip_what", "tip_where", "tip_when")
    head = html.Tr([html.Th(t(k, lang)) for k in cols] + [html.Th(""), html.Th("")])
    body = [html.Tr([html.Td(local_text(r.received_at, tz)), html.Td(r.what), html.Td(r.where_text),
                     html.Td(r.when_text), html.Td(r.file_name or ""),
                     html.Td(_open_button(InboxIds.OPEN_TIP, r.tip_id, lang, can_open))], **{"data-tip": r.tip_id})
            for r in df.head(MAX_ROWS).itertuples(index=False)]
    return html.Table([html.Thead(head), html.Tbody(body)], id=InboxIds.TIPS, className="table table-sm")


def outbox_view(con, lang: str, tz: str) -> html.Div:
    counts = alarm_sql.outbox_counts(con)
    df = alarm_sql.outbox_table(con, limit=50)
    rows = [html.Tr([html.Td(local_text(r.created_at, tz)), html.Td(r.topic), html.Td(r.subject),
                     html.Td(int(r.attempts)), html.Td(local_text(r.delivered_at, tz) or "-"),
                     html.Td(r.last_error if isinstance(r.last_error, str) else "")],
                    className="failing" if isinstance(r.last_error, str) else "")
            for r in df.itertuples(index=False)]
    return html.Div([
        html.P(f"{t('inbox_delivered', lang)} {counts['delivered']} · {t('inbox_pending', lang)} {counts['pending']} · "
               f"{t('inbox_failing', lang)} {counts['failing']}", id=InboxIds.DELIVERY_COUNTS),
        html.Table(html.Tbody(rows), className="table table-sm"),
    ], id=InboxIds.DELIVERIES)


def waiting_for(con, case_id: str, state: str, role: str) -> bool:
    """True when ``role`` can move the case on from its state (reopening a finished case is not a task)."""
    if state == "closed":
        return False
    return any(a != "reopen" for a in cases.allowed_actions(state, role, case_sql.case_history(con, case_id)))


def layout(con, role: str, lang: str, tz: str, clocks: dict[str, str]) -> html.Div:
    if role not in CASE_ROLES:
        return forbidden(lang)
    alarms = rank_alarms(alarm_sql.alarms_table(con, ("open",)))
    alarms["summary"] = readable_summaries(alarms)
    audience = alarm_audiences(alarms).to_numpy()
    to_review = alarms[audience == REVIEW]
    monitoring = alarms[(audience != ENFORCEMENT) & (audience != REVIEW)]
    alarms = alarms[audience == ENFORCEMENT]
    tips = case_sql.tips_table(con)
    all_cases = cases.cases_with_clocks(con, clocks)
    mine = all_cases[[waiting_for(con, cid, state, role) for cid, state in
                      zip(all_cases["case_id"], all_cases["state"], strict=True)]]
    parts = [html.H2(t("inbox_title", lang)),
             html.H3(t("inbox_tasks", lang)), case_table(mine, lang, tz, InboxIds.TASKS)]
    can_open = role in cases.OPEN_ROLES
    parts += [html.Div(id=InboxIds.MESSAGE, role="status"),
              html.H3(f"{t('inbox_alarms', lang)} ({len(alarms)})"), alarm_table(alarms, lang, tz, can_open),
              html.H3(f"{t('inbox_tips', lang)} ({len(tips)})"), tip_table(tips, lang, tz, can_open)]
    if role != "enforcement":
        parts += [html.H3(f"{t('inbox_review_alarms', lang)} ({len(to_review)})"),
                  alarm_table(to_review, lang, tz, can_open, InboxIds.REVIEW_ALARMS),
                  html.H3(f"{t('inbox_monitoring_alarms', lang)} ({len(monitoring)})"),
                  alarm_table(monitoring, lang, tz, can_open, InboxIds.MONITORING_ALARMS)]
    parts += [
html.H3(t("inbox_deliveries", lang)), outbox_view(con, lang, tz)]
    return html.Div(parts, className="page inbox-page")


def open_case_from(con, username: str, role: str, kind: str, ref_id: str, lang: str) -> str:
    """Open a case from one alarm or one tip, titled after it (the page's one-click action)."""
    if kind == InboxIds.OPEN_ALARM:
        alarm = alarm_sql.alarm(con, ref_id)
        if alarm is None:
            raise cases.CaseError(f"unknown alarm {ref_id!r}")
        st = station(con, alarm["station_id"]) or {}
        name = st.get("enterprise") if isinstance(st.get("enterprise"), str) else st.get("name")
        title = f"{name or alarm['station_id']}: {rule_label(alarm['rule'], lang)}"
        return cases.open_case(con, username, role, title, alarm_ids=[ref_id])
    tip = case_sql.tip(con, ref_id)
    if tip is None:
        raise cases.CaseError(f"unknown tip {ref_id!r}")
    return cases.open_case(con, username, role, f"{t('inbox_tips', lang)}: {tip['where_text']}", tip_id=ref_id)
