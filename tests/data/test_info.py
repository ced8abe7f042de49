"""envtrust info / ingest / init through the CLI front door, on the real sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from envtrust.cli import main

FILES = Path(__file__).parent / "files"


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory, sample_dir):
    db = tmp_path_factory.mktemp("info") / "s.duckdb"
    files = [str(p) for p in sorted((sample_dir / "beijing").glob("*Dongsi*"))]
    files += [str(sample_dir / "beijing" / "stations_beijing12.csv"), str(FILES / "long_bad.csv")]
    assert main(["ingest", "--db", str(db), "--no-progress", *files]) == 0
    return db


def test_ingest_prints_a_line_per_file(tmp_path, sample_dir, capsys):
    db = tmp_path / "x.duckdb"
    path = sample_dir / "beijing" / "stations_beijing12.csv"
    assert main(["ingest", "--db", str(db), "--no-progress", str(path), str(FILES / "long_bad.csv")]) == 0
    out = capsys.readouterr().out
    assert "12 stations in, 12 stored" in out
    assert "9 stored, 1 duplicates, 10 quarantined" in out and "bad_flag 1" in out
    assert main(["ingest", "--db", str(db), "--no-progress", str(FILES / "long_bad.csv")]) == 0
    assert "already ingested" in capsys.readouterr().out


def test_ingest_unreadable_file_is_a_clear_error(tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    assert main(["ingest", "--db", str(db), "--no-progress", str(FILES / "truncated.csv.gz")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err
    assert main(["ingest", "--db", str(db), "--no-progress", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_info_reports_store_and_balance(loaded_db, capsys):
    assert main(["info", "--db", str(loaded_db)]) == 0
    out = capsys.readouterr().out
    assert "air_station" in out and "12" in out
    # Dongsi sample: 2016-12-01 00:00 .. 2017-01-10 23:00 Beijing time, shown in local time
    assert "2016-12-01 00:00 .. 2017-01-10 23:00" in out
    assert "unknown_parameter" in out and "duplicate_conflict" in out
    assert "rows in = stored + duplicates + quarantined" in out and "OK" in out


def test_store_info_totals(loaded_db):
    from data.info import store_info
    from data.store import connect

    con = connect(loaded_db, read_only=True)
    try:
        info = store_info(con)
    finally:
        con.close()
    assert info.rows_balance == 0
    assert info.totals["readings"] == 984 * 12 + 9
    assert info.totals["quarantine_rows"] == 10
    assert info.totals["readings_without_batch"] == 0
    co = info.readings.set_index("parameter").loc["CO"]
    assert co["unit"] == "mg/m3" and co["stations"] == 2


def test_info_on_missing_store(tmp_path, capsys):
    assert main(["info", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no envtrust store" in capsys.readouterr().err


def test_init_creates_store(tmp_path, capsys):
    db = tmp_path / "new.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    assert db.exists() and "schema version" in capsys.readouterr().out
