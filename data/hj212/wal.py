"""Checkpointing the HJ 212 receiver's DuckDB write-ahead log between commits, in small steps,
instead of inside the commit that passes DuckDB's threshold (``Receiver(checkpoint=...)``,
``envtrust hj212 listen --checkpoint writer``; off by default).

Why it exists: DuckDB checkpoints automatically inside the commit after which its estimate of the
WAL passes ``checkpoint_threshold`` (16 MiB); that commit returned 200-450 ms late at a paced
5,000 packets/s (~35 ms otherwise), and the packets queued behind it set the p99 ack latency
(session 10 of ``benchmarks/results/hj212.md``). Measured on DuckDB 2.0.1 (session 11):

* a checkpoint cannot run beside the receiver's commits: an ``INSERT`` on another connection of
  the instance, even into a table the checkpoint does not write, waits until the checkpoint
  ends. A checkpoint in another thread delays the next commit as much as one inside it.
* a checkpoint's cost is ~8 ms of CPU plus the rows it writes, plus DuckDB's vacuum merging the
  small row groups earlier checkpoints wrote, in a binary-counter pattern (at 16 MiB: 60, 106,
  60, 189 ms of CPU; in 1 MiB steps 8, 13, 8, 22, 8, 13, 8, 39, ... 120-170 ms). With
  ``max_vacuum_tasks = 0`` a 1 MiB step costs 8-13 ms and the merge is left for later - but the
  merge later costs what it would have: ~75-120 ms of CPU per 16 MiB, ~320 ms for 64 MiB.

So the writer, after a commit has returned (its packets can be answered) and before it takes the
next batch, runs a quick checkpoint (no merge) once the WAL file holds ``wal_bytes``, and a
merging one when the writer is lightly loaded (the batch just committed held at most
``light_batch`` packets) or at the latest after ``merge_every`` quick ones. That keeps the merges
out of bursts shorter than ``merge_every`` steps; under a sustained load the merges come as
often as DuckDB's own checkpoints and cost as much (``docs/hj212.md``), so it is not the default.
DuckDB's own ``checkpoint_threshold`` is raised to ``wal_limit_bytes`` (the WAL's bound should the
writer's checkpoints fail: ``CHECKPOINT`` refuses while another connection holds changes).
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

    wal_bytes: int = 1 << 20  # a quick checkpoint (no merge) once the WAL holds this much
    merge_every: int = 16  # quick checkpoints before a merging one at the latest (~16 MiB of WAL)
    light_batch: int = 32  # a batch this small means the writer is lightly loaded: merge now
    wal_limit_bytes: int = 64 << 20  # DuckDB's checkpoint_threshold: the WAL's bound


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
    if unmerged and (light or unmerged >= policy.merge_every):
        return "merge"
    if wal_bytes >= policy.wal_bytes:
        return "merge" if light or unmerged + 1 >= policy.merge_every else "quick"
    return None


class WalKeeper:
    """Runs the checkpoints :func:`checkpoint_due` asks for on the writer's connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: str | Path, policy: CheckpointPolicy):
        self.con, self.wal, self.policy = con, wal_path(db_path), policy
        self.unmerged = 0
        self.done: deque[CheckpointDone] = deque(maxlen=4096)  # the latest, for the latency trace
        con.execute(f"SET checkpoint_threshold = '{int(policy.wal_limit_bytes)}B'")
        # restored after each quick checkpoint: the setting is the instance's, and ``envtrust
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
        self.unmerged = 0 if kind == "merge" else self.unmerged + 1
        done = CheckpointDone(kind == "merge", wal_bytes, time.monotonic() - start, time.thread_time() - cpu)
        self.done.append(done)
        return done

    def _checkpoint(self, merge: bool) -> None:
        if merge:
            self.con.execute("CHECKPOINT")
            return
        self.con.execute("SET max_vacuum_tasks = 0")
        try:
            self.con.execute("CHECKPOINT")
        finally:
            self.con.execute(f"SET max_vacuum_tasks = {self.vacuum_tasks}")
