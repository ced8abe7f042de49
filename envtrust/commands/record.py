"""The tamper-evident record of interference (干预留痕): add, checkpoint, receipt, verify, redact.

    envtrust record add --name 张三 --post 副区长 --unit "某区人民政府" --channel oral \\
        --content "电话要求'关注'3号站数据" --occurred-at "2026-03-01 09:30" --station S003 \\
        [--case C-12] [--attach letter.pdf] [--recorded-by 李四]
    envtrust record checkpoint [--out checkpoint.txt]     sign the log now; hand the file out
    envtrust record receipt INDEX [--out receipt.json]    inclusion proof for one entry
    envtrust record verify [--checkpoint FILE ...] [--receipt FILE ...] [--public-key FILE]
    envtrust record redact INDEX --reason "..." [--by NAME]

Channels: written_instruction (批示), letter (函文), oral (口头), hint (暗示), other (其他). A time
without an offset is read in ENVTRUST_DISPLAY_TZ (China time by default). ``verify`` reads the
store read-only and needs only the verifier key (``<key>.pub``); it exits 1 and names the first
bad entry when anything was edited, deleted, appended out of order or rebuilt (docs/record.md).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

import duckdb

from analytics.vocabulary import INTERFERENCE_CHANNELS
from envtrust.cli import UserError
from envtrust.settings import Settings, load_settings

DB_HELP = "DuckDB store (default: $ENVTRUST_DB or var/envtrust.duckdb)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="record_command", metavar="ACTION")
    add = sub.add_parser("add", help="record an interference (who, when, how, what, which stations)")
    add.add_argument("--name", required=True, help="who interfered")
    add.add_argument("--post", required=True, help="their post (职务)")
    add.add_argument("--unit", required=True, help="their unit (单位)")
    add.add_argument("--channel", required=True, choices=tuple(INTERFERENCE_CHANNELS))
    text = add.add_mutually_exclusive_group(required=True)
    text.add_argument("--content", help="what was said or written, in full")
    text.add_argument("--content-file", type=Path, help="read the content from this UTF-8 file")
    add.add_argument("--occurred-at", required=True, help="when (ISO 8601; no offset = display time zone)")
    add.add_argument("--recorded-by", default=None, help="who records it (default: the OS user)")
    add.add_argument("--station", action="append", default=[], help="station concerned (repeatable)")
    add.add_argument("--case", action="append", default=[], help="case concerned (repeatable)")
    add.add_argument("--attach", action="append", default=[], type=Path, help="file to attach (repeatable)")
    cp = sub.add_parser("checkpoint", help="sign a checkpoint of the whole log now")
    cp.add_argument("--out", type=Path, help="write the signed checkpoint here (default: print it)")
    rc = sub.add_parser("receipt", help="a receipt with an inclusion proof for one entry")
    rc.add_argument("index", type=int)
    rc.add_argument("--out", type=Path, help="write the receipt here (default: print it)")
    vf = sub.add_parser("verify", help="check the whole log offline")
    vf.add_argument("--checkpoint", action="append", default=[], type=Path, help="signed checkpoint kept outside")
    vf.add_argument("--receipt", action="append", default=[], type=Path, help="receipt to check as well")
    vf.add_argument("--public-key", type=Path, help="verifier key (default: the signing key's .pub)")
    rd = sub.add_parser("redact", help="clear one entry's content for a lawful reason (the leaf stays)")
    rd.add_argument("index", type=int)
    rd.add_argument("--reason", required=True)
    rd.add_argument("--by", default=None, help="who orders it (default: the OS user)")
    for p in (add, cp, rc, vf, rd):
        p.add_argument("--db", help=DB_HELP)


def _open(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    from data.store import connect

    try:
        return connect(settings.db_path, read_only=read_only)
    except (duckdb.IOException, FileNotFoundError) as exc:
        raise UserError(f"cannot open {settings.db_path}: {exc}") from exc


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"written to {out}")


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from envtrust.record import service

    content = args.content if args.content is not None else _read_text(args.content_file)
    try:
        attachments = tuple(service.Attachment(p.name, p.read_bytes()) for p in args.attach)
    except OSError as exc:
        raise UserError(f"cannot read attachment: {exc}") from exc
    try:
        rec = service.Interference(
            interferer_name=args.name, interferer_post=args.post, interferer_unit=args.unit,
            channel=args.channel, content=content,
            occurred_at=service.parse_occurred_at(args.occurred_at, settings.display_tz),
            recorded_by=args.recorded_by or getpass.getuser(), stations=tuple(args.station),
            cases=tuple(args.case), attachments=attachments)
        signer = service.signer_from_settings(settings)
        con = _open(settings)
        try:
            index = service.add_interference(con, rec, signer)
        finally:
            con.close()
    except (service.RecordError, service.notes.CheckpointError) as exc:
        raise UserError(str(exc)) from exc
    print(f"recorded as entry {index}; get a receipt with `envtrust record receipt {index}`")
    return 0


def _signed(args: argparse.Namespace, settings: Settings) -> int:
    from envtrust.record import service

    try:
        signer = service.signer_from_settings(settings)
        con = _open(settings)
        try:
            if args.record_command == "checkpoint":
                _emit(service.checkpoint(con, signer), args.out)
            elif args.record_command == "receipt":
                doc = service.receipt(con, args.index, signer)
                _emit(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", args.out)
            else:
                index = service.redact(con, args.index, args.by or getpass.getuser(), args.reason, signer)
                print(f"entry {args.index} redacted (content cleared, leaf kept); recorded as entry {index}")
        finally:
            con.close()
    except (service.RecordError, service.notes.CheckpointError) as exc:
        raise UserError(str(exc)) from exc
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from data import journal
    from envtrust.record import checkpoint as notes
    from envtrust.record import service
    from envtrust.record.verify import verify_log

    key_file = args.public_key or service.verifier_key_path(settings)
    try:
        origin, key = notes.parse_verifier_key(_read_text(key_file))
    except notes.CheckpointError as exc:
        raise UserError(f"{key_file}: {exc}") from exc
    handed_in = [(f"checkpoint file {p}", _read_text(p)) for p in args.checkpoint]
    con = _open(settings, read_only=True)
    try:
        report = verify_log(con, origin, key, handed_in)
        waiting = journal.pending(con, settings.api_journal_path, journal.API_CALLS)
    finally:
        con.close()
    if waiting:
        print(f"record verify: {waiting} keyed API call(s) wait in {settings.api_journal_path}, not yet in the "
              "log: `envtrust serve` folds them when it starts (or within a second while it runs)")
    receipt_problems = []
    for path in args.receipt:
        try:
            doc = json.loads(_read_text(path))
        except ValueError as exc:
            raise UserError(f"{path} is not a receipt: {exc}") from exc
        receipt_problems += [f"receipt {path}: {p}" for p in service.check_receipt(doc, _read_text(key_file))]
    if report.ok and not receipt_problems:
        unsigned = report.size - report.signed_size
        print(f"record verified: {report.size} entries, root {report.root_hex}, "
              f"{report.checkpoints_checked} checkpoint(s) and {len(args.receipt)} receipt(s) consistent; "
              f"{unsigned} newest entries not yet under a signed checkpoint")
        return 0
    first = report.first_bad
    if first is not None:
        print(f"record verify: FAILED - first bad entry: {first.index}: {first.message}", file=sys.stderr)
    for problem in sorted(report.problems)[:20]:
        if problem is not first:
            print(f"  entry {problem.index}: {problem.message}", file=sys.stderr)
    for line in receipt_problems:
        print(f"record verify: FAILED - {line}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    settings = load_settings(db_path=args.db) if getattr(args, "db", None) else load_settings()
    if args.record_command is None:
        raise UserError("say what to do: add, checkpoint, receipt, verify or redact (see --help)")
    if args.record_command == "add":
        return _add(args, settings)
    if args.record_command == "verify":
        return _verify(args, settings)
    return _signed(args, settings)
