"""Commit wall time of the HJ 212 writer batch after batch, and what DuckDB's checkpoints add.

    .venv/bin/python benchmarks/hj212_checkpoint.py [--loggers 500] [--hours 100] [--batch 250]
        [--checkpoint-threshold 16MB]

Why: at a paced 5,000 packets/s the receiver commits ~250 packets every 50 ms; a commit after which
DuckDB checkpoints (its WAL passed ``checkpoint_threshold``) takes longer, and at high utilisation
the backlog it leaves sets the p99 ack latency. This commits ``--batch``-packet batches of a live-
like stream (``benchmarks/hj212_commit.py``'s loggers) back to back through ``PacketStore`` and
reports the wall time of every commit, marking those after which the WAL shrank (a checkpoint).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hj212 import make_store  # noqa: E402
from hj212_commit import staggered_items, verify_passwords  # noqa: E402

from analytics.timeconv import PlausibleWindow  # noqa: E402
from data.hj212.receiver import open_packet_store  # noqa: E402
from data.hj212.writer import StoreOptions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loggers", type=int, default=500)
    parser.add_argument("--hours", type=int, default=100, help="packets per logger")
    parser.add_argument("--batch", type=int, default=250, help="packets per commit")
    parser.add_argument("--checkpoint-threshold", default="16MB", help="DuckDB's checkpoint_threshold")
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp(prefix="hj212ckpt")) / "bench.duckdb"
    wal = db.with_name(db.name + ".wal")
    mns = make_store(db, args.loggers)
    store = open_packet_store(StoreOptions(db, None, False, PlausibleWindow(), duckdb_threads=1))
    store.con.execute(f"SET checkpoint_threshold = '{args.checkpoint_threshold}'")
    verify_passwords(store, staggered_items(mns, 0, 1))
    items = staggered_items(mns, 10, args.hours)
    walls_ms, wal_bytes = [], []
    cpu_start = time.process_time()
    for i in range(0, len(items), args.batch):
        start = time.perf_counter()
        store.commit_batch(items[i:i + args.batch])
        walls_ms.append(1000 * (time.perf_counter() - start))
        wal_bytes.append(wal.stat().st_size if wal.exists() else 0)
    cpu_s = time.process_time() - cpu_start
    store.con.close()
    checkpointed = [n for n in range(1, len(wal_bytes)) if wal_bytes[n] < wal_bytes[n - 1]]
    others = np.array([w for n, w in enumerate(walls_ms) if n not in checkpointed])
    print(f"{len(walls_ms)} commits of {args.batch} packets, checkpoint_threshold {args.checkpoint_threshold}: "
          f"{1e6 * cpu_s / len(items):.0f} us CPU per packet; commits without a checkpoint: wall p50 "
          f"{np.median(others):.0f} ms, p99 {np.quantile(others, 0.99):.0f} ms; {len(checkpointed)} checkpointing "
          f"commits: {', '.join(f'{walls_ms[n]:.0f}' for n in checkpointed)} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
