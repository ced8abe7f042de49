"""The embeds' tables: the city ranking (``/embed/ranking``) and the water sections with their class
and target class (``/embed/water``). Built per request from released values only."""

from __future__ import annotations

import duckdb
import pandas as pd
from dash import dcc, html

from analytics.vocabulary import CST_UTC_OFFSET_H
from dashboard.public import quality
from dashboard.public.quality import status_tag
from dashboard.public.text import t
from data import public_views
from envtrust.release import RANKING_ORDERS, city_ranking


def _swatch(text: str, style: dict) -> html.Span:
    return html.Span(text, className="embed-swatch", style={"background": style["colour"],
                                                             "color": style["text_colour"]})


def latest_complete_day(latest_utc: pd.Timestamp, utc_offset_h: int) -> pd.Timestamp:
    """The newest China Standard Time day that has ended by the latest released hour (the day a
    daily ranking is made for): the hour's own day when it is that day's last hour, else the day before."""
    next_hour_local = latest_utc + pd.Timedelta(hours=utc_offset_h + 1)
    return next_hour_local.normalize() - pd.Timedelta(days=1)


def parse_day(text: str | None) -> pd.Timestamp | None:
    """A YYYY-MM-DD day, or None when it is not one (the page then says so)."""
    if text is None or len(text) != 10:
        return None
    try:
        return pd.Timestamp(text).normalize()
    except (ValueError, OverflowError):
        return None


def ranking_page(con: duckdb.DuckDBPyConnection, lang: str, query: dict[str, str]) -> list:
    """Cities of one CST day ranked by daily AQI or composite index, best first, with the day's
    release status per city (``?by=aqi|composite_index&date=YYYY-MM-DD``)."""
    by = query.get("by") if query.get("by") in RANKING_ORDERS else "aqi"
    head = [html.Span(t("ranking_title", lang))]
    latest = public_views.latest_released_ts(con, "air_station")
    if "date" in query:
        day = parse_day(query["date"])
        if day is None:
            return [html.Div([*head, html.Small(t("bad_date", lang), id="embed-bad-date")], className="embed-head")]
    elif latest is not None:
        day = latest_complete_day(latest, CST_UTC_OFFSET_H)
    else:
        return [html.Div(head, className="embed-head"), html.Div(t("no_data", lang), className="embed-card")]
    table = city_ranking(con, day, by=by)
    lang_q = "&lang=en" if lang == "en" else ""
    day_q = f"&date={day:%Y-%m-%d}"
    switch = html.Div([
        dcc.Link(t("by_aqi", lang), href=f"?by=aqi{day_q}{lang_q}", id="embed-by-aqi",
                 className="embed-switch" + (" embed-switch-on" if by == "aqi" else "")),
        dcc.Link(t("by_composite", lang), href=f"?by=composite_index{day_q}{lang_q}", id="embed-by-composite",
                 className="embed-switch" + (" embed-switch-on" if by != "aqi" else "")),
    ], className="embed-switches")
    head.append(html.Small(f"{t('day_cst', lang)} {day:%Y-%m-%d}"))
    if table.empty:
        return [html.Div(head, className="embed-head"), switch, html.Div(t("no_data", lang), className="embed-card")]
    rows = []
    for r in table.itertuples(index=False):
        style = quality.aqi_style(r.level, lang)
        aqi = "-" if pd.isna(r.aqi) else f"{r.aqi:.0f}"
        primary = r.primary_pollutant if isinstance(r.primary_pollutant, str) and r.primary_pollutant else t("none", lang)
        composite = "-" if pd.isna(r.composite_index) else f"{r.composite_index:.2f}"
        rows.append(html.Tr([html.Td(int(r.rank)), html.Td(r.city), html.Td(_swatch(aqi, style)),
                             html.Td(style["label"]), html.Td(primary), html.Td(composite),
                             html.Td(int(r.stations)), html.Td(status_tag(r.status, lang))]))
    columns = ("rank", "city", "aqi", "level", "primary", "composite_index", "stations_n", "status")
    header = html.Tr([html.Th("AQI" if c == "aqi" else t(c, lang)) for c in columns])
    return [html.Div(head, className="embed-head"), switch,
            html.Table([html.Thead(header), html.Tbody(rows)], className="embed-table", id="embed-ranking"),
            html.Div(t("source", lang), className="embed-foot")]


def meets_target(water_class, target_class) -> bool | None:
    """True when the class is at or better than the target (1 = I is best); None when either is unknown."""
    if water_class is None or target_class is None or pd.isna(water_class) or pd.isna(target_class):
        return None
    return int(water_class) <= int(target_class)


def water_page(con: duckdb.DuckDBPyConnection, lang: str, local_label) -> list:
    """Every official water section's latest released hour: its GB 3838 class, its target class,
    whether the target is met, and the release status."""
    sections = public_views.released_stations(con, ("water_section",))
    latest = public_views.with_water_class(public_views.latest_hour_per_station(con, "water_section"))
    targets = public_views.water_targets(con).set_index("station_id")["target_class"]
    head = html.Div([html.Span(t("water_title", lang))], className="embed-head")
    if sections.empty:
        return [head, html.Div(t("no_data", lang), className="embed-card")]
    shown = sections[["station_id", "name", "name_en", "river", "city"]].merge(
        latest[["station_id", "ts", "water_class", "status"]], on="station_id", how="left")
    rows = []
    for r in shown.itertuples(index=False):
        name = r.name if lang == "zh" or not isinstance(r.name_en, str) or not r.name_en else r.name_en
        target = targets.get(r.station_id)
        target_text = quality.water_style(target, lang)["label"] if target is not None else t("no_target", lang)
        met = meets_target(r.water_class, target)
        met_text = "-" if met is None else t("meets" if met else "misses", lang)
        rows.append(html.Tr([
            html.Td(name), html.Td(r.river if isinstance(r.river, str) else "-"),
            html.Td(_swatch(quality.water_style(r.water_class, lang)["label"], quality.water_style(r.water_class, lang))),
            html.Td(target_text), html.Td(met_text, className="embed-met" if met else "embed-missed"),
            html.Td(local_label(r.ts)), html.Td(status_tag(r.status if isinstance(r.status, str) else None, lang)),
        ]))
    columns = ("section", "river", "water_class", "target_class", "meets_target", "time", "status")
    header = html.Tr([html.Th(t(c, lang)) for c in columns])
    return [head, html.Table([html.Thead(header), html.Tbody(rows)], className="embed-table", id="embed-water"),
            html.Div(t("source", lang), className="embed-foot")]
