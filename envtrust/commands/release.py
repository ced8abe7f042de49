"""The official release channel: publish, audit, finalize and correct released values.

    envtrust release publish  --db PATH [--from T] [--to T]         preliminary: valid readings not yet released
    envtrust release audit    --db PATH --from T --to T [--station ID ...] [--note TEXT]
    envtrust release finalize --db PATH --from T --to T [--note TEXT]
    envtrust release correct  --db PATH STATION TIME PARAMETER (VALUE | --withhold) --reason TEXT
    envtrust release target   --db PATH SECTION CLASS --basis TEXT     a water section's GB 3838 target class (1..5)

Times are UTC (ISO 8601). Audit withholds values inside confirmed interference events. A
correction keeps the earlier version (readable with the API's ``history`` scope). Each step brings
the API's serving snapshot beside the store up to date when there is one.
"""

from __future__ import annotations

import argparse
import getpass

from envtrust.cli import UserError, open_store_for_writing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="release_command", metavar="ACTION")
    for name, text in (("publish", "publish valid readings not yet released as preliminary"),
                       ("audit", "promote preliminary values to audited (withholding confirmed interference)"),
                       ("finalize", "close audited values as final")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--db")
        cmd.add_argument("--from", dest="start", required=name != "publish", help="first hour, UTC")
        cmd.add_argument("--to", dest="end", required=name != "publish", help="last hour, UTC")
        if name != "publish":
            cmd.add_argument("--station", action="append", help="only these stations (repeat)")
            cmd.add_argument("--note", default={"audit": "audited", "finalize": "final"}[name])
    fix = sub.add_parser("correct", help="change one released value with a reason")
    fix.add_argument("station")
    fix.add_argument("time", help="the hour, UTC")
    fix.add_argument("parameter")
    fix.add_argument("value", nargs="?", type=float)
    fix.add_argument("--withhold", action="store_true", help="withhold the value instead")
    fix.add_argument("--reason", required=True)
    fix.add_argument("--db")
    target = sub.add_parser("target", help="set a water section's GB 3838 target class (1..5 = I..V)")
    target.add_argument("station")
    target.add_argument("target_class", type=int, metavar="CLASS")
    target.add_argument("--basis", required=True, help="the plan or zoning the target comes from")
    target.add_argument("--db")


def _refresh_serving_snapshot(con, db: str | None) -> None:
    """Bring an existing serving snapshot (``data.snapshot``) to the step's generation, so the
    API's point reads use it from the server's start; a missing one is built by ``envtrust serve``."""
    from data.snapshot import refresh_snapshot
    from envtrust.settings import load_settings

    path = load_settings(db_path=db).serving_snapshot_path
    if path.exists():
        generation, rows = refresh_snapshot(con, path)
        print(f"serving snapshot at generation {generation} ({rows} values written)")


def run(args: argparse.Namespace) -> int:
    from envtrust import release

    if args.release_command is None:
        raise UserError("say what to do: publish, audit, finalize, correct or target (see --help)")
    con = open_store_for_writing(args.db)
    actor = getpass.getuser()
    try:
        if args.release_command == "publish":
            n = release.publish_preliminary(con, args.start or "1970-01-01", args.end or "2100-01-01")
            print(f"{n} values published as preliminary")
        elif args.release_command in ("audit", "finalize"):
            step = release.audit_period if args.release_command == "audit" else release.finalize_period
            counts = step(con, args.start, args.end, actor, note=args.note, station_ids=args.station)
            print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to change")
        elif args.release_command == "target":
            release.set_section_target(con, args.station, args.target_class, args.basis, actor)
            print(f"{args.station}: target class {args.target_class}")
        else:
            if args.withhold == (args.value is not None):
                raise UserError("give either a VALUE or --withhold")
            version = release.correct_value(con, args.station, args.time, args.parameter, args.value, actor,
                                            args.reason, status="withheld" if args.withhold else None)
            print(f"{args.station} {args.time} {args.parameter}: version {version}")
        _refresh_serving_snapshot(con, args.db)
    except (ValueError, release.ReleaseError) as exc:
        raise UserError(str(exc)) from exc
    finally:
        con.close()
    return 0
