"""The API's answer cache: a repeated request is answered from memory until the next release step
(or station-list change), every keyed call is still audited, and only 200 answers are kept."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from dashboard.server import close_server, create_server
from data import release as sql
from data.stations import upsert_stations
from envtrust import release
from envtrust.api import keys
from envtrust.api.cache import Answer, AnswerCache, StoreGeneration
from envtrust.api.context import api_generation
from envtrust.settings import load_settings

spec = importlib.util.spec_from_file_location("release_fixture", Path(__file__).with_name("release_fixture.py"))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)
HOUR = "2017-01-10T03:00:00Z"
ONE_VALUE = f"/api/v1/measurements?location=1001A&parameter=PM2.5&date_from={HOUR}&date_to={HOUR}"


@pytest.fixture()
def api(tmp_path):
    """(Flask test client, server, a department key) over a store with every valid value published."""
    server = create_server(load_settings(db_path=tmp_path / "c.duckdb", secret_key="c" * 64), mount_internal=False)
    con = server.extensions["envtrust"].con
    fixture.fill_release_store(con)
    release.publish_preliminary(con, "2017-01-01", "2017-01-11")
    server.extensions["envtrust_api"].anon_rate_per_min = 10_000
    token = keys.create_key(con, "卫健委", frozenset({"read"}), "admin")
    yield server.test_client(), server, token
    close_server(server)


def _value(client, url: str = ONE_VALUE, key: str | None = None) -> tuple[float, str]:
    answer = client.get(url, headers={"X-API-Key": key} if key else {})
    assert answer.status_code == 200, answer.text
    row = answer.get_json()["results"][0]
    return row["value"], row["status"]


def test_a_release_step_invalidates_the_cached_answers(api):
    client, server, _ = api
    con, cache = server.extensions["envtrust"].con, server.extensions["envtrust_api"].answers
    first = _value(client)
    assert first[1] == "preliminary"
    assert _value(client) == first and cache.hits == 1  # the same request: from the cache
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 12.5, "ana", "analyser drift corrected")
    assert _value(client) == (12.5, "preliminary")  # the correction shows at once
    release.audit_period(con, "2017-01-10", "2017-01-10 05:00", "ana")
    assert _value(client) == (12.5, "audited")
    assert cache.hits == 1  # both answers after a step were built afresh
    assert _value(client) == (12.5, "audited") and cache.hits == 2


def test_a_new_station_shows_after_the_station_list_changes(api):
    client, server, _ = api
    con = server.extensions["envtrust"].con
    before = client.get("/api/v1/locations?kind=air_station").get_json()["meta"]["found"]
    upsert_stations(con, pd.DataFrame([("1003A", "新站", "air_station", 116.4, 39.9)],
                                      columns=["station_id", "name", "kind", "lon", "lat"]))
    assert client.get("/api/v1/locations?kind=air_station").get_json()["meta"]["found"] == before + 1
    assert client.get("/api/v1/measurements?location=1003A").status_code == 200  # known now, nothing released


def test_the_generation_is_read_from_the_store_again_only_after_a_raise(api):
    client, server, _ = api
    con, watch = server.extensions["envtrust"].con, server.extensions["envtrust_api"].generation
    watch.max_age_s = 3600.0  # only the raises count here
    _value(client)
    reads = watch.reads
    for _ in range(5):
        _value(client)
        client.get("/api/v1/parameters")
    assert watch.reads == reads  # nothing changed: no store read
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 12.5, "ana", "analyser drift corrected")
    assert _value(client) == (12.5, "preliminary") and watch.reads == reads + 1


def test_a_raise_inside_a_wider_transaction_shows_within_the_maximum_age(api):
    _, server, _ = api
    con, watch = server.extensions["envtrust"].con, server.extensions["envtrust_api"].generation
    watch.max_age_s = 3600.0
    with server.test_request_context("/api/v1/parameters"):
        before = api_generation()
    con.execute("BEGIN TRANSACTION")
    sql.raise_generation(con)  # the count moves here, before the commit
    with server.test_request_context("/api/v1/parameters"):
        assert api_generation() == before  # the raise is not committed yet
    con.execute("COMMIT")  # nothing moves the count now
    with server.test_request_context("/api/v1/parameters"):
        assert api_generation() == before  # held: younger than max_age_s
    watch.max_age_s = 0.0
    with server.test_request_context("/api/v1/parameters"):
        assert api_generation() == before + 1


def test_store_generation_reads_when_the_raises_move_or_the_read_is_too_old():
    values = iter([7, 8, 9])
    watch = StoreGeneration(max_age_s=1.0)
    assert watch.current(0, 100.0, lambda: next(values)) == 7
    assert watch.current(0, 100.9, lambda: next(values)) == 7 and watch.reads == 1
    assert watch.current(1, 100.9, lambda: next(values)) == 8  # a raise ended: read again
    assert watch.current(1, 102.0, lambda: next(values)) == 9 and watch.reads == 3  # older than 1 s


def test_latest_moves_on_with_a_later_release(api):
    """The newest released hour is held per generation: a later publish shows at once."""
    client, server, _ = api
    con = server.extensions["envtrust"].con
    url = "/api/v1/latest?location=1001A&parameter=PM2.5"
    con.execute("DELETE FROM release_values WHERE ts >= '2017-01-10 12:00'")  # as if published up to 11:00 only
    sql.rebuild_release_by_ts(con)  # raises the generation too
    assert client.get(url).get_json()["results"][0]["datetime"] == "2017-01-10T11:00:00Z"
    release.publish_preliminary(con, "2017-01-10 12:00", "2017-01-11")
    assert client.get(url).get_json()["results"][0]["datetime"] > "2017-01-10T11:00:00Z"


def test_every_keyed_call_is_audited_cached_or_not(api):
    client, server, token = api
    con, cache = server.extensions["envtrust"].con, server.extensions["envtrust_api"].answers
    for _ in range(3):
        _value(client, key=token)
    assert cache.hits == 2
    server.extensions["envtrust_api"].audit_log.fold(con)
    calls = con.execute("SELECT count(*) FROM audit_log WHERE action = 'api_call'").fetchone()[0]
    assert calls == 3


def test_only_good_answers_are_kept_and_the_query_is_part_of_the_key(api):
    client, server, _ = api
    cache = server.extensions["envtrust_api"].answers
    for _ in range(2):
        assert client.get("/api/v1/measurements?location=NOPE").status_code == 400
    assert len(cache) == 0 and cache.hits == 0
    assert client.get(ONE_VALUE + "&format=csv").mimetype == "text/csv"
    assert client.get(ONE_VALUE).mimetype == "application/json"  # not the CSV answer of the other query
    csv_again = client.get(ONE_VALUE + "&format=csv")
    assert csv_again.mimetype == "text/csv" and csv_again.headers["X-Total-Count"] == "1"
    assert cache.hits == 1


def test_the_history_route_is_never_cached(api):
    client, server, token = api
    con = server.extensions["envtrust"].con
    historian = keys.create_key(con, "水利局", frozenset({"read", "history"}), "admin")
    url = "/api/v1/measurements/history?location=1001A&parameter=PM2.5"
    assert client.get(url, headers={"X-API-Key": historian}).status_code == 200
    assert client.get(url, headers={"X-API-Key": token}).status_code == 403  # no scope: no cached answer
    assert client.get(url).status_code == 401


# ---------------------------------------------------------------- the cache alone

def _answer(size: int) -> Answer:
    return Answer(b"x" * size, "application/json")


def test_cache_is_emptied_by_a_newer_generation_and_never_serves_an_older_request():
    cache = AnswerCache(max_bytes=1000)
    cache.put(1, ("a",), _answer(10))
    assert cache.get(1, ("a",)) is not None
    assert cache.get(2, ("a",)) is None and len(cache) == 0  # generation 2: everything built before is gone
    cache.put(1, ("a",), _answer(10))  # a request that read generation 1 finishes after the step
    assert cache.get(2, ("a",)) is None
    cache.put(2, ("a",), _answer(10))
    assert cache.get(1, ("a",)) is None  # a request still at generation 1 builds its own answer
    assert cache.get(2, ("a",)).body == b"x" * 10


def test_cache_keeps_the_most_recently_used_answers_within_its_bytes():
    cache = AnswerCache(max_bytes=800)
    for name in "abcd":
        cache.put(1, (name,), _answer(100))
    cache.get(1, ("a",))
    for name in "efgh":
        cache.put(1, (name,), _answer(100))
    cache.put(1, ("i",), _answer(100))  # over 800 bytes: the least recently used ("b") goes
    assert cache.get(1, ("b",)) is None and cache.get(1, ("a",)) is not None
    cache.put(1, ("huge",), _answer(101))  # more than an eighth of the cache: not kept
    assert cache.get(1, ("huge",)) is None
    assert json.dumps(sorted(k[0] for k in cache._entries)) == json.dumps(sorted("acdefghi"))


def test_a_revoked_key_is_refused_from_the_next_call_although_it_was_verified_before(api):
    client, server, token = api
    con = server.extensions["envtrust"].con
    for _ in range(2):
        assert client.get("/api/v1/parameters", headers={"X-API-Key": token}).status_code == 200
    keys.revoke_key(con, keys.key_id_of(token), "admin")
    answer = client.get("/api/v1/parameters", headers={"X-API-Key": token})
    assert answer.status_code == 401 and "revoked" in answer.get_json()["message"]
    assert client.get("/api/v1/parameters", headers={"X-API-Key": "et_\u00e9\u00e9"}).status_code == 401


def test_a_failed_audit_commit_does_not_wedge_the_thread_s_cursor(api, monkeypatch):
    """Each server thread keeps its cursor; a call whose audit batch fails inside a transaction
    (500) must not leave that transaction open for the thread's next calls."""
    from data import audit
    from envtrust.api import close_audit_log
    from envtrust.api.auditlog import GroupCommitLog

    client, server, token = api
    state = server.extensions["envtrust_api"]
    close_audit_log(state, server.extensions["envtrust"].con)
    state.audit_log = GroupCommitLog()  # the direct group commit (no journal), whose transaction fails
    append_batch = audit.append_batch

    def fail_inside_a_transaction(con, items, kind="audit"):
        con.execute("BEGIN TRANSACTION")
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(audit, "append_batch", fail_inside_a_transaction)
    assert client.get("/api/v1/parameters", headers={"X-API-Key": token}).status_code == 500
    monkeypatch.setattr(audit, "append_batch", append_batch)
    assert client.get("/api/v1/parameters", headers={"X-API-Key": token}).status_code == 200
    con = server.extensions["envtrust"].con
    assert con.execute("SELECT count(*) FROM audit_log WHERE action = 'api_call'").fetchone()[0] == 1
