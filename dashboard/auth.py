"""Who is logged in, and what they may do.

The session cookie (signed by Flask with ``settings.secret_key``, HttpOnly, SameSite=Lax) carries
the username and a random session id whose open/closed state lives in the store
(:mod:`data.sessions`): logout closes it, so every copy of the cookie is refused afterwards, and a
password reset closes every session of the user. The role is read from the ``users`` table on every request, so removing a user
or changing a role takes effect at once instead of when the cookie expires. Passwords are checked by
:func:`data.users.verify_user` (salted scrypt hashes; the password itself is never stored).

Every callback of the internal app is registered through :func:`guarded_callback`, which calls
:func:`require_role` before the callback's own code: the check runs on the server for every callback
request, so hiding a button in the browser is never the only protection.

The user of a request (:func:`dashboard.request_state.current_user`) and the request's store cursor
live in :mod:`dashboard.request_state`; this module never imports the server.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dash
import duckdb
from flask import has_request_context, request, session

from dashboard.request_state import SESSION_ID_KEY, SESSION_USER_KEY, User, current_user, set_current_user
from data import audit, sessions
from data.users import ROLES, verify_user

log = logging.getLogger(__name__)

ALL_ROLES: tuple[str, ...] = ROLES
GUARD_ATTRIBUTE = "envtrust_required_roles"


class AuthError(PermissionError):
    """Base of the refusals the server turns into HTTP answers (never a traceback)."""

    status_code = 403


class NotAuthenticated(AuthError):
    """No valid session: the server answers 401 (callbacks) or redirects to /login (pages)."""

    status_code = 401


class RoleRequired(AuthError):
    """The session user lacks the role a page or callback needs: HTTP 403."""

    status_code = 403


def _check_roles(roles: tuple[str, ...]) -> None:
    unknown = [r for r in roles if r not in ALL_ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ALL_ROLES)}")


def require_role(*roles: str) -> User:
    """Return the session user if they hold one of ``roles`` (none given = any role); else raise.

    Raises :class:`NotAuthenticated` (401) without a session and :class:`RoleRequired` (403) for a
    user without the role. Both subclass PermissionError; the server turns them into JSON answers.
    """
    _check_roles(roles)
    user = current_user()
    if user is None:
        raise NotAuthenticated("login required")
    if not user.has_role(*roles):
        raise RoleRequired(f"role {user.role!r} may not do this (needs one of {', '.join(roles)})")
    return user


def guarded_callback(app: dash.Dash, *dependencies: Any, roles: tuple[str, ...] = (),
                     **options: Any) -> Callable[[Callable], Callable]:
    """``app.callback(*dependencies, **options)`` whose function runs only for a logged-in user
    holding one of ``roles`` (none given = any logged-in user).

    The check (:func:`require_role`) runs before the callback's own code; a refusal raises
    :class:`NotAuthenticated` or :class:`RoleRequired`, which the server answers with 401 / 403 JSON.
    A callback that needs the user reads :func:`dashboard.request_state.current_user` afterwards.
    The registered function carries ``GUARD_ATTRIBUTE`` (the roles) so a test can prove every
    callback of an app goes through here. Unknown role names fail at registration.
    """
    _check_roles(roles)

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            require_role(*roles)
            return function(*args, **kwargs)

        setattr(guarded, GUARD_ATTRIBUTE, roles)
        return app.callback(*dependencies, **options)(guarded)

    return decorate


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


def login_user(con: duckdb.DuckDBPyConnection, username: str, password: str, *,
               lifetime: timedelta) -> User | None:
    """Check the password; on success start a fresh server-side session and audit ``login``.

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
    session[SESSION_ID_KEY] = sessions.open_session(con, username, lifetime)
    session[SESSION_USER_KEY] = username
    session.permanent = True
    user = User(username=username, role=role)
    set_current_user(user)
    _audit(con, username, "login", {"address": address, "role": role})
    return user


def logout_user(con: duckdb.DuckDBPyConnection) -> None:
    """End the session in the store, so every copy of the cookie is refused (audited as ``logout``
    when someone was logged in)."""
    user = current_user()
    session_id = session.get(SESSION_ID_KEY)
    if isinstance(session_id, str):
        sessions.end_session(con, session_id, "logout")
    session.clear()
    set_current_user(None)
    if user is not None:
        _audit(con, user.username, "logout", {"address": _client_address()})
