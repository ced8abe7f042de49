"""CPU of the HJ 212 receiver's writer per commit and per packet, in process, statement by statement.

    .venv/bin/python benchmarks/hj212_commit.py [--loggers 100] [--hours 40] [--batch 10 250 1000]

Why in process and in CPU seconds: the receiver's end-to-end benchmark (``benchmarks/hj212.py``)
measures wall-clock rates, which on a shared machine follow the other jobs' load. This drives
``PacketStore.commit_batch`` (judging, the ingest, the packet log, the commit: the writer thread's
whole work) on parsed packets and reports ``time.process_time`` per commit and per packet, and the
DuckDB calls of a commit with their CPU, so two commits of the code can be compared at any load.

The batches look like the receiver's: ``--loggers`` flue-gas loggers with passwords, each sending
hour after hour from its own starting hour (logger k starts k mod 5 hours later), so a batch
shares stations and hours with the batches before it, as in a live stream.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hj212 import logger_packets, make_store  # noqa: E402

from analytics.timeconv import PlausibleWindow  # noqa: E402
from data.hj212.packet import parse_packet  # noqa: E402
from data.hj212.receiver import Incoming, PacketStore, open_packet_store  # noqa: E402
from data.hj212.writer import StoreOptions  # noqa: E402


class TimedConnection:
    """The store's connection, with the CPU of every call summed by statement (first 70 characters)."""

    def __init__(self, con):
        self._con = con
        self.cpu_s: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])

    def _timed(self, name: str, fn, *args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            entry = self.cpu_s[name]
            entry[0] += time.process_time() - start
            entry[1] += 1

    def execute(self, sql: str, *args, **kwargs):
        return self._timed(" ".join(sql.split())[:70], self._con.execute, sql, *args, **kwargs)

    def __getattr__(self, name: str):
        attr = getattr(self._con, name)
        if not callable(attr):
            return attr
        return lambda *args, **kwargs: self._timed(name, attr, *args, **kwargs)


def staggered_items(mns: list[str], first_hour: int, hours: int) -> list[Incoming]:
    """Parsed packets in arrival order: hour by hour, each logger k offset by k mod 5 hours."""
    frames = [[f for _, f in logger_packets(mn, k, first_hour + k % 5, hours)] for k, mn in enumerate(mns)]
    return [Incoming(frames[k][h].decode("ascii"), f"127.0.0.1:{40000 + k}", packet=parse_packet(frames[k][h]))
            for h in range(hours) for k in range(len(mns))]


def verify_passwords(store: PacketStore, items: list[Incoming]) -> None:
    """Commit one packet per logger until all are stored (the first PW checks are throttled)."""
    while items:
        outcomes = store.commit_batch(items)
        items = [i for i, o in zip(items, outcomes, strict=True) if o.status != "stored"]
        if items:
            time.sleep(1.0)


def measure(store: PacketStore, items: list[Incoming], batch: int, top: int) -> None:
    timed = TimedConnection(store.con)
    store.con = timed
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    start = time.process_time()
    for b in batches:
        if any(o.status != "stored" for o in store.commit_batch(b)):
            raise SystemExit("a packet was not stored: the measurement would not be of the stored path")
    cpu_s = time.process_time() - start
    store.con = timed._con
    n = len(batches)
    calls = sum(c for _, c in timed.cpu_s.values()) / n
    sql_ms = 1000 * sum(t for t, _ in timed.cpu_s.values()) / n
    print(f"batch {batch}: {n} commits, {1000 * cpu_s / n:.1f} ms CPU per commit, {1e6 * cpu_s / len(items):.1f} us "
          f"per packet; {calls:.0f} DuckDB calls per commit taking {sql_ms:.1f} ms")
    for name, (t, c) in sorted(timed.cpu_s.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {1000 * t / n:6.2f} ms x{c / n:.0f}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loggers", type=int, default=100)
    parser.add_argument("--hours", type=int, default=40, help="packets per logger for each batch size")
    parser.add_argument("--batch", type=int, nargs="+", default=[10, 250, 1000], help="packets per commit")
    parser.add_argument("--top", type=int, default=8, help="statements listed per batch size")
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp(prefix="hj212commit")) / "bench.duckdb"
    mns = make_store(db, args.loggers)
    store = open_packet_store(StoreOptions(db, None, False, PlausibleWindow(), duckdb_threads=1))
    verify_passwords(store, staggered_items(mns, 0, 1))
    first = 10
    for batch in args.batch:
        measure(store, staggered_items(mns, first, args.hours), batch, args.top)
        first += args.hours + 5
    store.con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
