"""The shell around every page: header with navigation and language switch, the routed page area."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

from dash import dcc, html

from dashboard.i18n import DEFAULT_LANG, normalise_lang, t
from dashboard.internal.ids import ShellIds
from dashboard.internal.pages import (
    assessment,
    cases,
    cases_detail,
    cases_inbox,
    contractors,
    explorer,
    record,
    situation,
    station,
)
from dashboard.request_state import current_user, settings
from data.scoring import first_scoring_pending
from envtrust.cases import parse_clocks

PREFIX = "/app/"


def _nav_link(ident: str, href: str, label_key: str) -> dcc.Link:
    """A header link labelled in the default language until the header callback answers
    (a label-less dcc.Link shows its href, "/app/", meanwhile)."""
    return dcc.Link(t(label_key, DEFAULT_LANG), id=ident, href=href, className="nav-link")


def shell() -> html.Div:
    """Static shell; the page inside is rendered by the router callback (after the role check)."""
    return html.Div([
        dcc.Location(id=ShellIds.LOCATION, refresh=False),
        dcc.Store(id=ShellIds.LANG, storage_type="local", data=DEFAULT_LANG),
        html.Header([
            html.Span(id=ShellIds.TITLE, className="title"),
            html.Nav([
                _nav_link(ShellIds.NAV_SITUATION, PREFIX, "nav_situation"),
                _nav_link(ShellIds.NAV_EVENTS, PREFIX + "events", "nav_events"),
                _nav_link(ShellIds.NAV_INBOX, PREFIX + "inbox", "nav_inbox"),
                _nav_link(ShellIds.NAV_CASES, PREFIX + "cases", "nav_cases"),
                _nav_link(ShellIds.NAV_RECORD, PREFIX + "record", "nav_record"),
                _nav_link(ShellIds.NAV_ASSESSMENT, PREFIX + "assessment", "nav_assessment"),
                _nav_link(ShellIds.NAV_CONTRACTORS, PREFIX + "contractors", "nav_contractors"),
            ]),
            html.Span(id=ShellIds.USER, className="user"),
            html.Button(id=ShellIds.LANG_BUTTON, n_clicks=0, className="btn btn-light lang-button"),
            html.A(id=ShellIds.LOGOUT, href="/logout", className="nav-link logout"),
        ], className="app-header"),
        dcc.Loading(html.Main(id=ShellIds.PAGE), type="default", delay_show=300),
    ], className="app-shell")


def route(pathname: str | None, search: str | None) -> tuple[str, dict]:
    """Which page a URL shows: ('situation'|'events'|'record'|'station'|'not_found', arguments)."""
    path = (pathname or PREFIX).rstrip("/") + "/"
    if not path.startswith(PREFIX):
        return "not_found", {}
    rest = path[len(PREFIX):].strip("/")
    if rest == "":
        return "situation", {}
    if rest in ("events", "assessment", "contractors"):
        return rest, {}
    if rest in ("cases", "inbox"):
        return rest, {}
    if rest.startswith("case/"):
        case_id = unquote(rest[len("case/"):])
        return ("case", {"case_id": case_id}) if case_id else ("not_found", {})
    if rest == "record":
        return "record", {}
    if rest.startswith("station/"):
        sid = unquote(rest[len("station/"):])
        query = parse_qs((search or "").lstrip("?"))
        event = (query.get("event") or [None])[0]
        return ("station", {"station_id": sid, "event_id": event}) if sid else ("not_found", {})
    return "not_found", {}


def render_page(con, pathname: str | None, search: str | None, lang: str | None, tz: str, user=None):
    """The page component for a URL, in ``lang``. Pure given the store (and, for the recording
    page, the user: it lists only what they may see). While the first scoring run of a new store
    is still going (``envtrust serve`` started it), a line above the page says so."""
    lang = normalise_lang(lang)
    page = _page(con, pathname, search, lang, tz, user)
    if first_scoring_pending(con):
        return html.Div([html.Div(t("scoring_pending", lang), className="alert alert-info scoring-pending"), page])
    return page


def _page(con, pathname: str | None, search: str | None, lang: str, tz: str, user=None):
    page, args = route(pathname, search)
    if page == "situation":
        return situation.layout(con, lang, tz)
    if page == "events":
        return explorer.layout(con, lang, tz)
    if page == "record" and user is not None:
        return record.layout(con, user.username, user.role, lang, tz)
    if page == "assessment":
        return assessment.layout(con, lang)
    if page == "contractors":
        return contractors.layout(con, lang)
    if page == "station":
        return station.layout(con, args["station_id"], args["event_id"], lang, tz)
    if page in ("cases", "case", "inbox"):
        role, clocks = current_user().role, parse_clocks(settings().case_clocks)
        if page == "cases":
            return cases.layout(con, role, lang, tz, clocks)
        if page == "inbox":
            return cases_inbox.layout(con, role, lang, tz, clocks)
        return cases_detail.layout(con, args["case_id"], role, lang, tz, clocks)
    return html.Div([html.H2(t("not_found", lang)), dcc.Link(t("nav_situation", lang), href=PREFIX)],
                    className="page")


def header_texts(lang: str | None, username: str | None) -> tuple[str, ...]:
    """Title, nav labels, user, language-button and logout texts, then the record, assessment and
    contractor nav labels (the order of the header callback's outputs)."""
    lang = normalise_lang(lang)
    return (t("app_title", lang), t("nav_situation", lang), t("nav_events", lang), t("nav_inbox", lang),
            t("nav_cases", lang), username or "", t("lang_switch", lang), t("logout", lang), t("nav_record", lang),
            t("nav_assessment", lang), t("nav_contractors", lang))
