"""The demo store's own SQL: build records, planted ground truth, and the reads the demo build needs.

The build itself (which generators run in which order) is the application's
(:mod:`envtrust.demo`).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from data.stations import station_columns

#: what the micro-sensor generator reads from its parent stations
MICRO_PARENT_PARAMETERS: tuple[str, ...] = ("PM2.5", "PM10", "NO2", "TEMP", "DEWP")


def demo_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """True when a completed demo build is recorded in the store."""
    try:
        return bool(con.execute("SELECT count(*) FROM demo_builds").fetchone()[0])
    except duckdb.Error:
        return False


def store_truth(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame, generator: str, seed: int) -> int:
    """Replace the planted ground truth of ``generator`` (idempotent rebuilds)."""
    con.execute("DELETE FROM demo_truth WHERE generator = ?", [generator])
    if truth.empty:
        return 0
    frame = truth[["event_id", "station_id", "start", "end", "kind", "parameters", "detail"]].copy()
    frame["generator"] = generator
    frame["seed"] = seed
    con.register("_et_truth_in", frame)
    try:
        con.execute('INSERT INTO demo_truth (event_id, station_id, start, "end", kind, parameters, detail, '
                    'generator, seed) SELECT event_id, station_id, start, "end", kind, parameters, detail, '
                    'generator, seed FROM _et_truth_in')
    finally:
        con.unregister("_et_truth_in")
    return len(frame)


def parent_readings(con: duckdb.DuckDBPyConnection, station_ids: list[str]) -> pd.DataFrame:
    """The stored readings the micro-sensors are derived from (UTC)."""
    marks = ", ".join("?" for _ in station_ids)
    pmarks = ", ".join("?" for _ in MICRO_PARENT_PARAMETERS)
    return con.execute(
        f"SELECT station_id, ts, parameter, value FROM readings WHERE station_id IN ({marks}) "
        f"AND parameter IN ({pmarks})", [*station_ids, *MICRO_PARENT_PARAMETERS]).df()


def beijing_rain_mm(con: duckdb.DuckDBPyConnection, station_ids: list[str]) -> pd.Series:
    """Hourly rain (mm) averaged over the Beijing stations, indexed by UTC hour."""
    marks = ", ".join("?" for _ in station_ids)
    df = con.execute(f"SELECT ts, avg(value) AS rain FROM readings WHERE parameter = 'RAIN' "
                     f"AND station_id IN ({marks}) GROUP BY ts ORDER BY ts", station_ids).df()
    return pd.Series(df["rain"].to_numpy(), index=pd.DatetimeIndex(df["ts"]), name="RAIN")


def reading_span(con: duckdb.DuckDBPyConnection, station_ids: list[str]) -> tuple[pd.Timestamp, pd.Timestamp]:
    marks = ", ".join("?" for _ in station_ids)
    lo, hi = con.execute(f"SELECT min(ts), max(ts) FROM readings WHERE station_id IN ({marks})",
                         station_ids).fetchone()
    return pd.Timestamp(lo), pd.Timestamp(hi)


def count_stations(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute("SELECT kind, count(*) FROM stations GROUP BY kind ORDER BY kind").fetchall()
    return {k: int(n) for k, n in rows}


def store_columns(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``frame`` the stations table has (generators carry extra ones)."""
    cols = set(station_columns(con))
    return frame[[c for c in frame.columns if c in cols]]




def record_demo_build(con: duckdb.DuckDBPyConnection, seed: int, full: bool, summary_json: str) -> None:
    """Mark the build complete (``demo_exists`` reads it)."""
    con.execute("INSERT INTO demo_builds VALUES (now(), ?, ?, ?)", [seed, full, summary_json])
