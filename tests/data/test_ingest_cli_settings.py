"""`envtrust ingest` applies its settings: the plausible window and the memory limit (issue 11)."""

from __future__ import annotations

import duckdb

from envtrust.cli import main


def _rejected_file(path, rows: int) -> None:
    """A long CSV whose rows all name unknown stations (the worst case for memory: all quarantined)."""
    duckdb.connect().execute(
        f"COPY (SELECT 'NOSUCH' || (i % 997) AS station_id, strftime(TIMESTAMP '2017-01-01' + to_hours(i % 40000), "
        f"'%Y-%m-%d %H:%M') AS ts, 'PM2.5' AS parameter, CAST(i % 500 AS VARCHAR) AS value, 'N' AS flag "
        f"FROM range({rows}) t(i)) TO '{path}' (HEADER)")


def test_ingest_cli_honours_the_plausible_window_setting(tmp_path, monkeypatch, capsys):
    stations = tmp_path / "stations.csv"
    stations.write_text("station_id,name,kind,lon,lat\n1001A,A,air_station,116.4,39.9\n")
    rows = tmp_path / "rows.csv"
    rows.write_text("station_id,ts,parameter,value\n1001A,2010-06-01 08:00,PM2.5,10\n1001A,2017-06-01 08:00,PM2.5,11\n")
    monkeypatch.setenv("ENVTRUST_EARLIEST_TS", "2012-01-01")
    assert main(["ingest", "--db", str(tmp_path / "s.duckdb"), "--no-progress", str(stations), str(rows)]) == 0
    out = capsys.readouterr().out
    assert "1 stored" in out and "implausible_time 1" in out


def test_ingest_cli_works_under_a_small_memory_limit(tmp_path, monkeypatch, capsys):
    path = tmp_path / "rejected.csv"
    _rejected_file(path, 300_000)
    monkeypatch.setenv("ENVTRUST_INGEST_MEMORY_MB", "64")
    db = tmp_path / "s.duckdb"
    assert main(["ingest", "--db", str(db), "--no-progress", str(path)]) == 0
    assert "300,000 quarantined" in capsys.readouterr().out
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 300_000


def test_ingest_cli_refuses_a_bad_memory_limit(tmp_path, monkeypatch, capsys):
    path = tmp_path / "rejected.csv"
    _rejected_file(path, 10)
    for bad in ("lots", "8"):
        monkeypatch.setenv("ENVTRUST_INGEST_MEMORY_MB", bad)
        assert main(["ingest", "--db", str(tmp_path / "s.duckdb"), "--no-progress", str(path)]) == 2
        assert "ENVTRUST_INGEST_MEMORY_MB" in capsys.readouterr().err


def test_limit_memory_sets_the_instance_limit(tmp_path):
    from data.ingest import limit_memory

    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    limit_memory(con, 100)
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0].startswith("95.3")
