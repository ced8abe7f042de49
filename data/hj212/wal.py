"""Checkpointing the HJ 212 receiver's DuckDB write-ahead log between commits, and merging row
groups only when the writer is lightly loaded (``Receiver(checkpoint=...)``, ``envtrust hj212
listen --checkpoint {writer,duckdb}``; the writer's is the default).

Why: DuckDB checkpoints automatically inside the commit after which its estimate of the WAL
passes ``checkpoint_threshold`` (16 MiB); that commit returned 200-450 ms late at a paced 5,000
packets/s (~35 ms otherwise), and the packets queued behind it set the p99 ack latency (session
10 of ``benchmarks/results/hj212.md``). Measured on DuckDB 2.0.1 (session 11):

* a checkpoint cannot run beside the receiver's commits: an ``INSERT`` on another connection of
  the instance, even into a table the checkpoint does not write, waits until the checkpoint
  ends. A checkpoint in another thread delays the next commit as much as one inside it; what
  can change is when it runs and how long it takes.
* what makes some checkpoints long is DuckDB's vacuum merging the small row groups earlier
  checkpoints wrote (the packet log's ~20,000 rows per 16 MiB are a sixth of a row group), in a
  binary-counter pattern: at 16 MiB 60, 106, 60, 189 ms of CPU. With ``max_vacuum_tasks = 0``
  every 16 MiB checkpoint cost 60-61 ms. Smaller steps do not help: the merge they defer costs
  what it would have (1 MiB steps: 8-13 ms each, but ~75-120 ms per merge of 16 of them).

So the writer, after a commit has returned (its packets can be answered) and before it takes the
next batch, runs a quick checkpoint (no merge) once the WAL file holds ``wal_bytes``, and merges
when the writer is lightly loaded (the batch just committed held at most ``light_batch``
packets), or, if ``merge_every`` is set, at the latest after that many quick checkpoints. Under
a sustained load the packet log keeps row groups of ~20,000 rows until the load eases; then each
light batch's checkpoint merges a bounded part of them (``merge_tasks``: with DuckDB's 100 vacuum
tasks one checkpoint merged 30 steps' worth in 1.35 s; with 1, 10 steps took two checkpoints of
235 and 147 ms), while few packets arrive to wait for it.
DuckDB's own ``checkpoint_threshold`` is raised to ``wal_limit_bytes``: the WAL's bound should
the writer's checkpoints fail (``CHECKPOINT`` refuses while another connection holds changes, as
can happen in ``envtrust serve``). A crash replays the WAL on open: ~0.4 s for 16 MiB, ~0.8 s
for 64 MiB.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import duckdb

log = logging.getLogger("envtrust.hj212")


@dataclass(frozen=True)
class CheckpointPolicy:
    """When the receiver's writer checkpoints (module docstring); sizes in bytes."""

    wal_bytes: int = 16 << 20  # a quick checkpoint (no merge) once the WAL file holds this much
    merge_every: int | None = None  # quick checkpoints before a merging one at the latest; None: only when light
    light_batch: int = 32  # a batch this small means the writer is lightly loaded: merge now
    # DuckDB's max_vacuum_tasks in a merging checkpoint: 1 bounds one merge to ~a row group's
    # rewrite (~150-230 ms of CPU) instead of everything a sustained load left (30 steps: 1.35 s)
    merge_tasks: int = 1
    # quick steps one such merge catches up on: a 16 MiB step writes ~20,000 packet-log rows, a
    # sixth of a 122,880-row group
    merge_steps: int = 6
    wal_limit_bytes: int = 64 << 20  # DuckDB's checkpoint_threshold: the WAL's bound


DEFAULT_POLICY = CheckpointPolicy()


@dataclass(frozen=True)
class CheckpointDone:
    """One checkpoint the writer ran: whether it merged, the WAL size before it, its wall and CPU
    time (s)."""

    merged: bool
    wal_bytes: int
    wall_s: float
    cpu_s: float


def wal_path(db_path: str | Path) -> Path:
    """DuckDB's write-ahead log of the database file ``db_path``."""
    path = Path(db_path)
    return path.with_name(path.name + ".wal")


def wal_size_bytes(path: Path) -> int:
    """Bytes in the WAL at ``path``; 0 when there is none (just after a checkpoint)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def checkpoint_due(policy: CheckpointPolicy, wal_bytes: int, unmerged: int, batch_size: int) -> str | None:
    """"merge", "quick" or None: what the writer runs after committing ``batch_size`` packets,
    with ``wal_bytes`` in the WAL and ``unmerged`` quick checkpoints since the last merge."""
    light = batch_size <= policy.light_batch
    every = policy.merge_every
    if unmerged and (light or (every is not None and unmerged >= every)):
        return "merge"
    if wal_bytes >= policy.wal_bytes:
        return "merge" if light or (every is not None and unmerged + 1 >= every) else "quick"
    return None


class WalKeeper:
    """Runs the checkpoints :func:`checkpoint_due` asks for on the writer's connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: str | Path, policy: CheckpointPolicy):
        self.con, self.wal, self.policy = con, wal_path(db_path), policy
        self.unmerged = 0
        self.done: deque[CheckpointDone] = deque(maxlen=4096)  # the latest (benchmarks/hj212_checkpoint.py)
        con.execute(f"SET checkpoint_threshold = '{int(policy.wal_limit_bytes)}B'")
        # restored after each checkpoint: the setting is the instance's, and ``envtrust
        # serve`` shares the instance with the dashboard, whose deletes need the vacuum
        self.vacuum_tasks = int(con.execute("SELECT current_setting('max_vacuum_tasks')").fetchall()[0][0])

    def after_commit(self, batch_size: int) -> CheckpointDone | None:
        """Checkpoint if due (call it after a commit returned, before the next one starts); a
        checkpoint that fails is logged and left to the next commit or DuckDB's own threshold."""
        wal_bytes = wal_size_bytes(self.wal)
        kind = checkpoint_due(self.policy, wal_bytes, self.unmerged, batch_size)
        if kind is None:
            return None
        start, cpu = time.monotonic(), time.thread_time()
        try:
            self._checkpoint(merge=kind == "merge")
        except duckdb.Error as exc:
            log.warning("checkpoint not done (%s); the WAL holds %d KiB", exc, wal_bytes // 1024)
            return None
        self.unmerged = max(0, self.unmerged + 1 - self.policy.merge_steps) if kind == "merge" else self.unmerged + 1
        done = CheckpointDone(kind == "merge", wal_bytes, time.monotonic() - start, time.thread_time() - cpu)
        self.done.append(done)
        return done

    def _checkpoint(self, merge: bool) -> None:
        self.con.execute(f"SET max_vacuum_tasks = {int(self.policy.merge_tasks) if merge else 0}")
        try:
            self.con.execute("CHECKPOINT")
        finally:
            self.con.execute(f"SET max_vacuum_tasks = {self.vacuum_tasks}")
