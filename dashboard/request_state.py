"""What a dashboard request needs: the settings, a DuckDB cursor, and who is logged in.

:mod:`dashboard.server` builds the Flask app and calls :func:`install` with a :class:`RequestState`;
pages, callbacks and :mod:`dashboard.auth` read it through this module and never import the server.
Dependencies inside the dashboard therefore point one way::

    server -> internal.app / public.app -> pages, callbacks -> auth -> request_state

The state lives on ``app.extensions`` (one per Flask app, no module state). The DuckDB connection
is opened once per process; each request gets its own ``cursor()`` (a separate connection to the
same database, safe to use from the request's thread), created on first use and closed at teardown.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import flask
from flask import g, has_request_context, session

from data.sessions import session_is_open
from data.users import ROLES
from envtrust.settings import Settings

EXTENSION_KEY = "envtrust"
SESSION_USER_KEY = "envtrust_user"
SESSION_ID_KEY = "envtrust_sid"
_CURSOR_KEY = "envtrust_cursor"
_USER_KEY = "envtrust_user"


@dataclass
class RequestState:
    """Per-process state every request reads: the settings and the store's connection."""

    settings: Settings
    con: duckdb.DuckDBPyConnection

    def new_cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor on the process's connection (the request-scoped one is :func:`db_cursor`)."""
        return self.con.cursor()


@dataclass(frozen=True)
class User:
    """A logged-in dashboard user (role in leader | analyst | admin)."""

    username: str
    role: str

    def has_role(self, *roles: str) -> bool:
        """True when the user holds one of ``roles`` (no roles given = any logged-in user)."""
        return not roles or self.role in roles


def install(app: flask.Flask, state: RequestState) -> None:
    """Put ``state`` on ``app`` and close each request's cursor at teardown."""
    app.extensions[EXTENSION_KEY] = state
    app.teardown_appcontext(_close_cursor)


def state(app: flask.Flask | None = None) -> RequestState:
    """The :class:`RequestState` of ``app`` (default: the current Flask app)."""
    return (app or flask.current_app).extensions[EXTENSION_KEY]


def settings() -> Settings:
    """The settings of the current app."""
    return state().settings


def db_cursor() -> duckdb.DuckDBPyConnection:
    """A DuckDB cursor for the current request (created on first use, closed at teardown).

    Cursors are per request because a DuckDB connection object must not be shared between threads
    running queries at the same time; the one underlying database is shared by all of them.
    """
    if _CURSOR_KEY not in g:
        g.envtrust_cursor = state().new_cursor()
    return g.envtrust_cursor


def _close_cursor(_exc: BaseException | None) -> None:
    cursor = g.pop(_CURSOR_KEY, None)
    if cursor is not None:
        cursor.close()


def _role_of(con: duckdb.DuckDBPyConnection, username: str) -> str | None:
    row = con.execute("SELECT role FROM users WHERE username = ?", [username]).fetchone()
    return row[0] if row else None


def current_user() -> User | None:
    """The user of the current request, or None (no session, user deleted, or outside a request).

    The session cookie carries the username and a session id; the request is logged in only while
    the store holds that session open (:func:`data.sessions.session_is_open`), so logout and a
    password reset end every copy of the cookie. The role comes from the store on every request
    (so removing a user or changing a role takes effect at once); the user is cached for the
    request in ``flask.g``.
    """
    if not has_request_context():
        return None
    if _USER_KEY in g:
        return g.envtrust_user
    user: User | None = None
    username, session_id = session.get(SESSION_USER_KEY), session.get(SESSION_ID_KEY)
    if isinstance(username, str) and username:
        con = db_cursor()
        open_ = isinstance(session_id, str) and session_is_open(con, session_id, username)
        role = _role_of(con, username) if open_ else None
        if role in ROLES:
            user = User(username=username, role=role)
        else:
            session.pop(SESSION_USER_KEY, None)
            session.pop(SESSION_ID_KEY, None)
    g.envtrust_user = user
    return user


def set_current_user(user: User | None) -> None:
    """Record the request's user after a login or logout (the session itself is set by the caller)."""
    g.envtrust_user = user
