"""The serving snapshot (data.snapshot, envtrust.api.snapshot): its answers equal DuckDB's, a
release change reaches the API at once, a stale or missing snapshot never answers, a failed
update - or a process killed mid-update - leaves the previous generation readable, and the file
holds public tables only."""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from dashboard.server import close_server, create_server
from data import release as sql
from data import snapshot as snap_sql
from envtrust import release
from envtrust.api import views
from envtrust.api.cache import AnswerCache
from envtrust.settings import load_settings

spec = importlib.util.spec_from_file_location("release_fixture", Path(__file__).with_name("release_fixture.py"))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)
HOUR = "2017-01-10T03:00:00Z"
ONE_VALUE = f"/api/v1/measurements?location=1001A&parameter=PM2.5&date_from={HOUR}&date_to={HOUR}"
POINT_READS = [
    "/api/v1/measurements?location=1001A&date_from=2017-01-10&date_to=2017-01-10&limit=1000",
    "/api/v1/measurements?location=1002A&parameter=NO2&date_from=2017-01-10&date_to=2017-01-10",
    "/api/v1/measurements?location=1002A&parameter=NO2&status=withheld",
    "/api/v1/measurements?location=1001A,W0001&limit=1000",
    "/api/v1/measurements?location=1001A&limit=3&page=2",
    "/api/v1/measurements?location=1001A&limit=3&page=999",
    "/api/v1/measurements?location=W0001&status=audited&format=csv",
    "/api/v1/measurements?location=1001A&date_from=2017-01-09T05:00Z&date_to=2017-01-09T09:00Z&format=csv",
    "/api/v1/latest?location=1001A",
    "/api/v1/latest?location=1002A,W0001&format=csv",
    ONE_VALUE,
]

CITY = f"/api/v1/measurements?city={quote('北京市')}"
CITY_DAY_READS = [
    f"{CITY}&date_from=2017-01-10&date_to=2017-01-10&limit=1000",
    f"{CITY}&date_from=2017-01-09&date_to=2017-01-10&limit=7&page=4",
    f"{CITY}&date_from=2017-01-10&date_to=2017-01-10&limit=7&page=999",
    f"/api/v1/measurements?city={quote('承德市')}&date_from=2017-01-09&date_to=2017-01-10&status=withheld",
    f"{CITY}&parameter=PM2.5&date_from=2017-01-09&date_to=2017-01-10&status=audited&format=csv",
    f"{CITY}&date_from=2017-01-10T00:00Z&date_to=2017-01-10T05:00Z&format=csv&limit=5&page=2",
]

DAY_MEANS = "/api/v1/measurements?period=day"
DAILY_MEAN_READS = [
    f"{DAY_MEANS}&city={quote('北京市')}&date_from=2017-01-09&date_to=2017-01-10&limit=1000",
    f"{DAY_MEANS}&city={quote('北京市')}&date_from=2017-01-01&date_to=2017-01-11&limit=7&page=3",
    f"{DAY_MEANS}&city={quote('北京市')}&date_from=2017-01-09&date_to=2017-01-10&limit=7&page=999",
    f"{DAY_MEANS}&city={quote('承德市')}&date_from=2017-01-09&date_to=2017-01-10&status=withheld",
    f"{DAY_MEANS}&city={quote('北京市')}&date_from=2017-01-09&date_to=2017-01-10&status=audited&format=csv",
    f"{DAY_MEANS}&location=1001A,W0001&date_from=2017-01-01&date_to=2017-01-11&format=csv&limit=5&page=2",
]


@pytest.fixture()
def api(tmp_path):
    """(test client, server, its ServingSnapshot) over a released store: published, one period
    audited (a confirmed event withheld), one value corrected; the snapshot built."""
    server = create_server(load_settings(db_path=tmp_path / "s.duckdb", secret_key="s" * 64), mount_internal=False)
    con = server.extensions["envtrust"].con
    fixture.fill_release_store(con)
    release.publish_preliminary(con, "2017-01-01", "2017-01-11")
    release.audit_period(con, "2017-01-09", "2017-01-10 06:00", "ana")
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 12.5, "ana", "analyser drift corrected")
    state = server.extensions["envtrust_api"]
    state.anon_rate_per_min = 10**6
    state.snapshot.refresh()
    yield server.test_client(), server, state.snapshot
    close_server(server)


def _answer(client, server, url: str) -> bytes:
    server.extensions["envtrust_api"].answers = AnswerCache()  # build every answer
    answer = client.get(url)
    assert answer.status_code == 200, answer.text
    return answer.data


def _from_duckdb(client, server, url: str) -> bytes:
    state = server.extensions["envtrust_api"]
    snapshot, state.snapshot = state.snapshot, None
    try:
        return _answer(client, server, url)
    finally:
        state.snapshot = snapshot


def _value(client, server) -> float:
    return json.loads(_answer(client, server, ONE_VALUE))["results"][0]["value"]


def _answered_from_the_snapshot_as_duckdb(client, server, snapshot, urls: list[str]) -> None:
    for url in urls:
        before = snapshot.answered
        assert _answer(client, server, url) == _from_duckdb(client, server, url), url
        assert snapshot.answered == before + 1, f"{url} was not read from the snapshot"


def test_the_snapshot_answers_as_duckdb_does(api):
    client, server, snapshot = api
    _answered_from_the_snapshot_as_duckdb(client, server, snapshot, POINT_READS)
    withheld = _answer(client, server, POINT_READS[2]).decode()
    assert '"status":"withheld"' in withheld and '"value":null' in withheld


def test_city_day_pages_from_the_snapshot_answer_as_duckdb_does(api, monkeypatch):
    client, server, snapshot = api
    monkeypatch.setattr(views, "MAX_SNAPSHOT_LOCATIONS", 0)  # the fixture's cities have 1-2 stations
    _answered_from_the_snapshot_as_duckdb(client, server, snapshot, CITY_DAY_READS)
    withheld = json.loads(_answer(client, server, CITY_DAY_READS[3]))["results"]
    assert withheld and {(r["status"], r["value"]) for r in withheld} == {("withheld", None)}
    paged = json.loads(_answer(client, server, CITY_DAY_READS[1]))
    assert paged["meta"]["found"] > 28 and len(paged["results"]) == 7
    before = snapshot.answered
    _answer(client, server, f"{CITY}&limit=1000")  # every hour of a city: read from DuckDB
    assert snapshot.answered == before


def test_daily_means_from_the_snapshot_answer_as_duckdb_does(api, monkeypatch):
    client, server, snapshot = api
    monkeypatch.setattr(views, "MAX_SNAPSHOT_LOCATIONS", 0)  # the fixture's cities have 1-2 stations
    _answered_from_the_snapshot_as_duckdb(client, server, snapshot, DAILY_MEAN_READS)
    withheld = json.loads(_answer(client, server, DAILY_MEAN_READS[3]))["results"]
    assert withheld and all(r["coverage"]["withheld_count"] > 0 for r in withheld)
    paged = json.loads(_answer(client, server, DAILY_MEAN_READS[1]))
    assert paged["meta"]["found"] > 21 and len(paged["results"]) == 7
    assert b"\n" in _answer(client, server, DAILY_MEAN_READS[4]).strip()  # a header and rows


def _exact_daily_mean(values: list[float], decimals: int) -> float:
    """The definition written out independently: Decimal arithmetic, half to even."""
    total = sum(Decimal(repr(v)) for v in values)
    return float((total / len(values)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))


def test_a_daily_mean_is_the_rounded_exact_mean_of_its_hours_on_both_paths(api, monkeypatch):
    client, server, _snapshot = api
    monkeypatch.setattr(views, "MAX_SNAPSHOT_LOCATIONS", 0)
    where = "location=1001A,1002A,W0001"
    cst_day = f"{where}&date_from=2017-01-08T16:00Z&date_to=2017-01-09T15:00Z"  # CST 2017-01-09
    page = json.loads(_answer(client, server, f"/api/v1/measurements?{cst_day}&limit=1000"))
    hours = page["results"]
    assert page["meta"]["found"] == len(hours)
    by_key: dict[tuple, list[float]] = {}
    for h in hours:
        if h["value"] is not None:
            by_key.setdefault((h["location_id"], h["parameter"]), []).append(h["value"])
    url = f"{DAY_MEANS}&{where}&date_from=2017-01-09&date_to=2017-01-09&limit=1000"
    for answer in (_answer(client, server, url), _from_duckdb(client, server, url)):
        means = {(r["location_id"], r["parameter"]): r["value"] for r in json.loads(answer)["results"]}
        expected = {k: _exact_daily_mean(v, views.DAILY_MEAN_DECIMALS.get(k[1], views.OTHER_DAILY_MEAN_DECIMALS))
                    for k, v in by_key.items()}
        assert {k: means[k] for k in expected} == expected and len(expected) > 6


def test_a_daily_mean_is_the_same_in_any_order_and_rounds_half_to_even():
    values = [35.7, 0.1, 0.2, 12.3]  # a float sum of these depends on the order: 48.3 / ...01 / ...04
    orders = [list(o) for o in itertools.permutations(values)]
    assert len({sum(o) for o in orders}) > 1
    micro = {sum(round(v * sql.MEAN_SCALE) for v in o) for o in orders}
    assert len(micro) == 1
    assert len({views.published_daily_mean("TEMP", m, len(values)) for m in micro}) == 1
    assert views.published_daily_mean("PM2.5", 71_000_000, 2) == 36.0  # 35.5 -> even 36
    assert views.published_daily_mean("PM2.5", 69_000_000, 2) == 34.0  # 34.5 -> even 34
    assert views.published_daily_mean("CO", 700_000, 2) == 0.4  # 0.35 -> 0.4 (GB/T 8170's example)
    assert views.published_daily_mean("O3", 3 * 40_400_000, 3) == 40.0
    assert views.published_daily_mean("TP", 25_000, 2) == 0.012  # 0.0125 -> even 0.012
    assert views.published_daily_mean("PM2.5", None, 0) is None


def test_a_release_change_reaches_the_api_at_once_and_the_snapshot_catches_up(api):
    client, server, snapshot = api
    con = server.extensions["envtrust"].con
    assert _value(client, server) == 12.5
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 13.5, "ana", "second look")
    assert _value(client, server) == 13.5  # from DuckDB while the snapshot is behind (or caught up)
    snapshot.wait(30)
    before = snapshot.answered
    assert _value(client, server) == 13.5
    assert snapshot.answered == before + 1
    with sqlite3.connect(snapshot.path) as snap:
        assert snap_sql.snapshot_state(snap)[0] == sql.release_generation(con)


def test_a_stale_or_missing_snapshot_never_answers(api, monkeypatch):
    client, server, snapshot = api
    con = server.extensions["envtrust"].con
    monkeypatch.setattr(type(snapshot), "refresh_in_background", lambda self: None)
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 14.5, "ana", "stale test")
    before = snapshot.answered
    assert _value(client, server) == 14.5
    assert [_answer(client, server, u) == _from_duckdb(client, server, u) for u in POINT_READS] == [True] * len(POINT_READS)
    assert snapshot.answered == before
    snapshot.path.unlink()
    assert _value(client, server) == 14.5 and snapshot.answered == before
    snapshot.refresh()  # rebuilt when missing
    assert _value(client, server) == 14.5 and snapshot.answered == before + 1


def test_every_read_is_checked_against_its_own_statements_generation(api):
    """Each statement carries the generation it read at: any other is refused, an empty page too."""
    _client, _server, snapshot = api
    reader = snap_sql.open_reader(snapshot.path)
    with sqlite3.connect(snapshot.path) as snap:
        generation = snap_sql.snapshot_state(snap)[0]
    hour, later = datetime(2017, 1, 10, 3), datetime(2099, 1, 1)
    reads = [
        lambda at: snap_sql.current_hourly(reader, at, ["1001A"], ["PM2.5"], hour, hour, sql.RELEASE_STATUSES, 10, 0),
        lambda at: snap_sql.current_hourly(reader, at, ["1001A"], ["PM2.5"], later, later, sql.RELEASE_STATUSES,
                                           10, 0),  # an empty page
        lambda at: snap_sql.current_hourly(reader, at, ["1001A"], ["PM2.5"], hour, later, sql.RELEASE_STATUSES,
                                           1, 0),  # a full page and its count
        lambda at: snap_sql.current_daily(reader, at, ["1001A"], ["PM2.5"], hour, later, sql.RELEASE_STATUSES, 1, 0),
        lambda at: snap_sql.latest_current(reader, at, ["1001A"], ["PM2.5"], hour),
    ]
    try:
        assert [len(read(generation)[0]) for read in reads[:4]] == [1, 0, 1, 1]
        assert reads[2](generation)[1] > 1 and len(reads[4](generation)) == 1
        for read in reads:
            for other in (generation - 1, generation + 1):
                with pytest.raises(snap_sql.SnapshotNotAt) as refused:
                    read(other)
                assert (refused.value.held, refused.value.wanted) == (generation, other)
    finally:
        reader.close()


def test_a_rebuilt_file_is_found_without_a_stat_per_request(api, monkeypatch):
    """A thread's connection is checked against the file once per FILE_CHECK_S, and at once after
    it read an older generation (a rebuild replaced the file)."""
    from envtrust.api import snapshot as serving

    client, server, snapshot = api
    stats = []
    real_stat = serving.os.stat

    def counted_stat(path, *args, **kwargs):
        if str(path) == str(snapshot.path):
            stats.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(serving.os, "stat", counted_stat)
    monkeypatch.setattr(type(snapshot), "refresh_in_background", lambda self: None)
    before = snapshot.answered
    for _ in range(5):
        _value(client, server)
    assert snapshot.answered == before + 5 and len(stats) <= 1
    con = server.extensions["envtrust"].con
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 16.5, "ana", "rebuild test")
    snapshot.path.unlink()
    snap_sql.build_snapshot(con, snapshot.path)  # a new file at the store's generation
    assert _value(client, server) == 16.5  # the old connection's older generation: from DuckDB ...
    assert _value(client, server) == 16.5 and snapshot.answered == before + 6  # ... then the new file


def test_a_failed_update_leaves_the_previous_generation_readable(api, monkeypatch):
    client, server, snapshot = api
    con = server.extensions["envtrust"].con
    with sqlite3.connect(snapshot.path) as snap:
        generation = snap_sql.snapshot_state(snap)[0]
    release.publish_preliminary(con, "2016-12-01", "2017-01-11")  # nothing new, but a new generation
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 15.5, "ana", "crash test")
    real = snap_sql._store_changes

    def crashing(c, since):
        store_generation, newest, batches = real(c, since)

        def first_then_crash():
            yield from (next(batches),)
            raise RuntimeError("crash mid-update")

        return store_generation, newest, first_then_crash()

    monkeypatch.setattr(snap_sql, "_store_changes", crashing)
    with pytest.raises(RuntimeError, match="crash mid-update"):
        snapshot.refresh()
    reader = snap_sql.open_reader(snapshot.path)
    hour = datetime(2017, 1, 10, 3)
    rows, _ = snap_sql.current_hourly(reader, generation, ["1001A"], ["PM2.5"], hour, hour, sql.RELEASE_STATUSES,
                                      10, 0)
    assert [r[3] for r in rows] == [12.5]  # the previous generation's value, whole
    monkeypatch.setattr(snap_sql, "_store_changes", real)
    snapshot.refresh()
    assert _value(client, server) == 15.5


def test_a_refresh_writes_only_the_values_released_since_the_last(api, monkeypatch, caplog):
    _client, server, snapshot = api
    con = server.extensions["envtrust"].con
    monkeypatch.setattr(snap_sql, "REFRESH_OVERLAP", timedelta(0))
    release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", 20.0, "ana", "one value")
    with caplog.at_level(logging.INFO, logger="envtrust.api.snapshot"):
        generation, written = snapshot.refresh()
    assert written == 1 and generation == sql.release_generation(con)
    assert [r.getMessage().split(": ", 1)[1].split(" in ")[0] for r in caplog.records] == [
        "refresh started", f"at generation {generation}, 1 rows written"]
    assert snapshot.refresh() == (generation, 0)


def test_the_first_build_is_logged_with_rows_and_seconds(api, caplog):
    """``envtrust serve`` builds the snapshot in a background thread at start: its start and end
    are in the log."""
    _client, _server, snapshot = api
    snapshot.wait(30)
    snapshot.path.unlink()
    with caplog.at_level(logging.INFO, logger="envtrust.api.snapshot"):
        snapshot.refresh_in_background()
        snapshot.wait(30)
    start, end = (r.getMessage() for r in caplog.records)
    assert start == f"serving snapshot {snapshot.path}: building"
    assert re.fullmatch(rf"serving snapshot {re.escape(str(snapshot.path))}: built at generation \d+, "
                        r"[1-9][\d,]* rows written in \d+\.\d s", end), end


def test_the_snapshot_file_holds_only_the_released_current_values(api):
    _client, server, snapshot = api
    con = server.extensions["envtrust"].con
    with sqlite3.connect(snapshot.path) as snap:
        assert snap_sql.table_names(snap) == sorted(snap_sql.SNAPSHOT_TABLES)
        columns = {r[1] for r in snap.execute("PRAGMA table_info(current_hourly)")}
        held = snap.execute("SELECT station_id, parameter, ts, value, status, version FROM current_hourly "
                            "ORDER BY 1, 2, 3").fetchall()
    assert columns == {"station_id", "parameter", "ts", "value", "status", "version", "value_text"}
    current = con.execute("SELECT station_id, parameter, CAST(epoch(ts) AS BIGINT), value, status, version "
                          "FROM release_values WHERE superseded_at IS NULL ORDER BY 1, 2, 3").fetchall()
    assert held == current and held


def test_values_that_sqlite_cannot_print_exactly_answer_as_duckdb_does(api):
    """The hourly page comes from each value's stored text: a double with 17 significant digits, or
    0.84 (which SQLite 3.40 prints as 0.8399999999999999), is answered bit for bit."""
    client, server, snapshot = api
    con = server.extensions["envtrust"].con
    for value in (0.1 + 0.2, 0.84):
        release.correct_value(con, "1001A", "2017-01-10 03:00", "PM2.5", value, "ana", "an inexact decimal")
        snapshot.refresh()
        _answered_from_the_snapshot_as_duckdb(client, server, snapshot, [ONE_VALUE, POINT_READS[0]])
        assert _value(client, server) == value


def test_a_snapshot_of_another_format_is_rebuilt_not_read(api):
    """A file whose ``user_version`` is not SNAPSHOT_FORMAT (an older layout) has no state: it is
    not of the store, a refresh replaces it, and the serving snapshot removes it at start."""
    _client, server, snapshot = api
    con = server.extensions["envtrust"].con
    with sqlite3.connect(snapshot.path) as snap:
        snap.execute(f"PRAGMA user_version = {snap_sql.SNAPSHOT_FORMAT - 1}")
        assert snap_sql.snapshot_state(snap) is None
    assert not snap_sql.snapshot_is_of_store(con, snapshot.path)
    inode = snapshot.path.stat().st_ino
    generation, rows = snapshot.refresh()
    assert rows > 0 and generation == sql.release_generation(con) and snapshot.path.stat().st_ino != inode
    assert snap_sql.snapshot_is_of_store(con, snapshot.path)
    assert snapshot.path.name.endswith(f"-public-v{snap_sql.SNAPSHOT_FORMAT}.sqlite")


KILLED_MID_UPDATE = """
import os, sqlite3, sys
from datetime import datetime
sys.path.insert(0, {repo!r})
from data import snapshot as snap_sql

def batches():
    yield [("1001A", "PM2.5", snap_sql.epoch_s(datetime(2017, 1, 10, 3)), 99.0, "final", 99)]
    os._exit(9)  # killed with the transaction open: no commit, no rollback

snap_sql._write(sqlite3.connect({path!r}, timeout=5.0), {generation} + 1, None, batches())
"""


def test_a_process_killed_mid_update_leaves_the_previous_generation(api):
    client, server, snapshot = api
    with sqlite3.connect(snapshot.path) as snap:
        generation = snap_sql.snapshot_state(snap)[0]
    code = KILLED_MID_UPDATE.format(repo=str(Path(__file__).resolve().parents[2]), path=str(snapshot.path),
                                    generation=generation)
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 9
    reader = snap_sql.open_reader(snapshot.path)
    hour = datetime(2017, 1, 10, 3)
    rows, _ = snap_sql.current_hourly(reader, generation, ["1001A"], ["PM2.5"], hour, hour, sql.RELEASE_STATUSES,
                                      10, 0)
    reader.close()
    assert [(r[3], r[4]) for r in rows] == [(12.5, "audited")]
    before = snapshot.answered
    assert _value(client, server) == 12.5 and snapshot.answered == before + 1
