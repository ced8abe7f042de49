"""The serving snapshot as the API uses it: per-thread read-only SQLite connections, answers only
at the store's generation, and a background refresh when the snapshot is missing or behind.

Why: a one-station day costs ~0.3 ms of CPU in the snapshot's B-tree against ~3 ms in DuckDB
(``data.snapshot``). A stale snapshot never answers: :meth:`ServingSnapshot.read` takes the
snapshot's generation and the rows in one statement and returns None - the caller then reads
DuckDB - unless that generation is the request's. So a release step reaches the API at once (from
DuckDB), and the snapshot takes the point reads over again when its refresh, started here in this
process (the store's only writer), has caught up.

A thread's connection is checked against the file on disk (``os.stat``: a rebuild replaces the
file) at most every :data:`FILE_CHECK_S`, and at once after it read another generation than the
request's: a replaced file can only show as a connection still at an older generation, which no
request uses. The ``stat`` of every request was 11 % of a one-station day's samples under 50
clients (py-spy, session 8): one more system call, one more hand-off of the GIL.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from data import snapshot as snap_sql

T = TypeVar("T")
log = logging.getLogger(__name__)
#: how long a thread's connection is used before the file is checked again for a rebuild (seconds)
FILE_CHECK_S = 1.0


@dataclass
class ServingSnapshot:
    """The snapshot file at ``path`` of the store ``con`` (its refresh uses a cursor of ``con``)."""

    path: Path
    con: duckdb.DuckDBPyConnection
    answered: int = 0  # reads answered from the snapshot (tests, benchmark)
    refreshes: int = 0
    _readers: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the worker handle
    _refresh_lock: threading.Lock = field(default_factory=threading.Lock)  # one refresh at a time
    _worker: threading.Thread | None = None
    _again: bool = False

    def __post_init__(self) -> None:
        if not self.path.exists():
            return
        cursor = self.con.cursor()
        try:
            if not snap_sql.snapshot_is_of_store(cursor, self.path):
                log.warning("serving snapshot %s is not of this store: removed", self.path)
                self.path.unlink()
        finally:
            cursor.close()

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's connection; the file is checked (and the connection opened again when it
        was replaced: a rebuild) when the last check is :data:`FILE_CHECK_S` old or was undone by
        :meth:`_check_file_next`."""
        held = getattr(self._readers, "held", None)
        now = time.monotonic()
        if held is not None and now < held[2]:
            return held[1]
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            return None
        if held is not None and held[0] == inode:
            self._readers.held = (inode, held[1], now + FILE_CHECK_S)
            return held[1]
        if held is not None:
            held[1].close()
        reader = snap_sql.open_reader(self.path)
        self._readers.held = (inode, reader, now + FILE_CHECK_S)
        return reader

    def _check_file_next(self) -> None:
        """Check the file at this thread's next read (its connection read an older generation)."""
        held = getattr(self._readers, "held", None)
        if held is not None:
            self._readers.held = (held[0], held[1], 0.0)

    def _drop_reader(self) -> None:
        held = getattr(self._readers, "held", None)
        if held is not None:
            del self._readers.held
            held[1].close()

    def read(self, generation: int, query: Callable[[sqlite3.Connection, int], T]) -> T | None:
        """``query(snapshot, generation)`` - a :mod:`data.snapshot` read, which raises
        :class:`data.snapshot.SnapshotNotAt` at another generation - or None when the snapshot is
        not at ``generation`` (and a refresh is started when it is missing or behind)."""
        try:
            reader = self._reader()
            if reader is None:
                self.refresh_in_background()
                return None
            result = query(reader, generation)
        except snap_sql.SnapshotNotAt as stale:
            if stale.held is None or stale.held < generation:
                self._check_file_next()  # this connection may hold a file since replaced
                self.refresh_in_background()
            return None
        except sqlite3.Error as exc:  # busy, or a file being replaced: DuckDB answers this one
            log.info("serving snapshot not read: %s", exc)
            self._drop_reader()
            return None
        self.answered += 1
        return result

    def refresh(self) -> tuple[int, int]:
        """Bring the snapshot to the store's generation now; (generation, rows written). Logged at
        start and end: a first build on a full store takes minutes in a background thread, and the
        API answers from DuckDB meanwhile - the log says why and for how long."""
        with self._refresh_lock:
            building = not self.path.exists()
            log.info("serving snapshot %s: %s", self.path, "building" if building else "refresh started")
            t0 = time.perf_counter()
            cursor = self.con.cursor()
            try:
                outcome = snap_sql.refresh_snapshot(cursor, self.path)
            finally:
                cursor.close()
            self.refreshes += 1
            log.info("serving snapshot %s: %s generation %d, %s rows written in %.1f s", self.path,
                     "built at" if building else "at", outcome[0], f"{outcome[1]:,}", time.perf_counter() - t0)
            return outcome

    def refresh_in_background(self) -> None:
        """Start one refresh thread, or ask the running one to go once more."""
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                self._again = True
                return
            self._again = False
            self._worker = threading.Thread(target=self._refresh_until_current, name="serving-snapshot",
                                            daemon=True)
            self._worker.start()

    def _refresh_until_current(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # the API goes on from DuckDB; the next stale read tries again
                log.exception("serving snapshot refresh failed")
                return
            with self._lock:
                if not self._again:
                    return
                self._again = False

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for a running refresh (tests, benchmark)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)
