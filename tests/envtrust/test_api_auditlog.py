"""The group-committed audit of keyed API calls (envtrust.api.auditlog) on a real DuckDB store:
every entry is committed before its caller goes on, in its own leaf of the record's log, and
concurrent callers share transactions."""

from __future__ import annotations

import json
import threading

import pytest

from envtrust.api.auditlog import GroupCommitLog
from envtrust.record.verify import leaf_problems


def test_concurrent_calls_are_all_committed_in_fewer_transactions(store):
    log = GroupCommitLog()
    calls, barrier = 60, threading.Barrier(60)
    seen_before_return: list[bool] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        cursor = store.cursor()
        barrier.wait()
        log.append(lambda: cursor, (f"apikey:k{i % 3}", "api_call", f"/api/v1/x/{i}", {"n": i}))
        # the caller's own entry is committed (visible to another connection) when append returns
        with lock:
            seen_before_return.append(store.cursor().execute(
                "SELECT count(*) FROM audit_log WHERE subject = ?", [f"/api/v1/x/{i}"]).fetchone()[0] == 1)
        cursor.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen_before_return == [True] * calls
    rows = store.execute("SELECT subject, detail_json FROM audit_log WHERE action = 'api_call'").fetchall()
    assert sorted(json.loads(d)["n"] for _, d in rows) == list(range(calls))
    assert 1 <= log.batches < calls  # callers that arrived together shared a commit
    assert leaf_problems(store) == []


def test_a_failed_batch_fails_every_call_in_it(store):
    log = GroupCommitLog()
    cursor = store.cursor()
    with pytest.raises(ValueError, match="entry needs an actor"):
        log.append(lambda: cursor, ("", "api_call", "/api/v1/x", {}))
    log.append(lambda: cursor, ("apikey:k", "api_call", "/api/v1/y", {}))  # the log goes on
    assert store.execute("SELECT count(*) FROM audit_log WHERE action = 'api_call'").fetchone()[0] == 1


@pytest.mark.parametrize("size", [1, 3, 8, 9, 64, 512, 513])
def test_a_batch_of_any_size_becomes_linked_leaves_in_order(store, size):
    """A few leaves go in as one VALUES list, the API's group commits as one list per column, an
    imported backlog through Arrow: each gives the same leaves (a missing subject stays missing)."""
    from data import audit

    def subject(i: int) -> str | None:
        return None if i % 7 == 3 else f"/x/{i}"

    audit.append(store, "admin", "login")
    indices = audit.append_batch(store, [("apikey:k", "api_call", subject(i), {"n": i}) for i in range(size)])
    assert list(indices) == list(range(1, size + 1))
    rows = store.execute("SELECT subject, detail_json FROM audit_log WHERE action = 'api_call' ORDER BY seq").fetchall()
    assert [(s, json.loads(d)["n"]) for s, d in rows] == [(subject(i), i) for i in range(size)]
    assert leaf_problems(store) == []
