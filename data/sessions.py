"""Server-side dashboard sessions: logout and a password reset end every copy of a session.

A signed cookie alone cannot be revoked: a copy keeps working until it expires. So the cookie
carries a random session id as well as the username, and a request is logged in only while the
store holds an open, unexpired row for that id and user (:func:`session_is_open`). Logout
(:func:`end_session`) and a password reset (:func:`end_user_sessions`) close rows; a copied cookie
is refused on its next request. The store keeps only the SHA-256 of each id.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import duckdb

SESSION_ID_BYTES = 32
END_REASONS: tuple[str, ...] = ("logout", "password_reset", "user_removed")


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def session_hash(session_id: str) -> str:
    """What the store keeps of a session id (reading the store never yields a live cookie)."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def open_session(con: duckdb.DuckDBPyConnection, username: str, lifetime: timedelta) -> str:
    """Record a new session of ``username`` and return its id (for the cookie).

    Rows that expired more than one lifetime ago are removed here, so the table stays the size of
    the recent logins (a concurrent login removing the same rows wins; this one leaves them).
    """
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    now = _utc_now()
    con.execute("INSERT INTO dashboard_sessions VALUES (?, ?, ?, ?, NULL, NULL)",
                [session_hash(session_id), username, now, now + lifetime])
    with contextlib.suppress(duckdb.TransactionException):  # another login removes the same rows
        con.execute("DELETE FROM dashboard_sessions WHERE expires_at < ?", [now - lifetime])
    return session_id


def session_is_open(con: duckdb.DuckDBPyConnection, session_id: str, username: str) -> bool:
    """True while the session exists for ``username``, has not been ended and has not expired."""
    row = con.execute(
        "SELECT 1 FROM dashboard_sessions WHERE session_hash = ? AND username = ? "
        "AND ended_at IS NULL AND expires_at > ?",
        [session_hash(session_id), username, _utc_now()],
    ).fetchone()
    return row is not None


def end_session(con: duckdb.DuckDBPyConnection, session_id: str, reason: str = "logout") -> None:
    """Close one session (every copy of its cookie stops working)."""
    _check_reason(reason)
    con.execute("UPDATE dashboard_sessions SET ended_at = ?, end_reason = ? "
                "WHERE session_hash = ? AND ended_at IS NULL", [_utc_now(), reason, session_hash(session_id)])


def end_user_sessions(con: duckdb.DuckDBPyConnection, username: str, reason: str) -> int:
    """Close every open session of ``username`` (password reset, user removed); return how many."""
    _check_reason(reason)
    (count,) = con.execute(
        "SELECT count(*) FROM dashboard_sessions WHERE username = ? AND ended_at IS NULL", [username]
    ).fetchone()
    con.execute("UPDATE dashboard_sessions SET ended_at = ?, end_reason = ? "
                "WHERE username = ? AND ended_at IS NULL", [_utc_now(), reason, username])
    return int(count)


def _check_reason(reason: str) -> None:
    if reason not in END_REASONS:
        raise ValueError(f"end reason must be one of {', '.join(END_REASONS)}, not {reason!r}")
