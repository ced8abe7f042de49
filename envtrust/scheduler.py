"""Scoring on a schedule inside the serving process: what arrives (live HJ 212 hours, a new file)
is scored within minutes without anyone running a command.

Every ``every_s`` seconds the thread scores the readings no run has read yet
(:func:`envtrust.scoring.score_new_readings`); a store that was never scored gets one run over
the recent window first (:func:`envtrust.scoring.score_store` with ``first_days``), so the
dashboard answers at once and fills as scoring finishes. A failed run is logged and shown in the
status, and the next tick tries again - the readings stay unscored, never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from data.scoring import has_scored
from envtrust.scoring import StoreScoreSummary, score_new_readings, score_store

log = logging.getLogger("envtrust.scheduler")


@dataclass
class SchedulerStatus:
    """What the scheduler did last, for the dashboard's status line and the logs."""

    running: bool = False
    runs: int = 0
    last_summary: StoreScoreSummary | None = None
    last_error: str | None = None
    last_tick_utc: datetime | None = None
    history: list[str] = field(default_factory=list)


class ScoringScheduler:
    """A daemon thread that scores new readings of the store every ``every_s`` seconds.

    ``con`` is the process's DuckDB connection; the thread works on its own cursor. ``after_first``
    (optional) runs once after the first full run of a never-scored store (the demo opens its
    cases there)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, every_s: float, pipeline="default",
                 first_days: float | None = 92.0, after_first: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
                 capacity: float | None = None):
        if every_s <= 0:
            raise ValueError(f"the scoring interval must be positive seconds, not {every_s}")
        self._cur = con.cursor()
        self.every_s = float(every_s)
        self.pipeline = pipeline
        self.capacity = capacity  # the air network's analyst capacity: the runs' operating point
        self.first_days = first_days
        self.after_first = after_first
        self.status = SchedulerStatus()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="envtrust-scoring", daemon=True)

    def start(self) -> ScoringScheduler:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def poke(self) -> None:
        """Run the next tick now (e.g. right after a file ingest)."""
        self._wake.set()

    def tick(self) -> StoreScoreSummary | None:
        """One scheduled step: the first full run of a never-scored store, else the new readings."""
        with self._lock:
            self.status.running = True
            self.status.last_tick_utc = datetime.now(UTC).replace(tzinfo=None)
            try:
                if not has_scored(self._cur):
                    summary = score_store(self._cur, pipeline=self.pipeline, progress=False, last_days=self.first_days,
                                          capacity=self.capacity)
                    if self.after_first is not None:
                        self.after_first(self._cur)
                else:
                    summary = score_new_readings(self._cur, pipeline=self.pipeline, capacity=self.capacity)
            except Exception as exc:  # a failed run must not end the schedule; the next tick retries
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduled scoring failed; the readings stay unscored and the next run retries")
                return None
            finally:
                self.status.running = False
            self.status.last_error = None
            if summary is not None:
                self.status.runs += 1
                self.status.last_summary = summary
                self.status.history = (self.status.history + [str(summary)])[-20:]
                log.info("scored %d readings of %d stations in %.1f s (run %s, %d events)", summary.readings,
                         summary.stations, summary.seconds, summary.run_id, summary.events)
            return summary

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.tick()
            self._wake.wait(max(0.0, self.every_s - (time.monotonic() - t0)))
            self._wake.clear()
