"""Where the HJ 212 receiver's :class:`~data.hj212.receiver.PacketStore` runs: a thread of the
receiver's process (the default), or a process of its own.

Why a process: the store's work (judging, the ingest's pandas and DuckDB calls) and the event
loop's work (reads, framing, parsing, answers) are both Python; in one process they take turns on
one GIL, so the receiver can use one core. In a writer process each has its own interpreter. The
event loop hands over each batch's parsed packets (pickled, ~12 us per packet both ways) and gets
back, per item, the status, reason and any 9011 bytes; a batch is acknowledged only after the
writer process said its commit returned, so "ack after commit" and crash safety are those of the
thread. The writer process dies with the receiver (Linux ``PR_SET_PDEATHSIG``): after a ``kill -9``
of the receiver nothing keeps the store locked.

Why the thread is the default: where other work holds the cores, CPU and not the GIL is the limit,
and the pickling and pipe round trips made the process writer slower (session 7 of
``benchmarks/results/hj212.md``). And ``envtrust serve --hj212-port`` runs the dashboard and the
receiver in one process on one store (DuckDB allows one writing process per file), so there the
store must share the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.timeconv import PlausibleWindow
from data.hj212.wal import DEFAULT_POLICY, CheckpointPolicy

# Why the store arrives as ``opener``: this module runs whatever store ``opener(options)`` returns
# (``data.hj212.receiver.open_packet_store``: a PacketStore with ``commit_batch``,
# ``sender_refusal``, ``passwords`` and ``con``) and imports nothing of the receiver, which imports it.
Opener = Callable[["StoreOptions"], Any]
log = logging.getLogger("envtrust.hj212")

WRITER_KINDS = ("thread", "process")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class WriterLost(RuntimeError):
    """The writer process is gone: nothing more can be committed (the receiver must stop)."""


@dataclass(frozen=True)
class StoreOptions:
    """What opening the receiver's store needs; picklable, so a writer process can open it."""

    db_path: Path
    memory_mb: int | None
    allow_no_pw: bool
    window: PlausibleWindow
    # DuckDB threads of the store's instance; None: DuckDB's default (one per core). 1 runs each
    # statement on the calling thread: a commit's statements are small, and handing them to worker
    # threads cost ~7 ms more CPU per commit (36 -> 44 ms for 1-10 packets, docs/hj212.md)
    duckdb_threads: int | None = None
    # when the writer checkpoints the WAL, between commits (data.hj212.wal); None: DuckDB's own
    # automatic checkpoint, inside the commit that passes its threshold
    checkpoint: CheckpointPolicy | None = DEFAULT_POLICY


def _log_failure(future) -> None:
    """Log what a job nobody awaits raised (the writer's checkpoint after a commit)."""
    if not future.cancelled() and future.exception() is not None:
        log.error("checkpoint after a commit failed: %r", future.exception())


class ThreadWriter:
    """The PacketStore on one worker thread of the receiver's process."""

    def __init__(self, opener: Opener, options: StoreOptions):
        self.opener, self.options = opener, options
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hj212-writer")
        self._store: Any = None
        # the last commit's time.monotonic at its start and end, and the writer thread's CPU seconds
        # in it (DuckDB runs its statements on this thread with ``duckdb_threads=1``)
        self.last_commit_span: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _commit_timed(self, batch: list) -> list:
        start, cpu = time.monotonic(), time.thread_time()
        try:
            return self._store.commit_batch(batch)
        finally:
            self.last_commit_span = (start, time.monotonic(), time.thread_time() - cpu)

    async def _run(self, fn: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        self._store = await self._run(self.opener, self.options)

    async def commit(self, batch: list) -> list:
        outcomes = await self._run(self._commit_timed, batch)
        # off the ack path: the batch is answered meanwhile; the next commit queues behind it
        self._executor.submit(self._store.after_commit, len(batch)).add_done_callback(_log_failure)
        return outcomes

    def is_verified(self, mn: str, pw: str) -> bool:
        """True when ``pw`` was already accepted for ``mn`` (no hashing: safe on the event loop)."""
        return self._store.passwords.is_verified(mn, pw)

    async def sender_refusal(self, mn: str, pw: str, peer: str) -> tuple[str, str] | None:
        if self.is_verified(mn, pw):
            return None
        return await self._run(self._store.sender_refusal, mn, pw, peer)

    async def close(self) -> None:
        if self._store is not None:
            await self._run(self._store.con.close)
        self._executor.shutdown(wait=True)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the receiver dies; exit if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(0)


def writer_process_main(conn, opener: Opener, options: StoreOptions, parent_pid: int) -> None:
    """The writer process: open the store, then answer requests until "close" or the pipe ends.

    Requests: ("commit", items) -> ("ok", outcomes) | ("error", text); ("refusal", mn, pw, peer)
    -> ("ok", refusal); ("close",) -> ("ok", None). SIGINT is ignored: a Ctrl-C in the terminal
    reaches the whole process group, and the receiver stops its writer itself, after the last
    commit. Batches cross as the receiver's Incoming items (pickled without their link) and
    come back as its Outcomes."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        store = opener(options)
    except Exception as exc:  # noqa: BLE001 - reported to the receiver, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ok", None))
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                return
            kind = request[0]
            if kind == "close":
                store.con.close()
                conn.send(("ok", None))
                return
            try:
                if kind == "commit":
                    conn.send(("ok", store.commit_batch(request[1])))
                    try:  # while the receiver answers the batch; its reply is sent, so never a second one
                        store.after_commit(len(request[1]))
                    except Exception as exc:  # noqa: BLE001 - logged; the next commit tries again
                        log.error("checkpoint after a commit failed: %r", exc)
                elif kind == "refusal":
                    conn.send(("ok", store.sender_refusal(*request[1:])))
                else:
                    conn.send(("error", f"unknown request {kind!r}"))
            except Exception as exc:  # noqa: BLE001 - the batch is not acknowledged; the receiver logs it
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        with contextlib.suppress(Exception):
            store.con.close()


class ProcessWriter:
    """The PacketStore in a process of its own, one request at a time over a pipe."""

    def __init__(self, opener: Opener, options: StoreOptions):
        self.opener, self.options = opener, options
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hj212-writer-pipe")
        # the pipe round trip (time.monotonic at its start and end; no CPU figure: it is the other process's)
        self.last_commit_span: tuple[float, float, float] = (0.0, 0.0, float("nan"))
        self._conn = None
        self._process: multiprocessing.Process | None = None

    def _call(self, request: tuple):
        try:
            self._conn.send(request)
            status, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._process.join(1)
            raise WriterLost(f"the writer process ended (exit code {self._process.exitcode})") from exc
        if status != "ok":
            raise RuntimeError(value)
        return value

    async def _request(self, request: tuple):
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, request)

    async def start(self) -> None:
        """Start the writer process (from this thread: the death signal follows the thread that
        started it) and wait until its store is open; duckdb.IOException when it cannot open it."""
        import duckdb

        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._conn, child = context.Pipe()
        self._process = context.Process(target=writer_process_main, args=(child, self.opener, self.options, os.getpid()),
                                        name="hj212-writer", daemon=True)
        self._process.start()
        child.close()
        try:
            status, value = await asyncio.get_running_loop().run_in_executor(self._executor, self._conn.recv)
        except EOFError:
            status, value = "error", f"the writer process ended (exit code {self._process.exitcode})"
        if status != "ok":
            self._process.join(5)
            raise duckdb.IOException(value)

    def _commit_timed(self, batch: list) -> list:
        start = time.monotonic()
        try:
            return self._call(("commit", batch))
        finally:
            self.last_commit_span = (start, time.monotonic(), float("nan"))

    async def commit(self, batch: list) -> list:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._commit_timed, batch)

    def is_verified(self, mn: str, pw: str) -> bool:
        """False: the passwords are checked in the writer process (ask ``sender_refusal``)."""
        return False

    async def sender_refusal(self, mn: str, pw: str, peer: str) -> tuple[str, str] | None:
        return await self._request(("refusal", mn, pw, peer))

    async def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            with contextlib.suppress(WriterLost, RuntimeError):
                await self._request(("close",))
            await asyncio.get_running_loop().run_in_executor(self._executor, self._process.join, 30)
        if self._conn is not None:
            self._conn.close()
        self._executor.shutdown(wait=True)


def make_writer(kind: str, opener: Opener, options: StoreOptions) -> ThreadWriter | ProcessWriter:
    """The writer of ``kind`` (one of ``WRITER_KINDS``) for the store ``opener(options)`` opens."""
    if kind not in WRITER_KINDS:
        raise ValueError(f"writer {kind!r}: expected one of {', '.join(WRITER_KINDS)}")
    return (ThreadWriter if kind == "thread" else ProcessWriter)(opener, options)
