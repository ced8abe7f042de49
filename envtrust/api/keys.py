"""Department API keys: created by an admin, stored hashed, each with scopes and a rate limit.

A key reads ``et_<key_id>_<secret>``: ``key_id`` (public, 12 hex digits) finds the stored row and
appears in the audit trail; the secret (43 URL-safe characters, 256 random bits) is kept only as
its SHA-256. A slow password hash is not needed for 256-bit random secrets, and a fast one keeps the
check of every request cheap.

Scopes (a key has ``read`` always):

- ``read``: released data, as anonymous callers, at the key's own higher rate limit;
- ``history``: every version of a released value, with its change notes (who, when, why);
- ``bulk``: reserved for the bulk files' index.

There is deliberately no scope for internal data (scores, events, cases, reviews): the API has no
route that reads them, so no key can reach them. A scope made for such a purpose would be added
here, to :data:`SCOPES`, together with its routes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from data import audit as audit_trail
from data import release as sql

SCOPES: dict[str, str] = {
    "read": "released data (as anonymous callers, at the key's rate limit)",
    "history": "every version of a released value with its change notes",
    "bulk": "the index of the bulk download files",
}
DEFAULT_KEY_RATE_PER_MIN = 600
MAX_KEY_RATE_PER_MIN = 60_000
_TOKEN = re.compile(r"^et_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_DEPT = re.compile(r"^[\w .-]{1,80}$")


@dataclass(frozen=True)
class ApiKey:
    """A verified key: who holds it, what it may do, how often."""

    key_id: str
    dept: str
    scopes: frozenset[str]
    rate_per_min: int


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_scopes(text: str | list[str]) -> frozenset[str]:
    """Scopes from 'read,history' (or a list); unknown names are refused, naming the known ones."""
    names = text.split(",") if isinstance(text, str) else [n for part in text for n in part.split(",")]
    scopes = {n.strip() for n in names if n.strip()}
    unknown = sorted(scopes - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known scopes: {', '.join(SCOPES)}")
    return frozenset(scopes | {"read"})


def create_key(con: duckdb.DuckDBPyConnection, dept: str, scopes: frozenset[str], actor: str,
               rate_per_min: int = DEFAULT_KEY_RATE_PER_MIN) -> str:
    """Store a new key for ``dept`` and return the full token (shown once, never stored)."""
    if not _DEPT.match(dept or ""):
        raise ValueError("dept must be 1-80 letters, digits, spaces, '.', '-' or '_'")
    if not 1 <= rate_per_min <= MAX_KEY_RATE_PER_MIN:
        raise ValueError(f"rate limit must be 1..{MAX_KEY_RATE_PER_MIN} calls per minute, not {rate_per_min}")
    scopes = parse_scopes(sorted(scopes))
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = datetime.now(UTC).replace(tzinfo=None)
    sql.insert_api_key(con, key_id, dept, ",".join(sorted(scopes)), rate_per_min, secret_digest(secret), actor, now)
    audit_trail.append(con, actor, "apikey_add", subject=key_id,
                       detail={"dept": dept, "scopes": sorted(scopes), "rate_per_min": rate_per_min})
    return f"et_{key_id}_{secret}"


def revoke_key(con: duckdb.DuckDBPyConnection, key_id: str, actor: str) -> bool:
    """Revoke a key at once; True when it existed and was active."""
    done = sql.revoke_api_key(con, key_id, datetime.now(UTC).replace(tzinfo=None))
    if done:
        audit_trail.append(con, actor, "apikey_revoke", subject=key_id)
    return done


def key_id_of(token: str) -> str | None:
    """The public key id of a well-formed token (None otherwise), for the audit trail."""
    match = _TOKEN.match(token or "")
    return match.group(1) if match else None


def verify_key(con: duckdb.DuckDBPyConnection, token: str) -> ApiKey | None:
    """The key a token stands for, or None (malformed, unknown, revoked or wrong secret)."""
    match = _TOKEN.match(token or "")
    if not match:
        return None
    row = sql.api_key_row(con, match.group(1))
    if row is None or not hmac.compare_digest(row["secret_sha256"], secret_digest(match.group(2))):
        return None
    return ApiKey(row["key_id"], row["dept"], frozenset(row["scopes"].split(",")), int(row["rate_per_min"]))
