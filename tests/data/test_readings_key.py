"""(station_id, ts, parameter) is unique in readings whatever path writes (issue 11, defect 4).

Real DuckDB stores in temp folders; concurrent writers are real threads on their own connections
to one file, as the dashboard and the HJ 212 receiver run in one process."""

from __future__ import annotations

import threading

import duckdb
import pandas as pd

from data.ingest import ingest_readings
from data.schema import migrate, migration_files
from data.store import connect


def _station(con) -> None:
    con.execute("INSERT INTO stations (station_id, name, kind, lon, lat) VALUES ('1001A', 'x', 'air_station', 116, 40)")


def _hours(n: int, value: float) -> pd.DataFrame:
    return pd.DataFrame({"station_id": "1001A", "ts": pd.date_range("2017-01-01", periods=n, freq="h"),
                         "parameter": "PM2.5", "value": value, "flag": "N"})


def test_concurrent_writers_store_each_key_once(tmp_path):
    path = tmp_path / "k.duckdb"
    con = connect(path)
    _station(con)
    cons = [con.cursor() for _ in range(6)]  # one database instance, one connection per writer thread
    start = threading.Barrier(len(cons))
    errors: list[BaseException] = []

    def write(c, n):
        try:
            start.wait()
            for chunk in range(5):
                ingest_readings(c, _hours(200, 10.0).iloc[chunk * 40:(chunk + 1) * 40 + 40], f"w{n}", "test")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c, n)) for n, c in enumerate(cons)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    n, keys = con.execute("SELECT count(*), count(DISTINCT (station_id, ts, parameter)) FROM readings").fetchone()
    assert n == keys == 200
    con.close()


def test_migration_007_moves_old_impossible_rows_and_copies_to_quarantine():
    con = duckdb.connect()
    for number, sql in migration_files():
        if number < 7:
            con.execute(sql)
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    con.execute("INSERT INTO schema_version SELECT v, now() FROM (VALUES (1), (3), (5), (6)) t(v)")
    con.execute("INSERT INTO readings VALUES ('A', 'infinity', 'PM2.5', 1, 'N', 'x', 1), "
                "('A', 'infinity', 'PM2.5', 1, 'N', 'x', 2), ('A', '2017-01-01', 'PM2.5', 2, 'N', 'x', 2), "
                "('A', '2017-01-01', 'PM2.5', 1, 'N', 'x', 1), ('A', '0001-01-01', 'PM2.5', 1, 'N', 'x', 1), "
                "('A', '2017-01-02', 'PM2.5', 1, 'N', 'x', 1)")
    assert migrate(con) >= 7
    kept = con.execute("SELECT ts, value, batch_id FROM readings ORDER BY ts").fetchall()
    assert [(str(ts), v, b) for ts, v, b in kept] == [("2017-01-01 00:00:00", 1.0, 1), ("2017-01-02 00:00:00", 1.0, 1)]
    reasons = sorted(r for (r,) in con.execute("SELECT reason FROM quarantine").fetchall())
    assert reasons == ["duplicate_key", "implausible_time", "implausible_time", "implausible_time"]
