"""Bulk files of released data for other departments.

    envtrust export --db PATH --out DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--no-layers]

Writes one Parquet and one CSV file per China Standard Time day (``measurements/date=DAY/``), the
station and section layers as GeoParquet and GeoJSON, ``LICENSE.txt``, ``manifest.json`` (rows,
size, SHA-256, licence per file) and ``SHA256SUMS``. Only released values go out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envtrust.cli import UserError
from envtrust.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--from", dest="first_day", help="first CST day (default: the first released)")
    parser.add_argument("--to", dest="last_day", help="last CST day (default: the last released)")
    parser.add_argument("--no-layers", dest="layers", action="store_false", help="skip the location layers")


def run(args: argparse.Namespace) -> int:
    from data.store import connect
    from envtrust.export import export_release

    path = Path(load_settings(db_path=args.db).db_path)
    if not path.exists():
        raise UserError(f"no envtrust store at {path}")
    con = connect(path, read_only=True)
    try:
        files = export_release(con, Path(args.out), args.first_day, args.last_day, layers=args.layers)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    finally:
        con.close()
    days = sum(1 for f in files if f.path.endswith("measurements.parquet"))
    print(f"{len(files)} files ({days} days) in {args.out}; checksums in {Path(args.out) / 'SHA256SUMS'}")
    return 0
