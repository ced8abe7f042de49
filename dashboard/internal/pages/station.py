"""Station drill-down (/app/station/<id>?event=<id>): series with the suspicious period shaded, the
neighbours overlaid, model contributions, data flags, a neighbour map at that moment, the event's
evidence, openair-style analysis tabs and the analyst's review."""

from __future__ import annotations

import pandas as pd
from dash import dcc, html

from analytics import profiles
from analytics.vocabulary import AIR_POLLUTANTS, PARAMETERS
from dashboard.figures.analysis import calendar_figure, polar_figure, profiles_figure, scatter_figure
from dashboard.figures.situation_map import geo_map_layers
from dashboard.figures.station import empty_figure, evidence_chart, neighbour_map_dict, series_figure_dict
from dashboard.i18n import kind_name, station_label, status_name, summary_in, t
from dashboard.internal.geo_route import layer_url
from dashboard.internal.ids import StationIds
from dashboard.internal.timefmt import fmt_local, one_to_local, to_local
from data import views
from envtrust.alarms import review_event

EVENT_PAD = pd.Timedelta(hours=72)
DEFAULT_WINDOW = pd.Timedelta(days=14)
ANALYSIS_WINDOW = pd.Timedelta(days=365)
MAX_SERIES_PARAMETERS = 4
ANALYSIS_TABS: tuple[str, ...] = ("profiles", "calendar", "polar", "scatter")
WIND = ("WS", "WD")
KEEP = {"persistence": True, "persistence_type": "session"}  # survive the language switch


def default_parameters(available: list[str], event: dict | None) -> list[str]:
    """The event's parameters, else the station's first pollutants (at most four panels)."""
    if event:
        chosen = [p for p in event["parameter_list"] if p in available]
        if chosen:
            return chosen[:MAX_SERIES_PARAMETERS]
    concentration = [p for p in available if p in PARAMETERS and PARAMETERS[p].is_concentration]
    return (concentration or available)[:min(3, MAX_SERIES_PARAMETERS)]


def series_window(con, station_id: str, event: dict | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """UTC window shown: the event +- 3 days, else the station's last two weeks."""
    if event:
        return pd.Timestamp(event["start"]) - EVENT_PAD, pd.Timestamp(event["end"]) + EVENT_PAD + pd.Timedelta(hours=1)
    _, last = views.station_time_extent(con, station_id)
    if last is None:
        return None
    end = pd.Timestamp(last) + pd.Timedelta(hours=1)
    return end - DEFAULT_WINDOW, end


def _local(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    if df.empty:
        return df
    return df.assign(ts=to_local(df["ts"], tz).to_numpy())


def evidence_children(event: dict | None, lang: str, tz: str) -> list:
    """The event's evidence summary as a definition list (keys as the engine wrote them)."""
    if not event:
        return [html.P(t("no_data", lang))]
    items = [
        html.P([html.B(kind_name(event["kind"], lang)), f" · {t('col_score', lang)} {event['score']:.3f} · ",
                status_name(event["status"], lang)]),
        html.P(f"{fmt_local(one_to_local(event['start'], tz))} – {fmt_local(one_to_local(event['end'], tz))} "
               f"({t('local_time', lang)})"),
        html.P(summary_in(event["summary"], lang), className="evidence-summary"),
    ]
    ev = event.get("evidence") or {}
    if isinstance(ev, dict) and ev:
        items += evidence_details(ev, lang, str(event.get("station_id", "")))
    return items


def evidence_details(ev: dict, lang: str, station_text: str) -> list:
    """The evidence in words: a sentence per model that fired (the user's language), the deviation
    from the neighbour prediction per parameter, the hours and neighbours, and the small chart of
    the station against its neighbour prediction. Never the engine's raw JSON."""
    out = []
    sentences = [s.get("en" if lang == "en" else "zh", "") for s in ev.get("sentences") or [] if isinstance(s, dict)]
    if sentences:
        out += [html.H5(t("evidence_models", lang)), html.Ul([html.Li(s) for s in sentences if s])]
    deviation = ev.get("deviation_pct_vs_neighbours") or {}
    predicted = ev.get("neighbour_prediction") or {}
    if deviation:
        parts = [f"{p} {v:+.0f}%" + (f" ({t('neighbour_prediction', lang)} {predicted[p]:.3g})" if p in predicted else "")
                 for p, v in sorted(deviation.items(), key=lambda kv: -abs(kv[1]))]
        out.append(html.P(f"{t('evidence_deviation', lang)}: " + "; ".join(parts)))
    if "hours" in ev:
        out.append(html.P(t("evidence_hours", lang).format(h=ev["hours"], nb=", ".join(ev.get("neighbours") or []) or "-")))
    if ev.get("suspect_flag_share"):
        out.append(html.P(t("evidence_flags", lang).format(share=float(ev["suspect_flag_share"]))))
    series = ev.get("series") or {}
    if series.get("hours"):
        out.append(dcc.Graph(figure=evidence_chart(series, lang, station_text), config={"displayModeBar": False},
                             className="evidence-chart"))
    return out


def series_view(con, station_id: str, event_id: str | None, parameters: list[str] | None, lang: str, tz: str):
    """(series figure, neighbour mini-map, evidence children) for the station page. Pure given the store."""
    st = views.station(con, station_id)
    if st is None:
        msg = t("unknown_station", lang)
        return empty_figure(msg), empty_figure(msg), [html.P(msg)]
    ev = views.event(con, event_id) if event_id else None
    if ev is not None and ev["station_id"] != station_id:
        ev = None
    window = series_window(con, station_id, ev)
    if window is None:
        msg = t("no_data", lang)
        return empty_figure(msg), empty_figure(msg), evidence_children(ev, lang, tz)
    start, end = (w.to_pydatetime() for w in window)
    available = views.station_parameters(con, station_id)
    params = [p for p in (parameters or default_parameters(available, ev)) if p in available][:MAX_SERIES_PARAMETERS]
    series = _local(views.station_series(con, station_id, start, end, params), tz)
    nbrs = views.neighbours(con, station_id, k=5)
    nb_ids = nbrs["station_id"].tolist()
    nb_series = _local(views.multi_station_series(con, nb_ids, start, end, params), tz)
    names = {r["station_id"]: station_label(r["name"], r.get("name_en"), r["station_id"], lang)
             for _, r in nbrs.iterrows()}
    contrib = _local(views.model_contributions(con, station_id, start, end, params), tz)
    shade = (one_to_local(ev["start"], tz), one_to_local(ev["end"], tz) + pd.Timedelta(hours=1)) if ev else None
    fig = series_figure_dict(series, params, lang, nb_series, names, contrib, shade,
                        station_label(st["name"], st.get("name_en"), station_id, lang))
    # the mini-map shows the moment of the event (its period), else the last day shown
    m_start, m_end = (pd.Timestamp(ev["start"]), pd.Timestamp(ev["end"]) + pd.Timedelta(hours=1)) if ev \
        else (pd.Timestamp(end) - pd.Timedelta(hours=24), pd.Timestamp(end))
    if params:
        vals = views.values_at(con, [station_id, *nb_ids], params[0], m_start.to_pydatetime(), m_end.to_pydatetime())
        mini = neighbour_map_dict(st, nbrs, vals, params[0], lang, geo_map_layers({"boundaries", "rivers"}, layer_url=layer_url))
    else:
        mini = empty_figure(t("no_data", lang))
    return fig, mini, evidence_children(ev, lang, tz)


def analysis_view(con, station_id: str, tab: str, parameter: str | None, neighbour_id: str | None,
                  lang: str, tz: str):
    """One analysis figure (profiles | calendar | polar | scatter) over the station's last year."""
    _, last = views.station_time_extent(con, station_id)
    if last is None or not parameter:
        return empty_figure(t("no_data", lang))
    end = pd.Timestamp(last) + pd.Timedelta(hours=1)
    start = end - ANALYSIS_WINDOW
    wanted = [parameter, *WIND] if tab == "polar" else [parameter]
    long = _local(views.station_series(con, station_id, start.to_pydatetime(), end.to_pydatetime(), wanted), tz)
    valid = long[long["flag"] == "N"]
    one = valid[valid["parameter"] == parameter][["ts", "value"]]
    if tab == "profiles":
        return profiles_figure(profiles.diurnal_profile(one), profiles.weekly_profile(one), parameter, lang)
    if tab == "calendar":
        return calendar_figure(profiles.calendar_daily_means(one), parameter, lang)
    if tab == "polar":
        wide = valid.pivot_table(index="ts", columns="parameter", values="value", aggfunc="first")
        if not set(WIND) <= set(wide.columns) or parameter not in wide.columns:
            return empty_figure(t("no_wind", lang))
        return polar_figure(profiles.polar_bins(wide.reset_index(), value=parameter), parameter, lang)
    if tab == "scatter":
        if not neighbour_id:
            return empty_figure(t("choose_neighbour", lang))
        other = _local(views.station_series(con, neighbour_id, start.to_pydatetime(), end.to_pydatetime(),
                                            [parameter]), tz)
        other = other[other["flag"] == "N"][["ts", "value"]]
        pairs = profiles.paired_values(other, one)
        st, nb = views.station(con, station_id), views.station(con, neighbour_id)
        return scatter_figure(pairs, profiles.linear_fit(pairs),
                              nb["name"] if nb else neighbour_id, st["name"] if st else station_id, parameter, lang)
    raise ValueError(f"unknown analysis tab {tab!r}; expected one of {', '.join(ANALYSIS_TABS)}")


def review_history(con, event_id: str | None, lang: str, tz: str) -> list:
    """Past reviews of the event, newest first."""
    if not event_id:
        return []
    df = views.event_reviews(con, event_id)
    return [html.Li(f"{fmt_local(one_to_local(r['reviewed_at'], tz))} {r['username']}: "
                    f"{status_name(r['verdict'], lang) if r['verdict'] != 'reopened' else t('reopen', lang)}"
                    + (f" — {r['comment']}" if isinstance(r["comment"], str) and r["comment"] else ""))
            for _, r in df.iterrows()]


def submit_review(con, event_id: str, verdict: str, comment: str | None, username: str, lang: str, tz: str):
    """Store the verdict (review row, event status, audit record; a confirmation pushes the event's
    alarm to enforcement, :func:`envtrust.alarms.review_event`); return (message, history)."""
    status = review_event(con, event_id, verdict, comment, username)
    return f"{t('saved', lang)}: {status_name(status, lang)}", review_history(con, event_id, lang, tz)


def layout(con, station_id: str, event_id: str | None, lang: str, tz: str) -> html.Div:
    """Header, series + neighbour map + evidence, analysis tabs, and the review panel (with an event)."""
    st = views.station(con, station_id)
    if st is None:
        return html.Div([html.H2(t("unknown_station", lang)), html.P(station_id)], className="page page-station")
    ev = views.event(con, event_id) if event_id else None
    if ev is not None and ev["station_id"] != station_id:
        ev = None
    available = views.station_parameters(con, station_id)
    chosen = default_parameters(available, ev)
    nbrs = views.neighbours(con, station_id, k=5)
    nb_opts = [{"label": station_label(r["name"], r.get("name_en"), r["station_id"], lang)
                + f" ({r['distance_m'] / 1000:.1f} km)", "value": r["station_id"]} for _, r in nbrs.iterrows()]
    admin = " · ".join(str(x) for x in (st.get("province"), st.get("city"), st.get("county")) if isinstance(x, str))
    analysis_param = chosen[0] if chosen else (available[0] if available else None)
    if analysis_param not in AIR_POLLUTANTS and any(p in available for p in AIR_POLLUTANTS):
        analysis_param = next(p for p in AIR_POLLUTANTS if p in available)
    review = html.Div()
    if ev is not None:
        review = html.Div([
            html.H3(t("review", lang)),
            dcc.Textarea(id=StationIds.COMMENT, placeholder=t("comment", lang), className="comment"),
            html.Div([
                html.Button(t("confirm", lang), id=StationIds.CONFIRM, n_clicks=0, className="btn btn-danger"),
                html.Button(t("false_alarm", lang), id=StationIds.FALSE_ALARM, n_clicks=0, className="btn"),
                html.Button(t("reopen", lang), id=StationIds.REOPEN, n_clicks=0, className="btn btn-light"),
            ], className="button-row"),
            html.Div(id=StationIds.REVIEW_STATUS, className="review-status"),
            html.H4(t("review_history", lang)),
            html.Ul(review_history(con, ev["event_id"], lang, tz), id=StationIds.REVIEW_HISTORY),
        ], className="review-panel")
    return html.Div([
        dcc.Location(id=StationIds.NAV, refresh="callback-nav"),
        dcc.Store(id=StationIds.STATION, data=station_id),
        dcc.Store(id=StationIds.EVENT, data=ev["event_id"] if ev else None),
        html.H2([station_label(st["name"], st.get("name_en"), station_id, lang),
                 html.Span(f" {station_id} · {admin}", className="subtitle")], id="station-heading"),
        html.Div([html.Label(t("parameters", lang)),
                  dcc.Dropdown(id=StationIds.PARAMETERS, options=available, value=chosen, multi=True, **KEEP)],
                 className="filter wide"),
        html.Div([
            html.Div(dcc.Loading(dcc.Graph(id=StationIds.SERIES, config={"displaylogo": False}), type="circle"),
                     className="series-column"),
            html.Div([
                html.H4(t("neighbour_map", lang)),
                dcc.Loading(dcc.Graph(id=StationIds.MINIMAP, config={"displaylogo": False}), type="dot"),
                html.H4(t("evidence", lang)),
                html.Div(id=StationIds.EVIDENCE, className="evidence"),
                review,
            ], className="side-column"),
        ], className="map-row"),
        html.Div([
            html.Div([html.Label(t("choose_parameter", lang)),
                      dcc.Dropdown(id=StationIds.ANALYSIS_PARAMETER, options=available, value=analysis_param,
                                   clearable=False, **KEEP)], className="filter"),
            html.Div([html.Label(t("choose_neighbour", lang)),
                      dcc.Dropdown(id=StationIds.NEIGHBOUR, options=nb_opts,
                                   value=nb_opts[0]["value"] if nb_opts else None, **KEEP)], className="filter wide"),
        ], className="toolbar"),
        dcc.Tabs(id=StationIds.TABS, value="profiles", **KEEP, children=[
            dcc.Tab(label=t("tab_profiles", lang), value="profiles"),
            dcc.Tab(label=t("tab_calendar", lang), value="calendar"),
            dcc.Tab(label=t("tab_polar", lang), value="polar"),
            dcc.Tab(label=t("tab_scatter", lang), value="scatter"),
        ]),
        dcc.Loading(dcc.Graph(id=StationIds.ANALYSIS, config={"displaylogo": False}), type="circle"),
    ], className="page page-station")
