"""The generic long format: ``station_id, ts, parameter, value[, flag][, unit]`` in CSV
(optionally gzip) or Parquet, canonical units (``analytics/vocabulary.py``).

Time: a naive ``ts`` is China Standard Time (UTC+8) and converted to UTC; a ``ts`` with a zone
(``Z``, ``UTC``, ``GMT``, an offset ``+08:00``/``+0800``/``+08`` up to +-14 h, or an IANA name such
as ``Asia/Tokyo``) or a tz-aware Parquet column is converted from its own zone; any other zone
text (``CST``, ``EST``, ``+99:99``) and words (``infinity``, ``epoch``) are refused as
``unparseable_time``. Column names are exact (lower case). Extra columns are ignored.

Files are read by DuckDB itself (``read_parquet`` / ``read_csv``), never row by row in
Python: this is the bulk path measured in ``benchmarks/ingest.py``. CSV cells are read as
text and cast with TRY_CAST, so one bad cell deep in a file is quarantined instead of
failing the file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from data.adapters.base import (
    LONG_REQUIRED,
    AdapterResult,
    IngestError,
    empty_quarantine,
    is_gzip,
    is_parquet,
    normalised_select,
)

# text times: a local date-time, then at most one zone notation. Each notation is honoured or the
# time is refused (NULL -> unparseable_time); nothing is silently read as China time except a
# time with no zone at all (the file contract). Abbreviations other than UTC/GMT (CST is China
# Standard Time to a Chinese reader and US Central to DuckDB) are refused as ambiguous.
_LOCAL_RE = r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
_UTC_RE = _LOCAL_RE + r"\s*(Z|z|UTC|GMT)"
_OFFSET_RE = _LOCAL_RE + r"\s*[+-]((0\d|1[0-3])(:?[0-5]\d)?|14(:?00)?)"  # real offsets: -12:00 .. +14:00
_IANA_RE = _LOCAL_RE + r"\s+[A-Za-z_]+(/[A-Za-z0-9_+\-]+)+"  # Asia/Tokyo, America/Argentina/Salta


def text_ts_utc_sql(col: str) -> str:
    """SQL turning a text time column into naive UTC by the rules above (NULL when refused)."""
    t = f"trim({col})"
    return (f"CASE WHEN regexp_full_match({t}, '{_LOCAL_RE}') THEN TRY_CAST({t} AS TIMESTAMP) - INTERVAL 8 HOUR "
            f"WHEN regexp_full_match({t}, '{_UTC_RE}') "
            f"THEN TRY_CAST(regexp_extract({t}, '^{_LOCAL_RE}', 0) AS TIMESTAMP) "
            f"WHEN regexp_full_match({t}, '{_OFFSET_RE}') OR regexp_full_match({t}, '{_IANA_RE}') "
            f"THEN timezone('UTC', TRY_CAST({t} AS TIMESTAMPTZ)) END")


def _ts_utc_expr(sql_type: str) -> str:
    """SQL turning the file's ``ts`` column (of this DuckDB type) into naive UTC, NULL if unparseable."""
    t = sql_type.upper()
    if t.startswith("TIMESTAMP WITH TIME ZONE"):
        return "timezone('UTC', ts)"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return "CAST(ts AS TIMESTAMP) - INTERVAL 8 HOUR"
    if t.startswith("VARCHAR"):
        return text_ts_utc_sql("ts")
    return "NULL::TIMESTAMP"


def long_file_view(con: duckdb.DuckDBPyConnection, path: str | Path, view: str = "_et_file") -> str:
    """Create a temp view over the file and return the normalised SELECT (ts in UTC) for
    :func:`data.ingest.ingest_select`. Raises IngestError when unreadable or columns are missing."""
    path = Path(path)
    # DuckDB 2.0 refuses a new relation while an earlier execute() result is unfinished
    # (e.g. a fetchone() elsewhere); running a statement to completion clears it
    con.execute("SELECT 1").fetchall()
    try:
        if is_parquet(path):
            rel = con.read_parquet(str(path), file_row_number=True)
        else:
            # RFC 4180 quoting fixed (not sniffed); malformed lines are skipped by the reader and
            # recorded in DuckDB's reject tables, from where they are quarantined (malformed_line)
            rel = con.read_csv(str(path), header=True, all_varchar=True, sep=",", quotechar='"', escapechar='"',
                               store_rejects=True, ignore_errors=True,
                               compression="gzip" if is_gzip(path) else "none")
        columns = dict(zip(rel.columns, rel.types, strict=True))
        rel.create_view(view, replace=True)
    except (duckdb.Error, OSError) as exc:
        raise IngestError(f"{path}: cannot read as a long CSV/Parquet file ({str(exc).splitlines()[0]})") from exc
    missing = [c for c in LONG_REQUIRED if c not in columns]
    if missing:
        raise IngestError(f"{path}: long format needs columns {', '.join(LONG_REQUIRED)}[, flag][, unit]; "
                          f"missing {', '.join(missing)}")
    # Parquet gives its row number; for CSV, row_number() OVER () follows the scan order
    rid = "file_row_number" if "file_row_number" in columns else "row_number() OVER ()"
    return normalised_select(view, _ts_utc_expr(str(columns["ts"])), "flag" in columns, "unit" in columns, rid)


def malformed_lines_sql(path: str | Path) -> tuple[str, list]:
    """(sql, params): the lines DuckDB's CSV reader rejected in its latest scan of ``path``
    (too many/few columns, bad quoting, invalid UTF-8), one quarantine row per line."""
    sql = """
        SELECT CAST(json_object('line', line, 'text', any_value(csv_line)) AS VARCHAR) AS raw,
               'malformed_line' AS reason,
               'CSV line ' || line || ': ' || string_agg(DISTINCT error_type, ', ') || ' ('
               || min(error_message) || ')' AS detail
        FROM reject_errors
        WHERE scan_id = (SELECT max(scan_id) FROM reject_scans WHERE file_path = ?)
        GROUP BY line ORDER BY line
    """
    return sql, [str(path)]


def read_long(path: str | Path) -> AdapterResult:
    """Read a long file into a DataFrame (ts naive UTC). Rows whose time cannot be parsed are
    returned in ``quarantined`` (reason ``unparseable_time``) with the original text."""
    con = duckdb.connect()
    try:
        select_sql = long_file_view(con, path)
        frame = con.execute(
            f"SELECT *, CAST(ts_src AS VARCHAR) AS ts_text, CAST(json_object('station_id', station_id, "
            f"'ts', CAST(ts_src AS VARCHAR), 'parameter', parameter, "
            f"'value', CAST(value_raw AS VARCHAR), 'flag', flag_raw, 'unit', unit_raw) AS VARCHAR) AS raw "
            f"FROM ({select_sql})"
        ).df()
        malformed = empty_quarantine() if is_parquet(path) else con.execute(*malformed_lines_sql(path)).df()
    finally:
        con.close()
    bad = frame["ts"].isna()
    quarantined = pd.DataFrame({
        "raw": frame.loc[bad, "raw"],
        "reason": "unparseable_time",
        "detail": "time " + frame.loc[bad, "ts_text"].fillna("(empty)").astype(str) + " is not a date-time",
    })
    quarantined = pd.concat([quarantined, malformed], ignore_index=True)
    readings = frame.loc[~bad, ["station_id", "ts", "parameter", "value_raw", "flag_raw", "unit_raw"]]
    readings = readings.rename(columns={"value_raw": "value", "flag_raw": "flag", "unit_raw": "unit"})
    return AdapterResult(readings.reset_index(drop=True), quarantined)


def read_stations_file(path: str | Path) -> pd.DataFrame:
    """A generic station table (CSV or Parquet) with the stations-table column names."""
    path = Path(path)
    if is_parquet(path):
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype={"station_id": str, "parent_station": str, "upstream_station": str,
                                         "province_code": str, "city_code": str, "county_code": str,
                                         "town_code": str, "hj212_mn": str})
    for col in ("active_from", "active_to"):
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col])
    return frame
