"""Adapters on the real shipped sample files, plus small bad-input fixtures."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.timeconv import cst_to_utc, utc_to_cst
from data.adapters import detect_format
from data.adapters.beijing import compass_to_deg, read_beijing_csv, read_beijing_stations
from data.adapters.cnemc import read_cnemc_day, read_cnemc_station_list
from data.adapters.long import read_long
from data.ingest import IngestError
from data.stations import StationError, load_stations, upsert_stations

FILES = Path(__file__).parent / "files"


@pytest.fixture(scope="module")
def aoti(sample_dir):
    return read_beijing_csv(sample_dir / "beijing" / "PRSA_Data_Aotizhongxin_20161201-20170110.csv.gz")


def test_timeconv_beijing_new_year():
    assert cst_to_utc(pd.Timestamp("2017-01-01 00:00")) == pd.Timestamp("2016-12-31 16:00")
    assert utc_to_cst(pd.Timestamp("2016-12-31 16:00")) == pd.Timestamp("2017-01-01 00:00")
    aware = pd.Series(pd.to_datetime(["2017-01-01 00:00"])).dt.tz_localize("Asia/Shanghai")
    assert cst_to_utc(aware).iloc[0] == pd.Timestamp("2016-12-31 16:00")
    idx = pd.DatetimeIndex(["2017-06-01 12:00"])
    assert (utc_to_cst(cst_to_utc(idx)) == idx).all()


def test_beijing_sample_shape_units_and_time(aoti, sample_dir):
    raw = pd.read_csv(sample_dir / "beijing" / "PRSA_Data_Aotizhongxin_20161201-20170110.csv.gz")
    r = aoti.readings
    assert len(aoti.quarantined) == 0
    assert len(r) == len(raw) * 12 == 984 * 12
    assert set(r["station_id"]) == {"1011A"}
    first = r[(r["ts"] == pd.Timestamp("2016-11-30 16:00"))].set_index("parameter")["value"]
    # first source row: 2016-12-01 00:00 CST, CO 400 ug/m3, wd E, WSPM 1
    assert first["CO"] == pytest.approx(0.4) and first["WD"] == 90.0 and first["WS"] == 1.0
    assert first["PM2.5"] == 10.0 and first["TEMP"] == 3.5
    new_year = r[(r["parameter"] == "PM2.5")]
    row = raw[(raw.year == 2017) & (raw.month == 1) & (raw.day == 1) & (raw.hour == 0)]
    assert new_year.loc[new_year["ts"] == pd.Timestamp("2016-12-31 16:00"), "value"].item() == row["PM2.5"].item()
    # NA -> NULL readings kept (completeness), one per NA cell
    for column, param in (("PM2.5", "PM2.5"), ("CO", "CO"), ("wd", "WD")):
        assert r.loc[r["parameter"] == param, "value"].isna().sum() == raw[column].isna().sum()


def test_beijing_bad_rows_are_quarantined(tmp_path):
    result = read_beijing_csv(FILES / "beijing_bad.csv")
    reasons = result.quarantined["reason"].value_counts().to_dict()
    assert reasons == {"unparseable_value": 2, "unparseable_time": 1, "unknown_station": 1}
    assert len(result.readings) == 12 + 12 + 10
    calm = result.readings[(result.readings["parameter"] == "WD") & result.readings["value"].isna()]
    assert len(calm) == 1  # CV = calm: no direction, not an error
    assert "Atlantis" in result.quarantined.loc[result.quarantined["reason"] == "unknown_station", "raw"].item()


def test_compass():
    deg, bad = compass_to_deg(pd.Series(["N", "ENE", "nw", "CV", "NA", "up"]))
    assert deg.iloc[:3].tolist() == [0.0, 67.5, 315.0]
    assert bad.tolist() == [False, False, False, False, False, True]


def test_beijing_stations(sample_dir):
    st = read_beijing_stations(sample_dir / "beijing" / "stations_beijing12.csv")
    assert len(st) == 12 and st["station_id"].str.fullmatch(r"10(0[1-9]|1[0-2])A").all()
    assert st.set_index("station_id").loc["1002A", "is_background"]


def test_cnemc_day(sample_dir):
    result = read_cnemc_day(sample_dir / "cnemc" / "china_sites_20170101.csv.gz")
    r = result.readings
    assert len(r) == 19 * 6 * 1497 and len(result.quarantined) == 0
    assert set(r["parameter"]) == {"PM2.5", "PM10", "SO2", "NO2", "O3", "CO"}
    assert "skipped" in result.notes[0] and "AQI" in result.notes[0]
    key = (r["station_id"] == "1001A") & (r["ts"] == pd.Timestamp("2016-12-31 16:00"))
    values = r[key].set_index("parameter")["value"]
    assert values["PM2.5"] == 417.0 and values["SO2"] == 7.0 and values["O3"] == 6.0
    assert r["value"].isna().sum() > 0  # empty cells = reported missing
    hours = sorted(utc_to_cst(pd.Series(r["ts"].unique())).dt.hour)
    assert 13 not in hours and len(hours) == 19


def test_cnemc_station_list_notes_and_encoding(sample_dir, tmp_path):
    path = sample_dir / "cnemc" / "station_list_cnemc_2024.csv"
    st = read_cnemc_station_list(path).set_index("station_id")
    assert len(st) == 2026
    assert st.loc["1014A", "active_to"] == pd.Timestamp("2016-11-21 16:00")  # (停运161122) CST midnight
    assert pd.isna(st.loc["1001A", "active_to"])
    assert st.loc["1002A", "is_background"] and not st.loc["1001A", "is_background"]
    assert st["lon"].isna().sum() == 10
    assert st.loc["1001A", "province"] == "北京市"
    # the original quotsoft list is GB18030
    gb = tmp_path / "list_gb18030.csv"
    gb.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    assert read_cnemc_station_list(gb).equals(read_cnemc_station_list(path))
    assert detect_format(gb) == "cnemc_stations"


def test_detect_formats(sample_dir, tmp_path):
    assert detect_format(sample_dir / "beijing" / "PRSA_Data_Dongsi_20161201-20170110.csv.gz") == "beijing"
    assert detect_format(sample_dir / "beijing" / "stations_beijing12.csv") == "beijing_stations"
    assert detect_format(sample_dir / "cnemc" / "china_sites_20170101.csv.gz") == "cnemc_day"
    assert detect_format(sample_dir / "cnemc" / "station_list_cnemc_2024.csv") == "cnemc_stations"
    assert detect_format(FILES / "long_bad.csv") == "long"
    pd.DataFrame({"station_id": ["a"], "name": ["b"], "kind": ["air_micro"], "lon": [1.0], "lat": [2.0]}).to_parquet(
        tmp_path / "st.parquet")
    assert detect_format(tmp_path / "st.parquet") == "stations"
    with pytest.raises(IngestError, match="--format"):
        detect_format(FILES / "unknown_header.csv")


def test_read_long_converts_time_and_keeps_bad_times(tmp_path):
    result = read_long(FILES / "long_bad.csv")
    assert len(result.readings) + len(result.quarantined) == 20
    assert result.quarantined["reason"].tolist() == ["unparseable_time"]
    assert "hour 5" in result.quarantined["raw"].item()
    assert result.readings["ts"].iloc[0] == pd.Timestamp("2016-12-31 16:00")
    gz = tmp_path / "long.csv.gz"
    gz.write_bytes(gzip.compress((FILES / "long_bad.csv").read_bytes()))
    assert read_long(gz).readings.equals(result.readings)


def test_upsert_stations_validates_and_keeps_other_columns(store):
    good = pd.DataFrame({"station_id": ["S1"], "name": ["one"], "kind": ["water_section"], "lon": [116.0],
                         "lat": [40.0], "river": ["永定河"], "section_role": ["inbound"]})
    assert upsert_stations(store, good) == 1
    store.execute("UPDATE stations SET county = '门头沟区' WHERE station_id = 'S1'")
    upsert_stations(store, good.assign(name="one renamed"))
    row = load_stations(store, kinds=["water_section"]).iloc[0]
    assert row["name"] == "one renamed" and row["county"] == "门头沟区" and row["river"] == "永定河"
    assert load_stations(store, kinds="air_station").empty
    for bad, message in (
        (good.assign(kind="tower"), "kind must be one of"),
        (good.assign(lon=200.0), "lon outside"),
        (good.assign(lat=np.nan), "lon/lat missing"),
        (good.assign(section_role="sideways"), "section_role"),
        (good.drop(columns=["kind"]), "required column"),
        (pd.concat([good, good]), "repeated"),
        (good.assign(colour="red"), "unknown station column"),
    ):
        with pytest.raises(StationError, match=message):
            upsert_stations(store, bad)
    with pytest.raises(StationError, match="unknown station kind"):
        load_stations(store, kinds=["tower"])


def test_read_long_returns_malformed_lines():
    result = read_long(FILES / "long_malformed.csv")
    assert len(result.readings) == 2
    assert sorted(result.quarantined["reason"]) == ["malformed_line", "malformed_line"]


def test_read_long_then_ingest_readings_matches_the_file_path(tmp_path, sample_dir):
    from data.ingest import ingest_files, ingest_readings
    from data.store import connect

    stores = []
    for name in ("frame", "file"):
        con = connect(tmp_path / f"{name}.duckdb")
        upsert_stations(con, read_beijing_stations(sample_dir / "beijing" / "stations_beijing12.csv"))
        if name == "frame":
            result = read_long(FILES / "long_bad.csv")
            report = ingest_readings(con, result.readings, "frame", "long", quarantined=result.quarantined)
        else:
            report = ingest_files(con, [FILES / "long_bad.csv"], progress=False)[0]
        rows = con.execute("SELECT station_id, ts, parameter, value, flag FROM readings ORDER BY ALL").fetchall()
        stores.append((report.rows_in, report.rows_stored, report.rows_duplicate, report.reasons, rows))
        con.close()
    assert stores[0] == stores[1]
    assert stores[0][:3] == (20, 9, 1)
