"""SQL of the serving snapshot: the current released hourly values in an embedded SQLite file, for
the public API's point reads (one station's hours, its latest values).

Why a second embedded file: DuckDB, a columnar engine, spends ~1.5-3 ms of CPU on any filtered read
of one row group, which was half of a one-station day answer; a B-tree answers the same 144 rows in
~0.3 ms (benchmarks/results/api.md, session 8). The analytics and every write stay in DuckDB.

The snapshot is derived from ``release_values`` only, never written by anything else, and holds
only public tables (:data:`SNAPSHOT_TABLES`): the current version of every released value and the
release generation it was made at. It is brought to the store's generation incrementally - the
current versions released since its watermark (``released_at``, less :data:`REFRESH_OVERLAP`, so a
step whose transaction committed after a later step's refresh is still caught; re-writing a row is
idempotent) - in one SQLite transaction, so a reader sees one whole generation or the previous one,
and a crash mid-update leaves the previous one. A missing snapshot is built into a scratch file and
renamed into place. Every read statement returns the snapshot's generation as its first column
(one statement is one read transaction: the generation is the one its rows were read at), and a
read raises :class:`SnapshotNotAt` unless that generation is the one the caller asked for; the
API uses the rows only at the store's generation (``envtrust.api.snapshot``).

Each value is held twice: as a REAL (the daily sums and ``/latest`` read it) and as its exact text
(``value_text``, Python's shortest ``repr``, which ``float`` reads back to the same double), so an
hourly page is read as **one** row - a JSON array built inside SQLite - and not one row per hour:
Python's ``sqlite3`` gives up the GIL around every ``sqlite3_step``, ~145 times for a one-station
day, and each release can hand the GIL to another of the server's 32 threads (session 9, round 2:
under 50 clients a one-step page cut ~11-17 of ~35 context switches per answer). SQLite 3.40 prints
a REAL with at most 16 significant digits (0.84 as 0.8399999999999999), so the text is written at
refresh, not printed at read. The file's layout is :data:`SNAPSHOT_FORMAT` (``PRAGMA user_version``,
and the file name, ``envtrust.settings``): a file of another format is not of the store - it is
removed and built again, never misread.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import suppress
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import orjson

from analytics.vocabulary import CST_UTC_OFFSET_H
from data.release import MEAN_SCALE, STATUS_RANK, release_generation

#: the snapshot file's layout (``PRAGMA user_version``); raised when the layout changes, so an older
#: file is rebuilt, not misread. 2: ``value_text``, the exact text of each value (session 9)
SNAPSHOT_FORMAT = 2
#: the only tables of the snapshot file (all public; the public-isolation test checks the file)
SNAPSHOT_TABLES: tuple[str, ...] = ("current_hourly", "snapshot_state")
#: how far before its watermark a refresh reads again (release steps are seconds long)
REFRESH_OVERLAP = timedelta(minutes=10)
_EPOCH = datetime(1970, 1, 1)
_BATCH_ROWS = 100_000
_SCHEMA = (
    "CREATE TABLE current_hourly (station_id TEXT NOT NULL, parameter TEXT NOT NULL, "
    "ts INTEGER NOT NULL, value REAL, status TEXT NOT NULL, version INTEGER NOT NULL, value_text TEXT, "
    "PRIMARY KEY (station_id, parameter, ts)) WITHOUT ROWID",
    "CREATE TABLE snapshot_state (generation INTEGER NOT NULL, released_through TEXT)",
)


def epoch_s(ts: datetime) -> int:
    """Whole seconds since 1970-01-01 of a naive UTC time (the snapshot's ``ts``)."""
    return int((ts - _EPOCH).total_seconds())


def from_epoch_s(seconds: int) -> datetime:
    """The naive UTC time of :func:`epoch_s`."""
    return _EPOCH + timedelta(seconds=seconds)


# ---------------------------------------------------------------- writing (the store's process)

def _store_changes(con: duckdb.DuckDBPyConnection, since: datetime | None) -> tuple[int, datetime | None,
                                                                                   Iterator[list[tuple]]]:
    """In one DuckDB transaction, which the caller ends (:func:`_end_store_read`) after reading the
    batches: the store's generation, its newest ``released_at``, and batches of the current versions
    released after ``since`` (all when None) as snapshot rows - read only when the batches are
    (a refresh that finds the snapshot current reads no rows)."""
    con.execute("BEGIN TRANSACTION")
    generation = release_generation(con)
    newest = con.execute("SELECT max(released_at) FROM release_values").fetchone()[0]
    where, args = ("", []) if since is None else (" AND v.released_at > ?", [since])

    def batches() -> Iterator[list[tuple]]:
        con.execute("SELECT v.station_id, v.parameter, CAST(epoch(v.ts) AS BIGINT), v.value, v.status, v.version "
                    f"FROM release_values v WHERE v.superseded_at IS NULL{where} ORDER BY 1, 2, 3", args)
        while rows := con.fetchmany(_BATCH_ROWS):
            yield rows

    return generation, newest, batches()


def _end_store_read(con: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.Error):  # none open when BEGIN itself failed
        con.execute("ROLLBACK")  # it only read


def snapshot_state(snap: sqlite3.Connection) -> tuple[int, datetime | None] | None:
    """(generation, released_through) of a snapshot, or None when it has none or is of another
    :data:`SNAPSHOT_FORMAT`."""
    try:
        if snap.execute("PRAGMA user_version").fetchone()[0] != SNAPSHOT_FORMAT:
            return None
        row = snap.execute("SELECT generation, released_through FROM snapshot_state").fetchone()
    except sqlite3.DatabaseError:
        return None
    if row is None:
        return None
    return int(row[0]), None if row[1] is None else datetime.fromisoformat(row[1])


def value_text(value: float | None) -> str | None:
    """The exact text of a released value (``float(value_text(v)) == v``; None stays None)."""
    return None if value is None else repr(value)


def _write(snap: sqlite3.Connection, generation: int, newest: datetime | None, batches) -> int:
    """Upsert the batches (rows of :func:`_store_changes`, each given its :func:`value_text`) and set
    the state, in one transaction (rolled back on any error)."""
    n = 0
    with snap:  # BEGIN ... COMMIT, or ROLLBACK on an exception
        for rows in batches:
            snap.executemany("INSERT OR REPLACE INTO current_hourly VALUES (?, ?, ?, ?, ?, ?, ?)",
                             [(*row, value_text(row[3])) for row in rows])
            n += len(rows)
        snap.execute("DELETE FROM snapshot_state")
        snap.execute("INSERT INTO snapshot_state VALUES (?, ?)",
                     [generation, None if newest is None else newest.isoformat()])
    return n


def build_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int]:
    """Write a whole snapshot of the store into a scratch file and rename it to ``path`` (so no
    reader ever opens a half-built file); returns (generation, rows)."""
    scratch = path.with_name(path.name + ".building")
    for stale in (scratch, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    snap = sqlite3.connect(scratch, isolation_level=None)
    try:
        snap.execute("PRAGMA journal_mode = OFF")
        snap.execute(f"PRAGMA user_version = {SNAPSHOT_FORMAT}")
        for statement in _SCHEMA:
            snap.execute(statement)
        snap.isolation_level = "DEFERRED"
        try:
            generation, newest, batches = _store_changes(con, None)
            rows = _write(snap, generation, newest, batches)
        finally:
            _end_store_read(con)
        snap.isolation_level = None
        snap.execute("PRAGMA journal_mode = WAL")  # readers read while a refresh writes
    finally:
        snap.close()
    os.replace(scratch, path)
    return generation, rows


def _belongs_to_store(con: duckdb.DuckDBPyConnection, generation: int, through: datetime | None) -> bool:
    """Whether a snapshot at (``generation``, ``released_through``) can be of this store: not ahead
    of it, its watermark a release time of the store, and at the store's generation only with the
    store's newest release time (a store replaced at the same path - a restored copy - fails this)."""
    store_generation = release_generation(con)
    if generation > store_generation:
        return False
    if through is None:
        return generation == store_generation or generation == 0
    newest = con.execute("SELECT max(released_at) FROM release_values").fetchone()[0]
    if generation == store_generation:
        return newest == through
    return con.execute("SELECT count(*) > 0 FROM release_values WHERE released_at = ?", [through]).fetchone()[0]


def snapshot_is_of_store(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether the snapshot file at ``path`` can be of the store ``con`` (see :func:`_belongs_to_store`)."""
    snap = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        state = snapshot_state(snap)
    finally:
        snap.close()
    return state is not None and _belongs_to_store(con, *state)


def refresh_snapshot(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[int, int]:
    """Bring the snapshot at ``path`` to the store's generation: build it when missing or unreadable
    (or ahead of the store: a different store), else write only the values released since its
    watermark. Returns (generation, rows written). Call from one thread at a time."""
    if not path.exists():
        return build_snapshot(con, path)
    snap = sqlite3.connect(path, timeout=5.0)
    try:
        state = snapshot_state(snap)
        if state is None or not _belongs_to_store(con, *state):
            snap.close()
            path.unlink()
            return build_snapshot(con, path)
        generation, through = state
        since = None if through is None else through - REFRESH_OVERLAP
        try:
            store_generation, newest, batches = _store_changes(con, since)
            if store_generation == generation:
                return generation, 0
            return store_generation, _write(snap, store_generation, newest or through, batches)
        finally:
            _end_store_read(con)
    finally:
        snap.close()


# ---------------------------------------------------------------- reading (API threads)

class SnapshotNotAt(Exception):
    """The snapshot was read at another generation than the one asked for (``held``: None when it
    has none); its rows are not used."""

    def __init__(self, held: int | None, wanted: int) -> None:
        super().__init__(f"serving snapshot at generation {held}, not {wanted}")
        self.held, self.wanted = held, wanted


#: the snapshot's generation as a column: SQLite evaluates the uncorrelated subquery once per
#: statement, in the statement's own read transaction
_GENERATION = "(SELECT generation FROM snapshot_state)"


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (``check_same_thread`` off: the API keeps one per server thread)."""
    snap = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False,
                           timeout=0.05)
    snap.execute("PRAGMA query_only = ON")
    return snap


def begin_read(snap: sqlite3.Connection) -> int | None:
    """Start a read transaction; the snapshot's generation (None when it has none)."""
    snap.execute("BEGIN")
    row = snap.execute("SELECT generation FROM snapshot_state").fetchone()
    return None if row is None else int(row[0])


def end_read(snap: sqlite3.Connection) -> None:
    snap.execute("COMMIT")


def rows_at(snap: sqlite3.Connection, generation: int, statement: str, args: list) -> list[tuple]:
    """The rows of ``statement`` - whose first column is :data:`_GENERATION` - read at
    ``generation``; :class:`SnapshotNotAt` otherwise. Why one statement: a ``BEGIN``, a generation
    read and a ``COMMIT`` around each query were three more SQLite calls per request, each giving
    up and taking back the GIL among the server's threads (py-spy, session 8: 9 % of a one-station
    day's samples). A statement that finds no row says nothing of its generation: it runs again
    with the generation in one read transaction (rare: an empty page)."""
    rows = snap.execute(statement, args).fetchall()
    if rows:
        held = rows[0][0]
    else:
        held = begin_read(snap)
        try:
            rows = snap.execute(statement, args).fetchall()
        finally:
            end_read(snap)
    if held != generation:
        raise SnapshotNotAt(held, generation)
    return rows


def _in(values) -> str:
    return ", ".join("?" * len(values))


def current_hourly(snap: sqlite3.Connection, generation: int, station_ids: list[str], parameters: list[str],
                   start: datetime, end: datetime, statuses: tuple[str, ...], limit: int,
                   offset: int) -> tuple[list[tuple], int]:
    """:func:`data.release.current_hourly` from the snapshot at ``generation`` (else
    :class:`SnapshotNotAt`): the same tuples in the same order (station, parameter, hour) and the
    total. One index range per station and parameter: a 40-station city-day page of 1,000 of its
    5,700 values costs ~1.3 ms of CPU, its count ~1.4 ms. The page is one row, a JSON array of
    the hours (in the order of the limited subquery: SQLite feeds the aggregate from it as a
    co-routine), so the statement is one ``sqlite3_step`` - one GIL hand-off - not one per hour;
    an empty page is ``[]`` with the generation, so it needs no second read either."""
    where = (f"station_id IN ({_in(station_ids)}) AND parameter IN ({_in(parameters)}) AND ts BETWEEN ? AND ? "
             f"AND status IN ({_in(statuses)})")
    args = [*station_ids, *parameters, epoch_s(start), epoch_s(end), *statuses]
    hours: dict[int, datetime] = {}  # a city-day page has 1,000 rows of 24 hours
    page = rows_at(snap, generation,
                   f"SELECT {_GENERATION}, json_group_array(json_array(station_id, parameter, ts, value_text, status, "
                   f"version)) FROM (SELECT * FROM current_hourly WHERE {where} "
                   "ORDER BY station_id, parameter, ts LIMIT ? OFFSET ?)", [*args, limit, offset])
    rows = [(sid, hours.get(ts) or hours.setdefault(ts, from_epoch_s(ts)), param,
             None if text is None else float(text), status, version)
            for sid, param, ts, text, status, version in orjson.loads(page[0][1])]
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    return rows, int(rows_at(snap, generation, f"SELECT {_GENERATION}, count(*) FROM current_hourly WHERE {where}",
                             args)[0][1])


_EPOCH_DAY = date(1970, 1, 1)


def current_daily(snap: sqlite3.Connection, generation: int, station_ids: list[str], parameters: list[str],
                  start: datetime, end: datetime, statuses: tuple[str, ...], limit: int,
                  offset: int) -> tuple[list[tuple], int]:
    """:func:`data.release.current_daily` from the snapshot at ``generation`` (else
    :class:`SnapshotNotAt`): the same tuples (the values summed as whole micro-units, an exact
    integer sum) in the same order (station, parameter, day) and the total. The page is one row, a
    JSON array of the days, as in :func:`current_hourly` (a city-day: 240 days, one step)."""
    where = (f"station_id IN ({_in(station_ids)}) AND parameter IN ({_in(parameters)}) AND ts BETWEEN ? AND ? "
             f"AND status IN ({_in(statuses)})")
    args = [*station_ids, *parameters, epoch_s(start), epoch_s(end), *statuses]
    rank = " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items())
    status_of_rank = " ".join(f"WHEN {r} THEN '{s}'" for s, r in STATUS_RANK.items())
    # the CST day as a day number: ~1 ms of CPU less than date() on a 40-station city-day (5,700 hours)
    grouped = (f"SELECT station_id, (ts + {CST_UTC_OFFSET_H * 3600}) / 86400 AS day, parameter, "
               f"sum(CAST(round(value * {MEAN_SCALE}) AS INTEGER)) AS micro, count(value) AS observed, "
               f"sum(status = 'withheld') AS withheld, CASE min(CASE status {rank} END) {status_of_rank} END "
               f"AS day_status FROM current_hourly WHERE {where} GROUP BY station_id, parameter, day")
    days: dict[int, date] = {}
    page = rows_at(snap, generation,
                   f"SELECT {_GENERATION}, json_group_array(json_array(station_id, day, parameter, micro, observed, "
                   f"withheld, day_status)) FROM ({grouped} ORDER BY station_id, parameter, day LIMIT ? OFFSET ?)",
                   [*args, limit, offset])
    rows = [(sid, days.get(day) or days.setdefault(day, _EPOCH_DAY + timedelta(days=day)), param, micro,
             observed, withheld, status)
            for sid, day, param, micro, observed, withheld, status in orjson.loads(page[0][1])]
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    return rows, int(rows_at(snap, generation, f"SELECT {_GENERATION}, count(*) FROM ({grouped})", args)[0][1])


def latest_current(snap: sqlite3.Connection, generation: int, station_ids: list[str], parameters: list[str],
                   newest: datetime | None, window_days: int = 7) -> list[tuple]:
    """:func:`data.release.latest_current` from the snapshot at ``generation`` (else
    :class:`SnapshotNotAt`; SQLite takes the other columns of a ``max()`` query from the row
    holding the maximum). One row, a JSON array, as in :func:`current_hourly`; the subquery's
    ``LIMIT`` (every station and parameter) keeps its ``ORDER BY`` a part of its meaning, so no
    SQLite version may drop it."""
    if newest is None:
        return []
    since = epoch_s(newest - timedelta(days=window_days))
    latest = rows_at(snap, generation,
                     f"SELECT {_GENERATION}, json_group_array(json_array(station_id, parameter, ts, value_text, status, "
                     "version)) FROM (SELECT station_id, parameter, max(ts) AS ts, value_text, status, version "
                     f"FROM current_hourly WHERE station_id IN ({_in(station_ids)}) AND parameter IN "
                     f"({_in(parameters)}) AND ts >= ? AND status <> 'withheld' GROUP BY station_id, parameter "
                     "ORDER BY 1, 2 LIMIT ?)", [*station_ids, *parameters, since, len(station_ids) * len(parameters)])
    return [(sid, param, from_epoch_s(ts), None if text is None else float(text), status, version)
            for sid, param, ts, text, status, version in orjson.loads(latest[0][1])]


def table_names(snap: sqlite3.Connection) -> list[str]:
    """Every table of a snapshot file (for the public-isolation test)."""
    return [r[0] for r in snap.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
