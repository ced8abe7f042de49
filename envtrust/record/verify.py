"""Check the whole record offline: every leaf, its link and commitment, the Merkle tree, every
stored checkpoint's signature and its consistency with the log, and every checkpoint handed in.

What each check catches (tests/envtrust/test_record_tamper.py tampers with the DuckDB file):

- an edited row: its columns disagree with its entry, its content with the commitment, or the
  next entry's ``prev`` with its hash; an entry rewritten together with every later link is
  caught by the first signed checkpoint whose root it changes;
- a deleted row: a gap in the indices; a deleted tail: a signed checkpoint larger than the log;
- a row appended out of order: an index that disagrees with its place, a time before its
  predecessor's, or a ``prev`` that is not its predecessor's hash;
- a log rebuilt from scratch: the roots of checkpoints signed earlier (kept by outside parties,
  or stored) are not roots of any prefix of the rebuilt log (a consistency proof fails).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from data import audit, record
from envtrust.record import checkpoint as notes
from envtrust.record.merkle import (
    ProofError,
    consistency_proof,
    leaf_hash,
    root_hash,
    tree_levels,
    verify_consistency,
)


@dataclass(frozen=True, order=True)
class Problem:
    """Something wrong at leaf ``index`` (the first entry that cannot be trusted)."""

    index: int
    message: str


@dataclass
class Report:
    """What ``envtrust record verify`` found."""

    size: int = 0
    root_hex: str = ""
    checkpoints_checked: int = 0
    signed_size: int = 0  # the largest checkpoint size that verified
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        return min(self.problems) if self.problems else None


def _field_mismatch(entry: dict, idx: int, logged_at: datetime, kind: str, actor: str, action: str,
                    subject: str | None) -> str | None:
    expected = {"index": idx, "logged_at": audit.timestamp_text(logged_at), "kind": kind, "actor": actor,
                "action": action, "subject": subject}
    for name, value in expected.items():
        if entry.get(name) != value:
            return f"column {name} is {value!r} but the hashed entry says {entry.get(name)!r}"
    return None


def check_leaves(rows: list[tuple], first_prev: str, trusted_size: int = 0) -> list[Problem]:
    """Per-leaf checks in index order: place, fields, link, time order, commitment, redactions.

    A broken link between entries i-1 and i blames i-1 (edited after i was written) unless i is
    itself out of place (wrong index or time) or a verified checkpoint covers i-1
    (``trusted_size`` > i-1); then i is the stranger.
    """
    problems: list[Problem] = []
    redaction_of: set[str] = set()
    redacted: list[int] = []
    prev_digest, prev_time = first_prev, None
    for position, (idx, logged_at, kind, actor, action, subject, entry_text, salt, content, redacted_at) \
            in enumerate(rows):
        if idx != position:
            problems.append(Problem(position, f"entry {position} is missing (the next stored entry is {idx}): "
                                              "deleted or moved"))
            break
        try:
            entry = json.loads(entry_text)
        except ValueError:
            problems.append(Problem(idx, f"entry {idx} is not JSON (edited)"))
            break
        mismatch = _field_mismatch(entry, idx, logged_at, kind, actor, action, subject)
        if mismatch:
            problems.append(Problem(idx, f"entry {idx} was edited: {mismatch}"))
        backwards = prev_time is not None and logged_at < prev_time
        if backwards:
            problems.append(Problem(idx, f"entry {idx} is dated {logged_at} before entry {idx - 1} "
                                         f"({prev_time}): appended out of order"))
        if entry.get("prev") != prev_digest:
            stranger = mismatch or backwards or idx == 0 or idx - 1 < trusted_size
            culprit = idx if stranger else idx - 1
            problems.append(Problem(culprit, f"entry {idx} does not follow entry {idx - 1}: its link "
                                    f"holds another hash (entry {idx - 1} was edited, or {idx} inserted)"))
        if content is None:
            if redacted_at is None:
                problems.append(Problem(idx, f"the content of entry {idx} is gone without a redaction"))
            else:
                redacted.append(idx)
        elif salt is None or audit.commitment(salt, content) != entry.get("commitment"):
            problems.append(Problem(idx, f"the content of entry {idx} does not match its commitment (edited)"))
        if kind == "redaction":
            redaction_of.add(subject or "")
        prev_digest, prev_time = audit.entry_digest(entry_text), logged_at
    problems += [Problem(i, f"the content of entry {i} was cleared but no redaction entry records it")
                 for i in redacted if str(i) not in redaction_of]
    return problems


def verify_log(con: duckdb.DuckDBPyConnection, origin: str, key: Ed25519PublicKey,
               handed_in: list[tuple[str, str]] = ()) -> Report:
    """Verify the log in ``con``; ``handed_in`` are (label, signed note) checkpoints kept outside."""
    rows = record.all_leaves(con)
    report = Report(size=len(rows))
    levels = tree_levels([leaf_hash(r[6].encode("utf-8")) for r in rows])
    root = root_hash(levels)
    report.root_hex = root.hex()
    good_sizes = [0]
    failed: list[tuple[int, str]] = []  # (signed size, message) of checkpoints the log contradicts
    stored = [(f"stored checkpoint of size {s}", n) for s, n in record.checkpoint_notes(con)]
    for label, note in [*stored, *handed_in]:
        report.checkpoints_checked += 1
        try:
            cp = notes.open_checkpoint(note, origin, key)
        except notes.CheckpointError as exc:
            report.problems.append(Problem(0, f"{label}: {exc}"))
            continue
        if cp.origin != origin:
            report.problems.append(Problem(0, f"{label} is of another log ({cp.origin!r})"))
        elif cp.tree_size > len(rows):
            report.problems.append(Problem(len(rows), f"{label}: the log has {len(rows)} entries but "
                                           f"{cp.tree_size} were signed: entries {len(rows)}.."
                                           f"{cp.tree_size - 1} were deleted"))
        else:
            try:
                verify_consistency(cp.tree_size, len(rows), cp.root_hash, root,
                                   consistency_proof(cp.tree_size, levels))
                good_sizes.append(cp.tree_size)
            except ProofError as exc:
                failed.append((cp.tree_size, f"{label}: {exc}"))
    report.signed_size = max(good_sizes)
    leaf_problems = check_leaves(rows, record.legacy_chain_head(con) or audit.GENESIS, report.signed_size)
    report.problems += leaf_problems
    for size, message in failed:
        below = max(s for s in good_sizes if s < size)
        inside = [p.index for p in leaf_problems if below <= p.index < size]
        report.problems.append(Problem(min(inside, default=below), f"{message}; an entry in {below}.."
                                       f"{size - 1} was changed, rewritten or removed since it was signed"))
    return report


def leaf_problems(con: duckdb.DuckDBPyConnection) -> list[Problem]:
    """The per-leaf checks alone (no key needed): what a test or a quick look asks."""
    return check_leaves(record.all_leaves(con), record.legacy_chain_head(con) or audit.GENESIS)
