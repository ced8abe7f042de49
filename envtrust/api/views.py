"""The routes of ``/api/v1``: locations, parameters, measurements (hour/day), latest, city rankings
and, for keys with the ``history`` scope, every version of a released value.

Every route reads through :mod:`data.release`'s public reads (``release_values`` + official
stations) or the ranking service over them; no route reads readings, scores, events, cases or
reviews. Answers are built as JSON (orjson) or CSV from plain tuples on the measurement and latest
routes (the busy ones: no data frame per request) - the schemas in :mod:`envtrust.api.schemas`
document them, and the contract test checks the two agree. The official locations are held in
memory per release generation (:class:`LocationIndex`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import flask
import marshmallow as ma
import orjson
import pandas as pd
from flask import g
from flask_smorest import Blueprint, abort
from webargs.flaskparser import FlaskParser

import envtrust.api.schemas as s
from analytics.standards.hj663 import DEFAULT_ROUNDING, round_gbt8170
from analytics.vocabulary import PARAMETERS, parameter
from data import release as sql
from data import snapshot as snap_sql
from envtrust import release as service
from envtrust.api.context import api_cursor, api_generation, api_state, snapshot_read

MAX_LOCATIONS = 500
#: hourly and daily-mean reads of at most this many locations, or of any locations over at most
#: :data:`SNAPSHOT_MAX_HOURS`, go to the serving snapshot (one B-tree range per station and
#: parameter); wider reads - every hour of a city - scan DuckDB's columns. A 40-station city's
#: hours cost 5 / 9 / 26 ms of CPU there against 16 / 27 / 49 ms in DuckDB over 1 / 7 / 30 days
#: (benchmarks/results/api.md, session 8 round 3)
MAX_SNAPSHOT_LOCATIONS = 5
SNAPSHOT_MAX_HOURS = 31 * 24
DAY = pd.Timedelta(days=1)
#: made once: a Timedelta costs ~10 us to make, more than the rest of the period's parsing
_LAST_HOUR_OF_DAY, _CST_OFFSET = DAY - pd.Timedelta(hours=1), pd.Timedelta(hours=service.CST_UTC_OFFSET_H)
EARLIEST, LATEST = pd.Timestamp("1970-01-01"), pd.Timestamp("2100-01-01")


class _QueryParser(FlaskParser):
    """webargs answers 422 and ignores unknown query parameters by default; here a bad or unknown
    query parameter is a 400 Bad Request (a typo must not silently widen a query)."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE,
                                   "querystring": ma.RAISE}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, ma.Schema] = {}

    def _get_schema(self, argmap, req) -> ma.Schema:
        """One instance per query schema class, made at its first request. webargs makes a new
        instance of a schema class for every request - a deep copy of every declared field, ~0.2 ms
        of a ~1.7 ms one-station day (cProfile, session 9); ``load`` keeps no state on the instance
        (the unknown-field policy is passed to each ``load``), so threads can share one."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = _QueryParser()


def released_parameters(kinds) -> list[str]:
    """Released parameters of the given station kinds, in vocabulary order."""
    out: list[str] = []
    for kind in kinds:
        out += [p for p in service.RELEASED_PARAMETERS.get(kind, ()) if p not in out]
    return out


# ---------------------------------------------------------------- parameter checks (400 answers)

def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t for t in text.split(",") if t]


@dataclass(frozen=True)
class Locations:
    """The official locations a query names: their ids (in id order) and the kinds among them."""

    ids: list[str]
    kinds: list[str]


def _locations(rows: list[tuple[str, str]]) -> Locations:
    return Locations([sid for sid, _ in rows], sorted({kind for _, kind in rows}))


@dataclass(frozen=True)
class LocationIndex:
    """Every official station and section: kind and city by id, in id order. Built once per release
    generation (a station-list change raises it), so naming locations costs no query."""

    kind_city: dict[str, tuple[str, str | None]]

    @classmethod
    def of(cls, rows: list[tuple[str, str, str | None]]) -> LocationIndex:
        return cls({sid: (kind, city) for sid, kind, city in sorted(rows)})

    def select(self, kinds, ids: list[str] | None = None, city: str | None = None) -> list[tuple[str, str]]:
        """(id, kind) of the locations of ``kinds`` among ``ids`` (all when None) in ``city``, by id."""
        chosen = self.kind_city if ids is None else {i: self.kind_city[i] for i in sorted(set(ids))
                                                     if i in self.kind_city}
        return [(sid, kind) for sid, (kind, in_city) in chosen.items()
                if kind in kinds and (city is None or in_city == city)]


def location_index() -> LocationIndex:
    """The official locations at this request's release generation."""
    return api_state().locations.get(api_generation(), lambda: LocationIndex.of(sql.official_locations(api_cursor())))


def resolve_locations(location: str | None, city: str | None, kind: str | None = None,
                      required: bool = True) -> Locations:
    """The official locations a query names; unknown ids are a 400 naming them."""
    index = location_index()
    kinds = (kind,) if kind else sql.OFFICIAL_KINDS
    ids = _split(location)
    if ids is not None:
        if len(ids) > MAX_LOCATIONS:
            abort(400, message=f"at most {MAX_LOCATIONS} locations per request, not {len(ids)}")
        rows = index.select(kinds, ids=ids, city=city)
        unknown = sorted(set(ids) - {sid for sid, _ in rows})
        if unknown:
            abort(400, message=f"unknown location(s): {', '.join(unknown)} (see /api/v1/locations)")
        return _locations(rows)
    if city is not None:
        rows = index.select(kinds, city=city)
        if not rows:
            abort(400, message=f"no official location in city {city!r} (see /api/v1/locations)")
        return _locations(rows)
    if required:
        abort(400, message="give location=ID[,ID...] or city=NAME")
    return _locations(index.select(kinds))


def resolve_parameters(text: str | None, kinds) -> list[str]:
    """The released parameters asked for (all of the locations' networks by default)."""
    allowed = released_parameters(kinds)
    names = _split(text)
    if names is None:
        return allowed
    unknown = [n for n in names if n not in allowed]
    if unknown:
        abort(400, message=f"unknown parameter(s): {', '.join(unknown)}; released parameters here: "
                           f"{', '.join(allowed)}")
    return names


def parse_time(text: str | None, name: str, default: pd.Timestamp, end_of_day: bool = False) -> pd.Timestamp:
    """A query time as naive UTC; a date-only ``date_to`` means the last hour of that day."""
    if text is None:
        return default
    try:
        ts = pd.Timestamp(text)
    except (ValueError, OverflowError):
        abort(400, message=f"{name}: {text!r} is not a valid date or date-time")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if end_of_day and len(text) == 10:
        ts = ts + _LAST_HOUR_OF_DAY
    return ts


def resolve_period(date_from: str | None, date_to: str | None,
                   local_days: bool = False) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end] in naive UTC; with ``local_days`` a date-only bound is a China Standard Time day
    (the days of ``period=day``), otherwise a UTC day."""
    start = parse_time(date_from, "date_from", EARLIEST)
    end = parse_time(date_to, "date_to", LATEST, end_of_day=True)
    cst = _CST_OFFSET
    if local_days and date_from is not None and len(date_from) == 10:
        start -= cst
    if local_days and date_to is not None and len(date_to) == 10:
        end -= cst
    if start > end:
        abort(400, message=f"date_from ({start.isoformat()}Z) is after date_to ({end.isoformat()}Z)")
    return start, end


# ---------------------------------------------------------------- answers

def _meta(found: int, limit: int, page: int) -> dict:
    return {"name": "envtrust public data API", "website": "/api/v1/docs", "license": service.DATA_LICENCE,
            "found": int(found), "limit": int(limit), "page": int(page)}


def _json(payload: dict) -> flask.Response:
    """UTF-8 JSON by orjson (compiled: ~10x less CPU than ``json.dumps`` on a 1,000-row page)."""
    return flask.current_app.response_class(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
                                            mimetype="application/json")


def _csv_response(text: str, found: int) -> flask.Response:
    response = flask.current_app.response_class(text, mimetype="text/csv")
    response.headers["X-Total-Count"] = str(found)
    response.headers["Content-Disposition"] = "inline; filename=envtrust.csv"
    return response


#: the columns of a measurement row (CSV header; JSON nests the last three in ``coverage``)
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "location_id", "parameter", "unit", "period", "datetime_from", "datetime_to", "local_date", "value", "status",
    "version", "expected_count", "observed_count", "withheld_count",
)
#: the columns of a latest row (CSV header and JSON keys)
LATEST_COLUMNS: tuple[str, ...] = ("location_id", "parameter", "unit", "datetime", "value", "status", "version")
#: the routes whose answers are cached between release steps (:mod:`envtrust.api.cache`); the history
#: route is not among them (it needs a scope)
CACHED_ROUTES: frozenset[str] = frozenset(
    f"api_v1.{name}" for name in ("locations", "location", "parameters", "measurements", "latest", "city_rankings"))
_UNITS = {name: p.unit for name, p in PARAMETERS.items()}
_HOUR, _DAY_TD = timedelta(hours=1), timedelta(days=1)
_CST = timedelta(hours=service.CST_UTC_OFFSET_H)


def _utc_text(ts: datetime) -> str:
    """``2017-01-10T03:00:00Z`` of a naive UTC time (``isoformat``: half the CPU of ``strftime``)."""
    return ts.isoformat(timespec="seconds") + "Z"


def _number(value) -> float | None:
    return None if value is None or value != value else float(value)  # NaN != NaN


#: decimals of a published daily mean: the six air pollutants as HJ 663 rounds their statistics
#: (whole ug/m3, CO to 0.1 mg/m3; O3 as its 8h statistic), every other parameter to 0.001 of its
#: unit (the resolution of the smallest-valued ones, TP and NH3-N in mg/L; docs/api.md)
DAILY_MEAN_DECIMALS: dict[str, int] = {
    name: DEFAULT_ROUNDING.statistic_decimals["O3_8h" if name == "O3" else name]
    for name in ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")}
OTHER_DAILY_MEAN_DECIMALS = 3


def published_daily_mean(param: str, value_micro: int | None, observed_hours: int) -> float | None:
    """The published daily mean: the exact sum of the day's hourly values (whole micro-units,
    :data:`data.release.MEAN_SCALE`) over their count, rounded half to even (GB/T 8170) to
    :data:`DAILY_MEAN_DECIMALS` - one value whatever the order of summing or the store read."""
    if value_micro is None or not observed_hours:
        return None
    mean = value_micro / (observed_hours * sql.MEAN_SCALE)  # ints: one correctly rounded division
    return round_gbt8170(mean, DAILY_MEAN_DECIMALS.get(param, OTHER_DAILY_MEAN_DECIMALS))


def hourly_rows(rows: list[tuple]) -> list[tuple]:
    """Measurement rows (:data:`MEASUREMENT_COLUMNS`) of current hourly values (station_id, ts,
    parameter, value, status, version). Plain tuples: one request builds up to 1,000 of them, and
    pandas per request cost more than the query (benchmarks/RESULTS.md); the time texts are made
    once per distinct hour."""
    hours: dict[datetime, tuple[str, str]] = {}
    out = []
    for sid, ts, param, value, status, version in rows:
        span = hours.get(ts)
        if span is None:
            span = hours[ts] = (_utc_text(ts), _utc_text(ts + _HOUR))
        out.append((sid, param, _UNITS.get(param), "hour", span[0], span[1], None, _number(value), status,
                    int(version), 1, 0 if value is None else 1, 1 if status == "withheld" else 0))
    return out


def daily_rows(rows: list[tuple]) -> list[tuple]:
    """Measurement rows of CST-day means from daily sums (station_id, day, parameter, sum in
    micro-units, observed_hours, withheld_hours, status), the mean as :func:`published_daily_mean`;
    each distinct day's texts made once (a city-day page has 240 rows of one day)."""
    days: dict = {}
    out = []
    for sid, day, param, value_micro, observed, withheld, status in rows:
        texts = days.get(day)
        if texts is None:
            start = datetime(day.year, day.month, day.day) - _CST
            texts = days[day] = (_utc_text(start), _utc_text(start + _DAY_TD), day.isoformat())
        out.append((sid, param, _UNITS.get(param), "day", *texts, published_daily_mean(param, value_micro, observed),
                    status, None, 24, int(observed), int(withheld)))
    return out


def coverage_record(expected: int, observed: int, withheld: int) -> dict:
    """A measurement's ``coverage``: its hour counts and the percentage of hours observed."""
    return {"expected_count": expected, "observed_count": observed, "withheld_count": withheld,
            "percent_complete": round(100.0 * observed / expected, 1)}


def measurement_records(rows: list[tuple]) -> list[dict]:
    """JSON results of measurement rows, coverage nested. A page has few distinct coverages (an
    hour is observed or not, withheld or not), so each is made once and shared by its rows (the
    answer is only serialised): a 1,000-row page's records took 1.5 ms with one per row."""
    coverages: dict[tuple[int, int, int], dict] = {}
    out = []
    for sid, param, unit, period, t0, t1, local, value, status, version, expected, observed, withheld in rows:
        counts = (expected, observed, withheld)
        coverage = coverages.get(counts)
        if coverage is None:
            coverage = coverages[counts] = coverage_record(expected, observed, withheld)
        out.append({"location_id": sid, "parameter": param, "unit": unit, "period": period, "datetime_from": t0,
                    "datetime_to": t1, "local_date": local, "value": value, "status": status, "version": version,
                    "coverage": coverage})
    return out


def _csv_rows(columns: tuple[str, ...], rows: list[tuple], found: int) -> flask.Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return _csv_response(buf.getvalue(), found)


def location_record(row, kinds_params: dict[str, list[dict]]) -> dict:
    def text(v):
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

    return {
        "id": row.station_id, "name": row.name, "name_en": text(row.name_en), "kind": row.kind,
        "coordinates": {"latitude": float(row.lat), "longitude": float(row.lon)},
        "admin": {"province": text(row.province), "city": text(row.city), "county": text(row.county)},
        "river": text(row.river), "waterbody_type": text(row.waterbody_type),
        "parameters": kinds_params[row.kind],
    }


def require_scope(scope: str) -> None:
    key = g.get("api_key")
    if key is None:
        abort(401, message=f"this route needs an API key (header X-API-Key) with the {scope!r} scope")
    if scope not in key.scopes:
        abort(403, message=f"this API key lacks the {scope!r} scope; ask the administrator")


# ---------------------------------------------------------------- routes

def make_blueprint() -> ApiBlueprint:
    """A fresh blueprint (one per app: flask-smorest keeps documentation state on it)."""
    blp = ApiBlueprint("api_v1", __name__, url_prefix="/api/v1",
                       description="Released environmental monitoring data (air stations, water sections).")
    kinds_params = {k: [{"name": p, "unit": PARAMETERS[p].unit} for p in released_parameters((k,))]
                    for k in sql.OFFICIAL_KINDS}

    @blp.route("/locations")
    @blp.arguments(s.LocationsQuery, location="query", as_kwargs=True)
    @blp.response(200, s.LocationsPage)
    def locations(limit: int, page: int, kind: str | None = None, city: str | None = None,
                  province: str | None = None):
        """Official air stations and water sections with coordinates and admin areas."""
        kinds = (kind,) if kind else sql.OFFICIAL_KINDS
        rows = sql.location_rows(api_cursor(), kinds, city=city, province=province)
        chunk = rows.iloc[(page - 1) * limit: page * limit]
        return _json({"meta": _meta(len(rows), limit, page),
                      "results": [location_record(r, kinds_params) for r in chunk.itertuples(index=False)]})

    @blp.route("/locations/<location_id>")
    @blp.response(200, s.LocationsPage)
    def location(location_id: str):
        """One official location (404 when there is none with this id)."""
        rows = sql.location_rows(api_cursor(), sql.OFFICIAL_KINDS, station_ids=[location_id])
        if rows.empty:
            abort(404, message=f"unknown location {location_id!r} (see /api/v1/locations)")
        return _json({"meta": _meta(1, 1, 1),
                      "results": [location_record(r, kinds_params) for r in rows.itertuples(index=False)]})

    @blp.route("/parameters")
    @blp.response(200, s.ParametersPage)
    def parameters():
        """The released parameters with their units."""
        results = []
        for name in released_parameters(sql.OFFICIAL_KINDS):
            p = parameter(name)
            results.append({"name": name, "unit": p.unit, "label_zh": p.label_zh, "network": p.network,
                            "kinds": [k for k in sql.OFFICIAL_KINDS if name in service.RELEASED_PARAMETERS[k]]})
        return _json({"meta": _meta(len(results), len(results), 1), "results": results})

    @blp.route("/measurements")
    @blp.arguments(s.MeasurementsQuery, location="query", as_kwargs=True)
    @blp.response(200, s.MeasurementsPage, description="JSON; with format=csv the same rows as CSV "
                                                        "(coverage flattened, X-Total-Count header)")
    def measurements(limit: int, page: int, format: str, period: str, location: str | None = None,
                     city: str | None = None, parameter: str | None = None, date_from: str | None = None,
                     date_to: str | None = None, status: str | None = None):
        """Released hourly values or CST-day means, with release status and coverage."""
        rows = resolve_locations(location, city)
        params = resolve_parameters(parameter, rows.kinds)
        start, end = resolve_period(date_from, date_to, local_days=period == "day")
        statuses = (status,) if status else sql.RELEASE_STATUSES
        ids = rows.ids
        offset = (page - 1) * limit
        snapshot_query, store_query, to_rows = ((snap_sql.current_hourly, sql.current_hourly, hourly_rows)
                                                if period == "hour" else
                                                (snap_sql.current_daily, sql.current_daily, daily_rows))
        answer = None
        if len(ids) <= MAX_SNAPSHOT_LOCATIONS or sql.hours_within(start, end) <= SNAPSHOT_MAX_HOURS:
            first, last = start.to_pydatetime(), end.to_pydatetime()
            answer = snapshot_read(lambda snap, at: snapshot_query(snap, at, ids, params, first, last, statuses,
                                                                   limit, offset))
        found_rows, found = answer or store_query(api_cursor(), ids, params, start, end, statuses, limit, offset)
        flat = to_rows(found_rows)
        if format == "csv":
            return _csv_rows(MEASUREMENT_COLUMNS, flat, found)
        return _json({"meta": _meta(found, limit, page), "results": measurement_records(flat)})

    @blp.route("/measurements/history")
    @blp.arguments(s.HistoryQuery, location="query", as_kwargs=True)
    @blp.response(200, s.HistoryPage)
    @blp.doc(security=[{"ApiKey": []}])
    def history(limit: int, page: int, location: str | None = None, parameter: str | None = None,
                date_from: str | None = None, date_to: str | None = None):
        """Every version of the released hourly values, with the change notes (scope ``history``)."""
        require_scope("history")
        rows = resolve_locations(location, None)
        params = resolve_parameters(parameter, rows.kinds)
        start, end = resolve_period(date_from, date_to)
        df, found = sql.value_history(api_cursor(), rows.ids, params, start, end, limit,
                                      (page - 1) * limit)
        results = [{
            "location_id": r.station_id, "parameter": r.parameter,
            "datetime_from": pd.Timestamp(r.ts).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "value": None if pd.isna(r.value) else float(r.value), "status": r.status, "version": int(r.version),
            "released_at": pd.Timestamp(r.released_at).isoformat() + "Z", "released_by": r.released_by,
            "note": None if r.note is None or pd.isna(r.note) else str(r.note),
            "superseded_at": None if pd.isna(r.superseded_at) else pd.Timestamp(r.superseded_at).isoformat() + "Z",
        } for r in df.itertuples(index=False)]
        return _json({"meta": _meta(found, limit, page), "results": results})

    @blp.route("/latest")
    @blp.arguments(s.LatestQuery, location="query", as_kwargs=True)
    @blp.response(200, s.LatestPage)
    def latest(limit: int, page: int, format: str, location: str | None = None, city: str | None = None,
               kind: str | None = None, parameter: str | None = None):
        """The latest released value per location and parameter (withheld values skipped)."""
        rows = resolve_locations(location, city, kind, required=False)
        params = resolve_parameters(parameter, rows.kinds or sql.OFFICIAL_KINDS)
        newest = api_state().newest_hour.get(api_generation(), lambda: sql.newest_released_hour(api_cursor()))
        found_rows = None
        if 0 < len(rows.ids) <= MAX_SNAPSHOT_LOCATIONS:
            found_rows = snapshot_read(lambda snap, at: snap_sql.latest_current(snap, at, rows.ids, params, newest))
        if found_rows is None:
            found_rows = sql.latest_current(api_cursor(), rows.ids, params, newest)
        flat = [(sid, param, _UNITS.get(param), _utc_text(ts), float(value), status, int(version))
                for sid, param, ts, value, status, version in found_rows[(page - 1) * limit: page * limit]]
        if format == "csv":
            return _csv_rows(LATEST_COLUMNS, flat, len(found_rows))
        return _json({"meta": _meta(len(found_rows), limit, page),
                      "results": [dict(zip(LATEST_COLUMNS, row, strict=True)) for row in flat]})

    @blp.route("/rankings/cities")
    @blp.arguments(s.RankingQuery, location="query", as_kwargs=True)
    @blp.response(200, s.RankingPage)
    def city_rankings(date: str, order_by: str):
        """Cities ranked by the day's AQI or composite index, from released values only."""
        try:
            day = pd.Timestamp(date)
        except ValueError:
            abort(400, message=f"date: {date!r} is not a valid day")
        table = service.city_ranking(api_cursor(), day, by=order_by)
        results = [{"rank": int(r.rank), "city": r.city, "province": None if pd.isna(r.province) else r.province,
                    "aqi": None if pd.isna(r.aqi) else float(r.aqi),
                    "level": None if pd.isna(r.level) else int(r.level),
                    "primary_pollutant": None if pd.isna(r.primary_pollutant) or r.primary_pollutant == ""
                    else str(r.primary_pollutant),
                    "composite_index": None if pd.isna(r.composite_index) else float(r.composite_index),
                    "stations": int(r.stations), "status": r.status} for r in table.itertuples(index=False)]
        return _json({"meta": _meta(len(results), len(results), 1), "results": results})

    return blp


__all__ = ["api_state", "make_blueprint"]
