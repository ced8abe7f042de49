"""The audit of keyed API calls, written in groups: every call is durably recorded before its answer
leaves, without one transaction (one disk sync) per call. The server uses :class:`JournaledLog`
(each group synced to an append-only journal, folded into the audit trail within a second); its
base, :class:`GroupCommitLog`, commits each group straight into the record.

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

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from data import audit as audit_trail
from data import journal

log = logging.getLogger(__name__)

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
        errors = self._write(cursor, batch)
        for slot, error in zip(batch, errors, strict=True):
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

    def _write(self, cursor: Callable[[], duckdb.DuckDBPyConnection],
               batch: list[_Slot]) -> list[BaseException | None]:
        """Commit the batch; each call's error (None: committed)."""
        try:
            audit_trail.append_batch(cursor(), [s.entry for s in batch])
        except Exception as exc:  # every call of the batch learns of it
            return [exc] * len(batch)
        self.batches += 1
        return [None] * len(batch)


@dataclass
class JournaledLog(GroupCommitLog):
    """:class:`GroupCommitLog` whose batches go to an append-only journal file (``data.journal``)
    instead of a DuckDB transaction: a call returns once its batch is written and synced, and a
    background folder moves the journal into the record every ``fold_every_s`` seconds. So every
    keyed call is durable before its answer leaves, as before, at a ``write`` and an ``fdatasync``
    a group (~0.1 ms of CPU instead of ~4-9 ms), and reaches the record's Merkle log - hashed,
    linked, checkpointed - at most ``fold_every_s`` (plus one fold) later.

    A shorter linger than the direct log's (each wait 1 ms, at most 4 ms): a group costs ~0.1 ms of
    CPU, no longer ~5 ms, but larger groups still mean fewer wake-ups of waiting calls - under 50
    keyed clients (session 11, two runs) no linger answered 474-492 one-station days a second with
    ~32 context switches each, this linger 539-556 with ~26, at the same CPU per answer.

    :meth:`open` folds what an earlier process left (a kill between journal and fold loses nothing)
    and starts the folder; :meth:`close` stops it and folds the rest.
    """

    folder: Path = Path("api-journal")
    journal_name: str = journal.API_CALLS  # in record_journal_folds
    fold_every_s: float = 1.0
    linger_s: float = 0.001
    max_linger_s: float = 0.004
    _file_lock: threading.Lock = field(default_factory=threading.Lock)  # the open segment, the numbers
    _fold_lock: threading.Lock = field(default_factory=threading.Lock)
    _fd: int | None = None
    _lock_fd: int | None = None  # the folder's writer lock (data.journal.lock_folder)
    _segment: int = 0
    _segment_bytes: int = 0
    _next_number: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _folder_thread: threading.Thread | None = None
    folded: int = 0  # entries folded into the record by this process (tests, benchmark)

    def open(self, con: duckdb.DuckDBPyConnection, background: bool = True) -> int:
        """Fold every segment left by an earlier process, open a new segment, start the folder (with
        ``background``); the number of leftover entries folded."""
        with self._fold_lock, self._file_lock:
            self._lock_fd = journal.lock_folder(self.folder)
            try:
                self._next_number = journal.last_number(self.folder, con, self.journal_name) + 1
                left = journal.segment_numbers(self.folder)
                leftovers = journal.fold(con, self.folder, self.journal_name, left)
                self._segment, self._segment_bytes = (left[-1] + 1 if left else 1), 0
                self._fd = journal.open_segment(self.folder, self._segment)
            except BaseException:  # not open: the folder is free for the next try
                os.close(self._lock_fd)
                self._lock_fd = None
                raise
        if leftovers:
            log.warning("folded %d keyed-call audit entries left in %s by an earlier process", leftovers,
                        self.folder)
        if background:
            self._folder_thread = threading.Thread(target=self._fold_loop, args=(con.cursor(),),
                                                   name="api-journal-folder", daemon=True)
            self._folder_thread.start()
        return leftovers

    def fold(self, con: duckdb.DuckDBPyConnection) -> int:
        """Close the open segment (when it holds entries) and fold every closed one into the record;
        how many entries were folded."""
        with self._fold_lock:
            with self._file_lock:
                if self._fd is not None and self._segment_bytes:
                    self._next_segment()
                closed = [n for n in journal.segment_numbers(self.folder) if n < self._segment]
            folded = journal.fold(con, self.folder, self.journal_name, closed) if closed else 0
            self.folded += folded
            return folded

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        """Stop the folder, fold everything journaled, close the journal file."""
        self._stop.set()
        if self._folder_thread is not None:
            self._folder_thread.join()
        self.fold(con)
        with self._file_lock:
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._lock_fd = None

    def _next_segment(self) -> None:
        """Close the open segment and open the following one (the caller holds the file lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._segment, self._segment_bytes = self._segment + 1, 0
        self._fd = journal.open_segment(self.folder, self._segment)

    def _fold_loop(self, cursor: duckdb.DuckDBPyConnection) -> None:
        try:
            while not self._stop.wait(self.fold_every_s):
                try:
                    self.fold(cursor)
                except Exception:  # the entries stay journaled; the next round or the next start folds them
                    log.exception("folding the keyed-call audit journal %s failed", self.folder)
        finally:
            cursor.close()

    def _write(self, cursor: Callable[[], duckdb.DuckDBPyConnection],
               batch: list[_Slot]) -> list[BaseException | None]:
        """Append the batch's valid entries to the open segment and sync it; a call whose entry the
        log would refuse gets its own error, a failed write fails the batch."""
        entries, errors = [], []
        for slot in batch:
            try:
                entries.append(journal.entry_content("audit", slot.entry))
                errors.append(None)
            except (ValueError, TypeError) as exc:
                errors.append(exc)
        if not entries:
            return errors
        with self._file_lock:
            if self._lock_fd is None:
                return [RuntimeError("the keyed-call audit journal is not open")] * len(batch)
            if self._fd is None:  # the last failed write could not open the following segment either
                try:
                    self._next_segment()
                except OSError as exc:
                    return [exc] * len(batch)
            first, self._next_number = self._next_number, self._next_number + len(entries)
            data = journal.encode(first, entries)
            try:
                journal.write_synced(self._fd, data)
            except OSError as exc:  # a torn write stays at the end of its segment: appends go on in a new one
                with suppress(OSError):  # (whole lines written before the error are folded: their
                    self._next_segment()  # calls are recorded although they were answered 500)
                return [exc] * len(batch)
            self._segment_bytes += len(data)
        self.batches += 1
        return errors
