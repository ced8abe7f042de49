"""Fuzz run of the HJ 212 parser (>= 1 M mutated inputs) and of the live receiver over TCP.

    python benchmarks/hj212_fuzz.py --parser 1000000 --receiver 20000

Parser: every input must parse or raise PacketError (any other exception is a failure).
Receiver: fuzzed frames and good packets interleaved on several links to a real receiver
(ReceiverThread, temp DuckDB store); every good packet must be acknowledged, and the receiver's
counters must account for every fuzzed frame (stored, duplicate, logged or quarantined, or held
as a split part and quarantined split_incomplete when its link closes).
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.hj212.auth import set_logger_password  # noqa: E402
from data.hj212.client import send_packets  # noqa: E402
from data.hj212.fuzz import mutate, seed_packets  # noqa: E402
from data.hj212.packet import PacketError, build_cp, build_packet, parse_packet, salvage_header  # noqa: E402
from data.hj212.receiver import ReceiverThread  # noqa: E402
from data.store import connect  # noqa: E402

MN, PW = "MNFUZZ000001", "pw1234"


def fuzz_parser(n: int, seed: int, max_seconds: float | None = None) -> dict:
    """``n`` mutated inputs through the parser, or as many as ``max_seconds`` allow (the count
    reached is reported either way)."""
    rng = random.Random(seed)
    seeds = seed_packets(MN, PW)
    outcome: Counter = Counter()
    t0 = time.perf_counter()
    deadline = t0 + max_seconds if max_seconds else None
    done = 0
    for done in range(1, n + 1):  # noqa: B007 - the count reached is reported
        if deadline is not None and done % 1000 == 0 and time.perf_counter() > deadline:
            done -= 1
            break
        raw = mutate(rng.choice(seeds), rng)
        try:
            parse_packet(raw)
            outcome["packet"] += 1
        except PacketError as err:
            outcome[err.reason] += 1
        except Exception as exc:  # noqa: BLE001 - the failure this run looks for
            outcome[f"UNHANDLED {type(exc).__name__}"] += 1
        salvage_header(raw)
    return {"inputs": done, "asked": n, "seconds": round(time.perf_counter() - t0, 1),
            "outcomes": dict(outcome.most_common())}


def fuzz_receiver(n: int, seed: int, links: int = 8) -> dict:
    rng = random.Random(seed)
    seeds = seed_packets(MN, PW)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fuzz.duckdb"
        con = connect(db)
        con.execute("INSERT INTO stations (station_id, name, kind, lon, lat, outlet_type, hj212_mn) VALUES "
                    "('P1', 'stack', 'polluter_outlet', 116.4, 39.9, 'flue_gas', ?)", [MN])
        set_logger_password(con, MN, PW, actor="bench")
        con.close()
        good = {f"2024{m:02d}{d:02d}{h:02d}0000000": build_packet(
            "31", "2061", MN, build_cp(datetime(2024, m, d, h), {"a21026": {"Avg": 3.0, "Flag": "N"}}),
            qn=f"2024{m:02d}{d:02d}{h:02d}0000000", pw=PW) for m in (7, 8) for d in range(1, 29) for h in range(24)}
        t0 = time.perf_counter()
        with ReceiverThread(db, "127.0.0.1", 0) as rx:
            socks = [socket.create_connection(("127.0.0.1", rx.port)) for _ in range(links)]
            for s in socks:
                s.setblocking(False)
            sent = 0
            while sent < n:
                s = socks[sent % links]
                chunk = b"".join(mutate(rng.choice(seeds), rng) + b"\r\n" for _ in range(50))
                sent += 50
                _send_discarding_answers(s, chunk)
            report = send_packets(good, "127.0.0.1", rx.port, timeout_s=60)
            for s in socks:
                s.close()
            time.sleep(2)
        stats = rx.stats
        elapsed = time.perf_counter() - t0
        con = connect(db)
        try:
            reasons = dict(con.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC")
                           .fetchall())
        finally:
            con.close()
    return {"fuzzed_frames_sent": sent, "good_sent": len(good), "good_acked": len(report.acked),
            "seconds": round(elapsed, 1), "stats": vars(stats), "quarantine_reasons": reasons}


def _send_discarding_answers(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except BlockingIOError:
            time.sleep(0.001)
        try:
            while sock.recv(65536):
                pass
        except (BlockingIOError, ConnectionError):
            pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parser", type=int, default=1_000_000)
    ap.add_argument("--receiver", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--max-seconds", type=float, help="stop the parser run after this long (count reached is printed)")
    args = ap.parse_args()
    parser = fuzz_parser(args.parser, args.seed, args.max_seconds)
    print("parser:", parser, flush=True)
    receiver = fuzz_receiver(args.receiver, args.seed) if args.receiver else None
    print("receiver:", receiver, flush=True)
    unhandled = [k for k in parser["outcomes"] if k.startswith("UNHANDLED")]
    if unhandled or (receiver and receiver["good_acked"] != receiver["good_sent"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
