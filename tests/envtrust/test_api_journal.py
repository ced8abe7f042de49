"""The journaled audit of keyed API calls (envtrust.api.auditlog.JournaledLog, data.journal) on a real
DuckDB store and real files: a call returns only once its entry is synced to the journal; a kill
between journal and fold loses nothing and a repeated fold doubles nothing; concurrent calls all
reach the record exactly once; the record's verification passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from data import journal
from data.store import connect
from envtrust.api.auditlog import JournaledLog
from envtrust.record.verify import leaf_problems

REPO = Path(__file__).resolve().parents[2]


def _journaled_numbers(folder: Path) -> list[int]:
    return [n for s in journal.segment_numbers(folder) for n, _ in journal.read_segment(journal.segment_path(folder, s))]


def _api_calls(con) -> list[dict]:
    return [json.loads(d) for (d,) in con.execute(
        "SELECT detail_json FROM audit_log WHERE action = 'api_call' ORDER BY seq").fetchall()]


def test_concurrent_calls_are_journaled_before_they_return_and_folded_exactly_once(store, tmp_path):
    folder = tmp_path / "journal"
    log = JournaledLog(folder=folder)
    log.open(store, background=False)
    calls, barrier, lock = 60, threading.Barrier(60), threading.Lock()
    journaled_on_return: list[bool] = []

    def call(i: int) -> None:
        barrier.wait()
        log.append(lambda: None, (f"apikey:k{i % 3}", "api_call", f"/api/v1/x/{i}", {"n": i}))
        on_disk = any(json.loads(c) == {"n": i} for s in journal.segment_numbers(folder)
                      for _, (_, _, _, c) in journal.read_segment(journal.segment_path(folder, s)))
        with lock:
            journaled_on_return.append(on_disk)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journaled_on_return == [True] * calls
    assert 1 <= log.batches < calls  # calls that arrived during a sync shared the next one
    assert _api_calls(store) == []  # not folded yet
    assert log.fold(store) == calls
    assert sorted(d["n"] for d in _api_calls(store)) == list(range(calls))
    assert log.fold(store) == 0 and _journaled_numbers(folder) == []
    log.append(lambda: None, ("apikey:k0", "api_call", "/api/v1/after", {"n": calls}))
    log.close(store)  # folds the rest
    assert [d["n"] for d in _api_calls(store)][-1] == calls
    assert leaf_problems(store) == []


def test_a_kill_between_journal_and_fold_loses_no_call(tmp_path):
    """A server process journals calls and is SIGKILLed before any fold; the next process folds them
    at start, each once, into a record that verifies."""
    db, folder = tmp_path / "k.duckdb", tmp_path / "k-journal"
    connect(db).close()
    child = textwrap.dedent(f"""
        import sys, threading, time
        from pathlib import Path
        from data.store import connect
        from envtrust.api.auditlog import JournaledLog
        con = connect({str(db)!r})
        log = JournaledLog(folder=Path({str(folder)!r}), fold_every_s=3600)
        log.open(con)
        threads = [threading.Thread(target=log.append, args=(lambda: None,
                   ("apikey:k", "api_call", f"/api/v1/x/{{i}}", {{"n": i}}))) for i in range(40)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print("answered", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "answered"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert sorted(_journaled_numbers(folder)) == list(range(40))
    con = connect(db)
    try:
        assert _api_calls(con) == [] and journal.pending(con, folder, journal.API_CALLS) == 40  # `record verify` says so
        log = JournaledLog(folder=folder)
        assert log.open(con, background=False) == 40
        assert journal.pending(con, folder, journal.API_CALLS) == 0
        assert sorted(d["n"] for d in _api_calls(con)) == list(range(40))
        log.append(lambda: None, ("apikey:k", "api_call", "/api/v1/next", {"n": 40}))
        log.close(con)
        assert sorted(d["n"] for d in _api_calls(con)) == list(range(41))  # numbering went on after the kill
        assert leaf_problems(con) == []
    finally:
        con.close()


def test_a_crash_after_the_fold_commit_but_before_the_files_go_folds_nothing_twice(store, tmp_path, monkeypatch):
    folder = tmp_path / "journal"
    log = JournaledLog(folder=folder)
    log.open(store, background=False)
    for i in range(5):
        log.append(lambda: None, ("apikey:k", "api_call", "/x", {"n": i}))

    def crash(self, missing_ok=False):
        raise OSError("killed before the files were removed")

    monkeypatch.setattr(Path, "unlink", crash)
    with pytest.raises(OSError, match="killed"):
        log.fold(store)
    monkeypatch.undo()
    assert [d["n"] for d in _api_calls(store)] == list(range(5))  # committed with the mark
    os.close(log._lock_fd)  # the crashed writer's lock ends with it
    assert JournaledLog(folder=folder).open(store, background=False) == 0  # the mark skips them
    assert [d["n"] for d in _api_calls(store)] == list(range(5)) and _journaled_numbers(folder) == []
    assert leaf_problems(store) == []


def test_a_torn_last_line_is_dropped_and_damage_elsewhere_stops_the_fold(store, tmp_path):
    folder = tmp_path / "journal"
    folder.mkdir()
    whole = journal.encode(0, [("apikey:k", "api_call", "/x", '{"n":0}'), ("apikey:k", "api_call", "/x", '{"n":1}')])
    journal.segment_path(folder, 1).write_bytes(whole + b'{"n": 2, "actor": "apik')  # killed mid-write
    assert [n for n, _ in journal.read_segment(journal.segment_path(folder, 1))] == [0, 1]
    journal.segment_path(folder, 2).write_bytes(b"not json\n" + whole)
    with pytest.raises(journal.JournalDamaged, match="line 1"):
        JournaledLog(folder=folder).open(store, background=False)
    assert _api_calls(store) == []  # nothing folded past the damage


def test_a_bad_entry_fails_its_own_call_and_a_failed_sync_fails_the_group(store, tmp_path, monkeypatch):
    log = JournaledLog(folder=tmp_path / "journal")
    log.open(store, background=False)
    with pytest.raises(ValueError, match="entry needs an actor"):
        log.append(lambda: None, ("", "api_call", "/x", {}))

    def full_disk(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "write_synced", full_disk)
    monkeypatch.setattr(journal, "open_segment", full_disk)  # not even a new segment file
    with pytest.raises(OSError, match="No space"):
        log.append(lambda: None, ("apikey:k", "api_call", "/lost", {}))
    with pytest.raises(OSError, match="No space"):
        log.append(lambda: None, ("apikey:k", "api_call", "/lost too", {}))
    monkeypatch.undo()
    log.append(lambda: None, ("apikey:k", "api_call", "/kept", {}))  # the journal goes on in a new segment
    log.close(store)
    assert store.execute("SELECT subject FROM audit_log WHERE action = 'api_call'").fetchall() == [("/kept",)]
    assert leaf_problems(store) == []


def test_a_second_writer_of_the_same_journal_is_refused(store, tmp_path):
    """Two writers would number their entries alike, and the fold mark would skip one's."""
    first = JournaledLog(folder=tmp_path / "journal")
    first.open(store, background=False)
    with pytest.raises(journal.JournalBusy):
        JournaledLog(folder=tmp_path / "journal").open(store, background=False)
    first.close(store)
    second = JournaledLog(folder=tmp_path / "journal")
    second.open(store, background=False)  # free once the first closed
    second.close(store)
