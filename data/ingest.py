"""Validated, idempotent, atomic ingest of long-format readings.

A batch (one file, or one call) runs in ONE DuckDB transaction: the batch record, new
readings and quarantined rows are committed together or not at all. If anything fails
mid-batch the transaction is rolled back and a ``failed`` batch record (no readings) is
written, so the store never holds half a batch.

Every offered row ends in exactly one of three places, and ``rows_in == rows_stored +
rows_duplicate + rows_quarantined`` is asserted for every batch:

- stored: a new (station_id, ts, parameter) key that passed validation;
- duplicate: the same key with the same value and flag is already stored or appeared
  earlier in the batch; or the same raw record was already quarantined for the same reason
  by an earlier batch (so re-ingesting a file adds nothing anywhere);
- quarantined, with one machine reason (first that applies, in this order) and a human detail:
  ``unparseable_time``, ``implausible_time`` (outside the settings' plausible window: by default
  before 1980 or more than a day after now), ``unknown_station``, ``unknown_parameter``, ``unparseable_value``,
  ``unit_mismatch``, ``bad_flag`` (not an HJ 212-2017 flag), ``negative_concentration``
  (concentration parameters only), ``out_of_physical_range`` (``analytics/vocabulary.py`` ranges),
  ``duplicate_conflict`` (key already stored, or earlier in the batch, with a different value
  or flag: the first one kept, the newcomer quarantined), plus any reason an adapter gave.

A missing value (NULL/NaN/empty/``NA``) is not an error: it is stored with value NULL, so
completeness can be computed from the store.

The readings table has no primary key (``data/schema.py``); uniqueness is enforced here with
a hash anti-join in DuckDB SQL against the stored keys inside the batch's time range, under one
process-wide writer lock (:data:`WRITE_LOCK`: DuckDB lets one process write a file, and inside
it the receiver thread and the dashboard each have a connection, whose transactions would not
see each other's uncommitted rows), and a last check inside the transaction refuses to commit a
batch whose keys appear twice in the store (``duplicate key``) whatever path put them there. All
validation is set-based SQL (no per-row Python), which is what makes >= 1 M readings/s possible;
the receiver's small typed batches are checked by the vectorised Python twin in ``data/judge.py``
(:func:`ingest_typed_rows`), because planning the SQL cost more than running it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics.timeconv import PlausibleWindow, to_naive_utc, utc_now_naive
from analytics.vocabulary import DATA_FLAGS, PARAMETERS
from data.adapters import beijing, cnemc
from data.adapters.base import (
    FORMATS,
    NUMBER_TEXT_RE,
    STATION_FORMATS,
    IngestError,
    detect_format,
    file_sha256,
    is_parquet,
    normalised_select,
)
from data.adapters.long import long_file_view, malformed_lines_sql, read_stations_file
from data.judge import (
    CONFLICT,
    DUPLICATE,
    OUTCOMES,
    Judged,
    KnownStations,
    judge_rows,
    same_readings,
    values_and_nulls,
)
from data.stations import count_unchanged_stations, station_problems, upsert_stations
from data.store import finish_pending_result
from data.views import refresh_map_cache_for_batch

REASONS: tuple[str, ...] = (
    "unparseable_time",
    "implausible_time",
    "unknown_station",
    "unknown_parameter",
    "unparseable_value",
    "unit_mismatch",
    "bad_flag",
    "negative_concentration",
    "out_of_physical_range",
    "duplicate_conflict",
)

# one writer of readings per process at a time (see the module docstring); re-entrant because a
# caller may hold it around several batches
WRITE_LOCK = threading.RLock()

NUMERIC_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                           "UINTEGER", "UBIGINT", "UHUGEINT"})

# words read as "reported missing" in a text value column (stored as NULL, not rejected)
MISSING_WORDS: tuple[str, ...] = ("", "NA", "NAN", "NULL", "NONE", "-", "—")


@dataclass
class IngestReport:
    """What one batch did. ``rows_in == rows_stored + rows_duplicate + rows_quarantined``."""

    batch_id: int | None
    source: str
    fmt: str
    rows_in: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    already_ingested: bool = False
    previous_batch_id: int | None = None
    status: str = "committed"
    kind: str = "readings"  # readings | stations
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise AssertionError if a row is unaccounted for."""
        accounted = self.rows_stored + self.rows_duplicate + self.rows_quarantined
        assert self.rows_in == accounted, (
            f"batch {self.batch_id}: rows in {self.rows_in} != stored {self.rows_stored} + duplicates "
            f"{self.rows_duplicate} + quarantined {self.rows_quarantined}"
        )
        assert sum(self.reasons.values()) == self.rows_quarantined, "reasons do not add up to rows_quarantined"

    def line(self) -> str:
        """One human line for the CLI."""
        what = "stations" if self.kind == "stations" else "readings"
        text = (f"{self.source} [{self.fmt}] batch {self.batch_id}: {self.rows_in:,} {what} in, "
                f"{self.rows_stored:,} stored, {self.rows_duplicate:,} duplicates, "
                f"{self.rows_quarantined:,} quarantined")
        if self.reasons:
            text += " (" + ", ".join(f"{k} {v:,}" for k, v in sorted(self.reasons.items())) + ")"
        if self.already_ingested:
            text += f"; already ingested (batch {self.previous_batch_id})"
        for note in self.notes:
            text += f"; {note}"
        return text


def normalize_unit(unit: str | None) -> str | None:
    """Spelling-insensitive unit key: 'µg/m³' == 'ug/m3', '℃' == 'degC' (Python twin of the SQL)."""
    if unit is None or (isinstance(unit, float) and pd.isna(unit)):
        return None
    u = str(unit).strip().lower()
    for a, b in (("µ", "u"), ("μ", "u"), ("³", "3"), ("℃", "degc"), ("°c", "degc"), (" ", "")):
        u = u.replace(a, b)
    return u or None


def _unit_sql(expr: str) -> str:
    out = f"lower(trim({expr}))"
    for a, b in (("µ", "u"), ("μ", "u"), ("³", "3"), ("℃", "degc"), ("°c", "degc"), (" ", "")):
        out = f"replace({out}, '{a}', '{b}')"
    return f"nullif({out}, '')"


def parameters_frame() -> pd.DataFrame:
    """The parameter vocabulary as a table for SQL joins (name, unit, unit key, range, is_concentration)."""
    rows = [
        {
            "p_name": p.name,
            "p_unit": p.unit,
            "p_unit_key": normalize_unit(p.unit),
            "p_min": p.min_value,
            "p_max": p.max_value,
            "p_conc": p.is_concentration,
        }
        for p in PARAMETERS.values()
    ]
    frame = pd.DataFrame(rows)
    frame["p_min"] = frame["p_min"].astype("float64")
    frame["p_max"] = frame["p_max"].astype("float64")
    return frame


@functools.cache
def parameters_table() -> pa.Table:
    """:func:`parameters_frame` as an Arrow table, built once: registered for every batch, and
    DuckDB scans Arrow as it is (a pandas frame of strings is converted at each registration)."""
    return pa.Table.from_pandas(parameters_frame(), preserve_index=False)


def _quarantine_relation(frame: pd.DataFrame) -> pd.DataFrame | pa.Table:
    """What to register as ``_et_adapter_q``: the frame, or a typed empty Arrow table when it has
    no rows (most batches: registering an empty pandas frame cost ~1 ms per batch)."""
    if len(frame):
        return frame
    return pa.table({c: pa.array([], pa.string()) for c in ("raw", "reason", "detail")})


def previous_batch(con: duckdb.DuckDBPyConnection, source_sha256: str | None) -> int | None:
    """The first committed batch with this content hash, if any."""
    if not source_sha256:
        return None
    row = con.execute(
        "SELECT min(batch_id) FROM ingest_batches WHERE source_sha256 = ? AND status = 'committed'",
        [source_sha256],
    ).fetchall()[0]
    return None if row is None or row[0] is None else int(row[0])


# --------------------------------------------------------------------------- sources
def _column_types(con: duckdb.DuckDBPyConnection, select_sql: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {select_sql}").fetchall()}


def _is_text(sql_type: str) -> bool:
    return sql_type.upper().startswith("VARCHAR")


def _frame_source_sql(con: duckdb.DuckDBPyConnection, readings: pd.DataFrame, view: str) -> str:
    """Register a long frame (ts naive UTC) and return the normalised source SELECT over it."""
    missing = [c for c in ("station_id", "ts", "parameter", "value") if c not in readings.columns]
    if missing:
        raise IngestError(f"readings lack column(s) {', '.join(missing)}; "
                          "expected station_id, ts, parameter, value[, flag][, unit]")
    cols = [c for c in ("station_id", "ts", "parameter", "value", "flag", "unit") if c in readings.columns]
    frame = readings[cols].assign(_rid=np.arange(len(readings), dtype=np.int64))
    if isinstance(frame["ts"].dtype, pd.DatetimeTZDtype):
        frame = frame.assign(ts=to_naive_utc(frame["ts"]))
    finish_pending_result(con)
    con.register(view, frame)
    types = _column_types(con, f"SELECT * FROM {view}")
    ts_text = _is_text(types["ts"])
    return normalised_select(
        view,
        ts_utc_expr="TRY_CAST(ts AS TIMESTAMP)" if ts_text else "CAST(ts AS TIMESTAMP)",
        has_flag="flag" in cols,
        has_unit="unit" in cols,
        rid_expr="_rid",
    )


# --------------------------------------------------------------------------- the batch
def ingest_readings(
    con: duckdb.DuckDBPyConnection,
    readings: pd.DataFrame,
    source: str,
    fmt: str,
    *,
    quarantined: pd.DataFrame | None = None,
    source_sha256: str | None = None,
    window: PlausibleWindow | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
) -> IngestReport:
    """Validate and store long readings (``station_id, ts, parameter, value[, flag][, unit]``,
    ts naive UTC or tz-aware) as one atomic batch; see the module docstring for the rules.

    ``quarantined``: rows an adapter already rejected (columns ``raw, reason, detail``); they
    count in ``rows_in`` and go to the quarantine table with the batch. ``before_commit(con,
    batch_id)`` runs inside the batch's transaction just before COMMIT (the HJ 212 receiver writes
    its packet log there: one commit per batch instead of two).
    """
    view = "_et_in_frame"
    try:
        select_sql = _frame_source_sql(con, readings, view)
        return ingest_select(con, select_sql, source, fmt, quarantined=quarantined, source_sha256=source_sha256,
                             window=window, before_commit=before_commit, source_rows=len(readings))
    finally:
        with contextlib.suppress(Exception):  # never registered when the columns were wrong
            con.unregister(view)


def ingest_select(
    con: duckdb.DuckDBPyConnection,
    select_sql: str,
    source: str,
    fmt: str,
    *,
    quarantined: pd.DataFrame | None = None,
    source_sha256: str | None = None,
    cheap_rescan: bool = True,
    late_rejects: tuple[str, list] | None = None,
    window: PlausibleWindow | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
    source_rows: int | None = None,
) -> IngestReport:
    """Ingest from an internal normalised SELECT (see :func:`normalised_select`).

    ``source_rows``: how many rows the SELECT yields, when the caller knows it (a data frame's
    length): a batch whose every row was stored then skips the pass that looks for rejected rows.

    ``late_rejects``: (sql, params) giving ``raw, reason, detail`` of source records the reader
    itself skipped while scanning (malformed CSV lines); run after the scan, counted in the batch.

    Used by :func:`ingest_readings` (a registered DataFrame) and by the long-format file fast
    path (DuckDB reads the Parquet/CSV itself, nothing goes through pandas).
    """
    adapter_q = _adapter_quarantine_frame(quarantined)
    with WRITE_LOCK:
        return _ingest_locked(con, select_sql, source, fmt, adapter_q, source_sha256, cheap_rescan, late_rejects,
                              window or PlausibleWindow(), before_commit, source_rows)


def ingest_typed_rows(
    con: duckdb.DuckDBPyConnection,
    readings: pa.Table,
    source: str,
    fmt: str,
    *,
    quarantined: pd.DataFrame | None = None,
    window: PlausibleWindow | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
    stations: KnownStations | None = None,
) -> IngestReport:
    """:func:`ingest_readings` for a writer that built its rows typed (the HJ 212 receiver): an
    Arrow table ``station_id, ts, parameter, value, flag`` (string, timestamp[us] naive UTC,
    string, float64, string); the same rules, batch and report.

    Why a second entry: the receiver commits every ~50-1,000 ms, so a batch's fixed cost is paid
    per packet. The checks that need nothing of the store run in Python on the Arrow columns
    (:mod:`data.judge`): DuckDB planned the validating statement at every commit (~8-11 ms of
    CPU whatever the batch size). DuckDB keeps the check against stored keys and the inserts
    (:func:`_store_judged`). ``stations``: the connection's cache of station ids (the receiver
    keeps one per connection); None reads them for this batch."""
    adapter_q = _adapter_quarantine_frame(quarantined)
    with WRITE_LOCK:
        return _batch_transaction(
            con, source, fmt, None,
            lambda batch_id: (_store_judged(con, readings, batch_id, source, fmt, adapter_q,
                                            window or PlausibleWindow(), stations or KnownStations()), True),
            before_commit, drop_temps=False)


def _ingest_locked(con, select_sql: str, source: str, fmt: str, adapter_q: pd.DataFrame, source_sha256: str | None,
                   cheap_rescan: bool, late_rejects: tuple[str, list] | None, window: PlausibleWindow,
                   before_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None = None,
                   source_rows: int | None = None) -> IngestReport:
    """The batch transaction of :func:`ingest_select`; the caller holds :data:`WRITE_LOCK`."""
    return _batch_transaction(
        con, source, fmt, source_sha256,
        lambda batch_id: _run_batch(con, select_sql, batch_id, source, fmt, adapter_q, cheap_rescan, late_rejects,
                                    window, source_rows),
        before_commit)


def _batch_transaction(con, source: str, fmt: str, source_sha256: str | None,
                       run: Callable[[int], tuple[IngestReport, bool]],
                       before_commit: Callable[[duckdb.DuckDBPyConnection, int], None] | None,
                       drop_temps: bool = True) -> IngestReport:
    """One batch in one transaction: its ``ingest_batches`` row, ``run(batch_id)`` (the report, and
    whether the store's key rule is already proven for the batch), the key check, the map cache,
    ``before_commit``, COMMIT; on any error ROLLBACK and a ``failed`` batch row. ``drop_temps``:
    drop the staged paths' temp tables afterwards; a caller that cleans up after itself says False
    (~1 ms of DROPs per commit), and they are dropped only after a failure."""
    previous = previous_batch(con, source_sha256)
    finish_pending_result(con)
    con.execute("BEGIN TRANSACTION")
    batch_id = None
    committed = False
    try:
        batch_id = int(con.execute(
            "INSERT INTO ingest_batches (batch_id, source, source_sha256, format, started_at, status) "
            "VALUES (nextval('batch_seq'), ?, ?, ?, timezone('UTC', now()), 'running') RETURNING batch_id",
            [source, source_sha256, fmt],
        ).fetchall()[0][0])
        report, keys_proven = run(batch_id)
        report.already_ingested = previous is not None
        report.previous_batch_id = previous
        report.check()
        if not keys_proven:
            _refuse_repeated_keys(con, batch_id)
        if report.rows_stored:
            # same transaction: the map cache never disagrees with the readings (data/views.py)
            refresh_map_cache_for_batch(con, batch_id)
        if before_commit is not None:
            before_commit(con, batch_id)
        _commit_batch(con, report, batch_id)
        committed = True
        return report
    except BaseException:
        con.execute("ROLLBACK")
        _record_failed_batch(con, source, source_sha256, fmt)
        raise
    finally:
        if drop_temps or not committed:
            _drop_temp(con)


class DuplicateKeyError(RuntimeError):
    """A batch would leave a (station_id, ts, parameter) key twice in readings; nothing is committed."""


def _refuse_repeated_keys(con: duckdb.DuckDBPyConnection, batch_id: int) -> None:
    """The store's key rule, checked inside the batch's transaction: no key of this batch is in
    readings twice. Cost: one hash join of the batch against its stations and time range."""
    row = con.execute(
        """
        WITH mine AS (SELECT station_id, ts, parameter FROM readings WHERE batch_id = ?),
        span AS (SELECT min(ts) AS lo, max(ts) AS hi FROM mine)
        SELECT m.station_id, m.ts, m.parameter
        FROM mine m JOIN readings r ON r.station_id = m.station_id AND r.ts = m.ts AND r.parameter = m.parameter
        WHERE r.ts BETWEEN (SELECT lo FROM span) AND (SELECT hi FROM span)
        GROUP BY ALL HAVING count(*) > 1 LIMIT 1
        """,
        [batch_id],
    ).fetchall()
    if row:
        raise DuplicateKeyError(f"batch {batch_id} would store ({row[0][0]}, {row[0][1]}, {row[0][2]}) twice; "
                                "rolled back")


def _commit_batch(con: duckdb.DuckDBPyConnection, report: IngestReport, batch_id: int) -> None:
    """Record the batch's final counts and commit: the batch row and its rows land together."""
    con.execute(
        "UPDATE ingest_batches SET finished_at = timezone('UTC', now()), rows_in = ?, rows_stored = ?, "
        "rows_duplicate = ?, rows_quarantined = ?, status = 'committed' WHERE batch_id = ?",
        [report.rows_in, report.rows_stored, report.rows_duplicate, report.rows_quarantined, batch_id],
    )
    con.execute("COMMIT")


def _record_failed_batch(con: duckdb.DuckDBPyConnection, source: str, sha: str | None, fmt: str) -> None:
    """Leave a trace of a batch that was rolled back (no readings, no quarantine rows)."""
    with contextlib.suppress(Exception):  # the original error is the one to report
        con.execute(
            "INSERT INTO ingest_batches (batch_id, source, source_sha256, format, started_at, finished_at, "
            "rows_in, rows_stored, rows_duplicate, rows_quarantined, status) VALUES (nextval('batch_seq'), "
            "?, ?, ?, timezone('UTC', now()), timezone('UTC', now()), 0, 0, 0, 0, 'failed')",
            [source, sha, fmt],
        )


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(Exception):
        con.execute("DROP VIEW IF EXISTS _et_cls")
    for name in ("_et_stage", "_et_dupkeys", "_et_cls_t", "_et_q"):
        with contextlib.suppress(Exception):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    for name in ("_et_params", "_et_adapter_q", "_et_new", "_et_judged"):
        with contextlib.suppress(Exception):
            con.unregister(name)


@functools.cache
def _no_adapter_quarantine() -> pd.DataFrame:
    """The empty adapter quarantine, built once (~0.5 ms per batch otherwise); only ever read."""
    return pd.DataFrame({"raw": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object),
                         "detail": pd.Series([], dtype=object)})


def _adapter_quarantine_frame(quarantined: pd.DataFrame | None) -> pd.DataFrame:
    if quarantined is None or quarantined.empty:
        return _no_adapter_quarantine()
    missing = [c for c in ("raw", "reason") if c not in quarantined.columns]
    if missing:
        raise IngestError(f"quarantined rows lack column(s) {', '.join(missing)} (need raw, reason, detail)")
    frame = quarantined[["raw", "reason"]].astype(str)
    frame["detail"] = quarantined["detail"].astype(object) if "detail" in quarantined.columns else None
    return frame.reset_index(drop=True)


# the outcome of each row of ``j`` (a validated row with ``later_copy``, the first copy's
# ``first_value, first_flag``, ``in_store`` and the stored ``stored_value, stored_flag``): NULL =
# store; 'duplicate'; or a quarantine reason. The first copy of a key in source order wins.
_OUTCOME_SELECT = """
SELECT rid, station_id, ts, ts_src, parameter, value, value_text, flag, flag_raw, unit_raw, reason,
       CASE
         WHEN reason IS NOT NULL THEN reason
         WHEN later_copy THEN
           CASE WHEN value IS NOT DISTINCT FROM first_value AND flag = first_flag
                THEN 'duplicate' ELSE 'duplicate_conflict' END
         WHEN in_store THEN
           CASE WHEN value IS NOT DISTINCT FROM stored_value AND flag = stored_flag
                THEN 'duplicate' ELSE 'duplicate_conflict' END
       END AS outcome,
       CASE WHEN later_copy THEN 'earlier in this batch' WHEN in_store THEN 'already stored'
       END AS conflict_where,
       CASE WHEN later_copy THEN first_value ELSE stored_value END AS other_value,
       CASE WHEN later_copy THEN first_flag ELSE stored_flag END AS other_flag
FROM j
"""


def _validated_sql(select_sql: str, value_sql_type: str) -> str:
    """The validating SELECT over a normalised source (:func:`normalised_select`) whose
    ``value_raw`` has SQL type ``value_sql_type``: every row with its parsed value and flag and
    ``reason`` (NULL = valid, else the first quarantine reason that applies). Parameters
    ``$flags``, ``$ts_earliest``, ``$ts_latest`` (:func:`_validation_params`); needs ``_et_params``."""
    value_is_text = _is_text(value_sql_type)
    # vx: the value as parsed (NaN possible); value: NaN -> NULL; value_bad: a cell that was
    # given but is neither a number nor a "missing" word. String work runs only on failed casts.
    value_type = value_sql_type.upper()
    if value_is_text:
        # a plain decimal number only: DuckDB's cast also reads '1_000', 'true', 'inf', ' 0x10'
        words = ", ".join(f"'{w}'" for w in MISSING_WORDS)
        vx = (f"CASE WHEN regexp_full_match(trim(value_raw), '{NUMBER_TEXT_RE}') "
              "THEN TRY_CAST(trim(value_raw) AS DOUBLE) END")
        bad = f"(vx IS NULL AND value_raw IS NOT NULL AND upper(trim(value_raw)) NOT IN ({words}))"
    elif value_type in ("DOUBLE", "FLOAT", "REAL"):
        vx, bad = "CAST(value_raw AS DOUBLE)", "FALSE"
    elif value_type in NUMERIC_TYPES or value_type.startswith("DECIMAL"):
        vx, bad = "TRY_CAST(value_raw AS DOUBLE)", "(vx IS NULL AND value_raw IS NOT NULL)"
    else:  # BOOLEAN, DATE, ...: not a measurement even though DuckDB casts some of them
        vx, bad = "NULL::DOUBLE", "(value_raw IS NOT NULL)"
    # the original cell text is kept only when it can differ from the parsed value
    value_text = ("value_raw" if value_is_text else
                  "NULL::VARCHAR" if value_type in ("DOUBLE", "FLOAT", "REAL") else "CAST(value_raw AS VARCHAR)")

    validated = f"""
        WITH src AS ({select_sql}),
        v0 AS (SELECT *, {vx} AS vx FROM src),
        v AS (
            SELECT *, CASE WHEN isnan(vx) THEN NULL ELSE vx END AS value, {bad} AS value_bad,
                   coalesce(nullif(trim(flag_raw), ''), 'N') AS flag,
                   {_unit_sql('unit_raw')} AS unit_key
            FROM v0
        ),
        checked AS (
            SELECT v.*,
                   CASE
                     WHEN v.ts IS NULL THEN 'unparseable_time'
                     WHEN v.ts < $ts_earliest OR v.ts > $ts_latest OR isinf(v.ts) THEN 'implausible_time'
                     WHEN s.station_id IS NULL THEN 'unknown_station'
                     WHEN p.p_name IS NULL THEN 'unknown_parameter'
                     WHEN v.value_bad THEN 'unparseable_value'
                     WHEN v.unit_key IS NOT NULL AND v.unit_key <> p.p_unit_key THEN 'unit_mismatch'
                     WHEN NOT list_contains($flags, v.flag) THEN 'bad_flag'
                     WHEN p.p_conc AND v.value < 0 THEN 'negative_concentration'
                     WHEN v.value < p.p_min OR v.value > p.p_max OR isinf(v.value) THEN 'out_of_physical_range'
                   END AS reason
            FROM v
            LEFT JOIN stations s ON s.station_id = v.station_id
            LEFT JOIN _et_params p ON p.p_name = v.parameter
        )
        SELECT rid, station_id, ts, parameter, value, flag, reason,
               CASE WHEN reason IS NOT NULL THEN CAST(ts_src AS VARCHAR) END AS ts_src,
               CASE WHEN reason IS NOT NULL THEN {value_text} END AS value_text,
               CASE WHEN reason IS NOT NULL THEN flag_raw END AS flag_raw,
               CASE WHEN reason IS NOT NULL THEN unit_raw END AS unit_raw
        FROM checked
    """
    return validated


def _validation_params(window: PlausibleWindow | None) -> tuple[dict, str]:
    """The parameters of :func:`_validated_sql` for a batch starting now, and the window as text."""
    now = utc_now_naive()
    ts_earliest, ts_latest = (window or PlausibleWindow()).bounds(now)
    return ({"flags": list(DATA_FLAGS), "ts_earliest": ts_earliest, "ts_latest": ts_latest},
            (window or PlausibleWindow()).describe(now))


def _run_batch(con, select_sql: str, batch_id: int, source: str, fmt: str, adapter_q: pd.DataFrame,
               cheap_rescan: bool = True, late_rejects: tuple[str, list] | None = None,
               window: PlausibleWindow | None = None, source_rows: int | None = None) -> tuple[IngestReport, bool]:
    """The set-based pipeline; returns the report and whether the store's key rule is already
    proven for the batch (the bulk path checked that the batch repeats no key and that no stored
    reading shares its stations and time range, so :func:`_refuse_repeated_keys` has nothing to find).

    Bulk path (``cheap_rescan``: the source is a DataFrame or Parquet, cheap to read twice):
    validate and insert valid rows in one pass, check the batch for repeated keys and stored
    overlap, then read the source again for the rejected rows only. Staged path (CSV, or when
    the bulk check fails): validate into a temp table, find repeated keys, and classify every
    valid row against earlier rows of the batch and the stored readings before inserting."""
    con.register("_et_params", parameters_table())
    validated = _validated_sql(select_sql, _column_types(con, select_sql)["value_raw"])
    flags, window_text = _validation_params(window)

    n_direct = _insert_if_clean(con, validated, flags, batch_id, fmt) if cheap_rescan and not late_rejects else None
    if n_direct is not None:
        # bulk path: valid rows went straight into readings; stage only the rejected ones (none
        # when the source's row count is known and every row was stored: no second pass then)
        every_row_stored = source_rows is not None and n_direct == source_rows
        n_rejected = 0 if every_row_stored else con.execute(
            f"CREATE TEMP TABLE _et_stage AS SELECT * FROM ({validated}) WHERE reason IS NOT NULL", flags
        ).fetchall()[0][0]
        if not n_rejected and adapter_q.empty:  # every row stored: nothing to quarantine or count
            return IngestReport(batch_id=batch_id, source=source, fmt=fmt, rows_in=n_direct, rows_stored=n_direct), True
        if every_row_stored:  # the adapter's rejects only
            con.execute(f"CREATE TEMP TABLE _et_stage AS SELECT * FROM ({validated}) WHERE FALSE", flags)
        con.execute(
            "CREATE TEMP VIEW _et_cls AS SELECT *, reason AS outcome, NULL::VARCHAR AS conflict_where, "
            "NULL::DOUBLE AS other_value, NULL::VARCHAR AS other_flag FROM _et_stage"
        )
        return _finish_batch(con, batch_id, source, fmt, adapter_q, n_direct, window_text), True

    # 1. normalise and validate in one pass into a temp table (source order kept in rid)
    con.execute(f"CREATE TEMP TABLE _et_stage AS {validated}", flags)
    if late_rejects:
        skipped = con.execute(*late_rejects).df()
        if len(skipped):
            adapter_q = pd.concat([adapter_q, skipped[["raw", "reason", "detail"]]], ignore_index=True)
    # 2. keys offered more than once in this batch (usually none); the first in source order wins.
    # A hash aggregate finds candidate keys cheaply; the exact keys are then confirmed on them.
    n_candidates = con.execute(
        """
        SELECT count(*) FROM (
            SELECT hash(station_id, ts, parameter) AS h FROM _et_stage WHERE reason IS NULL
            GROUP BY h HAVING count(*) > 1
        )
        """
    ).fetchall()[0][0]
    con.execute(
        """
        CREATE TEMP TABLE _et_dupkeys AS
        SELECT station_id, ts, parameter, min(rid) AS first_rid
        FROM _et_stage WHERE reason IS NULL AND ?
        GROUP BY ALL HAVING count(*) > 1
        """,
        [bool(n_candidates)],
    )
    ts_lo, ts_hi = con.execute("SELECT min(ts), max(ts) FROM _et_stage WHERE reason IS NULL").fetchall()[0]
    overlaps = ts_lo is not None and bool(con.execute(
        "SELECT EXISTS (SELECT 1 FROM readings WHERE ts BETWEEN ? AND ? AND station_id IN "
        "(SELECT DISTINCT station_id FROM _et_stage WHERE reason IS NULL))", [ts_lo, ts_hi]
    ).fetchall()[0][0])
    repeats = bool(con.execute("SELECT count(*) FROM _et_dupkeys").fetchall()[0][0])

    if not overlaps and not repeats:
        # 3a. bulk path: every valid row is new
        con.execute(
            "CREATE TEMP VIEW _et_cls AS SELECT *, reason AS outcome, NULL::VARCHAR AS conflict_where, "
            "NULL::DOUBLE AS other_value, NULL::VARCHAR AS other_flag FROM _et_stage"
        )
    else:
        # 3b. outcome per row: NULL = store; 'duplicate'; or a quarantine reason
        con.execute(
            f"""
            CREATE TEMP TABLE _et_cls_t AS
            WITH firsts AS (
                SELECT d.station_id, d.ts, d.parameter, d.first_rid, f.value AS first_value, f.flag AS first_flag
                FROM _et_dupkeys d JOIN _et_stage f ON f.rid = d.first_rid
            ),
            stored AS (
                SELECT station_id, ts, parameter, value AS stored_value, flag AS stored_flag
                FROM readings WHERE ts BETWEEN ? AND ?
            ),
            j AS (
                SELECT st.*, fi.first_rid IS NOT NULL AND st.rid <> fi.first_rid AS later_copy,
                       fi.first_value, fi.first_flag, r.station_id IS NOT NULL AS in_store,
                       r.stored_value, r.stored_flag
                FROM _et_stage st
                LEFT JOIN firsts fi ON st.reason IS NULL AND fi.station_id = st.station_id AND fi.ts = st.ts
                                    AND fi.parameter = st.parameter
                LEFT JOIN stored r ON st.reason IS NULL AND r.station_id = st.station_id AND r.ts = st.ts
                                   AND r.parameter = st.parameter
            )
            {_OUTCOME_SELECT}
            """,
            [ts_lo, ts_hi],
        )
        con.execute("CREATE TEMP VIEW _et_cls AS SELECT * FROM _et_cls_t")
    con.execute(
        """
        INSERT INTO readings (station_id, ts, parameter, value, flag, source, batch_id)
        SELECT station_id, ts, parameter, value, flag, ?, ? FROM _et_cls WHERE outcome IS NULL
        """,
        [fmt, batch_id],
    )
    return _finish_batch(con, batch_id, source, fmt, adapter_q, None, window_text), False


def _store_judged(con, readings: pa.Table, batch_id: int, source: str, fmt: str, adapter_q: pd.DataFrame,
                  window: PlausibleWindow, stations: KnownStations) -> IngestReport:
    """The typed path of :func:`ingest_typed_rows`, inside the batch's transaction: the checks
    and the in-batch key check in Python (:func:`data.judge.judge_rows`), then DuckDB inserts the
    rows whose key is not stored (:func:`_insert_new_keys`: one statement unless some key was).
    Rows to quarantine go through :func:`_finish_batch`
    (the same raw text and details as the SQL path) only when there are any. The key rule is
    proven by the classification itself (under :data:`WRITE_LOCK`, in the batch's transaction:
    a stored row's key was neither in readings nor earlier in the batch)."""
    params, window_text = _validation_params(window)
    judged = judge_rows(readings, stations.known(con, readings.column("station_id")), parameters_table(),
                        params["flags"], (params["ts_earliest"], params["ts_latest"]))
    outcome = judged.outcome
    n_new, stored = _insert_new_keys(con, judged.rows.filter(pa.array(outcome == 0)), batch_id, fmt)
    if stored.num_rows:
        at = stored.column("rid").to_numpy()
        rows = judged.rows
        value, null = values_and_nulls(rows)
        same = same_readings(value[at], null[at], rows.column("flag").take(pa.array(at)),
                             *values_and_nulls(stored), stored.column("flag"))
        outcome[at] = np.where(same, DUPLICATE, CONFLICT)
    n_in, n_dup = len(outcome), int((outcome == DUPLICATE).sum())
    if n_in == n_new + n_dup and adapter_q.empty:  # nothing to quarantine
        return IngestReport(batch_id=batch_id, source=source, fmt=fmt, rows_in=n_in, rows_stored=n_new,
                            rows_duplicate=n_dup)
    con.register("_et_judged", _judged_outcomes(judged, stored))
    con.register("_et_params", parameters_table())
    con.execute(
        "CREATE TEMP VIEW _et_cls AS SELECT rid, station_id, ts, CASE WHEN rejected THEN CAST(ts AS VARCHAR) END "
        "AS ts_src, parameter, value, NULL::VARCHAR AS value_text, flag, flag_raw, NULL::VARCHAR AS unit_raw, "
        "outcome, conflict_where, other_value, other_flag FROM _et_judged")
    report = _finish_batch(con, batch_id, source, fmt, adapter_q, n_new, window_text)
    _drop_temp(con)
    return report


def _insert_new_keys(con, candidates: pa.Table, batch_id: int, fmt: str) -> tuple[int, pa.Table]:
    """Insert the candidate rows whose key is not stored yet; return how many, and ``rid, value,
    flag`` of the stored reading for each candidate whose key was (to tell duplicates from
    conflicts). One statement in the usual batch, where every candidate is new; the stored
    copies are looked up only when some candidate was not inserted. The insert's ``ORDER BY``
    ends the anti-join before the first row is written, so the probe never meets this batch's rows."""
    none = pa.table({"rid": pa.array([], pa.int64()), "value": pa.array([], pa.float64()),
                     "flag": pa.array([], pa.string())})
    if not candidates.num_rows:
        return 0, none
    ts = candidates.column("ts")
    span = [pc.min(ts).as_py(), pc.max(ts).as_py()]
    con.register("_et_new", candidates)
    try:
        inserted = con.execute(
            "INSERT INTO readings (station_id, ts, parameter, value, flag, source, batch_id) "
            "SELECT station_id, ts, parameter, value, flag, ?, ? FROM _et_new n WHERE NOT EXISTS "
            "(SELECT 1 FROM readings r WHERE r.ts BETWEEN ? AND ? AND r.station_id = n.station_id "
            "AND r.ts = n.ts AND r.parameter = n.parameter) ORDER BY rid",
            [fmt, batch_id, *span],
        ).fetchall()[0][0]
        if inserted == candidates.num_rows:
            return int(inserted), none
        rows = con.execute(
            "SELECT n.rid, r.value, r.flag FROM _et_new n JOIN readings r ON r.station_id = n.station_id "
            "AND r.ts = n.ts AND r.parameter = n.parameter WHERE r.ts BETWEEN ? AND ? "
            "AND r.batch_id IS DISTINCT FROM ?",
            [*span, batch_id],
        ).fetchall()
    finally:
        con.unregister("_et_new")
    if inserted + len(rows) != candidates.num_rows:  # each candidate is either inserted or stored before
        raise RuntimeError(f"batch {batch_id}: {candidates.num_rows} new keys, {inserted} inserted, "
                           f"{len(rows)} stored before; rolled back")
    rid, value, flag = zip(*rows, strict=True)
    return int(inserted), pa.table({"rid": pa.array(rid, pa.int64()), "value": pa.array(value, pa.float64()),
                                    "flag": pa.array(flag, pa.string())})


def _judged_outcomes(judged: Judged, stored: pa.Table) -> pa.Table:
    """The rows of a judged batch that are not stored, with what :func:`_finish_batch` reads of
    ``_et_cls``: the outcome, whether a check rejected the row (its source flag and time are then
    quoted), and for a key seen before where (``conflict_where``) and with which value and flag."""
    rows, outcome = judged.rows, judged.outcome
    n = rows.num_rows
    where = np.full(n, None, dtype=object)
    other_at = judged.first_rid.copy()
    later = judged.first_rid != np.arange(n)
    where[later] = "earlier in this batch"
    value, null = values_and_nulls(rows)
    other_value, other_null = value[other_at], null[other_at]
    other_flag = np.asarray(rows.column("flag").to_numpy(zero_copy_only=False), dtype=object)[other_at]
    if stored.num_rows:
        at = stored.column("rid").to_numpy()
        where[at] = "already stored"
        other_value[at], other_null[at] = values_and_nulls(stored)
        other_flag[at] = stored.column("flag").to_numpy(zero_copy_only=False)
    keyed = where != None  # noqa: E711 - numpy's elementwise comparison
    rejected = (outcome > 0) & (outcome < DUPLICATE)
    kept = outcome > 0
    table = rows.append_column("outcome", pa.array(OUTCOMES, pa.string()).take(pa.array(outcome)))
    table = table.append_column("rejected", pa.array(rejected))
    table = table.set_column(table.column_names.index("flag_raw"), "flag_raw",
                             pc.if_else(pa.array(rejected), rows.column("flag_raw"), pa.scalar(None, pa.string())))
    table = table.append_column("conflict_where", pa.array(where, pa.string()))
    table = table.append_column("other_value", pa.array(np.where(keyed, other_value, np.nan),
                                                        mask=~keyed | other_null, type=pa.float64()))
    table = table.append_column("other_flag", pa.array(np.where(keyed, other_flag, None), pa.string()))
    return table.filter(pa.array(kept))


def _insert_if_clean(con, validated: str, flags: dict, batch_id: int, fmt: str) -> int | None:
    """Optimistic bulk path: insert the valid rows directly, then check that the batch repeats
    no key and that no stored reading shares its stations and time range. If either check
    fails the inserted rows are deleted again (same transaction) and None is returned, so the
    caller runs the staged path that classifies every duplicate. Returns the rows inserted."""
    n_inserted = con.execute(
        f"INSERT INTO readings (station_id, ts, parameter, value, flag, source, batch_id) "
        f"SELECT station_id, ts, parameter, value, flag, $fmt, $batch FROM ({validated}) WHERE reason IS NULL",
        {**flags, "fmt": fmt, "batch": batch_id},
    ).fetchall()[0][0]
    repeats, ts_lo, ts_hi = con.execute(  # one scan of the batch's rows: repeated keys and time span
        "SELECT count(*) FILTER (n > 1), min(lo), max(hi) FROM (SELECT hash(station_id, ts, parameter) AS h, "
        "count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM readings WHERE batch_id = ? GROUP BY h)", [batch_id]
    ).fetchall()[0]
    overlaps = ts_lo is not None and con.execute(
        "SELECT EXISTS (SELECT 1 FROM readings WHERE ts BETWEEN ? AND ? AND batch_id IS DISTINCT FROM ? "
        "AND station_id IN (SELECT DISTINCT station_id FROM readings WHERE batch_id = ?))",
        [ts_lo, ts_hi, batch_id, batch_id],
    ).fetchall()[0][0]
    if repeats or overlaps:
        con.execute("DELETE FROM readings WHERE batch_id = ?", [batch_id]).fetchall()
        return None
    return int(n_inserted)


def _finish_batch(con, batch_id: int, source: str, fmt: str, adapter_q: pd.DataFrame,
                  n_stored_direct: int | None, window_text: str = "") -> IngestReport:
    """Quarantine the rejected rows of ``_et_cls`` and the adapter's, and count the outcomes.

    ``_et_adapter_q`` is registered here, where it is read: a receiver batch with nothing to
    quarantine never gets here and skips the registration (~0.2-0.6 ms CPU of a commit's ~25-45 ms,
    session 9 round 2 of benchmarks/results/hj212.md)."""
    con.register("_et_adapter_q", _quarantine_relation(adapter_q))
    # 4. rejected rows (validator's and adapter's), minus those already quarantined earlier
    con.execute(
        f"""
        CREATE TEMP TABLE _et_q AS
        WITH rejected AS (
            SELECT c.rid, CAST(json_object('station_id', c.station_id,
                                           'ts', coalesce(c.ts_src, strftime(c.ts, '%Y-%m-%dT%H:%M:%SZ')),
                                           'parameter', c.parameter,
                                           'value', coalesce(c.value_text, CAST(c.value AS VARCHAR)),
                                           'flag', coalesce(c.flag_raw, c.flag), 'unit', c.unit_raw) AS VARCHAR) AS raw,
                   c.outcome AS reason,
                   {_DETAIL_SQL} AS detail
            FROM _et_cls c LEFT JOIN _et_params p ON p.p_name = c.parameter
            WHERE c.outcome IS NOT NULL AND c.outcome <> 'duplicate'
            UNION ALL
            SELECT -1 - row_number() OVER () AS rid, raw, reason, detail FROM _et_adapter_q
        )
        SELECT rejected.*, EXISTS (SELECT 1 FROM quarantine q WHERE q.raw = rejected.raw
                                   AND q.reason = rejected.reason) AS seen_before
        FROM rejected
        """,
        {"window": window_text},
    )
    con.execute(
        """
        INSERT INTO quarantine (quarantine_id, batch_id, source, raw, reason, detail, received_at)
        SELECT nextval('quarantine_seq'), ?, ?, raw, reason, detail, timezone('UTC', now())
        FROM (SELECT * FROM _et_q WHERE NOT seen_before ORDER BY rid)
        """,
        [batch_id, source],
    )
    n_rows = con.execute(
        "SELECT count(*), count(*) FILTER (outcome IS NULL), count(*) FILTER (outcome = 'duplicate') FROM _et_cls"
    ).fetchall()[0]
    direct = n_stored_direct or 0  # rows the bulk path inserted without staging them
    reasons = dict(con.execute(
        "SELECT reason, count(*) FROM _et_q WHERE NOT seen_before GROUP BY reason ORDER BY reason"
    ).fetchall())
    seen = con.execute("SELECT count(*) FILTER (seen_before) FROM _et_q").fetchall()[0][0]
    return IngestReport(
        batch_id=batch_id,
        source=source,
        fmt=fmt,
        rows_in=int(n_rows[0]) + direct + len(adapter_q),
        rows_stored=int(n_rows[1]) + direct,
        rows_duplicate=int(n_rows[2]) + int(seen),
        rows_quarantined=int(sum(reasons.values())),
        reasons={str(k): int(v) for k, v in reasons.items()},
    )


_DETAIL_SQL = """
CASE outcome
  WHEN 'unparseable_time' THEN 'time ' || coalesce('''' || ts_src || '''', '(empty)')
       || ' is not a date-time (accepted: YYYY-MM-DD[ hh:mm[:ss]] in China Standard Time, or followed by '
       || 'Z, UTC, GMT, an offset up to +-14:00, or an IANA zone name such as Asia/Tokyo)'
  WHEN 'implausible_time' THEN 'time ' || coalesce('''' || ts_src || '''', strftime(ts, '%Y-%m-%d %H:%M:%S'))
       || ' is outside the plausible window ' || $window
  WHEN 'unknown_station' THEN 'station ' || coalesce('''' || station_id || '''', '(empty)')
       || ' is not in the stations table; ingest its station list first'
  WHEN 'unknown_parameter' THEN 'parameter ' || coalesce('''' || parameter || '''', '(empty)')
       || ' is not a name in analytics/vocabulary.py'
  WHEN 'unparseable_value' THEN 'value ''' || value_text || ''' is not a number'
  WHEN 'unit_mismatch' THEN 'unit ''' || unit_raw || ''' is not the canonical unit ' || p_unit || ' of ' || parameter
  WHEN 'bad_flag' THEN 'flag ''' || flag || ''' is not an HJ 212-2017 data flag (N, F, M, S, D, C, T, B)'
  WHEN 'negative_concentration' THEN parameter || ' = ' || CAST(value AS VARCHAR) || ' ' || p_unit
       || ' is a negative concentration'
  WHEN 'out_of_physical_range' THEN parameter || ' = ' || CAST(value AS VARCHAR) || ' ' || p_unit
       || ' is outside the physical range ' || coalesce(CAST(p_min AS VARCHAR), '-inf') || '..'
       || coalesce(CAST(p_max AS VARCHAR), 'inf')
  WHEN 'duplicate_conflict' THEN 'same station, hour and parameter ' || conflict_where || ' with value '
       || coalesce(CAST(other_value AS VARCHAR), 'NULL') || ' flag ' || coalesce(other_flag, 'N')
       || '; this one has ' || coalesce(CAST(value AS VARCHAR), 'NULL') || ' flag ' || flag
       || ' (the first is kept)'
END
"""


# --------------------------------------------------------------------------- stations
def ingest_stations(
    con: duckdb.DuckDBPyConnection,
    stations: pd.DataFrame,
    source: str,
    fmt: str,
    *,
    source_sha256: str | None = None,
) -> IngestReport:
    """Upsert a station list as one atomic batch; invalid rows (no coordinates, unknown kind,
    repeated id ...) are quarantined with reason ``invalid_station`` instead of failing the list.

    Stations already stored with identical values count as duplicates; new or changed ones as stored.
    """
    problems = station_problems(stations)
    repeated = stations["station_id"].duplicated() & (problems == "")
    problems = problems.where(~repeated, "station_id repeated earlier in this list")
    good = stations[problems == ""]
    bad = stations[problems != ""]
    rejected = pd.DataFrame({
        "raw": [_row_json(row) for row in bad.to_dict("records")],
        "reason": "invalid_station",
        "detail": problems[problems != ""].to_list(),
    }) if len(bad) else None
    previous = previous_batch(con, source_sha256)
    finish_pending_result(con)
    con.execute("BEGIN TRANSACTION")
    try:
        batch_id = int(con.execute(
            "INSERT INTO ingest_batches (batch_id, source, source_sha256, format, started_at, status) "
            "VALUES (nextval('batch_seq'), ?, ?, ?, timezone('UTC', now()), 'running') RETURNING batch_id",
            [source, source_sha256, fmt],
        ).fetchall()[0][0])
        unchanged = count_unchanged_stations(con, good)
        upsert_stations(con, good)
        q_new, q_seen, reasons = _store_rejected(con, _adapter_quarantine_frame(rejected), batch_id, source)
        report = IngestReport(
            batch_id=batch_id, source=source, fmt=fmt, rows_in=len(stations),
            rows_stored=len(good) - unchanged, rows_duplicate=unchanged + q_seen, rows_quarantined=q_new,
            reasons=reasons, already_ingested=previous is not None, previous_batch_id=previous, kind="stations",
        )
        report.check()
        _commit_batch(con, report, batch_id)
        return report
    except BaseException:
        con.execute("ROLLBACK")
        _record_failed_batch(con, source, source_sha256, fmt)
        raise
    finally:
        _drop_temp(con)


def _row_json(row: dict) -> str:
    import json

    clean = {k: (None if (not isinstance(v, (list, dict)) and pd.isna(v)) else
                 (v.isoformat() if hasattr(v, "isoformat") else v)) for k, v in row.items()}
    return json.dumps(clean, ensure_ascii=False, default=str)


def _store_rejected(con, rejected: pd.DataFrame, batch_id: int, source: str) -> tuple[int, int, dict[str, int]]:
    """Quarantine adapter-rejected rows not already quarantined with the same raw and reason;
    return (newly quarantined, seen before, reasons of the new ones)."""
    if rejected.empty:
        return 0, 0, {}
    con.register("_et_adapter_q", rejected)
    con.execute(
        """
        CREATE TEMP TABLE _et_q AS
        SELECT row_number() OVER () AS rid, raw, reason, detail,
               EXISTS (SELECT 1 FROM quarantine q WHERE q.raw = a.raw AND q.reason = a.reason) AS seen_before
        FROM _et_adapter_q a
        """
    )
    con.execute(
        """
        INSERT INTO quarantine (quarantine_id, batch_id, source, raw, reason, detail, received_at)
        SELECT nextval('quarantine_seq'), ?, ?, raw, reason, detail, timezone('UTC', now())
        FROM (SELECT * FROM _et_q WHERE NOT seen_before ORDER BY rid)
        """,
        [batch_id, source],
    )
    reasons = dict(con.execute(
        "SELECT reason, count(*) FROM _et_q WHERE NOT seen_before GROUP BY reason").fetchall())
    seen = int(con.execute("SELECT count(*) FILTER (seen_before) FROM _et_q").fetchall()[0][0])
    return int(sum(reasons.values())), seen, {str(k): int(v) for k, v in reasons.items()}


# --------------------------------------------------------------------------- files
MIN_MEMORY_MB = 64


def limit_memory(con: duckdb.DuckDBPyConnection, megabytes: int) -> None:
    """Cap the DuckDB instance of ``con`` at ``megabytes`` (for a process whose work is ingest).

    Why: a file's batch is one transaction, validated set-based; without a cap DuckDB keeps its
    staging, joins and quarantine rows in memory (1.7 GB for an 81 MB file of rejected rows). With
    one, those operators spill to ``<store>.tmp`` beside the store and peak memory stays flat
    whatever the file size (benchmarks/RESULTS.md). The setting is the instance's, so only entry
    points that own their process call this (``envtrust ingest``, ``envtrust hj212 listen``).
    """
    if megabytes < MIN_MEMORY_MB:
        raise ValueError(f"a DuckDB memory limit below {MIN_MEMORY_MB} MB leaves no room to work ({megabytes} MB)")
    con.execute(f"SET memory_limit = '{int(megabytes)}MB'")


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | Path],
    fmt: str = "auto",
    progress: bool = True,
    on_report: Callable[[IngestReport], None] | None = None,
    window: PlausibleWindow | None = None,
) -> list[IngestReport]:
    """Ingest files (CSV, CSV.gz, Parquet) one batch each, station lists first.

    ``fmt``: ``auto`` (detected from the header, see :mod:`data.adapters`), or one of
    :data:`data.adapters.FORMATS`. Raises :class:`IngestError` for a missing or unreadable file
    or an unknown format before anything of that file is stored (earlier files stay stored).
    ``on_report`` is called after each file (the CLI prints its line there).
    """
    paths = [Path(p) for p in paths]
    if fmt != "auto" and fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}; known: auto, {', '.join(FORMATS)}")
    planned: list[tuple[Path, str]] = []
    for path in paths:
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        planned.append((path, detect_format(path) if fmt == "auto" else fmt))
    # station lists before readings, so a directory glob ingests in a working order
    planned.sort(key=lambda pf: 0 if pf[1] in STATION_FORMATS else 1)
    reports: list[IngestReport] = []
    bar = _progress(planned, progress)
    for path, file_fmt in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(path.name)
        report = ingest_one_file(con, path, file_fmt, window=window)
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


def _progress(items: Sequence, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, unit="file", desc="ingest", leave=False)


def ingest_long_file(con: duckdb.DuckDBPyConnection, path: str | Path, source_sha256: str | None = None,
                     window: PlausibleWindow | None = None):
    """Bulk path: DuckDB reads the file and the validator runs on it directly (one batch)."""
    select_sql = long_file_view(con, path)
    try:
        # a CSV is costly to parse twice: it goes through the staged path
        parquet = is_parquet(path)
        return ingest_select(con, select_sql, str(path), "long", source_sha256=source_sha256,
                             cheap_rescan=parquet, late_rejects=None if parquet else malformed_lines_sql(path),
                             window=window)
    finally:
        con.execute("DROP VIEW IF EXISTS _et_file")


def ingest_one_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, window: PlausibleWindow | None = None):
    """Read one file with its adapter and ingest it as one batch; returns an IngestReport.

    A file that turns out unreadable part-way (corrupt gzip or Parquet, undecodable text)
    raises IngestError naming the file; its batch was rolled back, so nothing of it is stored."""
    sha = file_sha256(path)
    source = str(path)
    try:
        if fmt == "long":
            return ingest_long_file(con, path, source_sha256=sha, window=window)
        if fmt in STATION_FORMATS:
            reader = {"stations": read_stations_file, "beijing_stations": beijing.read_beijing_stations,
                      "cnemc_stations": cnemc.read_cnemc_station_list}[fmt]
            return ingest_stations(con, reader(path), source, fmt, source_sha256=sha)
        reader = {"beijing": beijing.read_beijing_csv, "cnemc_day": cnemc.read_cnemc_day}[fmt]
        result = reader(path)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
            KeyError, duckdb.Error, ValueError) as exc:  # ValueError: pyarrow's ArrowInvalid on a damaged Parquet
        if isinstance(exc, IngestError | DuplicateKeyError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IngestError(f"{path}: cannot read as {fmt} ({first}); nothing of this file was stored") from exc
    report = ingest_readings(con, result.readings, source, fmt, quarantined=result.quarantined,
                             source_sha256=sha, window=window)
    report.notes.extend(result.notes)
    return report
