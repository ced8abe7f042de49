"""Create the DuckDB store at --db (if missing) and apply pending schema migrations."""

from __future__ import annotations

import argparse

from data.store import init_db
from envtrust.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file (default: $ENVTRUST_DB or var/envtrust.duckdb)")


def run(args: argparse.Namespace) -> int:
    db = load_settings(db_path=args.db).db_path
    version = init_db(db)
    print(f"store {db}: schema version {version}")
    return 0
