"""Ingest: validation reasons, duplicates, idempotency, atomicity, time zones (real DuckDB, no mocks
of our own code)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from data.adapters.beijing import read_beijing_stations
from data.ingest import REASONS, IngestError, IngestReport, ingest_files, ingest_readings
from data.stations import upsert_stations

FILES = Path(__file__).parent / "files"
UTC_2017_CST_MIDNIGHT = pd.Timestamp("2016-12-31 16:00")


@pytest.fixture()
def beijing_store(store, sample_dir):
    upsert_stations(store, read_beijing_stations(sample_dir / "beijing" / "stations_beijing12.csv"))
    return store


def frame(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    if pd.api.types.is_object_dtype(out["ts"]) and all(isinstance(t, pd.Timestamp) for t in out["ts"]):
        out["ts"] = pd.to_datetime(out["ts"])
    return out


def reading(**kw) -> dict:
    base = {"station_id": "1001A", "ts": UTC_2017_CST_MIDNIGHT, "parameter": "PM2.5", "value": 50.0, "flag": "N"}
    base.update(kw)
    return base


def balanced(report: IngestReport) -> IngestReport:
    assert report.rows_in == report.rows_stored + report.rows_duplicate + report.rows_quarantined
    return report


def count(con, sql: str, params=()) -> int:
    return int(con.execute(sql, list(params)).fetchall()[0][0])


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (reading(ts="not a time"), "unparseable_time"),
        (reading(station_id="9999Z"), "unknown_station"),
        (reading(parameter="PM1"), "unknown_parameter"),
        (reading(value="twelve"), "unparseable_value"),
        (reading(parameter="CO", value=1500.0, unit="ug/m3"), "unit_mismatch"),
        (reading(flag="X"), "bad_flag"),
        (reading(value=-1.0), "negative_concentration"),
        (reading(value=99999.0), "out_of_physical_range"),
        (reading(parameter="TEMP", value=-80.0), "out_of_physical_range"),
        (reading(parameter="PRES", value=-1.0), "out_of_physical_range"),  # not a concentration
    ],
)
def test_each_reason_is_quarantined_with_detail(beijing_store, row, reason):
    good = reading(ts=pd.Timestamp("2017-01-02 00:00"))
    rows = pd.DataFrame([good, row]).astype({"value": object, "ts": object})
    report = balanced(ingest_readings(beijing_store, rows, "test", "long"))
    assert report.reasons == {reason: 1}
    assert report.rows_stored == 1
    raw, got, detail = beijing_store.execute("SELECT raw, reason, detail FROM quarantine").fetchall()[0]
    assert got == reason and detail and len(detail) > 10
    assert row["station_id"] in raw
    assert count(beijing_store, "SELECT count(*) FROM readings") == 1


def test_reason_list_is_complete():
    assert set(REASONS) >= {"unparseable_time", "unknown_station", "unknown_parameter", "unparseable_value",
                            "negative_concentration", "out_of_physical_range", "unit_mismatch", "bad_flag",
                            "duplicate_conflict"}


def test_negative_temperature_and_unit_aliases_are_fine(beijing_store):
    rows = frame([reading(parameter="TEMP", value=-12.5, unit="℃"),
                  reading(value=80.0, unit="µg/m³"),
                  reading(parameter="CO", value=1.1, unit="mg/m3")])
    report = balanced(ingest_readings(beijing_store, rows, "test", "long"))
    assert report.rows_stored == 3 and report.rows_quarantined == 0


def test_missing_values_are_stored_as_null(beijing_store):
    rows = frame([reading(value=float("nan")), reading(parameter="PM10", value=None)])
    report = balanced(ingest_readings(beijing_store, rows, "test", "long"))
    assert report.rows_stored == 2
    assert count(beijing_store, "SELECT count(*) FROM readings WHERE value IS NULL") == 2


def test_duplicates_within_batch(beijing_store):
    rows = frame([reading(value=10.0), reading(value=10.0), reading(value=11.0), reading(value=10.0, flag="M")])
    report = balanced(ingest_readings(beijing_store, rows, "test", "long"))
    assert (report.rows_stored, report.rows_duplicate) == (1, 1)
    assert report.reasons == {"duplicate_conflict": 2}
    assert beijing_store.execute("SELECT value FROM readings").fetchall() == [(10.0,)]
    detail = beijing_store.execute("SELECT detail FROM quarantine ORDER BY quarantine_id").fetchall()[0][0]
    assert "earlier in this batch" in detail and "10.0" in detail


def test_duplicates_against_store_keep_the_stored_value(beijing_store):
    ingest_readings(beijing_store, frame([reading(value=10.0), reading(value=None, parameter="SO2")]), "a", "long")
    second = frame([reading(value=12.0), reading(value=None, parameter="SO2"), reading(value=3.0, parameter="NO2")])
    report = balanced(ingest_readings(beijing_store, second, "b", "long"))
    # PM2.5 conflicts with the stored 10.0 (which stays); NULL == NULL is an identical duplicate
    assert report.rows_stored == 1 and report.rows_duplicate == 1 and report.reasons == {"duplicate_conflict": 1}
    assert beijing_store.execute(
        "SELECT value FROM readings WHERE parameter = 'PM2.5'").fetchall() == [(10.0,)]
    assert "already stored" in beijing_store.execute("SELECT detail FROM quarantine").fetchall()[0][0]


def test_tz_aware_timestamps_are_converted(beijing_store):
    ts = pd.Series(pd.to_datetime(["2017-01-01 00:00"])).dt.tz_localize("Asia/Shanghai")
    rows = pd.DataFrame({"station_id": ["1001A"], "ts": ts, "parameter": ["PM2.5"], "value": [1.0]})
    balanced(ingest_readings(beijing_store, rows, "t", "long"))
    assert beijing_store.execute("SELECT ts FROM readings").fetchall()[0][0] == UTC_2017_CST_MIDNIGHT


def test_long_file_every_reason_and_idempotent_reingest(beijing_store):
    path = FILES / "long_bad.csv"
    first = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    assert first.rows_in == 20
    assert first.rows_stored == 9 and first.rows_duplicate == 1
    assert first.reasons == {
        "unparseable_time": 1, "unknown_station": 1, "unknown_parameter": 1, "unparseable_value": 1,
        "unit_mismatch": 1, "bad_flag": 1, "negative_concentration": 1, "out_of_physical_range": 2,
        "duplicate_conflict": 1,
    }
    assert not first.already_ingested
    times = {r[0] for r in beijing_store.execute(
        "SELECT ts FROM readings WHERE parameter = 'PM2.5' AND value IN (120, 140, 150)").fetchall()}
    # naive = CST; +08:00 offset; Z = UTC
    assert times == {UTC_2017_CST_MIDNIGHT, pd.Timestamp("2016-12-31 20:00"), pd.Timestamp("2016-12-31 21:00")}
    n_q = count(beijing_store, "SELECT count(*) FROM quarantine")
    n_r = count(beijing_store, "SELECT count(*) FROM readings")

    again = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    assert again.already_ingested and again.previous_batch_id == first.batch_id
    assert (again.rows_stored, again.rows_quarantined, again.rows_duplicate) == (0, 0, 20)
    assert "already ingested" in again.line()
    assert count(beijing_store, "SELECT count(*) FROM quarantine") == n_q
    assert count(beijing_store, "SELECT count(*) FROM readings") == n_r


def test_fixing_stations_lets_a_reingest_store_the_quarantined_rows(store, sample_dir):
    path = FILES / "long_bad.csv"
    before = balanced(ingest_files(store, [path], progress=False)[0])
    assert before.reasons == {"unknown_station": 19, "unparseable_time": 1}  # no stations yet
    ingest_files(store, [sample_dir / "beijing" / "stations_beijing12.csv"], progress=False)
    after = balanced(ingest_files(store, [path], progress=False)[0])
    assert after.rows_stored == 9 and after.already_ingested


def test_parquet_and_csv_give_the_same_store(tmp_path, sample_dir):
    from data.store import connect

    long = pd.DataFrame({
        "station_id": ["1001A", "1002A", "1003A"],
        "ts": pd.to_datetime(["2017-01-01 00:00", "2017-01-01 01:00", "2017-01-01 02:00"]),
        "parameter": ["PM2.5", "CO", "O3"], "value": [1.5, 0.4, -2.0], "flag": ["N", "N", "N"],
    })
    long.to_parquet(tmp_path / "r.parquet")
    long.to_csv(tmp_path / "r.csv.gz", index=False, compression="gzip")
    results = []
    for name in ("r.parquet", "r.csv.gz"):
        con = connect(tmp_path / f"{name}.duckdb")
        upsert_stations(con, read_beijing_stations(sample_dir / "beijing" / "stations_beijing12.csv"))
        report = balanced(ingest_files(con, [tmp_path / name], progress=False)[0])
        assert report.fmt == "long" and report.reasons == {"negative_concentration": 1}
        results.append(con.execute("SELECT station_id, ts, parameter, value FROM readings ORDER BY 1").fetchall())
        con.close()
    assert results[0] == results[1]
    assert results[0][0][1] == UTC_2017_CST_MIDNIGHT


class FailingQuarantineInsert:
    """A DuckDB connection whose INSERT INTO quarantine fails (like a full disk would), to check
    that the readings already inserted in the same batch are rolled back."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def execute(self, sql, *args, **kw):
        if sql.lstrip().startswith("INSERT INTO quarantine"):
            raise duckdb.IOException("simulated write failure")
        return self._con.execute(sql, *args, **kw)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_batch_is_atomic(beijing_store):
    rows = frame([reading(value=1.0), reading(value=-1.0, parameter="SO2")])
    with pytest.raises(duckdb.IOException, match="simulated"):
        ingest_readings(FailingQuarantineInsert(beijing_store), rows, "crash", "long")
    assert count(beijing_store, "SELECT count(*) FROM readings") == 0
    assert count(beijing_store, "SELECT count(*) FROM quarantine") == 0
    assert beijing_store.execute("SELECT status, rows_stored FROM ingest_batches").fetchall() == [("failed", 0)]
    # the connection is usable afterwards and the same rows ingest normally
    report = balanced(ingest_readings(beijing_store, rows, "retry", "long"))
    assert report.rows_stored == 1 and report.reasons == {"negative_concentration": 1}


def test_unreadable_files_raise_clear_errors(beijing_store):
    with pytest.raises(IngestError, match="no such file"):
        ingest_files(beijing_store, [FILES / "missing.csv"], progress=False)
    with pytest.raises(IngestError, match="cannot tell the format"):
        ingest_files(beijing_store, [FILES / "unknown_header.csv"], progress=False)
    with pytest.raises(IngestError, match="cannot read"):
        ingest_files(beijing_store, [FILES / "truncated.csv.gz"], progress=False)
    with pytest.raises(IngestError, match="missing"):
        ingest_files(beijing_store, [FILES / "unknown_header.csv"], fmt="long", progress=False)
    with pytest.raises(IngestError, match="unknown format"):
        ingest_files(beijing_store, [FILES / "long_bad.csv"], fmt="xml", progress=False)
    assert count(beijing_store, "SELECT count(*) FROM readings") == 0


def test_empty_and_header_only_files(beijing_store, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        ingest_files(beijing_store, [empty], progress=False)
    header_only = tmp_path / "header.csv"
    header_only.write_text("station_id,ts,parameter,value\n")
    report = balanced(ingest_files(beijing_store, [header_only], progress=False)[0])
    assert report.rows_in == 0 and report.status == "committed"


def test_malformed_csv_lines_are_quarantined_not_fatal(beijing_store):
    path = FILES / "long_malformed.csv"
    report = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    assert (report.rows_in, report.rows_stored, report.reasons) == (4, 2, {"malformed_line": 2})
    details = [r[0] for r in beijing_store.execute(
        "SELECT detail FROM quarantine WHERE reason = 'malformed_line' ORDER BY detail").fetchall()]
    assert details[0].startswith("CSV line 3:") and "TOO MANY COLUMNS" in details[0]
    assert details[1].startswith("CSV line 4:") and "MISSING COLUMNS" in details[1]
    again = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    assert (again.rows_stored, again.rows_quarantined, again.rows_duplicate) == (0, 0, 4)


def test_missing_columns_in_frame(beijing_store):
    with pytest.raises(IngestError, match="value"):
        ingest_readings(beijing_store, pd.DataFrame({"station_id": ["1001A"], "ts": [UTC_2017_CST_MIDNIGHT],
                                                     "parameter": ["PM2.5"]}), "t", "long")


def test_adapter_quarantine_counts_in_the_batch(beijing_store):
    q = pd.DataFrame({"raw": ["<bad packet>"], "reason": ["bad_packet"], "detail": ["CRC mismatch"]})
    report = balanced(ingest_readings(beijing_store, frame([reading()]), "hj212:peer", "hj212", quarantined=q))
    assert report.rows_in == 2 and report.reasons == {"bad_packet": 1}
    again = balanced(ingest_readings(beijing_store, frame([reading()]), "hj212:peer", "hj212", quarantined=q))
    assert again.rows_duplicate == 2 and again.rows_quarantined == 0


def test_sample_beijing_and_cnemc_end_to_end(store, sample_dir):
    files = sorted((sample_dir / "beijing").iterdir()) + sorted((sample_dir / "cnemc").iterdir())
    reports = [balanced(r) for r in ingest_files(store, files, progress=False)]
    by_fmt = {r.fmt: r for r in reports}
    assert [r.kind for r in reports[:2]] == ["stations", "stations"]  # station lists go first
    beijing = [r for r in reports if r.fmt == "beijing"]
    assert len(beijing) == 12 and all(r.rows_stored == 984 * 12 and not r.reasons for r in beijing)
    cnemc = by_fmt["cnemc_day"]
    assert cnemc.rows_in == 19 * 6 * 1497
    # 1777A and 1946A are not in the 2024 list; 10 listed stations have no coordinates
    assert by_fmt["cnemc_stations"].reasons == {"invalid_station": 10}
    unknown = {r[0] for r in store.execute(
        "SELECT DISTINCT json_extract_string(raw, '$.station_id') FROM quarantine WHERE reason = 'unknown_station'"
    ).fetchall()}
    assert {"1777A", "1946A"} <= unknown
    # the national day overlaps the Beijing files on 2017-01-01: identical hours are duplicates
    assert cnemc.rows_duplicate + cnemc.reasons.get("duplicate_conflict", 0) == 12 * 19 * 6
    # Beijing 2017-01-01 00:00 CST is stored at 2016-12-31 16:00 UTC with CO in mg/m3
    pm, co = store.execute(
        "SELECT max(value) FILTER (parameter = 'PM2.5'), max(value) FILTER (parameter = 'CO') FROM readings "
        "WHERE station_id = '1001A' AND ts = ? AND source = 'beijing'", [UTC_2017_CST_MIDNIGHT]).fetchall()[0]
    assert pm == 417.0 and co == pytest.approx(5.2)


# ----------------------------------------------------------------------------- issue 11: times and values

def _expectations(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_every_time_notation_is_honoured_or_refused(beijing_store):
    """Defect 4: zones honoured (UTC, GMT, IANA names, real offsets) or refused (CST, +99:99,
    words); times outside the plausible window quarantined. The corpus row says what to expect."""
    path = FILES / "long_times.csv"
    report = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    expect = _expectations(path)
    stored = beijing_store.execute("SELECT ts, value FROM readings ORDER BY ts").df()
    want = expect[expect["expect"].str[0].str.isdigit()]
    assert [str(t)[:16] for t in stored["ts"]] == sorted(want["expect"])
    q = beijing_store.execute("SELECT reason, raw, detail FROM quarantine").df()
    got = {__import__("json").loads(r)["ts"]: reason for r, reason in zip(q["raw"], q["reason"], strict=True)}
    refused = expect[~expect["expect"].str[0].str.isdigit()]
    assert got == dict(zip(refused["ts"], refused["expect"], strict=True))
    assert report.reasons == {"unparseable_time": 7, "implausible_time": 3}
    assert q["detail"].str.contains("plausible window 1980-01-01").sum() == 3


def test_infinite_and_far_times_never_reach_the_store(beijing_store, tmp_path):
    """A Parquet TIMESTAMP column can hold 'infinity' and year 0001: quarantined, and a re-ingest
    adds nothing (before: a second copy of the same key)."""
    path = tmp_path / "inf.parquet"
    beijing_store.execute(
        f"COPY (SELECT '1001A' AS station_id, t AS ts, 'PM2.5' AS parameter, 1.0 AS value FROM "
        f"(VALUES ('infinity'::TIMESTAMP), ('-infinity'::TIMESTAMP), ('0001-01-01'::TIMESTAMP), "
        f"('2099-01-01'::TIMESTAMP), ('2017-01-01 00:00'::TIMESTAMP)) v(t)) TO '{path}' (FORMAT parquet)")
    first = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    again = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    assert first.rows_stored == 1 and first.reasons == {"implausible_time": 4}
    assert again.rows_stored == 0 and again.rows_quarantined == 0
    assert count(beijing_store, "SELECT count(*) FROM readings") == 1
    assert count(beijing_store, "SELECT count(*) FROM readings WHERE isinf(ts) OR ts < '1980-01-01'") == 0


def test_plausible_window_is_configurable(beijing_store):
    from analytics.timeconv import PlausibleWindow

    rows = frame([reading(ts=pd.Timestamp("2010-06-01 00:00"))])
    report = ingest_readings(beijing_store, rows, "t", "test", window=PlausibleWindow(earliest_utc=pd.Timestamp(
        "2012-01-01").to_pydatetime()))
    assert report.reasons == {"implausible_time": 1}
    future = frame([reading(ts=pd.Timestamp.now("UTC").tz_localize(None) + pd.Timedelta(hours=30))])
    assert ingest_readings(beijing_store, future, "t", "test").reasons == {"implausible_time": 1}


def test_booleans_and_underscored_numbers_are_not_values(beijing_store, tmp_path):
    path = FILES / "long_values.csv"
    report = balanced(ingest_files(beijing_store, [path], progress=False)[0])
    expect = _expectations(path)
    assert report.reasons == {"unparseable_value": int((expect["expect"] == "unparseable_value").sum())}
    values = beijing_store.execute("SELECT value FROM readings ORDER BY ts").df()["value"].tolist()
    assert values == [12.5, 100.0, 0.0]
    parquet = tmp_path / "bool.parquet"
    beijing_store.execute(f"COPY (SELECT '1001A' AS station_id, TIMESTAMP '2017-02-01' AS ts, 'PM2.5' AS parameter, "
                          f"true AS value) TO '{parquet}' (FORMAT parquet)")
    assert ingest_files(beijing_store, [parquet], progress=False)[0].reasons == {"unparseable_value": 1}


def test_corrupt_parquet_is_one_clear_line(beijing_store, tmp_path, sample_dir):
    """Defect 8: a Parquet file damaged in the middle is an IngestError naming the file, not a traceback."""
    good = tmp_path / "good.parquet"
    beijing_store.execute(
        f"COPY (SELECT '1001A' AS station_id, TIMESTAMP '2017-01-01' + to_hours(i) AS ts, 'PM2.5' AS parameter, "
        f"random() AS value FROM range(200000) t(i)) TO '{good}' (FORMAT parquet, ROW_GROUP_SIZE 20000)")
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = b"\x00" * 4096
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    with pytest.raises(IngestError, match="bad.parquet") as err:
        ingest_files(beijing_store, [bad], progress=False)
    assert "\n" not in str(err.value)
    assert count(beijing_store, "SELECT count(*) FROM readings") == 0
    stations = tmp_path / "stations.parquet"
    pd.DataFrame({"station_id": [f"S{i}" for i in range(5000)], "name": "x", "kind": "air_station",
                  "lon": 116.0, "lat": 39.0}).to_parquet(stations)
    data = bytearray(stations.read_bytes())
    data[len(data) // 3:len(data) // 3 + 64] = b"\xff" * 64
    stations.write_bytes(bytes(data))
    with pytest.raises(IngestError, match="stations.parquet"):
        ingest_files(beijing_store, [stations], fmt="stations", progress=False)


def _typed(rows: list[dict]):
    """``rows`` as the Arrow table ingest_typed_rows takes (the HJ 212 receiver's batch)."""
    from data.hj212.packet import readings_table

    return readings_table([(r["station_id"], r["ts"].to_pydatetime(), r["parameter"], r["value"], r["flag"])
                           for r in rows])


def test_typed_rows_give_the_same_outcome_as_a_frame(beijing_store, tmp_path):
    """ingest_typed_rows (one classifying statement) and ingest_readings (optimistic, then staged)
    store, count and quarantine the same rows, for a batch with every outcome: new, repeated in the
    batch with the same and with another value, already stored with the same and another value, and
    rejected by the validator."""
    from data.ingest import ingest_typed_rows
    from data.store import connect

    other = connect(tmp_path / "other.duckdb")
    upsert_stations(other, beijing_store.execute("SELECT * FROM stations").df())
    h = pd.Timedelta(hours=1)
    first = [reading(ts=UTC_2017_CST_MIDNIGHT + k * h, value=10.0 + k) for k in range(3)]
    later = [
        reading(ts=UTC_2017_CST_MIDNIGHT + 5 * h, value=1.0),  # new
        reading(ts=UTC_2017_CST_MIDNIGHT + 5 * h, value=1.0),  # repeated in the batch, same value
        reading(ts=UTC_2017_CST_MIDNIGHT + 5 * h, value=2.0),  # repeated in the batch, another value
        reading(ts=UTC_2017_CST_MIDNIGHT, value=10.0),  # stored, same value
        reading(ts=UTC_2017_CST_MIDNIGHT + h, value=99.0),  # stored, another value
        reading(ts=UTC_2017_CST_MIDNIGHT + 6 * h, flag="X"),  # bad flag
        reading(ts=UTC_2017_CST_MIDNIGHT + 7 * h, value=-1.0),  # negative concentration
        reading(ts=UTC_2017_CST_MIDNIGHT + 8 * h, parameter="PM1"),  # unknown parameter
    ]
    q = pd.DataFrame({"raw": ["item x"], "reason": ["unmapped_code"], "detail": ["no parameter"]})
    try:
        reports = []
        for con, ingest, convert in ((beijing_store, ingest_readings, frame), (other, ingest_typed_rows, _typed)):
            ingest(con, convert(first), "t", "test")
            reports.append(balanced(ingest(con, convert(later), "t", "test", quarantined=q)))
        typed_report, frame_report = reports[1], reports[0]
        assert (typed_report.rows_in, typed_report.rows_stored, typed_report.rows_duplicate,
                typed_report.rows_quarantined, typed_report.reasons) == \
               (frame_report.rows_in, frame_report.rows_stored, frame_report.rows_duplicate,
                frame_report.rows_quarantined, frame_report.reasons)
        assert frame_report.rows_stored == 1 and frame_report.rows_duplicate == 2
        assert frame_report.reasons == {"bad_flag": 1, "duplicate_conflict": 2, "negative_concentration": 1,
                                        "unknown_parameter": 1, "unmapped_code": 1}
        sql_r = "SELECT station_id, ts, parameter, value, flag FROM readings ORDER BY ALL"
        sql_q = "SELECT raw, reason, detail FROM quarantine ORDER BY ALL"
        for sql in (sql_r, sql_q):
            pd.testing.assert_frame_equal(beijing_store.execute(sql).df(), other.execute(sql).df())
    finally:
        other.close()
