"""What an API request needs: the process's store connection, the rate limiter, a cursor."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import flask
from flask import g

from envtrust.api.auditlog import GroupCommitLog
from envtrust.api.limits import RateLimiter

EXTENSION_KEY = "envtrust_api"
DEFAULT_ANON_RATE_PER_MIN = 120
_CURSOR_KEY = "envtrust_api_cursor"


@dataclass
class ApiState:
    """Per-process API state (on ``app.extensions['envtrust_api']``)."""

    con: duckdb.DuckDBPyConnection
    anon_rate_per_min: int = DEFAULT_ANON_RATE_PER_MIN
    limiter: RateLimiter = field(default_factory=RateLimiter)
    audit_log: GroupCommitLog = field(default_factory=GroupCommitLog)


def api_state(app: flask.Flask | None = None) -> ApiState:
    return (app or flask.current_app).extensions[EXTENSION_KEY]


def api_cursor() -> duckdb.DuckDBPyConnection:
    """A DuckDB cursor for this request (a cursor per request: connections are not thread-safe)."""
    if _CURSOR_KEY not in g:
        g.setdefault(_CURSOR_KEY, api_state().con.cursor())
    return g.get(_CURSOR_KEY)


def close_cursor(_exc: BaseException | None = None) -> None:
    cursor = g.pop(_CURSOR_KEY, None)
    if cursor is not None:
        cursor.close()
