"""Show what is in a store: stations by kind, readings by parameter with their time range
(local time) and count, quarantined rows by reason, ingest batches, and the check that every
row offered to ingest is accounted for (rows in = stored + duplicates + quarantined).

Opens the store read-only, so it can run while the dashboard serves it.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file (default: $ENVTRUST_DB or var/envtrust.duckdb)")


def run(args: argparse.Namespace) -> int:
    import duckdb

    from data.info import format_info, store_info
    from data.store import connect
    from envtrust.cli import UserError
    from envtrust.settings import load_settings

    settings = load_settings(db_path=args.db)
    try:
        con = connect(settings.db_path, read_only=True)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from exc
    except duckdb.Error as exc:
        raise UserError(f"cannot open {settings.db_path} ({str(exc).splitlines()[0]})") from exc
    try:
        info = store_info(con)
    except duckdb.CatalogException as exc:
        raise UserError(f"{settings.db_path} is not an envtrust store ({str(exc).splitlines()[0]})") from exc
    finally:
        con.close()
    print(f"store {settings.db_path}")
    print(format_info(info, settings.display_tz))
    return 0 if info.rows_balance == 0 else 1
