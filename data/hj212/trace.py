"""Where an acknowledged packet's time goes inside the HJ 212 receiver (a debug and benchmark mode).

Why: the ack latency a logger sees is the sum of stages of which only the commit is measured by
default; at a paced 5,000 packets/s the p99 was three times the p50 with capacity to spare, and the
question is which stage makes the tail. The receiver (``Receiver(latency_trace=True)``, ``envtrust
hj212 listen --latency-trace FILE``) records, per batch, the event-loop times below and, per
packet, its read time; nothing of this runs when the trace is off, except the per-batch commit
span the writer always keeps (two clock reads per commit).

Stages of one packet (seconds, ``time.monotonic``, the event loop's clock):

* ``queue``: read from its link -> its batch is closed (waiting for the commit interval, for the
  commit before to return, or behind ``batch_max`` others),
* ``dispatch``: batch closed -> the writer thread starts the commit (thread hand-over, the GIL),
* ``commit``: the commit itself (judging, DuckDB statements, WAL commit),
* ``handback``: commit returned in the writer thread -> the event loop resumes after it (the GIL,
  the loop's other work),
* ``write``: the loop resumes -> every answer of the batch is written to its link.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STAGES = ("queue", "dispatch", "commit", "handback", "write")


@dataclass
class BatchTimes:
    """Event-loop clock readings (s) of one committed batch; ``read_at``: each packet's read time."""

    read_at: list[float]
    closed_at: float
    commit_start: float
    commit_end: float
    resumed_at: float
    written_at: float
    wal_bytes: int = -1


@dataclass
class LatencyTrace:
    """Per-packet stage times of every committed batch, summarised by :meth:`summary`."""

    wal_path: Path | None = None
    batches: list[BatchTimes] = field(default_factory=list)

    def add(self, times: BatchTimes) -> None:
        if self.wal_path is not None:
            try:
                times.wal_bytes = os.stat(self.wal_path).st_size
            except OSError:
                times.wal_bytes = 0
        self.batches.append(times)

    def stage_matrix_s(self) -> np.ndarray:
        """One row per packet, one column per stage of :data:`STAGES` (seconds)."""
        rows = []
        for b in self.batches:
            read = np.asarray(b.read_at, dtype=float)
            rest = [b.commit_start - b.closed_at, b.commit_end - b.commit_start,
                    b.resumed_at - b.commit_end, b.written_at - b.resumed_at]
            rows.append(np.column_stack([b.closed_at - read, *(np.full(len(read), v) for v in rest)]))
        return np.vstack(rows) if rows else np.zeros((0, len(STAGES)))

    def between(self, start_s: float, end_s: float) -> LatencyTrace:
        """The batches closed within [start_s, end_s] of the event-loop clock (one benchmark phase)."""
        return LatencyTrace(None, [b for b in self.batches if start_s <= b.closed_at <= end_s])

    def summary(self) -> dict:
        """Percentiles of each stage and of the total, the mean stages of the slowest 1 % of
        packets, and the slowest commits (with batch size, start offset and WAL size after)."""
        m = self.stage_matrix_s()
        if not len(m):
            return {"packets": 0}
        total = m.sum(axis=1)
        t0 = min(min(b.read_at) for b in self.batches)
        tail = m[total >= np.quantile(total, 0.99)]
        ms = lambda v: round(1000 * float(v), 1)  # noqa: E731
        slow = sorted(self.batches, key=lambda b: b.commit_end - b.commit_start, reverse=True)[:8]
        sizes = np.array([len(b.read_at) for b in self.batches])
        cycle = np.diff([b.closed_at for b in self.batches])
        return {
            "packets": int(len(m)), "batches": len(self.batches),
            "batch_size_p50_p99_max": [int(np.quantile(sizes, 0.5)), int(np.quantile(sizes, 0.99)), int(sizes.max())],
            "batch_cycle_ms_p50_p99": [ms(np.quantile(cycle, 0.5)), ms(np.quantile(cycle, 0.99))] if len(cycle) else [],
            "total_ms": {"p50": ms(np.quantile(total, 0.5)), "p99": ms(np.quantile(total, 0.99)), "max": ms(total.max())},
            "stage_ms_p50": {s: ms(np.quantile(m[:, i], 0.5)) for i, s in enumerate(STAGES)},
            "stage_ms_p99": {s: ms(np.quantile(m[:, i], 0.99)) for i, s in enumerate(STAGES)},
            "slowest_1pct_mean_stage_ms": {s: ms(tail[:, i].mean()) for i, s in enumerate(STAGES)},
            "slowest_commits": [{"ms": ms(b.commit_end - b.commit_start), "packets": len(b.read_at),
                                 "at_s": round(b.closed_at - t0, 2), "wal_kb_after": b.wal_bytes // 1024}
                                for b in slow],
        }

    def write(self, path: str | Path) -> None:
        """Every batch's times as JSON (what :meth:`read` loads)."""
        Path(path).write_text(json.dumps([asdict(b) for b in self.batches]), encoding="utf-8")

    @staticmethod
    def read(path: str | Path) -> LatencyTrace:
        return LatencyTrace(None, [BatchTimes(**b) for b in json.loads(Path(path).read_text(encoding="utf-8"))])
