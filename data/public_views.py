"""Read-only queries behind the public embeds: the release records only (``release_values``).

What the embeds show is exactly what the official release channel published (``data.release``,
docs/api.md): the current version of each released value of an official station
(``air_station``, ``water_section``) with its release status - ``preliminary`` (real time,
automatic checks only), ``audited``, ``final`` or ``withheld`` (no value: inside a confirmed
interference event). A reading that was never released (an invalid flag, a micro-station, an
enterprise outlet, a parameter that is not published, an hour not yet published) has no release
record, so it cannot come out of these functions; a superseded version is never read.

The query functions touch ONLY the ``stations``, ``release_values``, ``release_by_ts`` (the current
released values sorted by hour, kept in step by every release step: ``data.release``) and
``section_targets`` (the public target class of each water section) tables and return a fixed list
of columns. Reads of every station at one hour (the map, the water page) go to ``release_by_ts``,
whose zone maps on ``ts`` skip every other hour; reads of one station go to ``release_values``,
written in station order. They never read readings, scores, events, event_reviews, cases, users, the
audit trail, quarantine or ingest_batches, so nothing internal can reach a public page. Every
query is parameterised; nothing from the URL is formatted into SQL.

A group of values (one station-hour, one day) carries the least advanced status of its values
(``data.release.least_advanced_status``): an hour with one preliminary value is preliminary.

:func:`with_air_quality` and :func:`with_water_class` add the station status (AQI level, water
class) to released values through :mod:`analytics.station_status`, the same definition the internal
map uses (``data.views``).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from analytics.standards.air_quality import daily_means
from analytics.standards.aqi import daily_aqi
from analytics.station_status import air_status, water_status
from analytics.vocabulary import AIR_POLLUTANTS, WATER_PARAMETERS
from data.release import RELEASE_STATUSES, STATUS_RANK, section_targets

RELEASED_KINDS: tuple[str, ...] = ("air_station", "water_section")
RELEASED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "air_station": AIR_POLLUTANTS,
    "water_section": WATER_PARAMETERS,
}
STATION_COLUMNS: tuple[str, ...] = (
    "station_id", "name", "name_en", "kind", "lon", "lat", "province", "city", "river", "waterbody_type",
)
_STATION_SELECT = ", ".join(f"s.{c}" for c in STATION_COLUMNS)
_CURRENT = "v.superseded_at IS NULL"
_VALUED = f"{_CURRENT} AND v.value IS NOT NULL"
#: the current released values sorted by hour (current versions only: no superseded_at filter)
_BY_TS = "release_by_ts v"
_RANK_SQL = "CASE v.status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items()) + " END"
LATEST_WINDOW_DAYS = 7


def _check_kind(kind: str) -> None:
    if kind not in RELEASED_KINDS:
        raise ValueError(f"kind must be one of {RELEASED_KINDS}, not {kind!r}")


def _status_of_rank(rank: pd.Series) -> pd.Series:
    return rank.map(lambda r: None if pd.isna(r) else RELEASE_STATUSES[int(r) - 1])


def released_stations(con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...] = RELEASED_KINDS) -> pd.DataFrame:
    """Public station list (official networks only), ordered by station_id."""
    kinds = tuple(k for k in kinds if k in RELEASED_KINDS)
    if not kinds:
        return pd.DataFrame(columns=list(STATION_COLUMNS))
    return con.execute(
        f"SELECT {_STATION_SELECT} FROM stations s WHERE s.kind IN (SELECT unnest(?)) ORDER BY s.station_id",
        [list(kinds)],
    ).df()


def released_station(con: duckdb.DuckDBPyConnection, station_id: str) -> dict | None:
    """One public station as a dict, or None when it is unknown or not an official station."""
    df = con.execute(
        f"SELECT {_STATION_SELECT} FROM stations s WHERE s.station_id = ? AND s.kind IN (SELECT unnest(?))",
        [station_id, list(RELEASED_KINDS)],
    ).df()
    return None if df.empty else df.iloc[0].to_dict()


def latest_released_ts(con: duckdb.DuckDBPyConnection, kind: str) -> pd.Timestamp | None:
    """Latest hour (naive UTC) with a released value (not withheld) at any station of ``kind``.

    Why two steps: ``max(ts)`` of a whole table comes from DuckDB's statistics (milliseconds),
    while the filtered maximum scans every row (seconds at 10^8 values). So the filtered query is
    first bounded to the last :data:`LATEST_WINDOW_DAYS` days before the table's maximum (zone maps
    skip the rest) and only falls back to the full scan when nothing was released in that window.
    """
    _check_kind(kind)
    table_max = con.execute("SELECT max(ts) FROM release_by_ts").fetchone()
    if not table_max or table_max[0] is None:
        return None
    since = table_max[0] - pd.Timedelta(days=LATEST_WINDOW_DAYS).to_pytimedelta()
    sql = (f"SELECT max(v.ts) FROM {_BY_TS} JOIN stations s USING (station_id) "
           "WHERE v.value IS NOT NULL AND s.kind = ? AND v.parameter IN (SELECT unnest(?))")
    args: list = [kind, list(RELEASED_PARAMETERS[kind])]
    for bounded_sql, bounded_args in ((sql + " AND v.ts >= ?", [*args, since]), (sql, args)):
        row = con.execute(bounded_sql, bounded_args).fetchone()
        if row and row[0] is not None:
            return pd.Timestamp(row[0])
    return None


def released_hour_wide(con: duckdb.DuckDBPyConnection, kind: str, ts_utc: pd.Timestamp) -> pd.DataFrame:
    """Released values of every official station of ``kind`` at one hour, one column per parameter.

    Columns: the station columns, ``ts`` (naive UTC), one column per released parameter (NaN where
    that parameter has no released value), ``status`` (the least advanced of the hour's values) and
    ``withheld`` (how many of the hour's values were withheld). Stations with nothing released that
    hour are left out.
    """
    _check_kind(kind)
    params = list(RELEASED_PARAMETERS[kind])
    long = con.execute(
        f"SELECT {_STATION_SELECT}, v.ts, v.parameter, v.value, v.status FROM {_BY_TS} "
        "JOIN stations s USING (station_id) WHERE s.kind = ? AND v.ts = ? AND v.parameter IN (SELECT unnest(?))",
        [kind, pd.Timestamp(ts_utc).to_pydatetime(), params],
    ).df()
    return _widen(long, params)


def released_long(con: duckdb.DuckDBPyConnection, station_id: str, start_utc, end_utc) -> pd.DataFrame:
    """Every current released value (withheld ones too, without a value) of one official station in
    [start, end] (naive UTC): ts, parameter, value, status, ordered by ts and parameter."""
    station = released_station(con, station_id)
    if station is None:
        return pd.DataFrame(columns=["ts", "parameter", "value", "status"])
    return con.execute(
        f"SELECT v.ts, v.parameter, v.value, v.status FROM release_values v WHERE {_CURRENT} "
        "AND v.station_id = ? AND v.ts BETWEEN ? AND ? AND v.parameter IN (SELECT unnest(?)) ORDER BY v.ts, v.parameter",
        [station_id, pd.Timestamp(start_utc).to_pydatetime(), pd.Timestamp(end_utc).to_pydatetime(),
         list(RELEASED_PARAMETERS[station["kind"]])],
    ).df()


def released_series(con: duckdb.DuckDBPyConnection, station_id: str, start_utc: pd.Timestamp,
                    end_utc: pd.Timestamp) -> pd.DataFrame:
    """Released values of one official station in [start, end] (naive UTC), wide by parameter.

    Columns: ``ts``, one column per released parameter of the station's network, ``status`` (the
    least advanced of the hour's values) and ``withheld`` (withheld values that hour); empty when
    the station is not an official one.
    """
    station = released_station(con, station_id)
    if station is None:
        return pd.DataFrame(columns=["ts"])
    params = list(RELEASED_PARAMETERS[station["kind"]])
    long = released_long(con, station_id, start_utc, end_utc)
    if long.empty:
        return pd.DataFrame(columns=["ts", *params, "status", "withheld"])
    wide = long.pivot_table(index="ts", columns="parameter", values="value", aggfunc="first", dropna=False)
    wide = wide.reindex(columns=params)
    return wide.join(_hour_status(long, ["ts"])).reset_index().rename_axis(columns=None)


def latest_released_station_ts(con: duckdb.DuckDBPyConnection, station_id: str) -> pd.Timestamp | None:
    """Latest hour with a released value (not withheld) at one official station (None if none)."""
    station = released_station(con, station_id)
    if station is None:
        return None
    row = con.execute(
        f"SELECT max(v.ts) FROM release_values v WHERE {_VALUED} AND v.station_id = ? "
        "AND v.parameter IN (SELECT unnest(?))",
        [station_id, list(RELEASED_PARAMETERS[station["kind"]])],
    ).fetchone()
    return pd.Timestamp(row[0]) if row and row[0] is not None else None


def _hour_status(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group: ``status`` (least advanced) and ``withheld`` (count of withheld values)."""
    ranked = long.assign(rank=long["status"].map(STATUS_RANK), held=long["status"].eq("withheld").astype(int))
    grouped = ranked.groupby(keys).agg(rank=("rank", "min"), withheld=("held", "sum"))
    return pd.DataFrame({"status": _status_of_rank(grouped["rank"]), "withheld": grouped["withheld"].astype(int)},
                        index=grouped.index)


def _widen(long: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    keys = [*STATION_COLUMNS, "ts"]
    if long.empty:
        return pd.DataFrame(columns=[*keys, *params, "status", "withheld"])
    wide = long.pivot_table(index=["station_id", "ts"], columns="parameter", values="value", aggfunc="first",
                            dropna=False)
    wide = wide.reindex(columns=params).join(_hour_status(long, ["station_id", "ts"]))
    wide = wide.reset_index().rename_axis(columns=None)
    info = long[list(STATION_COLUMNS)].drop_duplicates("station_id")
    out = info.merge(wide, on="station_id", how="inner")
    return out[[*keys, *params, "status", "withheld"]].sort_values("station_id", ignore_index=True)


# ---------------------------------------------------------------- status of released values

def _no_rows(wide: pd.DataFrame | None) -> pd.DataFrame:
    """``wide`` without rows, or the columns of a released-hour frame when there is none."""
    return wide if wide is not None else pd.DataFrame(columns=[*STATION_COLUMNS, "ts"])


def with_air_quality(wide: pd.DataFrame | None, aqi_table: str | None = None) -> pd.DataFrame:
    """Add ``aqi``, ``level`` (Int64 1..6) and ``primary_pollutant`` per row (HJ 633-2012 hourly AQI,
    :func:`analytics.station_status.air_status`) to released hourly values; the index is reset."""
    if wide is None or wide.empty:
        return _no_rows(wide).assign(aqi=pd.Series(dtype=float), level=pd.Series(dtype=float),
                                     primary_pollutant=pd.Series(dtype=object))
    out = wide.reset_index(drop=True).copy()
    status = air_status(out.reindex(columns=list(AIR_POLLUTANTS)), "1h", aqi_table=aqi_table)
    out["aqi"] = status["aqi"]
    out["level"] = status["aqi_level"].astype("Int64")
    out["primary_pollutant"] = status["primary_pollutant"]
    return out


def with_water_class(wide: pd.DataFrame | None, waterbody: str | None = None) -> pd.DataFrame:
    """Add ``water_class`` (Int64 1..6 = I..劣V, GB 3838-2002 worst-indicator rule,
    :func:`analytics.station_status.water_status`) per row; the index is reset.

    The waterbody (river | lake: lake TP limits differ) comes from ``waterbody`` or, per row, from the
    ``waterbody_type`` column; unknown means river.
    """
    if wide is None or wide.empty:
        return _no_rows(wide).assign(water_class=pd.Series(dtype="Int64"))
    out = wide.reset_index(drop=True).copy()
    body = waterbody or out.get("waterbody_type")
    out["water_class"] = water_status(out, body).astype("Int64")
    return out


# ---------------------------------------------------------------- daily values (CST days)

def _local_day(ts: pd.Series, utc_offset_hours: int) -> pd.Series:
    return (pd.to_datetime(ts) + pd.Timedelta(hours=utc_offset_hours)).dt.normalize()


def _day_status(long: pd.DataFrame, utc_offset_hours: int) -> pd.DataFrame:
    days = long.assign(date=_local_day(long["ts"], utc_offset_hours))
    return _hour_status(days, ["date"])


def daily_air_quality(long: pd.DataFrame, utc_offset_hours: int, aqi_table: str | None = None) -> pd.DataFrame:
    """Daily AQI of one station's released hours (``released_long`` rows), one row per local day.

    GB 3095 daily statistics (24-h means, O3 daily maximum 8-h mean, the validity rule of at least
    20 valid hours) from the released values only, then the HJ 633 daily AQI. Columns: date (local
    midnight), aqi, level (Int64), primary_pollutant, status, withheld. A day whose statistics are
    all invalid keeps its row with NaN AQI.
    """
    columns = ["date", "aqi", "level", "primary_pollutant", "status", "withheld"]
    if long.empty:
        return pd.DataFrame(columns=columns)
    valued = long[long["value"].notna()].assign(station_id="s")
    stats = daily_means(valued, utc_offset_hours=utc_offset_hours) if len(valued) else pd.DataFrame()
    out = _day_status(long, utc_offset_hours)
    if stats.empty:
        return out.assign(aqi=float("nan"), level=pd.NA, primary_pollutant=None).reset_index()[columns]
    stats = stats[stats["valid"]]
    wide = stats.pivot_table(index="date", columns="parameter", values="value", aggfunc="first")
    if wide.empty:
        return out.assign(aqi=float("nan"), level=pd.NA, primary_pollutant=None).reset_index()[columns]
    aqi = daily_aqi(wide, table=aqi_table)
    out = out.join(pd.DataFrame({"aqi": aqi["aqi"].astype(float),
                                 "level": pd.to_numeric(aqi["level"], errors="coerce").astype("Int64"),
                                 "primary_pollutant": aqi["primary_pollutant"]}, index=wide.index))
    return out.reset_index()[columns]


def daily_water_class(long: pd.DataFrame, utc_offset_hours: int, waterbody: str | None = None) -> pd.DataFrame:
    """Daily GB 3838 class of one section's released hours: the class of the day's means of each
    indicator. Columns: date (local midnight), water_class (Int64 1..6), status, withheld."""
    columns = ["date", "water_class", "status", "withheld"]
    if long.empty:
        return pd.DataFrame(columns=columns)
    days = long.assign(date=_local_day(long["ts"], utc_offset_hours))
    means = days.pivot_table(index="date", columns="parameter", values="value", aggfunc="mean")
    out = _day_status(long, utc_offset_hours)
    out["water_class"] = water_status(means.reindex(out.index), waterbody).astype("Int64")
    return out.reset_index()[columns]


def latest_hour_per_station(con: duckdb.DuckDBPyConnection, kind: str) -> pd.DataFrame:
    """Each official station's own latest released hour (within :data:`LATEST_WINDOW_DAYS` of the
    network's latest), wide as :func:`released_hour_wide`; stations silent longer are left out."""
    _check_kind(kind)
    newest = latest_released_ts(con, kind)
    params = list(RELEASED_PARAMETERS[kind])
    if newest is None:
        return _widen(pd.DataFrame(), params)
    since = (newest - pd.Timedelta(days=LATEST_WINDOW_DAYS)).to_pydatetime()
    long = con.execute(
        f"WITH last AS (SELECT v.station_id, max(v.ts) AS ts FROM {_BY_TS} JOIN stations s USING (station_id) "
        "WHERE v.value IS NOT NULL AND s.kind = ? AND v.ts >= ? AND v.parameter IN (SELECT unnest(?)) "
        f"GROUP BY v.station_id) SELECT {_STATION_SELECT}, v.ts, v.parameter, v.value, v.status FROM {_BY_TS} "
        "JOIN last l ON l.station_id = v.station_id AND l.ts = v.ts JOIN stations s ON s.station_id = v.station_id "
        "WHERE v.ts >= ? AND v.parameter IN (SELECT unnest(?))",
        [kind, since, params, since, params],
    ).df()
    return _widen(long, params)


def water_targets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The public target class (1..5) of each official water section that has one."""
    return section_targets(con)
