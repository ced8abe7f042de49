"""What an API request needs: the process's store connection, the rate limiter, the answer cache,
a cursor, and the release generation it reads the store at."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import flask
from flask import g

from data import release as sql
from envtrust.api.auditlog import GroupCommitLog
from envtrust.api.cache import AnswerCache, PerGeneration
from envtrust.api.limits import RateLimiter

EXTENSION_KEY = "envtrust_api"
DEFAULT_ANON_RATE_PER_MIN = 120
_CURSOR_KEY = "envtrust_api_cursor"
_GENERATION_KEY = "envtrust_api_generation"


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


def api_state(app: flask.Flask | None = None) -> ApiState:
    return (app or flask.current_app).extensions[EXTENSION_KEY]


def api_cursor() -> duckdb.DuckDBPyConnection:
    """A DuckDB cursor for this request (a cursor per request: connections are not thread-safe)."""
    if _CURSOR_KEY not in g:
        g.setdefault(_CURSOR_KEY, api_state().con.cursor())
    return g.get(_CURSOR_KEY)


def api_generation() -> int:
    """The release generation this request reads the store at (read once, before any query)."""
    if _GENERATION_KEY not in g:
        g.setdefault(_GENERATION_KEY, sql.release_generation(api_cursor()))
    return g.get(_GENERATION_KEY)


def close_cursor(_exc: BaseException | None = None) -> None:
    cursor = g.pop(_CURSOR_KEY, None)
    if cursor is not None:
        cursor.close()
