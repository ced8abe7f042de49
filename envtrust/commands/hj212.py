"""HJ 212-2017 data transmission: run the TCP receiver, replay readings as a data logger, check a packet.

  envtrust hj212 listen --db var/envtrust.duckdb [--host 0.0.0.0] [--port 8212]
  envtrust hj212 send --host 127.0.0.1 --port 8212 readings.csv [--mn MN] [--st 31]
  envtrust hj212 check '##0101QN=...&&1C80'
  envtrust hj212 password MN --db var/envtrust.duckdb [--password-stdin | --remove]
  envtrust hj212 password --list --db var/envtrust.duckdb

listen: stores hourly data (CN 2061) from stations whose hj212_mn matches the packet's MN,
answers 9014 only after the readings are committed, quarantines bad packets with a reason.
send: the readings file is long format (station_id, ts, parameter, value[, flag][, mn]) with
ts in China Standard Time, naive (the --readings file contract); one CN 2061 packet per hour.
password: sets a data logger's access password (PW, 1-6 characters, stored hashed); the receiver
refuses packets with a wrong PW, and packets of loggers without one unless
ENVTRUST_HJ212_ALLOW_NO_PW=1 (docs/hj212.md).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from envtrust.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listen = sub.add_parser("listen", help="run the TCP receiver in front of a store")
    listen.add_argument("--db", required=True, help="DuckDB store (created if missing)")
    listen.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    listen.add_argument("--port", type=int, default=8212, help="TCP port (default 8212; 0 = any free port)")
    listen.add_argument("--batch-max", type=int, default=256, help="packets per commit at most (default 256)")
    listen.add_argument("--commit-interval-ms", type=float, default=50.0,
                        help="least time between the starts of two commits, ms (default 50; 0 = commit "
                             "whenever the last commit returned)")
    listen.add_argument("--max-segment", type=int, default=1024,
                        help="largest data segment accepted, bytes (HJ 212-2017: 1024)")
    listen.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="uvloop (default; asyncio's own loop where uvloop is not installed) or asyncio")
    listen.add_argument("--latency-trace", type=Path, metavar="FILE",
                        help="record where each packet's time goes and write it to FILE as JSON at the end "
                             "(debug and benchmark mode; data.hj212.trace)")
    listen.add_argument("--writer", choices=["thread", "process"], default="thread",
                        help="where judging and commits run: a thread of the receiver (default) or a "
                             "process of their own (a second interpreter and GIL; docs/hj212.md)")
    listen.add_argument("--checkpoint", choices=["writer", "duckdb"], default="writer",
                        help="who checkpoints DuckDB's WAL: the writer between commits, without merging row "
                             "groups while busy (default; data.hj212.wal), or DuckDB inside the commit that "
                             "passes its 16 MiB threshold")
    listen.add_argument("--checkpoint-wal-kib", type=int, default=16384,
                        help="WAL file size after which the writer checkpoints, KiB (default 16384)")
    send = sub.add_parser("send", help="replay a readings file as CN 2061 packets and wait for acks")
    send.add_argument("file", help="long readings file (CSV or Parquet), ts in CST")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=8212)
    send.add_argument("--mn", help="device id (MN) when the file holds one station; else an 'mn' column or station_id")
    send.add_argument("--st", choices=["21", "22", "31", "32"], help="system code (default: from the parameters)")
    send.add_argument("--old-codes", action="store_true", help="send 2005-era pollutant codes (011, B01, S01 ...)")
    send.add_argument("--window", type=int, default=32, help="packets in flight on the link (default 32)")
    send.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    send.add_argument("--attempts", type=int, default=3, help="links to try before giving up (default 3)")
    send.add_argument("--pw", default="123456",
                      help="access password (PW) the packets carry (default 123456, the usual factory setting)")
    password = sub.add_parser("password", help="set, remove or list data loggers' access passwords (PW)")
    password.add_argument("mn", nargs="?", help="the data logger's MN (stations.hj212_mn)")
    password.add_argument("--db", required=True, help="DuckDB store")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the PW from the first line of standard input (else asked twice)")
    password.add_argument("--remove", action="store_true", help="forget the logger's password")
    password.add_argument("--list", action="store_true", help="list loggers and whether a password is set")
    check = sub.add_parser("check", help="parse and CRC-check one packet, print its fields")
    check.add_argument("packet", help="packet text (CR LF optional; '-' reads stdin)")


def run(args: argparse.Namespace) -> int:
    return {"listen": _listen, "send": _send, "check": _check, "password": _password}[args.action](args)


def _listen(args: argparse.Namespace) -> int:
    from data.hj212.receiver import new_event_loop, serve
    from data.hj212.wal import CheckpointPolicy
    from envtrust.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    allow_no_pw = settings.hj212_allow_no_pw

    def ready(host: str, port: int) -> None:
        print(f"hj212 receiver listening on {host}:{port}, store {args.db}", flush=True)
        print("  access passwords: loggers without one are "
              + ("ACCEPTED unchecked (ENVTRUST_HJ212_ALLOW_NO_PW=1)" if allow_no_pw else
                 "refused (envtrust hj212 password --list shows them)"), flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await serve(args.db, args.host, args.port, ready=ready, stop_event=stop,
                            batch_max=args.batch_max, max_segment=args.max_segment, allow_no_pw=allow_no_pw,
                            window=settings.plausible_window, memory_mb=settings.ingest_memory_mb,
                            writer=args.writer, duckdb_threads=1,
                            commit_interval_s=args.commit_interval_ms / 1000,
                            latency_trace=args.latency_trace is not None,
                            checkpoint=None if args.checkpoint == "duckdb" else
                            CheckpointPolicy(wal_bytes=1024 * args.checkpoint_wal_kib))
        if stats.trace is not None:
            stats.trace.write(args.latency_trace)
        print(f"hj212 receiver stopped: {stats.frames} frames, {stats.stored} packets stored, "
              f"{stats.duplicate} duplicates, {stats.logged} logged raw, {stats.quarantined} quarantined, "
              f"{stats.batches} commits; {stats.timing()}", flush=True)

    import duckdb

    from data.hj212.writer import WriterLost

    try:
        with asyncio.Runner(loop_factory=lambda: new_event_loop(args.event_loop)) as runner:
            runner.run(main())
    except duckdb.Error as exc:
        raise UserError(f"cannot open the store {args.db}: {exc}") from None
    except WriterLost as exc:  # unacknowledged packets are re-sent by their loggers after a restart
        raise UserError(f"receiver stopped: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0


def read_readings_file(path: Path):
    """Long readings with ts in naive CST -> the same frame with ts naive UTC."""
    import pandas as pd

    from analytics.timeconv import cst_to_utc

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise UserError(f"{path}: not a readable CSV/Parquet file ({exc})") from None
    missing = [c for c in ("station_id", "ts", "parameter", "value") if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; need station_id, ts, parameter, value")
    ts = pd.to_datetime(frame["ts"], errors="coerce")
    if ts.isna().any():
        raise UserError(f"{path}: {int(ts.isna().sum())} ts value(s) are not date-times")
    frame = frame.assign(ts=cst_to_utc(ts), station_id=frame["station_id"].astype(str))
    if "flag" not in frame.columns:
        frame["flag"] = "N"
    from analytics.vocabulary import PARAMETERS

    unknown = sorted(set(frame["parameter"]) - {p for p, v in PARAMETERS.items() if v.hj212_codes})
    if unknown:
        raise UserError(f"{path}: parameter(s) without an HJ 212 code: {', '.join(map(str, unknown))}")
    return frame


def _send(args: argparse.Namespace) -> int:
    from data.hj212.client import send_readings

    readings = read_readings_file(Path(args.file))
    try:
        report = send_readings(readings, args.host, args.port, mn=args.mn, st=args.st, old_codes=args.old_codes,
                               pw=args.pw, window=args.window, timeout_s=args.timeout, max_attempts=args.attempts)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(report.line())
    for qn, rtn in list(report.refused.items())[:10]:
        print(f"  refused QN {qn}: QnRtn {rtn}")
    return 0 if not report.unacked and not report.refused else 1


def _check(args: argparse.Namespace) -> int:
    from data.hj212.packet import PacketError, data_packet_to_readings, parse_packet

    text = sys.stdin.read() if args.packet == "-" else args.packet
    raw = text.strip().encode("utf-8")
    raw = raw.replace(b"\\r\\n", b"")
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    try:
        packet = parse_packet(raw)
    except PacketError as err:
        print(f"REJECTED {err.reason}: {err.detail}")
        return 1
    print(f"OK  CRC {packet.crc} valid, data segment {len(packet.segment)} bytes")
    for key in ("qn", "st", "cn", "pw", "mn", "flag", "pnum", "pno"):
        value = getattr(packet, key)
        if value is not None:
            print(f"  {key.upper() if key != 'flag' else 'Flag'} = {value}")
    print(f"  Flag: ack requested={packet.needs_ack}, split={packet.is_split}, version={packet.version}")
    for key, value in packet.cp.items():
        print(f"  CP {key} = {value}")
    if packet.cn in ("2011", "2051", "2061", "2031") and packet.st in ("21", "22", "31", "32"):
        try:
            got = data_packet_to_readings(packet, {"station_id": f"MN:{packet.mn}"})
        except PacketError as err:
            print(f"  readings: none ({err.reason}: {err.detail})")
        else:
            print("  readings (ts UTC):")
            for row in got.readings.itertuples(index=False):
                print(f"    {row.ts}  {row.parameter:<12} {row.value:>14g}  flag {row.flag}")
            for row in got.skipped.itertuples(index=False):
                print(f"    not stored: {row.detail} ({row.reason})")
    return 0


def _password(args: argparse.Namespace) -> int:
    import getpass

    import duckdb

    from data.hj212.auth import logger_credentials, remove_logger_password, set_logger_password
    from data.store import connect
    from envtrust.commands.user import read_password

    if args.list == bool(args.mn):
        raise UserError("say what to do: `envtrust hj212 password MN --db PATH` or `... password --list --db PATH`")
    try:
        con = connect(Path(args.db))
    except duckdb.Error as exc:
        raise UserError(f"cannot open {args.db} for writing (stop the receiver or `envtrust serve` first): "
                        f"{exc}") from None
    try:
        if args.list:
            table = logger_credentials(con)
            if table.empty:
                print("no data loggers (no station has an hj212_mn)")
            for row in table.itertuples(index=False):
                state = f"password set {row.set_at:%Y-%m-%d %H:%M} UTC by {row.set_by}" if row.has_password \
                    else "NO PASSWORD (refused unless ENVTRUST_HJ212_ALLOW_NO_PW=1)"
                print(f"{row.mn:<24} {row.station_id or '(no station)':<16} {state}")
            return 0
        actor = getpass.getuser()
        if args.remove:
            if not remove_logger_password(con, args.mn, actor=actor):
                raise UserError(f"MN {args.mn} has no password to remove")
            print(f"password of MN {args.mn} removed")
            return 0
        known = con.execute("SELECT count(*) FROM stations WHERE hj212_mn = ?", [args.mn]).fetchone()[0]
        try:
            set_logger_password(con, args.mn, read_password(args.password_stdin), actor=actor)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        note = "" if known else " (no station has this hj212_mn yet: its packets stay refused as unknown_mn)"
        print(f"password of MN {args.mn} set{note}")
        return 0
    finally:
        con.close()
