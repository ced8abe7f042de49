"""An append-only journal of audit entries beside the store, folded into the record in batches.

Why: an audit entry that must be durable before its caller goes on (a keyed API call) costs a
DuckDB transaction - the log's tail, the hashes, two inserts, a commit: ~4-9 ms of CPU a group,
~0.2-0.5 ms a call under 50 clients (benchmarks/results/api.md, session 10). Appending the entry
to a file and syncing it costs a ``write`` and an ``fdatasync`` a group (~0.1 ms of CPU); the
folder moves the entries into the tamper-evident record (``data.audit.append_batch``) a
thousand at a time, where a batch costs a few microseconds an entry.

Layout: a folder of segment files ``<number>.jsonl``; each line is one entry as JSON
``{"n": entry number, "actor", "action", "subject", "content": canonical JSON of the detail}``.
Entry numbers rise by one across segments. Appends go to one open segment; a fold closes it (the
next appends open the following one), moves the entries of every closed segment above the
journal's fold mark into the record with the mark in the same transaction
(``record_journal_folds``, migration 021), then removes the files. So a crash anywhere loses no
synced entry and folds none twice: entries at or below the mark are skipped, and start-up folds
whatever a stopped or killed process left.

A crash can tear the last line of a segment (a group written but not synced: none of its callers
went on); that line is dropped. Any other unreadable line is damage: the fold stops with
:class:`JournalDamaged` instead of skipping it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import orjson

from data import audit, record

SUFFIX = ".jsonl"
#: the journal of the public data API's keyed calls (its name in ``record_journal_folds``)
API_CALLS = "api_calls"
#: entries folded in one transaction (Arrow inserts above 512: ~55 ms a 2,000-leaf batch)
FOLD_CHUNK = 5_000

Entry = tuple[str, str, str | None, str]  # actor, action, subject, content (canonical JSON)


class JournalDamaged(RuntimeError):
    """A journal line other than a segment's last cannot be read."""


class JournalBusy(RuntimeError):
    """Another writer (in this process or another) holds the journal."""


def lock_folder(folder: Path) -> int:
    """Hold ``folder`` for one writer (an exclusive ``flock`` on its ``.lock`` file, released when the
    returned descriptor closes or the process ends): two writers would number their entries alike,
    and the fold mark would then skip one writer's entries."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalBusy(f"{folder} is held by another writer (is another envtrust serve running?)") from None
    return fd


def segment_path(folder: Path, number: int) -> Path:
    return folder / f"{number:012d}{SUFFIX}"


def segment_numbers(folder: Path) -> list[int]:
    """Numbers of the segment files in ``folder``, in order (none when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(int(p.name[:-len(SUFFIX)]) for p in folder.iterdir()
                  if p.name.endswith(SUFFIX) and p.name[:-len(SUFFIX)].isdigit())


def open_segment(folder: Path, number: int) -> int:
    """A new segment file opened for appending (its file descriptor); the folder is synced so that
    the file itself survives a crash along with the lines synced into it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(segment_path(folder, number), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
    _sync_folder(folder)
    return fd


def _sync_folder(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def entry_content(kind: str, entry: tuple[str, str, str | None, object]) -> Entry:
    """The journal form of an (actor, action, subject, detail) entry, checked as the log will check
    it when folded: a bad entry fails its own caller now, never the fold later."""
    actor, action, subject, detail = entry
    audit.check_entry(kind, actor, action)
    return actor, action, subject, audit.canonical_json(detail)


def encode(first: int, entries: Sequence[Entry]) -> bytes:
    """The lines of ``entries``, numbered from ``first``."""
    return b"".join(orjson.dumps({"n": first + i, "actor": a, "action": b, "subject": s, "content": c}) + b"\n"
                    for i, (a, b, s, c) in enumerate(entries))


def write_synced(fd: int, data: bytes) -> None:
    """Append ``data`` and wait until it is on disk (``fdatasync``)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fdatasync(fd)


def read_segment(path: Path) -> list[tuple[int, Entry]]:
    """(number, entry) of each whole line of a segment; a torn last line is dropped."""
    lines = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(lines):
        if not line:
            continue
        try:
            row = orjson.loads(line)
            out.append((int(row["n"]), (row["actor"], row["action"], row["subject"], row["content"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if i == len(lines) - 1:  # no newline after it: written, never synced, never answered
                break
            raise JournalDamaged(f"{path}: line {i + 1} cannot be read ({exc})") from exc
    return out


def last_number(folder: Path, con: duckdb.DuckDBPyConnection, journal: str) -> int:
    """The highest entry number the journal has used: its files' or, when they are gone, the mark's."""
    highest = record.journal_folded_through(con, journal)
    for number in segment_numbers(folder):
        entries = read_segment(segment_path(folder, number))
        if entries:
            highest = max(highest, entries[-1][0])
    return highest


def pending(con: duckdb.DuckDBPyConnection, folder: Path, journal: str) -> int:
    """How many entries of the journal are not yet in the record (left by a stopped or killed writer,
    or waiting for the running one's next fold)."""
    numbers = [n for number in segment_numbers(folder) for n, _ in read_segment(segment_path(folder, number))]
    if not numbers:  # no journal: nothing to ask the store (which may predate migration 021)
        return 0
    mark = record.journal_folded_through(con, journal)
    return sum(n > mark for n in numbers)


def fold(con: duckdb.DuckDBPyConnection, folder: Path, journal: str, segments: Sequence[int],
         kind: str = "audit") -> int:
    """Move the entries of the closed ``segments`` above the fold mark into the record (mark and
    leaves in one transaction per :data:`FOLD_CHUNK` entries), then remove the files; how many
    entries were folded."""
    mark = record.journal_folded_through(con, journal)
    pending = [(n, e) for number in segments for n, e in read_segment(segment_path(folder, number)) if n > mark]
    for start in range(0, len(pending), FOLD_CHUNK):
        chunk = pending[start:start + FOLD_CHUNK]
        audit.append_batch(con, [(a, b, s, orjson.loads(c)) for _, (a, b, s, c) in chunk], kind,
                           folded=(journal, chunk[-1][0]))
    for number in segments:
        segment_path(folder, number).unlink(missing_ok=True)
    return len(pending)
