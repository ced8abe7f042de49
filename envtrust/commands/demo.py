"""Build the demo database: the 12 real Beijing stations (4 years when ../shared/data exists,
else the shipped sample), the ~2,000 national stations with the real 2017-01-01 day, micro-sensor
rings, water sections on real rivers and polluter outlets (synthetic, seeded), demo users, and
plausibility scores when the engine is installed.

Examples:
  envtrust demo --db var/envtrust.duckdb
  envtrust demo --db var/envtrust.duckdb --if-missing      # used by `make run`
  envtrust demo --db /tmp/small.duckdb --sample --seed 7
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envtrust.cli import UserError
from envtrust.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=None,
                        help="DuckDB file to build (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing (but print the demo accounts) when the store already holds the demo")
    parser.add_argument("--sample", action="store_true",
                        help="use the small shipped sample even when ../shared/data is present")
    parser.add_argument("--seed", type=int, default=20170101, help="seed of the synthetic generators (default 20170101)")
    parser.add_argument("--no-score", action="store_true",
                        help="do not run the plausibility engine at the end (run `envtrust score` later)")
    parser.add_argument("--score-days", dest="score_days", type=float, default=None,
                        help="score the most recent N days (default 92; 0 = the whole history)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from data.demo import demo_exists
    from envtrust.demo import accounts_text, build_demo

    db = Path(args.db) if args.db else load_settings().db_path
    if db.exists() and db.is_dir():
        raise UserError(f"{db} is a directory; give a DuckDB file path")
    if args.if_missing and db.exists():
        import duckdb

        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.Error as exc:
            raise UserError(f"cannot open {db}: {exc}") from None
        try:
            exists = demo_exists(con)
        finally:
            con.close()
        if exists:
            _release_if_unreleased(db)
            print(f"{db} already holds the demo; nothing to do.")
            print(accounts_text())
            return 0
    try:
        summary = build_demo(db, full=False if args.sample else None, seed=args.seed,
                             progress=not args.no_progress, score=not args.no_score,
                             score_days=_score_days(args))
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    for line in summary.lines():
        print(line)
    from envtrust.record.service import ensure_signing_key

    record_settings = load_settings(db_path=db)
    if ensure_signing_key(record_settings):  # the recording page signs checkpoints with it
        print(f"record signing key created at {record_settings.record_key_path}")
    print(accounts_text())
    print(f"(accounts also written to {db.resolve().parent / 'demo-accounts.txt'})")
    return 0


def _score_days(args: argparse.Namespace) -> float | None:
    from envtrust.demo import DEMO_SCORE_DAYS

    if args.score_days is None:
        return DEMO_SCORE_DAYS
    return None if args.score_days == 0 else args.score_days


def _release_if_unreleased(db: Path) -> None:
    """A demo store built before the release channel existed gets its release records once."""
    import duckdb

    from data.store import connect
    from envtrust.release import has_release, release_demo

    try:
        con = connect(db)
    except duckdb.Error:
        return  # held open by a server: leave it
    try:
        if not has_release(con):
            counts = release_demo(con)
            print(f"{db}: release records added ({counts})")
    finally:
        con.close()
