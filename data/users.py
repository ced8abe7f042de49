"""Dashboard users: roles leader / analyst / admin / enforcement (执法), passwords stored only as salted hashes."""

from __future__ import annotations

import duckdb
import pandas as pd
from werkzeug.security import check_password_hash, generate_password_hash

from data.sessions import end_user_sessions

ROLES: tuple[str, ...] = ("leader", "analyst", "admin", "enforcement")


def add_user(con: duckdb.DuckDBPyConnection, username: str, password: str, role: str,
             display_name: str | None = None, replace: bool = False) -> None:
    """Create (or, with ``replace``, reset) a user; the password is hashed (scrypt) before storage.

    A reset ends every open dashboard session of the user (:mod:`data.sessions`): whoever held the
    old password, or a copy of a cookie, is logged out at once.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError("username must be letters, digits, '-', '_' or '.'")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    exists = con.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone()
    if exists and not replace:
        raise ValueError(f"user {username!r} exists (use replace to reset)")
    if exists:
        end_user_sessions(con, username, "password_reset")
        con.execute("DELETE FROM users WHERE username = ?", [username])
    con.execute(
        "INSERT INTO users VALUES (?, ?, ?, ?, now())",
        [username, generate_password_hash(password), role, display_name or username],
    )


def verify_user(con: duckdb.DuckDBPyConnection, username: str, password: str) -> str | None:
    """Return the user's role if the password matches, else None (same answer for unknown users)."""
    row = con.execute("SELECT password_hash, role FROM users WHERE username = ?", [username]).fetchone()
    if row is None:
        check_password_hash(generate_password_hash("x"), password)  # similar time for unknown users
        return None
    return row[1] if check_password_hash(row[0], password) else None


def list_users(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT username, role, display_name, created_at FROM users ORDER BY username").df()
