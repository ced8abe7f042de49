"""The interference record (干预留痕) and the audit trail as one Merkle log: record an
interference, sign checkpoints, hand out receipts, redact lawfully.

Plain functions over a connection; the CLI (``envtrust record``) and the internal app call the
same ones. Leaves are written by :mod:`data.audit` (one lock, one transaction); this module adds
what needs the tree or the key: checkpoints every ``Signer.every`` entries and on demand,
receipts with an inclusion proof, and the redaction that clears content but keeps the leaf.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from analytics.vocabulary import INTERFERENCE_CHANNELS
from data import audit, record
from envtrust.record import checkpoint as notes
from envtrust.record.merkle import (
    Levels,
    ProofError,
    inclusion_proof,
    leaf_hash,
    root_from_inclusion_proof,
    subtree_hash,
    tree_levels,
)
from envtrust.settings import Settings

Con = duckdb.DuckDBPyConnection

MAX_TEXT_CHARS = 20_000
MAX_NAME_CHARS = 200
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_FUTURE = timedelta(days=1)


class RecordError(ValueError):
    """Input the record refuses (missing field, unknown channel, too large), named clearly."""


@dataclass(frozen=True)
class Signer:
    """The checkpoint key, the log's name, and how often a checkpoint is due."""

    key: Ed25519PrivateKey
    origin: str
    every: int = 1000


def ensure_signing_key(settings: Settings) -> bool:
    """Create the checkpoint key (outside the database) unless it exists; True when created."""
    return notes.create_signing_key(settings.record_key_path, settings.record_origin)


def signer_from_settings(settings: Settings) -> Signer:
    return Signer(notes.load_signing_key(settings.record_key_path), settings.record_origin,
                  settings.record_checkpoint_every)


def verifier_key_path(settings: Settings) -> Path:
    return notes.public_key_path(settings.record_key_path)


@dataclass(frozen=True)
class Attachment:
    """A file attached to a record; stored once by its SHA-256."""

    file_name: str
    data: bytes


@dataclass(frozen=True)
class Interference:
    """One instruction, letter, call or hint by an official about monitoring data."""

    interferer_name: str
    interferer_post: str
    interferer_unit: str
    channel: str  # a key of analytics.vocabulary.INTERFERENCE_CHANNELS
    content: str
    occurred_at: datetime  # naive UTC
    recorded_by: str
    stations: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = field(default=())


def _required_text(label: str, value: str, limit: int = MAX_NAME_CHARS) -> str:
    text = (value or "").strip()
    if not text:
        raise RecordError(f"{label} is required")
    if len(text) > limit:
        raise RecordError(f"{label} is longer than {limit} characters")
    return text


def parse_occurred_at(text: str, display_tz: str) -> datetime:
    """When it happened, as naive UTC: ISO 8601 with an offset (``Z``, ``+08:00``), or a wall time
    without one, read in ``display_tz`` (the bureau's own clock). Raises :class:`RecordError`."""
    try:
        when = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise RecordError(f"occurred at {text!r}: expected a date and time like 2026-03-01 09:30") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(display_tz))
    return when.astimezone(UTC).replace(tzinfo=None)


def interference_content(rec: Interference, now: datetime | None = None) -> dict:
    """The record's content as committed in the log; raises :class:`RecordError` on bad input."""
    if rec.channel not in INTERFERENCE_CHANNELS:
        raise RecordError(f"unknown channel {rec.channel!r}; expected one of {', '.join(INTERFERENCE_CHANNELS)}")
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if rec.occurred_at.tzinfo is not None:
        raise RecordError("occurred_at must be naive UTC")
    if rec.occurred_at > now + MAX_FUTURE:
        raise RecordError(f"occurred_at {rec.occurred_at:%Y-%m-%d %H:%M} is in the future")
    for a in rec.attachments:
        if len(a.data) > MAX_ATTACHMENT_BYTES:
            raise RecordError(f"attachment {a.file_name!r} is larger than {MAX_ATTACHMENT_BYTES // 2**20} MB")
    return {
        "interferer": {"name": _required_text("interferer name", rec.interferer_name),
                       "post": _required_text("interferer post", rec.interferer_post),
                       "unit": _required_text("interferer unit", rec.interferer_unit)},
        "channel": rec.channel,
        "content": _required_text("content", rec.content, MAX_TEXT_CHARS),
        "occurred_at": audit.timestamp_text(rec.occurred_at),
        "recorded_by": _required_text("recorded by", rec.recorded_by),
        "stations": sorted({s.strip() for s in rec.stations if s.strip()}),
        "cases": sorted({c.strip() for c in rec.cases if c.strip()}),
        "attachments": [{"sha256": hashlib.sha256(a.data).hexdigest(),
                         "name": _required_text("attachment name", Path(a.file_name).name),
                         "size_bytes": len(a.data)} for a in rec.attachments],
    }


def add_interference(con: Con, rec: Interference, signer: Signer | None = None) -> int:
    """Record an interference (content, attachments, leaf in one transaction); return its index.

    Signs the checkpoints that fell due when a signer is given.
    """
    content = interference_content(rec)
    now = datetime.now(UTC).replace(tzinfo=None)
    with record.log_transaction(con):
        for a, ref in zip(rec.attachments, content["attachments"], strict=True):
            record.insert_attachment(con, ref["sha256"], ref["name"], a.data, now)
        index = audit.append_within(con, content["recorded_by"], "interference_recorded", None, content,
                                    kind="interference")
    if signer is not None:
        sign_due_checkpoints(con, signer)
    return index


def redact(con: Con, index: int, by: str, reason: str, signer: Signer | None = None) -> int:
    """Clear an interference record's content and attachments for a lawful reason; the leaf stays,
    and the redaction is itself a leaf (who, why). Returns the redaction's index."""
    reason = _required_text("redaction reason", reason, 2000)
    by = _required_text("redacted by", by)
    with record.log_transaction(con):
        stored = record.leaf_content(con, index)
        if stored is None:
            raise RecordError(f"no entry {index} in the record")
        salt, content, redacted_at = stored
        if redacted_at is not None:
            raise RecordError(f"entry {index} is already redacted")
        parsed = json.loads(content) if content else None
        for ref in parsed.get("attachments", []) if isinstance(parsed, dict) else []:
            record.redact_attachment(con, ref["sha256"], index)
        record.redact_content(con, index, datetime.now(UTC).replace(tzinfo=None), by, reason)
        redaction = audit.append_within(con, by, "redact", str(index), {"index": index, "reason": reason},
                                        kind="redaction")
    if signer is not None:
        sign_due_checkpoints(con, signer)
    return redaction


def leaf_hashes(con: Con, size: int) -> list[bytes]:
    """RFC 9162 leaf hashes of the first ``size`` stored entries."""
    return [leaf_hash(e.encode("utf-8")) for e in record.leaf_entries(con, size)]


def _sign(con: Con, signer: Signer, levels: Levels, size: int) -> str:
    root = subtree_hash(levels, 0, size) if size else hashlib.sha256(b"").digest()
    note = notes.sign_checkpoint(notes.Checkpoint(signer.origin, size, root), signer.key, signer.origin)
    record.insert_checkpoint(con, size, root.hex(), datetime.now(UTC).replace(tzinfo=None), note)
    return note


def sign_due_checkpoints(con: Con, signer: Signer) -> list[int]:
    """Sign a checkpoint at every multiple of ``signer.every`` not yet signed; return their sizes."""
    size = record.log_size(con)
    due = sorted(set(range(signer.every, size + 1, signer.every)) - record.checkpoint_sizes(con))
    if not due:
        return []
    levels = tree_levels(leaf_hashes(con, due[-1]))
    for s in due:
        _sign(con, signer, levels, s)
    return due


def checkpoint(con: Con, signer: Signer) -> str:
    """Sign (and keep) a checkpoint of the whole log now; return the note to hand out."""
    with record.LOG_LOCK:  # the size and the leaves read must be the same log
        size = record.log_size(con)
        levels = tree_levels(leaf_hashes(con, size))
        sign_due_checkpoints(con, signer)
        return _sign(con, signer, levels, size)


def receipt(con: Con, index: int, signer: Signer) -> dict:
    """A receipt for the person who recorded entry ``index``: the entry, its content and salt, an
    inclusion proof and the signed checkpoint it leads to. Checkable offline with the verifier key."""
    with record.LOG_LOCK:
        size = record.log_size(con)
        if not 0 <= index < size:
            raise RecordError(f"no entry {index}; the record has {size} entries")
        levels = tree_levels(leaf_hashes(con, size))
        note = _sign(con, signer, levels, size)
        entry = record.leaf_entry(con, index)
        stored = record.leaf_content(con, index)
    salt, content, _ = stored or (None, None, None)
    return {
        "origin": signer.origin, "index": index, "tree_size": size, "entry": entry,
        "content": content, "salt": salt.hex() if salt is not None else None,
        "inclusion_proof": [h.hex() for h in inclusion_proof(index, levels)], "checkpoint": note,
    }


def check_receipt(receipt_doc: dict, verifier_key: str) -> list[str]:
    """Problems with a receipt (empty = it proves its entry is in the signed log)."""
    try:
        origin, key = notes.parse_verifier_key(verifier_key)
        cp = notes.open_checkpoint(receipt_doc["checkpoint"], origin, key)
        entry = receipt_doc["entry"].encode("utf-8")
        proof = [bytes.fromhex(h) for h in receipt_doc["inclusion_proof"]]
        if cp.tree_size != receipt_doc["tree_size"]:
            return [f"receipt says size {receipt_doc['tree_size']}, its checkpoint {cp.tree_size}"]
        if root_from_inclusion_proof(receipt_doc["index"], cp.tree_size, leaf_hash(entry), proof) != cp.root_hash:
            return [f"entry {receipt_doc['index']} is not in the signed log of size {cp.tree_size}"]
    except (notes.CheckpointError, ProofError, KeyError, TypeError, ValueError) as exc:
        return [str(exc)]
    if receipt_doc.get("content") is not None:
        committed = json.loads(receipt_doc["entry"])["commitment"]
        if audit.commitment(bytes.fromhex(receipt_doc["salt"]), receipt_doc["content"]) != committed:
            return ["the receipt's content does not match the commitment in its entry"]
    return []


@dataclass(frozen=True)
class InterferenceRow:
    """One interference record as the recording page lists it (content None once redacted)."""

    index: int
    logged_at: datetime
    actor: str
    content: dict | None
    redacted: bool


def recent_interference(con: Con, limit: int = 200) -> list[InterferenceRow]:
    """Newest interference records first."""
    return [InterferenceRow(int(i), at, actor, json.loads(c) if c is not None else None, red is not None)
            for i, at, actor, c, red in record.interference_rows(con, limit)]
