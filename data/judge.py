"""The ingest's row checks for a typed batch, vectorised over Arrow columns in Python.

Why a Python twin of the validating SQL (``data.ingest._validated_sql``): the HJ 212 receiver
commits every ~50 ms, and DuckDB *plans* the validating and classifying statement (~40
expressions, eight CTEs, four joins) at every commit: ~8-11 ms of CPU whatever the batch size,
and a prepared statement is planned again at each EXECUTE (session 9 round 2 of
``benchmarks/results/hj212.md``). A typed batch (``data.ingest.ingest_typed_rows``: station_id,
ts naive UTC, parameter, float value, flag) already has its columns in memory, so the checks
that need nothing of the store run here, with pyarrow compute and numpy over whole columns; DuckDB
keeps only the duplicate check against stored readings and the inserts.

The facts stay where they are defined: parameter names, ranges and concentration kinds come from
``data.ingest.parameters_table()`` (built from ``analytics/vocabulary.py``), the flag letters
from ``analytics.vocabulary.DATA_FLAGS``, the station ids from the store
(:class:`KnownStations`). What this module defines is the check order, the same as the SQL's,
and ``tests/data/test_judge.py`` holds the two to the same outcome row by row.

The file ingest keeps the SQL: DuckDB reads files itself (``read_parquet`` / ``read_csv``,
streamed, memory-capped), parses text values and time zones there, and plans the statement once
per file, not once per 50 ms.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# the reasons a typed row can get from the checks, in the SQL's order (a DOUBLE value is never
# ``unparseable_value``, and a typed batch has no unit column, so no ``unit_mismatch``)
TYPED_REASONS: tuple[str, ...] = (
    "unparseable_time",
    "implausible_time",
    "unknown_station",
    "unknown_parameter",
    "bad_flag",
    "negative_concentration",
    "out_of_physical_range",
)
# what a row's outcome code means: 0 = store it, then the check reasons, then the key outcomes
OUTCOMES: tuple[str | None, ...] = (None, *TYPED_REASONS, "duplicate", "duplicate_conflict")
DUPLICATE = OUTCOMES.index("duplicate")
CONFLICT = OUTCOMES.index("duplicate_conflict")
KEY = ["station_id", "ts", "parameter"]


@functools.cache
def space_separators() -> str:
    """The characters DuckDB's one-argument ``trim`` removes: Unicode category Zs (space, no-break
    space, ideographic space ...; not tab or newline). Computed once per process (~0.2 s)."""
    return "".join(ch for ch in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(ch) == "Zs")


def normalised_flags(flag_raw: pa.Array) -> pa.Array:
    """A row's data flag as the SQL reads it: ``coalesce(nullif(trim(flag_raw), ''), 'N')``."""
    trimmed = pc.utf8_trim(flag_raw.cast(pa.string()), characters=space_separators())
    return pc.fill_null(pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed), "N")


def finite_or_null(values: pa.Array) -> pa.Array:
    """Values with NaN read as missing (NULL), as the SQL stores them."""
    values = values.cast(pa.float64())
    return pc.if_else(pc.fill_null(pc.is_nan(values), False), pa.scalar(None, pa.float64()), values)


def _as_bool(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_float(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """float64 numpy with NULL as NaN (a comparison with NaN is False, as with NULL in SQL)."""
    return np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def values_and_nulls(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NULL as NaN, NULL mask) of a table's ``value`` column: NaN stored
    as a value and a missing value are told apart by the mask."""
    column = table.column("value")
    return _as_float(column), _as_bool(column.is_null())


def _ts_micros(ts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since 1970 as int64, null mask) of a naive timestamp column."""
    ts = ts.cast(pa.timestamp("us"))
    null = _as_bool(ts.is_null())
    micros = np.asarray(pc.fill_null(ts.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return micros, null


def _micros(when: datetime) -> int:
    return int(np.datetime64(when, "us").astype(np.int64))


def check_reasons(rows: pa.Table, known_station: np.ndarray, params: pa.Table, flags: Iterable[str],
                  ts_bounds: tuple[datetime, datetime]) -> np.ndarray:
    """Outcome code (:data:`OUTCOMES`) of each row's checks: 0 = passes, else the first reason that
    applies, in the SQL's order. ``rows``: station_id, ts, parameter, value (NaN already NULL),
    flag (normalised); ``known_station``: per row, whether the store has the station;
    ``params``: ``p_name, p_min, p_max, p_conc``; ``ts_bounds``: the plausible window (naive UTC)."""
    micros, ts_null = _ts_micros(rows.column("ts"))
    lo, hi = (_micros(t) for t in ts_bounds)  # DuckDB's +-infinity are int64's extremes: outside too
    at = pc.index_in(rows.column("parameter"), value_set=params.column("p_name"))
    param_known = _as_bool(pc.is_valid(at))
    at = pc.fill_null(at, 0)
    p_min, p_max = (_as_float(params.column(c).take(at)) for c in ("p_min", "p_max"))
    p_conc = _as_bool(params.column("p_conc").take(at))
    value = _as_float(rows.column("value"))
    with np.errstate(invalid="ignore"):
        checks = [
            ts_null,
            (micros < lo) | (micros > hi),
            ~known_station,
            ~param_known,
            ~_as_bool(pc.is_in(rows.column("flag"), value_set=pa.array(list(flags), pa.string()))),
            p_conc & (value < 0),
            (value < p_min) | (value > p_max) | np.isinf(value),
        ]
    codes = np.select(checks, np.arange(1, len(checks) + 1, dtype=np.int8), default=0)
    return codes.astype(np.int8)


def first_copy_rids(rows: pa.Table, candidate: np.ndarray) -> np.ndarray:
    """Per row, the rid of the first candidate row (source order) with the same key; the row's own
    rid when it is the first or not a candidate. ``rows`` has ``rid`` = 0..n-1."""
    first = np.arange(rows.num_rows, dtype=np.int64)
    keyed = rows.select([*KEY, "rid"]).filter(pa.array(candidate, pa.bool_()))
    groups = keyed.group_by(KEY, use_threads=False).aggregate([("rid", "min")])
    if groups.num_rows == keyed.num_rows:  # no key twice: the usual batch
        return first
    joined = keyed.join(groups, keys=KEY, use_threads=False)
    first[joined.column("rid").to_numpy()] = joined.column("rid_min").to_numpy()
    return first


def same_readings(value_a: np.ndarray, null_a: np.ndarray, flag_a: pa.Array,
                  value_b: np.ndarray, null_b: np.ndarray, flag_b: pa.Array) -> np.ndarray:
    """``value_a IS NOT DISTINCT FROM value_b AND flag_a = flag_b`` row by row (DuckDB: NaN equals
    NaN; a NULL flag equals nothing)."""
    with np.errstate(invalid="ignore"):
        values_equal = (value_a == value_b) | (np.isnan(value_a) & np.isnan(value_b) & ~null_a & ~null_b)
    same_value = np.where(null_a | null_b, null_a & null_b, values_equal)
    return same_value & _as_bool(pc.equal(flag_a, flag_b))


@dataclass(frozen=True)
class Judged:
    """A typed batch after the checks and the in-batch key check: ``rows`` (rid, station_id, ts,
    parameter, value with NaN as NULL, flag normalised, flag_raw), ``outcome`` code per row
    (:data:`OUTCOMES`), and for later copies of a key the row that came first (``first_rid``)."""

    rows: pa.Table
    outcome: np.ndarray
    first_rid: np.ndarray

    def candidates(self) -> np.ndarray:
        """Rows that passed every check and are the first of their key in the batch."""
        return self.outcome == 0


def judge_rows(readings: pa.Table, known_station: np.ndarray, params: pa.Table, flags: Iterable[str],
               ts_bounds: tuple[datetime, datetime]) -> Judged:
    """Check a typed batch (``station_id, ts, parameter, value[, flag]``) and mark later copies of
    a key within it: the same value and flag as the first copy -> duplicate, else
    duplicate_conflict (the first one wins). What needs the stored readings is the caller's."""
    n = readings.num_rows
    flag_raw = readings.column("flag") if "flag" in readings.column_names else pa.nulls(n, pa.string())
    rows = pa.table({
        "rid": pa.array(np.arange(n, dtype=np.int64)),
        "station_id": readings.column("station_id").cast(pa.string()),
        "ts": readings.column("ts").cast(pa.timestamp("us")),
        "parameter": readings.column("parameter").cast(pa.string()),
        "value": finite_or_null(readings.column("value")),
        "flag": normalised_flags(flag_raw),
        "flag_raw": flag_raw.cast(pa.string()),
    })
    outcome = check_reasons(rows, known_station, params, flags, ts_bounds)
    first = first_copy_rids(rows, outcome == 0)
    later = first != np.arange(n)
    if later.any():
        value, null = values_and_nulls(rows)
        flag = rows.column("flag")
        at = first[later]
        same = same_readings(value[later], null[later], flag.filter(pa.array(later)),
                             value[at], null[at], flag.take(pa.array(at)))
        outcome[later] = np.where(same, DUPLICATE, CONFLICT)
    return Judged(rows, outcome, first)


class KnownStations:
    """The store's station ids for one connection, read once and read again when a batch names a
    station not among them (a station registered while the receiver runs). Stations are added or
    updated by envtrust, never deleted, so an id once seen stays known."""

    def __init__(self) -> None:
        self._ids: pa.Array | None = None

    def known(self, con: duckdb.DuckDBPyConnection, station_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Per row, whether ``stations`` has the row's station id (NULL: no)."""
        if self._ids is not None:
            hit = _as_bool(pc.is_in(station_ids, value_set=self._ids))
            if not (~hit & _as_bool(pc.is_valid(station_ids))).any():  # no id missing but NULLs
                return hit
        self._ids = pa.array(
            [r[0] for r in con.execute("SELECT station_id FROM stations").fetchall()], pa.string())
        return _as_bool(pc.is_in(station_ids, value_set=self._ids))
