"""Read queries behind the internal dashboard (situation map, anomaly explorer, station page).

Every function takes a DuckDB connection (or cursor) first, binds user input as parameters and
returns a DataFrame or a plain dict. All timestamps in and out are naive UTC; the dashboard
converts to local time at the edge.

Speed (100 M readings, station-sorted store): the station page filters by ``station_id`` first,
so DuckDB reads a handful of row groups. The map needs *all* stations at one hour/day, which a
station-sorted table cannot prune by time; :func:`build_map_cache` writes a small time-sorted
``map_hourly`` table (one row per station-hour-parameter for the map's parameters only) that the
map queries use when present. Build it after a bulk load (demo, benchmark); once it exists, every
ingest batch that stores readings adds its map rows to it in the same transaction
(:func:`refresh_map_cache_for_batch`), so the map keeps using the cache and shows the new hours.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from analytics.standards.cems import o2_corrected_mg_m3
from analytics.station_status import air_status, water_status
from analytics.vocabulary import AIR_POLLUTANTS, FLUE_PARAMETERS, PARAMETERS, STATION_KINDS
from data import audit
from data.record import log_transaction
from geo.neighbours import nearest_neighbours

Con = duckdb.DuckDBPyConnection

#: Parameters the map colours stations by (AQI pollutants, GB 3838 class inputs, outlet limits).
MAP_PARAMETERS: tuple[str, ...] = (
    AIR_POLLUTANTS + ("pH", "DO", "CODMn", "NH3-N", "TP", "TN")
    + ("flue_SO2", "flue_NOx", "flue_dust", "flue_O2", "ww_COD", "ww_NH3-N")
)
#: Event statuses that still need a person's attention.
OPEN_STATUSES: tuple[str, ...] = ("open",)
REVIEW_VERDICTS: tuple[str, ...] = ("confirmed", "false_alarm", "reopened")

STATION_COLUMNS = (
    "station_id, name, name_en, kind, lon, lat, control_level, is_background, province_code, province, "
    "city_code, city, county_code, county, parent_station, river, section_role, flow_bearing_deg, "
    "waterbody_type, enterprise, outlet, outlet_type, industry, contractor, ref_o2_pct, limits_json"
)


def _placeholders(values: tuple | list) -> str:
    """``?, ?, ?`` for a bound IN list (the values themselves are always bound, never formatted)."""
    return ", ".join("?" for _ in values) or "NULL"


def has_map_cache(con: Con) -> bool:
    """True when the map cache (``map_hourly`` and ``map_station_span``) exists (see :func:`build_map_cache`)."""
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
                      "AND table_name IN ('map_hourly', 'map_station_span')").fetchone()
    return bool(row and row[0] == 2)


# ---------------------------------------------------------------- stations and admin filters

def stations(con: Con, kinds: list[str] | tuple[str, ...] | None = None, province: str | None = None,
             city: str | None = None, county: str | None = None) -> pd.DataFrame:
    """Stations (optionally of some kinds, inside an admin area), in station_id order."""
    sql = f"SELECT {STATION_COLUMNS} FROM stations WHERE 1=1"
    args: list = []
    if kinds:
        sql += f" AND kind IN ({_placeholders(kinds)})"
        args += list(kinds)
    for col, val in (("province", province), ("city", city), ("county", county)):
        if val:
            sql += f" AND {col} = ?"
            args.append(val)
    df = con.execute(sql + " ORDER BY station_id", args).df()
    df["kind"] = df["kind"].astype("category")  # filtered by kind many times per map update
    return df


def station(con: Con, station_id: str) -> dict | None:
    """One station's row as a dict, or None when unknown."""
    df = con.execute(f"SELECT {STATION_COLUMNS} FROM stations WHERE station_id = ?", [station_id]).df()
    return None if df.empty else df.iloc[0].to_dict()


def admin_areas(con: Con) -> pd.DataFrame:
    """Distinct (province, city, county) triples present among the stations, for the level filters."""
    return con.execute(
        "SELECT DISTINCT province, city, county FROM stations ORDER BY province, city, county"
    ).df()


def time_extent(con: Con) -> tuple[datetime | None, datetime | None]:
    """First and last reading hour (UTC); the map cache is used when present (it is time-sorted)."""
    table = "map_hourly" if has_map_cache(con) else "readings"
    row = con.execute(f"SELECT min(ts), max(ts) FROM {table}").fetchone()
    return (row[0], row[1]) if row else (None, None)


# ---------------------------------------------------------------- map cache

def invalidate_map_cache(con: Con) -> None:
    """Drop the map cache (the map then reads the readings table until :func:`build_map_cache`
    runs again). Ingest no longer calls this: it refreshes the cache with
    :func:`refresh_map_cache_for_batch` in the batch's own transaction."""
    con.execute("DROP TABLE IF EXISTS map_station_span")
    con.execute("DROP TABLE IF EXISTS map_hourly")


def refresh_map_cache_for_batch(con: Con, batch_id: int) -> int:
    """Add the map rows of one ingest batch to an existing map cache; return the rows added
    (0 and nothing done when there is no cache: a bulk load builds it once at the end).

    Why incremental and not a rebuild: the ingest only ever INSERTS readings (a different value
    for a stored key is quarantined as ``duplicate_conflict``, never overwrites), so the cache after
    a batch is exactly the old cache plus the batch's valid map rows, and each station's span
    widens to include the batch's pollutant hours. The cost is proportional to the batch (the
    ``batch_id`` filter reads only the row groups the batch appended), not to the store, whereas a
    rebuild rereads every reading (timings in docs/map-cache.md). Runs inside the caller's
    transaction, so the cache and the readings commit or roll back together.

    The appended rows sit after the ts-sorted body, in the row groups they fill: zone maps still
    prune them (one batch covers a narrow time range, usually the latest hours). Run
    :func:`build_map_cache` after a large back-fill to restore one fully ts-sorted table.
    """
    if not has_map_cache(con):
        return 0
    params = list(MAP_PARAMETERS)
    added = con.execute(
        f"INSERT INTO map_hourly SELECT station_id, ts, parameter, value FROM readings "
        f"WHERE batch_id = ? AND parameter IN ({_placeholders(params)}) AND value IS NOT NULL AND flag = 'N' "
        f"ORDER BY ts, station_id",
        [batch_id, *params],
    ).fetchall()[0][0]
    if not added:
        return 0
    span = (f"SELECT station_id, min(ts) AS first_ts, max(ts) AS last_ts FROM readings WHERE batch_id = ? "
            f"AND parameter IN ({_placeholders(AIR_POLLUTANTS)}) AND value IS NOT NULL AND flag = 'N' "
            f"GROUP BY station_id")
    args = [batch_id, *AIR_POLLUTANTS]
    con.execute(
        f"UPDATE map_station_span AS s SET first_ts = least(s.first_ts, b.first_ts), "
        f"last_ts = greatest(s.last_ts, b.last_ts) FROM ({span}) AS b WHERE s.station_id = b.station_id",
        args,
    )
    con.execute(
        f"INSERT INTO map_station_span SELECT * FROM ({span}) AS b "
        f"WHERE b.station_id NOT IN (SELECT station_id FROM map_station_span)",
        args,
    )
    return int(added)


def build_map_cache(con: Con) -> int:
    """(Re)build ``map_hourly`` (the map's parameters, valid values only, sorted by ts) and
    ``map_station_span`` (each station's first and last valid pollutant hour).

    Why: "all stations at hour t" must not scan 10^8 station-sorted rows; sorted by ts the
    table's zone maps let DuckDB read one or two row groups. Returns the row count.
    """
    bar = con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]
    con.execute("SET enable_progress_bar = false")  # callers print their own progress
    try:
        return _build_map_cache(con)
    finally:
        con.execute(f"SET enable_progress_bar = {'true' if bar else 'false'}")


def _build_map_cache(con: Con) -> int:
    con.execute("DROP TABLE IF EXISTS map_station_span")
    con.execute("DROP TABLE IF EXISTS map_hourly")
    con.execute(
        f"CREATE TABLE map_hourly AS SELECT station_id, ts, parameter, value FROM readings "
        f"WHERE parameter IN ({_placeholders(MAP_PARAMETERS)}) AND value IS NOT NULL AND flag = 'N' "
        f"ORDER BY ts, station_id",
        list(MAP_PARAMETERS),
    )
    con.execute(
        f"CREATE TABLE map_station_span AS SELECT station_id, min(ts) AS first_ts, max(ts) AS last_ts "
        f"FROM map_hourly WHERE parameter IN ({_placeholders(AIR_POLLUTANTS)}) GROUP BY station_id",
        list(AIR_POLLUTANTS),
    )
    return int(con.execute("SELECT count(*) FROM map_hourly").fetchone()[0])


def period_means(con: Con, start: datetime, end: datetime,
                 parameters: tuple[str, ...] | list[str] = MAP_PARAMETERS, cached: bool | None = None) -> pd.DataFrame:
    """Mean of valid (flag N) values per station and parameter over ``[start, end)`` (UTC).

    Returns long ``station_id, parameter, value, n_hours``; one hour gives the hourly value.
    """
    params = list(parameters)
    cached = has_map_cache(con) if cached is None else cached
    if cached and set(params) <= set(MAP_PARAMETERS):
        sql = (f"SELECT station_id, parameter, avg(value) AS value, count(*) AS n_hours FROM map_hourly "
               f"WHERE ts >= ? AND ts < ? AND parameter IN ({_placeholders(params)}) "
               f"GROUP BY station_id, parameter")
    else:
        sql = (f"SELECT station_id, parameter, avg(value) AS value, count(value) AS n_hours FROM readings "
               f"WHERE ts >= ? AND ts < ? AND parameter IN ({_placeholders(params)}) "
               f"AND value IS NOT NULL AND flag = 'N' GROUP BY station_id, parameter")
    return con.execute(sql, [start, end, *params]).df()


# ---------------------------------------------------------------- status per station

def o3_daily_stats(con: Con, start: datetime, end: datetime, cached: bool | None = None) -> pd.DataFrame:
    """Per station over ``[start, end)``: maximum 8-h moving mean of O3 (windows ending in the
    period, at least 6 valid hours, HJ 633-2012 / GB 3095-2012 sec. 8) and maximum hourly O3."""
    table = "map_hourly" if (has_map_cache(con) if cached is None else cached) else "readings"
    extra = "" if table == "map_hourly" else " AND value IS NOT NULL AND flag = 'N'"
    return con.execute(
        f"WITH o AS (SELECT station_id, ts, value FROM {table} WHERE parameter = 'O3' AND ts >= ? AND ts < ?{extra}), "
        "w AS (SELECT station_id, ts, value, "
        "avg(value) OVER (PARTITION BY station_id ORDER BY ts RANGE BETWEEN INTERVAL 7 HOURS PRECEDING AND CURRENT ROW) AS m8, "
        "count(value) OVER (PARTITION BY station_id ORDER BY ts RANGE BETWEEN INTERVAL 7 HOURS PRECEDING AND CURRENT ROW) AS n8 "
        "FROM o) "
        "SELECT station_id, max(m8) FILTER (WHERE n8 >= 6 AND ts >= ?) AS O3_8h, "
        "max(value) FILTER (WHERE ts >= ?) AS O3_1h FROM w GROUP BY station_id",
        [start - timedelta(hours=7), end, start, start],
    ).df().set_index("station_id")


def _outlet_exceedance(wide: pd.DataFrame, info: pd.DataFrame) -> pd.DataFrame:
    """Worst ratio of value to its limit per outlet; flue gas corrected to the reference O2 (HJ 75-2017)."""
    ratios = pd.Series(np.nan, index=wide.index, dtype=float)
    worst = pd.Series(None, index=wide.index, dtype=object)
    for sid in wide.index:
        raw = info.at[sid, "limits_json"] if sid in info.index else None
        if not isinstance(raw, str) or not raw:
            continue
        try:
            limits = json.loads(raw)
        except ValueError:
            continue
        o2 = wide.at[sid, "flue_O2"] if "flue_O2" in wide.columns else np.nan
        ref = info.at[sid, "ref_o2_pct"]
        for param, limit in limits.items():
            if param not in wide.columns or not limit:
                continue
            val = wide.at[sid, param]
            if not np.isfinite(val):
                continue
            if param in FLUE_PARAMETERS and param != "flue_O2" and np.isfinite(o2) and pd.notna(ref):
                val = o2_corrected_mg_m3(val, o2, float(ref))
            ratio = val / float(limit)
            if not np.isfinite(ratios[sid]) or ratio > ratios[sid]:
                ratios[sid] = ratio
                worst[sid] = param
    return pd.DataFrame({"limit_ratio": ratios, "worst_parameter": worst,
                         "exceedance": ratios > 1.0})


def suspicion(con: Con, start: datetime, end: datetime) -> pd.DataFrame:
    """Strongest non-dismissed event score per station among events overlapping ``[start, end)``."""
    return con.execute(
        "SELECT station_id, max(score) AS suspicion, count(*) AS n_events FROM events "
        f"WHERE start < ? AND \"end\" >= ? AND status <> 'false_alarm' AND {INTERFERENCE} GROUP BY station_id",
        [end, start],
    ).df()


def _means_by_period(con: Con, bounds: list[datetime], cached: bool) -> pd.DataFrame:
    """Mean of valid (flag N) values per station and period, one column per map parameter, over
    consecutive periods ``[bounds[i], bounds[i+1])`` in ONE scan (current and previous period together).

    Returns ``station_id, period (0-based), n_air (valid pollutant hours), <parameter>...`` with one
    row per station and period that has any valid map value. Pivoted in DuckDB: pandas would
    spend longer reshaping ~10^4 long rows than the scan takes.
    """
    params = list(MAP_PARAMETERS)
    cuts = list(bounds[1:-1])
    period_sql = " + ".join("CAST(ts >= ? AS INTEGER)" for _ in cuts) or "0"
    means_sql = ", ".join(f"avg(value) FILTER (WHERE parameter = ?) AS p{j}" for j in range(len(params)))
    air_sql = f"count(*) FILTER (WHERE parameter IN ({_placeholders(AIR_POLLUTANTS)})) AS n_air"
    table, extra = ("map_hourly", "") if cached else ("readings", " AND value IS NOT NULL AND flag = 'N'")
    sql = (f"SELECT station_id, {period_sql} AS period, {air_sql}, {means_sql} FROM {table} "
           f"WHERE ts >= ? AND ts < ? AND parameter IN ({_placeholders(params)}){extra} GROUP BY 1, 2")
    cols = con.execute(sql, [*cuts, *AIR_POLLUTANTS, *params, bounds[0], bounds[-1], *params]).fetchnumpy()
    # fetchnumpy: no Arrow-string conversion (a third of the query's cost); NULL means become NaN
    out = {"station_id": np.asarray(cols["station_id"], dtype=object),
           "period": np.asarray(cols["period"], dtype=np.int64), "n_air": np.asarray(cols["n_air"], dtype=np.int64)}
    for j, p in enumerate(params):
        out[p] = np.ma.filled(np.ma.asarray(cols[f"p{j}"], dtype=float), np.nan)
    return pd.DataFrame(out)


def _suspicion_windows(con: Con, windows: list[tuple[datetime, datetime]]) -> list[pd.DataFrame]:
    """:func:`suspicion` for several windows in one query over the (small) events table."""
    cols, args = [], []
    for i, (s, e) in enumerate(windows):
        cond = 'start < ? AND "end" >= ?'
        cols.append(f"max(score) FILTER (WHERE {cond}) AS s{i}, count(*) FILTER (WHERE {cond}) AS n{i}")
        args += [e, s, e, s]
    rows = con.execute(f"SELECT station_id, {', '.join(cols)} FROM events WHERE status <> 'false_alarm' AND {INTERFERENCE} "
                       f"GROUP BY station_id", args).fetchall()
    out = []
    for i in range(len(windows)):
        hit = [(r[0], r[1 + 2 * i], r[2 + 2 * i]) for r in rows if r[2 + 2 * i] > 0]
        out.append(pd.DataFrame({"suspicion": np.array([float(h[1]) for h in hit], dtype=float),
                                 "n_events": np.array([int(h[2]) for h in hit], dtype=np.int64)},
                                index=pd.Index([h[0] for h in hit], dtype=object, name="station_id")))
    return out


def _period_wide(means: pd.DataFrame, pos: dict[str, int], n_stations: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One period's means as a station x parameter frame in station order (only the parameters
    that have a value somewhere in the period, as a pivot would give) and which stations have data."""
    present = [p for p in MAP_PARAMETERS if p in means.columns and means[p].notna().any()]
    rows = np.fromiter((pos.get(s, -1) for s in means["station_id"].tolist()), dtype=np.int64, count=len(means))
    keep = rows >= 0
    values = np.full((n_stations, len(present)), np.nan)
    values[rows[keep]] = means[present].to_numpy(dtype=float)[keep]
    has_data = np.zeros(n_stations, dtype=bool)
    has_data[rows[keep]] = True
    return pd.DataFrame(values, columns=present), has_data


def _status_of_period(st: pd.DataFrame, pos: dict[str, int], wide: pd.DataFrame, has_data: np.ndarray,
                      air: pd.DataFrame | None, air_rows: np.ndarray, sus: pd.DataFrame) -> pd.DataFrame:
    """One period's per-station status (rows in ``st`` order) from its wide means (same row order),
    the air stations' AQI (rows ``air_rows`` of ``st``) and suspicion. Built as arrays: pandas label
    alignment on a few thousand Arrow-string keys cost more than the AQI computation itself."""
    n = len(st)
    kind = st["kind"].to_numpy()
    ids = st["station_id"].to_numpy(dtype=object)
    aqi = np.full(n, np.nan)
    level = np.full(n, np.nan)
    primary = np.full(n, None, dtype=object)
    water_class = np.full(n, np.nan)
    limit_ratio = np.full(n, np.nan)
    worst = np.full(n, None, dtype=object)
    exceedance = np.zeros(n, dtype=bool)
    if air is not None and len(air_rows):
        aqi[air_rows] = air["aqi"].to_numpy(dtype=float)
        level[air_rows] = air["aqi_level"].to_numpy(dtype=float)
        primary[air_rows] = air["primary_pollutant"].to_numpy(dtype=object)
    water_rows = np.flatnonzero(kind == "water_section")
    if len(water_rows):
        water_ids = ids[water_rows].tolist()
        body = pd.Series(st["waterbody_type"].to_numpy(dtype=object)[water_rows], index=water_ids)
        water_wide = wide.iloc[water_rows].set_axis(water_ids, axis=0)
        water_class[water_rows] = water_status(water_wide, body).to_numpy(dtype=float)
    outlet_rows = np.flatnonzero(kind == "polluter_outlet")
    if len(outlet_rows):
        outlet_ids = ids[outlet_rows].tolist()
        info = pd.DataFrame({"limits_json": st["limits_json"].to_numpy(dtype=object)[outlet_rows],
                             "ref_o2_pct": st["ref_o2_pct"].to_numpy(dtype=float)[outlet_rows]}, index=outlet_ids)
        ex = _outlet_exceedance(wide.iloc[outlet_rows].set_axis(outlet_ids, axis=0), info)
        limit_ratio[outlet_rows] = ex["limit_ratio"].to_numpy(dtype=float)
        worst[outlet_rows] = ex["worst_parameter"].to_numpy(dtype=object)
        exceedance[outlet_rows] = ex["exceedance"].to_numpy(dtype=bool)
    suspicion_score = np.zeros(n)
    n_events = np.zeros(n, dtype=int)
    for sid, score, count in zip(sus.index, sus["suspicion"], sus["n_events"], strict=True):
        i = pos.get(sid)
        if i is not None:
            suspicion_score[i] = score
            n_events[i] = count
    out = {col: st[col] for col in st.columns}
    out.update(aqi=aqi, aqi_level=level, primary_pollutant=pd.Series(primary, index=st.index, dtype=object),
               water_class=water_class, limit_ratio=limit_ratio,
               worst_parameter=pd.Series(worst, index=st.index, dtype=object), exceedance=exceedance,
               has_data=has_data, suspicion=suspicion_score, n_events=n_events)
    return pd.DataFrame(out, index=st.index)


def _statuses(con: Con, bounds: list[datetime], st: pd.DataFrame, cached: bool,
              suspicion_lookback_h: int = 72, aqi_table: str | None = None) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """Station status for consecutive periods of the SAME length ``[bounds[i], bounds[i+1])``:
    one means scan, one AQI computation (:mod:`analytics.station_status`, breakpoint table
    ``aqi_table``) and one events query for all periods together.

    Returns (statuses per period, the wide means per station and period of :func:`_means_by_period`).
    """
    n = len(bounds) - 1
    averaging = "1h" if (bounds[1] - bounds[0]) <= timedelta(hours=1) else "24h"
    means = _means_by_period(con, bounds, cached)
    st = st.reset_index(drop=True)
    kind = st["kind"].to_numpy()
    ids = st["station_id"].to_numpy(dtype=object)
    pos = {sid: i for i, sid in enumerate(ids.tolist())}
    period_col = means["period"].to_numpy()
    wides = [_period_wide(means[period_col == i], pos, len(st)) for i in range(n)]
    air_rows = np.flatnonzero((kind == "air_station") | (kind == "air_micro"))
    air_ids = ids[air_rows].tolist()
    airs: list[pd.DataFrame | None] = [None] * n
    if air_ids:
        if averaging == "1h":
            # all periods' station-hours through HJ 633 together (per-call overhead dominates)
            stacked = pd.concat([w.iloc[air_rows] for w, _ in wides], ignore_index=True)
            res = air_status(stacked, "1h", aqi_table=aqi_table)
            k = len(air_ids)
            airs = [res.iloc[i * k:(i + 1) * k] for i in range(n)]
        else:
            for i, (w, _) in enumerate(wides):
                o3 = o3_daily_stats(con, bounds[i], bounds[i + 1], cached=cached)
                airs[i] = air_status(w.iloc[air_rows].set_axis(air_ids, axis=0), "24h", o3, aqi_table=aqi_table)
    lookback = timedelta(hours=suspicion_lookback_h)
    sus = _suspicion_windows(con, [(bounds[i] - lookback, bounds[i + 1]) for i in range(n)])
    statuses = [_status_of_period(st, pos, wides[i][0], wides[i][1], airs[i], air_rows, sus[i]) for i in range(n)]
    return statuses, means


def station_status(con: Con, start: datetime, end: datetime, kinds: list[str] | None = None,
                   province: str | None = None, city: str | None = None, county: str | None = None,
                   suspicion_lookback_h: int = 72, aqi_table: str | None = None) -> pd.DataFrame:
    """Per station: position, AQI/level (air), water class (sections), exceedance (outlets), suspicion.

    ``[start, end)`` is the period shown: one hour gives hourly AQI (HJ 633 1-h IAQI), longer periods
    use means with 24-h breakpoints. Suspicion looks back ``suspicion_lookback_h`` hours before
    ``start`` so an event that just ended still marks the station. ``aqi_table``: the AQI breakpoint
    table (the application's ``aqi_table`` setting; None = the standard's default).
    """
    st = stations(con, kinds, province, city, county)
    statuses, _ = _statuses(con, [start, end], st, has_map_cache(con), suspicion_lookback_h, aqi_table)
    return statuses[0]


# ---------------------------------------------------------------- headline figures

def capture_rate(con: Con, start: datetime, end: datetime, station_ids: list[str],
                 cached: bool | None = None) -> float:
    """Share of expected hourly pollutant values that arrived valid (flag N), in ``[start, end)``.

    Expected = stations x hours x the six HJ 633 pollutants (GB 3095-2012 data validity is
    counted per pollutant-hour). NaN when no station is given.
    """
    if not station_ids:
        return float("nan")
    hours = max(1, int((end - start).total_seconds() // 3600))
    table = "map_hourly" if (has_map_cache(con) if cached is None else cached) else "readings"
    extra = "" if table == "map_hourly" else " AND value IS NOT NULL AND flag = 'N'"
    got = con.execute(
        f"SELECT count(*) FROM {table} WHERE ts >= ? AND ts < ? "
        f"AND parameter IN ({_placeholders(AIR_POLLUTANTS)}) AND station_id IN (SELECT unnest(?::VARCHAR[]))"
        + extra,
        [start, end, *AIR_POLLUTANTS, list(station_ids)],
    ).fetchone()[0]
    return float(got) / (len(station_ids) * hours * len(AIR_POLLUTANTS))


def reporting_stations(con: Con, start: datetime, end: datetime,
                       cached: bool | None = None) -> set[str]:
    """Stations in service during ``[start, end)``: their first valid pollutant value is before
    ``end`` and their last one is at or after ``start``.

    Why: a store holds stations that report only now and then (a national list with a one-day
    file); counting them as "expected" outside their span would make every capture rate
    meaningless, while a station that goes silent inside its span still counts as missing.
    Uses ``map_station_span`` (built with the map cache); otherwise scans the readings.
    """
    if has_map_cache(con) if cached is None else cached:
        rows = con.execute("SELECT station_id FROM map_station_span WHERE first_ts < ? AND last_ts >= ?",
                           [end, start]).fetchall()
    else:
        rows = con.execute(
            f"SELECT station_id FROM readings WHERE parameter IN ({_placeholders(AIR_POLLUTANTS)}) "
            f"AND value IS NOT NULL AND flag = 'N' GROUP BY station_id HAVING min(ts) < ? AND max(ts) >= ?",
            [*AIR_POLLUTANTS, end, start]).fetchall()
    return {r[0] for r in rows}


def open_event_count(con: Con, at: datetime, station_ids: list[str] | None = None) -> int:
    """Events still open that had started before ``at``."""
    sql = f"SELECT count(*) FROM events WHERE status IN ({_placeholders(OPEN_STATUSES)}) AND {INTERFERENCE} AND start < ?"
    args: list = [*OPEN_STATUSES, at]
    if station_ids is not None:
        if not station_ids:
            return 0
        sql += " AND station_id IN (SELECT unnest(?::VARCHAR[]))"
        args.append(list(station_ids))
    return int(con.execute(sql, args).fetchone()[0])


def _count_classes(values: np.ndarray) -> dict[int, int]:
    """{class: n} of the non-NaN values (AQI levels, water classes)."""
    values = values[~np.isnan(values)].astype(int)
    uniq, counts = np.unique(values, return_counts=True)
    return {int(k): int(v) for k, v in zip(uniq, counts, strict=True)}


def _summarise(status: pd.DataFrame) -> dict:
    kind = status["kind"].to_numpy()
    return {
        "aqi_levels": _count_classes(status["aqi_level"].to_numpy(dtype=float)[kind == "air_station"]),
        "water_classes": _count_classes(status["water_class"].to_numpy(dtype=float)[kind == "water_section"]),
        "exceedances": int(status["exceedance"].to_numpy(dtype=bool)[kind == "polluter_outlet"].sum()),
        "suspected_stations": int((status["suspicion"].to_numpy(dtype=float) > 0).sum()),
    }


def _reporting_both(con: Con, periods: list[tuple[datetime, datetime]], cached: bool) -> list[set[str]]:
    """:func:`reporting_stations` for several periods (one query on ``map_station_span`` when cached)."""
    if not cached:
        return [reporting_stations(con, s, e, cached=False) for s, e in periods]
    rows = con.execute("SELECT station_id, first_ts, last_ts FROM map_station_span").fetchall()
    return [{sid for sid, first, last in rows if first < e and last >= s} for s, e in periods]


def _open_events_at(con: Con, ats: list[datetime], station_ids: list[str]) -> list[int]:
    """:func:`open_event_count` at several moments, one query."""
    if not station_ids:
        return [0] * len(ats)
    cols = ", ".join("count(*) FILTER (WHERE start < ?)" for _ in ats)
    row = con.execute(f"SELECT {cols} FROM events WHERE status IN ({_placeholders(OPEN_STATUSES)}) "
                      f"AND {INTERFERENCE} AND station_id IN (SELECT unnest(?::VARCHAR[]))",
                      [*ats, *OPEN_STATUSES, list(station_ids)]).fetchone()
    return [int(v or 0) for v in row]


def situation(con: Con, start: datetime, end: datetime, kinds: list[str] | None = None,
              province: str | None = None, city: str | None = None, county: str | None = None,
              suspicion_lookback_h: int = 72, aqi_table: str | None = None) -> tuple[pd.DataFrame, dict]:
    """What the situation map shows for ``[start, end)``: (:func:`station_status`, :func:`headline`).

    Why one function: the map and its headline need the status of this period AND the previous
    period of the same length; computing them together is one scan of ``[prev_start, end)``
    grouped by period, one AQI pass, one events query, and the capture rates are counted from
    the same scan (the valid pollutant hours per station), instead of ~10 separate queries.
    Answers are identical to calling :func:`station_status` and :func:`headline` (tested).
    """
    length = end - start
    prev_start = start - length
    st = stations(con, kinds, province, city, county)
    cached = has_map_cache(con)
    (prev_status, cur_status), means = _statuses(con, [prev_start, start, end], st, cached, suspicion_lookback_h,
                                                 aqi_table)
    h = _headline_from(con, st, [(prev_start, start), (start, end)], [prev_status, cur_status], means, cached)
    return cur_status, h


def _headline_from(con: Con, st: pd.DataFrame, periods: list[tuple[datetime, datetime]],
                   statuses: list[pd.DataFrame], means: pd.DataFrame, cached: bool) -> dict:
    """Headline dicts (previous, current) from the statuses and the per-period means of one scan.

    The capture-rate numerator is ``n_air``, the valid pollutant hours of the same scan: exactly
    the rows :func:`capture_rate` counts.
    """
    kind = st["kind"].to_numpy()
    air_ids = st["station_id"][kind == "air_station"].tolist()
    ids = st["station_id"].tolist()
    reporting = _reporting_both(con, periods, cached)
    opened = _open_events_at(con, [e for _, e in periods], ids)
    period_col = means["period"].to_numpy()
    counts = [dict(zip(means["station_id"][period_col == i].tolist(), means["n_air"][period_col == i].tolist(),
                       strict=True)) for i in range(len(periods))]
    out = []
    for i, ((s, e), stt) in enumerate(zip(periods, statuses, strict=True)):
        summary = _summarise(stt)
        expected = [sid for sid in air_ids if sid in reporting[i]]
        if expected:
            hours = max(1, int((e - s).total_seconds() // 3600))
            got = sum(counts[i].get(sid, 0) for sid in expected)
            summary["capture_rate"] = float(got) / (len(expected) * hours * len(AIR_POLLUTANTS))
        else:
            summary["capture_rate"] = float("nan")
        summary["open_events"] = opened[i]
        out.append(summary)
    return {"current": out[-1], "previous": out[-2]}


def headline(con: Con, start: datetime, end: datetime, kinds: list[str] | None = None,
             province: str | None = None, city: str | None = None, county: str | None = None,
             status: pd.DataFrame | None = None, aqi_table: str | None = None) -> dict:
    """Headline figures for ``[start, end)`` and the same-length period before it (for trends).

    The capture rate counts the standard air stations in service in the period
    (:func:`reporting_stations`). Returns ``{"current": {...}, "previous": {...}}`` with keys capture_rate, aqi_levels
    {level: n stations}, water_classes {class: n}, exceedances (outlets over a limit),
    open_events, suspected_stations. ``status`` is accepted for compatibility and not needed:
    both periods come from one pass (see :func:`situation`).
    """
    return situation(con, start, end, kinds, province, city, county, aqi_table=aqi_table)[1]


# ---------------------------------------------------------------- events

#: suspected interference, i.e. every event but the data-completeness alarms (kind 'data_gap')
INTERFERENCE = "kind <> 'data_gap'"
INTERFERENCE_E = "e.kind <> 'data_gap'"

def events_table(con: Con, kinds: list[str] | None = None, statuses: list[str] | None = None,
                 station_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 min_score: float | None = None, limit: int = 10_000, data_gaps: bool = False) -> pd.DataFrame:
    """Events ranked by their graded figure (``rank_score``, then score; highest first) with station
    name and kind, filtered by the arguments. ``data_gaps``: the data-completeness alarms (kind
    ``data_gap``) instead of the suspected interference."""
    sql = ("SELECT e.event_id, e.station_id, s.name AS station_name, s.name_en AS station_name_en, "
           "s.kind AS station_kind, s.province, s.city, s.county, e.kind, e.start, e.\"end\", e.score, "
           "e.rank_score, e.parameters, e.status, e.summary FROM events e LEFT JOIN stations s USING (station_id) "
           f"WHERE {'NOT ' if data_gaps else ''}({INTERFERENCE_E})")
    args: list = []
    if kinds:
        sql += f" AND e.kind IN ({_placeholders(kinds)})"
        args += list(kinds)
    if statuses:
        sql += f" AND e.status IN ({_placeholders(statuses)})"
        args += list(statuses)
    if station_id:
        sql += " AND e.station_id = ?"
        args.append(station_id)
    if since is not None:
        sql += " AND e.\"end\" >= ?"
        args.append(since)
    if until is not None:
        sql += " AND e.start < ?"
        args.append(until)
    if min_score is not None:
        sql += " AND e.score >= ?"
        args.append(float(min_score))
    sql += " ORDER BY e.rank_score DESC NULLS LAST, e.score DESC, e.start, e.event_id LIMIT ?"
    args.append(int(limit))
    return con.execute(sql, args).df()


def workload(con: Con, capacity: dict[str, float]) -> pd.DataFrame:
    """The operating point against the event list, per network: stations, station-months (each
    network's stations over the span of the stored readings), suspected-interference events,
    the capacity (``capacity[network]`` events per station-month) and how many events lie above
    it; plus the data-completeness alarms (kind ``data_gap``) counted apart."""
    from analytics.events import STATION_NETWORK

    span = con.execute("SELECT min(ts), max(ts) FROM readings").fetchone()
    hours = ((pd.Timestamp(span[1]) - pd.Timestamp(span[0])).total_seconds() / 3600 + 1) if span[0] else 0.0
    months = hours / (24 * 365.25 / 12)
    st = con.execute("SELECT kind, count(*) AS n FROM stations GROUP BY kind").df()
    ev = con.execute(f"SELECT s.kind, count(*) FILTER (WHERE {INTERFERENCE_E}) AS events, "
                     f"count(*) FILTER (WHERE NOT ({INTERFERENCE_E})) AS data_gaps "
                     "FROM events e JOIN stations s USING (station_id) GROUP BY s.kind").df()
    rows = []
    for net, rate in capacity.items():
        kinds = [k for k, n in STATION_NETWORK.items() if n == net]
        n_st = int(st.loc[st["kind"].isin(kinds), "n"].sum())
        events = int(ev.loc[ev["kind"].isin(kinds), "events"].sum())
        gaps = int(ev.loc[ev["kind"].isin(kinds), "data_gaps"].sum())
        cap = rate * n_st * months
        rows.append({"network": net, "stations": n_st, "station_months": n_st * months, "rate": rate,
                     "events": events, "capacity": cap, "above": max(0, events - int(round(cap))),
                     "data_gaps": gaps})
    return pd.DataFrame(rows)


def event(con: Con, event_id: str) -> dict | None:
    """One event with its evidence parsed from JSON (``evidence`` key), or None."""
    df = con.execute(
        "SELECT event_id, station_id, start, \"end\", kind, score, parameters, summary, evidence_json, status, "
        "run_id, created_at FROM events WHERE event_id = ?", [event_id]
    ).df()
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    try:
        row["evidence"] = json.loads(row["evidence_json"]) if row.get("evidence_json") else {}
    except ValueError:
        row["evidence"] = {"raw": row["evidence_json"]}
    row["parameter_list"] = [p.strip() for p in str(row["parameters"]).split(",") if p.strip()]
    return row


def event_reviews(con: Con, event_id: str) -> pd.DataFrame:
    """Reviews of one event, newest first."""
    return con.execute(
        "SELECT event_id, verdict, comment, username, reviewed_at FROM event_reviews WHERE event_id = ? "
        "ORDER BY reviewed_at DESC", [event_id]
    ).df()


def record_review(con: Con, event_id: str, verdict: str, comment: str | None, username: str,
                  at: datetime | None = None, within: Callable[[Con], None] | None = None) -> str:
    """Store an analyst's verdict: a review row, the event's new status and an audit record, in
    one transaction under the record's lock (parallel reviews neither conflict nor lose an entry).

    ``verdict`` is confirmed | false_alarm | reopened (reopened sets status back to open).
    ``within``: what the verdict means elsewhere (its alarm, :func:`envtrust.alarms.review_event`),
    run in the same transaction. Raises ValueError for an unknown verdict or event; returns the new status.
    """
    if verdict not in REVIEW_VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {', '.join(REVIEW_VERDICTS)}")
    if not con.execute("SELECT count(*) FROM events WHERE event_id = ?", [event_id]).fetchone()[0]:
        raise ValueError(f"unknown event {event_id!r}")
    status = "open" if verdict == "reopened" else verdict
    when = at or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    comment = (comment or "").strip()[:2000] or None
    with log_transaction(con):  # the review and its audit entry land together or not at all
        # the review keeps what it judged (station, kind, hours, models): the engine's label
        # outlives the event row, which the next scoring run replaces
        con.execute('INSERT INTO event_reviews (event_id, verdict, comment, username, reviewed_at, station_id, kind, '
                    'start, "end", models_json) SELECT ?, ?, ?, ?, ?, station_id, kind, start, "end", '
                    "CAST(json_extract(evidence_json, '$.models') AS VARCHAR) FROM events WHERE event_id = ?",
                    [event_id, verdict, comment, username, when, event_id])
        con.execute("UPDATE events SET status = ? WHERE event_id = ?", [status, event_id])
        audit.append_within(con, username, "event_review", event_id, {"verdict": verdict, "comment": comment})
        if within is not None:
            within(con)
    return status


# ---------------------------------------------------------------- station page

def station_series(con: Con, station_id: str, start: datetime, end: datetime,
                   parameters: list[str] | None = None) -> pd.DataFrame:
    """Readings of one station in ``[start, end)``: ``station_id, ts, parameter, value, flag`` by ts."""
    sql = "SELECT station_id, ts, parameter, value, flag FROM readings WHERE station_id = ? AND ts >= ? AND ts < ?"
    args: list = [station_id, start, end]
    if parameters:
        sql += f" AND parameter IN ({_placeholders(parameters)})"
        args += list(parameters)
    return con.execute(sql + " ORDER BY parameter, ts", args).df()


def multi_station_series(con: Con, station_ids: list[str], start: datetime, end: datetime,
                         parameters: list[str]) -> pd.DataFrame:
    """Readings of several stations (neighbours) for some parameters in ``[start, end)``."""
    if not station_ids or not parameters:
        return pd.DataFrame(columns=["station_id", "ts", "parameter", "value", "flag"])
    return con.execute(
        f"SELECT station_id, ts, parameter, value, flag FROM readings WHERE station_id IN "
        f"({_placeholders(station_ids)}) AND parameter IN ({_placeholders(parameters)}) AND ts >= ? AND ts < ? "
        f"ORDER BY station_id, parameter, ts",
        [*station_ids, *parameters, start, end],
    ).df()


def station_parameters(con: Con, station_id: str) -> list[str]:
    """Parameters this station has ever reported, in vocabulary order."""
    got = {r[0] for r in con.execute(
        "SELECT DISTINCT parameter FROM readings WHERE station_id = ?", [station_id]).fetchall()}
    return [p for p in PARAMETERS if p in got] + sorted(got - set(PARAMETERS))


def station_time_extent(con: Con, station_id: str) -> tuple[datetime | None, datetime | None]:
    """First and last reading hour of one station (UTC)."""
    row = con.execute("SELECT min(ts), max(ts) FROM readings WHERE station_id = ?", [station_id]).fetchone()
    return (row[0], row[1]) if row else (None, None)


def neighbours(con: Con, station_id: str, k: int = 5, max_distance_m: float = 50_000.0,
               same_kind: bool = True) -> pd.DataFrame:
    """Nearest stations (of the same kind by default): station columns + ``distance_m, rank``."""
    me = station(con, station_id)
    if me is None:
        return pd.DataFrame(columns=["station_id", "name", "name_en", "kind", "lon", "lat", "distance_m", "rank"])
    kinds = [me["kind"]] if same_kind else list(STATION_KINDS)
    if same_kind and me["kind"] == "air_micro":
        kinds = ["air_micro", "air_station"]
    cand = con.execute(
        f"SELECT station_id, name, name_en, kind, lon, lat FROM stations WHERE kind IN ({_placeholders(kinds)}) "
        f"ORDER BY station_id", kinds).df()
    nn = nearest_neighbours(pd.DataFrame([me]), k=k, max_distance_m=max_distance_m, candidates=cand)
    out = nn.merge(cand, left_on="neighbour_id", right_on="station_id", suffixes=("_of", ""))
    return out.drop(columns=["station_id_of", "neighbour_id"]).sort_values("rank").reset_index(drop=True)


def model_contributions(con: Con, station_id: str, start: datetime, end: datetime,
                        parameters: list[str] | None = None) -> pd.DataFrame:
    """Scores of one station in ``[start, end)`` in long form: ``ts, parameter, model, score``.

    The ensemble score appears as model ``ensemble``; each model's score comes from the JSON in
    ``scores.model_scores`` written by the engine.
    """
    sql = "SELECT ts, parameter, score, model_scores FROM scores WHERE station_id = ? AND ts >= ? AND ts < ?"
    args: list = [station_id, start, end]
    if parameters:
        sql += f" AND parameter IN ({_placeholders(parameters)})"
        args += list(parameters)
    df = con.execute(sql + " ORDER BY parameter, ts", args).df()
    cols = ["ts", "parameter", "model", "score"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    rows = [df[["ts", "parameter"]].assign(model="ensemble", score=df["score"])]
    parsed = [json.loads(s) if isinstance(s, str) and s else {} for s in df["model_scores"]]
    models = sorted({m for d in parsed for m in d})
    for m in models:
        rows.append(df[["ts", "parameter"]].assign(
            model=m, score=[float(d[m]) if d.get(m) is not None else np.nan for d in parsed]))
    return pd.concat(rows, ignore_index=True)[cols]


def values_at(con: Con, station_ids: list[str], parameter: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Mean valid value of one parameter per station over ``[start, end)`` (neighbour mini-map)."""
    if not station_ids:
        return pd.DataFrame(columns=["station_id", "value"])
    return con.execute(
        f"SELECT station_id, avg(value) AS value FROM readings WHERE station_id IN ({_placeholders(station_ids)}) "
        f"AND parameter = ? AND ts >= ? AND ts < ? AND value IS NOT NULL AND flag = 'N' GROUP BY station_id",
        [*station_ids, parameter, start, end],
    ).df()
