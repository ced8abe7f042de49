"""Who is logged in, and what they may do.

The session cookie (signed by Flask with ``settings.secret_key``, HttpOnly, SameSite=Lax) carries
only the username. The role is read from the ``users`` table on every request, so removing a user
or changing a role takes effect at once instead of when the cookie expires. Passwords are checked by
:func:`data.users.verify_user` (salted scrypt hashes; the password itself is never stored).

Internal Dash callbacks call :func:`require_role` first thing: the check runs on the server for
every callback request, so hiding a button in the browser is never the only protection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
from flask import g, has_request_context, request, session

from data import audit
from data.users import ROLES, verify_user

log = logging.getLogger(__name__)

SESSION_USER_KEY = "envtrust_user"
ALL_ROLES: tuple[str, ...] = ROLES


@dataclass(frozen=True)
class User:
    """A logged-in dashboard user (role in leader | analyst | admin)."""

    username: str
    role: str

    def has_role(self, *roles: str) -> bool:
        """True when the user holds one of ``roles`` (no roles given = any logged-in user)."""
        return not roles or self.role in roles


class AuthError(PermissionError):
    """Base of the refusals the server turns into HTTP answers (never a traceback)."""

    status_code = 403


class NotAuthenticated(AuthError):
    """No valid session: the server answers 401 (callbacks) or redirects to /login (pages)."""

    status_code = 401


class RoleRequired(AuthError):
    """The session user lacks the role a page or callback needs: HTTP 403."""

    status_code = 403


def _role_of(con: duckdb.DuckDBPyConnection, username: str) -> str | None:
    row = con.execute("SELECT role FROM users WHERE username = ?", [username]).fetchone()
    return row[0] if row else None


def current_user() -> User | None:
    """The user of the current request, or None (no session, user deleted, or outside a request).

    The role comes from the store, not the cookie; the answer is cached for the request in ``flask.g``.
    """
    if not has_request_context():
        return None
    if "envtrust_user" in g:
        return g.envtrust_user
    user: User | None = None
    username = session.get(SESSION_USER_KEY)
    if isinstance(username, str) and username:
        from dashboard.server import db_cursor  # the server module imports this one

        role = _role_of(db_cursor(), username)
        if role in ALL_ROLES:
            user = User(username=username, role=role)
        else:
            session.pop(SESSION_USER_KEY, None)
    g.envtrust_user = user
    return user


def require_role(*roles: str) -> User:
    """Return the session user if they hold one of ``roles`` (none given = any role); else raise.

    Raises :class:`NotAuthenticated` (401) without a session and :class:`RoleRequired` (403) for a
    user without the role. Both subclass PermissionError; the server turns them into JSON answers.
    """
    unknown = [r for r in roles if r not in ALL_ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ALL_ROLES)}")
    user = current_user()
    if user is None:
        raise NotAuthenticated("login required")
    if not user.has_role(*roles):
        raise RoleRequired(f"role {user.role!r} may not do this (needs one of {', '.join(roles)})")
    return user


def _client_address() -> str:
    if not has_request_context():
        return "unknown"
    return request.remote_addr or "unknown"


def _audit(con: duckdb.DuckDBPyConnection, actor: str, action: str, detail: dict) -> None:
    """Append to the tamper-evident audit log; a write conflict is retried once, then logged."""
    for attempt in range(2):
        try:
            audit.append(con, actor, action, subject="dashboard", detail=detail)
            return
        except duckdb.TransactionException:
            if attempt:
                log.exception("audit log append failed for %s %s", actor, action)


def login_user(con: duckdb.DuckDBPyConnection, username: str, password: str) -> User | None:
    """Check the password; on success start a fresh session and audit ``login``.

    A failure is audited as ``login_failed`` (with the attempted name and client address) and
    returns None; unknown users and wrong passwords get the same answer.
    """
    username = (username or "").strip()
    role = verify_user(con, username, password or "") if username else None
    address = _client_address()
    if role is None:
        _audit(con, username[:64] or "-", "login_failed", {"address": address})
        return None
    session.clear()  # no session fixation: a login always starts a new session
    session[SESSION_USER_KEY] = username
    session.permanent = True
    user = User(username=username, role=role)
    g.envtrust_user = user
    _audit(con, username, "login", {"address": address, "role": role})
    return user


def logout_user(con: duckdb.DuckDBPyConnection) -> None:
    """End the session (audited as ``logout`` when someone was logged in)."""
    user = current_user()
    session.clear()
    g.envtrust_user = None
    if user is not None:
        _audit(con, user.username, "logout", {"address": _client_address()})
