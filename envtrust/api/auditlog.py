"""The audit of keyed API calls, committed in groups: every call is in the audit trail before its
answer leaves, without one transaction (one disk sync) per call.

Why: ``data.audit.append`` holds the record's log lock for one transaction per entry, so under 50
concurrent keyed clients every answer queued behind every other call's commit. Here a call adds its
entry to a queue and waits; the first waiting call that finds no writer at work becomes the writer,
takes everything queued so far and appends it with ``data.audit.append_batch`` (one transaction,
leaves linked in queue order), then wakes the calls of that batch. Calls that arrive meanwhile form
the next batch. A call whose batch fails to commit gets the error (the server answers 500): no
answer goes out for a call that is not recorded.

The writer lingers before it writes while entries keep arriving (each wait at most ``linger_s``,
all of them at most ``max_linger_s``), as PostgreSQL's ``commit_delay`` does: a batch costs ~5 ms
of CPU whatever its size (reading the log's tail, inserting the leaves, the commit), and under 50
clients the calls otherwise met the writer one or two at a time, so the audit took most of an
answer's CPU. A lone call waits one ``linger_s`` more.

Each call blocks once and is woken once: it waits on a lock of its own, which the writer releases
when the call's batch is committed - or when the call is the first of the next batch and so its
writer. Why: the earlier version woke every waiting call at each commit (``notify_all``), and each
then queued for the shared lock to look at its entry; every wake is a hand-off of the GIL among the
server's 32 threads (py-spy, session 8: 31 % of a one-station day's samples were calls waiting for
their batch). The lingering writer sleeps in short steps instead of being woken by each arrival.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from data import audit as audit_trail

Entry = tuple[str, str, str | None, object]  # actor, action, subject, detail


@dataclass
class _Slot:
    entry: Entry
    wake: threading.Lock = field(default_factory=threading.Lock)  # held until the call may go on
    done: bool = False
    error: BaseException | None = None


@dataclass
class GroupCommitLog:
    """Appends audit entries in batches; :meth:`append` returns once its entry is committed."""

    max_batch: int = 512
    linger_s: float = 0.002  # the writer writes once no entry arrived for this long ...
    max_linger_s: float = 0.010  # ... or once it has waited this long in all
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the queue and the writer's turn
    _queue: list[_Slot] = field(default_factory=list)
    _writing: bool = False
    batches: int = 0  # how many transactions were committed (for the benchmark and tests)

    def append(self, cursor: Callable[[], duckdb.DuckDBPyConnection], entry: Entry) -> None:
        """Record ``entry``; block until it is committed (raise if its batch failed)."""
        slot = _Slot(entry)
        slot.wake.acquire()
        with self._lock:
            self._queue.append(slot)
            writer, self._writing = not self._writing, True
        if not writer:
            slot.wake.acquire()  # released when committed, or when this call is the next writer
        if not slot.done:
            self._write_turn(cursor)
        if slot.error is not None:
            raise slot.error

    def _write_turn(self, cursor: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        """As the writer (the first queued call): linger, commit a batch from the queue's head - this
        call's entry among it - wake its calls, and hand the turn to the first call left queued."""
        self._linger()
        with self._lock:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        error = self._write(cursor, batch)
        for slot in batch:
            slot.done, slot.error = True, error
        with self._lock:
            following = self._queue[0] if self._queue else None
            self._writing = following is not None
        for slot in batch[1:]:  # the first is the writer's own
            slot.wake.release()
        if following is not None:
            following.wake.release()

    def _linger(self) -> None:
        """Wait while entries keep arriving (each step ``linger_s``, all at most ``max_linger_s``)."""
        deadline = time.monotonic() + self.max_linger_s
        while len(self._queue) < self.max_batch:
            queued, left = len(self._queue), deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(self.linger_s, left))
            if len(self._queue) == queued:
                return

    def _write(self, cursor: Callable[[], duckdb.DuckDBPyConnection], batch: list[_Slot]) -> BaseException | None:
        try:
            audit_trail.append_batch(cursor(), [s.entry for s in batch])
        except Exception as exc:  # every call of the batch learns of it
            return exc
        self.batches += 1
        return None
