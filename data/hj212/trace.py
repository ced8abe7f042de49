"""Where an acknowledged packet's time goes inside the HJ 212 receiver (a debug and benchmark mode).

Why: the ack latency a logger sees is the sum of stages of which only the commit is measured by
default; at a paced 5,000 packets/s the p99 was three times the p50 with capacity to spare, and the
question is which stage makes the tail. The receiver (``Receiver(latency_trace=True)``, ``envtrust
hj212 listen --latency-trace FILE``) records, per batch, the event-loop times below and, per
packet, its read time; nothing of this runs when the trace is off, except the per-batch commit
span the writer always keeps (two clock reads per commit).

Stages of one packet (seconds of ``time.monotonic``, the receiver's clock):

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

STAGES = ("queue", "dispatch", "commit", "handback", "write")


@dataclass
class BatchTimes:
    """``time.monotonic`` readings (s) of one committed batch; ``read_at``: each packet's read time."""

    read_at: list[float]
    closed_at: float
    commit_start: float
    commit_end: float
    resumed_at: float
    written_at: float
    wal_bytes: int = -1
    writer_cpu_s: float = float("nan")  # the writer thread's CPU in this commit
    loop_cpu_s: float = float("nan")  # the event-loop thread's CPU so far (time.thread_time), when written


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
        """The packets read within [start_s, end_s] of ``time.monotonic`` (one benchmark phase),
        in the batches that hold them."""
        kept = []
        for b in self.batches:
            read_at = [t for t in b.read_at if start_s <= t <= end_s]
            if read_at:
                kept.append(replace(b, read_at=read_at))
        return LatencyTrace(None, kept)

    def cpu_us_per_packet(self) -> dict[str, float]:
        """CPU per packet of the event-loop thread (between the first and the last batch's answers)
        and of the writer thread (its commits), microseconds; NaN when unknown."""
        if len(self.batches) < 2:
            return {"event_loop": float("nan"), "writer": float("nan")}
        after_first = sum(len(b.read_at) for b in self.batches[1:])
        loop_s = self.batches[-1].loop_cpu_s - self.batches[0].loop_cpu_s
        writer_s = sum(b.writer_cpu_s for b in self.batches)
        return {"event_loop": round(1e6 * loop_s / after_first, 1),
                "writer": round(1e6 * writer_s / sum(len(b.read_at) for b in self.batches), 1)}

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
            "packets": int(len(m)), "batches": len(self.batches), "cpu_us_per_packet": self.cpu_us_per_packet(),
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
