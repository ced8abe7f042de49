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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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


def _field_mismatch(entry: dict, fields: dict) -> str | None:
    for name, value in fields.items():
        if entry.get(name) != value:
            return f"column {name} is {value!r} but the hashed entry says {entry.get(name)!r}"
    return None


@dataclass
class LeafScan:
    """One pass over the leaves: their hashes, the problems found, and the broken links whose
    culprit depends on which checkpoints verify."""

    leaf_hashes: list[bytes] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    broken_links: list[tuple[int, bool]] = field(default_factory=list)  # (index, index itself is odd)

    def resolved(self, trusted_size: int) -> list[Problem]:
        """Problems with each broken link blamed: entry i-1 (edited after i was written) unless i is
        itself out of place or a verified checkpoint covers i-1; then i is the stranger."""
        out = list(self.problems)
        for idx, stranger in self.broken_links:
            culprit = idx if stranger or idx == 0 or idx - 1 < trusted_size else idx - 1
            out.append(Problem(culprit, f"entry {idx} does not follow entry {idx - 1}: its link holds "
                                        f"another hash (entry {idx - 1} was edited, or {idx} inserted)"))
        return sorted(out)


def _diagnose(scan: LeafScan, row: tuple, prev_digest: str, prev_time: str | None) -> bool:
    """The slow look at a leaf that is not exactly what its columns, content and predecessor
    predict: say what is wrong. False when the scan cannot go on (the entry is not JSON)."""
    idx, logged_at, kind, actor, action, subject, entry_text, salt, content, redacted = row
    try:
        entry = json.loads(entry_text)
    except ValueError:
        scan.problems.append(Problem(idx, f"entry {idx} is not JSON (edited)"))
        return False
    fields = {"index": idx, "logged_at": logged_at, "kind": kind, "actor": actor, "action": action,
              "subject": subject}
    mismatch = _field_mismatch(entry, fields)
    if mismatch:
        scan.problems.append(Problem(idx, f"entry {idx} was edited: {mismatch}"))
    backwards = prev_time is not None and logged_at < prev_time
    if backwards:
        scan.problems.append(Problem(idx, f"entry {idx} is dated {logged_at} before entry {idx - 1} "
                                          f"({prev_time}): appended out of order"))
    if entry.get("prev") != prev_digest:
        scan.broken_links.append((idx, bool(mismatch or backwards)))
    if content is None:
        if not redacted:
            scan.problems.append(Problem(idx, f"the content of entry {idx} is gone without a redaction"))
    elif salt is None or audit.commitment(salt, content) != entry.get("commitment"):
        scan.problems.append(Problem(idx, f"the content of entry {idx} does not match its commitment (edited)"))
    return True


def scan_leaves(rows: Iterable[tuple], first_prev: str) -> LeafScan:
    """Per-leaf checks in index order: place, fields, link, time order, commitment, redactions.

    The fast path rebuilds each entry from its columns, its content's commitment and the
    predecessor's hash and compares the text: equal means every field, the commitment and the
    link hold. Anything else (and every redacted leaf) goes to :func:`_diagnose`.
    """
    scan = LeafScan()
    hashes = scan.leaf_hashes
    redaction_of: set[str] = set()
    redacted_leaves: list[int] = []
    prev_digest, prev_time = first_prev, None
    for position, row in enumerate(rows):
        idx, logged_at, kind, actor, action, subject, entry_text, salt, content, redacted = row
        hashes.append(leaf_hash(entry_text.encode("utf-8")))
        if idx != position:
            scan.problems.append(Problem(position, f"entry {position} is missing (the next stored entry is "
                                                   f"{idx}): deleted or moved"))
            break
        intact = (content is not None and salt is not None and (prev_time is None or logged_at >= prev_time)
                  and audit.build_entry(idx, logged_at, kind, actor, action, subject,
                                        audit.commitment(salt, content), prev_digest) == entry_text)
        if not intact and not _diagnose(scan, row, prev_digest, prev_time):
            break
        if content is None and redacted:
            redacted_leaves.append(idx)
        if kind == "redaction":
            redaction_of.add(subject or "")
        prev_digest, prev_time = audit.entry_digest(entry_text), logged_at
    scan.problems += [Problem(i, f"the content of entry {i} was cleared but no redaction entry records it")
                      for i in redacted_leaves if str(i) not in redaction_of]
    return scan


def verify_log(con: duckdb.DuckDBPyConnection, origin: str, key: Ed25519PublicKey,
               handed_in: Sequence[tuple[str, str]] = ()) -> Report:
    """Verify the log in ``con``; ``handed_in`` are (label, signed note) checkpoints kept outside."""
    scan = scan_leaves(record.iter_leaves(con), record.legacy_chain_head(con) or audit.GENESIS)
    size = len(scan.leaf_hashes)
    report = Report(size=size)
    levels = tree_levels(scan.leaf_hashes)
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
        elif cp.tree_size > size:
            report.problems.append(Problem(size, f"{label}: the log has {size} entries but {cp.tree_size} "
                                           f"were signed: entries {size}..{cp.tree_size - 1} were deleted"))
        else:
            try:
                verify_consistency(cp.tree_size, size, cp.root_hash, root, consistency_proof(cp.tree_size, levels))
                good_sizes.append(cp.tree_size)
            except ProofError as exc:
                failed.append((cp.tree_size, f"{label}: {exc}"))
    report.signed_size = max(good_sizes)
    leaf_problems_found = scan.resolved(report.signed_size)
    report.problems += leaf_problems_found
    for signed, message in failed:
        below = max(s for s in good_sizes if s < signed)
        inside = [p.index for p in leaf_problems_found if below <= p.index < signed]
        report.problems.append(Problem(min(inside, default=below), f"{message}; an entry in {below}.."
                                       f"{signed - 1} was changed, rewritten or removed since it was signed"))
    return report


def leaf_problems(con: duckdb.DuckDBPyConnection) -> list[Problem]:
    """The per-leaf checks alone (no key needed): what a test or a quick look asks."""
    return scan_leaves(record.iter_leaves(con), record.legacy_chain_head(con) or audit.GENESIS).resolved(0)
