"""Source adapters: each turns one source format into long readings (ts naive UTC) or stations.

Formats (``envtrust ingest --format``; ``auto`` detects from the header):

============== ============================================================== ==============
format         header that identifies it                                      module
============== ============================================================== ==============
long           ``station_id, ts, parameter, value[, flag][, unit]`` (CSV/Parquet) ``long``
beijing        ``No, year, month, day, hour, PM2.5, ...`` (UCI PRSA files)     ``beijing``
cnemc_day      ``date, hour, type, <station codes>...`` (quotsoft daily)       ``cnemc``
stations       ``station_id, name, kind, lon, lat, ...`` (CSV/Parquet)         ``long``
beijing_stations ``station, cnemc_code, name_zh, lon, lat, ...``               ``beijing``
cnemc_stations ``监测点编码, 监测点名称, 城市, 经度, 纬度, ...``               ``cnemc``
============== ============================================================== ==============
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd

READING_FORMATS: tuple[str, ...] = ("long", "beijing", "cnemc_day")
STATION_FORMATS: tuple[str, ...] = ("stations", "beijing_stations", "cnemc_stations")
FORMATS: tuple[str, ...] = READING_FORMATS + STATION_FORMATS

LONG_REQUIRED: tuple[str, ...] = ("station_id", "ts", "parameter", "value")


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
    from data.ingest import IngestError, open_text

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
    from data.ingest import IngestError

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


def ingest_one_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: str):
    """Read one file with its adapter and ingest it as one batch; returns an IngestReport.

    A file that turns out unreadable part-way (corrupt gzip or Parquet, undecodable text)
    raises IngestError naming the file; its batch was rolled back, so nothing of it is stored."""
    import zlib

    from data.adapters import beijing, cnemc, long
    from data.ingest import IngestError, file_sha256, ingest_readings, ingest_stations

    sha = file_sha256(path)
    source = str(path)
    try:
        if fmt == "long":
            return long.ingest_long_file(con, path, source_sha256=sha)
        if fmt in STATION_FORMATS:
            reader = {"stations": long.read_stations_file, "beijing_stations": beijing.read_beijing_stations,
                      "cnemc_stations": cnemc.read_cnemc_station_list}[fmt]
            return ingest_stations(con, reader(path), source, fmt, source_sha256=sha)
        reader = {"beijing": beijing.read_beijing_csv, "cnemc_day": cnemc.read_cnemc_day}[fmt]
        result = reader(path)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError,
            KeyError, duckdb.IOException, duckdb.InvalidInputException) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IngestError(f"{path}: cannot read as {fmt} ({first}); nothing of this file was stored") from exc
    report = ingest_readings(con, result.readings, source, fmt, quarantined=result.quarantined,
                             source_sha256=sha)
    report.notes.extend(result.notes)
    return report
