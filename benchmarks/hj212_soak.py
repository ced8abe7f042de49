"""Soak test of the HJ 212 receiver: many loggers, good, bad and slow links, ``kill -9`` of the
receiver in the middle, restart, and an audit of the store afterwards.

    .venv/bin/python benchmarks/hj212_soak.py [--loggers 500] [--packets 8] [--bad-share 0.2]
        [--slow-share 0.1] [--kill-after 20] [--out benchmarks/results/hj212_soak.md]

Each logger has one link and sends its packets one at a time, as a logger does: it waits for the
answer, and re-sends the same packet (same QN and content) on a new link when none comes within
``--answer-timeout`` seconds or the link breaks. Bad packets (a wrong CRC, a DataTime in year 2099,
a wrong password) are answered 9011 and count as answered. Slow links write each packet in small
pieces with pauses. ``--kill-after`` seconds in, the receiver gets SIGKILL and is started again on
the same store; the loggers reconnect to it.

Afterwards (exit status 1 if any check fails):
- every acknowledged good packet is in the packet log exactly once (status stored) and its 6
  readings are stored exactly once;
- stored packets + quarantined packets == distinct packets sent (re-sends do not count twice);
- nothing was left unanswered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.hj212 import ITEMS, PW, make_store, start_process  # noqa: E402
from data.hj212.packet import build_cp, build_packet  # noqa: E402
from data.store import connect  # noqa: E402

BAD_KINDS = ("bad_crc", "implausible_time")
# a wrong password from the first few loggers only: every logger here shares 127.0.0.1, and after
# 10 different wrong passwords from one address the receiver stops checking (pw_throttled, no answer)
BAD_PW_LOGGERS = 5


@dataclass
class Sent:
    qn: str
    frame: bytes
    good: bool
    kind: str


@dataclass
class Tally:
    acked: set[tuple[str, str]] = field(default_factory=set)  # (mn, qn) answered 9014
    refused: set[tuple[str, str]] = field(default_factory=set)  # (mn, qn) answered 9011
    unanswered: set[tuple[str, str]] = field(default_factory=set)
    resends: int = 0
    reconnects: int = 0


def logger_work(mn: str, k: int, n: int, bad_share: float, rng: random.Random) -> list[Sent]:
    out = []
    for h in range(n):
        when = datetime(2024, 3, 1) + timedelta(hours=h)
        qn = f"{(when + timedelta(days=2)).strftime('%Y%m%d%H%M%S')}{k % 1000:03d}"
        cp = build_cp(when, {code: {"Avg": base, "Flag": "N"} for code, base in ITEMS.items()})
        if rng.random() >= bad_share and not (k < BAD_PW_LOGGERS and h == 0):
            out.append(Sent(qn, build_packet("31", "2061", mn, cp, qn=qn, pw=PW), True, "good"))
            continue
        kind = "bad_pw" if k < BAD_PW_LOGGERS and h == 0 else rng.choice(BAD_KINDS)
        if kind == "bad_crc":
            frame = build_packet("31", "2061", mn, cp, qn=qn, pw=PW)
            frame = frame[:-6] + (b"0000" if frame[-6:-2] != b"0000" else b"1111") + b"\r\n"
        elif kind == "implausible_time":
            frame = build_packet("31", "2061", mn, cp.replace(f"DataTime={when:%Y%m%d%H%M%S}", "DataTime=20990101000000"),
                                 qn=qn, pw=PW)
        else:
            frame = build_packet("31", "2061", mn, cp, qn=qn, pw="wrong!")
        out.append(Sent(qn, frame, False, kind))
    return out


class Target:
    """Where the receiver listens now (changes when it is restarted)."""

    def __init__(self, port: int) -> None:
        self.port = port


async def run_logger(target: Target, mn: str, work: list[Sent], slow: bool, tally: Tally,
                     answer_timeout_s: float, give_up_s: float) -> None:
    reader = writer = None
    for item in work:
        deadline = time.monotonic() + give_up_s
        first = True
        while True:
            if time.monotonic() > deadline:
                tally.unanswered.add((mn, item.qn))
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", target.port), 5)
                    if not first:
                        tally.reconnects += 1
                if not first:
                    tally.resends += 1
                first = False
                if slow:
                    for i in range(0, len(item.frame), 40):
                        writer.write(item.frame[i:i + 40])
                        await writer.drain()
                        await asyncio.sleep(0.05)
                else:
                    writer.write(item.frame)
                answer = await asyncio.wait_for(_answer_for(reader, item.qn), answer_timeout_s)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.5)
                continue
            (tally.acked if b"CN=9014" in answer else tally.refused).add((mn, item.qn))
            break
    if writer is not None:
        writer.close()


async def _answer_for(reader: asyncio.StreamReader, qn: str) -> bytes:
    """The next answer naming ``qn`` (answers to earlier copies of other packets are skipped)."""
    want = f"QN={qn}".encode()
    while True:
        line = await reader.readuntil(b"\r\n")
        if want in line:
            return line


def start_receiver(db: Path) -> tuple[subprocess.Popen, int]:
    return start_process([sys.executable, "-m", "envtrust.cli", "hj212", "listen", "--db", str(db), "--host",
                          "127.0.0.1", "--port", "0"], "listening on")


async def soak(args: argparse.Namespace, db: Path, mns: list[str]) -> tuple[Tally, dict, list[list[Sent]]]:
    rng = random.Random(args.seed)
    work = [logger_work(mn, k, args.packets, args.bad_share, rng) for k, mn in enumerate(mns)]
    slow = [rng.random() < args.slow_share for _ in mns]
    proc, port = start_receiver(db)
    target = Target(port)
    tally = Tally()
    events: dict = {}

    async def killer() -> None:
        nonlocal proc
        await asyncio.sleep(args.kill_after)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        events["killed_at_s"] = args.kill_after
        events["acked_before_kill"] = len(tally.acked)
        await asyncio.sleep(1.0)
        proc, target.port = start_receiver(db)
        events["restarted"] = True

    kill_task = asyncio.create_task(killer())
    t0 = time.monotonic()
    await asyncio.gather(*(run_logger(target, mn, w, s, tally, args.answer_timeout, args.give_up)
                           for mn, w, s in zip(mns, work, slow, strict=True)))
    events["seconds"] = time.monotonic() - t0
    if not kill_task.done():
        kill_task.cancel()
        events["note"] = "the loggers finished before the kill: raise --packets or lower --kill-after"
    proc.terminate()
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
    return tally, events, work


def audit(db: Path, tally: Tally, work: list[list[Sent]], mns: list[str]) -> dict:
    con = connect(db, read_only=True)
    try:
        log = con.execute("SELECT mn, qn, count(*) FROM hj212_packets WHERE status = 'stored' GROUP BY ALL").fetchall()
        readings = con.execute("SELECT count(*), count(DISTINCT (station_id, ts, parameter)) FROM readings").fetchone()
        quarantined = con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC").fetchall()
    finally:
        con.close()
    stored_once = {(mn, qn): n for mn, qn, n in log}
    good = {(mn, s.qn) for mn, w in zip(mns, work, strict=True) for s in w if s.good}
    bad = {(mn, s.qn) for mn, w in zip(mns, work, strict=True) for s in w if not s.good}
    acked_good = tally.acked & good
    n_quarantined = sum(n for _, n in quarantined)
    checks = {
        "acked good packets stored exactly once": all(stored_once.get(k) == 1 for k in acked_good),
        "no packet logged twice": all(n == 1 for n in stored_once.values()),
        "readings stored once (6 per stored packet)": readings[0] == readings[1] == 6 * len(stored_once),
        "stored + quarantined == sent": len(stored_once) + n_quarantined == len(good) + len(bad),
        "nothing unanswered": not tally.unanswered,
        "no bad packet acknowledged": not (tally.acked & bad),
    }
    return {"sent_good": len(good), "sent_bad": len(bad), "acked": len(tally.acked), "refused": len(tally.refused),
            "unanswered": len(tally.unanswered), "resends": tally.resends, "reconnects": tally.reconnects,
            "stored_packets": len(stored_once), "readings": readings[0], "quarantined": dict(quarantined),
            "quarantined_total": n_quarantined, "checks": checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loggers", type=int, default=500)
    parser.add_argument("--packets", type=int, default=8, help="packets per logger")
    parser.add_argument("--bad-share", type=float, default=0.2)
    parser.add_argument("--slow-share", type=float, default=0.1)
    parser.add_argument("--kill-after", type=float, default=20.0, help="seconds until SIGKILL of the receiver")
    parser.add_argument("--answer-timeout", type=float, default=5.0)
    parser.add_argument("--give-up", type=float, default=600.0, help="seconds a logger tries one packet")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, help="append a Markdown section here")
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp(prefix="hj212soak")) / "soak.duckdb"
    mns = make_store(db, args.loggers)
    load = os.getloadavg()[0]
    tally, events, work = asyncio.run(soak(args, db, mns))
    result = audit(db, tally, work, mns)
    print(events)
    print(result)
    ok = all(result["checks"].values()) and events.get("restarted", False)
    if args.out:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        lines = [f"## HJ 212 soak (commit {commit}, {datetime.now():%Y-%m-%d %H:%M} UTC, load average {load:.1f})", "",
                 f"Command: `.venv/bin/python benchmarks/hj212_soak.py --loggers {args.loggers} --packets "
                 f"{args.packets} --bad-share {args.bad_share} --slow-share {args.slow_share} --kill-after "
                 f"{args.kill_after}`", "",
                 f"Run: {events}", "", f"Store afterwards: {result}", "",
                 f"**{'All checks hold' if ok else 'A CHECK FAILED'}.**", ""]
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
