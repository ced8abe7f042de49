"""SQL of the official release channel (issue 15): release records, their versions, and the reads
behind the public API and the bulk files.

A released value is a row of ``release_values`` (migration 040). Every change - a status step
(preliminary -> audited -> final), a withholding, a corrected value - adds a new version and marks
the earlier one superseded; nothing is updated in place except ``superseded_at``, so each earlier
value stays with who changed it, when and why.

The public reads (``current_*``, ``latest_current``, ``location_rows``) touch ONLY
``release_values``, its time-sorted copy ``release_by_ts`` and ``stations`` (official kinds), never
readings, scores, events, cases or reviews: a value that was not released cannot come out of them.

``release_by_ts`` (migration 042) holds the current version of every released value sorted by hour,
for the reads of every station at one hour or on one day; every step below writes its new versions
there in its own transaction (:func:`_copy_new_versions`), and raises ``release_generation``, under
which the public API caches its answers. The release steps themselves read
``readings`` (what to publish) and ``events`` (confirmed interference, to withhold).
Every statement is parameterised.
"""

from __future__ import annotations

import threading
from datetime import datetime

import duckdb
import pandas as pd

from analytics.vocabulary import CST_UTC_OFFSET_H

RELEASE_STATUSES: tuple[str, ...] = ("preliminary", "audited", "final", "withheld")
#: statuses that carry a value, in the order a value goes through them
VALUE_STATUSES: tuple[str, ...] = ("preliminary", "audited", "final")
OFFICIAL_KINDS: tuple[str, ...] = ("air_station", "water_section")
LOCATION_COLUMNS: tuple[str, ...] = (
    "station_id", "name", "name_en", "kind", "lon", "lat", "province", "city", "county", "river",
    "waterbody_type",
)
_CURRENT = "v.superseded_at IS NULL"
#: how advanced a status is; a group of values (a station-hour, a day) carries its least advanced one,
#: and 'withheld' only when every value of the group was withheld
STATUS_RANK: dict[str, int] = {"preliminary": 1, "audited": 2, "final": 3, "withheld": 4}


def least_advanced_status(statuses) -> str | None:
    """The status a group of released values carries (see :data:`STATUS_RANK`); None when empty."""
    ranked = [STATUS_RANK[s] for s in statuses if s in STATUS_RANK]
    if not ranked:
        return None
    return RELEASE_STATUSES[min(ranked) - 1]


def _dt(ts) -> datetime:
    return pd.Timestamp(ts).to_pydatetime()


#: up to this many values a filter is spelled ``col IN (?, ?, ...)``, which DuckDB pushes into the
#: table scan (row groups whose min/max zone map excludes every value are skipped); longer lists
#: become a semi-join on ``unnest(?)``, which reads the whole column
IN_LIST_MAX = 256


def _in(column: str, values) -> tuple[str, list]:
    """``column IN (...)`` with one placeholder per value (or a semi-join for long lists)."""
    values = list(values)
    if len(values) <= IN_LIST_MAX:
        return f"{column} IN ({', '.join('?' * len(values)) or 'NULL'})", values
    return f"{column} IN (SELECT unnest(?))", [values]


def _supersede_older(con: duckdb.DuckDBPyConnection, start, end, now: datetime) -> None:
    """Mark superseded every current row in [start, end] that has a newer version."""
    con.execute(
        "UPDATE release_values v SET superseded_at = ? WHERE v.superseded_at IS NULL "
        "AND v.ts BETWEEN ? AND ? AND EXISTS (SELECT 1 FROM release_values n WHERE "
        "n.station_id = v.station_id AND n.ts = v.ts AND n.parameter = v.parameter AND n.version > v.version)",
        [now, _dt(start), _dt(end)],
    )


def _copy_new_versions(con: duckdb.DuckDBPyConnection, start, end, now: datetime, actor: str,
                       replaces: bool = True) -> None:
    """Keep ``release_by_ts`` in step: the versions a step just wrote (``released_at = now`` and
    ``released_by = actor`` in [start, end]) replace the copy's rows of the same values.

    Appended in hour order, so the new rows sit in row groups of narrow time ranges that the zone
    maps still prune (:func:`rebuild_release_by_ts` restores one sorted table). ``replaces=False``
    for first publications, which have no earlier row to delete."""
    new = ("FROM release_values n WHERE n.released_at = ? AND n.released_by = ? AND n.ts BETWEEN ? AND ? "
           "AND n.superseded_at IS NULL")
    args = [now, actor, _dt(start), _dt(end)]
    if replaces:
        con.execute(
            f"DELETE FROM release_by_ts c WHERE c.ts BETWEEN ? AND ? AND EXISTS (SELECT 1 {new} "
            "AND n.station_id = c.station_id AND n.ts = c.ts AND n.parameter = c.parameter)",
            [_dt(start), _dt(end), *args],
        )
    con.execute(
        f"INSERT INTO release_by_ts SELECT n.station_id, n.ts, n.parameter, n.value, n.status, n.version {new} "
        "ORDER BY n.ts, n.station_id, n.parameter",
        args,
    )


class _RaiseCounter:
    """How many generation raises of this process have ended (committed or rolled back).

    Why: reading ``release_generation`` from the store cost the API ~0.7 ms of CPU per answer
    (session 8), a third of a cached answer; with this count the API reads it again only when the
    count moved. The count moves *after* the raise is visible (after its UPDATE in autocommit, after
    the COMMIT of :func:`_in_transaction`), so a reader that sees the new count reads the new
    generation; a reader between the commit and the count's move reads newer data under the older
    generation, which the next request drops. Only this process writes the store (DuckDB allows one
    writing process), so no other process's raise can be missed; a raise inside a caller's own
    transaction moves the count before its commit - the API also reads the store at least once a
    second (``envtrust.api.cache.StoreGeneration``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def bump(self) -> None:
        with self._lock:  # no two bumps may collapse into one value
            self.value += 1


_RAISES = _RaiseCounter()


def generation_raises_ended() -> int:
    """The in-process count of ended generation raises (see :class:`_RaiseCounter`)."""
    return _RAISES.value


def raise_generation(con: duckdb.DuckDBPyConnection) -> None:
    """Mark the public data changed (see :func:`release_generation`)."""
    con.execute("UPDATE release_generation SET generation = generation + 1")
    _RAISES.bump()  # in autocommit the raise is committed here; in a transaction it is bumped again at its end


def release_generation(con: duckdb.DuckDBPyConnection) -> int:
    """The number every release step, station-list change and key revocation raises (the API's
    cache key)."""
    row = con.execute("SELECT generation FROM release_generation").fetchone()
    return int(row[0]) if row else 0


def rebuild_release_by_ts(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrite ``release_by_ts`` from the current versions, as one hour-sorted table (after code
    that wrote ``release_values`` directly, or to merge the row groups appended by many steps);
    returns its row count."""

    def run(c: duckdb.DuckDBPyConnection) -> int:
        c.execute("DELETE FROM release_by_ts")
        c.execute("INSERT INTO release_by_ts SELECT v.station_id, v.ts, v.parameter, v.value, v.status, v.version "
                  f"FROM release_values v WHERE {_CURRENT} ORDER BY v.ts, v.station_id, v.parameter")
        raise_generation(c)
        return int(c.execute("SELECT count(*) FROM release_by_ts").fetchone()[0])

    return _in_transaction(con, run)


def _in_transaction(con: duckdb.DuckDBPyConnection, statements) -> int:
    """Run ``statements(con) -> rows`` in one transaction; return its row count."""
    con.execute("BEGIN TRANSACTION")
    try:
        rows = statements(con)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        _RAISES.bump()  # after the commit (or rollback): readers of the count read the store again
    return rows


def insert_preliminary(con: duckdb.DuckDBPyConnection, start, end, params_by_kind: dict[str, tuple[str, ...]],
                       valid_flags: tuple[str, ...], actor: str, now: datetime) -> int:
    """Publish as version 1 'preliminary' every valid reading of an official station in [start, end]
    that has no release record yet; return how many values were published."""

    def run(c: duckdb.DuckDBPyConnection) -> int:
        total = 0
        for kind, params in params_by_kind.items():
            row = c.execute(
                "INSERT INTO release_values SELECT r.station_id, r.ts, r.parameter, r.value, 'preliminary', 1, "
                "?, ?, NULL, NULL FROM readings r JOIN stations s USING (station_id) "
                "WHERE s.kind = ? AND r.parameter IN (SELECT unnest(?)) AND r.flag IN (SELECT unnest(?)) "
                "AND r.value IS NOT NULL AND r.ts BETWEEN ? AND ? AND NOT EXISTS (SELECT 1 FROM release_values v "
                "WHERE v.station_id = r.station_id AND v.ts = r.ts AND v.parameter = r.parameter) "
                "ORDER BY r.station_id, r.parameter, r.ts",
                [now, actor, kind, list(params), list(valid_flags), _dt(start), _dt(end)],
            ).fetchone()
            total += int(row[0]) if row else 0
        _copy_new_versions(c, start, end, now, actor, replaces=False)
        raise_generation(c)
        return total

    return _in_transaction(con, run)


def _scope_sql(station_ids: list[str] | None) -> tuple[str, list]:
    if station_ids is None:
        return "", []
    return " AND v.station_id IN (SELECT unnest(?))", [list(station_ids)]


def step_status(con: duckdb.DuckDBPyConnection, from_status: str, to_status: str, start, end,
                station_ids: list[str] | None, actor: str, note: str, now: datetime,
                withhold_confirmed: bool = False) -> dict[str, int]:
    """New versions with ``to_status`` for the current ``from_status`` values in [start, end].

    With ``withhold_confirmed``, values inside a confirmed interference event (events.status =
    'confirmed', the event's station, hours and parameters) become 'withheld' (value NULL) instead.
    Returns counts per new status.
    """
    scope, scope_args = _scope_sql(station_ids)
    confirmed = (
        "EXISTS (SELECT 1 FROM events e WHERE e.status = 'confirmed' AND e.station_id = v.station_id "
        "AND v.ts BETWEEN e.start AND e.\"end\" AND list_contains(string_split(e.parameters, ','), v.parameter))"
    )
    new_status = f"CASE WHEN {confirmed} THEN 'withheld' ELSE ? END" if withhold_confirmed else "?"
    new_value = f"CASE WHEN {confirmed} THEN NULL ELSE v.value END" if withhold_confirmed else "v.value"
    new_note = f"CASE WHEN {confirmed} THEN ? ELSE ? END" if withhold_confirmed else "?"
    note_args = ["withheld: confirmed interference event", note] if withhold_confirmed else [note]

    def run(c: duckdb.DuckDBPyConnection) -> int:
        c.execute(
            f"INSERT INTO release_values SELECT v.station_id, v.ts, v.parameter, {new_value}, {new_status}, "
            f"v.version + 1, ?, ?, {new_note}, NULL FROM release_values v "
            f"WHERE {_CURRENT} AND v.status = ? AND v.ts BETWEEN ? AND ?{scope} "
            "ORDER BY v.station_id, v.parameter, v.ts",
            [to_status, now, actor, *note_args, from_status, _dt(start), _dt(end), *scope_args],
        )
        _supersede_older(c, start, end, now)
        _copy_new_versions(c, start, end, now, actor)
        raise_generation(c)
        return 0

    _in_transaction(con, run)
    rows = con.execute(
        "SELECT status, count(*) FROM release_values WHERE released_at = ? AND released_by = ? "
        "AND ts BETWEEN ? AND ? GROUP BY status",
        [now, actor, _dt(start), _dt(end)],
    ).fetchall()
    return {str(s): int(n) for s, n in rows}


def current_version(con: duckdb.DuckDBPyConnection, station_id: str, ts, parameter: str) -> dict | None:
    """The current release row of one value, or None when it was never released."""
    df = con.execute(
        "SELECT * FROM release_values v WHERE v.station_id = ? AND v.ts = ? AND v.parameter = ? AND "
        + _CURRENT,
        [station_id, _dt(ts), parameter],
    ).df()
    return None if df.empty else df.iloc[0].to_dict()


def insert_version(con: duckdb.DuckDBPyConnection, station_id: str, ts, parameter: str, value: float | None,
                   status: str, actor: str, note: str, now: datetime) -> int:
    """Add the next version of one released value and supersede the current one; return its number."""

    def run(c: duckdb.DuckDBPyConnection) -> int:
        row = c.execute(
            "SELECT max(version) FROM release_values WHERE station_id = ? AND ts = ? AND parameter = ?",
            [station_id, _dt(ts), parameter],
        ).fetchone()
        version = int(row[0]) + 1 if row and row[0] is not None else 1
        c.execute(
            "UPDATE release_values SET superseded_at = ? WHERE station_id = ? AND ts = ? AND parameter = ? "
            "AND superseded_at IS NULL",
            [now, station_id, _dt(ts), parameter],
        )
        c.execute(
            "INSERT INTO release_values VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [station_id, _dt(ts), parameter, value, status, version, now, actor, note],
        )
        _copy_new_versions(c, ts, ts, now, actor)
        raise_generation(c)
        return version

    return _in_transaction(con, run)


def value_history(con: duckdb.DuckDBPyConnection, station_ids: list[str], parameters: list[str], start, end,
                  limit: int, offset: int) -> tuple[pd.DataFrame, int]:
    """Every version (current and superseded) of the released values, with their change notes."""
    where = ("v.station_id IN (SELECT unnest(?)) AND v.parameter IN (SELECT unnest(?)) AND v.ts BETWEEN ? AND ?")
    args = [list(station_ids), list(parameters), _dt(start), _dt(end)]
    found = con.execute(f"SELECT count(*) FROM release_values v WHERE {where}", args).fetchone()[0]
    df = con.execute(
        "SELECT v.station_id, v.ts, v.parameter, v.value, v.status, v.version, v.released_at, v.released_by, "
        f"v.note, v.superseded_at FROM release_values v WHERE {where} "
        "ORDER BY v.station_id, v.parameter, v.ts, v.version LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).df()
    return df, int(found)


def release_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM release_values").fetchone()[0])


def newest_release_ts(con: duckdb.DuckDBPyConnection) -> pd.Timestamp | None:
    row = con.execute(f"SELECT max(v.ts) FROM release_values v WHERE {_CURRENT}").fetchone()
    return pd.Timestamp(row[0]) if row and row[0] is not None else None


def status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Current released values per status."""
    rows = con.execute(f"SELECT v.status, count(*) FROM release_values v WHERE {_CURRENT} GROUP BY 1").fetchall()
    return {str(s): int(n) for s, n in rows}


# ---------------------------------------------------------------- public reads

def location_rows(con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...], station_ids: list[str] | None = None,
                  city: str | None = None, province: str | None = None) -> pd.DataFrame:
    """Official stations and sections (never micro-stations or outlets), ordered by station_id."""
    kinds = tuple(k for k in kinds if k in OFFICIAL_KINDS)
    cols = ", ".join(f"s.{c}" for c in LOCATION_COLUMNS)
    sql = f"SELECT {cols} FROM stations s WHERE s.kind IN (SELECT unnest(?))"
    args: list = [list(kinds)]
    if station_ids is not None:
        sql += " AND s.station_id IN (SELECT unnest(?))"
        args.append(list(station_ids))
    if city is not None:
        sql += " AND s.city = ?"
        args.append(city)
    if province is not None:
        sql += " AND s.province = ?"
        args.append(province)
    return con.execute(sql + " ORDER BY s.station_id", args).df()


def official_locations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str | None]]:
    """(station_id, kind, city) of every official station and section, by station_id: the API
    holds them in memory per release generation (a station-list change raises it)."""
    rows = con.execute("SELECT s.station_id, s.kind, s.city FROM stations s WHERE s.kind IN (SELECT unnest(?)) "
                       "ORDER BY s.station_id", [list(OFFICIAL_KINDS)]).fetchall()
    return [(str(sid), str(kind), None if city is None else str(city)) for sid, kind, city in rows]


def released_span(con: duckdb.DuckDBPyConnection, station_ids: list[str]) -> pd.DataFrame:
    """First and last released hour per station (current versions)."""
    return con.execute(
        "SELECT v.station_id, min(v.ts) AS first_ts, max(v.ts) AS last_ts FROM release_values v "
        f"WHERE {_CURRENT} AND v.station_id IN (SELECT unnest(?)) GROUP BY v.station_id",
        [list(station_ids)],
    ).df()


def hours_within(start, end) -> int:
    """How many whole hours can lie in [start, end]."""
    return int((pd.Timestamp(end) - pd.Timestamp(start)) // pd.Timedelta(hours=1)) + 1


#: a query of at least this many stations over at most this many hours reads ``release_by_ts``
#: (those hours lie in a few row groups) instead of the station-sorted ``release_values`` (one
#: stretch per station, superseded versions among them): a 40-station city-day cost 9-13 instead of
#: 16-18 ms of CPU on the 90-day store of benchmarks/api.py (session 7); one station, or a long
#: range, reads less in ``release_values``
BY_TS_MIN_STATIONS, BY_TS_MAX_HOURS = 10, 72


def _current_where(station_ids: list[str], parameters: list[str], start, end,
                   statuses: tuple[str, ...]) -> tuple[str, str, list]:
    """The table holding the current versions to read (aliased ``v``) and the filter on the given
    stations, parameters, hours and statuses; the station filter and the time range reach the
    scan, so a one-station day reads a few row groups of ``release_values`` (written in station
    order) and a city-day a few of ``release_by_ts`` (written in hour order)."""
    by_ts = len(station_ids) >= BY_TS_MIN_STATIONS and hours_within(start, end) <= BY_TS_MAX_HOURS
    stations_sql, stations_args = _in("v.station_id", station_ids)
    params_sql, params_args = _in("v.parameter", parameters)
    status_sql, status_args = _in("v.status", statuses)
    where = f"{stations_sql} AND {params_sql} AND v.ts BETWEEN ? AND ? AND {status_sql}"
    args = [*stations_args, *params_args, _dt(start), _dt(end), *status_args]
    return ("release_by_ts", where, args) if by_ts else ("release_values", f"{_CURRENT} AND {where}", args)


def _page_with_total(con: duckdb.DuckDBPyConnection, select_sql: str, order_sql: str, args: list, limit: int,
                     offset: int, at_most: int | None = None) -> tuple[list[tuple], int]:
    """One page of ``select_sql`` as plain tuples and how many rows it has in all.

    When the filter can match at most ``at_most`` rows and they cannot fill the page (a one-station
    day: 144 rows), the page is read alone and a page shorter than ``limit`` is the whole rest of
    the result, so its length gives the total without counting (on the 90-day store the window
    count cost ~1 ms of ~3.8 ms of CPU of that query, session 7). Otherwise one query returns the
    page and the total (``count(*) OVER ()`` over the filtered rows); only a page past the end
    needs a second count."""
    if at_most is not None and at_most < offset + limit:
        rows = con.execute(f"SELECT * FROM ({select_sql}) ORDER BY {order_sql} LIMIT ? OFFSET ?",
                           [*args, limit, offset]).fetchall()
        if len(rows) < limit and (rows or offset == 0):
            return rows, offset + len(rows)
    else:
        rows = con.execute(
            f"SELECT *, count(*) OVER () AS found_total FROM ({select_sql}) ORDER BY {order_sql} LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        if rows:
            return [r[:-1] for r in rows], int(rows[0][-1])
    return rows, int(con.execute(f"SELECT count(*) FROM ({select_sql})", args).fetchone()[0])


def current_hourly(con: duckdb.DuckDBPyConnection, station_ids: list[str], parameters: list[str], start, end,
                   statuses: tuple[str, ...], limit: int, offset: int) -> tuple[list[tuple], int]:
    """Current released hourly values (station_id, ts, parameter, value, status, version), ordered
    by station, parameter and hour, and how many match in all (for ``meta.found``)."""
    table, where, args = _current_where(station_ids, parameters, start, end, statuses)
    at_most = len(station_ids) * len(parameters) * hours_within(start, end)
    return _page_with_total(
        con, f"SELECT v.station_id, v.ts, v.parameter, v.value, v.status, v.version FROM {table} v "
             f"WHERE {where}", "station_id, parameter, ts", args, limit, offset, at_most)


_DAY = f"CAST(v.ts + INTERVAL {CST_UTC_OFFSET_H} HOUR AS DATE)"
_STATUS_RANK = "CASE v.status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items()) + " END"


#: the hourly values of a daily mean are summed as whole micro-units (value x 10^6, rounded): an
#: exact integer sum, the same in any order, row group or thread, and in the serving snapshot
MEAN_SCALE = 1_000_000


def current_daily(con: duckdb.DuckDBPyConnection, station_ids: list[str], parameters: list[str], start, end,
                  statuses: tuple[str, ...], limit: int, offset: int) -> tuple[list[tuple], int]:
    """Daily (China Standard Time day) sums of the current released hours as tuples (station_id,
    day, parameter, sum of the values in micro-units (:data:`MEAN_SCALE`; None when no value),
    observed_hours, withheld_hours, status - the least advanced status of its hours), and how many
    station-day-parameters match in all. The mean is ``sum / observed_hours / MEAN_SCALE``, made
    and rounded once by the API (``envtrust.api.views.published_daily_mean``)."""
    table, where, args = _current_where(station_ids, parameters, start, end, statuses)
    status_of_rank = " ".join(f"WHEN {r} THEN '{s}'" for s, r in STATUS_RANK.items())
    grouped = (
        f"SELECT v.station_id, {_DAY} AS day, v.parameter, "
        f"sum(CAST(round(v.value * {MEAN_SCALE}) AS BIGINT)) AS value_micro, "
        "count(v.value) AS observed_hours, count(*) FILTER (WHERE v.status = 'withheld') AS withheld_hours, "
        f"CASE min({_STATUS_RANK}) {status_of_rank} END AS status FROM {table} v WHERE {where} "
        "GROUP BY v.station_id, day, v.parameter"
    )
    # always counted: over the grouped rows the page alone cost more CPU than page and count in
    # one query (a 40-station city-day: 21 vs 17 ms, session 7)
    rows, found = _page_with_total(con, grouped, "station_id, parameter, day", args, limit, offset)
    return [(sid, day, param, None if micro is None else int(micro), observed, withheld, status)
            for sid, day, param, micro, observed, withheld, status in rows], found


def newest_released_hour(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest hour with a released value (every value has one current version, so no filter)."""
    row = con.execute("SELECT max(ts) FROM release_values").fetchone()
    return row[0] if row else None


def latest_current(con: duckdb.DuckDBPyConnection, station_ids: list[str], parameters: list[str],
                   newest: datetime | None, window_days: int = 7) -> list[tuple]:
    """Latest current released value per station and parameter (withheld values skipped), looking
    back ``window_days`` from ``newest`` (:func:`newest_released_hour`, which the API holds per
    release generation: the read cost ~0.75 ms a call; zone maps skip older row groups), as tuples
    (station_id, parameter, ts, value, status, version) by station and parameter."""
    if newest is None:
        return []
    since = newest - pd.Timedelta(days=window_days).to_pytimedelta()
    stations_sql, stations_args = _in("v.station_id", station_ids)
    params_sql, params_args = _in("v.parameter", parameters)
    return con.execute(
        "SELECT v.station_id, v.parameter, max(v.ts) AS ts, arg_max(v.value, v.ts) AS value, "
        "arg_max(v.status, v.ts) AS status, arg_max(v.version, v.ts) AS version FROM release_values v "
        f"WHERE {_CURRENT} AND v.status <> 'withheld' AND v.ts >= ? AND {stations_sql} "
        f"AND {params_sql} GROUP BY v.station_id, v.parameter ORDER BY 1, 2",
        [since, *stations_args, *params_args],
    ).fetchall()


def current_long(con: duckdb.DuckDBPyConnection, station_ids: list[str], parameters: list[str], start,
                 end) -> pd.DataFrame:
    """Current released hourly values with a value (station_id, ts, parameter, value, status), for
    computations over many stations and a few hours such as the city ranking's daily AQI: read from
    ``release_by_ts``, whose zone maps skip every row group outside [start, end]."""
    stations_sql, stations_args = _in("v.station_id", station_ids)
    params_sql, params_args = _in("v.parameter", parameters)
    status_sql, status_args = _in("v.status", VALUE_STATUSES)
    return con.execute(
        "SELECT v.station_id, v.ts, v.parameter, v.value, v.status FROM release_by_ts v "
        f"WHERE v.ts BETWEEN ? AND ? AND {stations_sql} AND {params_sql} AND {status_sql}",
        [_dt(start), _dt(end), *stations_args, *params_args, *status_args],
    ).df()


def released_days(con: duckdb.DuckDBPyConnection) -> list:
    """Every China Standard Time day that has a current released value, ascending (for the bulk files)."""
    rows = con.execute(f"SELECT DISTINCT {_DAY} AS day FROM release_values v WHERE {_CURRENT} ORDER BY day").fetchall()
    return [r[0] for r in rows]


def current_day_rows(con: duckdb.DuckDBPyConnection, day) -> pd.DataFrame:
    """All current released hourly values of one CST day, with the station's kind (bulk files)."""
    return con.execute(
        "SELECT v.station_id, s.kind, v.ts, v.parameter, v.value, v.status, v.version, v.released_at "
        f"FROM release_values v JOIN stations s USING (station_id) WHERE {_CURRENT} AND {_DAY} = ? "
        "AND s.kind IN (SELECT unnest(?)) ORDER BY v.station_id, v.parameter, v.ts",
        [day, list(OFFICIAL_KINDS)],
    ).df()


# ---------------------------------------------------------------- department API keys

def insert_api_key(con: duckdb.DuckDBPyConnection, key_id: str, dept: str, scopes: str, rate_per_min: int,
                   secret_sha256: str, actor: str, now: datetime) -> None:
    con.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                [key_id, dept, scopes, rate_per_min, secret_sha256, now, actor])


def api_key_row(con: duckdb.DuckDBPyConnection, key_id: str) -> dict | None:
    """The key's stored row (hash, scopes, limit) when it exists and is not revoked (one row fetch,
    no data frame: it runs on every keyed call)."""
    cursor = con.execute("SELECT * FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id])
    row = cursor.fetchone()
    return None if row is None else dict(zip([d[0] for d in cursor.description], row, strict=True))


def list_api_keys(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every key without its hash."""
    return con.execute("SELECT key_id, dept, scopes, rate_per_min, created_at, created_by, revoked_at "
                       "FROM api_keys ORDER BY created_at").df()


def revoke_api_key(con: duckdb.DuckDBPyConnection, key_id: str, now: datetime) -> bool:
    """Revoke a key; the same transaction raises the release generation, under which the API holds
    the keys it has verified, so the next call with it is checked against the store again."""

    def run(c: duckdb.DuckDBPyConnection) -> int:
        row = c.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                        [now, key_id]).fetchone()
        raise_generation(c)
        return int(row[0]) if row else 0

    return bool(_in_transaction(con, run))


# ---------------------------------------------------------------- water section target classes

def upsert_section_target(con: duckdb.DuckDBPyConnection, station_id: str, target_class: int, basis: str,
                          actor: str, now: datetime) -> None:
    con.execute("INSERT OR REPLACE INTO section_targets VALUES (?, ?, ?, ?, ?)",
                [station_id, int(target_class), basis, now, actor])


def section_targets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Target class per official water section that has one: station_id, target_class, basis."""
    return con.execute(
        "SELECT t.station_id, t.target_class, t.basis FROM section_targets t JOIN stations s USING (station_id) "
        "WHERE s.kind = 'water_section' ORDER BY t.station_id"
    ).df()


def water_section_roles(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """station_id and section_role of every official water section (for the demo's targets)."""
    return con.execute("SELECT station_id, section_role FROM stations WHERE kind = 'water_section' "
                       "ORDER BY station_id").df()
