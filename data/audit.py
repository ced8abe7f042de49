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
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb
import rfc8785

from data import record

GENESIS = "0" * 64
ENTRY_VERSION = 1
SALT_BYTES = 32
#: what a leaf is: an audit event, an interference record, or the redaction of an earlier leaf
KINDS: tuple[str, ...] = ("audit", "interference", "redaction")


_MAX_SAFE_INT = 2**53 - 1


def _plain_json(value: object) -> bool:
    """True for values whose RFC 8785 form equals ``json.dumps(sort_keys=True)``'s: strings,
    safe integers, booleans, null, lists, and objects with ASCII keys (no floats, whose number
    form differs, and no keys whose UTF-16 order could differ from code-point order)."""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain_json(v) for k, v in value.items())
    return False


def canonical_json(value: object) -> str:
    """RFC 8785 (JCS) canonical JSON text: the one byte form that is hashed and committed.

    Plain values (see :func:`_plain_json`) take the standard library's encoder, ~20x faster than
    the pure-Python ``rfc8785`` package and byte-identical for them (a property test holds the
    two together); everything else goes through ``rfc8785``.
    """
    if _plain_json(value):
        return _plain_canonical(value)
    return rfc8785.dumps(value).decode("utf-8")


def _plain_canonical(value: object) -> str:
    """RFC 8785 text of a value :func:`_plain_json` accepts (the caller vouches for it)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def commitment(salt: bytes, content: str) -> str:
    """Hex SHA-256(salt || UTF-8 content): what a leaf keeps of its content."""
    return hashlib.sha256(salt + content.encode("utf-8")).hexdigest()


def entry_digest(entry: str) -> str:
    """Hex SHA-256 of a canonical entry: the ``prev`` link the next entry carries."""
    return hashlib.sha256(entry.encode("utf-8")).hexdigest()


def timestamp_text(at: datetime) -> str:
    """Naive-UTC time as the entry spells it (microseconds, ``Z``)."""
    return at.isoformat(timespec="microseconds") + "Z"


def build_entry(index: int, logged_at: datetime | str, kind: str, actor: str, action: str, subject: str | None,
                content_commitment: str, prev: str) -> str:
    """The canonical leaf entry (see the module docstring); ``logged_at`` as a datetime or as
    :func:`timestamp_text` already made it. Every field is a string, a safe integer or null, so
    the entry is plain JSON by construction (the verifier rebuilds a million of these)."""
    if not all(isinstance(v, str) for v in (kind, actor, action, content_commitment, prev)) or \
            not isinstance(subject, str | None) or not 0 <= index <= _MAX_SAFE_INT:
        raise ValueError("entry fields must be text and the index a safe integer")
    return _plain_canonical({
        "v": ENTRY_VERSION, "index": index,
        "logged_at": logged_at if isinstance(logged_at, str) else timestamp_text(logged_at), "kind": kind,
        "actor": actor, "action": action, "subject": subject, "commitment": content_commitment, "prev": prev,
    })


def _now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_entry(kind: str, actor: str, action: str) -> None:
    """Refuse an entry the log cannot take (an unknown kind, no actor or no action)."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not actor or not action:
        raise ValueError("an entry needs an actor and an action")


def _leaves_after(con: duckdb.DuckDBPyConnection, items: Sequence[tuple[str, str, str | None, object]],
                  kind: str) -> tuple[list[tuple], list[tuple]]:
    """(leaf rows, content rows) continuing the log's tail, each linked to the one before."""
    tail = record.log_tail(con)
    now = _now_utc()
    if tail is None:
        index, logged_at, prev = 0, now, record.legacy_chain_head(con) or GENESIS
    else:  # the clock may step back (NTP); the log's time never does
        index, logged_at, prev = tail.index + 1, max(now, tail.logged_at), entry_digest(tail.entry)
    leaves, contents = [], []
    for actor, action, subject, detail in items:
        check_entry(kind, actor, action)
        content = canonical_json(detail)
        salt = secrets.token_bytes(SALT_BYTES)
        entry = build_entry(index, logged_at, kind, actor, action, subject, commitment(salt, content), prev)
        leaves.append((index, logged_at, kind, actor, action, subject, entry))
        contents.append((index, salt, content))
        index, prev = index + 1, entry_digest(entry)
    return leaves, contents


def append_within(con: duckdb.DuckDBPyConnection, actor: str, action: str, subject: str | None = None,
                  detail: object = None, kind: str = "audit") -> int:
    """Append one leaf inside the caller's :func:`data.record.log_transaction`; return its index.

    ``detail`` is any JSON value (canonicalised; RFC 8785 refuses NaN and integers beyond 2**53).
    """
    leaves, contents = _leaves_after(con, [(actor, action, subject, detail)], kind)
    record.insert_leaf(con, *leaves[0], contents[0][1], contents[0][2])
    return leaves[0][0]


def append(con: duckdb.DuckDBPyConnection, actor: str, action: str, subject: str | None = None,
           detail: object = None) -> int:
    """Append one audit entry in its own transaction (under the log lock); return its leaf index."""
    with record.log_transaction(con):
        return append_within(con, actor, action, subject, detail)


def append_batch(con: duckdb.DuckDBPyConnection, items: Sequence[tuple[str, str, str | None, object]],
                 kind: str = "audit", folded: tuple[str, int] | None = None) -> range:
    """Append many (actor, action, subject, detail) entries in one transaction: one commit (one
    disk sync) for all, for bulk writers (an imported backlog of paper records, say). Returns
    their indices. ``folded`` = (journal, last entry number): the entries come from that journal
    (``data.journal``), whose fold mark moves in the same transaction."""
    with record.log_transaction(con):
        leaves, contents = _leaves_after(con, items, kind)
        record.insert_leaves(con, leaves, contents)
        if folded is not None:
            record.mark_journal_folded(con, *folded)
    return range(leaves[0][0], leaves[-1][0] + 1) if leaves else range(0)


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
