"""The closed loop from the command line: alarms, cases, the webhook outbox (docs/cases.md).

    envtrust case alarms [--days 7]                 run the alarm rules over the recent window
    envtrust case list [--state investigating] [--overdue]
    envtrust case show CASE_ID
    envtrust case open --user analyst --role analyst --title "..." [--alarm A..] [--event E..] [--tip T..]
    envtrust case move CASE_ID ACTION --user enforcer --role enforcement --version N [--reason ..] [--field k=v]
    envtrust case evidence CASE_ID --out pack.html [--pdf pack.pdf]
    envtrust case deliver [--loop SECONDS]          send due webhook pushes (ENVTRUST_WEBHOOK_URL/_SECRET)
    envtrust case outbox                            the delivery log

Each case change is checked like the dashboard's (role, state, required fields, version) and
written to the audit record.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from envtrust.cli import UserError
from envtrust.settings import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)")
    sub = parser.add_subparsers(dest="case_command", metavar="ACTION")
    al = sub.add_parser("alarms", help="run the alarm rules over the recent window")
    al.add_argument("--days", type=float, default=7.0, help="window before the newest reading (default 7)")
    al.add_argument("--missing-hours", type=int, default=None,
                    help="data-missing alarm after this many hours (default: the shortest gap that can cost a "
                         "valid day, GB 3095-2012 table 4: 5)")
    ls = sub.add_parser("list", help="cases with state and clock")
    ls.add_argument("--state", help="only cases in this state")
    ls.add_argument("--overdue", action="store_true", help="only cases past their clock")
    sh = sub.add_parser("show", help="one case with its history")
    sh.add_argument("case_id")
    op = sub.add_parser("open", help="open a case (state 发现 found)")
    op.add_argument("--user", required=True)
    op.add_argument("--role", required=True)
    op.add_argument("--title", required=True)
    op.add_argument("--station")
    op.add_argument("--alarm", action="append", default=[])
    op.add_argument("--event", action="append", default=[])
    op.add_argument("--tip")
    op.add_argument("--legal-type")
    mv = sub.add_parser("move", help="take an action on a case (a transition)")
    mv.add_argument("case_id")
    mv.add_argument("action")
    mv.add_argument("--user", required=True)
    mv.add_argument("--role", required=True)
    mv.add_argument("--version", type=int, required=True, help="the version you read (optimistic check)")
    mv.add_argument("--reason")
    mv.add_argument("--field", action="append", default=[], metavar="NAME=VALUE")
    ev = sub.add_parser("evidence", help="write the frozen evidence pack")
    ev.add_argument("case_id")
    ev.add_argument("--out", required=True, help="HTML file to write")
    ev.add_argument("--pdf", help="PDF file to write (when the pack has one)")
    de = sub.add_parser("deliver", help="send due webhook pushes")
    de.add_argument("--loop", type=float, metavar="SECONDS", help="keep delivering, pausing this long between rounds")
    sub.add_parser("outbox", help="the webhook delivery log")


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"--field {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def run(args: argparse.Namespace) -> int:
    from data.store import connect
    from envtrust import cases

    settings = load_settings(db_path=args.db)
    if not args.case_command:
        raise UserError("give an action: alarms, list, show, open, move, evidence, deliver, outbox")
    con = connect(settings.db_path)
    try:
        return _dispatch(con, args, settings, cases)
    except cases.CaseError as exc:
        raise UserError(str(exc)) from exc
    finally:
        con.close()


def _dispatch(con, args, settings, cases) -> int:
    from data import alarms as alarm_sql
    from data import cases as case_sql

    command = args.case_command
    if command == "alarms":
        from envtrust.alarms import AlarmSettings, raise_alarms

        chosen = {} if args.missing_hours is None else {"missing_hours": args.missing_hours}
        print(raise_alarms(con, AlarmSettings(window_days=args.days, **chosen)))
    elif command == "list":
        df = cases.cases_with_clocks(con, cases.parse_clocks(settings.case_clocks))
        if args.state:
            df = df[df["state"] == args.state]
        if args.overdue:
            df = df[df["overdue"]]
        cols = ["case_id", "state", "version", "station_id", "title", "opened_at", "due_at", "days_left", "overdue"]
        with pd.option_context("display.width", 200, "display.max_colwidth", 40):
            print(df[cols].to_string(index=False) if not df.empty else "no cases")
    elif command == "show":
        case = cases.case_detail(con, args.case_id)
        if case is None:
            raise UserError(f"unknown case {args.case_id!r}")
        print(f"{case['case_id']}  {case['title']}\nstate {case['state']} (version {case['version']}) "
              f"station {case['station_id']}\nevidence {case['evidence']}")
        hist = case["history"][["version", "occurred_at", "actor", "actor_role", "action", "from_state", "to_state",
                                "reason", "fields_json"]]
        print(hist.to_string(index=False))
    elif command == "open":
        case_id = cases.open_case(con, args.user, args.role, args.title, station_id=args.station,
                                  alarm_ids=args.alarm, event_ids=args.event, tip_id=args.tip,
                                  legal_type=args.legal_type)
        print(f"opened {case_id}")
    elif command == "move":
        r = cases.transition(con, args.case_id, args.action, actor=args.user, role=args.role,
                             expected_version=args.version, reason=args.reason, fields=_fields(args.field))
        extra = f" ({'; '.join(r.side_effects)})" if r.side_effects else ""
        print(f"{r.case_id}: {r.from_state} -> {r.to_state}, version {r.version}{extra}")
    elif command == "evidence":
        pack = case_sql.evidence(con, args.case_id)
        if pack is None:
            raise UserError(f"case {args.case_id!r} has no evidence pack (frozen at the clue transfer)")
        Path(args.out).write_text(pack["html"], encoding="utf-8")
        print(f"wrote {args.out} (sha256 {pack['html_sha256']})")
        if args.pdf:
            if pack["pdf"] is None:
                raise UserError("this pack has no PDF (no CJK font was installed when it was frozen)")
            Path(args.pdf).write_bytes(bytes(pack["pdf"]))
            print(f"wrote {args.pdf} (sha256 {pack['pdf_sha256']})")
    elif command == "deliver":
        from envtrust.webhook import WebhookTarget, deliver_due

        if not settings.webhook_url:
            raise UserError("set ENVTRUST_WEBHOOK_URL (and ENVTRUST_WEBHOOK_SECRET) first")
        target = WebhookTarget(settings.webhook_url, settings.webhook_secret)
        while True:
            print(deliver_due(con, target), flush=True)
            if not args.loop:
                break
            time.sleep(args.loop)
    elif command == "outbox":
        print(alarm_sql.outbox_counts(con))
        df = alarm_sql.outbox_table(con)
        print(df.to_string(index=False) if not df.empty else "outbox empty")
    return 0
