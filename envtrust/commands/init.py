"""Create the DuckDB store at --db (if missing), apply pending schema migrations, and create the
record's checkpoint signing key beside it (ENVTRUST_RECORD_KEY) unless it exists."""

from __future__ import annotations

import argparse

from data.store import init_db
from envtrust.record.service import ensure_signing_key, verifier_key_path
from envtrust.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file (default: $ENVTRUST_DB or var/envtrust.duckdb)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(db_path=args.db)
    db = settings.db_path
    version = init_db(db)
    print(f"store {db}: schema version {version}")
    if ensure_signing_key(settings):
        print(f"record signing key created at {settings.record_key_path} (keep it outside the database; "
              f"hand out {verifier_key_path(settings)})")
    return 0
