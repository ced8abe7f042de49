"""`envtrust export` (daily Parquet/CSV partitions, GeoParquet/GeoJSON layers, licence and
checksums) and `envtrust apikey` (keys stored hashed, scopes checked), through the real CLI."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq

from data import release as sql
from data import snapshot as snap_sql
from data.store import connect
from envtrust import release
from envtrust.api import keys
from envtrust.cli import main
from envtrust.settings import load_settings

spec = importlib.util.spec_from_file_location("release_fixture", Path(__file__).with_name("release_fixture.py"))
fixture = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixture)


def _released_db(tmp_path: Path) -> Path:
    db = tmp_path / "x.duckdb"
    con = connect(db)
    fixture.fill_release_store(con)
    release.publish_preliminary(con, "2017-01-01", "2017-01-11")
    release.audit_period(con, "2017-01-09", "2017-01-10 06:00", "ana")
    con.close()
    return db


def test_export_writes_daily_partitions_layers_licence_and_checksums(tmp_path, capsys):
    db, out = _released_db(tmp_path), tmp_path / "bulk"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    paths = {f["path"] for f in manifest["files"]}
    assert {"measurements/date=2017-01-09/measurements.parquet", "measurements/date=2017-01-10/measurements.csv",
            "layers/air_stations.geoparquet", "layers/water_sections.geojson"} <= paths
    for entry in manifest["files"]:
        assert entry["licence"] == release.DATA_LICENCE
        assert hashlib.sha256((out / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == len(manifest["files"]) and "CC BY 4.0" in (out / "LICENSE.txt").read_text(encoding="utf-8")
    day = pd.read_parquet(out / "measurements/date=2017-01-10/measurements.parquet")
    assert set(day["kind"]) == {"air_station", "water_section"} and 999.0 not in set(day["value"])
    assert day["status"].isin(["preliminary", "audited", "withheld"]).all() and (day["status"] == "withheld").sum() == 2
    assert pq.read_metadata(out / "measurements/date=2017-01-10/measurements.parquet").metadata[b"licence"] == b"CC-BY-4.0"
    local = pd.to_datetime(day["local_time"])
    assert (local.dt.strftime("%Y-%m-%d") == "2017-01-10").all()
    air = gpd.read_parquet(out / "layers/air_stations.geoparquet")
    assert air.crs.to_epsg() == 4326 and set(air["location_id"]) == {"1001A", "1002A"}
    water = gpd.read_file(out / "layers/water_sections.geojson")
    assert list(water["location_id"]) == ["W0001"] and water.geometry.iloc[0].x == 117.15


def test_apikey_cli_prints_the_key_once_and_stores_only_its_hash(tmp_path, capsys):
    db = _released_db(tmp_path)
    assert main(["apikey", "add", "--dept", "水利局", "--scope", "read,history", "--db", str(db)]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    con = connect(db)
    try:
        found = keys.verify_key(con, token)
        assert found is not None and found.scopes == {"read", "history"} and found.dept == "水利局"
        stored = con.execute("SELECT * FROM api_keys").fetchall()
        assert token.split("_", 2)[2] not in str(stored)
        assert con.execute("SELECT count(*) FROM audit_log WHERE action = 'apikey_add'").fetchone()[0] == 1
    finally:
        con.close()
    assert main(["apikey", "add", "--dept", "x", "--scope", "events", "--db", str(db)]) == 2
    assert "unknown scope(s) events" in capsys.readouterr().err
    assert main(["apikey", "list", "--db", str(db)]) == 0
    assert "水利局" in capsys.readouterr().out
    assert main(["apikey", "revoke", keys.key_id_of(token), "--db", str(db)]) == 0
    con = connect(db)
    try:
        assert keys.verify_key(con, token) is None
    finally:
        con.close()


def test_release_cli_corrects_with_a_reason(tmp_path, capsys):
    db = _released_db(tmp_path)
    assert main(["release", "correct", "1001A", "2017-01-10T03:00", "PM2.5", "10", "--reason", "lab recheck",
                 "--db", str(db)]) == 0
    assert "version 3" in capsys.readouterr().out
    assert main(["release", "correct", "M0001", "2017-01-10T03:00", "PM2.5", "10", "--reason", "x",
                 "--db", str(db)]) == 2
    assert "never released" in capsys.readouterr().err
    assert main(["release", "finalize", "--from", "2017-01-10", "--to", "2017-01-09", "--db", str(db)]) == 2
    assert "before it starts" in capsys.readouterr().err


def test_a_release_step_brings_an_existing_serving_snapshot_up_to_date(tmp_path, capsys):
    db = _released_db(tmp_path)
    path = load_settings(db_path=db).serving_snapshot_path
    con = connect(db)
    try:
        snap_sql.build_snapshot(con, path)
    finally:
        con.close()
    assert main(["release", "correct", "1001A", "2017-01-10T03:00", "PM2.5", "11", "--reason", "recheck",
                 "--db", str(db)]) == 0
    assert "serving snapshot at generation" in capsys.readouterr().out
    con = connect(db)
    try:
        generation = sql.release_generation(con)
    finally:
        con.close()
    with sqlite3.connect(path) as snap:
        assert snap_sql.snapshot_state(snap)[0] == generation
        assert snap.execute("SELECT value FROM current_hourly WHERE station_id = '1001A' AND parameter = 'PM2.5' "
                            "AND ts = ?", [snap_sql.epoch_s(pd.Timestamp("2017-01-10 03:00").to_pydatetime())]
                            ).fetchone() == (11.0,)
