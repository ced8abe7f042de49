"""What an API request needs: the process's store connection, the rate limiter, the answer cache,
its thread's cursor, and the release generation it reads the store at."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb
import flask
from flask import g

from data import release as sql
from envtrust.api.auditlog import GroupCommitLog
from envtrust.api.cache import AnswerCache, PerGeneration, StoreGeneration
from envtrust.api.limits import RateLimiter
from envtrust.api.snapshot import ServingSnapshot
from envtrust.settings import DEFAULT_API_ANON_RATE_PER_MIN

EXTENSION_KEY = "envtrust_api"
DEFAULT_ANON_RATE_PER_MIN = DEFAULT_API_ANON_RATE_PER_MIN
_GENERATION_KEY = "envtrust_api_generation"
T = TypeVar("T")


@dataclass
class ApiState:
    """Per-process API state (on ``app.extensions['envtrust_api']``)."""

    con: duckdb.DuckDBPyConnection
    anon_rate_per_min: int = DEFAULT_ANON_RATE_PER_MIN
    limiter: RateLimiter = field(default_factory=RateLimiter)
    audit_log: GroupCommitLog = field(default_factory=GroupCommitLog)
    answers: AnswerCache = field(default_factory=AnswerCache)
    locations: PerGeneration = field(default_factory=PerGeneration)
    verified_keys: PerGeneration = field(default_factory=PerGeneration)
    newest_hour: PerGeneration = field(default_factory=PerGeneration)
    generation: StoreGeneration = field(default_factory=StoreGeneration)
    cursors: threading.local = field(default_factory=threading.local)
    snapshot: ServingSnapshot | None = None  # the point reads' SQLite snapshot (envtrust.api.snapshot)


def api_state(app: flask.Flask | None = None) -> ApiState:
    return (app or flask.current_app).extensions[EXTENSION_KEY]


def api_cursor() -> duckdb.DuckDBPyConnection:
    """This server thread's DuckDB cursor (connections are not thread-safe, so one per thread),
    opened at its first API request and kept: waitress reuses its threads, and opening and closing a
    cursor around every request cost more than the request's own small queries (py-spy, session 7).
    Every read runs in autocommit and :func:`data.record.log_transaction` ends its own transaction,
    so a kept cursor carries nothing from one request to the next; a request that fails with an
    unhandled error takes its cursor with it (:func:`drop_cursor_after_error`)."""
    cursors = api_state().cursors
    cursor = getattr(cursors, "cursor", None)
    if cursor is None:
        cursor = cursors.cursor = api_state().con.cursor()
    return cursor


def api_generation() -> int:
    """The release generation this request reads the store at (taken once, before any query; from
    the store only when it may have changed, see :class:`StoreGeneration`)."""
    if _GENERATION_KEY not in g:
        raises = sql.generation_raises_ended()  # before the read: a raise ending meanwhile shows next time
        generation = api_state().generation.current(raises, time.monotonic(),
                                                     lambda: sql.release_generation(api_cursor()))
        g.setdefault(_GENERATION_KEY, generation)
    return g.get(_GENERATION_KEY)


def snapshot_read(query: Callable[[sqlite3.Connection, int], T]) -> T | None:
    """``query(snapshot, generation)`` when the serving snapshot is at this request's generation,
    else None (the caller reads DuckDB)."""
    snapshot = api_state().snapshot
    return None if snapshot is None else snapshot.read(api_generation(), query)


def drop_cursor_after_error(exc: BaseException | None = None) -> None:
    """After a request that ended in an unhandled error (a 500), close this thread's cursor:
    whatever state the error left it in - a transaction still open, say - goes with it, and the
    thread's next request opens a fresh one."""
    if exc is None:
        return
    cursors = api_state().cursors
    cursor = getattr(cursors, "cursor", None)
    if cursor is not None:
        del cursors.cursor
        with suppress(duckdb.Error):
            cursor.close()
