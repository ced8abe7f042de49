"""Stations: validated upsert and loading.

A station row needs ``station_id, name, kind, lon, lat`` (kind from
``analytics.vocabulary.STATION_KINDS``; lon/lat WGS-84 degrees). Other columns of the
``stations`` table (``data/migrations/001_init.sql``) are optional; an upsert only
overwrites the columns the frame carries, so admin codes filled later by
``geo.admin.assign_admin`` survive a re-ingest of a station list that lacks them.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from analytics.vocabulary import SECTION_ROLES, STATION_KINDS
from data.release import raise_generation

REQUIRED_COLUMNS: tuple[str, ...] = ("station_id", "name", "kind", "lon", "lat")


class StationError(ValueError):
    """A station frame that cannot be stored; the message names the offending rows."""


def station_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Columns of the stations table, in table order (migrations may add some)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'stations' ORDER BY ordinal_position"
    ).fetchall()
    return [r[0] for r in rows]


def station_problems(stations: pd.DataFrame) -> pd.Series:
    """Per row, why it cannot be stored ('' when fine): missing id/name, unknown kind, lon/lat
    missing or outside WGS-84 ranges, bad section role. Vectorised; used to quarantine
    bad rows of a station list instead of rejecting the whole list."""
    missing = [c for c in REQUIRED_COLUMNS if c not in stations.columns]
    if missing:
        raise StationError(f"station data lacks required column(s) {', '.join(missing)}; "
                           f"required: {', '.join(REQUIRED_COLUMNS)}")
    problems = pd.Series("", index=stations.index, dtype=object)

    def add(mask: pd.Series, text: str) -> None:
        mask = mask.fillna(True).astype(bool)
        problems[mask] = problems[mask] + text + "; "

    sid = stations["station_id"].astype("string")
    add(sid.isna() | (sid.str.strip() == ""), "station_id is empty")
    name = stations["name"].astype("string")
    add(name.isna() | (name.str.strip() == ""), "name is empty")
    kind = stations["kind"].astype("string")
    add(~kind.isin(STATION_KINDS), f"kind must be one of {', '.join(STATION_KINDS)}")
    lon = pd.to_numeric(stations["lon"], errors="coerce")
    lat = pd.to_numeric(stations["lat"], errors="coerce")
    add(lon.isna() | lat.isna(), "lon/lat missing or not a number")
    add((lon < -180) | (lon > 180), "lon outside -180..180 (WGS-84 degrees)")
    add((lat < -90) | (lat > 90), "lat outside -90..90 (WGS-84 degrees)")
    if "section_role" in stations.columns:
        role = stations["section_role"].astype("string")
        add(role.notna() & ~role.isin(SECTION_ROLES), f"section_role must be one of {', '.join(SECTION_ROLES)}")
    return problems.str.rstrip("; ")


def validate_stations(stations: pd.DataFrame, allowed_columns: list[str] | None = None) -> None:
    """Raise :class:`StationError` naming the first bad rows, unknown columns or repeated ids."""
    if allowed_columns is not None:
        unknown = [c for c in stations.columns if c not in allowed_columns]
        if unknown:
            raise StationError(f"unknown station column(s) {', '.join(map(str, unknown))}; "
                               f"the stations table has: {', '.join(allowed_columns)}")
    problems = station_problems(stations)
    bad = problems[problems != ""]
    if len(bad):
        shown = "; ".join(f"{stations.loc[i, 'station_id']!s}: {problems[i]}" for i in bad.index[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise StationError(f"{len(bad)} invalid station row(s): {shown}{more}")
    dup = stations["station_id"][stations["station_id"].duplicated()]
    if len(dup):
        raise StationError(f"station_id repeated in the input: {', '.join(map(str, dup.unique()[:10]))}")


def upsert_stations(con: duckdb.DuckDBPyConnection, stations: pd.DataFrame) -> int:
    """Insert new stations and update existing ones (by station_id); return the rows written.

    Only the columns present in ``stations`` are written, so other columns of an existing
    station keep their values. Raises :class:`StationError` (nothing written) on invalid input.
    """
    if stations.empty:
        return 0
    table_columns = station_columns(con)
    validate_stations(stations, table_columns)
    frame = stations.copy()
    frame["lon"] = pd.to_numeric(frame["lon"])
    frame["lat"] = pd.to_numeric(frame["lat"])
    # column names come from the table's own schema (checked above), never from free text
    cols = [c for c in table_columns if c in frame.columns]
    col_list = ", ".join(f'"{c}"' for c in cols)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols if c != "station_id")
    con.register("_et_stations_in", frame[cols])
    try:
        con.execute(
            f"INSERT INTO stations ({col_list}) SELECT {col_list} FROM _et_stations_in "
            f"ON CONFLICT (station_id) DO UPDATE SET {updates}"
        )
        raise_generation(con)  # the public API's cached answers name stations
    finally:
        con.unregister("_et_stations_in")
    return len(frame)


def count_unchanged_stations(con: duckdb.DuckDBPyConnection, stations: pd.DataFrame) -> int:
    """How many rows of ``stations`` are already stored with identical values in every column
    the frame carries (an idempotent re-ingest of a station list)."""
    if stations.empty:
        return 0
    cols = [c for c in station_columns(con) if c in stations.columns]
    cond = " AND ".join(f's."{c}" IS NOT DISTINCT FROM i."{c}"' for c in cols if c != "station_id")
    con.register("_et_stations_cmp", stations[cols])
    try:
        row = con.execute(
            f"SELECT count(*) FROM _et_stations_cmp i JOIN stations s USING (station_id) WHERE {cond or 'TRUE'}"
        ).fetchall()[0]
    finally:
        con.unregister("_et_stations_cmp")
    return int(row[0])


def load_stations(con: duckdb.DuckDBPyConnection, kinds: list[str] | tuple[str, ...] | str | None = None) -> pd.DataFrame:
    """All stations (optionally only the given kinds), ordered by station_id."""
    if kinds is None:
        return con.execute("SELECT * FROM stations ORDER BY station_id").df()
    if isinstance(kinds, str):
        kinds = [kinds]
    unknown = [k for k in kinds if k not in STATION_KINDS]
    if unknown:
        raise StationError(f"unknown station kind(s) {', '.join(unknown)}; known: {', '.join(STATION_KINDS)}")
    return con.execute(
        "SELECT * FROM stations WHERE list_contains(?, kind) ORDER BY station_id", [list(kinds)]
    ).df()
