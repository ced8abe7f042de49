"""Read-only queries behind the public embeds: officially released values only.

What counts as released (the values a bureau publishes on its public AQI / water quality pages):

- stations of the official networks only: ``air_station`` (national/provincial air stations) and
  ``water_section`` (surface-water automatic sections). Micro-stations (``air_micro``) and
  enterprise outlets (``polluter_outlet``) are internal supervision data and never appear;
- readings flagged valid (``N``, HJ 212-2017 data flags; data/parameters.VALID_FLAGS) with a value.
  Maintenance, calibration, fault ... hours are not published, as on the national platform;
- only the parameters that are published: the six HJ 633 pollutants for air, the GB 3838 routine
  items for water.

The query functions touch ONLY the ``stations`` and ``readings`` tables (and ``map_hourly``, the
time-sorted copy of valid map readings that ``data.views.build_map_cache`` writes after bulk loads,
used for "all stations at one hour" when present) and return a fixed list of columns. They never read scores, events, event_reviews, users, audit_log, quarantine or
ingest_batches, so nothing internal (suspicion, reviews, comments) can reach a public page.
Every query is parameterised; nothing from the URL is formatted into SQL.

:func:`with_air_quality` and :func:`with_water_class` add the station status (AQI level, water
class) to released values through :mod:`analytics.station_status`, the same definition the internal
map uses (``data.views``).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from analytics.station_status import air_status, water_status
from analytics.vocabulary import AIR_POLLUTANTS, VALID_FLAGS, WATER_PARAMETERS
from data.views import MAP_PARAMETERS

RELEASED_KINDS: tuple[str, ...] = ("air_station", "water_section")
RELEASED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "air_station": AIR_POLLUTANTS,
    "water_section": WATER_PARAMETERS,
}
STATION_COLUMNS: tuple[str, ...] = (
    "station_id", "name", "name_en", "kind", "lon", "lat", "province", "city", "river", "waterbody_type",
)
RELEASED_FLAGS: tuple[str, ...] = tuple(sorted(VALID_FLAGS))
# what the public map needs per network: HJ 633 pollutants; GB 3838 class indicators
MAP_NEEDS: dict[str, tuple[str, ...]] = {
    "air_station": AIR_POLLUTANTS,
    "water_section": ("pH", "DO", "CODMn", "NH3-N", "TP", "TN"),
}

_STATION_SELECT = ", ".join(f"s.{c}" for c in STATION_COLUMNS)
MAP_CACHE_TABLE = "map_hourly"


def _hour_source(con: duckdb.DuckDBPyConnection, kind: str) -> str:
    """``map_hourly`` when it exists and holds every released parameter of ``kind`` needed for the
    map (valid values only, sorted by ts: one hour reads one row group), else ``readings``."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [MAP_CACHE_TABLE],
    ).fetchone()
    if not row or not row[0]:
        return "readings"
    needed = MAP_NEEDS[kind]
    return MAP_CACHE_TABLE if set(needed) <= set(MAP_PARAMETERS) else "readings"


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


LATEST_WINDOW_DAYS = 7


def latest_released_ts(con: duckdb.DuckDBPyConnection, kind: str) -> pd.Timestamp | None:
    """Latest hour (naive UTC) with a released value for any station of ``kind``.

    Why two steps: ``max(ts)`` of a whole table comes from DuckDB's statistics (milliseconds),
    while the filtered maximum scans every row (seconds at 10^8 readings). So the filtered query is
    first bounded to the last :data:`LATEST_WINDOW_DAYS` days before the table's maximum (zone maps
    skip the rest) and only falls back to the full scan when nothing was released in that window.
    """
    if kind not in RELEASED_KINDS:
        raise ValueError(f"kind must be one of {RELEASED_KINDS}, not {kind!r}")
    has_stations = con.execute("SELECT count(*) FROM stations WHERE kind = ?", [kind]).fetchone()[0]
    if not has_stations:
        return None
    cached = _hour_source(con, kind) == MAP_CACHE_TABLE
    table_max = con.execute("SELECT max(ts) FROM map_hourly" if cached else "SELECT max(ts) FROM readings").fetchone()
    if not table_max or table_max[0] is None:
        return None
    since = table_max[0] - pd.Timedelta(days=LATEST_WINDOW_DAYS).to_pytimedelta()
    if cached:
        sql = ("SELECT max(r.ts) FROM map_hourly r JOIN stations s USING (station_id) "
               "WHERE s.kind = ? AND r.parameter IN (SELECT unnest(?))")
        args: list = [kind, list(MAP_NEEDS[kind])]
    else:
        sql = ("SELECT max(r.ts) FROM readings r JOIN stations s USING (station_id) "
               "WHERE s.kind = ? AND r.parameter IN (SELECT unnest(?)) AND r.flag IN (SELECT unnest(?)) "
               "AND r.value IS NOT NULL")
        args = [kind, list(RELEASED_PARAMETERS[kind]), list(RELEASED_FLAGS)]
    for bounded_sql, bounded_args in ((sql + " AND r.ts >= ?", [*args, since]), (sql, args)):
        row = con.execute(bounded_sql, bounded_args).fetchone()
        if row and row[0] is not None:
            return pd.Timestamp(row[0])
    return None


def released_hour_wide(con: duckdb.DuckDBPyConnection, kind: str, ts_utc: pd.Timestamp) -> pd.DataFrame:
    """Released values of every official station of ``kind`` at one hour, one column per parameter.

    Columns: the station columns, ``ts`` (naive UTC) and one column per released parameter (NaN
    where that parameter was not released). Stations with nothing released that hour are left out.
    """
    if kind not in RELEASED_KINDS:
        raise ValueError(f"kind must be one of {RELEASED_KINDS}, not {kind!r}")
    params = list(RELEASED_PARAMETERS[kind])
    when = pd.Timestamp(ts_utc).to_pydatetime()
    if _hour_source(con, kind) == MAP_CACHE_TABLE:
        long = con.execute(
            f"SELECT {_STATION_SELECT}, r.ts, r.parameter, r.value FROM map_hourly r "
            "JOIN stations s USING (station_id) "
            "WHERE s.kind = ? AND r.ts = ? AND r.parameter IN (SELECT unnest(?))",
            [kind, when, params],
        ).df()
    else:
        long = con.execute(
            f"SELECT {_STATION_SELECT}, r.ts, r.parameter, r.value FROM readings r "
            "JOIN stations s USING (station_id) "
            "WHERE s.kind = ? AND r.ts = ? AND r.parameter IN (SELECT unnest(?)) "
            "AND r.flag IN (SELECT unnest(?)) AND r.value IS NOT NULL",
            [kind, when, params, list(RELEASED_FLAGS)],
        ).df()
    return _widen(long, params)


def released_series(con: duckdb.DuckDBPyConnection, station_id: str, start_utc: pd.Timestamp,
                    end_utc: pd.Timestamp) -> pd.DataFrame:
    """Released values of one official station in [start, end] (naive UTC), wide by parameter.

    Columns: ``ts`` and one column per released parameter of the station's network; empty when the
    station is not an official one.
    """
    station = released_station(con, station_id)
    if station is None:
        return pd.DataFrame(columns=["ts"])
    params = list(RELEASED_PARAMETERS[station["kind"]])
    long = con.execute(
        "SELECT r.ts, r.parameter, r.value FROM readings r "
        "WHERE r.station_id = ? AND r.ts BETWEEN ? AND ? AND r.parameter IN (SELECT unnest(?)) "
        "AND r.flag IN (SELECT unnest(?)) AND r.value IS NOT NULL ORDER BY r.ts",
        [station_id, pd.Timestamp(start_utc).to_pydatetime(), pd.Timestamp(end_utc).to_pydatetime(),
         params, list(RELEASED_FLAGS)],
    ).df()
    if long.empty:
        return pd.DataFrame(columns=["ts", *params])
    wide = long.pivot_table(index="ts", columns="parameter", values="value", aggfunc="first")
    return wide.reindex(columns=params).reset_index().rename_axis(columns=None)


def latest_released_station_ts(con: duckdb.DuckDBPyConnection, station_id: str) -> pd.Timestamp | None:
    """Latest hour with a released value at one official station (None if none)."""
    station = released_station(con, station_id)
    if station is None:
        return None
    row = con.execute(
        "SELECT max(r.ts) FROM readings r WHERE r.station_id = ? AND r.parameter IN (SELECT unnest(?)) "
        "AND r.flag IN (SELECT unnest(?)) AND r.value IS NOT NULL",
        [station_id, list(RELEASED_PARAMETERS[station["kind"]]), list(RELEASED_FLAGS)],
    ).fetchone()
    return pd.Timestamp(row[0]) if row and row[0] is not None else None


def _widen(long: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    keys = [*STATION_COLUMNS, "ts"]
    if long.empty:
        return pd.DataFrame(columns=[*keys, *params])
    wide = long.pivot_table(index=["station_id", "ts"], columns="parameter", values="value", aggfunc="first")
    wide = wide.reindex(columns=params).reset_index().rename_axis(columns=None)
    info = long[list(STATION_COLUMNS)].drop_duplicates("station_id")
    out = info.merge(wide, on="station_id", how="inner")
    return out[[*keys, *params]].sort_values("station_id", ignore_index=True)


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
