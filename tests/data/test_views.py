"""data.views on a real store built from the shipped sample (no mocks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.standards.aqi import daily_aqi, hourly_aqi
from analytics.standards.cems import o2_corrected_mg_m3
from analytics.station_status import air_status, water_status
from data import public_views, views
from data.store import connect
from envtrust.record.verify import leaf_problems


def _fixture_module():
    path = Path(__file__).resolve().parents[1] / "dashboard" / "internal_fixture.py"
    spec = importlib.util.spec_from_file_location("internal_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FX = _fixture_module()
LAST = FX.SAMPLE_LAST_UTC.to_pydatetime()
HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return FX.build_internal_store(tmp_path_factory.mktemp("views") / "store.duckdb")


@pytest.fixture(scope="module")
def con(template):
    c = connect(template, read_only=True)
    yield c
    c.close()


@pytest.fixture()
def rw_con(template, tmp_path):
    c = connect(FX.copy_store(template, tmp_path / "copy.duckdb"))
    yield c
    c.close()


def test_stations_filter_by_kind_and_admin(con):
    air = views.stations(con, kinds=["air_station"])
    assert len(air) == 12 and set(air["kind"]) == {"air_station"}
    assert views.stations(con, city="北京市")["station_id"].is_unique
    assert views.stations(con, province="nowhere").empty
    assert views.station(con, "1003A")["name"] == "东四"
    assert views.station(con, "x' OR '1'='1") is None  # bound, not formatted


def test_time_extent_matches_sample(con):
    first, last = views.time_extent(con)
    assert pd.Timestamp(first) == pd.Timestamp("2016-11-30 16:00")  # 2016-12-01 00:00 CST
    assert pd.Timestamp(last) == FX.SAMPLE_LAST_UTC


def test_hourly_status_equals_hj633_on_the_raw_hour(con):
    status = views.station_status(con, LAST, LAST + HOUR).set_index("station_id")
    raw = views.station_series(con, "1003A", LAST, LAST + HOUR)
    wide = raw[raw["flag"] == "N"].pivot_table(index="station_id", columns="parameter", values="value")
    expected = hourly_aqi(wide[[c for c in ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3") if c in wide]])
    assert status.at["1003A", "aqi"] == expected["aqi"].iloc[0]
    assert status.at["1003A", "aqi_level"] == int(expected["level"].iloc[0])
    assert status.loc[status["kind"] == "air_station", "aqi_level"].min() >= 1
    assert status.loc[status["kind"] == "air_station", "aqi_level"].max() <= 6


def test_daily_status_uses_daily_means_and_o3_8h(con):
    start, end = LAST - pd.Timedelta(hours=23), LAST + HOUR
    status = views.station_status(con, start, end).set_index("station_id")
    raw = views.station_series(con, "1001A", start, end)
    raw = raw[raw["flag"] == "N"]
    means = raw.groupby("parameter")["value"].mean()
    o3 = raw[raw["parameter"] == "O3"].set_index("ts")["value"].sort_index()
    o3_8h = o3.rolling("8h", min_periods=6).mean()
    o3_8h = o3_8h[o3_8h.index >= pd.Timestamp(start) + pd.Timedelta(hours=7)].max()
    daily = pd.DataFrame([{**{p: means[p] for p in ("PM2.5", "PM10", "SO2", "NO2", "CO")},
                           "O3_8h": o3_8h, "O3_1h": o3.max()}])
    assert status.at["1001A", "aqi"] == daily_aqi(daily)["aqi"].iloc[0]


def test_map_cache_gives_the_same_status_as_the_raw_table(template, tmp_path):
    raw_store = FX.build_internal_store(tmp_path / "nocache.duckdb", map_cache=False)
    cols = ["station_id", "aqi", "aqi_level", "water_class", "limit_ratio", "suspicion"]
    with connect(template, read_only=True) as cached, connect(raw_store, read_only=True) as plain:
        for start, end in ((LAST, LAST + HOUR), (LAST - pd.Timedelta(hours=47), LAST + HOUR)):
            a = views.station_status(cached, start, end)[cols]
            b = views.station_status(plain, start, end)[cols]
            pd.testing.assert_frame_equal(a, b)
            assert views.capture_rate(cached, start, end, ["1001A", "1002A"]) == \
                views.capture_rate(plain, start, end, ["1001A", "1002A"])


def test_water_class_and_outlet_exceedance(con):
    now = views.station_status(con, LAST, LAST + HOUR).set_index("station_id")
    assert now.at["W9001", "water_class"] == 2  # CODMn 3, NH3-N 0.3, TP 0.05 mg/L: class II (GB 3838 table 1)
    assert now.at["W9002", "water_class"] == 4  # DO 4 mg/L is class IV (GB 3838-2002 table 1)
    assert bool(now.at["P9001", "exceedance"]) is True
    assert now.at["P9001", "limit_ratio"] == pytest.approx(80 / 35)  # O2 = reference O2: no correction
    assert now.at["P9001", "worst_parameter"] == "flue_SO2"
    before = views.station_status(con, LAST - pd.Timedelta(hours=20), LAST - pd.Timedelta(hours=19))
    assert not bool(before.set_index("station_id").at["P9001", "exceedance"])


def test_internal_map_and_public_embeds_give_one_station_status(rw_con):
    """The situation map (data.views) and the embeds (data.public_views, the released values) rate
    the same hour the same way: both go through analytics.station_status."""
    con = _released(rw_con)
    internal = views.station_status(con, LAST, LAST + HOUR).set_index("station_id")
    air = public_views.with_air_quality(public_views.released_hour_wide(con, "air_station", FX.SAMPLE_LAST_UTC))
    water = public_views.with_water_class(public_views.released_hour_wide(con, "water_section", FX.SAMPLE_LAST_UTC))
    assert len(air) == 12 and set(water["station_id"]) == {"W9001", "W9002"}
    for _, row in air.iterrows():
        assert internal.at[row["station_id"], "aqi"] == row["aqi"]
        assert internal.at[row["station_id"], "aqi_level"] == row["level"]
        assert internal.at[row["station_id"], "primary_pollutant"] == row["primary_pollutant"]
    assert dict(zip(water["station_id"], water["water_class"], strict=True)) == \
        {sid: internal.at[sid, "water_class"] for sid in ("W9001", "W9002")}


def _released(con):
    """The store with every valid value published (the embeds read the release records only)."""
    from envtrust.release import publish_preliminary

    publish_preliminary(con, "1970-01-01", "2100-01-01")
    return con


def test_the_aqi_table_setting_reaches_both_sides(rw_con):
    """The application passes its ``aqi_table`` setting down; the map and the embeds use the same table."""
    con = _released(rw_con)
    default = views.station_status(con, LAST, LAST + HOUR, kinds=["air_station"]).set_index("station_id")
    revised = views.station_status(con, LAST, LAST + HOUR, kinds=["air_station"],
                                   aqi_table="hj633_revision").set_index("station_id")
    assert (revised["aqi"] >= default["aqi"]).all() and (revised["aqi"] > default["aqi"]).any()
    wide = public_views.released_hour_wide(con, "air_station", FX.SAMPLE_LAST_UTC)
    public = public_views.with_air_quality(wide, "hj633_revision").set_index("station_id")
    assert public["aqi"].to_dict() == revised["aqi"].to_dict()


def test_station_status_of_a_lake_uses_the_lake_limits():
    wide = pd.DataFrame({"TP": [0.04, 0.04]}, index=["river", "lake"])
    classes = water_status(wide, pd.Series(["river", "lake"], index=wide.index))
    assert classes.to_dict() == {"river": 2.0, "lake": 3.0}  # GB 3838 TP: river II <= 0.1, lake III <= 0.05
    assert water_status(wide, "reservoir").tolist() == [2.0, 2.0]  # unknown waterbody = river
    assert air_status(pd.DataFrame({"TP": [1.0]})).isna().all().all()  # no pollutant: no AQI


def test_outlet_limit_ratio_is_o2_corrected_and_unknown_at_ambient_o2():
    """HJ 75-2017: C * (21 - O2_ref) / (21 - O2); at O2 >= 21 % the correction is undefined (NaN),
    so the outlet has no ratio and no exceedance for that period (as analytics.standards.cems)."""
    info = pd.DataFrame({"limits_json": ['{"flue_SO2": 35}'] * 3, "ref_o2_pct": [6.0] * 3}, index=["a", "b", "c"])
    wide = pd.DataFrame({"flue_SO2": [30.0, 30.0, 30.0], "flue_O2": [11.0, 21.0, 25.0]}, index=info.index)
    out = views._outlet_exceedance(wide, info)
    assert out.at["a", "limit_ratio"] == pytest.approx(30 * 15 / 10 / 35) and bool(out.at["a", "exceedance"])
    assert out.loc[["b", "c"], "limit_ratio"].isna().all() and not out.loc[["b", "c"], "exceedance"].any()
    assert np.isnan(o2_corrected_mg_m3(30.0, 21.0, 6.0))


def test_suspicion_marks_stations_with_overlapping_events(con):
    at_event = views.station_status(con, FX.EVENT_START.to_pydatetime(), (FX.EVENT_START + HOUR).to_pydatetime())
    s = at_event.set_index("station_id")["suspicion"]
    assert s["1003A"] == pytest.approx(0.91) and s["1001A"] == 0
    long_after = views.station_status(con, LAST, LAST + HOUR).set_index("station_id")["suspicion"]
    assert long_after["1003A"] == 0 and long_after["1012A"] == pytest.approx(0.55)


def test_headline_counts_and_trend(con):
    start, end = LAST - pd.Timedelta(hours=23), LAST + HOUR
    h = views.headline(con, start, end)
    cur, prev = h["current"], h["previous"]
    assert sum(cur["aqi_levels"].values()) == 12 and sum(prev["aqi_levels"].values()) == 12
    assert cur["water_classes"] == {2: 1, 4: 1}
    assert cur["exceedances"] == 1 and prev["exceedances"] == 0
    assert cur["open_events"] == 2
    raw = pd.concat([views.station_series(con, s, start, end, ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3"])
                     for s in views.stations(con, kinds=["air_station"])["station_id"]])
    valid = raw["value"].notna() & (raw["flag"] == "N")
    assert cur["capture_rate"] == pytest.approx(valid.sum() / (12 * 24 * 6))


def test_events_table_filters_and_ranks(con):
    all_events = views.events_table(con)
    assert list(all_events["event_id"]) == ["ev-dongsi", "ev-gucheng"]  # by score, highest first
    assert all_events.loc[0, "station_name"] == "东四"
    assert list(views.events_table(con, kinds=["flatline"])["event_id"]) == ["ev-gucheng"]
    assert views.events_table(con, min_score=0.9)["event_id"].tolist() == ["ev-dongsi"]
    assert views.events_table(con, statuses=["confirmed"]).empty
    assert views.events_table(con, station_id="1012A")["kind"].tolist() == ["flatline"]


def test_event_parses_evidence(con):
    ev = views.event(con, "ev-dongsi")
    assert ev["evidence"]["hours"] == 12 and ev["evidence"]["deviation_pct_vs_neighbours"]["PM2.5"] == -69.0
    assert ev["evidence"]["sentences"][0]["model"] == "spatial_low"
    assert ev["parameter_list"] == ["PM2.5", "PM10"]
    assert views.event(con, "nope") is None


def test_record_review_updates_status_reviews_and_audit(rw_con):
    status = views.record_review(rw_con, "ev-dongsi", "false_alarm", "  calibration day ", "ana")
    assert status == "false_alarm"
    assert views.event(rw_con, "ev-dongsi")["status"] == "false_alarm"
    reviews = views.event_reviews(rw_con, "ev-dongsi")
    assert reviews.loc[0, ["verdict", "comment", "username"]].tolist() == ["false_alarm", "calibration day", "ana"]
    assert leaf_problems(rw_con) == []
    # a dismissed event no longer marks the station, and no longer counts as open
    s = views.suspicion(rw_con, FX.EVENT_START.to_pydatetime(), FX.EVENT_END.to_pydatetime())
    assert "1003A" not in set(s["station_id"])
    assert views.open_event_count(rw_con, LAST) == 1
    assert views.record_review(rw_con, "ev-dongsi", "reopened", None, "ana") == "open"
    with pytest.raises(ValueError, match="verdict"):
        views.record_review(rw_con, "ev-dongsi", "maybe", None, "ana")
    with pytest.raises(ValueError, match="unknown event"):
        views.record_review(rw_con, "nope", "confirmed", None, "ana")


def test_station_series_window_and_order(con):
    start, end = LAST - pd.Timedelta(hours=5), LAST + HOUR
    s = views.station_series(con, "1001A", start, end, ["PM2.5", "WS"])
    assert set(s["station_id"]) == {"1001A"} and set(s["parameter"]) == {"PM2.5", "WS"}
    assert len(s) == 12 and s["ts"].min() == pd.Timestamp(start) and s["ts"].max() == FX.SAMPLE_LAST_UTC
    assert (s.groupby("parameter")["ts"].apply(lambda x: x.is_monotonic_increasing)).all()
    assert views.station_parameters(con, "P9001") == ["flue_SO2", "flue_NOx", "flue_O2"]


def test_neighbours_nearest_first_same_kind(con):
    nb = views.neighbours(con, "1003A", k=3)
    assert len(nb) == 3 and "1003A" not in set(nb["station_id"])
    assert nb["distance_m"].is_monotonic_increasing and set(nb["kind"]) == {"air_station"}
    micro = views.neighbours(con, "M9001", k=2)
    assert micro.loc[0, "station_id"] == "1003A"  # its parent ring station is the nearest
    assert views.neighbours(con, "unknown").empty


def test_model_contributions_long_form(con):
    c = views.model_contributions(con, "1003A", FX.EVENT_START.to_pydatetime(), (FX.EVENT_END + HOUR).to_pydatetime(),
                                  ["PM2.5"])
    assert set(c["model"]) == {"ensemble", "spatial", "seasonal"}
    assert len(c) == 3 * 12
    assert c.loc[c["model"] == "ensemble", "score"].eq(0.91).all()
    assert views.model_contributions(con, "1001A", FX.EVENT_START, FX.EVENT_END).empty


def _headline_from_separate_queries(con, start, end) -> dict:
    """The headline computed the long way: each figure by its own public query, period by period."""
    out = {}
    length = end - start
    for name, (s, e) in {"current": (start, end), "previous": (start - length, start)}.items():
        status = views.station_status(con, s, e)
        air = status.loc[status["kind"] == "air_station", "station_id"].tolist()
        reporting = views.reporting_stations(con, s, e)
        out[name] = {
            "aqi_levels": status.loc[status["kind"] == "air_station", "aqi_level"].dropna().astype(int)
            .value_counts().to_dict(),
            "water_classes": status.loc[status["kind"] == "water_section", "water_class"].dropna().astype(int)
            .value_counts().to_dict(),
            "exceedances": int(status.loc[status["kind"] == "polluter_outlet", "exceedance"].sum()),
            "suspected_stations": int((views.suspicion(con, s - pd.Timedelta(hours=72), e)["suspicion"] > 0).sum()),
            "capture_rate": views.capture_rate(con, s, e, [i for i in air if i in reporting]),
            "open_events": views.open_event_count(con, e, status["station_id"].tolist()),
        }
    return out


def test_situation_in_one_pass_equals_the_separate_queries(template, tmp_path):
    raw_store = FX.build_internal_store(tmp_path / "nocache.duckdb", map_cache=False)
    with connect(template, read_only=True) as cached, connect(raw_store, read_only=True) as plain:
        for c in (cached, plain):
            for start, end in ((LAST, LAST + HOUR), (LAST - pd.Timedelta(hours=23), LAST + HOUR),
                               (FX.EVENT_START.to_pydatetime(), (FX.EVENT_START + HOUR).to_pydatetime())):
                status, h = views.situation(c, start, end)
                pd.testing.assert_frame_equal(status, views.station_status(c, start, end))
                assert h == views.headline(c, start, end)
                expected = _headline_from_separate_queries(c, start, end)
                for period in ("current", "previous"):
                    got, want = h[period], expected[period]
                    assert got["capture_rate"] == pytest.approx(want.pop("capture_rate"))
                    assert {k: got[k] for k in want} == want
            status, h = views.situation(c, LAST, LAST + HOUR, kinds=["air_station"])  # a filter narrows both
            assert status["station_id"].tolist() == views.stations(c, kinds=["air_station"])["station_id"].tolist()
            assert h["current"]["water_classes"] == {} and h["current"]["exceedances"] == 0


def test_values_at_mean_over_period(con):
    v = views.values_at(con, ["1001A", "1002A"], "PM2.5", LAST - pd.Timedelta(hours=2), LAST + HOUR).set_index("station_id")
    raw = views.station_series(con, "1001A", LAST - pd.Timedelta(hours=2), LAST + HOUR, ["PM2.5"])
    assert v.at["1001A", "value"] == pytest.approx(raw["value"].mean())
    assert np.isfinite(v.at["1002A", "value"])


def test_capture_rate_counts_stations_in_service(rw_con):
    from data.stations import upsert_stations

    start, end = LAST - pd.Timedelta(hours=23), LAST + HOUR
    before = views.headline(rw_con, start, end)["current"]["capture_rate"]
    upsert_stations(rw_con, pd.DataFrame([{"station_id": "9999A", "name": "无数据站", "kind": "air_station",
                                           "lon": 116.5, "lat": 40.0}]))
    assert "9999A" not in views.reporting_stations(rw_con, start, end)
    assert {"1001A", "1012A"} <= views.reporting_stations(rw_con, start, end)
    assert views.headline(rw_con, start, end)["current"]["capture_rate"] == pytest.approx(before)
    before_data = pd.Timestamp("2016-11-01").to_pydatetime()
    assert views.reporting_stations(rw_con, before_data, before_data + HOUR) == set()
    # the raw-table fallback gives the same answer as the cache
    assert views.reporting_stations(rw_con, start, end, cached=False) == views.reporting_stations(rw_con, start, end)


def _one_air_station(store) -> None:
    from data.stations import upsert_stations

    upsert_stations(store, pd.DataFrame({"station_id": ["X1", "X2"], "name": ["x1", "x2"],
                                         "kind": ["air_station", "air_station"], "lon": [116.4, 116.5],
                                         "lat": [39.9, 39.8]}))


def _hour(station: str, ts: str, pm25: float, flag: str = "N") -> pd.DataFrame:
    return pd.DataFrame({"station_id": station, "ts": pd.Timestamp(ts), "parameter": ["PM2.5", "TEMP"],
                         "value": [pm25, -3.0], "flag": flag})


def _cache_rows(con) -> set[tuple]:
    return set(con.execute("SELECT station_id, ts, parameter, value FROM map_hourly").fetchall())


def test_ingest_refreshes_the_map_cache_instead_of_dropping_it(store):
    """After an ingest that stores rows, the map still uses its cache AND shows the new hour
    (the old behaviour dropped the cache, so the map fell back to the raw readings)."""
    from data.ingest import ingest_readings

    _one_air_station(store)
    ingest_readings(store, _hour("X1", "2017-01-01 00:00", 50.0), "t1", "test")
    views.build_map_cache(store)
    new_hour = pd.Timestamp("2017-01-01 01:00").to_pydatetime()
    report = ingest_readings(store, pd.concat([_hour("X1", "2017-01-01 01:00", 80.0),
                                               _hour("X2", "2017-01-01 01:00", 20.0)]), "t2", "test")
    assert report.rows_stored == 4
    assert views.has_map_cache(store)
    cached = views.period_means(store, new_hour, new_hour + HOUR, ["PM2.5"], cached=True)
    assert dict(zip(cached["station_id"], cached["value"], strict=True)) == {"X1": 80.0, "X2": 20.0}
    raw = views.period_means(store, new_hour, new_hour + HOUR, ["PM2.5"], cached=False)
    assert cached.sort_values("station_id").reset_index(drop=True).equals(
        raw.sort_values("station_id").reset_index(drop=True))
    # the station spans (which stations were in service) widened too: X2 is new, X1 reaches 01:00
    assert views.reporting_stations(store, new_hour, new_hour + HOUR) == {"X1", "X2"}
    assert views.time_extent(store)[1] == new_hour
    # and the refreshed cache is exactly what a full rebuild gives (non-map TEMP left out)
    refreshed = _cache_rows(store)
    views.build_map_cache(store)
    assert refreshed == _cache_rows(store) and len(refreshed) == 3


def test_map_cache_takes_only_valid_new_rows_and_nothing_twice(store):
    from data.ingest import ingest_readings

    _one_air_station(store)
    ingest_readings(store, _hour("X1", "2017-01-01 00:00", 50.0), "t1", "test")
    views.build_map_cache(store)
    before = _cache_rows(store)
    ingest_readings(store, _hour("X1", "2017-01-01 00:00", 50.0), "again", "test")  # duplicates only
    ingest_readings(store, _hour("X1", "2017-01-01 00:00", 99.0), "conflict", "test")  # quarantined
    assert _cache_rows(store) == before
    ingest_readings(store, _hour("X1", "2017-01-01 02:00", 70.0, flag="M"), "maint", "test")  # stored, not valid
    assert _cache_rows(store) == before
    span = store.execute("SELECT first_ts, last_ts FROM map_station_span WHERE station_id = 'X1'").fetchone()
    assert span == (pd.Timestamp("2017-01-01 00:00"), pd.Timestamp("2017-01-01 00:00"))


def test_failed_batch_leaves_the_map_cache_untouched(store):
    """The refresh runs inside the batch's transaction: a batch that fails adds nothing to the cache."""
    from data import ingest

    _one_air_station(store)
    ingest.ingest_readings(store, _hour("X1", "2017-01-01 00:00", 50.0), "t1", "test")
    views.build_map_cache(store)
    before = _cache_rows(store)

    def failing_commit(con, report, batch_id):
        raise RuntimeError("disk full")

    original = ingest._commit_batch
    ingest._commit_batch = failing_commit
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            ingest.ingest_readings(store, _hour("X1", "2017-01-01 03:00", 60.0), "t3", "test")
    finally:
        ingest._commit_batch = original
    assert _cache_rows(store) == before
    assert store.execute("SELECT count(*) FROM readings WHERE ts = '2017-01-01 03:00'").fetchone()[0] == 0


def test_ingest_into_the_sample_store_updates_the_situation_map(template, tmp_path):
    """On the sample network with its cache: ingest one new hour for every air station; the
    situation map of that hour comes from the cache and matches the raw-table answer."""
    import shutil

    from data.ingest import ingest_readings

    path = tmp_path / "live.duckdb"
    shutil.copy(template, path)
    rw = connect(path)
    try:
        assert views.has_map_cache(rw)
        air = views.stations(rw, kinds=["air_station"])["station_id"].tolist()
        new_hour = LAST + HOUR.to_pytimedelta()
        rows = pd.DataFrame([{"station_id": sid, "ts": new_hour, "parameter": p, "value": v + i, "flag": "N"}
                             for i, sid in enumerate(air)
                             for p, v in (("PM2.5", 40.0), ("PM10", 60.0), ("SO2", 5.0), ("NO2", 30.0),
                                          ("CO", 0.8), ("O3", 50.0))])
        ingest_readings(rw, rows, "live-hour", "test")
        assert views.has_map_cache(rw)
        status, _ = views.situation(rw, new_hour, new_hour + HOUR.to_pytimedelta(), kinds=["air_station"])
        got = status.set_index("station_id")["aqi"].dropna()
        assert set(got.index) == set(air)
        expected = hourly_aqi(rows.pivot(index="station_id", columns="parameter", values="value"))["aqi"]
        assert np.allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy())
        cached = views.period_means(rw, new_hour, new_hour + HOUR.to_pytimedelta(), cached=True)
        raw = views.period_means(rw, new_hour, new_hour + HOUR.to_pytimedelta(), cached=False)
        key = ["station_id", "parameter"]
        assert cached.sort_values(key).reset_index(drop=True).equals(raw.sort_values(key).reset_index(drop=True))
    finally:
        rw.close()
