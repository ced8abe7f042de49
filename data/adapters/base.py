"""What every source adapter shares: the result type, the file sniffing, the format table and the
one error a file that cannot be read at all raises."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd


class IngestError(ValueError):
    """A file or frame that cannot be read at all (wrong columns, unreadable file): nothing stored."""

READING_FORMATS: tuple[str, ...] = ("long", "beijing", "cnemc_day")
STATION_FORMATS: tuple[str, ...] = ("stations", "beijing_stations", "cnemc_stations")
FORMATS: tuple[str, ...] = READING_FORMATS + STATION_FORMATS

LONG_REQUIRED: tuple[str, ...] = ("station_id", "ts", "parameter", "value")

# what a text value may hold to be read as a number: optional sign, decimal digits, optional
# exponent. Python's float() and DuckDB's cast also take '1_000', 'true', 'inf', 'nan', ' 0x10'.
NUMBER_TEXT_RE = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"


class AdapterResult(NamedTuple):
    """Long readings (station_id, ts naive UTC, parameter, value, flag) and the source records
    the adapter rejected (raw, reason, detail). ``notes``: what was deliberately skipped."""

    readings: pd.DataFrame
    quarantined: pd.DataFrame
    notes: tuple[str, ...] = ()


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({"raw": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object),
                         "detail": pd.Series([], dtype=object)})


def is_parquet(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def is_gzip(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def decode_bytes(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (the encoding of quotsoft/CNEMC originals)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def header_columns(path: str | Path) -> list[str]:
    """Column names of a CSV (gzip or not) or Parquet file, without reading the data."""
    path = Path(path)
    try:
        if is_parquet(path):
            return list(duckdb.connect().read_parquet(str(path)).columns)
        with open_text(path) as handle:
            first = handle.readline(1 << 20)
    except (OSError, EOFError, duckdb.Error) as exc:
        raise IngestError(f"{path}: cannot read ({exc})") from exc
    try:
        text = decode_bytes(first)
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: not a text file in UTF-8 or GB18030") from exc
    return [c.strip().strip('"').strip() for c in text.strip().split(",")]


def detect_format(path: str | Path) -> str:
    """The format named by the file's header (see the module table); IngestError if none fits."""
    cols = header_columns(path)
    if not any(cols):
        raise IngestError(f"{path}: the file is empty (no header line)")
    lower = [c.lower() for c in cols]
    if all(c in cols for c in LONG_REQUIRED):
        return "long"
    if all(c in cols for c in ("station_id", "name", "kind", "lon", "lat")):
        return "stations"
    if lower[:5] == ["no", "year", "month", "day", "hour"] and "station" in lower:
        return "beijing"
    if lower[:3] == ["date", "hour", "type"]:
        return "cnemc_day"
    if "station" in lower and "cnemc_code" in lower:
        return "beijing_stations"
    if cols and cols[0] == "监测点编码":
        return "cnemc_stations"
    shown = ", ".join(cols[:8]) + (" ..." if len(cols) > 8 else "")
    raise IngestError(
        f"{path}: cannot tell the format from the header ({shown}); use --format with one of {', '.join(FORMATS)}"
    )


def open_text(path: str | Path):
    """Open a CSV that may be gzip-compressed, as bytes."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes (to recognise a re-ingest of the same content)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def normalised_select(relation: str, ts_utc_expr: str, has_flag: bool, has_unit: bool, rid_expr: str) -> str:
    """SELECT giving the columns the validator reads: rid (source order, for "first one wins"),
    station_id, ts (UTC or NULL), ts_src (the source column as read), parameter, value_raw, flag_raw, unit_raw.
    ``relation``, ``ts_utc_expr`` and ``rid_expr`` are internal SQL, never user text."""
    return (
        f"SELECT {rid_expr} AS rid, CAST(station_id AS VARCHAR) AS station_id, "
        f"{ts_utc_expr} AS ts, ts AS ts_src, "
        "CAST(parameter AS VARCHAR) AS parameter, value AS value_raw, "
        f"{'CAST(flag AS VARCHAR)' if has_flag else 'NULL::VARCHAR'} AS flag_raw, "
        f"{'CAST(unit AS VARCHAR)' if has_unit else 'NULL::VARCHAR'} AS unit_raw "
        f"FROM {relation}"
    )
