"""The audit trail and the interference record (干预留痕), written as leaves of one Merkle log.

:func:`append` keeps the call every caller already makes (logins, reviews, case transitions,
user and logger-password changes); :func:`append_within` does the same inside a transaction the
caller holds through :func:`data.record.log_transaction` (a review and its audit entry commit
together). The tree, proofs, checkpoints and the verifier are in ``envtrust.record``.

Each leaf entry is RFC 8785 canonical JSON::

    {"v": 1, "index": 7, "logged_at": "2026-12-02T20:41:00.123456Z", "kind": "audit",
     "actor": "ana", "action": "login", "subject": "dashboard",
     "commitment": SHA-256(salt || content) hex, "prev": SHA-256(entry 6) hex}

- ``commitment`` binds the content (the detail of an audit entry, the whole interference record)
  kept beside the log with a random 32-byte salt: clearing both for a lawful redaction leaves the
  leaf, and so every proof and checkpoint, intact; the salt keeps short contents unguessable.
- ``prev`` links each entry to the one before (entry 0 to the last hash of the linear chain that
  preceded the log, or 64 zeros). The signed Merkle checkpoints catch a deleted tail or a rebuilt
  log; the link lets the verifier name the very entry that was edited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import duckdb
import rfc8785

from data import record

GENESIS = "0" * 64
ENTRY_VERSION = 1
SALT_BYTES = 32
#: what a leaf is: an audit event, an interference record, or the redaction of an earlier leaf
KINDS: tuple[str, ...] = ("audit", "interference", "redaction")


def canonical_json(value: object) -> str:
    """RFC 8785 (JCS) canonical JSON text: the one byte form that is hashed and committed."""
    return rfc8785.dumps(value).decode("utf-8")


def commitment(salt: bytes, content: str) -> str:
    """Hex SHA-256(salt || UTF-8 content): what a leaf keeps of its content."""
    return hashlib.sha256(salt + content.encode("utf-8")).hexdigest()


def entry_digest(entry: str) -> str:
    """Hex SHA-256 of a canonical entry: the ``prev`` link the next entry carries."""
    return hashlib.sha256(entry.encode("utf-8")).hexdigest()


def timestamp_text(at: datetime) -> str:
    """Naive-UTC time as the entry spells it (microseconds, ``Z``)."""
    return at.isoformat(timespec="microseconds") + "Z"


def build_entry(index: int, logged_at: datetime, kind: str, actor: str, action: str, subject: str | None,
                content_commitment: str, prev: str) -> str:
    """The canonical leaf entry (see the module docstring)."""
    return canonical_json({
        "v": ENTRY_VERSION, "index": index, "logged_at": timestamp_text(logged_at), "kind": kind,
        "actor": actor, "action": action, "subject": subject, "commitment": content_commitment, "prev": prev,
    })


def _now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def append_within(con: duckdb.DuckDBPyConnection, actor: str, action: str, subject: str | None = None,
                  detail: object = None, kind: str = "audit") -> int:
    """Append one leaf inside the caller's :func:`data.record.log_transaction`; return its index.

    ``detail`` is any JSON value (canonicalised; RFC 8785 refuses NaN and integers beyond 2**53).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not actor or not action:
        raise ValueError("an entry needs an actor and an action")
    content = canonical_json(detail)
    salt = secrets.token_bytes(SALT_BYTES)
    tail = record.log_tail(con)
    now = _now_utc()
    if tail is None:
        index, logged_at, prev = 0, now, record.legacy_chain_head(con) or GENESIS
    else:  # the clock may step back (NTP); the log's time never does
        index, logged_at, prev = tail.index + 1, max(now, tail.logged_at), entry_digest(tail.entry)
    entry = build_entry(index, logged_at, kind, actor, action, subject, commitment(salt, content), prev)
    record.insert_leaf(con, index, logged_at, kind, actor, action, subject, entry, salt, content)
    return index


def append(con: duckdb.DuckDBPyConnection, actor: str, action: str, subject: str | None = None,
           detail: object = None) -> int:
    """Append one audit entry in its own transaction (under the log lock); return its leaf index."""
    with record.log_transaction(con):
        return append_within(con, actor, action, subject, detail)


def verify_legacy_chain(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Sequence numbers of the old linear chain (before the log) that no longer match their hash."""
    broken: list[int] = []
    prev = GENESIS
    for seq, logged_at, actor, action, subject, detail_json, prev_hash, digest in record.legacy_chain_rows(con):
        payload = "|".join([prev, str(seq), logged_at, actor, action, subject or "", detail_json or ""])
        if prev_hash != prev or digest != hashlib.sha256(payload.encode("utf-8")).hexdigest():
            broken.append(seq)
        prev = digest
    return broken
