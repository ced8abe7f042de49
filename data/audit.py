"""Tamper-evident audit trail (干预留痕): interference records, reviews and logins.

Each row stores ``hash = sha256(prev_hash | seq | logged_at | actor | action | subject | detail)``;
editing or deleting any row breaks every later hash, which :func:`verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import duckdb

GENESIS = "0" * 64


def _row_hash(prev_hash: str, seq: int, logged_at: str, actor: str, action: str,
              subject: str | None, detail_json: str | None) -> str:
    payload = "|".join([prev_hash, str(seq), logged_at, actor, action, subject or "", detail_json or ""])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(con: duckdb.DuckDBPyConnection, actor: str, action: str, subject: str | None = None,
           detail: dict | None = None) -> int:
    """Append one record and return its sequence number."""
    con.execute("BEGIN TRANSACTION")
    try:
        last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        seq = (last[0] + 1) if last else 1
        prev = last[1] if last else GENESIS
        logged_at = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        detail_json = json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail is not None else None
        digest = _row_hash(prev, seq, logged_at, actor, action, subject, detail_json)
        con.execute(
            "INSERT INTO audit_log VALUES (?, CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?)",
            [seq, logged_at, actor, action, subject, detail_json, prev, digest],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return seq


def verify_chain(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Sequence numbers whose record no longer matches its hash chain (empty = intact)."""
    rows = con.execute(
        "SELECT seq, strftime(logged_at, '%Y-%m-%dT%H:%M:%S.%f'), actor, action, subject, detail_json, "
        "prev_hash, hash FROM audit_log ORDER BY seq"
    ).fetchall()
    broken: list[int] = []
    prev = GENESIS
    for seq, logged_at, actor, action, subject, detail_json, prev_hash, digest in rows:
        expected = _row_hash(prev, seq, logged_at, actor, action, subject, detail_json)
        if prev_hash != prev or digest != expected:
            broken.append(seq)
        prev = digest
    return broken
