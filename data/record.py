"""SQL of the tamper-evident record (the Merkle log of ``envtrust.record``): leaves, content beside
them, attachments by hash and signed checkpoints. Schema: data/migrations/020_record.sql.

Appends are serialised by one process-wide lock (:data:`LOG_LOCK`) around one transaction: DuckDB
allows one writing process per file, so inside that process the lock alone decides the next leaf
index, and two requests can never claim the same one (issue 11, defect 5: parallel logins and
reviews lost audit rows to write conflicts).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

Con = duckdb.DuckDBPyConnection

#: one lock for every append in this process (re-entrant: a caller's transaction may append)
LOG_LOCK = threading.RLock()


@contextmanager
def log_transaction(con: Con) -> Iterator[Con]:
    """Hold :data:`LOG_LOCK` and one transaction; commit on success, roll back on any error.

    Everything written inside (a review and its audit entry, say) lands together or not at all.
    """
    with LOG_LOCK:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        try:
            con.execute("COMMIT")
        except duckdb.Error:
            with suppress(duckdb.Error):  # a failed commit may have ended the transaction already
                con.execute("ROLLBACK")
            raise


@dataclass(frozen=True)
class Tail:
    """The last leaf: where the next append continues."""

    index: int
    logged_at: datetime
    entry: str


def log_tail(con: Con) -> Tail | None:
    """The last leaf of the log, or None when it is empty."""
    rows = con.execute(
        "SELECT idx, logged_at, entry FROM record_log WHERE idx = (SELECT max(idx) FROM record_log)"
    ).fetchall()  # fetch to the end: DuckDB refuses other work while a result is open
    return Tail(int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None


def log_size(con: Con) -> int:
    """Number of leaves (max index + 1; the verifier checks there are no gaps)."""
    return int(con.execute("SELECT coalesce(max(idx) + 1, 0) FROM record_log").fetchall()[0][0])


def insert_leaf(con: Con, index: int, logged_at: datetime, kind: str, actor: str, action: str,
                subject: str | None, entry: str, salt: bytes, content: str) -> None:
    """Store one leaf and its content (the caller holds :func:`log_transaction`)."""
    con.execute("INSERT INTO record_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                [index, logged_at, kind, actor, action, subject, entry])
    con.execute("INSERT INTO record_content (idx, salt, content) VALUES (?, ?, ?)", [index, salt, content])


#: up to this many leaves go in as one parameterised ``VALUES`` list (a lone API call's audit)
FEW_LEAVES = 8
#: up to this many as one list per column (the API's group commits: up to 512); more through Arrow
LISTED_LEAVES = 512
_LEAF_LISTS = ("INSERT INTO record_log SELECT unnest(?::BIGINT[]), unnest(?::TIMESTAMP[]), unnest(?::VARCHAR[]), "
               "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])")
_CONTENT_LISTS = ("INSERT INTO record_content (idx, salt, content) "
                  "SELECT unnest(?::BIGINT[]), unnest(?::BLOB[]), unnest(?::VARCHAR[])")


def insert_leaves(con: Con, leaves: list[tuple], contents: list[tuple]) -> None:
    """Store many leaves (idx, logged_at, kind, actor, action, subject, entry) and their contents
    (idx, salt, content) with one statement each (the caller holds :func:`log_transaction`).

    Three forms, each the cheapest for its size (CPU per committed batch, benchmarks/results/api.md
    sessions 8 and 10): a few leaves as one ``VALUES`` list with placeholders (1 leaf: ~0.6 ms less
    than lists); the API's group commits as one list per column, ``unnest``-ed - one statement
    text whatever the size, 7 values to bind instead of 7 per leaf (18 leaves: 7.2 -> 6.1 ms, 64:
    ~13 -> ~8 ms); an imported backlog through Arrow tables."""
    if not leaves:
        return
    if len(leaves) <= FEW_LEAVES:
        con.execute("INSERT INTO record_log VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(leaves)),
                    [value for row in leaves for value in row])
        con.execute("INSERT INTO record_content (idx, salt, content) VALUES "
                    + ", ".join(["(?, ?, ?)"] * len(contents)), [value for row in contents for value in row])
        return
    if len(leaves) <= LISTED_LEAVES:
        con.execute(_LEAF_LISTS, [list(column) for column in zip(*leaves, strict=True)])
        con.execute(_CONTENT_LISTS, [list(column) for column in zip(*contents, strict=True)])
        return
    names = ("idx", "logged_at", "kind", "actor", "action", "subject", "entry")
    con.register("new_record_leaves", pa.table(list(zip(*leaves, strict=True)), names=list(names)))
    con.register("new_record_contents", pa.table(list(zip(*contents, strict=True)), names=["idx", "salt", "content"]))
    try:
        con.execute("INSERT INTO record_log SELECT * FROM new_record_leaves")
        con.execute("INSERT INTO record_content (idx, salt, content) SELECT * FROM new_record_contents")
    finally:
        con.unregister("new_record_leaves")
        con.unregister("new_record_contents")


def legacy_chain_head(con: Con) -> str | None:
    """Last hash of the linear audit chain that preceded the log (None when it was empty)."""
    rows = con.execute("SELECT hash FROM audit_chain_legacy ORDER BY seq DESC LIMIT 1").fetchall()
    return rows[0][0] if rows else None


def legacy_chain_rows(con: Con) -> list[tuple]:
    """Rows of the old linear chain, in order, as its hash was computed over them."""
    return con.execute(
        "SELECT seq, strftime(logged_at, '%Y-%m-%dT%H:%M:%S.%f'), actor, action, subject, detail_json, "
        "prev_hash, hash FROM audit_chain_legacy ORDER BY seq"
    ).fetchall()


def journal_folded_through(con: Con, journal: str) -> int:
    """The number of the last entry of ``journal`` folded into the log (-1 when none was)."""
    rows = con.execute("SELECT max(folded_through) FROM record_journal_folds WHERE journal = ?", [journal]).fetchall()
    return -1 if rows[0][0] is None else int(rows[0][0])


def mark_journal_folded(con: Con, journal: str, through: int) -> None:
    """Record that ``journal``'s entries up to number ``through`` are in the log (inside the fold's
    :func:`log_transaction`, so the mark and the leaves commit together)."""
    if con.execute("UPDATE record_journal_folds SET folded_through = ? WHERE journal = ?",
                   [through, journal]).fetchall()[0][0] == 0:
        con.execute("INSERT INTO record_journal_folds VALUES (?, ?)", [journal, through])


LEAF_COLUMNS = ("idx", "logged_at", "kind", "actor", "action", "subject", "entry", "salt", "content", "redacted_at")


def iter_leaves(con: Con, batch_rows: int = 50_000) -> Iterator[tuple]:
    """Every leaf with its content, by index, streamed in batches (one pass of the verifier):
    (idx, logged_at as the entry spells it, kind, actor, action, subject, entry, salt, content,
    redacted)."""
    cur = con.cursor()
    try:
        cur.execute(
            "SELECT l.idx, strftime(l.logged_at, '%Y-%m-%dT%H:%M:%S.%fZ'), l.kind, l.actor, l.action, l.subject, "
            "l.entry, c.salt, c.content, c.redacted_at IS NOT NULL "
            "FROM record_log l LEFT JOIN record_content c ON c.idx = l.idx ORDER BY l.idx"
        )
        while rows := cur.fetchmany(batch_rows):
            yield from rows
    finally:
        cur.close()


def leaf_entries(con: Con, size: int) -> list[str]:
    """The canonical entries of the first ``size`` leaves, by index (to build proofs)."""
    return [r[0] for r in con.execute("SELECT entry FROM record_log WHERE idx < ? ORDER BY idx", [size]).fetchall()]


def leaf_entry(con: Con, index: int) -> str | None:
    rows = con.execute("SELECT entry FROM record_log WHERE idx = ?", [index]).fetchall()
    return rows[0][0] if rows else None


def leaf_content(con: Con, index: int) -> tuple[bytes | None, str | None, datetime | None] | None:
    """(salt, content, redacted_at) of one leaf, or None when there is no such leaf."""
    rows = con.execute("SELECT salt, content, redacted_at FROM record_content WHERE idx = ?", [index]).fetchall()
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def redact_content(con: Con, index: int, at: datetime, by: str, reason: str) -> None:
    """Clear the salt and content of one leaf (the leaf stays; the redaction is itself logged)."""
    con.execute("UPDATE record_content SET salt = NULL, content = NULL, redacted_at = ?, redacted_by = ?, "
                "redaction_reason = ? WHERE idx = ?", [at, by, reason, index])


def insert_attachment(con: Con, sha256_hex: str, file_name: str, data: bytes, at: datetime) -> None:
    """Store an attachment once per content hash (the same file attached twice is kept once)."""
    con.execute("INSERT INTO record_attachments VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [sha256_hex, file_name, len(data), data, at])


def attachment(con: Con, sha256_hex: str) -> tuple[str, bytes | None] | None:
    """(file name, bytes) of an attachment by its hash, or None."""
    rows = con.execute("SELECT file_name, data FROM record_attachments WHERE sha256 = ?", [sha256_hex]).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def redact_attachment(con: Con, sha256_hex: str, index: int) -> None:
    """Clear an attachment's bytes unless another record that is not redacted still names it."""
    con.execute(
        "UPDATE record_attachments SET data = NULL WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM record_content "
        "WHERE idx <> ? AND content IS NOT NULL AND contains(content, ?))", [sha256_hex, index, sha256_hex])


def insert_checkpoint(con: Con, tree_size: int, root_hex: str, at: datetime, note: str) -> None:
    """Keep a signed checkpoint (one per tree size)."""
    con.execute("INSERT INTO record_checkpoints VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [tree_size, root_hex, at, note])


def checkpoint_notes(con: Con) -> list[tuple[int, str]]:
    """(tree size, signed note) of every stored checkpoint, smallest first."""
    return [(int(s), n) for s, n in con.execute(
        "SELECT tree_size, note FROM record_checkpoints ORDER BY tree_size").fetchall()]


def checkpoint_sizes(con: Con) -> set[int]:
    return {int(s) for (s,) in con.execute("SELECT tree_size FROM record_checkpoints").fetchall()}


def interference_rows(con: Con, limit: int = 200) -> list[tuple]:
    """Newest interference records: (idx, logged_at, actor, content, redacted_at)."""
    return con.execute(
        "SELECT l.idx, l.logged_at, l.actor, c.content, c.redacted_at FROM record_log l "
        "LEFT JOIN record_content c ON c.idx = l.idx WHERE l.kind = 'interference' "
        "ORDER BY l.idx DESC LIMIT ?", [limit]
    ).fetchall()
