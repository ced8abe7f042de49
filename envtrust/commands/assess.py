"""Assess cities or counties over a period: capture rates, GB 3095 validity, HJ 663 statistics and
composite index, the ranking - raw and with the substitution (penalty) policy, side by side.

    envtrust assess --db var/envtrust.duckdb --period 2016 --level county [--out assess.csv]
    envtrust assess --period 2016-12 --level city --policy mee-2015-175-month
    envtrust assess --excuse STATION FIRST_UTC LAST_UTC REASON --by NAME   (accepted reason for missing data)

Periods: YYYY, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (local dates). The policy defaults to the
settings' ENVTRUST_SUBSTITUTION_POLICY (jinan-2018: 1.5 x the city's highest value of the hour).
The run is stored in the database for the dashboard; --out writes the table as CSV.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envtrust.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB store (default: settings / ENVTRUST_DB)")
    parser.add_argument("--period", help="YYYY, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (local dates)")
    parser.add_argument("--level", choices=("city", "county"), default="city")
    parser.add_argument("--policy", help="substitution policy id (default: from settings)")
    parser.add_argument("--window", choices=("hour", "day", "month"), help="override the policy's window")
    parser.add_argument("--out", help="write the units table as CSV (UTF-8 with BOM, opens in Excel)")
    parser.add_argument("--no-save", dest="save", action="store_false", help="do not store the run")
    parser.add_argument("--excuse", nargs=4, metavar=("STATION", "FIRST_UTC", "LAST_UTC", "REASON"),
                        help="record an accepted reason for missing data instead of assessing")
    parser.add_argument("--by", help="who approved the excuse / ran the assessment")
    parser.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from data.store import connect
    from envtrust.settings import load_settings

    settings = load_settings(db_path=args.db)
    if not Path(settings.db_path).exists():
        raise UserError(f"no envtrust store at {settings.db_path}; build one with `envtrust demo`")
    con = connect(settings.db_path)
    try:
        if args.excuse:
            return _excuse(con, args)
        if not args.period:
            raise UserError("need --period (YYYY, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD)")
        return _assess(con, settings, args)
    finally:
        con.close()


def _excuse(con, args) -> int:
    from data.assessment import add_excuse

    if not args.by:
        raise UserError("--excuse needs --by (who approved it)")
    station, first, last, reason = args.excuse
    try:
        excuse_id = add_excuse(con, station, first, last, reason, args.by)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not args.quiet:
        print(f"excuse {excuse_id}: {station} {first}..{last} ({reason}), approved by {args.by}")
    return 0


def _assess(con, settings, args) -> int:
    from envtrust.assessment import policy_from_settings, run_assessment, units_export

    try:
        policy = policy_from_settings(settings, args.policy, args.window)
        run_id, result = run_assessment(con, args.period, args.level, policy, save=args.save, by=args.by)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    units = result.units
    if units.empty:
        raise UserError(f"no standard station reported in {args.period}; nothing to assess")
    if args.out:
        units_export(units).to_csv(args.out, index=False, encoding="utf-8-sig")
    if not args.quiet:
        print(f"{run_id}: {len(units)} {args.level} units, period {result.period.label}, policy {policy.label} "
              f"(factor {policy.factor:g}, window {policy.window})")
        print(f"{'rank':>4} {'raw':>4} {'unit':<8} {'name':<12} {'index raw':>9} {'index pen':>9} "
              f"{'capture':>7} {'subst h':>7}")
        for u in units.itertuples():
            rp = "-" if u.rank_pen != u.rank_pen else f"{u.rank_pen:.0f}"
            rr = "-" if u.rank_raw != u.rank_raw else f"{u.rank_raw:.0f}"
            print(f"{rp:>4} {rr:>4} {u.unit:<8} {str(u.name)[:12]:<12} {u.index_raw:9.3f} {u.index_pen:9.3f} "
                  f"{u.capture_rate:7.1%} {u.substituted_hours:7d}")
        if args.out:
            print(f"wrote {args.out}")
    return 0
