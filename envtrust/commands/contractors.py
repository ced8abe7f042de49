"""Contractors (运维单位) and laboratories: comparison samples, scorecard, credit history, blacklist.

    envtrust contractors scorecard --db DB --from 2016-12-01 --to 2017-01-10 [--out card.csv]
    envtrust contractors comparison --db DB --from ... --to ... [--out pairs.csv]
    envtrust contractors ingest-samples --db DB FILE.csv      (sample_id, station_id, ts, duration_h,
                                                               parameter, value, lab_id; ts in UTC)
    envtrust contractors credit --db DB CONTRACTOR KIND --reason .. --legal-basis .. --start .. [--end ..] --by ..
    envtrust contractors blacklist --db DB [--on DATE]

Dates are local (CST) days, both included. Bad sample rows are quarantined one by one with a reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from envtrust.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("scorecard", "comparison", "ingest-samples", "credit", "blacklist"))
    parser.add_argument("args", nargs="*", help="ingest-samples: FILE; credit: CONTRACTOR KIND")
    parser.add_argument("--db", help="DuckDB store (default: settings / ENVTRUST_DB)")
    parser.add_argument("--from", dest="first", help="first local day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="last", help="last local day (YYYY-MM-DD)")
    parser.add_argument("--out", help="write the table as CSV")
    parser.add_argument("--reason")
    parser.add_argument("--legal-basis", dest="legal_basis")
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--by")
    parser.add_argument("--on", help="blacklist: the day to list entries in force (default today)")


def window_from_days(first: str | None, last: str | None):
    """UTC window of local days ``first..last`` (both included)."""
    from envtrust.contractors import Window

    if not (first and last):
        raise UserError("need --from and --to (local days, YYYY-MM-DD)")
    try:
        lo = pd.Timestamp(first) - pd.Timedelta(hours=8)
        hi = pd.Timestamp(last) + pd.Timedelta(hours=15)
    except ValueError as exc:
        raise UserError(f"bad date: {exc}") from None
    if hi < lo:
        raise UserError("--to is before --from")
    return Window(lo, hi)


def run(args: argparse.Namespace) -> int:
    from data.store import connect
    from envtrust.settings import load_settings

    settings = load_settings(db_path=args.db)
    if not Path(settings.db_path).exists():
        raise UserError(f"no envtrust store at {settings.db_path}; build one with `envtrust demo`")
    con = connect(settings.db_path)
    try:
        return {"scorecard": _scorecard, "comparison": _comparison, "ingest-samples": _ingest,
                "credit": _credit, "blacklist": _blacklist}[args.action](con, args)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        con.close()


def _write(frame: pd.DataFrame, out: str | None) -> None:
    if out:
        frame.to_csv(out, index=False, encoding="utf-8-sig")
        print(f"wrote {out}")


def _scorecard(con, args) -> int:
    from envtrust.contractors import scorecard

    card = scorecard(con, window_from_days(args.first, args.last))
    if card.empty:
        raise UserError("no contractor has stations assigned in that window")
    for r in card.itertuples():
        print(f"{r.rank:>2} {r.grade} {r.contractor_id:<8} {r.name:<14} score {r.score:5.1f} "
              f"(raw {r.score_raw:5.1f}, {r.n_stations:.0f} stations)  {r.reasons}")
    _write(card, args.out)
    return 0


def _comparison(con, args) -> int:
    from envtrust.contractors import agreement_table, comparison_results

    results = comparison_results(con, window_from_days(args.first, args.last))
    table = agreement_table(results)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}") if not table.empty else "no pairs")
    _write(results, args.out)
    return 0


def _ingest(con, args) -> int:
    from data.contractors import ingest_comparison_samples

    if len(args.args) != 1:
        raise UserError("ingest-samples needs one FILE (CSV or Parquet)")
    path = Path(args.args[0])
    if not path.exists():
        raise UserError(f"no such file: {path}")
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    rep = ingest_comparison_samples(con, frame, str(path))
    print(f"batch {rep.batch_id}: {rep.rows_in} in = {rep.rows_stored} stored + {rep.rows_duplicate} duplicates "
          f"+ {rep.rows_quarantined} quarantined {rep.reasons or ''}")
    return 0


def _credit(con, args) -> int:
    from data.contractors import add_credit_entry

    if len(args.args) != 2:
        raise UserError("credit needs CONTRACTOR KIND")
    if not (args.reason and args.start and args.by):
        raise UserError("credit needs --reason, --legal-basis, --start and --by")
    entry = add_credit_entry(con, args.args[0], args.args[1], args.reason, args.legal_basis or "",
                             args.start, args.end, args.by)
    print(f"credit entry {entry}: {args.args[0]} {args.args[1]} {args.start}..{args.end or '-'}")
    return 0


def _blacklist(con, args) -> int:
    from data.contractors import blacklist

    listed = blacklist(con, on=pd.Timestamp(args.on).date() if args.on else None)
    for r in listed.itertuples():
        print(f"{r.contractor_id:<8} {r.name:<14} {r.start_date}..{r.end_date}  {r.reason}  [{r.legal_basis}]")
    if listed.empty:
        print("no blacklist entry in force")
    _write(listed, args.out)
    return 0
