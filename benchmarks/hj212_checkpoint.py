"""Commit wall time of the HJ 212 writer batch after batch, and what DuckDB's checkpoints add.

    .venv/bin/python benchmarks/hj212_checkpoint.py [--loggers 500] [--hours 100] [--batch 250]
        [--rate 5000] [--policy duckdb writer]

Why: at a paced 5,000 packets/s the receiver commits ~250 packets every 50 ms; a commit after which
DuckDB checkpoints (its WAL passed ``checkpoint_threshold``) takes longer, and the backlog it leaves
sets the p99 ack latency. This commits a live-like stream (``benchmarks/hj212_commit.py``'s
loggers) through ``PacketStore`` in process, once per checkpoint policy on a fresh store:

* ``duckdb``: DuckDB's automatic checkpoint at 16 MiB of WAL, inside the commit that passes it
  (the receiver before session 11);
* ``writer``: the receiver's writer checkpoints between commits (``data.hj212.wal``).

With ``--rate`` > 0 the packets "arrive" at that rate and the writer works like the receiver's
(a commit at least every 50 ms of what has arrived, at most ``--batch-max``, then the writer's
checkpoint if due): a packet's simulated ack latency is its wait plus its batch's commit, without
the event loop's work. With ``--rate 0``, ``--batch``-packet commits back to back. Reported: the
wall time of commits inside which DuckDB checkpointed vs the others, the writer's checkpoints
(wall and CPU), the simulated latency percentiles and the CPU per packet of it all.
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
from data.hj212.wal import CheckpointPolicy, wal_path, wal_size_bytes  # noqa: E402
from data.hj212.writer import StoreOptions  # noqa: E402

COMMIT_INTERVAL_S = 0.05  # the receiver's default --commit-interval-ms


def ms_quantiles(values_s: list[float], qs=(0.5, 0.99)) -> str:
    if not values_s:
        return "-"
    return " / ".join(f"{1000 * np.quantile(values_s, q):.0f}" for q in qs)


def run(policy: str, args: argparse.Namespace) -> str:
    db = Path(tempfile.mkdtemp(prefix="hj212ckpt")) / "bench.duckdb"
    wal = wal_path(db)
    mns = make_store(db, args.loggers)
    options = StoreOptions(db, None, False, PlausibleWindow(), duckdb_threads=1,
                           checkpoint=CheckpointPolicy(wal_bytes=args.wal_kib * 1024, merge_every=args.merge_every)
                           if policy == "writer" else None)
    store = open_packet_store(options)
    verify_passwords(store, staggered_items(mns, 0, 1))
    items = staggered_items(mns, 10, args.hours)
    commits: list[tuple[float, float, bool]] = []  # wall s, CPU s, DuckDB checkpointed inside it
    latencies_s: list[float] = []
    cpu_start, t0, pos = time.process_time(), time.monotonic(), 0
    while pos < len(items):
        if args.rate > 0:
            arrived = min(len(items), int((time.monotonic() - t0) * args.rate))
            if arrived <= pos:
                time.sleep((pos + 1) / args.rate - (time.monotonic() - t0))
                continue
            batch = items[pos:min(arrived, pos + args.batch_max)]
        else:
            batch = items[pos:pos + args.batch]
        before = wal_size_bytes(wal)
        start, cpu = time.monotonic(), time.thread_time()
        store.commit_batch(batch)
        end = time.monotonic()
        after = wal_size_bytes(wal)
        commits.append((end - start, time.thread_time() - cpu, after < before or after == 0))
        if args.rate > 0:
            latencies_s.extend(end - (t0 + (pos + k) / args.rate) for k in range(len(batch)))
        pos += len(batch)
        store.after_commit(len(batch))
        if args.rate > 0:
            time.sleep(max(0.0, COMMIT_INTERVAL_S - (time.monotonic() - start)))
    cpu_s = time.process_time() - cpu_start
    eased = []  # the load eases: light batches let the writer merge what it left, a part at a time
    light = staggered_items(mns, 10 + args.hours, 1)
    for i in range(0, len(light), 16) if store.wal is not None else ():
        store.commit_batch(light[i:i + 16])  # a checkpoint with nothing in the WAL does nothing
        checkpoint = store.after_commit(16)
        if checkpoint is None:
            break
        eased.append(checkpoint)
    store.con.close()
    inside = [(w, cpu) for w, cpu, c in commits if c]
    plain = [w for w, _, c in commits if not c]
    plain_cpu = [cpu for _, cpu, c in commits if not c]
    done = list(store.wal.done)[:len(store.wal.done) - len(eased)] if store.wal is not None else []
    quick = [d for d in done if not d.merged]
    merged = [d for d in done if d.merged]
    name = f"writer (steps of {args.wal_kib} KiB, merge every {args.merge_every})" if policy == "writer" else policy
    line = (f"policy {name}: {len(items):,} packets in {len(commits)} commits, {1e6 * cpu_s / len(items):.0f} us CPU "
            f"per packet (commits and checkpoints); commit wall p50 / p99 ms: {ms_quantiles(plain)} without a "
            f"checkpoint (CPU p50 {ms_quantiles(plain_cpu, (0.5,))} ms), {len(inside)} with DuckDB's checkpoint "
            f"inside: wall {', '.join(f'{1000 * w:.0f}' for w, _ in inside) or '-'} ms, CPU "
            f"{', '.join(f'{1000 * cpu:.0f}' for _, cpu in inside) or '-'} ms")
    if done:
        line += (f"; the writer's checkpoints: {len(quick)} quick (wall p50 / p99 / max "
                 f"{ms_quantiles([d.wall_s for d in quick], (0.5, 0.99, 1))} ms, CPU p50 / max "
                 f"{ms_quantiles([d.cpu_s for d in quick], (0.5, 1))} ms), {len(merged)} merging (wall "
                 f"{', '.join(f'{1000 * d.wall_s:.0f}' for d in merged)} ms, CPU "
                 f"{', '.join(f'{1000 * d.cpu_s:.0f}' for d in merged)} ms)")
    if eased:
        line += (f"; then light batches merge what was left: {len(eased)} checkpoints of wall "
                 f"{', '.join(f'{1000 * d.wall_s:.0f}' for d in eased)} ms, CPU "
                 f"{', '.join(f'{1000 * d.cpu_s:.0f}' for d in eased)} ms")
    if latencies_s:
        line += (f"; simulated ack latency at {args.rate:,}/s p50 / p99 / max "
                 f"{ms_quantiles(latencies_s, (0.5, 0.99, 1))} ms")
    return line + f"; store file {db.stat().st_size >> 20} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loggers", type=int, default=500)
    parser.add_argument("--hours", type=int, default=100, help="packets per logger")
    parser.add_argument("--batch", type=int, default=250, help="packets per commit with --rate 0")
    parser.add_argument("--batch-max", type=int, default=2048, help="most packets per commit with --rate")
    parser.add_argument("--rate", type=int, default=5000, help="packets/s arriving; 0: back-to-back commits")
    parser.add_argument("--wal-kib", type=int, default=CheckpointPolicy.wal_bytes // 1024,
                        help="the writer's checkpoint step (CheckpointPolicy.wal_bytes), KiB")
    parser.add_argument("--merge-every", type=int, default=None,
                        help="quick checkpoints before a merging one (CheckpointPolicy.merge_every)")
    parser.add_argument("--policy", nargs="+", choices=("duckdb", "writer"), default=["duckdb", "writer"])
    args = parser.parse_args()
    for policy in args.policy:
        print(run(policy, args), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
