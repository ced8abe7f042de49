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
    done: bool = False
    error: BaseException | None = None


@dataclass
class GroupCommitLog:
    """Appends audit entries in batches; :meth:`append` returns once its entry is committed."""

    max_batch: int = 512
    linger_s: float = 0.002  # the writer writes once no entry arrived for this long ...
    max_linger_s: float = 0.010  # ... or once it has waited this long in all
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cond: threading.Condition = field(init=False)  # a batch was written
    _arrived: threading.Condition = field(init=False)  # an entry was queued (wakes a lingering writer)
    _queue: list[_Slot] = field(default_factory=list)
    _writing: bool = False
    batches: int = 0  # how many transactions were committed (for the benchmark and tests)

    def __post_init__(self) -> None:
        self._cond = threading.Condition(self._lock)
        self._arrived = threading.Condition(self._lock)

    def append(self, cursor: Callable[[], duckdb.DuckDBPyConnection], entry: Entry) -> None:
        """Record ``entry``; block until it is committed (raise if its batch failed)."""
        slot = _Slot(entry)
        with self._cond:
            self._queue.append(slot)
            self._arrived.notify()
            while not slot.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                self._linger()
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                self._cond.release()
                try:
                    error = self._write(cursor, batch)
                finally:
                    self._cond.acquire()
                    self._writing = False
                for done in batch:
                    done.done, done.error = True, error
                self._cond.notify_all()
        if slot.error is not None:
            raise slot.error

    def _linger(self) -> None:
        """Wait (holding the writer's turn, not the lock) while entries keep arriving."""
        deadline = time.monotonic() + self.max_linger_s
        while len(self._queue) < self.max_batch:
            queued, left = len(self._queue), deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.wait(min(self.linger_s, left))
            if len(self._queue) == queued:
                return

    def _write(self, cursor: Callable[[], duckdb.DuckDBPyConnection], batch: list[_Slot]) -> BaseException | None:
        try:
            audit_trail.append_batch(cursor(), [s.entry for s in batch])
        except Exception as exc:  # every call of the batch learns of it
            return exc
        self.batches += 1
        return None
