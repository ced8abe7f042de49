"""One case (/app/case/<id>): state, clock, links, evidence pack, history, and the actions the
user's role may take from this state (the server checks again on submit: role, state, fields,
version). The form's version is the one the page was rendered with (optimistic check).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pandas as pd
from dash import dcc, html

from dashboard.i18n import kind_name, summary_in, t
from dashboard.internal.ids import CaseIds
from dashboard.internal.pages.cases import CASE_ROLES, forbidden, local_text, rule_label, state_label
from data import cases as case_sql
from envtrust import cases
from envtrust.alarms import readable_summaries

EVIDENCE_PREFIX = "/app/case-evidence/"


def evidence_href(case_id: str, fmt: str) -> str:
    return f"{EVIDENCE_PREFIX}{quote(case_id, safe='')}.{fmt}"


def action_label(action: str, lang: str) -> str:
    spec = cases.ACTIONS[action]
    return spec.zh if lang == "zh" else spec.en


def field_label(name: str, lang: str) -> str:
    zh, en = cases.FIELD_NAMES.get(name, (name, name))
    return zh if lang == "zh" else en


def field_inputs(action: str | None, lang: str) -> list:
    """Inputs for the selected action's fields (required ones marked *)."""
    if not action or action not in cases.ACTIONS:
        return []
    spec = cases.ACTIONS[action]
    out = []
    for name in (*spec.required, *spec.optional):
        mark = " *" if name in spec.required else ""
        out.append(html.Label([field_label(name, lang) + mark, dcc.Input(
            id={"type": CaseIds.FIELD, "name": name}, type="date" if name == "decided_on" else "text",
            debounce=False, className="form-control", maxLength=cases.MAX_TEXT)], className="case-field"))
    return out


def _history(df: pd.DataFrame, lang: str, tz: str) -> html.Table:
    cols = ("time", "col_actor", "col_role", "col_action", "col_from_to", "case_reason")
    head = html.Tr([html.Th(t(k, lang)) for k in cols])
    body = []
    for r in df.itertuples(index=False):
        fields = json.loads(r.fields_json) if isinstance(r.fields_json, str) else {}
        detail = "; ".join(f"{field_label(k, lang)}: {v}" for k, v in fields.items()
                           if k in cases.FIELD_NAMES and v)
        action = action_label(r.action, lang) if r.action in cases.ACTIONS else t("case_opened", lang)
        move = f"{state_label(r.from_state, lang) if isinstance(r.from_state, str) else ''} -> " \
               f"{state_label(r.to_state, lang)}"
        body.append(html.Tr([html.Td(local_text(r.occurred_at, tz)), html.Td(r.actor), html.Td(r.actor_role),
                             html.Td(action), html.Td(move),
                             html.Td(" ".join(x for x in (r.reason if isinstance(r.reason, str) else "", detail) if x))]))
    return html.Table([html.Thead(head), html.Tbody(body)], id=CaseIds.HISTORY, className="table table-sm")


def _evidence(case: dict, lang: str) -> html.Div:
    pack = case["evidence"]
    if pack is None:
        return html.Div(html.P(t("case_evidence_none", lang)), id=CaseIds.EVIDENCE)
    links = [html.A("HTML", href=evidence_href(case["case_id"], "html"), target="_blank", id=CaseIds.EVIDENCE_HTML)]
    if pack.get("pdf_sha256"):
        links += [" · ", html.A("PDF", href=evidence_href(case["case_id"], "pdf"), target="_blank")]
    return html.Div([html.Div(links), html.Div(f"SHA-256 (HTML) {pack['html_sha256']}", className="mono"),
                     html.Div(f"SHA-256 (readings) {pack['readings_sha256']}", className="mono"),
                     html.Div(f"{pack['engine_version']} · {pack['frozen_at']}")], id=CaseIds.EVIDENCE)


def link_items(con, case_id: str, links: pd.DataFrame, lang: str) -> list:
    """One line per linked alarm and event (its rule or kind and summary in ``lang``), then the tip."""
    alarms = case_sql.linked_alarms(con, case_id)
    events = case_sql.linked_events(con, case_id)
    alarms = alarms.assign(summary=readable_summaries(alarms))
    items = [html.Li(f"{rule_label(a.rule, lang)}: {summary_in(a.summary, lang)}", **{"data-alarm": a.alarm_id})
             for a in alarms.itertuples(index=False)]
    items += [html.Li(f"{kind_name(e.kind, lang)}: {summary_in(e.summary, lang)}", **{"data-event": e.event_id})
              for e in events.itertuples(index=False)]
    shown = set(alarms.get("alarm_id", [])) | set(events.get("event_id", []))
    items += [html.Li(f"{r.kind}: {r.ref_id}") for r in links.itertuples(index=False) if r.ref_id not in shown]
    return items or [html.Li("-")]


def case_body(con, case_id: str, role: str, lang: str, tz: str, clocks: dict[str, str]) -> list:
    """Everything that changes after a transition (re-rendered by the submit callback)."""
    case = cases.case_detail(con, case_id)
    if case is None:
        return [html.H2(t("case_unknown", lang))]
    due = cases.deadline(case["state_since"], clocks.get(cases.clock_key(case["state"], case.get("action"))))
    overdue = due is not None and pd.Timestamp(due) < pd.Timestamp.now(tz="UTC").tz_localize(None)
    actions = cases.allowed_actions(case["state"], role, case["history"])
    links = case["links"]
    form = html.Div([
        html.H3(t("case_action", lang)),
        dcc.Dropdown(id=CaseIds.ACTION, options=[{"label": action_label(a, lang), "value": a} for a in actions],
                     value=actions[0] if actions else None, clearable=False),
        html.Div(field_inputs(actions[0] if actions else None, lang), id=CaseIds.FIELDS),
        html.Label([t("case_reason", lang), dcc.Textarea(id=CaseIds.REASON, className="form-control",
                                                          maxLength=cases.MAX_TEXT)]),
        html.Button(t("case_submit", lang), id=CaseIds.SUBMIT, n_clicks=0, className="btn btn-primary"),
    ], className="case-form", style={} if actions else {"display": "none"})
    return [
        dcc.Store(id=CaseIds.VERSION, data=int(case["version"])),
        html.H2([case["case_id"], " · ", case["title"]], id=CaseIds.HEADING),
        html.Div([
            html.Span([t("case_state", lang), ": ", html.B(state_label(case["state"], lang), id=CaseIds.STATE)]),
            html.Span(f" · {t('case_due', lang)}: {local_text(due, tz)}" if due else ""),
            html.Span(f" ({t('case_overdue', lang)})" if overdue else "", className="overdue"),
            html.Span(f" · {t('col_station', lang)}: {case.get('station_name') or case.get('station_id') or '-'}"),
            html.Span(f" · {t('case_legal_type', lang)}: "
                      f"{cases.LEGAL_TYPES.get(case.get('legal_type'), ('-', '-'))[0 if lang == 'zh' else 1]}"),
        ], className="case-meta"),
        form if actions else html.P(t("case_no_action", lang), className="note"),
        html.H3(t("case_evidence", lang)), _evidence(case, lang),
        html.H3(t("case_links", lang)),
        html.Ul(link_items(con, case_id, links, lang), id=CaseIds.LINKS),
        html.H3(t("case_history", lang)), _history(case["history"], lang, tz),
    ]


def layout(con, case_id: str, role: str, lang: str, tz: str, clocks: dict[str, str]) -> html.Div:
    if role not in CASE_ROLES:
        return forbidden(lang)
    return html.Div([
        dcc.Store(id=CaseIds.CASE, data=case_id),
        html.Div(id=CaseIds.MESSAGE, role="status", className="case-message"),
        html.Div(case_body(con, case_id, role, lang, tz, clocks), id=CaseIds.BODY),
    ], className="page case-page")
