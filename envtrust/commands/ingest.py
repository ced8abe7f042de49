"""Load readings or station lists from files into the store, one atomic batch per file.

Formats (detected from the header; --format overrides): long (station_id, ts, parameter,
value[, flag][, unit]; CSV, CSV.gz or Parquet; naive ts = China Standard Time), beijing (UCI
PRSA multi-site CSV), cnemc_day (quotsoft china_sites_YYYYMMDD.csv), stations, beijing_stations,
cnemc_stations. Station lists given on the same command line are loaded first.

Nothing is dropped silently: each file prints stored / duplicates / quarantined (by reason).
Re-ingesting a file stores nothing new and says "already ingested". Quarantined rows do not make
the command fail (they are kept in the quarantine table; see `envtrust info`); an unreadable file
does (exit code 2, earlier files stay stored).

Example:
  envtrust ingest --db var/envtrust.duckdb data/sample/beijing/* data/sample/cnemc/*
"""

from __future__ import annotations

import argparse
import sys

import duckdb

from data.adapters import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="CSV, CSV.gz or Parquet files")
    parser.add_argument("--db", help="DuckDB file (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS),
                        help="input format (default: detect from each file's header)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--sort", action="store_true",
                        help="afterwards rewrite readings in (station, parameter, ts) order for fast drill-downs")


def run(args: argparse.Namespace) -> int:
    from data.ingest import IngestError, ingest_files, limit_memory
    from data.store import connect, sort_readings
    from envtrust.cli import UserError
    from envtrust.settings import load_settings

    try:
        settings = load_settings(db_path=args.db)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    db = settings.db_path
    try:
        con = connect(db)
    except duckdb.IOException as exc:
        raise UserError(f"cannot open {db} for writing ({str(exc).splitlines()[0]}); "
                        "is another process using it?") from exc
    try:
        try:
            limit_memory(con, settings.ingest_memory_mb)
        except ValueError as exc:
            raise UserError(f"ENVTRUST_INGEST_MEMORY_MB: {exc}") from None

        def emit(report) -> None:
            _print_line(report.line(), not args.no_progress)

        try:
            reports = ingest_files(con, args.files, fmt=args.format, progress=not args.no_progress, on_report=emit,
                                   window=settings.plausible_window)
        except IngestError as exc:
            raise UserError(str(exc)) from exc
        if args.sort:
            sort_readings(con)
        stored = sum(r.rows_stored for r in reports if r.kind == "readings")
        quarantined = sum(r.rows_quarantined for r in reports)
        print(f"{len(reports)} file(s) into {db}: {stored:,} readings stored, {quarantined:,} rows quarantined"
              + (" (see `envtrust info`)" if quarantined else ""))
        return 0
    finally:
        con.close()


def _print_line(text: str, with_bar: bool) -> None:
    if with_bar:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stdout)
    else:
        print(text)
